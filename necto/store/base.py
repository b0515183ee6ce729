"""What every part of the store shares: the two connections, the write lock and the listeners.

The store is one class (`necto.store.Store`) assembled from small mixins, one concern each
(capture writer, sessions, staged imports, entries, outside-change watch); they all build on
this base, so SQLite only ever sees one writer from this process.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from necto.store.bodies import BodyStore, bodies_dir

log = logging.getLogger("necto.store")

Listener = Callable[[str, Any], None]


class FinishingConnection(aiosqlite.Connection):
    """aiosqlite's connection, except that a cancelled call waits for SQLite to finish it, and
    closes a cursor it opened. Without this, a read cancelled in the middle of `execute` (a
    replay job cancelled, a client gone) leaves its statement open on the shared reader, and
    that statement's read transaction pins every later read to an old snapshot: a session just
    created is not found, a setting just changed reads as before."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        call = asyncio.ensure_future(super()._execute(fn, *args, **kwargs))
        try:
            return await asyncio.shield(call)
        except asyncio.CancelledError:
            await asyncio.wait([call])
            if not call.cancelled() and call.exception() is None and isinstance(call.result(), sqlite3.Cursor):
                await super()._execute(call.result().close)
            raise


class _Fetched:
    """A statement's whole result, read in the same thread hop as the statement ran (see
    ReaderConnection); answers what aiosqlite's Cursor asks of a sqlite3 cursor."""

    arraysize = 1
    row_factory = None

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.description = cursor.description
        self.rowcount = cursor.rowcount
        self.lastrowid = cursor.lastrowid
        self.connection = cursor.connection
        try:
            self._rows = cursor.fetchall()
        finally:
            cursor.close()
        self._at = 0

    def fetchone(self) -> Any:
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    def fetchmany(self, size: int | None = None) -> list[Any]:
        n = self.arraysize if size is None else size
        rows = self._rows[self._at : self._at + n]
        self._at += len(rows)
        return rows

    def fetchall(self) -> list[Any]:
        rows = self._rows[self._at :]
        self._at = len(self._rows)
        return rows

    def close(self) -> None:
        self._rows, self._at = [], 0


class ReaderConnection(FinishingConnection):
    """The shared reader: each statement runs and is read to its end in one thread hop.

    Otherwise concurrent readers interleave on the one connection (A executes, B executes, A
    fetches): while A's statement is open B runs inside A's read transaction and sees A's older
    snapshot, so a session created a moment ago is not found. Every read here fetches all its
    rows anyway."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        conn = self._connection
        if conn is not None and fn == conn.execute:
            return await super()._execute(lambda: _Fetched(conn.execute(*args, **kwargs)))
        return await super()._execute(fn, *args, **kwargs)


class WriteLock(asyncio.Lock):
    """The store's write lock. Taking it also rolls back a transaction a previous holder left
    open on the writer connection (a task cancelled just after its BEGIN), so one cancelled
    write can never keep every later write inside a transaction nobody commits."""

    def __init__(self, store: StoreBase) -> None:
        super().__init__()
        self._store = store

    async def __aenter__(self) -> None:
        await super().__aenter__()
        try:
            writer = self._store._w
            if writer._connection is not None and writer.in_transaction:
                log.warning("rolling back a write transaction left open by a cancelled task")
                await writer.execute("ROLLBACK")
        except BaseException:
            self.release()
            raise


class StoreBase:
    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.path = path
        self.bodies = BodyStore(bodies_dir(path))  # large bodies, as files (necto.store.bodies)
        self._w = writer
        self._r = reader
        self._lock = WriteLock(self)  # every write from this process goes through it
        self._listeners: set[Listener] = set()
        # The recorder reads this on every flow, so it is kept in memory, never queried.
        self.capture_session_id: str | None = None

    # ---------------------------------------------------------------- change notifications
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(kind, payload)` after each change; returns the unsubscribe function.

        Kinds: "entries" (list of new Entry), "updated" (list of Entry replacing earlier
        ones: a WebSocket that closed), "removed" (session id whose entries were deleted),
        "sessions" (None), "dropped" (the store's Drops: captures could not be stored).
        Listeners must not block: they run on the event loop.
        """
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    def _notify(self, kind: str, payload: Any) -> None:
        for listener in list(self._listeners):
            try:
                listener(kind, payload)
            except Exception:
                log.exception("change listener failed")

    async def flush(self) -> None:
        """Wait until every capture queued so far is committed (the writer overrides this)."""

    async def collect_bodies(self) -> int:
        """Remove the body files no row names any more, after deletes (BodyFiles implements it)."""
        return 0

    async def _rollback(self) -> None:
        """Roll back the open transaction, if SQLite has not already done so itself (it does
        after some errors, e.g. a full disk: a second ROLLBACK would only hide the real error)."""
        if self._w.in_transaction:
            try:
                await self._w.execute("ROLLBACK")
            except sqlite3.Error as e:
                log.warning("rollback failed: %s", e)

    async def _write_versioned(
        self, key: str, statements: Iterable[tuple[str, Sequence[Any]]]
    ) -> tuple[list[int], int]:
        """Run statements in one transaction that also moves the `rule_state` counter `key` on
        (so other processes notice, necto.store.probe); the rowcounts in order, and the new
        value of the counter."""
        counts = []
        async with self._lock:
            await self._w.execute("BEGIN IMMEDIATE")
            try:
                for sql, args in statements:
                    cur = await self._w.execute(sql, tuple(args))
                    counts.append(cur.rowcount)
                await self._w.execute(
                    "INSERT INTO rule_state (key, value) VALUES (?, 1) ON CONFLICT(key) DO UPDATE SET value = value + 1",
                    (key,),
                )
                async with self._w.execute("SELECT value FROM rule_state WHERE key = ?", (key,)) as cur:
                    row = await cur.fetchone()
                await self._w.execute("COMMIT")
            except BaseException:
                await self._rollback()
                raise
        return counts, int(row[0]) if row else 0

    async def _refresh_capture_target(self) -> None:
        async with self._r.execute(
            "SELECT id, is_recording FROM sessions WHERE is_active = 1 AND state = 'ready'"
        ) as cur:
            row = await cur.fetchone()
        self.capture_session_id = row[0] if row and row[1] else None


async def finish_in_thread[T](fn: Callable[..., T], *args: Any) -> T:
    """`fn` in a worker thread; a cancel waits for it to finish first. The connection it uses
    is the capture writer's: nobody may touch (or close) it while SQLite is still at work."""
    work = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait([work])
        raise


@contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[None]:
    """A write transaction on a plain connection (in a worker thread): committed when the block
    ends, unless it rolled back itself (a lost race); rolled back when the block raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        if db.in_transaction:
            db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
