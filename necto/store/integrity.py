"""A database Necto cannot use is reported in one line that names the file and what to do.

Checked before SQLite is asked (a text file, a garbled header, a file shorter than its header
says) and classified after (a damaged schema or page, a schema from a newer Necto), so that
`necto run` and every command exit 2 at once instead of printing a traceback.
"""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path

HEADER = b"SQLite format 3\x00"


class DatabaseProblem(Exception):
    """The database file cannot be used as it is; `str()` is the line to show."""

    def __init__(self, path: Path, problem: str, advice: str) -> None:
        super().__init__(f"cannot use the database {path}: {problem}. {advice}")
        self.path = path
        self.problem = problem


def damaged_advice(path: Path) -> str:
    return (
        f"Move it aside (mv '{path}' '{path}.damaged') to start with an empty one, "
        f"or see what can be saved: necto db check / necto db recover --data-dir '{path.parent}'"
    )


def header_problem(path: Path) -> str | None:
    """What is visibly wrong with the file before SQLite reads it (None: nothing seen)."""
    try:
        size = path.stat().st_size
        if size == 0:
            return None  # a new database
        with open(path, "rb") as f:
            head = f.read(100)
    except FileNotFoundError:
        return None
    if not head.startswith(HEADER):
        return "it is not a SQLite database (another kind of file, or a garbled header)"
    if len(head) < 100:
        return f"it is truncated ({size} bytes)"
    page_size = struct.unpack(">H", head[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    change, pages, valid_for = (
        struct.unpack(">I", head[24:28])[0],
        struct.unpack(">I", head[28:32])[0],
        struct.unpack(">I", head[92:96])[0],
    )
    if page_size < 512 or page_size & (page_size - 1):
        return "its header is garbled (impossible page size)"
    if pages and change == valid_for and size < pages * page_size:
        return f"it is truncated ({size} bytes where its header counts {pages * page_size})"
    return None


def classify(path: Path, exc: BaseException) -> DatabaseProblem:
    """The user-facing form of an error SQLite raised while opening `path`."""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        if "not a database" in text:
            return DatabaseProblem(
                path, "it is not a SQLite database (another kind of file, or a garbled header)", damaged_advice(path)
            )
        return DatabaseProblem(path, f"it is damaged ({text})", damaged_advice(path))
    if isinstance(exc, sqlite3.OperationalError) and "malformed" in text:
        return DatabaseProblem(path, f"it is damaged ({text})", damaged_advice(path))
    if isinstance(exc, PermissionError) or "unable to open" in text or "readonly" in text:
        return DatabaseProblem(
            path, f"it cannot be opened for writing ({text})", "Check the permissions of the file and its directory."
        )
    return DatabaseProblem(path, text, "Check the file and its directory (disk full? permissions?).")
