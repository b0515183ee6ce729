"""`necto` command line: argument parsing and printing only; the work is in the core modules.

Each command module has `register(sub, add_data_dir_arg) -> {command: async handler}`; the
CLI imports the core, never the reverse.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
import sys

from necto import __version__
from necto.cli.common import EXIT_USAGE, Handler, data_dir_arg
from necto.store import DatabaseProblem

COMMAND_MODULES = [
    "necto.cli.run",
    "necto.cli.sessions",
    "necto.cli.traffic",
    "necto.cli.ca",
    "necto.cli.har",
    "necto.cli.replay",
    "necto.cli.inventory",
    "necto.cli.rules",
    "necto.cli.breakpoints",
    "necto.cli.network",
    "necto.cli.mock",
    "necto.cli.record",
    "necto.cli.check",
    "necto.cli.mcp",
    "necto.cli.db",
]


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    parser = argparse.ArgumentParser(
        prog="necto",
        description="Intercepting HTTP(S) debugging proxy that records every exchange for HAR work.",
    )
    parser.add_argument("--version", action="version", version=f"necto {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    handlers: dict[str, Handler] = {}
    for name in COMMAND_MODULES:
        handlers.update(importlib.import_module(name).register(sub, data_dir_arg))
    return parser, handlers


def main(argv: list[str] | None = None) -> int:
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return asyncio.run(handlers[args.command](args))  # type: ignore[arg-type]
    except DatabaseProblem as e:
        # A damaged database, or one from a newer Necto: one line naming the file and what to do.
        print(f"necto: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `necto validate x.har | head -1`: the reader left; that is not an error of ours.
        _quiet_stdout()
        return 128 + signal.SIGPIPE


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
