"""The upstream proxy: Necto as a client of a corporate HTTP, HTTPS or SOCKS5 proxy.

mitmproxy chains through another proxy per connection when the server connection carries
`via` (its own "upstream" mode sets it for every connection). We set `via` per request and per
CONNECT from the configured proxy and its bypass list, in the regular listener:

- plain HTTP requests: `via` on the flow's server connection; mitmproxy then opens a tunnel
  through the proxy (HTTP CONNECT host:80, or SOCKS5) and sends the request in it;
- CONNECT: answered at once (as mitmproxy's upstream mode does) and the tunnel through the
  proxy is the next layer (`next_layer` hook), so TLS interception, passthrough and WebSockets
  work inside it unchanged.

mitmproxy builds its tunnel layer with `HttpUpstreamProxy.make`, which knows HTTP(S) proxies
only; `install()` routes it through the router of the Necto that owns the connection (found by
its options), which builds the same layers plus SOCKS5 and links each tunnel to the connection
it carries, so the entry's timings are honest: dns and connect are measured to the proxy,
connect lasts until the proxy opened the tunnel (so it includes the proxy's own DNS lookup and
connection to the origin, which Necto cannot see), ssl is the handshake with the origin
through the tunnel, and serverIPAddress is the proxy's.
"""

from __future__ import annotations

import base64
import ipaddress
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from mitmproxy import connection, http
from mitmproxy.net import server_spec
from mitmproxy.proxy import commands, context, layer, mode_specs, tunnel
from mitmproxy.proxy.layers import tls
from mitmproxy.proxy.layers.http import _upstream_proxy
from mitmproxy.utils import human

from necto.addresses import clean_host
from necto.capture import errorpage
from necto.capture.connections import ConnectionTracker
from necto.capture.patterns import bypass_matches

TYPES = ("http", "https", "socks5")
DEFAULT_BYPASS = ["localhost", "127.0.0.1", "*.local"]
DEFAULT_PORTS = {"http": 8080, "https": 443, "socks5": 1080}
MAX_BYPASS_RULES = 1000
FAILED = "necto.failed"  # flow metadata: the error of an exchange Necto answered itself
TIMING_NOTE = (
    "dns and connect are measured to the upstream proxy; connect ends when the proxy opened the "
    "tunnel, so it includes the proxy's own DNS lookup and connection to the origin"
)


class ConfigError(ValueError):
    """An upstream proxy setting that cannot be used; the message is for the user."""


@dataclass
class UpstreamConfig:
    enabled: bool = False
    type: str = "http"
    host: str = ""
    port: int = 8080
    username: str | None = None
    password: str | None = None
    bypass_rules: list[str] = field(default_factory=lambda: list(DEFAULT_BYPASS))
    source: str = "api"  # "cli": given with --upstream-proxy for this run only

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.type}://{host}:{self.port}"

    def public(self) -> dict[str, Any]:
        """The API shape. Credentials are never echoed back: only the username and whether a
        password is set."""
        return {
            "enabled": self.enabled,
            "type": self.type,
            "host": self.host,
            "port": self.port,
            "auth": {"username": self.username, "hasPassword": bool(self.password)} if self.username else None,
            "bypassRules": list(self.bypass_rules),
            "url": self.url,
            "source": self.source,
        }

    def stored(self) -> dict[str, Any]:
        data = self.public()
        data["auth"] = {"username": self.username, "password": self.password or ""} if self.username else None
        del data["url"], data["source"]
        return data

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> UpstreamConfig:
        auth = data.get("auth") or {}
        return cls(
            enabled=bool(data.get("enabled")),
            type=str(data.get("type", "http")),
            host=str(data.get("host", "")),
            port=int(data.get("port") or DEFAULT_PORTS.get(str(data.get("type")), 8080)),
            username=auth.get("username") or None,
            password=auth.get("password") or None,
            bypass_rules=[str(r) for r in data.get("bypassRules", DEFAULT_BYPASS)],
        )


