"""/api/compare/entries and /api/compare/sessions (the logic is in necto.compare)."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from aiohttp import web

from necto.api.context import ctx
from necto.api.errors import ApiError, bad_request, entry_not_found, flag, json_response, read_json
from necto.compare import CompareOptions, compare_entries, compare_sources, parse_json_path, parse_rewrites
from necto.store.bodyfiles import WHOLE_BODY_MAX
from necto.vocab import SESSION_NOT_FOUND

routes = web.RouteTableDef()


def _list(value: Any, name: str) -> list[str]:
    """A list of strings from JSON, or a comma-separated query parameter."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise bad_request(f"{name} must be a list of strings")


def _number(value: Any, name: str, default: float) -> float:
    if value is None:
        return default
    try:
        n = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        n = None
    if n is None or n < 0:
        raise bad_request(f"{name} must be a non-negative number")
    return n


def options_from(data: Any) -> CompareOptions:
    """CompareOptions from a JSON body or query parameters (same names in both)."""
    paths = _list(data.get("ignorePaths"), "ignorePaths")
    for p in paths:
        try:
            parse_json_path(p)
        except ValueError as e:
            raise bad_request(str(e)) from None
    opts = CompareOptions(
        ignore_headers=frozenset(h.lower() for h in _list(data.get("ignoreHeaders"), "ignoreHeaders")),
        ignore_volatile=flag(data.get("ignoreVolatile"), "ignoreVolatile", True),
        ignore_paths=paths,
        threshold_ms=_number(data.get("thresholdMs"), "thresholdMs", 100.0),
        threshold_pct=_number(data.get("thresholdPct"), "thresholdPct", 50.0),
        ignore_host=flag(data.get("ignoreHost"), "ignoreHost", False),
    )
    if data.get("hostRewrite") is not None:
        try:
            opts.rewrites = parse_rewrites(data["hostRewrite"])
        except ValueError as e:
            raise bad_request(str(e)) from None
    return opts


@routes.get("/api/compare/entries")
async def compare_two_entries(request: web.Request) -> web.Response:
    q = request.query
    a_id, b_id = q.get("a"), q.get("b")
    if not a_id or not b_id:
        raise bad_request("Query parameters a and b (entry ids) are required")
    opts = options_from(q)
    store = ctx(request).store
    a = await store.get_entry(a_id, body_limit=WHOLE_BODY_MAX)
    b = await store.get_entry(b_id, body_limit=WHOLE_BODY_MAX)
    if a is None or b is None:
        raise entry_not_found()
    return json_response(await asyncio.to_thread(compare_entries, a, b, opts))


@routes.post("/api/compare/sessions")
async def compare_two_sessions(request: web.Request) -> web.Response:
    body = await read_json(request)
    a_id, b_id = body.get("a"), body.get("b")
    if not isinstance(a_id, str) or not isinstance(b_id, str) or not a_id or not b_id:
        raise bad_request("a and b (session ids) are required")
    opts = options_from(body)
    store = ctx(request).store
    a, b = await store.get_session(a_id), await store.get_session(b_id)
    for side, sid, found in (("a", a_id, a), ("b", b_id, b)):
        if found is None:
            raise ApiError(404, SESSION_NOT_FOUND, detail=f"Session {side} not found: {sid}", side=side, sessionId=sid)
    assert a is not None and b is not None
    await store.flush()
    result = await compare_sources(
        store.iter_entries(a.id, body_limit=WHOLE_BODY_MAX),
        store.iter_entries(b.id, body_limit=WHOLE_BODY_MAX),
        functools.partial(store.get_entries, body_limit=WHOLE_BODY_MAX),
        functools.partial(store.get_entries, body_limit=WHOLE_BODY_MAX),
        opts,
        (a.name, b.name),
    )
    result["a"]["sessionId"], result["b"]["sessionId"] = a.id, b.id
    return json_response(result)
