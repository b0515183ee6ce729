"""`necto traffic ...`: list, show, delete and clear recorded entries."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from necto.cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    DataDirArg,
    Handler,
    bounded_int,
    filter_arg,
    open_store,
    print_json,
    table,
)
from necto.model import Entry
from necto.search.filterlang import SEARCH_PLACES, all_of, search_tree
from necto.store import SORT_COLUMNS, Store, TrafficQuery
from necto.views import entry_detail, entry_summary

MIN_ID_PREFIX = 4  # as git: shorter prefixes match too much to be useful


async def resolve_entry_id(store: Store, key: str) -> tuple[str | None, str]:
    """An entry id from a full id or any unique prefix of one (as git does with commits).

    Returns (id, "") or (None, the reason to print)."""
    if await store.get_entry(key) is not None:
        return key, ""
    if len(key) < MIN_ID_PREFIX:
        return None, f"Traffic entry not found: {key} (give at least {MIN_ID_PREFIX} characters of an id)"
    ids = await store.entry_ids_with_prefix(key)
    if not ids:
        return None, f"Traffic entry not found: {key}"
    if len(ids) > 1:
        more = " and more" if len(ids) > 5 else ""
        return None, f"Ambiguous id prefix {key}: it matches {', '.join(ids[:5])}{more}; give more characters"
    return ids[0], ""


def register(sub: Any, add_data_dir_arg: DataDirArg) -> dict[str, Handler]:
    traffic = sub.add_parser("traffic", help="list, show, delete and clear recorded entries")
    add_data_dir_arg(traffic)
    tsub = traffic.add_subparsers(dest="action", metavar="ACTION", required=True)
    tl = tsub.add_parser("list", help="list entries (default: the active session)")
    add_data_dir_arg(tl, leaf=True)
    tl.add_argument("--session", help="session id or name")
    tl.add_argument(
        "--filter",
        "-f",
        metavar="QUERY",
        help="the filter language, e.g. 'method:POST status:5xx body:\"order_id=8812\"' (see the README)",
    )
    tl.add_argument("--search", help="substring of the URL or method")
    tl.add_argument("--method", action="append", default=[], help="only this method (repeatable)")
    tl.add_argument("--status", action="append", default=[], help="status code or class like 4xx (repeatable)")
    tl.add_argument("--host", action="append", default=[], help="only this host (repeatable)")
    tl.add_argument("--sort", default="timestamp", choices=list(SORT_COLUMNS), help="sort by (default timestamp)")
    tl.add_argument("--desc", action="store_true", help="sort descending")
    tl.add_argument("--limit", type=bounded_int(1, 1_000_000), default=50)
    tl.add_argument("--offset", type=bounded_int(0, 1 << 62), default=0)
    tl.add_argument("--json", action="store_true", help="print JSON")
    tq = tsub.add_parser("search", help="find TEXT in URLs, headers and bodies (decoded) across sessions, newest first")
    add_data_dir_arg(tq, leaf=True)
    tq.add_argument("text", help="a substring, case-insensitive")
    tq.add_argument(
        "--in",
        dest="search_in",
        default="url,headers,body",
        help="where: url,headers,body,notes (default url,headers,body)",
    )
    tq.add_argument("--session", help="only this session (id or name; default: every session)")
    tq.add_argument("--filter", "-f", metavar="QUERY", help="also this filter-language query")
    tq.add_argument("--limit", type=int, default=50)
    tq.add_argument("--offset", type=int, default=0)
    tq.add_argument("--json", action="store_true", help="print JSON: {entries, total, sessionNames}")
    ts = tsub.add_parser("show", help="one entry in full, as JSON (bodies base64)")
    add_data_dir_arg(ts, leaf=True)
    ts.add_argument("id", help="entry id, or any unique prefix of it (as `traffic list` prints)")
    td = tsub.add_parser("delete", help="delete one entry")
    add_data_dir_arg(td, leaf=True)
    td.add_argument("id", help="entry id, or any unique prefix of it")
    tc = tsub.add_parser("clear", help="delete every entry of a session")
    add_data_dir_arg(tc, leaf=True)
    tc.add_argument("session", help="session id or name")
    return {"traffic": cmd_traffic}


async def cmd_traffic(args: argparse.Namespace) -> int:
    async with open_store(args) as store:
        if args.action == "list":
            session = await store.find_session(args.session) if args.session else await store.active_session()
            if session is None:
                print(f"necto: Session not found: {args.session}", file=sys.stderr)
                return EXIT_FAIL
            q = TrafficQuery(
                session_id=session.id,
                search=args.search,
                filter=filter_arg(args.filter),
                methods=args.method,
                hosts=args.host,
                sort_field=args.sort,
                sort_direction="desc" if args.desc else "asc",
                limit=args.limit,
                offset=args.offset,
            )
            for code in args.status:
                try:
                    q.add_status(code)
                except ValueError as e:
                    print(f"necto: {e}", file=sys.stderr)
                    return EXIT_USAGE
            entries, count = await store.list_entries(q)
            if args.json:
                print_json({"entries": [entry_summary(e) for e in entries], "count": count})
            else:
                print_entries(entries)
                print(f"{len(entries)} of {count} in {session.name}")
            return EXIT_OK
        if args.action == "search":
            return await _search(store, args)
        if args.action in ("show", "delete"):
            entry_id, problem = await resolve_entry_id(store, args.id)
            entry = await store.get_entry(entry_id) if entry_id else None
            if entry is None:
                print(f"necto: {problem or 'Traffic entry not found'}", file=sys.stderr)
                return EXIT_FAIL
            if args.action == "show":
                print_json(entry_detail(entry))
            elif await store.delete_entry(entry.id):
                print(f"deleted {entry.id}")
            return EXIT_OK
        found = await store.find_session(args.session)
        if found is None:
            print(f"necto: Session not found: {args.session}", file=sys.stderr)
            return EXIT_FAIL
        n = await store.clear_session(found.id)
        print(f"deleted {n} entries from {found.name}")
        return EXIT_OK


def print_entries(entries: list[Entry], sessions: dict[str, str] | None = None) -> None:
    rows = []
    for e in entries:
        row = [e.id[:8], e.method, str(e.status if e.status is not None else "ERR"), f"{e.duration:.0f}ms", e.url[:100]]
        if sessions is not None:
            row.insert(1, sessions.get(e.session_id, "")[:24])
        rows.append(row)
    header = ["ID", "METHOD", "STATUS", "TIME", "URL"]
    if sessions is not None:
        header.insert(1, "SESSION")
    table(rows, header)


async def _search(store: Store, args: argparse.Namespace) -> int:
    where = [w.strip().lower() for w in args.search_in.split(",") if w.strip()]
    bad = [w for w in where if w not in SEARCH_PLACES]
    if bad or not where or not args.text.strip():
        print(f"necto: --in takes {', '.join(SEARCH_PLACES)}" if bad or not where else "necto: Search query is required",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    session_id = None
    if args.session:
        found = await store.find_session(args.session)
        if found is None:
            print(f"necto: Session not found: {args.session}", file=sys.stderr)
            return EXIT_FAIL
        session_id = found.id
    q = TrafficQuery(session_id=session_id, filter=all_of(search_tree(args.text.strip(), where), filter_arg(args.filter)),
                     sort_direction="desc", limit=args.limit, offset=args.offset)  # fmt: skip
    entries, total = await store.list_entries(q)
    names = {s.id: s.name for s in await store.list_sessions()}
    if args.json:
        print_json({"entries": [entry_summary(e) for e in entries], "total": total,
                    "sessionNames": {e.session_id: names.get(e.session_id, "") for e in entries}})  # fmt: skip
    else:
        print_entries(entries, names)
        print(f"{len(entries)} of {total} matches")
    return EXIT_OK