def _check_host(host: Any) -> str:
    if not isinstance(host, str) or not host.strip():
        return ""
    h = clean_host(host)
    if len(h) > 253 or any(c in h for c in "/@ \t\r\n?#") or (":" in h and not _is_ipv6(h)):
        raise ConfigError("Invalid host")
    return h


def _is_ipv6(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv6Address)
    except ValueError:
        return False


def config_from_json(body: dict[str, Any], previous: UpstreamConfig | None) -> UpstreamConfig:
    """A full replacement from a PUT body (NectoProxy's fields and errors); ConfigError else."""
    enabled = body.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ConfigError("enabled must be a boolean")
    kind = body.get("type", "http")
    if not isinstance(kind, str) or kind.lower() not in TYPES:
        raise ConfigError(f"Unsupported proxy type: {str(kind)[:20]} (Necto supports http, https and socks5)")
    kind = kind.lower()
    host = _check_host(body.get("host"))
    if enabled and not host:
        raise ConfigError("Host is required when proxy is enabled")
    port = body.get("port")
    if port is None or port == "":
        if enabled:
            raise ConfigError("Port is required when proxy is enabled")
        port = DEFAULT_PORTS[kind]
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError("Port must be an integer between 1 and 65535")
    username = password = None
    auth = body.get("auth")
    if auth is not None:
        if not isinstance(auth, dict):
            raise ConfigError("auth must be an object {username, password}")
        username, password = auth.get("username"), auth.get("password")
        if not isinstance(username, str) or not username or len(username) > 255:
            raise ConfigError("auth.username must be a non-empty string")
        if password is None and previous is not None and previous.username == username:
            password = previous.password  # a GET's answer sent back unchanged keeps the password
        if password is not None and (not isinstance(password, str) or len(password) > 255):
            raise ConfigError("auth.password must be a string")
    rules = body.get("bypassRules", DEFAULT_BYPASS)
    if not isinstance(rules, list) or len(rules) > MAX_BYPASS_RULES:
        raise ConfigError(f"bypassRules must be a list of at most {MAX_BYPASS_RULES} strings")
    if not all(isinstance(r, str) and 0 < len(r.strip()) <= 253 for r in rules):
        raise ConfigError("bypassRules must be non-empty strings (host names, *.domain or IP prefixes like 10.*)")
    return UpstreamConfig(enabled, kind, host, port, username, password or None, [r.strip() for r in rules])


def config_from_url(url: str) -> UpstreamConfig:
    """`--upstream-proxy http://user:pass@proxy:3128` (also https://, socks5://, socks5h://)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    kind = {"socks5h": "socks5"}.get(parts.scheme.lower(), parts.scheme.lower())
    if kind not in TYPES:
        raise ConfigError(f"unsupported upstream proxy scheme {parts.scheme!r}: use http, https or socks5")
    try:
        port = parts.port or DEFAULT_PORTS[kind]
    except ValueError:
        raise ConfigError("invalid port in the upstream proxy URL") from None
    host = _check_host(parts.hostname or "")
    if not host or parts.path not in ("", "/"):
        raise ConfigError("the upstream proxy URL must be scheme://[user:password@]host:port")
    return UpstreamConfig(
        True, kind, host, port, unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None, source="cli",
    )  # fmt: skip


# ---------------------------------------------------------------------------- tunnel layers
class LinkedHttpUpstream(_upstream_proxy.HttpUpstreamProxy):
    """mitmproxy's HTTP CONNECT tunnel, reporting a refused tunnel to the tracker."""

    def __init__(
        self, ctx: context.Context, tunnel_conn: connection.Server, send_connect: bool, tracker: ConnectionTracker
    ) -> None:
        super().__init__(ctx, tunnel_conn, send_connect)
        self.tracker = tracker

    def on_handshake_error(self, err: str) -> layer.CommandGenerator[None]:
        self.tracker.tunnel_failed(self.conn, err)
        yield from super().on_handshake_error(err)


