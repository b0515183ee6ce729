"""The capture path: proxy hooks queue captures; one writer task commits them in batches.

`record()` only appends to an in-memory list and never touches SQLite. The writer task turns
pending captures into statements off the event loop and commits them in batches: a capture
waits at most `BATCH_WINDOW` for company, so under load a commit lands at least every ~100 ms
(the window a kill -9 can lose; measured in tests/test_shutdown.py). A batch that fails is
retried statement by statement (one savepoint each), so one bad row never takes the others
with it; what still fails is counted in `drops`, which /api/health and `necto run` show.
"""

from __future__ import annotations

import asyncio
import errno
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from necto.model import BodyFile, Entry, WsMessage
from necto.store.base import StoreBase, log
from necto.store.bodies import BodyStore
from necto.store.bodyfiles import discard_all, externalize, place_all, unplace
from necto.store.limits import fit_entry
from necto.store.multirow import insert_many, insert_many_async
from necto.store.rows import INSERT_ENTRY, UPSERT_ENTRY, WEBSOCKET, entry_to_row
from necto.vocab import frame_json

BATCH_MAX = 500
BATCH_WINDOW = 0.03  # seconds the oldest queued capture waits for others before a commit


@dataclass(slots=True)
class Frames:
    """WebSocket frames of a socket still open, appended to its entry (recorded at the start)."""

    entry_id: str
    first: int  # index of messages[0] among the socket's frames
    messages: list[WsMessage]


@dataclass(slots=True)
class Finish:
    """The final state of an entry recorded earlier (a WebSocket that closed): replaces it."""

    build: Callable[[], Entry | None]


# A pending capture: a finished Entry, a function that builds one (run off the event loop),
# frames of an open WebSocket, or the final form of an entry already recorded.
Pending = Entry | Callable[[], Entry | None] | Frames | Finish


@dataclass
class Drops:
    """Captures that could not be stored: counted, with the last reason, never silent."""

    entries: int = 0
    frames: int = 0
    reason: str | None = None
    at: float | None = None  # epoch seconds of the last drop

    def add(self, reason: str, entries: int = 0, frames: int = 0) -> None:
        self.entries += entries
        self.frames += frames
        self.reason, self.at = reason, time.time()

    def recent(self, seconds: float) -> bool:
        return self.at is not None and time.time() - self.at < seconds


@dataclass(slots=True)
class _Op:
    """One statement of a batch; `entry` is announced to listeners once committed."""

    sql: str
    params: tuple[Any, ...]
    entry: Entry | None = None
    frames: int = 0
    updated: bool = False  # replaces an entry announced before
    owner: tuple[str, str] = ("", "")  # (table, id) whose deletion explains a failure
    files: list[BodyFile] = field(default_factory=list)  # body files the row names, to put in place


@dataclass
class _Built:
    ops: list[_Op] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # captures that could not be converted


DELETE_FRAMES = "DELETE FROM websocket_frames WHERE entry_id = ?"
INSERT_FRAME = "INSERT OR REPLACE INTO websocket_frames (entry_id, n, frame) VALUES (?, ?, ?)"


