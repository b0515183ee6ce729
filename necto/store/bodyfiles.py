"""The store's side of the body store: which bodies go to files, putting them in place inside
the row's transaction, reading them back, and removing the files no row names any more.

Reading is transparent: `get_entry`, `get_entries` and `iter_entries` hand out entries whose
`*_body` holds the bytes, as if they were inline (`iter_entries(..., bodies=False)` leaves them
in their files for the HAR export, which streams them). Collection runs after every delete
(`collect_bodies`) and at every start (`_sweep_bodies`, which also catches what a crash left);
both hold SQLite's write lock while they look and unlink, so no writer of this or another
process can name a file that is about to go (see necto.store.bodies).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import BinaryIO

from necto.model import BodyFile, Entry
from necto.store.base import StoreBase, log
from necto.store.bodies import INLINE_MAX, READ_CHUNK, BodyStore, body_file_for
from necto.store.rows import FILE_COLUMNS

# One lookup per column, each on its partial index.
REFERENCED = "SELECT 1 FROM entries WHERE " + " OR ".join(f"{c} = ?1" for c in FILE_COLUMNS) + " LIMIT 1"
LOAD_GROUP_BYTES = 64 << 20  # file bodies read per worker-thread hop while iterating a session
# The longest body a reader that needs bodies whole to analyse them (search, inventory, compare,
# check, the responses replay compares) reads into memory; a longer one stays in its file
# (`*_body_file`, whose hash and size say enough to tell two bodies apart).
WHOLE_BODY_MAX = 8 << 20


def externalize(entry: Entry, inline_max: int = INLINE_MAX) -> list[BodyFile]:
    """Give a body too large for the row a (pending) body file; returns the files the row will
    name that still have to be put in place."""
    if entry.request_body_file is None and entry.request_body is not None and len(entry.request_body) > inline_max:
        entry.request_body_file = body_file_for(entry.request_body)
    if entry.response_body_file is None and entry.response_body is not None and len(entry.response_body) > inline_max:
        entry.response_body_file = body_file_for(entry.response_body)
    files = (entry.request_body_file, entry.response_body_file, entry.request_raw_file, entry.response_raw_file)
    return [f for f in files if f is not None and f.pending is not None]


def place_all(store: BodyStore, files: Iterable[BodyFile], created: list[str]) -> None:
    """Put pending files in place (inside the write transaction); `created` collects the files
    this made, to be removed again if the transaction does not commit."""
    for f in files:
        if f.pending is not None and store.place(f):
            created.append(f.sha256)


def unplace(store: BodyStore, created: Iterable[str]) -> None:
    for sha in created:
        store.unlink(sha)


def discard_all(store: BodyStore, files: Iterable[BodyFile]) -> None:
    for f in files:
        store.discard(f)


def load_bodies(store: BodyStore, entries: Iterable[Entry], limit: int = -1, request_limit: int | None = None) -> None:
    """Fill `*_body` of entries whose bodies are files (blocking: run it in a thread). With a
    `limit`, a file longer than that is left out (`*_body` stays None, the file's size is set);
    `request_limit`, when given, is the one for request bodies."""
    for e in entries:
        if e.request_body_file is not None and e.request_body is None:
            e.request_body = read_file(
                store, e.id, e.request_body_file, limit if request_limit is None else request_limit
            )
        if e.response_body_file is not None and e.response_body is None:
            e.response_body = read_file(store, e.id, e.response_body_file, limit)


def read_file(store: BodyStore, entry_id: str, f: BodyFile, limit: int = -1) -> bytes | None:
    """A body file's bytes (blocking); None when it is longer than `limit` (its size then set in
    `f`) or missing (said in the log, as the body of `entry_id`)."""
    if limit >= 0:
        size = store.size(f)
        if size is not None and size > limit:
            f.size = size
            return None
    try:
        data = store.read(f)
    except OSError as err:
        log.warning("cannot read the body %s of entry %s: %s", f.sha256, entry_id, err)
        return None
    if data is None:
        log.warning("the body %s of entry %s is missing from %s", f.sha256, entry_id, store.root)
        return None
    f.size = len(data)
    return data


def _file_bytes(e: Entry, limit: int = -1) -> int:
    """What reading an entry's body files will take (their sizes as the row has them)."""
    total = 0
    for f, size in ((e.request_body_file, e.request_body_size), (e.response_body_file, e.response_body_size)):
        if f is not None:
            n = f.size if f.size >= 0 else size if size >= 0 else INLINE_MAX
            total += min(n, limit) if limit >= 0 else n
    return total


