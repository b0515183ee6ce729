"""The capture path: proxy hooks queue captures; one writer task commits them in batches.

`record()` only appends to an in-memory list and never touches SQLite. The writer task turns
pending flows into rows off the event loop and commits them in batches (at most ~100 ms or
`BATCH_MAX` flows per transaction), the Datasette pattern.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from necto.model import Entry
from necto.store.base import StoreBase, log
from necto.store.rows import INSERT_ENTRY, entry_to_row

BATCH_MAX = 500
BATCH_WINDOW = 0.1  # seconds

# A pending capture: a finished Entry or a function that builds one (run off the event loop).
Pending = Entry | Callable[[], Entry | None]


class CaptureWriter(StoreBase):
    def _init_writer(self) -> None:
        self._pending: list[Pending] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._writer_task: asyncio.Task[None] | None = None
        self.dropped = 0  # captures lost to a failing conversion or write (logged)

    def _start_writer(self) -> None:
        self._writer_task = asyncio.create_task(self._writer_loop(), name="necto-store-writer")

    async def _stop_writer(self) -> None:
        if self._writer_task is not None:
            self._closing = True
            self._wake.set()
            await self._writer_task
            self._writer_task = None

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
