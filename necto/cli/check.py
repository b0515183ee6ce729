"""`necto check BASELINE CURRENT`: the traffic contract gate (exit 0 pass, 1 fail, 2 error).

BASELINE and CURRENT are session ids/names or HAR files. The work is in necto.check; this
module reads the two sides, the rules, and writes the outputs asked for.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import orjson

from necto.check import RulesError, Side, add_rewrites, junit_xml, load_rules, markdown, run_check, text_report
from necto.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, DataDirArg, Handler, err, open_store
from necto.cli.replay import HarFileError, is_har_path, load_har_entries
from necto.compare import iterate, list_fetcher
from necto.model import Entry
from necto.store import Store
from necto.store.bodyfiles import WHOLE_BODY_MAX


def register(sub: Any, add_data_dir_arg: DataDirArg) -> dict[str, Handler]:
    p = sub.add_parser(
        "check",
        help="API contract gate: compare a baseline run with the current one (exit 0 pass, 1 fail, 2 error)",
        description="Compare two sessions or HAR files per endpoint: endpoints added/removed, status changes, "
        "response fields removed/retyped/added, new auth requirements, new sensitive data in responses, "
        "p95 latency regressions. What fails is set in a rules file (default: ./necto-check.yaml if present).",
    )
    add_data_dir_arg(p)
    p.add_argument("baseline", help="session id or name, or a .har file")
    p.add_argument("current", help="session id or name, or a .har file")
    p.add_argument(
        "--rules", type=Path, metavar="FILE", help="rules file (YAML; default ./necto-check.yaml if it exists)"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--junit", metavar="FILE", type=Path, help="also write JUnit XML (one test case per endpoint)")
    p.add_argument(
        "--markdown", metavar="FILE", type=Path, help="also write a Markdown table for a pull-request comment"
    )
    p.add_argument("--ignore-host", action="store_true", help="compare endpoints by method and path only")
    p.add_argument(
        "--rewrite",
        action="append",
        default=[],
        metavar="FROM=TO",
        help="compare the baseline's FROM origin with the current TO origin (repeatable)",
    )
    p.add_argument("--include-static", action="store_true", help="also compare images, fonts, CSS and scripts")
    return {"check": cmd_check}


async def _side(text: str, stack: AsyncExitStack, args: argparse.Namespace, stores: list[Store]) -> Side:
    if is_har_path(text):
        path = Path(text)
        if not path.is_file():
            raise LookupError(f"No such file: {text}")
        try:
            entries: list[Entry] = await asyncio.to_thread(load_har_entries, path)
        except (HarFileError, OSError) as e:
            raise LookupError(f"cannot read {text}: {e}") from None
        return Side(path.name, lambda: iterate(entries), list_fetcher(entries), {"kind": "file", "path": str(path)})
    if not stores:
        stores.append(await stack.enter_async_context(open_store(args)))
    store = stores[0]
    session = await store.find_session(text)
    if session is None:
        raise LookupError(f"Session not found: {text}")

    def stream() -> AsyncIterator[Entry]:
        return store.iter_entries(session.id, body_limit=WHOLE_BODY_MAX)

    fetch = functools.partial(store.get_entries, body_limit=WHOLE_BODY_MAX)
    return Side(session.name, stream, fetch, {"kind": "session", "id": session.id})


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


async def cmd_check(args: argparse.Namespace) -> int:
    try:
        rules = load_rules(args.rules)
        add_rewrites(rules, args.rewrite)
    except RulesError as e:
        err(str(e))
        return EXIT_USAGE
    rules.ignore_host = rules.ignore_host or args.ignore_host
    rules.include_static = rules.include_static or args.include_static
    async with AsyncExitStack() as stack:
        stores: list[Store] = []
        try:
            base = await _side(args.baseline, stack, args, stores)
            cur = await _side(args.current, stack, args, stores)
            result = await run_check(base, cur, rules)
        except LookupError as e:
            err(str(e))
            return EXIT_USAGE
    try:
        if args.junit:
            await asyncio.to_thread(_write, args.junit, junit_xml(result))
        if args.markdown:
            await asyncio.to_thread(_write, args.markdown, markdown(result).encode())
    except OSError as e:
        err(f"cannot write {e.filename}: {e.strerror}")
        return EXIT_USAGE
    if args.json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(text_report(result))
    return EXIT_FAIL if result["verdict"] == "fail" else EXIT_OK