SOCKS5_REPLIES = {
    1: "general failure", 2: "connection not allowed by ruleset", 3: "network unreachable",
    4: "host unreachable", 5: "connection refused", 6: "TTL expired", 7: "command not supported",
    8: "address type not supported",
}  # fmt: skip


class Socks5Upstream(tunnel.TunnelLayer):
    """A SOCKS5 client (RFC 1928; username/password per RFC 1929) opening a tunnel to
    `conn.address` through the proxy. Names are sent unresolved, so the proxy resolves them."""

    conn: connection.Server
    tunnel_connection: connection.Server

    def __init__(
        self, ctx: context.Context, tunnel_conn: connection.Server, tracker: ConnectionTracker,
        credentials: tuple[str, str] | None,
    ) -> None:  # fmt: skip
        super().__init__(ctx, tunnel_connection=tunnel_conn, conn=ctx.server)
        self.tracker = tracker
        self.credentials = credentials
        self.buf = b""
        self.step = "method"

    @property
    def _proxy(self) -> str:
        return human.format_address(self.tunnel_connection.address)

    def start_handshake(self) -> layer.CommandGenerator[None]:
        methods = b"\x00\x02" if self.credentials else b"\x00"
        yield commands.SendData(self.tunnel_connection, b"\x05" + bytes([len(methods)]) + methods)

    def _connect_request(self) -> bytes:
        assert self.conn.address
        host, port = str(self.conn.address[0]), int(self.conn.address[1])
        try:
            ip = ipaddress.ip_address(host)
            addr = (b"\x01" if ip.version == 4 else b"\x04") + ip.packed
        except ValueError:
            name = host.encode("idna")[:255]
            addr = b"\x03" + bytes([len(name)]) + name
        return b"\x05\x01\x00" + addr + port.to_bytes(2, "big")

    def receive_handshake_data(self, data: bytes) -> layer.CommandGenerator[tuple[bool, str | None]]:
        self.buf += data
        while True:
            if self.step == "method":
                if len(self.buf) < 2:
                    return False, None
                version, method, self.buf = self.buf[0], self.buf[1], self.buf[2:]
                if version != 5:
                    return False, f"SOCKS5 proxy {self._proxy} did not answer in SOCKS5"
                if method == 0x02 and self.credentials:
                    user, password = (x.encode("utf-8")[:255] for x in self.credentials)
                    yield commands.SendData(
                        self.tunnel_connection, b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password
                    )
                    self.step = "auth"
                elif method == 0x00:
                    yield commands.SendData(self.tunnel_connection, self._connect_request())
                    self.step = "connect"
                else:
                    wants = " (it asks for a username and password)" if method == 0x02 else ""
                    return (
                        False,
                        f"SOCKS5 proxy {self._proxy} accepts none of the offered authentication methods{wants}",
                    )
            elif self.step == "auth":
                if len(self.buf) < 2:
                    return False, None
                status, self.buf = self.buf[1], self.buf[2:]
                if status != 0:
                    return False, f"SOCKS5 proxy {self._proxy} rejected the username or password"
                yield commands.SendData(self.tunnel_connection, self._connect_request())
                self.step = "connect"
            else:
                if len(self.buf) < 5:
                    return False, None
                reply, atyp = self.buf[1], self.buf[3]
                size = {1: 4, 4: 16, 3: 1 + self.buf[4]}.get(atyp)
                if size is None:
                    return False, f"SOCKS5 proxy {self._proxy} sent an invalid reply"
                need = 4 + size + 2
                if len(self.buf) < need:
                    return False, None
                if reply != 0:
                    target = human.format_address(self.conn.address)
                    why = SOCKS5_REPLIES.get(reply, f"error {reply}")
                    return False, f"SOCKS5 proxy {self._proxy} could not connect to {target}: {why}"
                rest, self.buf = self.buf[need:], b""
                if rest:
                    yield from self.receive_data(rest)
                return True, None

    def on_handshake_error(self, err: str) -> layer.CommandGenerator[None]:
        self.tracker.tunnel_failed(self.conn, err)
        yield from super().on_handshake_error(err)


