"""Live updates for the page: Server-Sent Events, new entries batched every ~100 ms.

SSE rather than a WebSocket: one direction is all the page needs, EventSource reconnects by
itself, and it passes through the same Host/Origin/token checks as any GET.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from necto.api.context import ctx
from necto.api.serialize import entry_summary
from necto.model import Entry

routes = web.RouteTableDef()

BATCH_SECONDS = 0.1
MAX_BACKLOG = 5000  # past this a slow client is told to reload instead of being fed
KEEPALIVE_SECONDS = 15


@routes.get("/api/events")
async def events(request: web.Request) -> web.StreamResponse:
    store = ctx(request).store
    wanted = request.query.get("sessionId") or None
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def listener(kind: str, payload: Any) -> None:
        if kind == "entries":
            mine = [e for e in payload if wanted is None or e.session_id == wanted]
            if mine:
                queue.put_nowait((kind, mine))
        elif kind == "removed":
            if wanted is None or payload == wanted:
                queue.put_nowait((kind, payload))
        else:
            queue.put_nowait((kind, payload))

    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await resp.prepare(request)
    unsubscribe = store.subscribe(listener)
    streams = request.app[STREAMS]
    task = asyncio.current_task()
    assert task is not None
    streams.add(task)
    try:
        await resp.write(b": connected\n\n")
        while True:
            try:
                first = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                await resp.write(b": keep-alive\n\n")
                continue
            await asyncio.sleep(BATCH_SECONDS)
            items = [first]
            while not queue.empty():
                items.append(queue.get_nowait())
            await resp.write(_encode(items))
    except ConnectionResetError:
        pass
    finally:
        unsubscribe()
        streams.discard(task)
    return resp


STREAMS = web.AppKey("necto.event_streams", set[asyncio.Task[Any]])


def setup(app: web.Application) -> None:
    """Open event streams never end by themselves: end them when the server shuts down."""
    app[STREAMS] = set()

    async def close_streams(app: web.Application) -> None:
        for task in list(app[STREAMS]):
            task.cancel()

    app.on_shutdown.append(close_streams)


def _encode(items: list[tuple[str, Any]]) -> bytes:
    entries: list[Entry] = []
    other: list[str] = []
    for kind, payload in items:
        if kind == "entries":
            entries.extend(payload)
        elif kind not in other:
            other.append(kind)
    out = []
    if len(entries) > MAX_BACKLOG:
        other.append("reset")
        entries = []
    if entries:
        data = orjson.dumps([entry_summary(e) for e in entries])
        out.append(b"event: entries\ndata: " + data + b"\n\n")
    for kind in other:
        out.append(f"event: {kind}\ndata: {{}}\n\n".encode())
    return b"".join(out)
