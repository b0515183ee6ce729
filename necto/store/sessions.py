"""Sessions: NectoProxy's model of one active session that capture records into."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from necto.model import Session, new_id, now_ms
from necto.store.base import StoreBase

DEFAULT_SESSION_NAME = "Default Session"


class Sessions(StoreBase):
    async def _session_rows(self, where: str = "", args: Iterable[Any] = ()) -> list[Session]:
        sql = (
            "SELECT s.id, s.name, s.is_active, s.is_recording, s.created_at, s.updated_at, "
            "(SELECT COUNT(*) FROM entries e WHERE e.session_id = s.id), "
            "(SELECT COALESCE(SUM(MAX(e.response_body_size, 0) + MAX(e.request_body_size, 0)), 0) "
            " FROM entries e WHERE e.session_id = s.id) "
            f"FROM sessions s WHERE s.state = 'ready' {where} ORDER BY s.created_at, s.rowid"
        )
        async with self._r.execute(sql, tuple(args)) as cur:
            rows = await cur.fetchall()
        return [Session(r[0], r[1], bool(r[2]), bool(r[3]), r[4], r[5], r[6], r[7]) for r in rows]

    async def list_sessions(self) -> list[Session]:
        return await self._session_rows()

    async def get_session(self, session_id: str) -> Session | None:
        rows = await self._session_rows("AND s.id = ?", (session_id,))
        return rows[0] if rows else None

    async def active_session(self) -> Session | None:
        rows = await self._session_rows("AND s.is_active = 1")
        return rows[0] if rows else None

    async def find_session(self, key: str) -> Session | None:
        """A session by id, or failing that by exact name (for the CLI)."""
        return await self.get_session(key) or next((s for s in await self.list_sessions() if s.name == key), None)

    async def create_session(self, name: str, activate: bool = False) -> Session:
        sid, ts = new_id(), now_ms()
        async with self._lock:
            await self._w.execute(
                "INSERT INTO sessions (id, name, is_active, is_recording, created_at, updated_at) "
                "VALUES (?, ?, 0, 1, ?, ?)",
                (sid, name, ts, ts),
            )
        if activate:
            await self.activate_session(sid)
        session = await self.get_session(sid)
        assert session is not None
        self._notify("sessions", None)
        return session

    async def update_session(
        self, session_id: str, *, name: str | None = None, is_recording: bool | None = None
    ) -> Session | None:
        sets: list[str] = ["updated_at = ?"]
        args: list[Any] = [now_ms()]
        if name is not None:
            sets.append("name = ?")
            args.append(name)
        if is_recording is not None:
            sets.append("is_recording = ?")
            args.append(int(is_recording))
        async with self._lock:
            cur = await self._w.execute(
                f"UPDATE sessions SET {', '.join(sets)} WHERE id = ? AND state = 'ready'",
                (*args, session_id),
            )
            changed = cur.rowcount
        await self._refresh_capture_target()
        if changed:
            self._notify("sessions", None)
        return await self.get_session(session_id) if changed else None

    async def activate_session(self, session_id: str) -> Session | None:
        async with self._lock:
            await self._w.execute("BEGIN")
            cur = await self._w.execute(
                "UPDATE sessions SET is_active = 1, updated_at = ? WHERE id = ? AND state = 'ready'",
                (now_ms(), session_id),
            )
            if cur.rowcount == 0:
                await self._w.execute("ROLLBACK")
                return None
            await self._w.execute("UPDATE sessions SET is_active = 0 WHERE id != ? AND is_active = 1", (session_id,))
            await self._w.execute("COMMIT")
        await self._refresh_capture_target()
        self._notify("sessions", None)
        return await self.get_session(session_id)

    async def delete_session(self, session_id: str) -> bool:
        """Delete a session and its entries; if it was active, another one becomes active."""
        await self.flush()
        async with self._lock:
            cur = await self._w.execute("DELETE FROM sessions WHERE id = ? AND state = 'ready'", (session_id,))
            deleted = cur.rowcount > 0
        if deleted:
            await self.collect_bodies()
            await self.ensure_active_session()
            self._notify("sessions", None)
        return deleted

    async def ensure_active_session(self) -> Session:
        """There is always an active session: the newest one, or a new default."""
        active = await self.active_session()
        if active is None:
            sessions = await self.list_sessions()
            if sessions:
                active = await self.activate_session(sessions[-1].id)
            else:
                active = await self.create_session(DEFAULT_SESSION_NAME, activate=True)
        assert active is not None
        await self._refresh_capture_target()
        return active
