"""Upstream connections: Necto's resolver (real DNS timing, DNS mappings), the refusal to reach
Necto itself, a connect timeout, and what each connection's opening cost and how it failed.

mitmproxy takes `server_conn.timestamp_start` before resolving, so DNS would hide inside
connect. We resolve in the async `server_connect` hook ourselves (a DNS mapping, when one
matches, answers instead of DNS), time it and pin the address to the IP; mitmproxy then
connects without resolving again. Because mitmproxy matches reusable connections by address,
the hostname is put back once the socket is open, so keep-alive reuse still works. SNI stays
the hostname.

The refusal is checked on the resolved, normalised address (necto.addresses), so no spelling
of an address of this machine reaches the API's port (or loops into the proxy's own ports).

Each opening is kept as a record until the first exchange on the connection claims it; a
failed opening (DNS, refused, timed out, TLS, upstream proxy) keeps the phases that happened
for the exchange that reports the failure. Connections tunnelled through an upstream proxy are
linked to their tunnel, so their timings are the tunnel's (see necto.capture.upstream).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mitmproxy import connection, http, tls
from mitmproxy.proxy import server_hooks

from necto.addresses import is_this_host, normalize_host, parse_ip
from necto.capture.patterns import DomainPatterns
from necto.capture.timing import ConnectionTimes

log = logging.getLogger(__name__)

REFUSED_OWN_API = "Necto refuses to proxy requests to its own API port"
REFUSED_OWN_PROXY = "Necto refuses to proxy requests to its own proxy port (that would loop)"
DEFAULT_CONNECT_TIMEOUT = 30.0


def _expire(task: asyncio.Task[Any], server: connection.Server, message: str) -> None:
    """Cancel a connect that is still under way (mitmproxy reports the message as its error)."""
    if server.timestamp_tcp_setup is None and not task.done():
        task.cancel(message)


@dataclass
class Protected:
    """Ports the proxy must never forward to on any address of this machine."""

    api: set[int] = field(default_factory=set)
    proxy: set[int] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class DnsMapping:
    id: str
    domain: str
    target_ip: str


@dataclass(slots=True)
class _Opening:
    """How one (logical) upstream connection was opened, or how that failed."""

    client_id: str
    conn: connection.Server  # the connection the exchanges use (the inner one when tunnelled)
    target: tuple[str, int]  # (host, port) as the client asked
    dns_start: float
    ip: str | None = None  # where it went (or tried to): the resolved or mapped address
    tcp_start: float | None = None
    failed_at: float | None = None
    stage: str | None = None
    error: str | None = None
    mapping: DnsMapping | None = None
    tunnel: connection.Server | None = None  # the connection to the upstream proxy
    via: dict[str, Any] | None = None  # what the entry says about the upstream proxy

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.client_id, normalize_host(self.target[0]), self.target[1])


@dataclass(slots=True)
class Opened:
    """What the first exchange on a connection learns about its opening."""

    times: ConnectionTimes
    error: str | None
    mapping: DnsMapping | None
    via: dict[str, Any] | None
    server_ip: str | None
    server_port: int | None


class ConnectionTracker:
    """mitmproxy addon: resolves and times upstream connections and guards Necto's own ports."""

    def __init__(
        self,
        protected: Callable[[], Protected] | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        self._protected = protected or Protected
        self.connect_timeout = connect_timeout
        self.dns = DomainPatterns([])
        self._open: dict[str, _Opening] = {}  # logical server id -> opening
        self._failed: dict[tuple[str, str, int], str] = {}  # (client, host, port) -> server id
        self._hostname: dict[str, tuple[str, int]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tunnel_of: dict[str, connection.Server] = {}  # tunnel server id -> inner server
        self._via: dict[str, dict[str, Any]] = {}  # inner server id -> upstream proxy facts

    # ------------------------------------------------------------------ settings
    def set_dns_mappings(self, mappings: list[DnsMapping]) -> None:
        self.dns = DomainPatterns([(m.domain, m) for m in mappings])

    def mapping_for(self, host: str) -> DnsMapping | None:
        found = self.dns.lookup(host) if self.dns else None
        return found if isinstance(found, DnsMapping) else None

    def refusal(self, host: str, port: int) -> str | None:
        """Why the proxy must not connect to this resolved address, or None."""
        protected = self._protected()
        if port not in protected.api and port not in protected.proxy:
            return None
        ip = parse_ip(host)
        if ip is None or not is_this_host(ip):
            return None
        return REFUSED_OWN_API if port in protected.api else REFUSED_OWN_PROXY

    async def resolve(self, host: str, port: int) -> tuple[str, DnsMapping | None]:
        """The IP to connect to (a DNS mapping first, then the OS resolver); OSError or
        TimeoutError when the name does not resolve."""
        ip = parse_ip(host)
        if ip is not None:
            return str(ip), None
        mapping = self.mapping_for(host)
        if mapping is not None:
            return mapping.target_ip, mapping
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(normalize_host(host), port, type=socket.SOCK_STREAM),
            self.connect_timeout or None,
        )
        return normalize_host(str(infos[0][4][0])), None

    # ------------------------------------------------------------------ tunnels
    def link_tunnel(self, inner: connection.Server, tunnel: connection.Server, via: dict[str, Any]) -> None:
        """`inner` is opened through `tunnel`, a connection to an upstream proxy."""
        self._tunnel_of[tunnel.id] = inner
        self._via[inner.id] = via

    def tunnel_failed(self, inner: connection.Server, err: str) -> None:
        """The upstream proxy did not open the tunnel (refused CONNECT, SOCKS error, closed)."""
        rec = self._open.get(inner.id)
        if rec is not None and rec.failed_at is None:
            self._fail(rec, "connect", err)

    def is_tunnel(self, server: connection.Connection) -> bool:
        """Is this the connection to an upstream proxy that carries another one?"""
        return server.id in self._tunnel_of

    def _logical(self, server: connection.Connection) -> str:
        inner = self._tunnel_of.get(server.id)
        return inner.id if inner is not None else server.id

    # ------------------------------------------------------------------ hooks
    async def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        server = data.server
        if server.address is None or server.via is not None:
            return
        host, port = str(server.address[0]), int(server.address[1])
        inner = self._tunnel_of.get(server.id)
        logical = inner if inner is not None else server
        target = (str(logical.address[0]), int(logical.address[1])) if logical.address else (host, port)
        rec = _Opening(data.client.id, logical, target, time.time())
        if inner is not None:
            rec.tunnel, rec.via = server, self._via.get(inner.id)
        self._open[logical.id] = rec
        if server.error:  # refused by an addon before us (mitmproxy's own loop check)
            self._fail(rec, "refused", server.error)
            return
        try:
            rec.ip, rec.mapping = await self.resolve(host, port)
        except (OSError, TimeoutError) as e:
            reason = "timed out" if isinstance(e, TimeoutError) else (e.strerror or str(e))
            server.error = f"DNS lookup for {host} failed: {reason}"
            self._fail(rec, "dns", server.error)
            return
        refused = self.refusal(rec.ip, port)
        if refused is not None:
            server.error = refused
            self._fail(rec, "refused", refused)
            return
        if rec.ip != host:
            if server.sni is None and server.tls:
                server.sni = host
            self._hostname[server.id] = (host, port)
            server.address = (rec.ip, port)
        task = asyncio.current_task()
        if task is not None and self.connect_timeout > 0:
            # mitmproxy connects right after this hook, in this task, with no timeout of its own.
            message = f"Connecting to {host}:{port} timed out after {self.connect_timeout:g} s"
            self._timers[server.id] = asyncio.get_running_loop().call_later(
                self.connect_timeout, _expire, task, server, message
            )

    def _disarm(self, server: connection.Server) -> None:
        timer = self._timers.pop(server.id, None)
        if timer is not None:
            timer.cancel()
        original = self._hostname.pop(server.id, None)
        if original is not None:
            # The connection is open now and Server.__setattr__ forbids changing its address;
            # we only undo our own pin so mitmproxy's reuse-by-address keeps matching.
            server.__dict__["address"] = original

    def _fail(self, rec: _Opening, stage: str, error: str | None) -> None:
        rec.failed_at = time.time()
        rec.stage, rec.error = stage, error
        if rec.tcp_start is None:
            rec.tcp_start = rec.failed_at
        self._failed[rec.key] = rec.conn.id

    def server_connected(self, data: server_hooks.ServerConnectionHookData) -> None:
        self._disarm(data.server)
        rec = self._open.get(self._logical(data.server))
        if rec is not None:
            rec.tcp_start = data.server.timestamp_start

    def server_connect_error(self, data: server_hooks.ServerConnectionHookData) -> None:
        server = data.server
        self._disarm(server)
        lid = self._logical(server)
        rec = self._open.get(lid)
        if rec is None or rec.failed_at is not None:
            return
        rec.tcp_start = server.timestamp_start or time.time()
        self._fail(rec, "connect", server.error)

    def tls_failed_server(self, data: tls.TlsData) -> None:
        lid = self._logical(data.conn)
        rec = self._open.get(lid)
        if rec is not None and rec.failed_at is None:
            self._fail(rec, "tls", data.conn.error)

    def server_disconnected(self, data: server_hooks.ServerConnectionHookData) -> None:
        server = data.server
        self._disarm(server)
        lid = self._logical(server)
        rec = self._open.get(lid)
        if rec is not None and rec.failed_at is None:
            del self._open[lid]  # opened, never used: nothing will claim it

    def client_disconnected(self, client: connection.Client) -> None:
        for lid in [k for k, r in self._open.items() if r.client_id == client.id]:
            del self._open[lid]
        for key in [k for k in self._failed if k[0] == client.id]:
            del self._failed[key]
        for tid in [k for k, inner in self._tunnel_of.items() if inner.id not in self._open]:
            inner = self._tunnel_of.pop(tid)
            self._via.pop(inner.id, None)

    # ------------------------------------------------------------------ claims
    def claim(self, flow: Any) -> Opened | None:
        """How the flow's upstream connection was opened (or failed), given once: to the first
        exchange on it. None for a reused connection (dns, connect and ssl then do not apply)."""
        rec = self._open.get(flow.server_conn.id)
        if rec is not None and (rec.failed_at is not None or rec.conn.timestamp_start is not None):
            del self._open[rec.conn.id]
        elif isinstance(flow, http.HTTPFlow) and flow.error is not None:
            # The connection that failed is not the flow's: find it by client and target.
            lid = self._failed.get((flow.client_conn.id, normalize_host(flow.request.host), flow.request.port))
            rec = self._open.pop(lid, None) if lid is not None else None
            if rec is None:
                return None
        else:
            return None
        if self._failed.get(rec.key) == rec.conn.id:
            del self._failed[rec.key]
        return self._opened(rec)

    def claim_server(self, server: connection.Server) -> Opened | None:
        """The opening of a known connection (a tunnel's, a failed TLS handshake's), once."""
        rec = self._open.get(server.id)
        if rec is None or (rec.failed_at is None and rec.conn.timestamp_start is None):
            return None
        del self._open[server.id]
        if self._failed.get(rec.key) == rec.conn.id:
            del self._failed[rec.key]
        return self._opened(rec)

    @staticmethod
    def _opened(rec: _Opening) -> Opened:
        server, outer = rec.conn, rec.tunnel or rec.conn
        tcp_start = outer.timestamp_start or rec.tcp_start or rec.dns_start
        if rec.failed_at is not None:
            times = ConnectionTimes(
                rec.dns_start, rec.tcp_start or rec.failed_at, outer.timestamp_tcp_setup, None,
                failed_at=rec.failed_at, stage=rec.stage,
            )  # fmt: skip
        elif rec.tunnel is not None:
            # Through an upstream proxy: connect lasts until the tunnel to the origin is open.
            times = ConnectionTimes(
                min(rec.dns_start, tcp_start), tcp_start, server.timestamp_start, server.timestamp_tls_setup
            )
        else:
            times = ConnectionTimes(
                min(rec.dns_start, tcp_start), tcp_start, server.timestamp_tcp_setup, server.timestamp_tls_setup
            )
        peer = outer.peername
        ip = str(peer[0]) if peer else rec.ip
        port = int(peer[1]) if peer else (outer.address[1] if outer.address else None)
        return Opened(times, rec.error, rec.mapping, rec.via, ip, port)
