"""`necto inventory SESSION|FILE.har [--json] [--diff B] [--openapi FILE] [--include-static]
[--include-unsuccessful]`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson

from necto.cli.common import EXIT_FAIL, EXIT_OK, DataDirArg, Handler, open_store
from necto.har.reader import aiter_entries
from necto.har.report import HarError
from necto.inventory import (
    Inventory,
    build_inventory,
    diff_inventories,
    diff_table,
    inventory_json,
    inventory_table,
    openapi_document,
    openapi_yaml,
)
from necto.model import Entry
from necto.store.bodyfiles import WHOLE_BODY_MAX


class SourceError(Exception):
    """The session or file named on the command line cannot be read (message for the user)."""


def register(sub: Any, add_data_dir_arg: DataDirArg) -> dict[str, Handler]:
    p = sub.add_parser(
        "inventory",
        help="API inventory (endpoints, params, auth, sensitive data) and OpenAPI from a session or HAR file",
    )
    add_data_dir_arg(p)
    p.add_argument("source", metavar="SESSION|FILE.har", help="session id or name, or a HAR file")
    p.add_argument("--json", action="store_true", help="print the inventory (or the diff) as JSON")
    p.add_argument(
        "--diff", metavar="B", help="compare with another session or HAR file: what is new, removed, changed in B"
    )
    p.add_argument(
        "--openapi",
        metavar="FILE",
        help="also write OpenAPI 3.1 (YAML if FILE ends in .yaml/.yml, else JSON; - for stdout)",
    )
    p.add_argument("--include-static", action="store_true", help="keep images, fonts, CSS, JS and source maps")
    p.add_argument(
        "--include-unsuccessful",
        action="store_true",
        help="also put endpoints that never answered 2xx (observedSuccess: false) in the OpenAPI",
    )
    return {"inventory": cmd_inventory}


def _looks_like_file(source: str) -> bool:
    path = Path(source)
    return path.is_file() or source.lower().endswith((".har", ".json"))


async def har_file_entries(path: Path) -> AsyncIterator[Entry]:
    """Entries of a HAR file, streamed; a file that is not a HAR is the user's error."""
    try:
        async for entry in aiter_entries(path):
            yield entry
    except HarError as e:
        raise SourceError(f"{path}: {e}") from None


async def load_inventory(args: argparse.Namespace, source: str) -> Inventory:
    if _looks_like_file(source):
        path = Path(source)
        if not path.is_file():
            raise SourceError(f"No such file: {source}")
        return await build_inventory(
            har_file_entries(path),
            include_static=args.include_static,
            source={"kind": "file", "path": str(path), "name": path.name},
        )
    async with open_store(args) as store:
        session = await store.find_session(source)
        if session is None:
            raise SourceError(f"Session not found: {source}")
        return await build_inventory(
            store.iter_entries(session.id, body_limit=WHOLE_BODY_MAX),
            include_static=args.include_static,
            source={"kind": "session", "id": session.id, "name": session.name},
        )


def _write(text: str, target: str) -> None:
    if target == "-":
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        Path(target).write_text(text, encoding="utf-8")


async def cmd_inventory(args: argparse.Namespace) -> int:
    try:
        inv = await load_inventory(args, args.source)
        other = await load_inventory(args, args.diff) if args.diff else None
    except SourceError as e:
        print(f"necto: {e}", file=sys.stderr)
        return EXIT_FAIL
    data = inventory_json(inv)
    if args.openapi:
        doc = openapi_document(inv, include_unsuccessful=args.include_unsuccessful)
        text = (
            openapi_yaml(doc)
            if args.openapi.lower().endswith((".yaml", ".yml"))
            else orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()
        )
        try:
            _write(text, args.openapi)
        except OSError as e:
            print(f"necto: cannot write {args.openapi}: {e.strerror}", file=sys.stderr)
            return EXIT_FAIL
        if args.openapi == "-":
            return EXIT_OK
    if other is not None:
        d = diff_inventories(data, inventory_json(other))
        print(orjson.dumps(d, option=orjson.OPT_INDENT_2).decode() if args.json else diff_table(d))
        return EXIT_OK
    print(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() if args.json else inventory_table(data))
    if args.openapi:
        print(f"OpenAPI written to {args.openapi}", file=sys.stderr)
    return EXIT_OK
