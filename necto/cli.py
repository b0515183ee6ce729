"""`necto` command line: argument parsing and printing only; the work is in the modules."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any, AsyncIterator

import orjson

from necto import __version__
from necto.config import DEFAULT_API_PORT, DEFAULT_MAX_UPLOAD, DEFAULT_PROXY_PORT, Config
from necto.model import Session
from necto.store import Store, TrafficQuery

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
MIN_ID_PREFIX = 4  # as git: shorter prefixes match too much to be useful

Handler = Callable[[argparse.Namespace], Awaitable[int]]
# Feature modules that add subcommands. Each has
# `register(sub, add_data_dir_arg) -> {command name: async handler(args) -> exit code}`.
FEATURE_COMMANDS: list[str] = ["necto.replay_cli", "necto.inventory.cli", "necto.har.cli"]
HANDLERS: dict[str, Handler] = {}


def parse_size(text: str) -> int:
    """'10MB', '512k', '1GiB', '-1' -> bytes (-1 = unlimited)."""
    t = text.strip().lower().replace("ib", "b")
    if t in ("-1", "none", "unlimited"):
        return -1
    units = {"gb": 1 << 30, "g": 1 << 30, "mb": 1 << 20, "m": 1 << 20, "kb": 1 << 10, "k": 1 << 10, "b": 1}
    for suffix, mult in units.items():
        if t.endswith(suffix):
            number = t[: -len(suffix)].strip()
            break
    else:
        number, mult = t, 1
    try:
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 10MB, 512KB, 1GB)") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"size must be positive: {text!r}")
    return int(value * mult)


def _data_dir_arg(p: argparse.ArgumentParser, leaf: bool = False) -> None:
    """--data-dir, accepted before or after a sub-action (a leaf must not reset the value)."""
    p.add_argument(
        "--data-dir",
        type=Path,
        default=argparse.SUPPRESS if leaf else None,
        help="where the database and certs/ live (env NECTO_HOME, default ~/.necto)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="necto",
        description="Intercepting HTTP(S) debugging proxy that records every exchange for HAR work.",
    )
    parser.add_argument("--version", action="version", version=f"necto {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="start the proxy (:8888) and the API/web page (:8889)")
    _data_dir_arg(run)
    run.add_argument("--proxy-host", default="127.0.0.1", help="proxy listen address (default 127.0.0.1)")
    run.add_argument("--proxy-port", type=int, default=DEFAULT_PROXY_PORT, help="proxy port (default 8888; 0 = any free port)")
    run.add_argument("--api-host", default="127.0.0.1", help="API listen address (default 127.0.0.1; anything else requires a token)")
    run.add_argument("--api-port", type=int, default=DEFAULT_API_PORT, help="API and web page port (default 8889)")
    run.add_argument("--max-body-size", type=parse_size, default=-1, help="keep at most this much of each body, e.g. 10MB (default: all); longer bodies are stored truncated and flagged")
    run.add_argument("--max-upload-size", type=parse_size, default=DEFAULT_MAX_UPLOAD, help="largest HAR upload the API accepts (default 1GB)")
    run.add_argument("--token", default=None, help="API token (Bearer header or ?token=); generated when the API is not on loopback")
    run.add_argument("--allow-host", action="append", default=[], metavar="NAME", help="extra Host name the API answers to (repeatable)")
    run.add_argument("--upstream-ca", type=Path, default=None, help="PEM file of extra CAs to trust for upstream servers")
    run.add_argument("--ssl-insecure", action="store_true", help="do not verify upstream server certificates")
    run.add_argument("-v", "--verbose", action="store_true", help="log mitmproxy's connection events")

    sessions = sub.add_parser("sessions", help="list, create, rename, activate, pause, resume, delete sessions")
    _data_dir_arg(sessions)
    ssub = sessions.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = ssub.add_parser("list", help="list sessions")
    _data_dir_arg(ls, leaf=True)
    ls.add_argument("--json", action="store_true", help="print JSON")
    c = ssub.add_parser("create", help="create a session")
    _data_dir_arg(c, leaf=True)
    c.add_argument("name")
    c.add_argument("--activate", action="store_true", help="record into it from now on")
    r = ssub.add_parser("rename", help="rename a session")
    _data_dir_arg(r, leaf=True)
    r.add_argument("session", help="session id or name")
    r.add_argument("name")
    for name, text in (
        ("activate", "record into this session from now on"),
        ("pause", "stop recording into this session"),
        ("resume", "resume recording into this session"),
        ("delete", "delete a session and all its entries"),
    ):
        sp = ssub.add_parser(name, help=text)
        _data_dir_arg(sp, leaf=True)
        sp.add_argument("session", help="session id or name")

    traffic = sub.add_parser("traffic", help="list, show, delete and clear recorded entries")
    _data_dir_arg(traffic)
    tsub = traffic.add_subparsers(dest="action", metavar="ACTION", required=True)
    tl = tsub.add_parser("list", help="list entries (default: the active session)")
    _data_dir_arg(tl, leaf=True)
    tl.add_argument("--session", help="session id or name")
    tl.add_argument("--search", help="substring of the URL or method")
    tl.add_argument("--method", action="append", default=[], help="only this method (repeatable)")
    tl.add_argument("--status", action="append", default=[], help="status code or class like 4xx (repeatable)")
    tl.add_argument("--host", action="append", default=[], help="only this host (repeatable)")
    tl.add_argument("--sort", default="timestamp", help="timestamp, duration, size, status, host, method")
    tl.add_argument("--desc", action="store_true", help="sort descending")
    tl.add_argument("--limit", type=int, default=50)
    tl.add_argument("--offset", type=int, default=0)
    tl.add_argument("--json", action="store_true", help="print JSON")
    ts = tsub.add_parser("show", help="one entry in full, as JSON (bodies base64)")
    _data_dir_arg(ts, leaf=True)
    ts.add_argument("id", help="entry id, or any unique prefix of it (as `traffic list` prints)")
    td = tsub.add_parser("delete", help="delete one entry")
    _data_dir_arg(td, leaf=True)
    td.add_argument("id", help="entry id, or any unique prefix of it")
    tc = tsub.add_parser("clear", help="delete every entry of a session")
    _data_dir_arg(tc, leaf=True)
    tc.add_argument("session", help="session id or name")

    ca = sub.add_parser("ca", help="where the CA certificate is, its fingerprint, how to trust it")
    _data_dir_arg(ca)
    ca.add_argument("--json", action="store_true", help="print JSON")

    for module_name in FEATURE_COMMANDS:
        module = importlib.import_module(module_name)
        HANDLERS.update(module.register(sub, _data_dir_arg))
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    cfg = Config()
    if getattr(args, "data_dir", None) is not None:
        cfg.data_dir = args.data_dir.expanduser()
    return cfg


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    handler = {
        "run": cmd_run,
        "sessions": cmd_sessions,
        "traffic": cmd_traffic,
        "ca": cmd_ca,
        **HANDLERS,
    }[args.command]
    try:
        return asyncio.run(handler(args))
    except KeyboardInterrupt:
        return 130


# ---------------------------------------------------------------------- run
async def cmd_run(args: argparse.Namespace) -> int:
    from necto.app import Necto, StartupError
    from necto.certs import ca_info

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    cfg = config_from_args(args)
    cfg.proxy_host, cfg.proxy_port = args.proxy_host, args.proxy_port
    cfg.api_host, cfg.api_port = args.api_host, args.api_port
    cfg.max_body_size, cfg.max_upload_size = args.max_body_size, args.max_upload_size
    cfg.token, cfg.allowed_hosts = args.token, args.allow_host
    cfg.upstream_ca, cfg.ssl_insecure = args.upstream_ca, args.ssl_insecure
    necto = Necto(cfg)
    try:
        addrs = await necto.start()
    except StartupError as e:
        print(f"necto: {e}", file=sys.stderr)
        return EXIT_USAGE
    assert necto.ca is not None and necto.store is not None
    session = await necto.store.active_session()
    phost, pport = addrs.proxy
    ahost, aport = addrs.api
    info = ca_info(necto.ca)
    lines = [
        f"Necto {__version__}",
        f"  Proxy      http://{phost}:{pport}",
        f"  API + page http://{ahost}:{aport}/",
        f"  Data       {cfg.data_dir}",
        f"  CA         {necto.ca.cert_pem}",
        f"             SHA-256 {info['fingerprint']}",
        f"  Session    {session.name if session else '-'} ({'recording' if necto.store.capture_session_id else 'paused'})",
        "",
        "Try it:",
        f"  curl -x http://{phost}:{pport} --cacert {necto.ca.cert_pem} https://example.com/",
        f"  curl http://{ahost}:{aport}/api/traffic",
        f"Browser: set the HTTP and HTTPS proxy to {phost}:{pport} and trust the CA above",
        f"  (steps per OS: necto ca, or http://{ahost}:{aport}/api/certificates/ca/install).",
    ]
    if cfg.token:
        lines.append(f"API token (Authorization: Bearer ... or ?token=...): {cfg.token}")
    lines.append("Stop with Ctrl-C.")
    print("\n".join(lines), flush=True)
    await necto.serve_until_signalled()
    print("Necto stopped; everything captured is saved.", flush=True)
    return EXIT_OK


# ---------------------------------------------------------------------- store commands
@asynccontextmanager
async def open_store(args: argparse.Namespace) -> AsyncIterator[Store]:
    store = await Store.open(config_from_args(args).db_path)
    try:
        yield store
    finally:
        await store.close()


def _print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def _table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())


def recording_state(s: Session, short: bool = False) -> str:
    """The one meaning the page shows too: only the active session records; `isRecording`
    says whether it does now (pause/resume). Other sessions are simply not recording."""
    if not s.is_active:
        return "-" if short else "not recording"
    if s.is_recording:
        return "rec" if short else "recording"
    return "paused"


async def resolve_entry_id(store: Store, key: str) -> tuple[str | None, str]:
    """An entry id from a full id or any unique prefix of one (as git does with commits).

    Returns (id, "") or (None, the reason to print)."""
    if await store.get_entry(key) is not None:
        return key, ""
    if len(key) < MIN_ID_PREFIX:
        return None, f"Traffic entry not found: {key} (give at least {MIN_ID_PREFIX} characters of an id)"
    rows = await asyncio.to_thread(_ids_with_prefix, store.path, key)
    if not rows:
        return None, f"Traffic entry not found: {key}"
    if len(rows) > 1:
        shown = ", ".join(r[0] for r in rows[:5])
        more = " and more" if len(rows) > 5 else ""
        return None, f"Ambiguous id prefix {key}: it matches {shown}{more}; give more characters"
    return rows[0][0], ""


def _ids_with_prefix(db_path: Path, prefix: str) -> list[tuple[str]]:
    """Up to 6 ready entries whose id starts with `prefix` (ids are ASCII UUIDs, so they sort
    between prefix and prefix + U+FFFF: an index range, not a scan)."""
    with closing(sqlite3.connect(db_path, timeout=10)) as db:
        return db.execute(
            "SELECT e.id FROM entries e JOIN sessions s ON s.id = e.session_id "
            "WHERE e.id >= ? AND e.id < ? AND s.state = 'ready' ORDER BY e.id LIMIT 6",
            (prefix, prefix + "\uffff"),
        ).fetchall()


async def cmd_sessions(args: argparse.Namespace) -> int:
    async with open_store(args) as store:
        if args.action == "list":
            sessions = await store.list_sessions()
            if args.json:
                _print_json([s.as_json() for s in sessions])
            else:
                _table(
                    [
                        ["*" if s.is_active else "", s.id, s.name, recording_state(s, short=True),
                         str(s.traffic_count), str(s.total_bytes)]
                        for s in sessions
                    ],
                    ["", "ID", "NAME", "STATE", "ENTRIES", "BYTES"],
                )  # fmt: skip
            return EXIT_OK
        if args.action == "create":
            s = await store.create_session(args.name, activate=args.activate)
            print(f"{s.id}  {s.name}{'  (active)' if s.is_active else ''}")
            return EXIT_OK
        found = await store.find_session(args.session)
        if found is None:
            print(f"necto: Session not found: {args.session}", file=sys.stderr)
            return EXIT_FAIL
        if args.action == "rename":
            await store.update_session(found.id, name=args.name)
        elif args.action == "activate":
            await store.activate_session(found.id)
        elif args.action in ("pause", "resume"):
            await store.update_session(found.id, is_recording=args.action == "resume")
        elif args.action == "delete":
            await store.delete_session(found.id)
            print(f"deleted {found.id}  {found.name}")
            return EXIT_OK
        s = await store.get_session(found.id)
        assert s is not None
        print(f"{s.id}  {s.name}  {'active, ' + recording_state(s) if s.is_active else recording_state(s)}")
        return EXIT_OK


async def cmd_traffic(args: argparse.Namespace) -> int:
    from necto.api.serialize import entry_detail, entry_summary

    async with open_store(args) as store:
        if args.action == "list":
            session = await store.find_session(args.session) if args.session else await store.active_session()
            if session is None:
                print(f"necto: Session not found: {args.session}", file=sys.stderr)
                return EXIT_FAIL
            q = TrafficQuery(
                session_id=session.id,
                search=args.search,
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
                _print_json({"entries": [entry_summary(e) for e in entries], "count": count})
            else:
                _table(
                    [
                        [e.id[:8], e.method, str(e.status if e.status is not None else "ERR"),
                         f"{e.duration:.0f}ms", e.url[:100]]
                        for e in entries
                    ],
                    ["ID", "METHOD", "STATUS", "TIME", "URL"],
                )
                print(f"{len(entries)} of {count} in {session.name}")
            return EXIT_OK
        if args.action in ("show", "delete"):
            entry_id, problem = await resolve_entry_id(store, args.id)
            entry = await store.get_entry(entry_id) if entry_id else None
            if entry is None:
                print(f"necto: {problem or 'Traffic entry not found'}", file=sys.stderr)
                return EXIT_FAIL
            if args.action == "show":
                _print_json(entry_detail(entry))
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


async def cmd_ca(args: argparse.Namespace) -> int:
    from necto.certs import ca_info, ensure_ca, install_steps

    cfg = config_from_args(args)
    files = ensure_ca(cfg.certs_dir)
    info = ca_info(files)
    steps = install_steps(files, f"127.0.0.1:{DEFAULT_PROXY_PORT}")
    if args.json:
        _print_json({**info, "install": steps["platforms"]})
        return EXIT_OK
    print(f"CA certificate  {files.cert_pem}")
    print(f"DER (.crt)      {files.cert_crt}")
    print(f"SHA-256         {info['fingerprint']}")
    print(f"Valid until     {info['validTo']}")
    print("\nTrust it:")
    for platform, lines in steps["platforms"].items():  # type: ignore[union-attr]
        print(f"  {platform}:")
        for line in lines:
            print(f"    {line}")
    return EXIT_OK


