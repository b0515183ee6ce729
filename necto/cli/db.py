"""`necto db check|vacuum|recover`: look after the database file itself."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from necto.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, DataDirArg, Handler, config_from_args, err, print_json
from necto.store.maintenance import check, database_in_use, recover, replace_with, vacuum


def register(sub: Any, add_data_dir_arg: DataDirArg) -> dict[str, Handler]:
    db = sub.add_parser("db", help="check, vacuum or recover the database (necto.db)")
    add_data_dir_arg(db)
    dsub = db.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = dsub.add_parser("check", help="SQLite's integrity check; exit 0 when sound, 1 when damaged")
    add_data_dir_arg(c, leaf=True)
    c.add_argument("--json", action="store_true", help="print JSON")
    v = dsub.add_parser("vacuum", help="rewrite the file without its free space (needs that much free disk)")
    add_data_dir_arg(v, leaf=True)
    r = dsub.add_parser("recover", help="copy what a damaged database still holds into a new one")
    add_data_dir_arg(r, leaf=True)
    r.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="where to write it (default: necto.recovered.db beside necto.db)",
    )
    r.add_argument(
        "--replace",
        action="store_true",
        help="then move the damaged file aside (necto.db.damaged-<time>) and put the recovered one in its place",
    )
    r.add_argument(
        "--no-shell", action="store_true", help="do not use the sqlite3 shell's .recover even if it is installed"
    )
    return {"db": cmd_db}


async def cmd_db(args: argparse.Namespace) -> int:
    path = config_from_args(args).db_path
    if not path.exists():
        err(f"no database at {path}")
        return EXIT_FAIL
    if args.action == "check":
        result = await asyncio.to_thread(check, path)
        if args.json:
            print_json({"ok": result.ok, "problems": result.problems, **result.facts, "path": str(path)})
        else:
            print(f"{path}: {'ok' if result.ok else 'DAMAGED'}")
            for key, value in result.facts.items():
                print(f"  {key}: {value}")
            for problem in result.problems:
                print(f"  problem: {problem}")
            if not result.ok:
                print(f"Try: necto db recover --data-dir '{path.parent}'")
        return EXIT_OK if result.ok else EXIT_FAIL
    if args.action == "vacuum":
        try:
            before, after = await asyncio.to_thread(vacuum, path)
        except Exception as e:
            err(f"VACUUM failed: {e}")
            return EXIT_FAIL
        print(f"{path}: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB")
        return EXIT_OK
    output = args.output or path.with_name("necto.recovered.db")
    if args.replace and database_in_use(path):
        err(f"{path} is open in another process (a running Necto?): stop it first, or recover without --replace")
        return EXIT_USAGE
    try:
        rec = await asyncio.to_thread(recover, path, output, not args.no_shell)
    except (FileExistsError, RuntimeError, OSError) as e:
        err(str(e))
        return EXIT_FAIL
    print(f"recovered with {rec.method} into {output}" if not rec.note else f"{rec.note}: recovered into {output}")
    for table, n in rec.rows.items():
        skipped = rec.skipped.get(table)
        print(f"  {table}: {n} rows" + (f" ({skipped} unreadable skipped)" if skipped else ""))
    if rec.lost_and_found:
        print(f"  lost_and_found: {rec.lost_and_found} rows whose table could not be told")
    if not rec.usable:
        print(
            "Necto's tables could not be rebuilt from this file: what was found is in the file above, not usable as necto.db"
        )
        return EXIT_FAIL
    if args.replace:
        aside = await asyncio.to_thread(replace_with, path, output)
        print(f"the damaged file is now {aside}; {path} is the recovered database")
    else:
        print(f"to use it: mv '{path}' '{path}.damaged' && mv '{output}' '{path}'   (or run again with --replace)")
    return EXIT_OK
