"""The store: SQLite (aiosqlite, WAL) with one batched writer and a separate reader connection."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import aiosqlite

from necto.store.annotations import Annotations
from necto.store.base import FinishingConnection, ReaderConnection
from necto.store.breakpoints import BreakpointStore
from necto.store.connectivity import ConnectivitySettings
from necto.store.entries import Entries
from necto.store.fragments import ExportReads
from necto.store.har_imports import HarImports
from necto.store.integrity import DatabaseProblem, classify, damaged_advice, header_problem
from necto.store.limits import LimitedConnection
from necto.store.query import IS_STATIC_SQL, sql_is_static
from necto.store.rules import RuleStore
from necto.store.schema import MIGRATIONS, PAGE_SIZE, SchemaTooNew, migrate
from necto.store.search import SearchIndex
from necto.store.sessions import Sessions
from necto.store.staging import Staging
from necto.store.watch import OutsideChanges


def private_dir(directory: Path) -> None:
    """Create `directory` 0700, or make an existing one so (installs from before this rule)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if directory.stat().st_mode & 0o077:
        os.chmod(directory, 0o700)


def _private_file(path: Path) -> None:
    """Captured cookies and tokens live here: the directory 0700, the database and its -wal and
    -shm files 0600 (SQLite gives new ones the database's mode; old ones are fixed here)."""
    private_dir(path.parent)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if p.stat().st_mode & 0o077:
                os.chmod(p, 0o600)
        except FileNotFoundError:
            pass


def _connect(path: Path, kind: type[FinishingConnection] = FinishingConnection) -> aiosqlite.Connection:
    conn = kind(lambda: sqlite3.connect(path, isolation_level=None, factory=LimitedConnection), iter_chunk_size=64)
    # aiosqlite's worker thread is not a daemon: a store left open by an error that ends the
    # program would keep the process alive forever (a supervisor sees it "running"). SQLite's
    # journal keeps the file consistent whenever the process ends.
    thread = getattr(conn, "_thread", None)
    if thread is not None:
        thread.daemon = True
    return conn


def _capture_connection(path: Path) -> sqlite3.Connection:
    """The capture writer's own connection (used from worker threads, one batch at a time)."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, factory=LimitedConnection)
    try:
        for pragma in ("synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=10000"):
            db.execute(f"PRAGMA {pragma}")
    except BaseException:
        db.close()
        raise
    return db


class Store(
    ExportReads,
    Entries,
    Sessions,
    Staging,
    HarImports,
    OutsideChanges,
    ConnectivitySettings,
    RuleStore,
    BreakpointStore,
    Annotations,
    SearchIndex,
):
    """Sessions and entries. Captures are queued with `record()` and committed in batches; every
    other write goes through the same connection under one lock."""

    @classmethod
    async def open(cls, path: Path | str) -> Store:
        """Open (creating or migrating) the database; DatabaseProblem says, in one line, why a
        file cannot be used (damaged, not a database, from a newer Necto)."""
        path = Path(path)
        try:
            _private_file(path)
        except OSError as e:
            raise classify(path, e) from None
        problem = header_problem(path)
        if problem:
            raise DatabaseProblem(path, problem, damaged_advice(path))
        try:
            return await cls._open(path)
        except SchemaTooNew as e:
            raise DatabaseProblem(
                path,
                f"it was written by a newer Necto (schema version {e.found}; this one reads up to {len(MIGRATIONS)})",
                "Upgrade Necto, or start this one with another --data-dir",
            ) from None
        except (sqlite3.Error, OSError) as e:
            raise classify(path, e) from None

    @classmethod
    async def _open(cls, path: Path) -> Store:
        writer = await _connect(path)
        try:
            await writer.execute(f"PRAGMA page_size={PAGE_SIZE}")
            await writer.execute("PRAGMA journal_mode=WAL")
            await writer.execute("PRAGMA synchronous=NORMAL")
            await writer.execute("PRAGMA foreign_keys=ON")
            await writer.execute("PRAGMA busy_timeout=10000")
            await migrate(writer)
            reader = await _connect(path, ReaderConnection)
        except BaseException:
            await writer.close()
            raise
        capture: sqlite3.Connection | None = None
        try:
            await reader.execute("PRAGMA busy_timeout=10000")
            await reader.create_function(IS_STATIC_SQL, 3, sql_is_static, deterministic=True)
            capture = await asyncio.to_thread(_capture_connection, path)
            store = cls(path, writer, reader)
            store._init_writer(capture)
            await store._recover()
            await store._sweep_bodies()
            await store._fold_frames()
            await store._prepare_search()
            await store.ensure_active_session()
        except BaseException:
            if capture is not None:
                capture.close()
            await reader.close()
            await writer.close()
            raise
        store._start_writer()
        store._start_watch()
        return store

    async def close(self) -> None:
        """Write everything still pending, then close both connections."""
        await self._stop_watch()
        await self._stop_indexer()
        self._close_probe()
        self._close_breakpoint_probe()
        await self._stop_writer()
        await self._r.close()
        await self._w.close()
