"""Entries: insert (imports, replays), read one, many, a session in order, or a filtered page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from necto.model import Entry
from necto.store.bodies import INLINE_MAX
from necto.store.bodyfiles import BodyFiles
from necto.store.frames import OpenSockets
from necto.store.query import TrafficQuery
from necto.store.rows import E_COLUMNS, ENTRY_COLUMNS, SUMMARY_COLUMNS, in_order_after, rows_to_entries
from necto.store.writer import CaptureWriter, fitted_row

# What a list row shows besides the entry's own columns: its annotations (count, the newest one's
# colour and text) and the GraphQL operation name (from the search index's facts).
LIST_EXTRAS = ("annotationCount", "annotationColor", "annotationNote", "graphql")
LIST_EXTRAS_SQL = (
    "(SELECT COUNT(*) FROM annotations a WHERE a.traffic_id = e.id), "
    "(SELECT a.color FROM annotations a WHERE a.traffic_id = e.id ORDER BY a.created_at DESC, a.rowid DESC LIMIT 1), "
    "(SELECT substr(a.content, 1, 200) FROM annotations a WHERE a.traffic_id = e.id "
    "ORDER BY a.created_at DESC, a.rowid DESC LIMIT 1), "
    "(SELECT f.graphql FROM entry_facts f WHERE f.seq = e.seq)"
)


def add_list_extras(e: Entry, values: Sequence[Any]) -> None:
    for key, value in zip(LIST_EXTRAS, values, strict=True):
        if value:
            e.extra[key] = value
        elif key == "graphql" and value == "":
            e.extra[key] = ""  # an anonymous GraphQL operation


# Converting more rows than this (JSON headers, frames) moves to a worker thread: the proxy
# shares the event loop.
CONVERT_ON_LOOP = 200


async def convert(rows: Sequence[Sequence[Any]]) -> list[Entry]:
    if len(rows) <= CONVERT_ON_LOOP:
        return rows_to_entries(rows)
    return await asyncio.to_thread(rows_to_entries, rows)


class Entries(CaptureWriter, OpenSockets, BodyFiles):
    async def add_entries(self, entries: Sequence[Entry]) -> None:
        """Insert entries now, in one transaction (imports and replays; capture uses `record`).
        An entry too large for SQLite is stored cut to fit and flagged truncated."""
        small = len(entries) <= CONVERT_ON_LOOP and all(
            len(e.request_body or b"") + len(e.response_body or b"") <= INLINE_MAX for e in entries
        )
        triples = [fitted_row(e) for e in entries] if small else (
            await asyncio.to_thread(lambda: [fitted_row(e) for e in entries])
        )  # fmt: skip
        await self._insert(
            [e for e, _, _ in triples], [r for _, r, _ in triples], [f for _, _, fs in triples for f in fs]
        )

    async def _with_frames(
        self, rows: Sequence[Sequence[Any]], bodies: bool = True, body_limit: int = -1
    ) -> list[Entry]:
        """Entries of full rows, with open sockets' frames and (unless `bodies` is False) the
        bodies kept as files read back in (those up to `body_limit`, when one is given)."""
        entries = await convert(rows)
        await self._attach_frames(entries)
        if bodies:
            await self._load_bodies(entries, body_limit)
        return entries

    async def get_entry(self, entry_id: str, body_limit: int = -1) -> Entry | None:
        """One entry with its bodies; a body file longer than `body_limit` (when given) is left
        in its file (`*_body` None, `*_body_file.size` set): read it with `body_chunks`."""
        async with self._r.execute(
            f"SELECT {E_COLUMNS} FROM entries e JOIN sessions s ON s.id = e.session_id "
            "WHERE e.id = ? AND s.state = 'ready'",
            (entry_id,),
        ) as cur:
            row = await cur.fetchone()
        return (await self._with_frames([row], body_limit=body_limit))[0] if row else None

    async def get_entries(self, entry_ids: Sequence[str], any_state: bool = False, body_limit: int = -1) -> list[Entry]:
        """The entries that exist, in the order asked for (`any_state`: also those of an
        import still being staged, which the search indexer reads; `body_limit`: body files
        longer than this are left out, as in `get_entry`)."""
        return [e async for e in self.iter_chosen(entry_ids, body_limit=body_limit, any_state=any_state)]

    async def entry_ids_with_prefix(self, prefix: str, limit: int = 6) -> list[str]:
        """Ids of ready entries that start with `prefix` (ids are ASCII UUIDs, so they sort
        between prefix and prefix + U+FFFF: an index range, not a scan)."""
        async with self._r.execute(
            "SELECT e.id FROM entries e JOIN sessions s ON s.id = e.session_id "
            "WHERE e.id >= ? AND e.id < ? AND s.state = 'ready' ORDER BY e.id LIMIT ?",
            (prefix, prefix + "\uffff", limit),
        ) as cur:
            return [r[0] for r in await cur.fetchall()]

    async def iter_entries(
        self, session_id: str, batch: int = 500, bodies: bool = True, response_limit: int = -1, body_limit: int = -1
    ) -> AsyncIterator[Entry]:
        """Every entry of a session in order, a batch at a time (memory stays flat): captured
        traffic by time, an imported file in its own order (one block at the import's anchor).

        Bodies kept as files are read in as the iteration reaches them (at most
        LOAD_GROUP_BYTES at a time); with `bodies=False` they stay in their files
        (`Entry.*_body_file`), for a reader that streams them; with `response_limit`, only
        response bodies longer than that stay there (the HAR export streams those); with
        `body_limit`, bodies of either side longer than that (WHOLE_BODY_MAX: readers that
        analyse bodies, whose memory must not depend on what was captured)."""
        last: tuple[float, int] = (float("-inf"), -1)
        key, after, order = in_order_after()
        while True:
            async with self._r.execute(
                f"SELECT {ENTRY_COLUMNS}, {key}, seq FROM entries WHERE session_id = ? AND {after} ORDER BY {order} LIMIT ?",
                (session_id, last[0], last[0], last[1], batch),
            ) as cur:
                rows = list(await cur.fetchall())
            if not rows:
                return
            entries = await self._with_frames(rows, bodies=False)
            if not bodies:
                for e in entries:
                    yield e
            else:
                async for group in self.loaded_groups(entries, response_limit, body_limit):
                    for e in group:
                        yield e
            last = (rows[-1][-2], rows[-1][-1])

    async def iter_chosen(
        self, entry_ids: Sequence[str], response_limit: int = -1, body_limit: int = -1, any_state: bool = False
    ) -> AsyncIterator[Entry]:
        """The entries of `entry_ids` that exist (in ready sessions, or any with `any_state`),
        in that order, bodies read as `iter_entries` reads them (a bounded group at a time)."""
        ids = list(dict.fromkeys(entry_ids))
        ready = "1" if any_state else "s.state = 'ready'"
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            async with self._r.execute(
                f"SELECT {E_COLUMNS} FROM entries e JOIN sessions s ON s.id = e.session_id "
                f"WHERE {ready} AND e.id IN ({', '.join('?' * len(chunk))})",
                chunk,
            ) as cur:
                found = {e.id: e for e in await self._with_frames(list(await cur.fetchall()), bodies=False)}
            async for group in self.loaded_groups([found[i] for i in chunk if i in found], response_limit, body_limit):
                for e in group:
                    yield e

    async def list_entries(self, q: TrafficQuery) -> tuple[list[Entry], int]:
        """A page of entries (without bodies) and the total count matching the filters. Each
        carries what the list shows beside its columns in `extra` (LIST_EXTRAS)."""
        clause, args = await self.prepare_query(q)  # type: ignore[attr-defined]
        base = f"FROM entries e JOIN sessions s ON s.id = e.session_id WHERE {clause}"
        async with self._r.execute(f"SELECT COUNT(*) {base}", args) as cur:
            row = await cur.fetchone()
            count = row[0] if row else 0
        async with self._r.execute(
            f"SELECT {SUMMARY_COLUMNS}, {LIST_EXTRAS_SQL} {base} ORDER BY {q.order()} LIMIT ? OFFSET ?",
            (*args, q.limit, q.offset),
        ) as cur:
            rows = list(await cur.fetchall())
        entries = await convert(rows)
        for e, r in zip(entries, rows, strict=True):
            add_list_extras(e, r[-len(LIST_EXTRAS) :])
        return entries, count

    async def count_entries(self, q: TrafficQuery) -> int:
        clause, args = await self.prepare_query(q)  # type: ignore[attr-defined]
        async with self._r.execute(
            f"SELECT COUNT(*) FROM entries e JOIN sessions s ON s.id = e.session_id WHERE {clause}", args
        ) as cur:
            row = await cur.fetchone()
        return row[0] if row else 0

    async def delete_entry(self, entry_id: str) -> bool:
        await self.flush()
        async with self._lock:
            cur = await self._w.execute("DELETE FROM entries WHERE id = ? RETURNING session_id", (entry_id,))
            row = await cur.fetchone()
        if row is not None:
            await self.collect_bodies()
            self._notify("removed", row[0])
        return row is not None

    async def clear_session(self, session_id: str) -> int:
        await self.flush()
        async with self._lock:
            cur = await self._w.execute("DELETE FROM entries WHERE session_id = ?", (session_id,))
            deleted = cur.rowcount
            # the imported pages and log fields went with the traffic they described
            await self._w.execute("DELETE FROM har_imports WHERE session_id = ?", (session_id,))
        await self.collect_bodies()
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
