"""What every part of the store shares: the two connections, the write lock and the listeners.

The store is one class (`necto.store.Store`) assembled from small mixins, one concern each
(capture writer, sessions, staged imports, entries, outside-change watch); they all build on
this base, so SQLite only ever sees one writer from this process.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from necto.store.bodies import BodyStore, bodies_dir

log = logging.getLogger("necto.store")

Listener = Callable[[str, Any], None]


class StoreBase:
    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.path = path
        self.bodies = BodyStore(bodies_dir(path))  # large bodies, as files (necto.store.bodies)
        self._w = writer
        self._r = reader
        self._lock = asyncio.Lock()  # every write from this process goes through it
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
