"""Upstream connections: real DNS timing, and refusing to proxy into Necto's own API.

mitmproxy takes `server_conn.timestamp_start` before resolving, so DNS would hide inside
connect. We resolve in the async `server_connect` hook ourselves, time it and pin the address to
the IP; mitmproxy then connects without resolving again. Because mitmproxy matches reusable
connections by address, the hostname is put back once the socket is open, so keep-alive reuse
still works. SNI stays the hostname.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Callable

from mitmproxy import connection, http
from mitmproxy.proxy import server_hooks

from necto.capture.timing import ConnectionTimes

log = logging.getLogger(__name__)

REFUSED_OWN_API = "Necto refuses to proxy requests to its own API port"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def local_addresses() -> set[str]:
    """Addresses that reach this machine: loopback plus what our hostname resolves to."""
    found = {"127.0.0.1", "::1", "0.0.0.0", "::"}
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(str(info[4][0]))
    except OSError:
        pass
    return found


class ConnectionTracker:
    """mitmproxy addon: times DNS per upstream connection and guards the API port.

    `claim()` hands a connection's opening timestamps to the first exchange that completes on
    it; every later exchange on the same connection gets nothing (a reused connection).
    """

    def __init__(self, protected: Callable[[], list[tuple[str, int]]] | None = None) -> None:
        # (host, port) pairs the proxy must never forward to (the API listener).
        self._protected = protected or (lambda: [])
        self._local = local_addresses()
        self._opened: dict[str, float] = {}  # server connection id -> dns start
        self._hostname: dict[str, tuple[str, int]] = {}
        # A failed connect is not the flow's server_conn; find it by client and target.
        self._failed: dict[tuple[str, str, int], ConnectionTimes] = {}

    def _refused(self, ip: str, port: int) -> bool:
        for host, pport in self._protected():
            if port != pport:
                continue
            try:
                addr = ipaddress.ip_address(ip)
            except ValueError:
                continue
            if addr.is_loopback or addr.is_unspecified or ip == host:
                return True
            if host in ("0.0.0.0", "::", "") and ip in self._local:
                return True
        return False

    async def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        server = data.server
        if server.error or server.address is None or server.via is not None:
            return
        host, port = server.address[0], server.address[1]
        start = time.time()
        if _is_ip(host):
            ip = host
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except OSError as e:
                server.error = f"DNS lookup for {host} failed: {e}"
                self._opened[server.id] = start
                return
            ip = str(infos[0][4][0])
        if self._refused(ip, port):
            server.error = REFUSED_OWN_API
            return
        self._opened[server.id] = start
        if ip != host:
            if server.sni is None and server.tls:
                server.sni = host
            self._hostname[server.id] = (host, port)
            server.address = (ip, port)

    def _restore(self, server: connection.Server) -> None:
        original = self._hostname.pop(server.id, None)
        if original is not None:
            # The connection is open now and Server.__setattr__ forbids changing its address;
            # we only undo our own pin so mitmproxy's reuse-by-address keeps matching.
            server.__dict__["address"] = original

    def server_connected(self, data: server_hooks.ServerConnectionHookData) -> None:
        self._restore(data.server)

    def server_connect_error(self, data: server_hooks.ServerConnectionHookData) -> None:
        self._restore(data.server)
        server = data.server
        dns_start = self._opened.pop(server.id, None)
        if dns_start is None or server.address is None:
            return
        now = time.time()
        tcp_start = server.timestamp_start or now
        key = (data.client.id, str(server.address[0]), int(server.address[1]))
        self._failed[key] = ConnectionTimes(dns_start, tcp_start, None, None, failed_at=now)

    def server_disconnected(self, data: server_hooks.ServerConnectionHookData) -> None:
        self._opened.pop(data.server.id, None)
        self._hostname.pop(data.server.id, None)

    def client_disconnected(self, client: connection.Client) -> None:
        for key in [k for k in self._failed if k[0] == client.id]:
            del self._failed[key]

    def claim(self, flow: http.HTTPFlow) -> ConnectionTimes | None:
        """How the flow's upstream connection was opened, given once: to the first exchange on
        it. None for a reused connection (dns, connect and ssl then do not apply)."""
        server = flow.server_conn
        dns_start = self._opened.pop(server.id, None)
        if dns_start is not None and server.timestamp_start is not None:
            return ConnectionTimes(
                dns_start=min(dns_start, server.timestamp_start),
                tcp_start=server.timestamp_start,
                tcp_end=server.timestamp_tcp_setup,
                tls_end=server.timestamp_tls_setup,
            )
        if flow.error is not None:
            return self._failed.pop((flow.client_conn.id, flow.request.host, flow.request.port), None)
        return None
