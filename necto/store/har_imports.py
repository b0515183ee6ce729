"""What a HAR import keeps besides its entries: the file's pages and log fields (so an export
gives them back as they were) and every warning and skipped entry (paged, never capped).

One `har_imports` row per import, owned by the session it went into (deleted with it); its
pages and warnings hang off it. Rows are written under the staging session while the import
runs and move with it when it is published, so a rejected import leaves none behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from necto.model import new_id, now_ms
from necto.store.base import StoreBase
from necto.store.multirow import insert_many_async

# (n, skipped, entry index or None, path, message): one warning or skipped entry, in file order.
WarningRow = tuple[int, int, int | None, str, str]


@dataclass
class SessionHar:
    """What a session's HAR export needs besides its entries."""

    pages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (import id, page), in order
    log: dict[str, Any] = field(default_factory=dict)  # browser, comment, `_` fields of the first import
    has_captured: bool = False  # entries that were not imported (capture, replay)
    first_captured: float | None = None  # start of the earliest of those


class HarImports(StoreBase):
    async def create_import(self, session_id: str, file_name: str) -> str:
        """A new import record under `session_id` (the staging session while it runs)."""
        import_id = new_id()
        async with self._lock:
            await self._w.execute(
                "INSERT INTO har_imports (id, session_id, created_at, file_name) VALUES (?, ?, ?, ?)",
                (import_id, session_id, now_ms(), file_name),
            )
        return import_id

    async def add_import_warnings(self, import_id: str, rows: Sequence[WarningRow]) -> None:
        if not rows:
            return
        async with self._lock:
            await self._w.execute("BEGIN")
            try:
                await insert_many_async(
                    self._w,
                    "INSERT INTO har_import_warnings (import_id, n, skipped, entry_index, path, message) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [(import_id, *r) for r in rows],
                )
                await self._w.execute("COMMIT")
            except BaseException:
                await self._w.execute("ROLLBACK")
                raise

    async def finish_import(
        self,
        import_id: str,
        *,
        imported: int,
        total: int,
        warning_count: int,
        skipped_count: int,
        log: dict[str, Any] | None,
        pages: Sequence[dict[str, Any]],
    ) -> None:
        """Counts, the log fields and the pages, in one transaction (before the publish)."""
        async with self._lock:
            await self._w.execute("BEGIN")
            try:
                await self._w.execute(
                    "UPDATE har_imports SET imported = ?, total = ?, warning_count = ?, skipped_count = ?, "
                    "log = ? WHERE id = ?",
                    (imported, total, warning_count, skipped_count, orjson.dumps(log) if log else None, import_id),
                )
                await insert_many_async(
                    self._w,
                    "INSERT INTO har_pages (import_id, position, page) VALUES (?, ?, ?)",
                    [(import_id, i, orjson.dumps(p)) for i, p in enumerate(pages)],
                )
                await self._w.execute("COMMIT")
            except BaseException:
                await self._w.execute("ROLLBACK")
                raise

    async def get_import(self, import_id: str) -> dict[str, Any] | None:
        """A published import: {id, sessionId, createdAt, fileName, imported, total, warningCount, skippedCount}."""
        async with self._r.execute(
            "SELECT i.id, i.session_id, i.created_at, i.file_name, i.imported, i.total, i.warning_count, "
            "i.skipped_count FROM har_imports i JOIN sessions s ON s.id = i.session_id "
            "WHERE i.id = ? AND s.state = 'ready'",
            (import_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        keys = ("id", "sessionId", "createdAt", "fileName", "imported", "total", "warningCount", "skippedCount")
        return dict(zip(keys, row, strict=True))

    async def import_warnings(
        self, import_id: str, offset: int = 0, limit: int = 100, skipped: bool = False
    ) -> list[dict[str, Any]]:
        """One page of an import's warnings (or skipped entries), in the order they were found."""
        async with self._r.execute(
            "SELECT entry_index, path, message FROM har_import_warnings WHERE import_id = ? AND skipped = ? "
            "ORDER BY n LIMIT ? OFFSET ?",
            (import_id, int(skipped), limit, offset),
        ) as cur:
            rows = await cur.fetchall()
        out = []
        for index, path, message in rows:
            item: dict[str, Any] = {"path": path, "message": message}
            if index is not None:
                item["index"] = index
            out.append(item)
        return out

    async def session_har(self, session_id: str) -> SessionHar:
        """Pages (every import's, in import order), log fields and whether captured traffic is
        there too: what a session export writes around the entries."""
        facts = SessionHar()
        async with self._r.execute(
            "SELECT i.id, i.log, p.page FROM har_imports i LEFT JOIN har_pages p ON p.import_id = i.id "
            "WHERE i.session_id = ? ORDER BY i.created_at, i.rowid, p.position",
            (session_id,),
        ) as cur:
            rows = await cur.fetchall()
        for import_id, log, page in rows:
            if log is not None and not facts.log:
                facts.log = orjson.loads(log)
            if page is not None:
                facts.pages.append((import_id, orjson.loads(page)))
        async with self._r.execute(
            "SELECT MIN(started) FROM entries WHERE session_id = ? AND source != 'import'", (session_id,)
        ) as cur:
            row = await cur.fetchone()
        facts.first_captured = row[0] if row else None
        facts.has_captured = facts.first_captured is not None
        return facts

    async def entry_origins(self, entry_ids: Sequence[str]) -> list[tuple[str, str, float, dict[str, Any]]]:
        """(session id, source, started, extra) of the entries that exist: what a selection
        export needs to know which pages to write before it streams the entries."""
        out: list[tuple[str, str, float, dict[str, Any]]] = []
        ids = list(dict.fromkeys(entry_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            async with self._r.execute(
                "SELECT e.session_id, e.source, e.started, e.extra FROM entries e JOIN sessions s ON s.id = e.session_id "
                f"WHERE s.state = 'ready' AND e.id IN ({', '.join('?' * len(chunk))})",
                chunk,
            ) as cur:
                rows = await cur.fetchall()
            out += [(r[0], r[1], r[2], orjson.loads(r[3]) if r[3] is not None else {}) for r in rows]
        return out
