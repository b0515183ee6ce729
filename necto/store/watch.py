"""Follow changes another process (the CLI, a second Necto) makes to the same database."""

from __future__ import annotations

import asyncio

from necto.store.base import StoreBase, log

WATCH_SECONDS = 0.5


class OutsideChanges(StoreBase):
    def _start_watch(self) -> None:
        self._data_version = -1
        self._watch_task: asyncio.Task[None] | None = asyncio.create_task(self._watch_loop(), name="necto-store-watch")

    async def _stop_watch(self) -> None:
        task, self._watch_task = getattr(self, "_watch_task", None), None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _watch_loop(self) -> None:
        """`PRAGMA data_version` changes when another connection commits: then re-read which
        session is active and recording."""
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                async with self._r.execute("PRAGMA data_version") as cur:
                    row = await cur.fetchone()
                if row and row[0] != self._data_version:
                    self._data_version = row[0]
                    await self._refresh_capture_target()
            except Exception:
                log.exception("could not check for outside changes")
