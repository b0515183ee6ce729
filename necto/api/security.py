"""Control-plane protection for the API and page (mitmweb's CVE-2025-23217 topology).

- Host must name a loopback address or a host the user allowed: defeats DNS rebinding.
- State-changing requests whose Origin is not the API's own (loopback name, same port), or
  that say `Sec-Fetch-Site: cross-site`, are refused: defeats CSRF from pages the proxied browser visits.
- When the API listens beyond loopback, a token (Bearer or `?token=`) is required from any
  peer that is not itself on loopback; a request without it is asked for it (401), whatever
  its Host (a LAN client names the machine's address, which no Host rule can know).
- A malformed Origin (a port that is not a number, or out of range) is refused like a foreign one.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from necto.api.errors import json_response
from necto.config import Config, is_loopback_host

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# NectoProxy's words; the hint says how to supply it.
TOKEN_REQUIRED = "Unauthorized: missing or invalid token (send Authorization: Bearer <token> or ?token=<token>)"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _hostname(host_header: str) -> str:
    host_header = host_header.strip().lower()
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")] if "]" in host_header else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def _origin_port(origin: str) -> tuple[str | None, int | None]:
    """(host, port) of an Origin header; (None, None) when it cannot be parsed."""
    try:
        o = urlsplit(origin)
        port = o.port or (443 if o.scheme == "https" else 80)
    except ValueError:
        return None, None
    return (o.hostname.lower() if o.hostname else None), port


def _peer_is_loopback(request: web.Request) -> bool:
    peer = request.remote or ""
    try:
        return ipaddress.ip_address(peer.split("%")[0]).is_loopback
    except ValueError:
        return False


def make_security_middleware(config: Config, api_port: Callable[[], int]) -> Middleware:
    allowed = {h.lower() for h in config.allowed_hosts}
    if not config.api_is_loopback and config.api_host not in ("0.0.0.0", "::", ""):
        allowed.add(config.api_host.lower())

    def host_allowed(name: str) -> bool:
        return is_loopback_host(name) or name in allowed

    def token_ok(request: web.Request) -> bool:
        if not config.token:
            return False
        supplied = request.query.get("token", "")
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            supplied = auth[7:].strip()
        return hmac.compare_digest(supplied.encode(), config.token.encode())

    token_mode = not config.api_is_loopback

    @web.middleware
    async def security(request: web.Request, handler: Handler) -> web.StreamResponse:
        has_token = token_ok(request)
        host = _hostname(request.headers.get("Host", ""))
        if not has_token and not host_allowed(host):
            if token_mode and not _peer_is_loopback(request):
                return json_response({"error": TOKEN_REQUIRED}, 401)
            return json_response({"error": "Forbidden: unexpected Host header"}, 403)
        if request.method not in SAFE_METHODS:
            origin = request.headers.get("Origin")
            if origin is not None:
                o_host, o_port = _origin_port(origin)
                # The page opened by its LAN address with a token posts with that origin.
                same_origin = (
                    o_host is not None
                    and o_port == api_port()
                    and (host_allowed(o_host) or (has_token and o_host == host))
                )
                if not same_origin:
                    return json_response({"error": "Forbidden: cross-origin request"}, 403)
            if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
                return json_response({"error": "Forbidden: cross-site request"}, 403)
        if token_mode and not has_token and not _peer_is_loopback(request):
            return json_response({"error": TOKEN_REQUIRED}, 401)
        return await handler(request)

    return security
