"""Frames of WebSocket sockets still open: written as they pass, joined to their entry.

A socket's entry is recorded when it opens; its frames go to `websocket_frames` in the writer's
batches while it is open (so a kill -9 keeps all but the last moments), and are folded into the
entry when it closes. Frames a dead process left behind are folded in at the next open.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from necto.model import Entry, WsMessage
from necto.store.base import StoreBase
from necto.vocab import frame_from_json

CHUNK = 500


class OpenSockets(StoreBase):
    async def _attach_frames(self, entries: Sequence[Entry]) -> None:
        """Append the frames stored separately (sockets still open, or left open) to entries."""
        sockets = {e.id: e for e in entries if e.websocket is not None}
        ids = list(sockets)
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i : i + CHUNK]
            async with self._r.execute(
                f"SELECT entry_id, frame FROM websocket_frames WHERE entry_id IN ({', '.join('?' * len(chunk))}) "
                "ORDER BY entry_id, n",
                chunk,
            ) as cur:
                rows = await cur.fetchall()
            for entry_id, frame in rows:
                ws = sockets[entry_id].websocket
                assert ws is not None
                ws.append(WsMessage(*frame_from_json(orjson.loads(frame))))

    async def _fold_frames(self) -> None:
        """Fold frames left in `websocket_frames` into their entries (a process died while its
        sockets were open). Safe beside a live writer: only the frames read are removed."""
        async with self._r.execute("SELECT DISTINCT entry_id FROM websocket_frames") as cur:
            ids = [r[0] for r in await cur.fetchall()]
        for entry_id in ids:
            async with self._lock:
                await self._w.execute("BEGIN")
                try:
                    cur = await self._w.execute(
                        "SELECT n, frame FROM websocket_frames WHERE entry_id = ? ORDER BY n", (entry_id,)
                    )
                    frames = list(await cur.fetchall())
                    cur = await self._w.execute("SELECT websocket FROM entries WHERE id = ?", (entry_id,))
                    row = await cur.fetchone()
                    if row is not None and frames:
                        kept = orjson.loads(row[0]) if row[0] else []
                        kept += [orjson.loads(f) for _, f in frames]
                        await self._w.execute(
                            "UPDATE entries SET websocket = ? WHERE id = ?", (orjson.dumps(kept), entry_id)
                        )
                    if frames:
                        await self._w.execute(
                            "DELETE FROM websocket_frames WHERE entry_id = ? AND n <= ?", (entry_id, frames[-1][0])
                        )
                    await self._w.execute("COMMIT")
                except BaseException:
                    await self._rollback()
                    raise
