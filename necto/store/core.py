"""The store: SQLite (aiosqlite, WAL) with one batched writer and a separate reader connection."""

from __future__ import annotations

import os
from pathlib import Path

import aiosqlite

from necto.store.annotations import Annotations
from necto.store.connectivity import ConnectivitySettings
from necto.store.entries import Entries
from necto.store.har_imports import HarImports
from necto.store.query import IS_STATIC_SQL, sql_is_static
from necto.store.rules import RuleStore
from necto.store.schema import PAGE_SIZE, migrate
from necto.store.search import SearchIndex
from necto.store.sessions import Sessions
from necto.store.staging import Staging
from necto.store.watch import OutsideChanges


def _private_file(path: Path) -> None:
    """Captured cookies and tokens live here: the directory 0700, the database 0600 (SQLite
    gives its -wal and -shm files the database's mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)


class Store(
    Entries, Sessions, Staging, HarImports, OutsideChanges, ConnectivitySettings, RuleStore, Annotations, SearchIndex
):
    """Sessions and entries. Captures are queued with `record()` and committed in batches; every
    other write goes through the same connection under one lock."""

    @classmethod
    async def open(cls, path: Path | str) -> Store:
        path = Path(path)
        _private_file(path)
        writer = await aiosqlite.connect(path, isolation_level=None)
        try:
            await writer.execute(f"PRAGMA page_size={PAGE_SIZE}")
            await writer.execute("PRAGMA journal_mode=WAL")
            await writer.execute("PRAGMA synchronous=NORMAL")
            await writer.execute("PRAGMA foreign_keys=ON")
            await writer.execute("PRAGMA busy_timeout=10000")
            await migrate(writer)
            reader = await aiosqlite.connect(path, isolation_level=None)
        except BaseException:
            await writer.close()
            raise
        try:
            await reader.execute("PRAGMA busy_timeout=10000")
            await reader.create_function(IS_STATIC_SQL, 3, sql_is_static, deterministic=True)
            store = cls(path, writer, reader)
            store._init_writer()
            await store._recover()
            await store._prepare_search()
            await store.ensure_active_session()
        except BaseException:
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
        await self._stop_writer()
        await self._r.close()
        await self._w.close()
