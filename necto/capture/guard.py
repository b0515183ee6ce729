"""Client connections on the proxy: a cap, header and idle timeouts, and the drain at shutdown.

mitmproxy's own `tcp_timeout` (10 minutes without a byte either way) is its only limit: a
client that opens a connection and sends half a request line, or thousands of such clients,
holds a file descriptor each for that long. This addon knows, from the HTTP hooks, whether a
connection has an exchange in flight, and closes connections that sit without one:

- a new connection that has not completed its first request's headers (or CONNECT) within
  `header_timeout`;
- a connection idle (no exchange in flight, no open WebSocket or TCP stream) for `idle_timeout`
  since its last response: keep-alive idling and a next request's headers that never finish.

Beyond `max_connections` new connections are refused at once (mitmproxy closes them), with one
log line a minute saying how many were refused.

`drain()` is the first half of a clean shutdown: no new connections, idle ones closed at once,
HTTP/1 responses in flight sent with `Connection: close`, so no client starts another request;
it returns once every connection has finished its exchange (or at the deadline).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mitmproxy import connection, http, tcp

from necto.capture.recorder import SERVER_HEADERS

log = logging.getLogger(__name__)

BUSY = "necto.guard.busy"  # flow metadata: this flow counts as an exchange in flight
LOG_EVERY = 60.0  # seconds between "connection limit reached" lines
# After its last response a connection being drained is closed once the response has surely
# been handed to the socket (the response hook runs just before it is written).
DRAIN_GRACE = 0.1


@dataclass
class Limits:
    max_connections: int = 10_000
    header_timeout: float = 30.0
    idle_timeout: float = 60.0


@dataclass(slots=True)
class _Conn:
    opened: float
    idle_since: float
    busy: int = 0  # HTTP exchanges in flight
    streams: int = 0  # open WebSockets and TCP streams
    requests: int = 0  # requests whose headers were complete (CONNECT included)


class RateLimitedLog:
    """One log line per `every` seconds, counting what it did not say."""

    def __init__(self, logger: logging.Logger, every: float = LOG_EVERY) -> None:
        self.logger = logger
        self.every = every
        self.last = float("-inf")
        self.suppressed = 0

    def __call__(self, message: str) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            self.suppressed += 1
            return
        more = f" ({self.suppressed} more since the last message)" if self.suppressed else ""
        self.last, self.suppressed = now, 0
        self.logger.warning("%s%s", message, more)


class ClientGuard:
    """mitmproxy addon: see the module docstring. `handlers()` is mitmproxy's map of live
    connection handlers (Proxyserver.connections), used to close a connection."""

    def __init__(self, limits: Limits, handlers: Callable[[], Mapping[Any, Any]]) -> None:
        self.limits = limits
        self._handlers = handlers
        self.conns: dict[str, _Conn] = {}
        self._closing: set[str] = set()  # asked to close, not yet gone
        self.refused = 0
        self.refused_at = float("-inf")  # monotonic time of the last refusal
        self.timed_out = 0
        self.draining = False
        self._refusal_log = RateLimitedLog(log)
        self._sweeper: asyncio.Task[None] | None = None
        self._deadline = 0.0  # of the drain in progress

    # ------------------------------------------------------------------ hooks
    def running(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="necto-client-guard")

    async def done(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            try:
                await self._sweeper
            except asyncio.CancelledError:
                pass
            self._sweeper = None

    def client_connected(self, client: connection.Client) -> None:
        if self.draining:
            client.error = "Necto is shutting down"
            return
        if len(self.conns) >= self.limits.max_connections:
            client.error = "connection limit reached"
            self.refused += 1
            self.refused_at = time.monotonic()
            self._refusal_log(
                f"proxy: {len(self.conns)} client connections open, the limit (--max-connections "
                f"{self.limits.max_connections}); refusing new ones"
            )
            return
        now = time.monotonic()
        self.conns[client.id] = _Conn(opened=now, idle_since=now)

    def refused_recently(self, seconds: float) -> bool:
        return time.monotonic() - self.refused_at < seconds

    def client_disconnected(self, client: connection.Client) -> None:
        self.conns.pop(client.id, None)
        self._closing.discard(client.id)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self._start(flow)

    def http_connect(self, flow: http.HTTPFlow) -> None:
        self._start(flow)

    def http_connected(self, flow: http.HTTPFlow) -> None:
        self._finish(flow)

    def http_connect_error(self, flow: http.HTTPFlow) -> None:
        self._finish(flow)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if self.draining and flow.response is not None and flow.request.http_version.startswith("HTTP/1"):
            # No further request on this connection: tell the client (mitmproxy then closes it).
            flow.metadata.setdefault(SERVER_HEADERS, list(flow.response.headers.fields))
            flow.response.headers["Connection"] = "close"

    def response(self, flow: http.HTTPFlow) -> None:
        self._finish(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._finish(flow)

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        self._stream(flow.client_conn, +1)

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        self._stream(flow.client_conn, -1)

    def tcp_start(self, flow: tcp.TCPFlow) -> None:
        self._stream(flow.client_conn, +1)

    def tcp_end(self, flow: tcp.TCPFlow) -> None:
        self._stream(flow.client_conn, -1)

    def tcp_error(self, flow: tcp.TCPFlow) -> None:
        self._stream(flow.client_conn, -1)

    # ------------------------------------------------------------------ bookkeeping
    def _start(self, flow: http.HTTPFlow) -> None:
        c = self.conns.get(flow.client_conn.id)
        if c is not None and not flow.metadata.get(BUSY):
            flow.metadata[BUSY] = True
            c.busy += 1
            c.requests += 1

    def _finish(self, flow: http.HTTPFlow) -> None:
        if not flow.metadata.pop(BUSY, False):
            return
        c = self.conns.get(flow.client_conn.id)
        if c is not None:
            c.busy = max(0, c.busy - 1)
            c.idle_since = time.monotonic()

    def _stream(self, client: connection.Client, delta: int) -> None:
        c = self.conns.get(client.id)
        if c is not None:
            c.streams = max(0, c.streams + delta)
            c.idle_since = time.monotonic()

    # ------------------------------------------------------------------ closing
    def close(self, client_id: str) -> None:
        """Close one client connection the way mitmproxy's own inactivity timeout does."""
        handler = self._handlers().get(client_id)
        if handler is None:
            self.conns.pop(client_id, None)
            return
        if client_id in self._closing:
            return  # cancelling again would interrupt mitmproxy's own cleanup
        self._closing.add(client_id)
        io = handler.transports.get(handler.client)
        if io is not None and io.handler is not None:
            io.handler.cancel("closed by Necto")

    def expired(self, now: float) -> list[str]:
        """Connections past their header or idle timeout."""
        out = []
        for cid, c in self.conns.items():
            if c.busy or c.streams or cid in self._closing:
                continue
            limit = self.limits.header_timeout if c.requests == 0 else self.limits.idle_timeout
            if now - c.idle_since >= limit:
                out.append(cid)
        return out

    async def _sweep_forever(self) -> None:
        every = max(0.05, min(1.0, self.limits.header_timeout / 4, self.limits.idle_timeout / 4))
        while True:
            await asyncio.sleep(every)
            for cid in self.expired(time.monotonic()):
                self.timed_out += 1
                self.close(cid)

    def hurry(self) -> None:
        """End a drain now (a second Ctrl-C)."""
        self._deadline = 0.0

    async def drain(self, timeout: float) -> int:
        """Let exchanges in flight finish, closing each connection once it has none; after
        `timeout` close the rest. Returns how many had to be closed mid-exchange."""
        self.draining = True
        self._deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            deadline = self._deadline
            for cid, c in list(self.conns.items()):
                if c.busy == 0 and (c.requests == 0 or c.streams or now - c.idle_since >= DRAIN_GRACE):
                    self.close(cid)
            if not self._handlers() or now >= deadline:
                break
            await asyncio.sleep(0.02)
        cut = sum(1 for c in self.conns.values() if c.busy)
        for cid in list(self._handlers()):
            self.close(cid)
        return cut