def describe(exc: BaseException) -> str:
    """One line a user can act on: SQLite's message, or the exception's name and text."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "disk full: no space left for the body store"
    if isinstance(exc, sqlite3.Error):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class CaptureWriter(StoreBase):
    """Captures are written by their own SQLite connection, in a worker thread: turning a batch
    into rows and committing it is one hop off the event loop (each extra hop costs a GIL hand-
    over; on a busy machine those, not SQLite, made commits late). Every write of this process
    still goes through `_lock`, so the two connections never write at once."""

    def _init_writer(self, capture_db: sqlite3.Connection) -> None:
        self._cw = capture_db
        self._pending: list[Pending] = []
        self._first_at = 0.0  # loop time the oldest pending capture was queued
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._writer_task: asyncio.Task[None] | None = None
        self.drops = Drops()

    def _start_writer(self) -> None:
        self._writer_task = asyncio.create_task(self._writer_loop(), name="necto-store-writer")

    async def _stop_writer(self) -> None:
        if self._writer_task is not None:
            self._closing = True
            self._wake.set()
            await self._writer_task
            self._writer_task = None
        await asyncio.to_thread(self._cw.close)

    def record(self, item: Pending) -> None:
        """Queue one capture. Never blocks and never touches SQLite (called from proxy hooks)."""
        if not self._pending:
            self._first_at = asyncio.get_running_loop().time()
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
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            wait = self._first_at + BATCH_WINDOW - loop.time()
            if not self._closing and len(self._pending) < BATCH_MAX and wait > 0:
                # Let a batch build up: one transaction per window, not per flow.
                try:
                    await asyncio.wait_for(self._full_batch(), wait)
                except TimeoutError:
                    pass
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[:BATCH_MAX], self._pending[BATCH_MAX:]
                if self._pending:
                    self._first_at = loop.time()  # what is left has waited already: no new window
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
            async with self._lock:
                outcome = await asyncio.to_thread(_write, self._cw, batch, self.bodies)
        except Exception as e:  # never expected: _write catches what it can name
            log.exception("could not store %d captures", len(batch))
            self.drops.add(describe(e), entries=len(batch))
            self._notify("dropped", self.drops)
            return
        for reason, entries, frames in outcome.lost:
            log.info("could not store a capture: %s", reason)
            self.drops.add(reason, entries=entries, frames=frames)
        if outcome.lost:
            self._notify("dropped", self.drops)
        if outcome.new:
            self._notify("entries", outcome.new)
        if outcome.updated:
            self._notify("updated", outcome.updated)

    async def _insert(
        self, entries: Sequence[Entry], rows: list[tuple[Any, ...]], files: Sequence[BodyFile] = ()
    ) -> None:
        """One transaction for a batch of rows (imports, replays); all or nothing. Their body
        files are put in place inside it."""
        if not rows:
            return
        created: list[str] = []
        try:
            async with self._lock:
                await self._w.execute("BEGIN")
                try:
                    await insert_many_async(self._w, INSERT_ENTRY, rows)
                    if files:
                        await asyncio.to_thread(place_all, self.bodies, files, created)
                    await self._w.execute("COMMIT")
                except BaseException:
                    await self._rollback()
                    if created:
                        await asyncio.to_thread(unplace, self.bodies, created)
                    raise
        finally:
            if files:
                await asyncio.to_thread(discard_all, self.bodies, files)
        self._notify("entries", entries)


@dataclass
class _Outcome:
    new: list[Entry] = field(default_factory=list)
    updated: list[Entry] = field(default_factory=list)
    lost: list[tuple[str, int, int]] = field(default_factory=list)  # (reason, entries, frames)


def _write(db: sqlite3.Connection, batch: list[Pending], bodies: BodyStore) -> _Outcome:
    """Build and commit one batch (in a worker thread): in one transaction, or, if that fails,
    statement by statement, each in a savepoint, so only what fails is lost. Body files are
    put in place after the statements (which hold SQLite's write lock by then), before COMMIT."""
    built = _build_ops(batch)
    out = _Outcome(lost=[(reason, 1, 0) for reason in built.failures])
    ops = built.ops
    if not ops:
        return out
    try:
        try:
            created: list[str] = []
            db.execute("BEGIN")
            try:
                _run_grouped(db, ops)
                for op in ops:
                    place_all(bodies, op.files, created)
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                unplace(bodies, created)
                raise
            done = ops
        except Exception as e:
            log.info("batch of %d statements failed (%s); retrying one by one", len(ops), describe(e))
            done = _one_by_one(db, ops, out, bodies)
    finally:
        for op in ops:  # what could not be written leaves no temporary file behind
            discard_all(bodies, op.files)
    out.new = [op.entry for op in done if op.entry is not None and not op.updated]
    out.updated = [op.entry for op in done if op.entry is not None and op.updated]
    return out


def _one_by_one(db: sqlite3.Connection, ops: list[_Op], out: _Outcome, bodies: BodyStore) -> list[_Op]:
    done: list[_Op] = []
    failed: list[tuple[_Op, str]] = []
    created: list[str] = []
    try:
        db.execute("BEGIN")
        try:
            for op in ops:
                db.execute("SAVEPOINT one")
                mine: list[str] = []
                try:
                    db.execute(op.sql, op.params)
                    place_all(bodies, op.files, mine)
                except Exception as e:
                    db.execute("ROLLBACK TO one")
                    unplace(bodies, mine)
                    failed.append((op, describe(e)))
                else:
                    done.append(op)
                    created += mine
                db.execute("RELEASE one")
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            unplace(bodies, created)
            raise
    except Exception as e:
        reason = describe(e)
        failed, done = [(op, reason) for op in ops], []
    for op, reason in failed:
        if not _owner_gone(db, op):  # its session or entry deleted meanwhile: nothing to keep
            out.lost.append((reason, 1 if op.entry is not None else 0, op.frames))
    return done


def _rollback(db: sqlite3.Connection) -> None:
    """Roll back unless SQLite already did (it does after a full disk, for one)."""
    if db.in_transaction:
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error as e:
            log.warning("rollback failed: %s", e)


def _owner_gone(db: sqlite3.Connection, op: _Op) -> bool:
    table, key = op.owner
    if not table:
        return False
    try:
        return db.execute(f"SELECT 1 FROM {table} WHERE id = ?", (key,)).fetchone() is None
    except sqlite3.Error:
        return False


def _run_grouped(db: sqlite3.Connection, ops: Sequence[_Op]) -> None:
    """Run statements in order, consecutive ones with the same SQL together (INSERTs as
    multi-row statements: see necto.store.multirow)."""
    i = 0
    while i < len(ops):
        j = i
        while j < len(ops) and ops[j].sql == ops[i].sql:
            j += 1
        params = [op.params for op in ops[i:j]]
        if ops[i].sql.startswith("INSERT"):
            insert_many(db, ops[i].sql, params)
        else:
            db.executemany(ops[i].sql, params)
        i = j


def fitted_row(entry: Entry) -> tuple[Entry, tuple[Any, ...], list[BodyFile]]:
    """The entry's row, with large bodies moved to (pending) body files, cut to fit SQLite's
    limit when it still would not (see limits.py); and the files to put in place with it."""
    files = externalize(entry)
    row = entry_to_row(entry)
    cut = fit_entry(entry, row, row[WEBSOCKET])
    return (entry, row, files) if cut is None else (cut, entry_to_row(cut), files)


def _build_ops(batch: list[Pending]) -> _Built:
    out = _Built()
    for item in batch:
        try:
            if isinstance(item, Frames):
                for i, m in enumerate(item.messages):
                    frame = orjson.dumps(frame_json(m.type, m.time, m.opcode, m.data))
                    out.ops.append(_Op(INSERT_FRAME, (item.entry_id, item.first + i, frame), frames=1,
                                       owner=("entries", item.entry_id)))  # fmt: skip
                continue
            finish = isinstance(item, Finish)
            build = item.build if isinstance(item, Finish) else item
            entry = build if isinstance(build, Entry) else build()
        except Exception as e:
            log.debug("could not convert a capture", exc_info=True)
            out.failures.append("could not convert a captured exchange: " + describe(e))
            continue
        if entry is None:
            continue
        entry, row, files = fitted_row(entry)
        out.ops.append(
            _Op(UPSERT_ENTRY, row, entry=entry, updated=finish, owner=("sessions", entry.session_id), files=files)
        )
        if finish:
            out.ops.append(_Op(DELETE_FRAMES, (entry.id,)))
    return out
