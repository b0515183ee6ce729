"""Staged imports: a hidden session an import fills, published in one transaction or dropped.

A staging session's `state` is `staging:<pid>`; one left by a process that died (kill -9, a
crash) is removed at the next open, unless its owner still runs.
"""

from __future__ import annotations

import os

from necto.model import new_id, now_ms
from necto.store.base import StoreBase


class Staging(StoreBase):
    async def _recover(self) -> None:
        async with self._r.execute("SELECT id, state FROM sessions WHERE state != 'ready'") as cur:
            rows = await cur.fetchall()
        for sid, state in rows:
            _, _, pid = state.partition(":")
            if not (pid.isdigit() and pid_alive(int(pid))):
                async with self._lock:
                    await self._w.execute("DELETE FROM sessions WHERE id = ?", (sid,))
        # (the body files such leftovers named are removed by the sweep that follows at open)

    async def create_staging_session(self, name: str) -> str:
        """A hidden session that an import fills; invisible until `commit_staging`."""
        sid, ts = new_id(), now_ms()
        async with self._lock:
            await self._w.execute(
                "INSERT INTO sessions (id, name, is_active, is_recording, created_at, updated_at, "
                "state) VALUES (?, ?, 0, 0, ?, ?, ?)",
                (sid, name, ts, ts, f"staging:{os.getpid()}"),
            )
        return sid

    async def commit_staging(self, staging_id: str, into: str | None = None) -> str:
        """Publish a staged import: as a new session, or moved into an existing one."""
        async with self._lock:
            await self._w.execute("BEGIN")
            try:
                if into is None:
                    await self._w.execute(
                        "UPDATE sessions SET state = 'ready', is_recording = 1, updated_at = ? WHERE id = ?",
                        (now_ms(), staging_id),
                    )
                    target = staging_id
                else:
                    cur = await self._w.execute(
                        "UPDATE sessions SET updated_at = ? WHERE id = ? AND state = 'ready'",
                        (now_ms(), into),
                    )
                    if cur.rowcount == 0:
                        raise KeyError(into)
                    await self._w.execute("UPDATE entries SET session_id = ? WHERE session_id = ?", (into, staging_id))
                    await self._w.execute(
                        "UPDATE har_imports SET session_id = ? WHERE session_id = ?", (into, staging_id)
                    )
                    await self._w.execute("DELETE FROM sessions WHERE id = ?", (staging_id,))
                    target = into
                await self._w.execute("COMMIT")
            except BaseException:
                await self._w.execute("ROLLBACK")
                raise
        self._notify("sessions", None)
        return target

    async def drop_staging(self, staging_id: str) -> None:
        async with self._lock:
            await self._w.execute("DELETE FROM sessions WHERE id = ? AND state != 'ready'", (staging_id,))
        await self.collect_bodies()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
