"""What SQLite can hold in one row, and how an entry is cut to fit instead of failing.

SQLite refuses any string, blob or row longer than SQLITE_LIMIT_LENGTH (1,000,000,000 bytes by
default): one 1 GiB decompression bomb or 2 GB upload would fail its whole write. Such an entry
is stored with its bodies (and, if need be, WebSocket frames) cut to fit, flagged truncated.

`NECTO_SQLITE_MAX_LENGTH` lowers the limit on Necto's own connections (tests use it to reach
the limit with a small body; SQLite enforces it exactly as it would the default).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import replace
from typing import Any

from necto.model import Entry

MAX_LENGTH_ENV = "NECTO_SQLITE_MAX_LENGTH"
# Room for everything in a row besides its largest values (headers are measured, this is slack).
ROW_MARGIN = 64 * 1024
STORE_LIMIT_NOTE = "storeLimit"  # Entry.extra key: the row limit a cut entry was fitted to


def _sqlite_default() -> int:
    with sqlite3.connect(":memory:") as db:
        return int(db.getlimit(sqlite3.SQLITE_LIMIT_LENGTH))


def _configured() -> int | None:
    raw = os.environ.get(MAX_LENGTH_ENV, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value > 2 * ROW_MARGIN else None


SQLITE_DEFAULT_LENGTH = _sqlite_default()
MAX_LENGTH = min(SQLITE_DEFAULT_LENGTH, _configured() or SQLITE_DEFAULT_LENGTH)


class LimitedConnection(sqlite3.Connection):
    """A connection with Necto's length limit applied (passed to `sqlite3.connect(factory=...)`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if MAX_LENGTH < SQLITE_DEFAULT_LENGTH:
            self.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_LENGTH)


def row_size(row: tuple[Any, ...]) -> int:
    """About what SQLite's length limit counts of a row: its texts and blobs (8 per other value)."""
    return sum(len(v) if v.__class__ is bytes or v.__class__ is str else 8 for v in row)


def fit_entry(
    entry: Entry, row: tuple[Any, ...], websocket_blob: bytes | None, limit: int = MAX_LENGTH
) -> Entry | None:
    """None when `row` (the entry's row) fits `limit`; else a copy cut to fit, flagged.

    Bodies come first (the smaller one whole if it fits in half the room); WebSocket frames
    get what is left, kept from the start."""
    size = row_size(row)
    if size <= limit - ROW_MARGIN:
        return None
    req, resp = entry.request_body or b"", entry.response_body or b""
    other = size - len(req) - len(resp) - len(websocket_blob or b"")
    left = max(0, limit - 2 * ROW_MARGIN - other)
    cut = replace(entry, extra={**entry.extra, STORE_LIMIT_NOTE: limit})
    keep: dict[str, int] = {}
    for i, (name, length) in enumerate(sorted((("req", len(req)), ("resp", len(resp))), key=lambda kv: kv[1])):
        keep[name] = min(length, left if i == 1 else left // 2)
        left -= keep[name]
    if keep["req"] < len(req):
        cut.request_body, cut.request_truncated = req[: keep["req"]], True
    if keep["resp"] < len(resp):
        cut.response_body, cut.response_truncated = resp[: keep["resp"]], True
    frames = entry.websocket or []
    kept, used = [], 0
    for m in frames:
        used += len(m.data) * 4 // 3 + 96  # as stored: JSON, base64 for binary frames
        if used > left:
            break
        kept.append(m)
    if len(kept) < len(frames):
        cut.websocket = kept
        cut.extra["websocketTruncated"] = len(frames) - len(kept)
    return cut
