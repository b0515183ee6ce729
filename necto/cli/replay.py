"""`necto replay` and `necto diff`.

`necto replay` starts a private Necto on ephemeral loopback ports over the same data directory,
so replays go through the real proxy pipeline and are recorded, then stops it; no server needs
to be running. `necto diff` reads sessions from the store and .har files from disk; exit status
is 0 when equal, 1 when different, 2 on error (like `diff`).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson

from necto.cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    DataDirArg,
    Handler,
    config_from_args,
    err,
    filter_arg,
    open_store,
    table,
)
from necto.compare import (
    CompareOptions,
    Fetch,
    HostRewrite,
    compare_sources,
    iterate,
    list_fetcher,
    parse_json_path,
    parse_rewrites,
)
from necto.har.reader import load_entries
from necto.har.report import HarError
from necto.model import Entry, Session
from necto.search.filterlang import Node
from necto.search.predicate import matches
from necto.store import Store, TrafficQuery
from necto.store.bodyfiles import WHOLE_BODY_MAX

EXIT_DIFFERENT = 1


class HarFileError(Exception):
    """A file named on the command line is not a readable HAR."""


def load_har_entries(path: Path) -> list[Entry]:
    """A HAR file as Entries, via the HAR reader (the one HAR parser in Necto). Blocking."""
    try:
        return list(load_entries(path))
    except HarError as e:
        raise HarFileError(str(e)) from None


def is_har_path(text: str) -> bool:
    return text.lower().endswith(".har") or Path(text).is_file()


# ---------------------------------------------------------------------- parsers
def register(sub: Any, add_data_dir_arg: DataDirArg) -> dict[str, Handler]:
    rp = sub.add_parser("replay", help="replay a session or a .har file through Necto's proxy into a new session")
    add_data_dir_arg(rp)
    rp.add_argument("source", help="session id or name, or a .har file")
    rp.add_argument("--to", metavar="URL", help="send the requests to this origin instead (e.g. http://127.0.0.1:9000)")
    rp.add_argument(
        "--from", dest="from_", metavar="ORIGIN", help="with --to: rewrite only this origin (default: every origin)"
    )
    rp.add_argument("--concurrency", type=int, default=4, help="requests in flight at once (default 4)")
    rp.add_argument("--keep-order", action="store_true", help="one at a time, in the original order")
    rp.add_argument("--pacing", action="store_true", help="keep the original gaps between requests")
    rp.add_argument("--speed", type=float, default=1.0, help="with --pacing: 2 replays twice as fast")
    rp.add_argument(
        "--host", action="append", default=[], help="only requests to this host (repeatable; *.example.com)"
    )
    rp.add_argument("--method", action="append", default=[], help="only this method (repeatable)")
    rp.add_argument("--skip-static", action="store_true", help="skip images, fonts, CSS, scripts and media")
    rp.add_argument(
        "--filter",
        "-f",
        metavar="QUERY",
        help="only the entries this filter-language query selects, e.g. 'method:POST host:api.example.com'",
    )
    rp.add_argument(
        "--drop-header",
        action="append",
        default=[],
        metavar="NAME",
        help="do not send this header (repeatable; e.g. cookie)",
    )
    rp.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    rp.add_argument("--name", help='name of the new session (default "Replay of <source>")')
    rp.add_argument(
        "--upstream-ca", type=Path, default=None, help="PEM file of extra CAs to trust for upstream servers"
    )
    rp.add_argument("--ssl-insecure", action="store_true", help="do not verify upstream server certificates")
    rp.add_argument("--json", action="store_true", help="print the finished job as JSON")

    dp = sub.add_parser("diff", help="compare two sessions or .har files (exit 0 equal, 1 different, 2 error)")
    add_data_dir_arg(dp)
    dp.add_argument("a", help="session id or name, or a .har file")
    dp.add_argument("b", help="session id or name, or a .har file")
    dp.add_argument("--json", action="store_true", help="print the full diff as JSON")
    dp.add_argument(
        "--filter", "-f", metavar="QUERY", help="compare only the entries of A and B this filter-language query selects"
    )
    dp.add_argument(
        "--ignore-header", action="append", default=[], metavar="NAME", help="also ignore this header (repeatable)"
    )
    dp.add_argument(
        "--ignore-path",
        action="append",
        default=[],
        metavar="JSONPATH",
        help="ignore this JSON path, e.g. $.meta.ts or $..updatedAt (repeatable)",
    )
    dp.add_argument(
        "--keep-volatile", action="store_true", help="also compare Date, Set-Cookie, request ids, Content-Length"
    )
    dp.add_argument("--ignore-host", action="store_true", help="pair requests by method + path + query only")
    dp.add_argument(
        "--rewrite",
        action="append",
        default=[],
        metavar="FROM=TO",
        help="pair A's FROM origin with B's TO origin (repeatable)",
    )
    dp.add_argument(
        "--threshold-ms", type=float, default=100.0, help="flag timing changes at least this many ms (default 100)"
    )
    dp.add_argument("--threshold-pct", type=float, default=50.0, help="... and at least this many percent (default 50)")
    return {"replay": cmd_replay, "diff": cmd_diff}


# ---------------------------------------------------------------------- necto replay
def replay_options(args: argparse.Namespace) -> Any:
    if args.from_ and not args.to:
        raise ValueError("--from needs --to")
    from necto.replay import MAX_CONCURRENCY, ReplayOptions

    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
    if args.timeout <= 0 or args.speed <= 0:
        raise ValueError("--timeout and --speed must be positive")
    rewrites = parse_rewrites({"from": args.from_ or "", "to": args.to}) if args.to else []
    return ReplayOptions(
        concurrency=args.concurrency,
        keep_order=args.keep_order,
        pacing=args.pacing,
        speed=args.speed,
        rewrites=rewrites,
        hosts=[h.lower() for h in args.host],
        methods=[m.upper() for m in args.method],
        skip_static=args.skip_static,
        drop_headers=[h.lower() for h in args.drop_header],
        timeout=args.timeout,
        name=args.name,
        filter=filter_arg(args.filter),
    )


def _bar(done: int, total: int, failed: int, width: int = 30) -> str:
    filled = int(width * done / total) if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}" + (f"  failed {failed}" if failed else "")


async def _show_progress(job: Any) -> None:
    """A progress bar on stderr: redrawn in place on a terminal, a line per 10% otherwise."""
    tty = sys.stderr.isatty()
    shown, decile = "", -1
    while True:
        finished = job.finished
        bar = _bar(job.done, job.total, job.failed)
        if job.status not in ("pending", "counting") and bar != shown:
            if tty:
                sys.stderr.write("\r" + bar + ("\n" if finished else ""))
            elif finished or job.done * 10 // max(job.total, 1) != decile:
                sys.stderr.write(bar + "\n")
                decile = job.done * 10 // max(job.total, 1)
            sys.stderr.flush()
            shown = bar
        if finished:
            return
        await asyncio.sleep(0.1)


async def cmd_replay(args: argparse.Namespace) -> int:
    from necto.app import Necto, StartupError
    from necto.replay import EntrySource, ListSource, Pipeline, SessionSource

    try:
        opts = replay_options(args)
    except ValueError as e:
        err(str(e))
        return EXIT_USAGE
    entries: list[Entry] | None = None
    found: Session | None = None
    if is_har_path(args.source):
        try:
            entries = await asyncio.to_thread(load_har_entries, Path(args.source))
        except (HarFileError, OSError, ValueError) as e:
            err(f"cannot read {args.source}: {e}")
            return EXIT_USAGE
    else:
        async with open_store(args) as db:  # a missing session is reported before any start-up
            found = await db.find_session(args.source)
        if found is None:
            err(f"Session not found: {args.source}")
            return EXIT_FAIL
    cfg = config_from_args(args)
    cfg.proxy_port = cfg.api_port = 0
    cfg.upstream_ca, cfg.ssl_insecure = args.upstream_ca, args.ssl_insecure
    cfg.breakpoints = False  # nobody watches this private Necto: a stored breakpoint must not hang it
    necto = Necto(cfg)
    try:
        await necto.start()
    except StartupError as e:
        err(str(e))
        return EXIT_USAGE
    manager = necto.replays
    try:
        assert necto.store is not None and necto.ca is not None and necto.recorder and necto.addresses
        store = necto.store
        if entries is not None:
            source: EntrySource = ListSource(entries)
            label = Path(args.source).name
        else:
            assert found is not None
            source, label = SessionSource(store, found.id), found.name
        host, port = necto.addresses.proxy
        pipe = Pipeline(store, f"http://{host}:{port}", necto.ca.cert_pem, necto.recorder)
        job = await manager.start(pipe, source, label, opts)
        await _show_progress(job)
        if args.json:
            sys.stdout.write(orjson.dumps(job.as_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
        else:
            print(
                f"{job.status}: replayed {job.done}/{job.total}, {job.failed} failed, into session {job.session_id}  {job.session_name}"
            )
            for f in job.failures:
                print(f"  failed  {f['method']} {f['url']}  {f['error']}")
        if job.status == "failed":
            err(job.error or "replay failed")
            return EXIT_USAGE
        return EXIT_OK if job.failed == 0 else EXIT_FAIL
    finally:
        await manager.cancel_all()  # Ctrl-C: stop, keep what was replayed
        await necto.stop()


# ---------------------------------------------------------------------- necto diff
def diff_options(args: argparse.Namespace) -> CompareOptions:
    for p in args.ignore_path:
        parse_json_path(p)
    rewrites: list[HostRewrite] = []
    for r in args.rewrite:
        src, sep, dst = r.partition("=")
        if not sep:
            raise ValueError(f"--rewrite must be FROM=TO: {r}")
        rewrites += parse_rewrites({"from": src, "to": dst})
    return CompareOptions(
        ignore_headers=frozenset(h.lower() for h in args.ignore_header),
        ignore_volatile=not args.keep_volatile,
        ignore_paths=list(args.ignore_path),
        threshold_ms=args.threshold_ms,
        threshold_pct=args.threshold_pct,
        ignore_host=args.ignore_host,
        rewrites=rewrites,
    )


async def _side(
    text: str, get_store: Callable[[], Any], selection: Node | None = None
) -> tuple[Callable[[], AsyncIterator[Entry]], Fetch, str]:
    """(entry stream factory, fetch by ids, label) for a .har path or a session id/name; with
    a filter, only the entries it selects (in SQL for a session, in memory for a file)."""
    if is_har_path(text):
        try:
            entries = await asyncio.to_thread(load_har_entries, Path(text))
        except (HarFileError, OSError) as e:
            raise HarFileError(f"cannot read {text}: {e}") from None
        if selection is not None:
            entries = [e for e in entries if matches(selection, e)]
        return (lambda: iterate(entries)), list_fetcher(entries), Path(text).name
    store: Store = await get_store()
    session = await store.find_session(text)
    if session is None:
        raise LookupError(f"Session not found: {text}")
    fetch = functools.partial(store.get_entries, body_limit=WHOLE_BODY_MAX)  # bodies compared, never sent
    if selection is not None:
        query = TrafficQuery(session_id=session.id, filter=selection)
        return (lambda: store.iter_matching(query, body_limit=WHOLE_BODY_MAX)), fetch, session.name
    return (lambda: store.iter_entries(session.id, body_limit=WHOLE_BODY_MAX)), fetch, session.name


async def cmd_diff(args: argparse.Namespace) -> int:
    try:
        opts = diff_options(args)
    except ValueError as e:
        err(str(e))
        return EXIT_USAGE
    selection = filter_arg(args.filter)
    stores: list[Any] = []

    async def get_store() -> Store:
        if not stores:
            cm = open_store(args)
            stores.append((cm, await cm.__aenter__()))
        return stores[0][1]

    try:
        stream_a, fetch_a, label_a = await _side(args.a, get_store, selection)
        stream_b, fetch_b, label_b = await _side(args.b, get_store, selection)
        result = await compare_sources(stream_a(), stream_b(), fetch_a, fetch_b, opts, (label_a, label_b))
    except (LookupError, HarFileError, OSError, ValueError) as e:
        err(str(e))
        return EXIT_USAGE
    finally:
        for cm, _ in stores:
            await cm.__aexit__(None, None, None)
    if args.json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print_report(result)
    return EXIT_OK if result["identical"] else EXIT_DIFFERENT


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def print_report(r: dict[str, Any]) -> None:
    """The diff for people: what is missing, what changed, and a timing table."""
    a, b, s = r["a"], r["b"], r["summary"]
    print(f"A: {a['label']} ({a['count']} entries)")
    print(f"B: {b['label']} ({b['count']} entries)")
    for title, items in (("Only in A", r["onlyInA"]), ("Only in B", r["onlyInB"])):
        if items:
            print(f"\n{title} ({len(items)}):")
            for it in items:
                print(f"  {it['method']} {it['url']}  {it['status'] or 'ERR'}")
    if r["changes"]:
        print(f"\nChanged ({len(r['changes'])}):")
        for c in r["changes"]:
            print(f"  {c['method']} {c['url']}" + (f"  (#{c['occurrence'] + 1})" if c["occurrence"] else ""))
            if "status" in c:
                print(f"    status {c['status']['a']} -> {c['status']['b']}")
            for h in c.get("headers", {}).get("removed", []):
                print(f"    header - {h['name']}: {_short(h['value'])}")
            for h in c.get("headers", {}).get("added", []):
                print(f"    header + {h['name']}: {_short(h['value'])}")
            for h in c.get("headers", {}).get("changed", []):
                print(f"    header ~ {h['name']}: {_short(h['a'])} -> {_short(h['b'])}")
            body = c.get("body")
            if body:
                if body["kind"] == "json":
                    for ch in body["changes"]:
                        print(f"    body {ch['path']}: {_short(ch['a'])} -> {_short(ch['b'])}")
                elif body["kind"] == "text":
                    print(f"    body (text) {body['a']['size']} -> {body['b']['size']} bytes")
                    for line in body.get("lines", [])[:20]:
                        print(f"      {line}")
                else:
                    print(
                        f"    body ({body['kind']}) {body['a']['size']} B sha256 {body['a']['sha256'][:12]} -> "
                        f"{body['b']['size']} B sha256 {body['b']['sha256'][:12]}"
                    )
    rows = r["timing"]
    if rows:
        print(
            f"\nTiming, median ms (flagged: at least {r['options']['thresholdMs']:g} ms and {r['options']['thresholdPct']:g}%):"
        )
        header = ["ENDPOINT", "N A/B", "TOTAL A", "TOTAL B", "DELTA", "WAIT A", "WAIT B", ""]
        rows_out = [
            [
                row["endpoint"], f"{row['count']['a']}/{row['count']['b']}", _ms(row["a"]["total"]),
                _ms(row["b"]["total"]), ("+" if (row["delta"] or 0) > 0 else "") + _ms(row["delta"]),
                _ms(row["a"]["wait"]), _ms(row["b"]["wait"]),
                ("SLOWER" if (row["delta"] or 0) > 0 else "FASTER") if row["flagged"] else "",
            ]
            for row in rows
        ]  # fmt: skip
        table(rows_out, header, indent="  ")
    verdict = "equal" if r["identical"] else "different"
    print(
        f"\n{verdict}: {s['onlyInA']} only in A, {s['onlyInB']} only in B, {len(r['changes'])} changed, "
        f"{s['timingFlags']} timing flagged, {s['paired']} paired"
    )
