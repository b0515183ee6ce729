"""What the connectivity endpoints (/api/dns, /api/ssl-passthrough, /api/upstream-proxy) share."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from necto.api.context import ctx
from necto.api.errors import ApiError, bad_request, json_response, not_found
from necto.capture.settings import ConnectivityState

MAX_TEXT = 1000  # descriptions, reasons, host names


def state(request: web.Request) -> ConnectivityState:
    """The running proxy's settings; 503 while the proxy is not up."""
    found = ctx(request).connectivity()
    if found is None:
        raise ApiError(503, "The proxy is not running")
    return found


def optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise bad_request(f"{name} must be a string of at most {MAX_TEXT} characters")
    return value


async def applied(request: web.Request, result: Any, missing: str, status: int = 200) -> web.Response:
    """After a change to the stored settings: 404 `missing` when the row was not there (None or
    False), else the proxy reloads them and the answer is `result` (or `{"success": true}`)."""
    if result is None or result is False:
        raise not_found(missing)
    await state(request).load()
    return json_response({"success": True} if result is True else result, status=status)