# ---------------------------------------------------------------------------- the router
def _connect_response(request: http.Request) -> http.Response:
    """What mitmproxy answers a successful CONNECT (no headers: Android emulators mind)."""
    now = time.time()
    return http.Response(request.data.http_version, 200, b"Connection established", http.Headers(), b"", None, now, now)


def refuse(flow: http.HTTPFlow, reason: str) -> None:
    """Answer the flow with Necto's error page instead of forwarding it; recorded as failed."""
    flow.response = errorpage.error_response(502, reason)
    flow.metadata[FAILED] = reason


class UpstreamRouter:
    """mitmproxy addon: sends traffic through the configured upstream proxy, or not."""

    def __init__(self, tracker: ConnectionTracker) -> None:
        self.tracker = tracker
        self.config: UpstreamConfig | None = None
        self._pending: dict[str, tuple[str, server_spec.ServerSpec]] = {}  # CONNECT server id -> client, via
        self._auth: dict[str, bytes] = {}  # tunnel server id -> Proxy-Authorization

    # ------------------------------------------------------------------ decisions
    async def own(self, host: str, port: int) -> str | None:
        """Why host:port must not be forwarded (it reaches Necto itself, as resolved here when
        it resolves here), or None."""
        if self.tracker.refusal("127.0.0.1", port) is None:
            return None  # not a protected port at all
        try:
            ip, _ = await self.tracker.resolve(host, port)
        except (OSError, TimeoutError):
            return None
        return self.tracker.refusal(ip, port)

    async def route(self, host: str, port: int) -> server_spec.ServerSpec | None:
        """Through the upstream proxy (its spec) or direct (None)? Bypassed hosts, DNS-mapped
        hosts (the mapping says where they are) and this machine go direct."""
        cfg = self.config
        if cfg is None or not cfg.enabled:
            return None
        if any(bypass_matches(rule, host) for rule in cfg.bypass_rules):
            return None
        if self.tracker.mapping_for(host) is not None or await self.own(host, port):
            return None
        return cast(server_spec.ServerSpec, (cfg.type, (cfg.host, cfg.port)))

    def facts(self, scheme: str, address: tuple[str, int]) -> dict[str, Any]:
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        return {"url": f"{scheme}://{host}:{address[1]}", "type": scheme, "timings": TIMING_NOTE}

    def _credentials(self, address: tuple[str, int]) -> tuple[str, str] | None:
        cfg = self.config
        if cfg is None or not cfg.username or (cfg.host, cfg.port) != tuple(address):
            return None
        return cfg.username, cfg.password or ""

    def stack(self, ctx: context.Context, send_connect: bool) -> tunnel.LayerStack:
        """The layers of a tunnel to `ctx.server` through the proxy in `ctx.server.via`."""
        assert ctx.server.via is not None
        scheme, address = ctx.server.via
        scheme_name = str(scheme)
        proxy = connection.Server(address=address)
        layers = tunnel.LayerStack()
        if scheme_name == "https":
            proxy.alpn_offers = tls.HTTP1_ALPNS
            proxy.sni = address[0]
            layers /= tls.ServerTLSLayer(ctx, proxy)
        creds = self._credentials(address)
        if scheme_name == "socks5":
            layers /= Socks5Upstream(ctx, proxy, self.tracker, creds)
        else:
            layers /= LinkedHttpUpstream(ctx, proxy, send_connect, self.tracker)
            if creds is not None:
                self._auth[proxy.id] = b"Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode())
        self.tracker.link_tunnel(ctx.server, proxy, self.facts(scheme_name, address))
        return layers

    # ------------------------------------------------------------------ hooks
    # Sync hooks that return a coroutine only when there is something to decide: mitmproxy
    # awaits what a hook returns, and most requests need nothing from the router.
    def _protected_port(self, port: int) -> bool:
        return self.tracker.refusal("127.0.0.1", port) is not None

    def requestheaders(self, flow: http.HTTPFlow) -> Coroutine[Any, Any, None] | None:
        mode, server = flow.client_conn.proxy_mode, flow.server_conn
        if isinstance(mode, mode_specs.UpstreamMode):
            # Every request goes to the fixed upstream proxy: refuse our own ports here.
            return self._guard(flow) if self._protected_port(flow.request.port) else None
        if not isinstance(mode, mode_specs.RegularMode) or server.address is not None or server.connected:
            return None
        if self.config is None or not self.config.enabled:
            if server.via is not None:
                server.via = None
            return None
        return self._route_request(flow)

    async def _guard(self, flow: http.HTTPFlow) -> None:
        reason = await self.own(flow.request.host, flow.request.port)
        if reason is not None:
            refuse(flow, reason)

    async def _route_request(self, flow: http.HTTPFlow) -> None:
        flow.server_conn.via = await self.route(flow.request.host, flow.request.port)

    def http_connect(self, flow: http.HTTPFlow) -> Coroutine[Any, Any, None] | None:
        mode, server = flow.client_conn.proxy_mode, flow.server_conn
        if isinstance(mode, mode_specs.UpstreamMode):
            return self._guard(flow) if self._protected_port(flow.request.port) else None
        if not isinstance(mode, mode_specs.RegularMode) or flow.response is not None or server.connected:
            return None
        if self.config is None or not self.config.enabled:
            if server.via is not None:
                server.via = None
            return None
        return self._route_connect(flow)

    async def _route_connect(self, flow: http.HTTPFlow) -> None:
        server = flow.server_conn
        spec = await self.route(flow.request.host, flow.request.port)
        server.via = spec
        if spec is not None:
            flow.response = _connect_response(flow.request)
            self._pending[server.id] = (flow.client_conn.id, spec)

    def next_layer(self, nextlayer: layer.NextLayer) -> None:
        if nextlayer.layer is not None:
            return
        if self._pending.pop(nextlayer.context.server.id, None) is not None:
            nextlayer.layer = self.stack(nextlayer.context, True)[0]

    def http_connect_upstream(self, flow: http.HTTPFlow) -> None:
        auth = self._auth.pop(flow.server_conn.id, None)
        if auth is not None:
            flow.request.headers["Proxy-Authorization"] = auth.decode()

    def server_disconnected(self, data: Any) -> None:
        self._auth.pop(data.server.id, None)

    def client_disconnected(self, client: connection.Client) -> None:
        for sid in [k for k, (cid, _) in self._pending.items() if cid == client.id]:
            del self._pending[sid]


# ---------------------------------------------------------------------------- mitmproxy hook-in
_routers: dict[int, UpstreamRouter] = {}
_original_make: Any = None


def attach(router: UpstreamRouter, options: Any) -> None:
    """Route tunnels of connections under these options through `router`."""
    install()
    _routers[id(options)] = router


def detach(options: Any) -> None:
    _routers.pop(id(options), None)


def install() -> None:
    """Make mitmproxy's tunnel factory ask the owning router (idempotent, process-wide)."""
    global _original_make
    if _original_make is not None:
        return
    klass = _upstream_proxy.HttpUpstreamProxy
    _original_make = klass.make

    def make(cls: type, ctx: context.Context, send_connect: bool) -> tunnel.LayerStack:
        router = _routers.get(id(ctx.options))
        if router is None:
            return cast(tunnel.LayerStack, _original_make(ctx, send_connect))
        return router.stack(ctx, send_connect)

    klass.make = classmethod(make)  # type: ignore[method-assign,assignment]
