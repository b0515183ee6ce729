"""What every `necto` command shares: the data directory, the store, printing, sizes, progress."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson

from necto.config import Config
from necto.search.filterlang import FilterError, Node, parse_filter
from necto.store import Store
from necto.vocab import EXIT_FAIL, EXIT_OK, EXIT_USAGE, format_table

__all__ = [
    "EXIT_FAIL",
    "EXIT_OK",
    "EXIT_USAGE",
    "DataDirArg",
    "Handler",
    "Progress",
    "config_from_args",
    "bounded_int",
    "err",
    "filter_arg",
    "open_store",
    "parse_size",
    "print_json",
    "table",
]

Handler = Callable[[argparse.Namespace], Awaitable[int]]
DataDirArg = Callable[..., None]
PROGRESS_MIN_BYTES = 16 << 20  # files smaller than this finish too fast to need progress


def err(message: str) -> None:
    print(f"necto: {message}", file=sys.stderr)


def filter_arg(text: str | None) -> Node | None:
    """A `--filter` query. A malformed one is shown with a caret under the offending token and
    ends the command with exit code 2 (as argparse does for bad arguments)."""
    try:
        return parse_filter(text)
    except FilterError as e:
        err(str(e))
        if text and len(text) <= 200:
            width = max(1, min(len(e.token), len(text) - e.position)) if e.token else 1
            print(f"  {text}\n  {' ' * e.position}{'^' * width}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None


def parse_size(text: str) -> int:
    """'10MB', '512k', '1GiB', '-1' -> bytes (-1 = unlimited)."""
    t = text.strip().lower().replace("ib", "b")
    if t in ("-1", "none", "unlimited"):
        return -1
    units = {"gb": 1 << 30, "g": 1 << 30, "mb": 1 << 20, "m": 1 << 20, "kb": 1 << 10, "k": 1 << 10, "b": 1}
    number, mult = t, 1
    for suffix, factor in units.items():
        if t.endswith(suffix):
            number, mult = t[: -len(suffix)].strip(), factor
            break
    try:
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 10MB, 512KB, 1GB)") from None
    if value < 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"size must be a positive number: {text!r}")
    return int(value * mult)


def bounded_int(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: a whole number from lo to hi, or a usage error (never a traceback)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo} and {hi}: {text[:30]}")
        return value

    return parse


def data_dir_arg(p: argparse.ArgumentParser, leaf: bool = False) -> None:
    """--data-dir, accepted before or after a sub-action (a leaf must not reset the value)."""
    p.add_argument(
        "--data-dir",
        type=Path,
        default=argparse.SUPPRESS if leaf else None,
        help="where the database and certs/ live (env NECTO_HOME, default ~/.necto)",
    )


def config_from_args(args: argparse.Namespace) -> Config:
    cfg = Config()
    if getattr(args, "data_dir", None) is not None:
        cfg.data_dir = args.data_dir.expanduser()
    return cfg


@asynccontextmanager
async def open_store(args: argparse.Namespace) -> AsyncIterator[Store]:
    store = await Store.open(config_from_args(args).db_path)
    try:
        yield store
    finally:
        await store.close()


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def table(rows: list[list[str]], header: list[str], indent: str = "") -> None:
    print("\n".join(format_table(rows, header, indent)))


class Progress:
    """Bytes-read progress on stderr for big files, at most a few times a second."""

    def __init__(self, path: Path, label: str) -> None:
        self.total = path.stat().st_size
        self.label = label
        self.enabled = self.total >= PROGRESS_MIN_BYTES
        self.last = 0.0

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.last < 0.5:
            return
        self.last = now
        pct = min(100.0, 100.0 * done / self.total) if self.total else 100.0
        sys.stderr.write(f"\r{self.label} {done / 1e6:.0f}/{self.total / 1e6:.0f} MB ({pct:.0f}%)")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
