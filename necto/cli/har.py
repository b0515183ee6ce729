"""`necto export`, `necto import`, `necto validate`: the HAR API's work on the store directly."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson

from necto.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, DataDirArg, Handler, Progress, open_store
from necto.har.export import export_har
from necto.har.importer import SessionNotFound, import_har
from necto.har.report import HarError, Report
from necto.har.validate import validate_har
from necto.model import Entry


def register(sub: Any, add_data_dir_arg: DataDirArg) -> dict[str, Handler]:
    ex = sub.add_parser("export", help="write a session (or some entries) as a HAR 1.2 file")
    add_data_dir_arg(ex)
    ex.add_argument("session", nargs="?", help="session id or name (not needed with --entries)")
    ex.add_argument("-o", "--output", help="file to write (default: stdout)")
    ex.add_argument("--entries", help="comma-separated entry ids, exported in this order")
    ex.add_argument("--exclude-binary", action="store_true", help="leave out non-text bodies (noted in content.comment)")
    ex.add_argument("--redact", action="store_true", help="mask credentials, cookies and sensitive data for sharing (log.comment says what)")
    ex.add_argument("--name", help='page title for --entries exports (default "Necto Export")')

    im = sub.add_parser("import", help="import a HAR file into a new session (or an existing one)")
    add_data_dir_arg(im)
    im.add_argument("file", type=Path)
    group = im.add_mutually_exclusive_group()
    group.add_argument("--session-id", help="import into this existing session")
    group.add_argument("--session-name", help='name of the new session (default "Imported: <file name>")')
    im.add_argument("--json", action="store_true", help="print the result as JSON")

    va = sub.add_parser("validate", help="check a HAR file (exit 0 valid, 1 invalid); prints warnings")
    add_data_dir_arg(va)
    va.add_argument("file", type=Path)
    va.add_argument("--json", action="store_true", help="print the result as JSON")
    return {"export": cmd_export, "import": cmd_import, "validate": cmd_validate}


def _print_warnings(report: Report, stream: Any = sys.stdout) -> None:
    for w in report.warnings_json():
        where = w.get("path") or "file"
        print(f"warning: {where}: {w['message']}", file=stream)
    for s in report.skipped:
        print(f"skipped: log.entries[{s['index']}]: {s['reason']}", file=stream)


async def cmd_export(args: argparse.Namespace) -> int:
    async with open_store(args) as store:
        if args.entries:
            ids = [i.strip() for i in args.entries.split(",") if i.strip()]
            found = await store.get_entries(ids)
            if not found:
                print("necto: No valid entries found", file=sys.stderr)
                return EXIT_FAIL
            entries: Any = found
            title = args.name or "Necto Export"
        else:
            if not args.session:
                print("necto: give a session (id or name) or --entries", file=sys.stderr)
                return EXIT_USAGE
            session = await store.find_session(args.session)
            if session is None:
                print(f"necto: Session not found: {args.session}", file=sys.stderr)
                return EXIT_FAIL
            entries = store.iter_entries(session.id)
            title = args.name or session.name
        count = 0

        async def counted(src: Any) -> AsyncIterator[Entry]:
            nonlocal count
            if hasattr(src, "__aiter__"):
                async for e in src:
                    count += 1
                    yield e
            else:
                for e in src:
                    count += 1
                    yield e

        out = open(args.output, "wb") if args.output else sys.stdout.buffer
        try:
            async for chunk in export_har(
                counted(entries), title=title, exclude_binary=args.exclude_binary, redact=args.redact
            ):
                await asyncio.to_thread(out.write, chunk)
        finally:
            if args.output:
                out.close()
            else:
                out.flush()
        if args.output:
            print(f"exported {count} entries to {args.output}", file=sys.stderr)
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
                session_id=args.session_id, progress=progress,
            )  # fmt: skip
        except SessionNotFound:
            progress.done()
            print(f"necto: Session not found: {args.session_id}", file=sys.stderr)
            return EXIT_FAIL
        except HarError as e:
            progress.done()
            print(f"necto: {e.import_message}" + (f" ({e.detail})" if e.detail else ""), file=sys.stderr)
            return EXIT_FAIL
    progress.done()
    if args.json:
        sys.stdout.write(orjson.dumps(result.as_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
        return EXIT_OK
    _print_warnings(result.report, sys.stderr)
    r = result.report
    print(f"imported {r.imported} of {r.total} entries into {result.session_name} ({result.session_id})")
    return EXIT_OK


async def cmd_validate(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        print(f"necto: No such file: {path}", file=sys.stderr)
        return EXIT_FAIL
    progress = Progress(path, "validating")
    try:
        report = await asyncio.to_thread(validate_har, lambda: open(path, "rb"), progress)
    except HarError as e:
        progress.done()
        if args.json:
            body = {"valid": False, "error": e.validate_message, **({"detail": e.detail} if e.detail else {})}
            sys.stdout.write(orjson.dumps(body).decode() + "\n")
        else:
            print(f"invalid: {e.validate_message}" + (f" ({e.detail})" if e.detail else ""))
        return EXIT_FAIL
    progress.done()
    if args.json:
        sys.stdout.write(orjson.dumps(report.validation_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
        return EXIT_OK
    _print_warnings(report)
    c = report.creator
    print(
        f"valid: HAR {report.version} by {c['name']} {c['version']}".rstrip()
        + f", {report.total} entries, {report.warning_count + report.skipped_count} warnings"
    )
    return EXIT_OK


__all__ = ["register"]