class BodyFiles(StoreBase):
    async def _load_bodies(self, entries: Sequence[Entry], limit: int = -1, request_limit: int | None = None) -> None:
        if any(e.request_body_file is not None or e.response_body_file is not None for e in entries):
            await asyncio.to_thread(load_bodies, self.bodies, entries, limit, request_limit)

    async def body_chunks(self, entry: Entry, side: str, raw: bool = False) -> AsyncIterator[bytes] | None:
        """A body of `entry` (`side` "request" or "response"; `raw`: as it travelled, when that
        was kept beside a decoded prefix) a piece at a time, read from its file or the row; None
        when there is no such body. Memory stays at one piece whatever the body's size."""
        prefix = "request" if side == "request" else "response"
        f: BodyFile | None = getattr(entry, f"{prefix}_raw_file" if raw else f"{prefix}_body_file")
        inline: bytes | None = None if raw else getattr(entry, f"{prefix}_body")
        if f is None:
            return None if inline is None else _one(inline)
        chunks = await self.file_chunks(f)
        if chunks is None:
            log.warning("the body %s of entry %s is missing from %s", f.sha256, entry.id, self.bodies.root)
        return chunks

    async def file_chunks(self, f: BodyFile) -> AsyncIterator[bytes] | None:
        """A body file a piece at a time (its size set in `f`); None when it is missing."""
        try:
            handle = await asyncio.to_thread(_open_sized, self.bodies, f)
        except FileNotFoundError:
            return None
        return _pieces(handle)

    async def loaded_groups(
        self, entries: Sequence[Entry], response_limit: int = -1, body_limit: int = -1
    ) -> AsyncIterator[list[Entry]]:
        """The entries a bounded group at a time, each group's body files read in: response
        bodies up to `response_limit` (when given, else `body_limit`), request bodies up to
        `body_limit`; a longer one stays in its file (`*_body` None, its size set)."""
        limit = response_limit if response_limit >= 0 else body_limit
        for group in self.body_groups(entries, body_limit):
            await self._load_bodies(group, limit, request_limit=body_limit)
            yield group

    def body_groups(self, entries: Sequence[Entry], limit: int = -1) -> list[list[Entry]]:
        """Split entries so that each group's file bodies (read up to `limit`) are read in one
        hop of bounded size."""
        groups: list[list[Entry]] = [[]]
        size = 0
        for e in entries:
            n = _file_bytes(e, limit)
            if n and size and size + n > LOAD_GROUP_BYTES:
                groups.append([])
                size = 0
            groups[-1].append(e)
            size += n
        return groups

    async def collect_bodies(self) -> int:
        """Remove the body files that rows stopped naming (after deletes); returns how many."""
        async with self._lock:
            await self._w.execute("BEGIN IMMEDIATE")
            try:
                async with self._w.execute("SELECT sha256 FROM body_candidates") as cur:
                    candidates = [r[0] for r in await cur.fetchall()]
                gone = []
                for sha in candidates:
                    async with self._w.execute(REFERENCED, (sha,)) as cur:
                        if await cur.fetchone() is None:
                            gone.append(sha)
                removed = await asyncio.to_thread(lambda: sum(self.bodies.unlink(s) for s in gone))
                await self._w.execute("DELETE FROM body_candidates")
                await self._w.execute("COMMIT")
            except BaseException:
                await self._rollback()
                raise
        return removed

    async def _sweep_bodies(self) -> None:
        """At start: remove body files no row names (a crash between writing a file and its
        row, or between a delete and its collection) and temporary files of dead processes."""
        try:
            await asyncio.to_thread(self.bodies.ensure)
        except OSError as e:
            log.warning("cannot create the body store %s: %s", self.bodies.root, e)
            return
        async with self._lock:
            try:
                await self._w.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as e:  # another process holds the write lock for long
                log.warning("body store sweep skipped: %s", e)
                return
            try:
                named: set[str] = set()
                for col in FILE_COLUMNS:
                    async with self._w.execute(f"SELECT DISTINCT {col} FROM entries WHERE {col} IS NOT NULL") as cur:
                        named.update(r[0] for r in await cur.fetchall())
                removed = await asyncio.to_thread(self._sweep_files, named)
                await self._w.execute("DELETE FROM body_candidates")
                await self._w.execute("COMMIT")
            except BaseException:
                await self._rollback()
                raise
        if removed:
            log.info("body store: removed %d files no entry names", removed)

    def _sweep_files(self, named: set[str]) -> int:
        removed = 0
        for sha in list(self.bodies.files()):
            if sha not in named and self.bodies.unlink(sha):
                removed += 1
        for temp in self.bodies.stale_temps():
            try:
                os.unlink(temp)
                removed += 1
            except FileNotFoundError:
                pass
        return removed


def _open_sized(store: BodyStore, f: BodyFile) -> BinaryIO:
    handle = store.open(f)
    f.size = os.fstat(handle.fileno()).st_size
    return handle


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _pieces(handle: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(handle.read, READ_CHUNK):
            yield chunk
    finally:
        handle.close()
