"""The SQLite schema and its versioned migrations (`PRAGMA user_version`)."""

from __future__ import annotations

import sqlite3

import aiosqlite

# Bodies are large: 32 KiB pages halve SQLite's CPU per stored megabyte compared with 4 KiB
# (measured). Takes effect only when the file is created.
PAGE_SIZE = 32768

SCHEMA_V1 = """
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    is_active INTEGER NOT NULL DEFAULT 0,
    is_recording INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'ready'
);
CREATE TABLE entries (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    started REAL NOT NULL,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    host TEXT NOT NULL,
    http_version TEXT NOT NULL,
    request_headers BLOB NOT NULL,
    request_body_size INTEGER NOT NULL,
    request_truncated INTEGER NOT NULL,
    status INTEGER,
    status_text TEXT NOT NULL,
    response_http_version TEXT NOT NULL,
    response_headers BLOB NOT NULL,
    response_body_size INTEGER NOT NULL,
    response_wire_size INTEGER NOT NULL,
    response_truncated INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    blocked REAL NOT NULL, dns REAL NOT NULL, connect REAL NOT NULL, ssl REAL NOT NULL,
    send REAL NOT NULL, wait REAL NOT NULL, receive REAL NOT NULL,
    duration REAL NOT NULL,
    server_ip TEXT, server_port INTEGER, client_ip TEXT, client_port INTEGER,
    connection_id TEXT,
    tls BLOB,
    error TEXT,
    extra BLOB,
    source TEXT NOT NULL,
    -- Large values last: SQLite reads a row's columns in order, so anything after a large
    -- body would cost a walk through the body's overflow pages.
    websocket BLOB,
    request_body BLOB,
    response_body BLOB
);
CREATE INDEX entries_by_session ON entries(session_id, started, seq);
-- Covers session totals (count and bytes), which the sessions list shows all the time.
CREATE INDEX entries_sizes ON entries(session_id, response_body_size, request_body_size);
"""

# Frames of WebSocket sockets still open (folded into entries.websocket when they close).
WEBSOCKET_FRAMES = """
CREATE TABLE websocket_frames (
    entry_id TEXT NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    frame BLOB NOT NULL,
    PRIMARY KEY (entry_id, n)
) WITHOUT ROWID;
"""

MIGRATIONS: list[str] = [SCHEMA_V1, WEBSOCKET_FRAMES]


class SchemaTooNew(Exception):
    """The database was written by a newer Necto."""

    def __init__(self, found: int) -> None:
        super().__init__(
            f"database schema version {found} is newer than this Necto understands "
            f"({len(MIGRATIONS)}); upgrade Necto"
        )
        self.found = found


async def migrate(db: aiosqlite.Connection) -> None:
    """Bring the schema up to date, one transaction per version."""
    async with db.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    version = row[0] if row else 0
    if version > len(MIGRATIONS):
        raise SchemaTooNew(version)
    for target in range(version + 1, len(MIGRATIONS) + 1):
        try:
            await db.executescript(
                "BEGIN;\n" + MIGRATIONS[target - 1] + f"\nPRAGMA user_version = {target};\nCOMMIT;"
            )
        except sqlite3.Error:
            if db.in_transaction:
                await db.execute("ROLLBACK")
            raise
