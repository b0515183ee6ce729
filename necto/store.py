"""SQLite storage for sessions and entries: one writer, batched; readers separate.

The proxy's hooks call `record()`, which only appends to an in-memory list. A single writer task
turns pending flows into rows off the event loop and commits them in batches (at most ~100 ms or
`BATCH_MAX` flows per transaction), the Datasette pattern. All other writes go through the same
connection under one lock, so SQLite never sees two writers from us.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from necto.model import Entry, Session, Timings, WsMessage, new_id, now_ms

log = logging.getLogger(__name__)

BATCH_MAX = 500
PAGE_SIZE = 32768
BATCH_WINDOW = 0.1  # seconds
DEFAULT_SESSION_NAME = "Default Session"

# A pending capture: a finished Entry or a function that builds one (run off the event loop).
Pending = Entry | Callable[[], Entry | None]
Listener = Callable[[str, Any], None]

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

MIGRATIONS: list[str] = [SCHEMA_V1]

COLUMNS = (
    "id", "session_id", "started", "method", "url", "host", "http_version", "request_headers",
    "request_body_size", "request_truncated", "status", "status_text", "response_http_version",
    "response_headers", "response_body_size", "response_wire_size", "response_truncated",
    "content_type", "blocked", "dns", "connect", "ssl", "send", "wait", "receive", "duration",
    "server_ip", "server_port", "client_ip", "client_port", "connection_id", "tls", "error",
    "extra", "source", "websocket", "request_body", "response_body",
)  # fmt: skip
ENTRY_COLUMNS = ", ".join(COLUMNS)
INSERT_ENTRY = f"INSERT INTO entries ({ENTRY_COLUMNS}) VALUES ({', '.join('?' * len(COLUMNS))})"
# The same columns qualified for queries that join sessions (alias e).
E_COLUMNS = ", ".join("e." + c for c in COLUMNS)
# The list view never shows bodies or frames: it reads neither (an empty frame list still
# marks a WebSocket).
SUMMARY_COLUMNS = ", ".join(
    {
        "websocket": "CASE WHEN e.websocket IS NULL THEN NULL ELSE X'5B5D' END",
        "request_body": "NULL",
        "response_body": "NULL",
    }.get(c, "e." + c)
    for c in COLUMNS
)
_C = {name: i for i, name in enumerate(COLUMNS)}

SORT_COLUMNS = {
    "timestamp": "started",
    "duration": "duration",
    "size": "response_body_size",
    "status": "status",
    "host": "host",
    "method": "method",
    "url": "url",
}


def _ws_to_json(messages: list[WsMessage] | None) -> bytes | None:
    if messages is None:
        return None
    out = []
    for m in messages:
        if m.opcode == 1:
            out.append({"type": m.type, "time": m.time, "opcode": 1, "text": m.data.decode("utf-8", "replace")})
        else:
            out.append({"type": m.type, "time": m.time, "opcode": m.opcode, "hex": m.data.hex()})
    return orjson.dumps(out)


def _ws_from_json(raw: bytes | None) -> list[WsMessage] | None:
    if raw is None:
        return None
    msgs = []
    for m in orjson.loads(raw):
        data = m["text"].encode() if "text" in m else bytes.fromhex(m["hex"])
        msgs.append(WsMessage(m["type"], m["time"], m["opcode"], data))
    return msgs


def entry_to_row(e: Entry) -> tuple[Any, ...]:
    """An Entry as a row, in COLUMNS order."""
    t = e.timings
    return (
        e.id, e.session_id, e.started, e.method, e.url, e.host, e.http_version,
        orjson.dumps(e.request_headers), e.request_body_size, int(e.request_truncated),
        e.status, e.status_text, e.response_http_version, orjson.dumps(e.response_headers),
        e.response_body_size, e.response_wire_size, int(e.response_truncated), e.content_type,
        t.blocked, t.dns, t.connect, t.ssl, t.send, t.wait, t.receive, t.total,
        e.server_ip, e.server_port, e.client_ip, e.client_port, e.connection_id,
        orjson.dumps(e.tls) if e.tls is not None else None, e.error,
        orjson.dumps(e.extra) if e.extra else None, e.source,
        _ws_to_json(e.websocket), e.request_body, e.response_body,
    )  # fmt: skip


def row_to_entry(r: Sequence[Any]) -> Entry:
    """A row in COLUMNS order (extra trailing columns ignored) as an Entry."""
    c = _C
    tls, extra = r[c["tls"]], r[c["extra"]]
    return Entry(
        id=r[c["id"]], session_id=r[c["session_id"]], started=r[c["started"]],
        method=r[c["method"]], url=r[c["url"]], http_version=r[c["http_version"]],
        request_headers=[tuple(h) for h in orjson.loads(r[c["request_headers"]])],
        request_body=r[c["request_body"]], request_body_size=r[c["request_body_size"]],
        request_truncated=bool(r[c["request_truncated"]]), status=r[c["status"]],
        status_text=r[c["status_text"]], response_http_version=r[c["response_http_version"]],
        response_headers=[tuple(h) for h in orjson.loads(r[c["response_headers"]])],
        response_body=r[c["response_body"]], response_body_size=r[c["response_body_size"]],
        response_wire_size=r[c["response_wire_size"]],
        response_truncated=bool(r[c["response_truncated"]]),
        timings=Timings(*r[c["blocked"] : c["receive"] + 1]),
        server_ip=r[c["server_ip"]], server_port=r[c["server_port"]],
        client_ip=r[c["client_ip"]], client_port=r[c["client_port"]],
        connection_id=r[c["connection_id"]], tls=orjson.loads(tls) if tls is not None else None,
        error=r[c["error"]], websocket=_ws_from_json(r[c["websocket"]]),
        extra=orjson.loads(extra) if extra is not None else {}, source=r[c["source"]],
    )  # fmt: skip


@dataclass(slots=True)
class TrafficQuery:
    """Filters, sort and paging for the traffic list (NectoProxy's query parameters)."""

    session_id: str | None = None
    search: str | None = None
    methods: list[str] = field(default_factory=list)
    status_codes: list[int] = field(default_factory=list)  # 0 = no response / failed
    status_classes: list[int] = field(default_factory=list)  # 2 for "2xx"
    hosts: list[str] = field(default_factory=list)
    sort_field: str = "timestamp"
    sort_direction: str = "asc"
    limit: int = 100
    offset: int = 0

    def add_status(self, code: str) -> None:
        """Filter by "404" (exact; "0" = no response) or "4xx" (class); ValueError otherwise."""
        if len(code) == 3 and code[0].isdigit() and code[1:].lower() == "xx":
            self.status_classes.append(int(code[0]))
        elif code.isdigit():
            self.status_codes.append(int(code))
        else:
            raise ValueError(f"Invalid status code: {code}")


class Store:
    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection):
        self.path = path
        self._w = writer
        self._r = reader
        self._lock = asyncio.Lock()
        self._pending: list[Pending] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._writer_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._data_version = -1
        # The recorder reads this on every flow, so it is kept in memory, never queried.
        self.capture_session_id: str | None = None
        self.dropped = 0  # captures lost to a failing write (logged)
        self._listeners: set[Listener] = set()

    # ---------------------------------------------------------------- lifecycle
    @classmethod
    async def open(cls, path: Path | str) -> Store:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await aiosqlite.connect(path, isolation_level=None)
        # Bodies are large: 32 KiB pages halve SQLite's CPU per stored megabyte compared with
        # 4 KiB (measured). Takes effect only when the file is created.
        await writer.execute(f"PRAGMA page_size={PAGE_SIZE}")
        await writer.execute("PRAGMA journal_mode=WAL")
        await writer.execute("PRAGMA synchronous=NORMAL")
        await writer.execute("PRAGMA foreign_keys=ON")
        await writer.execute("PRAGMA busy_timeout=10000")
        await _migrate(writer)
        reader = await aiosqlite.connect(path, isolation_level=None)
        await reader.execute("PRAGMA busy_timeout=10000")
        store = cls(path, writer, reader)
        await store._recover()
        await store.ensure_active_session()
        store._writer_task = asyncio.create_task(store._writer_loop(), name="necto-store-writer")
        store._watch_task = asyncio.create_task(store._watch_loop(), name="necto-store-watch")
        return store

    async def close(self) -> None:
        """Write everything still pending, then close both connections."""
        if self._watch_task is not None:
            self._watch_task.cancel()
            try:
                await self._watch_task
            except asyncio.CancelledError:
                pass
            self._watch_task = None
        if self._writer_task is not None:
            self._closing = True
            self._wake.set()
            await self._writer_task
            self._writer_task = None
        await self._r.close()
        await self._w.close()

    async def _watch_loop(self) -> None:
        """Notice session changes made by another process (the CLI) and follow them."""
        while True:
            await asyncio.sleep(0.5)
            try:
                async with self._r.execute("PRAGMA data_version") as cur:
                    row = await cur.fetchone()
                if row and row[0] != self._data_version:
                    self._data_version = row[0]
                    await self._refresh_capture_target()
            except Exception:
                log.exception("could not check for outside changes")

    async def _recover(self) -> None:
        # An import cut off by a crash or kill leaves a staging session behind: drop it whole,
        # unless the process that owns it (another Necto, the CLI) is still running.
        async with self._r.execute("SELECT id, state FROM sessions WHERE state != 'ready'") as cur:
            rows = await cur.fetchall()
        for sid, state in rows:
            _, _, pid = state.partition(":")
            if not (pid.isdigit() and _pid_alive(int(pid))):
                async with self._lock:
                    await self._w.execute("DELETE FROM sessions WHERE id = ?", (sid,))

    # ---------------------------------------------------------------- capture path
    def record(self, item: Pending) -> None:
        """Queue one capture. Never blocks and never touches SQLite (called from proxy hooks)."""
        self._pending.append(item)
        self._idle.clear()
        self._wake.set()

    async def flush(self) -> None:
        """Wait until every capture queued so far is committed."""
        if self._writer_task is None:
            return
        self._wake.set()
        await self._idle.wait()

    async def _writer_loop(self) -> None:
        while True:
            await self._wake.wait()
            if not self._closing and len(self._pending) < BATCH_MAX:
                # Let a batch build up: one transaction per ~100 ms, not per flow.
                try:
                    await asyncio.wait_for(self._full_batch(), BATCH_WINDOW)
                except TimeoutError:
                    pass
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[:BATCH_MAX], self._pending[BATCH_MAX:]
                await self._write_batch(batch)
            self._idle.set()
            if self._closing:
                return

    async def _full_batch(self) -> None:
        while len(self._pending) < BATCH_MAX and not self._closing:
            self._wake.clear()
            await self._wake.wait()

    async def _write_batch(self, batch: list[Pending]) -> None:
        try:
            entries, rows = await asyncio.to_thread(_build_rows, batch)
            await self._insert(entries, rows)
        except Exception:
            self.dropped += len(batch)
            log.exception("could not store %d captured entries", len(batch))

    async def _insert(self, entries: Sequence[Entry], rows: list[tuple[Any, ...]]) -> None:
        """One transaction for a batch of rows; listeners hear about them once committed."""
        if not rows:
            return
        async with self._lock:
            await self._w.execute("BEGIN")
            try:
                await self._w.executemany(INSERT_ENTRY, rows)
                await self._w.execute("COMMIT")
            except BaseException:
                await self._w.execute("ROLLBACK")
                raise
        self._notify("entries", entries)

    # ---------------------------------------------------------------- change notifications
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(kind, payload)` after each change; returns the unsubscribe function.

        Kinds: "entries" (list of new Entry), "removed" (session id whose entries were
        deleted), "sessions" (None). Listeners must not block: they run on the event loop.
        """
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    def _notify(self, kind: str, payload: Any) -> None:
        for listener in list(self._listeners):
            try:
                listener(kind, payload)
            except Exception:
                log.exception("change listener failed")

    # ---------------------------------------------------------------- sessions
    async def _session_rows(self, where: str = "", args: Iterable[Any] = ()) -> list[Session]:
        sql = (
            "SELECT s.id, s.name, s.is_active, s.is_recording, s.created_at, s.updated_at, "
            "(SELECT COUNT(*) FROM entries e WHERE e.session_id = s.id), "
            "(SELECT COALESCE(SUM(MAX(e.response_body_size, 0) + MAX(e.request_body_size, 0)), 0) "
            " FROM entries e WHERE e.session_id = s.id) "
            f"FROM sessions s WHERE s.state = 'ready' {where} ORDER BY s.created_at, s.rowid"
        )
        async with self._r.execute(sql, tuple(args)) as cur:
            rows = await cur.fetchall()
        return [Session(r[0], r[1], bool(r[2]), bool(r[3]), r[4], r[5], r[6], r[7]) for r in rows]

    async def list_sessions(self) -> list[Session]:
        return await self._session_rows()

    async def get_session(self, session_id: str) -> Session | None:
        rows = await self._session_rows("AND s.id = ?", (session_id,))
        return rows[0] if rows else None

    async def active_session(self) -> Session | None:
        rows = await self._session_rows("AND s.is_active = 1")
        return rows[0] if rows else None

    async def find_session(self, key: str) -> Session | None:
        """A session by id, or failing that by exact name (for the CLI)."""
        return await self.get_session(key) or next(
            (s for s in await self.list_sessions() if s.name == key), None
        )

    async def create_session(self, name: str, activate: bool = False) -> Session:
        sid, ts = new_id(), now_ms()
        async with self._lock:
            await self._w.execute(
                "INSERT INTO sessions (id, name, is_active, is_recording, created_at, updated_at) "
                "VALUES (?, ?, 0, 1, ?, ?)",
                (sid, name, ts, ts),
            )
        if activate:
            await self.activate_session(sid)
        session = await self.get_session(sid)
        assert session is not None
        self._notify("sessions", None)
        return session

    async def update_session(
        self, session_id: str, *, name: str | None = None, is_recording: bool | None = None
    ) -> Session | None:
        sets, args = ["updated_at = ?"], [now_ms()]
        if name is not None:
            sets.append("name = ?")
            args.append(name)
        if is_recording is not None:
            sets.append("is_recording = ?")
            args.append(int(is_recording))
        async with self._lock:
            cur = await self._w.execute(
                f"UPDATE sessions SET {', '.join(sets)} WHERE id = ? AND state = 'ready'",
                (*args, session_id),
            )
            changed = cur.rowcount
        await self._refresh_capture_target()
        if changed:
            self._notify("sessions", None)
        return await self.get_session(session_id) if changed else None

    async def activate_session(self, session_id: str) -> Session | None:
        async with self._lock:
            await self._w.execute("BEGIN")
            cur = await self._w.execute(
                "UPDATE sessions SET is_active = 1, updated_at = ? WHERE id = ? AND state = 'ready'",
                (now_ms(), session_id),
            )
            if cur.rowcount == 0:
                await self._w.execute("ROLLBACK")
                return None
            await self._w.execute(
                "UPDATE sessions SET is_active = 0 WHERE id != ? AND is_active = 1", (session_id,)
            )
            await self._w.execute("COMMIT")
        await self._refresh_capture_target()
        self._notify("sessions", None)
        return await self.get_session(session_id)

    async def delete_session(self, session_id: str) -> bool:
        """Delete a session and its entries; if it was active, another one becomes active."""
        await self.flush()
        async with self._lock:
            cur = await self._w.execute(
                "DELETE FROM sessions WHERE id = ? AND state = 'ready'", (session_id,)
            )
            deleted = cur.rowcount > 0
        if deleted:
            await self.ensure_active_session()
            self._notify("sessions", None)
        return deleted

    async def ensure_active_session(self) -> Session:
        """There is always an active session: the newest one, or a new default."""
        active = await self.active_session()
        if active is None:
            sessions = await self.list_sessions()
            if sessions:
                active = await self.activate_session(sessions[-1].id)
            else:
                active = await self.create_session(DEFAULT_SESSION_NAME, activate=True)
        assert active is not None
        await self._refresh_capture_target()
        return active

    async def _refresh_capture_target(self) -> None:
        async with self._r.execute(
            "SELECT id, is_recording FROM sessions WHERE is_active = 1 AND state = 'ready'"
        ) as cur:
            row = await cur.fetchone()
        self.capture_session_id = row[0] if row and row[1] else None

    # ---------------------------------------------------------------- staged imports
    async def create_staging_session(self, name: str) -> str:
        """A hidden session that an import fills; invisible until `commit_staging`."""
        sid, ts = new_id(), now_ms()
        async with self._lock:
            await self._w.execute(
                "INSERT INTO sessions (id, name, is_active, is_recording, created_at, updated_at, "
                "state) VALUES (?, ?, 0, 0, ?, ?, ?)",
                (sid, name, ts, ts, f"staging:{os.getpid()}"),
            )
        return sid

    async def commit_staging(self, staging_id: str, into: str | None = None) -> str:
        """Publish a staged import: as a new session, or moved into an existing one."""
        async with self._lock:
            await self._w.execute("BEGIN")
            try:
                if into is None:
                    await self._w.execute(
                        "UPDATE sessions SET state = 'ready', is_recording = 1, updated_at = ? "
                        "WHERE id = ?",
                        (now_ms(), staging_id),
                    )
                    target = staging_id
                else:
                    cur = await self._w.execute(
                        "UPDATE sessions SET updated_at = ? WHERE id = ? AND state = 'ready'",
                        (now_ms(), into),
                    )
                    if cur.rowcount == 0:
                        raise KeyError(into)
                    await self._w.execute(
                        "UPDATE entries SET session_id = ? WHERE session_id = ?", (into, staging_id)
                    )
                    await self._w.execute("DELETE FROM sessions WHERE id = ?", (staging_id,))
                    target = into
                await self._w.execute("COMMIT")
            except BaseException:
                await self._w.execute("ROLLBACK")
                raise
        self._notify("sessions", None)
        return target

    async def drop_staging(self, staging_id: str) -> None:
        async with self._lock:
            await self._w.execute(
                "DELETE FROM sessions WHERE id = ? AND state != 'ready'", (staging_id,)
            )

    # ---------------------------------------------------------------- entries
    async def add_entries(self, entries: Sequence[Entry]) -> None:
        """Insert entries now, in one transaction (imports and replays; capture uses `record`)."""
        await self._insert(entries, [entry_to_row(e) for e in entries])

    async def get_entry(self, entry_id: str) -> Entry | None:
        async with self._r.execute(
            f"SELECT {E_COLUMNS} FROM entries e JOIN sessions s ON s.id = e.session_id "
            "WHERE e.id = ? AND s.state = 'ready'",
            (entry_id,),
        ) as cur:
            row = await cur.fetchone()
        return row_to_entry(row) if row else None

    async def get_entries(self, entry_ids: Sequence[str]) -> list[Entry]:
        """The entries that exist, in the order asked for."""
        found: dict[str, Entry] = {}
        ids = list(dict.fromkeys(entry_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            async with self._r.execute(
                f"SELECT {E_COLUMNS} FROM entries e JOIN sessions s ON s.id = e.session_id "
                f"WHERE s.state = 'ready' AND e.id IN ({', '.join('?' * len(chunk))})",
                chunk,
            ) as cur:
                for row in await cur.fetchall():
                    found[row[0]] = row_to_entry(row)
        return [found[i] for i in entry_ids if i in found]

    async def iter_entries(self, session_id: str, batch: int = 500) -> AsyncIterator[Entry]:
        """Every entry of a session in time order, a batch at a time (memory stays flat)."""
        last: tuple[float, int] = (float("-inf"), -1)
        while True:
            async with self._r.execute(
                f"SELECT {ENTRY_COLUMNS}, seq FROM entries WHERE session_id = ? "
                "AND (started > ? OR (started = ? AND seq > ?)) ORDER BY started, seq LIMIT ?",
                (session_id, last[0], last[0], last[1], batch),
            ) as cur:
                rows = await cur.fetchall()
            if not rows:
                return
            for row in rows:
                yield row_to_entry(row)
            last = (rows[-1][2], rows[-1][-1])

    async def list_entries(self, q: TrafficQuery) -> tuple[list[Entry], int]:
        """A page of entries (without bodies) and the total count matching the filters."""
        where, args = ["s.state = 'ready'"], []
        if q.session_id:
            where.append("e.session_id = ?")
            args.append(q.session_id)
        if q.search:
            where.append("(instr(lower(e.url), ?) > 0 OR instr(lower(e.method), ?) > 0)")
            args += [q.search.lower()] * 2
        if q.methods:
            where.append(f"upper(e.method) IN ({', '.join('?' * len(q.methods))})")
            args += [m.upper() for m in q.methods]
        status_terms = []
        if q.status_codes:
            status_terms.append(
                f"COALESCE(e.status, 0) IN ({', '.join('?' * len(q.status_codes))})"
            )
            args += q.status_codes
        for cls in q.status_classes:
            status_terms.append("(e.status >= ? AND e.status < ?)")
            args += [cls * 100, cls * 100 + 100]
        if status_terms:
            where.append("(" + " OR ".join(status_terms) + ")")
        if q.hosts:
            where.append(f"lower(e.host) IN ({', '.join('?' * len(q.hosts))})")
            args += [h.lower() for h in q.hosts]
        clause = " AND ".join(where)
        column = SORT_COLUMNS.get(q.sort_field, "started")
        direction = "DESC" if q.sort_direction.lower() == "desc" else "ASC"
        base = f"FROM entries e JOIN sessions s ON s.id = e.session_id WHERE {clause}"
        async with self._r.execute(f"SELECT COUNT(*) {base}", args) as cur:
            row = await cur.fetchone()
            count = row[0] if row else 0
        async with self._r.execute(
            f"SELECT {SUMMARY_COLUMNS} {base} ORDER BY e.{column} {direction}, e.seq {direction} "
            "LIMIT ? OFFSET ?",
            (*args, q.limit, q.offset),
        ) as cur:
            rows = await cur.fetchall()
        return [row_to_entry(r) for r in rows], count

    async def delete_entry(self, entry_id: str) -> bool:
        await self.flush()
        async with self._lock:
            cur = await self._w.execute(
                "DELETE FROM entries WHERE id = ? RETURNING session_id", (entry_id,)
            )
            row = await cur.fetchone()
        if row is not None:
            self._notify("removed", row[0])
        return row is not None

    async def clear_session(self, session_id: str) -> int:
        await self.flush()
        async with self._lock:
            cur = await self._w.execute("DELETE FROM entries WHERE session_id = ?", (session_id,))
            deleted = cur.rowcount
        self._notify("removed", session_id)
        return deleted

    async def stats(self, session_id: str) -> dict[str, Any]:
        async with self._r.execute(
            "SELECT COUNT(*), COALESCE(SUM(status IS NOT NULL AND error IS NULL), 0), "
            "COALESCE(SUM(error IS NOT NULL OR status IS NULL), 0), "
            "COALESCE(SUM(MAX(response_body_size, 0) + MAX(request_body_size, 0)), 0), "
            "COALESCE(AVG(duration), 0) FROM entries WHERE session_id = ?",
            (session_id,),
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        return {
            "totalRequests": row[0],
            "completedRequests": row[1],
            "failedRequests": row[2],
            "totalBytes": row[3],
            "avgDuration": round(row[4], 3),
        }


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _build_rows(batch: list[Pending]) -> tuple[list[Entry], list[tuple[Any, ...]]]:
    entries, rows = [], []
    for item in batch:
        try:
            entry = item if isinstance(item, Entry) else item()
        except Exception:
            log.exception("could not convert a captured flow")
            continue
        if entry is not None:
            entries.append(entry)
            rows.append(entry_to_row(entry))
    return entries, rows


async def _migrate(db: aiosqlite.Connection) -> None:
    async with db.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    version = row[0] if row else 0
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"database schema version {version} is newer than this Necto understands "
            f"({len(MIGRATIONS)}); upgrade Necto"
        )
    for target in range(version + 1, len(MIGRATIONS) + 1):
        try:
            await db.executescript(
                "BEGIN;\n" + MIGRATIONS[target - 1] + f"\nPRAGMA user_version = {target};\nCOMMIT;"
            )
        except sqlite3.Error:
            await db.execute("ROLLBACK")
            raise
