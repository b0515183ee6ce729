"""The API's listener, with its own connection cap and a header timeout.

aiohttp closes a connection that has no request in progress after `keepalive_timeout` (the
runner is built with Necto's idle timeout); this site adds the rest: a new connection must
complete its first request's headers within the header timeout, and beyond `max_connections`
new connections get a 503 and are closed, logged once a minute. The API's cap is separate from
the proxy's (and its descriptors are reserved), so the page stays reachable when the proxy is
saturated.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from necto.capture.guard import RateLimitedLog

log = logging.getLogger(__name__)

API_MAX_CONNECTIONS = 256
_BUSY = b'{"error":"Too many connections to the API"}'
BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Content-Length: " + str(len(_BUSY)).encode() + b"\r\n\r\n" + _BUSY
)


def mark_connections(waiting: set[object]) -> Middleware:
    """A middleware (install it first): a connection that sent complete headers no longer
    waits for its first request."""

    @web.middleware
    async def mark(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        waiting.discard(request.protocol)
        return await handler(request)

    return mark


class _Refuse(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(BUSY_RESPONSE)
        transport.close()


class GuardedSite(web.TCPSite):
    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        *,
        waiting: set[object],
        max_connections: int = API_MAX_CONNECTIONS,
        header_timeout: float = 30.0,
    ) -> None:
        super().__init__(runner, host, port)
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.waiting = waiting  # connections yet to send a complete request (see mark_connections)
        self.refused = 0
        self.refused_at = float("-inf")  # monotonic time of the last refusal
        self.timed_out = 0
        self._refusal_log = RateLimitedLog(log)
        self._fresh: list[tuple[float, web.RequestHandler]] = []

    def refused_recently(self, seconds: float) -> bool:
        return time.monotonic() - self.refused_at < seconds

    def _protocol(self) -> asyncio.BaseProtocol:
        server = self._runner.server
        assert server is not None
        # asyncio accepts a burst of connections before any of them is "made" (and counted by
        # aiohttp): count the ones created in the last second that are not made yet too.
        now = time.monotonic()
        self._fresh = [(t, h) for t, h in self._fresh if h.transport is None and now - t < 1.0]
        if len(server.connections) + len(self._fresh) >= self.max_connections:
            self.refused += 1
            self.refused_at = time.monotonic()
            self._refusal_log(f"API: {self.max_connections} connections open, the limit; refusing new ones")
            return _Refuse()
        handler = server()
        self._fresh.append((now, handler))
        self.waiting.add(handler)
        asyncio.get_running_loop().call_later(self.header_timeout, self._check_header, handler)
        return handler

    def _check_header(self, handler: web.RequestHandler) -> None:
        if handler in self.waiting:
            self.waiting.discard(handler)
            if handler.transport is not None:
                self.timed_out += 1
                handler.force_close()

    async def start(self) -> None:
        await web.BaseSite.start(self)
        self._server = await asyncio.get_running_loop().create_server(
            self._protocol, self._host, self._port, backlog=self._backlog
        )
        if self._server.sockets:
            self._bound_port = self._server.sockets[0].getsockname()[1]
