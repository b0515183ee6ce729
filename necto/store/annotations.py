"""Annotations: NectoProxy's notes, tags and colour highlights on entries.

An annotation belongs to one entry and is deleted with it (and so with its session): the
foreign key cascades. Shapes follow NectoProxy: `{id, trafficId, content, color, tags,
createdAt, updatedAt}`, times in epoch ms.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from typing import Any

import orjson

from necto.model import Entry, new_id, now_ms
from necto.store.base import StoreBase

_SELECT = "SELECT a.id, a.traffic_id, a.content, a.color, a.tags, a.created_at, a.updated_at FROM annotations a"
# Annotations of entries that are not published (a running import) stay hidden.
_READY = "JOIN entries e ON e.id = a.traffic_id JOIN sessions s ON s.id = e.session_id WHERE s.state = 'ready'"


def _row(r: Sequence[Any]) -> dict[str, Any]:
    return {
        "id": r[0],
        "trafficId": r[1],
        "content": r[2],
        "color": r[3],
        "tags": orjson.loads(r[4]),
        "createdAt": r[5],
        "updatedAt": r[6],
    }


class Annotations(StoreBase):
    async def list_annotations(self, traffic_id: str | None = None) -> list[dict[str, Any]]:
        """Every annotation (oldest first), or those of one entry."""
        where, args = ("AND a.traffic_id = ?", (traffic_id,)) if traffic_id is not None else ("", ())
        async with self._r.execute(f"{_SELECT} {_READY} {where} ORDER BY a.created_at, a.rowid", args) as cur:
            return [_row(r) for r in await cur.fetchall()]

    async def annotations_for(self, traffic_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """Annotations by entry id, for a batch of entries (export, detail)."""
        out: dict[str, list[dict[str, Any]]] = {}
        ids = list(dict.fromkeys(traffic_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            async with self._r.execute(
                f"{_SELECT} WHERE a.traffic_id IN ({', '.join('?' * len(chunk))}) ORDER BY a.created_at, a.rowid",
                chunk,
            ) as cur:
                for r in await cur.fetchall():
                    out.setdefault(r[1], []).append(_row(r))
        return out

    async def with_annotations(self, entries: AsyncIterable[Entry], batch: int = 200) -> AsyncIterator[Entry]:
        """The entries, each with its annotations in `extra["annotations"]` (what a HAR export
        writes), looked up a batch at a time."""
        pending: list[Entry] = []

        async def flush() -> list[Entry]:
            found = await self.annotations_for(e.id for e in pending)
            for e in pending:
                if e.id in found:
                    e.extra["annotations"] = found[e.id]
            return pending

        async for e in entries:
            pending.append(e)
            if len(pending) >= batch:
                for done in await flush():
                    yield done
                pending = []
        for done in await flush():
            yield done

    async def get_annotation(self, annotation_id: str) -> dict[str, Any] | None:
        async with self._r.execute(f"{_SELECT} {_READY} AND a.id = ?", (annotation_id,)) as cur:
            row = await cur.fetchone()
        return _row(row) if row else None

    async def create_annotation(
        self, traffic_id: str, content: str, color: str, tags: list[str], created_at: int | None = None
    ) -> dict[str, Any] | None:
        """A new annotation on an existing entry; None when the entry does not exist."""
        aid, ts = new_id(), now_ms()
        async with self._lock:
            cur = await self._w.execute(
                "INSERT INTO annotations (id, traffic_id, content, color, tags, created_at, updated_at) "
                "SELECT ?, e.id, ?, ?, ?, ?, ? FROM entries e JOIN sessions s ON s.id = e.session_id "
                "WHERE e.id = ? AND s.state = 'ready'",
                (aid, content, color, orjson.dumps(tags), created_at or ts, ts, traffic_id),
            )
            made = cur.rowcount > 0
        if not made:
            return None
        self._notify("annotations", traffic_id)
        return await self.get_annotation(aid)

    async def update_annotation(
        self, annotation_id: str, *, content: str | None = None, color: str | None = None, tags: list[str] | None = None
    ) -> dict[str, Any] | None:
        sets: list[str] = ["updated_at = ?"]
        args: list[Any] = [now_ms()]
        for column, value in (("content", content), ("color", color)):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(value)
        if tags is not None:
            sets.append("tags = ?")
            args.append(orjson.dumps(tags))
        async with self._lock:
            cur = await self._w.execute(
                f"UPDATE annotations SET {', '.join(sets)} WHERE id = ? RETURNING traffic_id", (*args, annotation_id)
            )
            row = await cur.fetchone()
        if row is None:
            return None
        self._notify("annotations", row[0])
        return await self.get_annotation(annotation_id)

    async def delete_annotation(self, annotation_id: str) -> bool:
        async with self._lock:
            cur = await self._w.execute("DELETE FROM annotations WHERE id = ? RETURNING traffic_id", (annotation_id,))
            row = await cur.fetchone()
        if row is not None:
            self._notify("annotations", row[0])
        return row is not None

    async def add_annotation_rows(self, items: Sequence[tuple[str, dict[str, Any]]]) -> int:
        """Annotations carried by imported entries: (entry id, {content, color, tags, createdAt,
        updatedAt}), already validated (necto.har.convert). One transaction."""
        rows = [
            (new_id(), tid, a["content"], a["color"], orjson.dumps(a["tags"]), a["createdAt"], a["updatedAt"], tid)
            for tid, a in items
        ]
        if not rows:
            return 0
        async with self._lock:
            await self._w.execute("BEGIN")
            try:
                await self._w.executemany(
                    "INSERT INTO annotations (id, traffic_id, content, color, tags, created_at, updated_at) "
                    "SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM entries WHERE id = ?)",
                    rows,
                )
                await self._w.execute("COMMIT")
            except BaseException:
                await self._w.execute("ROLLBACK")
                raise
        return len(rows)
