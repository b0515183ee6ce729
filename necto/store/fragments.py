"""HAR fragments in the store (necto.har.fragments): building them after capture, and reading
entries for a HAR export, each from its fragment when it has a current one, else in full, in
the export's order and with bounded memory.

Building is a step of the background pass that also indexes for search, taken when search
is caught up (necto/store/search.py): rows above `har_fragment_state.upto` are read without their response
bodies (a fragment has only the body's place), `fragment_builder` runs in a worker thread, and
a batch is written with the new `upto` in one transaction on the capture writer's connection.
It costs about 200 µs of CPU per entry, and it is never on the capture path.

A fragment is used only when it was built by this code (`format`), its entry has no
annotations (they are written into the entry) and its response body is small enough to read
whole (`stream_above`; longer ones are streamed from their file, which needs the entry).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import orjson

from necto.model import BodyFile, Entry, FragmentEntry, HarFragment
from necto.store.annotations import Annotations
from necto.store.base import finish_in_thread, immediate
from necto.store.bodies import BodyStore
from necto.store.bodyfiles import LOAD_GROUP_BYTES, read_file
from necto.store.entries import Entries
from necto.store.multirow import insert_many
from necto.store.rows import COLUMNS, E_COLUMNS, in_order_after, rows_to_entries

# Builds an entry's HAR fragment, or None when it cannot have one.
FragmentBuilder = Callable[[Entry], HarFragment | None]
FRAGMENT_ROWS = 100  # entries per fragment transaction (captures wait while one is written, as for INDEX_ROWS)
# Rows as the builder reads them: a response body only says whether there is one.
_BUILD_COLUMNS = ", ".join(
    "CASE WHEN response_body IS NULL THEN NULL ELSE X'' END" if c == "response_body" else c for c in COLUMNS
)
_COLUMNS = (
    "e.id, e.started, f.format, f.data, f.cut, f.force, f.mime, f.page, e.response_body, e.response_body_file, "
    "MAX(e.response_body_size, 0), EXISTS (SELECT 1 FROM annotations a WHERE a.traffic_id = e.id)"
)
_JOIN = "FROM entries e LEFT JOIN har_fragments f ON f.seq = e.seq AND f.format = ?"
IDS_CHUNK = 500


def _usable(row: Sequence[Any], stream_above: int) -> bool:
    return row[3] is not None and not row[11] and (row[9] is None or row[10] <= stream_above)


def _read_files(bodies: BodyStore, wanted: list[tuple[int, str, str]], stream_above: int) -> dict[int, bytes | None]:
    """Response bodies kept as files, by row index (blocking: a worker thread); a file found
    longer than `stream_above` is not read (its entry is then read in full)."""
    out: dict[int, bytes | None] = {}
    for i, entry_id, sha in wanted:
        f = BodyFile(sha, -1)
        data = read_file(bodies, entry_id, f, stream_above)
        if data is not None or f.size <= stream_above:  # read, or missing (written without it)
            out[i] = data
    return out


def _build(rows: Sequence[Sequence[Any]], builder: FragmentBuilder) -> list[tuple[Any, ...]]:
    """(seq, id, fragment columns...) for the rows that can have a fragment (a worker thread)."""
    out = []
    for r, e in zip(rows, rows_to_entries(rows), strict=True):
        f = builder(e)
        if f is not None:
            out.append((r[-1], e.id, f.format, f.data, f.cut, f.force, f.mime, f.page))
    return out


def _write_fragments(db: sqlite3.Connection, upto: int, last: int, built: list[tuple[Any, ...]]) -> bool:
    """One fragment transaction (a worker thread); False when another writer moved `upto`."""
    with immediate(db):
        now = db.execute("SELECT upto FROM har_fragment_state WHERE id = 1").fetchone()
        if (now[0] if now is not None else 0) != upto:
            db.execute("ROLLBACK")
            return False
        seqs = [b[0] for b in built]
        live: set[tuple[int, str]] = set()
        for i in range(0, len(seqs), 500):  # one row back per chunk (see necto.store.multirow)
            chunk = seqs[i : i + 500]
            sql = f"SELECT json_group_array(json_array(seq, id)) FROM entries WHERE seq IN ({', '.join('?' * len(chunk))})"
            live.update((seq, id_) for seq, id_ in orjson.loads(db.execute(sql, chunk).fetchone()[0]))
        insert_many(
            db,
            "INSERT OR REPLACE INTO har_fragments (seq, format, data, cut, force, mime, page) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(b[0], *b[2:]) for b in built if b[:2] in live],  # not an entry that took a deleted one's seq
        )
        db.execute("INSERT OR REPLACE INTO har_fragment_state (id, upto) VALUES (1, ?)", (last,))
        return True


class ExportReads(Entries, Annotations):
    fragment_builder: FragmentBuilder | None = None  # the running Necto sets it (necto.har.fragments.build)

    async def _fragment_batch(self) -> int:
        """Build the next batch of fragments; the number of entries looked at (0: none left)."""
        builder = self.fragment_builder
        if builder is None:
            return 0
        async with self._r.execute("SELECT upto FROM har_fragment_state WHERE id = 1") as cur:
            row = await cur.fetchone()
        upto = int(row[0]) if row else 0
        async with self._r.execute(
            f"SELECT {_BUILD_COLUMNS}, seq FROM entries WHERE seq > ? ORDER BY seq LIMIT ?", (upto, FRAGMENT_ROWS)
        ) as cur:
            rows = list(await cur.fetchall())
        if not rows:
            return 0
        built = await asyncio.to_thread(_build, rows, builder)
        async with self._lock:
            await finish_in_thread(_write_fragments, self._cw, upto, rows[-1][-1], built)
        return len(rows)

    async def iter_export(
        self, session_id: str, fmt: str, stream_above: int, batch: int = 500
    ) -> AsyncIterator[Entry | FragmentEntry]:
        """Every entry of a session in `iter_entries`' order, as FragmentEntry where it can be,
        else as an Entry with its annotations and its response body read up to `stream_above`."""
        last: tuple[float, int] = (float("-inf"), -1)
        key, after, order = in_order_after("e")
        while True:
            async with self._r.execute(
                f"SELECT {_COLUMNS}, {key}, e.seq {_JOIN} WHERE e.session_id = ? AND {after} ORDER BY {order} LIMIT ?",
                (fmt, session_id, last[0], last[0], last[1], batch),
            ) as cur:
                rows = list(await cur.fetchall())
            if not rows:
                return
            async for item in self._export_items(rows, stream_above):
                yield item
            last = (rows[-1][-2], rows[-1][-1])

    async def iter_export_ids(
        self, entry_ids: Sequence[str], fmt: str, stream_above: int
    ) -> AsyncIterator[Entry | FragmentEntry]:
        """The entries of `entry_ids` that exist (in ready sessions), in that order, as `iter_export`."""
        ids = list(dict.fromkeys(entry_ids))
        for i in range(0, len(ids), IDS_CHUNK):
            chunk = ids[i : i + IDS_CHUNK]
            async with self._r.execute(
                f"SELECT {_COLUMNS} {_JOIN} JOIN sessions s ON s.id = e.session_id "
                f"WHERE s.state = 'ready' AND e.id IN ({', '.join('?' * len(chunk))})",
                (fmt, *chunk),
            ) as cur:
                found = {r[0]: r for r in await cur.fetchall()}
            rows = [found[i] for i in chunk if i in found]
            async for item in self._export_items(rows, stream_above):
                yield item

    async def _export_items(
        self, rows: Sequence[Sequence[Any]], stream_above: int
    ) -> AsyncIterator[Entry | FragmentEntry]:
        """The rows' entries in order, a group of at most LOAD_GROUP_BYTES of bodies at a time."""
        start, size = 0, 0
        for n, r in enumerate(rows):
            size += len(r[8] or b"") + (r[10] if r[9] is not None else 0)
            if size >= LOAD_GROUP_BYTES or n == len(rows) - 1:
                for item in await self._export_group(rows[start : n + 1], stream_above):
                    yield item
                start, size = n + 1, 0

    async def _export_group(self, rows: Sequence[Sequence[Any]], stream_above: int) -> list[Entry | FragmentEntry]:
        files = [(i, r[0], r[9]) for i, r in enumerate(rows) if _usable(r, stream_above) and r[9] is not None]
        read = await asyncio.to_thread(_read_files, self.bodies, files, stream_above) if files else {}
        full = [
            r[0] for i, r in enumerate(rows) if not _usable(r, stream_above) or (r[9] is not None and i not in read)
        ]
        entries = await self._full_entries(full, stream_above) if full else {}
        in_full = set(full)
        out: list[Entry | FragmentEntry] = []
        for i, r in enumerate(rows):
            e = entries.get(r[0])
            if e is not None:
                out.append(e)
            elif r[0] not in in_full:
                body = read[i] if r[9] is not None else r[8]
                out.append(FragmentEntry(r[0], r[1], HarFragment(*r[2:8]), body))
        return out

    async def _full_entries(self, ids: list[str], stream_above: int) -> dict[str, Entry]:
        """Entries read as `iter_entries(..., response_limit=stream_above, body_limit=stream_above)`
        does (a body longer than `stream_above` stays in its file), with their annotations."""
        async with self._r.execute(
            f"SELECT {E_COLUMNS} FROM entries e WHERE e.id IN ({', '.join('?' * len(ids))})", ids
        ) as cur:
            rows = list(await cur.fetchall())
        entries = [
            e
            async for group in self.loaded_groups(
                await self._with_frames(rows, bodies=False), stream_above, body_limit=stream_above
            )
            for e in group
        ]
        notes = await self.annotations_for(e.id for e in entries)
        for e in entries:
            if e.id in notes:
                e.extra["annotations"] = notes[e.id]
        return {e.id: e for e in entries}
