"""`necto export`, `necto import`, `necto validate`: the HAR API's work on the store directly."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from necto.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, DataDirArg, Handler, Progress, filter_arg, open_store
from necto.har.importer import SessionNotFound, import_har
from necto.har.report import HarError, Report
from necto.har.store_export import store_export
from necto.har.validate import validate_har
from necto.store import Store

WARNING_MODES = ("grouped", "all", "none")


def register(sub: Any, add_data_dir_arg: DataDirArg) -> dict[str, Handler]:
    ex = sub.add_parser("export", help="write a session (or some entries) as a HAR 1.2 file")
    add_data_dir_arg(ex)
    ex.add_argument("session", nargs="?", help="session id or name (not needed with --entries)")
    ex.add_argument("-o", "--output", help="file to write (default: stdout)")
    ex.add_argument("--entries", help="comma-separated entry ids, exported in this order")
    ex.add_argument(
        "--filter",
        "-f",
        metavar="QUERY",
        help="only the session's entries this filter-language query selects, e.g. 'status:5xx'",
    )
    ex.add_argument(
        "--exclude-binary", action="store_true", help="leave out non-text bodies (noted in content.comment)"
    )
    ex.add_argument(
        "--redact",
        action="store_true",
        help="mask credentials, cookies and sensitive data for sharing (log.comment says what)",
    )
    ex.add_argument("--name", help='page title for --entries exports (default "Necto Export")')

    im = sub.add_parser("import", help="import a HAR file into a new session (or an existing one)")
    add_data_dir_arg(im)
    im.add_argument("file", type=Path)
    group = im.add_mutually_exclusive_group()
    group.add_argument("--session-id", help="import into this existing session")
    group.add_argument("--session-name", help='name of the new session (default "Imported: <file name>")')
    im.add_argument("--json", action="store_true", help="print the result as JSON")
    im.add_argument("--warnings", choices=WARNING_MODES, default="grouped",
                    help="grouped by kind with counts (default), all of them one by one, or none")  # fmt: skip

    va = sub.add_parser("validate", help="check a HAR file (exit 0 valid, 1 invalid); prints warnings")
    add_data_dir_arg(va)
    va.add_argument("file", type=Path)
    va.add_argument("--json", action="store_true", help="print the result as JSON")
    va.add_argument("--warnings", choices=WARNING_MODES, default="grouped",
                    help="grouped by kind with counts (default), all of them one by one, or none")  # fmt: skip
    return {"export": cmd_export, "import": cmd_import, "validate": cmd_validate}


def _where(path: str) -> str:
    return path or "file"


def _print_grouped(report: Report, stream: Any = sys.stdout) -> None:
    """One line per kind of warning: 640 warnings read as a few lines."""
    for g in report.warning_groups():
        if g["count"] == 1:
            print(f"warning: {_where(g['path'])}: {g['example']}", file=stream)
            continue
        at = ", ".join(str(i) for i in g["firstIndexes"])
        more = ", ..." if g["count"] > len(g["firstIndexes"]) else ""
        where = f" (entries {at}{more})" if at else ""
        print(f"warning: {_where(g['path'])}: {g['message']} [{g['count']} times{where}]", file=stream)
    for g in report.skipped_groups():
        at = ", ".join(str(i) for i in g["firstIndexes"])
        more = ", ..." if g["count"] > len(g["firstIndexes"]) else ""
        print(f"skipped: {g['count']} entr{'y' if g['count'] == 1 else 'ies'} ({at}{more}): {g['reason']}", file=stream)


def _print_row(row: tuple[int, int, int | None, str, str], stream: Any = sys.stdout) -> None:
    _, skipped, _, path, message = row
    print(f"{'skipped' if skipped else 'warning'}: {_where(path)}: {message}", file=stream)


async def _print_all_stored(store: Store, import_id: str, stream: Any) -> None:
    for skipped in (False, True):
        offset = 0
        while page := await store.import_warnings(import_id, offset, 1000, skipped):
            for w in page:
                print(f"{'skipped' if skipped else 'warning'}: {_where(w['path'])}: {w['message']}", file=stream)
            offset += len(page)


def _error_lines(e: HarError, head: str) -> str:
    lines = [head + (f" ({e.detail})" if e.detail else "")]
    for s in e.extra.get("skipped", [])[:20]:
        lines.append(f"skipped: log.entries[{s['index']}]: {s['reason']}")
    return "\n".join(lines)


async def cmd_export(args: argparse.Namespace) -> int:
    selection = filter_arg(args.filter)
    if selection is not None and args.entries:
        print("necto: give --entries or --filter, not both", file=sys.stderr)
        return EXIT_USAGE
    async with open_store(args) as store:
        if args.entries:
            ids = [i.strip() for i in args.entries.split(",") if i.strip()]
            export = await store_export(store, entry_ids=ids, title=args.name or "Necto Export",
                                        exclude_binary=args.exclude_binary, redact=args.redact)  # fmt: skip
            if export is None:
                print("necto: No valid entries found", file=sys.stderr)
                return EXIT_FAIL
        else:
            if not args.session:
                print("necto: give a session (id or name) or --entries", file=sys.stderr)
                return EXIT_USAGE
            session = await store.find_session(args.session)
            if session is None:
                print(f"necto: Session not found: {args.session}", file=sys.stderr)
                return EXIT_FAIL
            export = await store_export(store, session_id=session.id, selection=selection,
                                        title=args.name or session.name, exclude_binary=args.exclude_binary,
                                        redact=args.redact)  # fmt: skip
            assert export is not None
        out = open(args.output, "wb") if args.output else sys.stdout.buffer
        try:
            async for chunk in export.chunks():
                await asyncio.to_thread(out.write, chunk)
        finally:
            if args.output:
                out.close()
            else:
                out.flush()
        if args.output:
            print(f"exported {export.count} entries to {args.output}", file=sys.stderr)
    return EXIT_OK


async def cmd_import(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        print(f"necto: No such file: {path}", file=sys.stderr)
        return EXIT_FAIL
    name = args.session_name or f"Imported: {path.stem}"
    progress = Progress(path, "importing")
    async with open_store(args) as store:
        try:
            result = await import_har(
                store, lambda: open(path, "rb"), session_name=name,
                session_id=args.session_id, progress=progress, file_name=path.name,
            )  # fmt: skip
        except SessionNotFound:
            progress.done()
            print(f"necto: Session not found: {args.session_id}", file=sys.stderr)
            return EXIT_FAIL
        except HarError as e:
            progress.done()
            if args.json:
                sys.stdout.write(orjson.dumps(e.body(), option=orjson.OPT_INDENT_2).decode() + "\n")
            else:
                print(_error_lines(e, f"necto: {e.import_message}"), file=sys.stderr)
            return EXIT_FAIL
        progress.done()
        if args.json:
            body = result.as_json()
            if args.warnings == "all" and result.report.warning_count > len(result.report.warnings):
                body["warnings"] = await store.import_warnings(result.import_id, 0, result.report.warning_count)
            sys.stdout.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")
            return EXIT_OK
        if args.warnings == "all":
            await _print_all_stored(store, result.import_id, sys.stderr)
        elif args.warnings == "grouped":
            _print_grouped(result.report, sys.stderr)
    r = result.report
    print(f"imported {r.imported} of {r.total} entries into {result.session_name} ({result.session_id})")
    if r.warning_count and args.warnings != "all":
        print(f"{r.warning_count} warnings; all of them: necto import ... --warnings all, or "
              f"GET /api/har/imports/{result.import_id}/warnings")  # fmt: skip
    return EXIT_OK


async def cmd_validate(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        print(f"necto: No such file: {path}", file=sys.stderr)
        return EXIT_FAIL
    progress = Progress(path, "validating")
    every = _print_row if args.warnings == "all" and not args.json else None
    try:
        report = await asyncio.to_thread(validate_har, lambda: open(path, "rb"), progress, every)
    except HarError as e:
        progress.done()
        if args.json:
            sys.stdout.write(orjson.dumps(e.body(validate=True)).decode() + "\n")
        else:
            print(_error_lines(e, f"invalid: {e.validate_message}"))
        return EXIT_FAIL
    progress.done()
    if args.json:
        sys.stdout.write(orjson.dumps(report.validation_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
        return EXIT_OK
    if args.warnings == "grouped":
        _print_grouped(report)
    c = report.creator
    print(
        f"valid: HAR {report.version} by {c['name']} {c['version']}".rstrip()
        + f", {report.total} entries, {report.warning_count + report.skipped_count} warnings"
    )
    return EXIT_OK


__all__ = ["register"]
