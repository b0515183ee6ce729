"""Live updates for the page: Server-Sent Events, new entries batched every ~100 ms.

SSE rather than a WebSocket: one direction is all the page needs, EventSource reconnects by
itself, and it passes through the same Host/Origin/token checks as any GET.

Each client gets list summaries only (never bodies) in a bounded backlog. A client that falls
behind (a stalled tab, a paused debugger) loses its backlog and gets one `event: reset`, which
tells the page to reload the list: memory never grows with a slow reader.

Breakpoint events carry their payload as JSON (`breakpoint:hit` the held exchange,
`breakpoint:resumed` and `breakpoint:timeout` its id and what happened). `?kinds=a,b` limits a
stream to those events (and `reset`): `necto breakpoints watch` and the page's Paused tray
listen to breakpoint events only.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from necto.api.context import ctx
from necto.api.errors import filter_arg
from necto.model import Entry
from necto.search.filterlang import Node
from necto.search.predicate import matches
from necto.views import entry_summary

routes = web.RouteTableDef()

BATCH_SECONDS = 0.1
MAX_BACKLOG = 2000  # summaries held per client; past this the client is told to reload
MAX_EVENTS = 1000  # payload events (breakpoints) held per client; past this: reset
KEEPALIVE_SECONDS = 15


class ClientFeed:
    """What one event-stream client has not been sent yet. With a filter (the page's filter
    box), each summary says whether the entry matches it (`matchesFilter`), so the page can
    place live entries in a filtered list without asking again."""

    def __init__(
        self, session_id: str | None, only: frozenset[str] | None = None, selection: Node | None = None
    ) -> None:
        self.session_id = session_id
        self.only = only  # the event kinds this client asked for (None = all)
        self.selection = selection
        self.entries: list[dict[str, Any]] = []
        self.kinds: list[str] = []  # "removed", "sessions", "reset", in arrival order, once each
        self.events: list[tuple[str, Any]] = []  # events with a payload (breakpoints), in order
        self.ready = asyncio.Event()

    def _kind(self, kind: str) -> None:
        if kind not in self.kinds:
            self.kinds.append(kind)
        self.ready.set()

    def __call__(self, kind: str, payload: Any) -> None:
        """A store (or breakpoint board) listener: runs on the event loop, must stay cheap."""
        if self.only is not None and kind not in self.only:
            return
        if kind.startswith("breakpoint:"):
            if len(self.events) >= MAX_EVENTS:
                self.events.clear()
                self._kind("reset")
                return
            self.events.append((kind, payload))
            self.ready.set()
        elif kind == "entries":
            mine = [e for e in payload if self.session_id is None or e.session_id == self.session_id]
            if not mine:
                return
            if len(self.entries) + len(mine) > MAX_BACKLOG:
                self.entries.clear()
                self._kind("reset")
                return
            self.entries.extend(self._summary(e) for e in mine)
            self.ready.set()
        elif kind == "removed":
            if self.session_id is None or payload == self.session_id:
                self._kind(kind)
        else:
            self._kind(kind)

    def _summary(self, e: Entry) -> dict[str, Any]:
        out = entry_summary(e)
        if self.selection is not None:
            out["matchesFilter"] = matches(self.selection, e)
        return out

    def take(self) -> bytes:
        out = []
        if "reset" in self.kinds:
            self.entries.clear()
        if self.entries:
            out.append(b"event: entries\ndata: " + orjson.dumps(self.entries) + b"\n\n")
        for kind, payload in self.events:
            out.append(f"event: {kind}\ndata: ".encode() + orjson.dumps(payload) + b"\n\n")
        for kind in self.kinds:
            out.append(f"event: {kind}\ndata: {{}}\n\n".encode())
        self.entries, self.kinds, self.events = [], [], []
        self.ready.clear()
        return b"".join(out)


@routes.get("/api/events")
async def events(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    store = c.store
    only = request.query.get("kinds")
    feed = ClientFeed(
        request.query.get("sessionId") or None,
        frozenset(k.strip() for k in only.split(",") if k.strip()) | {"reset"} if only else None,
        filter_arg(request.query.get("filter") or None),
    )
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await resp.prepare(request)
    unsubscribe = store.subscribe(feed)
    unsubscribe_breakpoints = c.breakpoints.subscribe(feed)
    streams = request.app[STREAMS]
    task = asyncio.current_task()
    assert task is not None
    streams.add(task)
    try:
        await resp.write(b": connected\n\n")
        while True:
            try:
                async with asyncio.timeout(KEEPALIVE_SECONDS):  # not wait_for (see store/search.py)
                    await feed.ready.wait()
            except TimeoutError:
                await resp.write(b": keep-alive\n\n")
                continue
            await asyncio.sleep(BATCH_SECONDS)
            await resp.write(feed.take())
    except ConnectionResetError:
        pass
    finally:
        unsubscribe()
        unsubscribe_breakpoints()
        streams.discard(task)
    return resp


STREAMS: web.AppKey[set[asyncio.Task[Any]]] = web.AppKey("necto.event_streams", set)


def setup(app: web.Application) -> None:
    """Open event streams never end by themselves: end them when the server shuts down."""
    app[STREAMS] = set[asyncio.Task[Any]]()

    async def close_streams(app: web.Application) -> None:
        streams: set[asyncio.Task[Any]] = app[STREAMS]
        for task in list(streams):
            task.cancel()

    app.on_shutdown.append(close_streams)
