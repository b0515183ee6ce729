"""/api/breakpoints: NectoProxy's breakpoint CRUD (shapes, status codes, error strings), and the
held exchanges over REST (NectoProxy offers those only over Socket.IO):

    GET  /api/breakpoints/paused                    {paused: [hit], timeout, timeoutAction}
    GET  /api/breakpoints/paused/:hitId             one hit, bodies in full
    POST /api/breakpoints/paused/:hitId/resume      {action, modifications?, abort?}
    POST /api/breakpoints/paused/resume-all         {action?}

A definition is validated in full before anything is stored (a 400 names the field); the
proxy applies a change to its next request. A resume body is validated before the exchange is
let go, so a 400 leaves it held.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from necto.api.context import ctx
from necto.api.errors import ApiError, bad_request, json_response, not_found, read_json
from necto.breakpoints.hits import ResumeError, parse_resume
from necto.breakpoints.model import BREAKPOINT_NOT_FOUND, PAUSED_NOT_FOUND, BreakpointError, validate_breakpoint

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
FAILED_TO_CREATE = "Failed to create breakpoint"  # NectoProxy's 500


def _validated(body: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        return validate_breakpoint(body, current)
    except BreakpointError as e:
        raise bad_request(str(e)) from None


@routes.get("/api/breakpoints")
async def list_breakpoints(request: web.Request) -> web.Response:
    bps = await ctx(request).store.list_breakpoints()
    return json_response({"breakpoints": [b.as_json() for b in bps]})


@routes.get("/api/breakpoints/enabled")
async def enabled_breakpoints(request: web.Request) -> web.Response:
    bps = await ctx(request).store.list_breakpoints(enabled_only=True)
    return json_response({"breakpoints": [b.as_json() for b in bps]})


# ---------------------------------------------------------------------------- held exchanges
@routes.get("/api/breakpoints/paused")
async def paused(request: web.Request) -> web.Response:
    board = ctx(request).breakpoints
    return json_response({
        "paused": [hit.as_json() for hit in board.listed()],
        "timeout": board.timeout_ms,
        "timeoutAction": board.timeout_action,
    })  # fmt: skip


@routes.post("/api/breakpoints/paused/resume-all")
async def resume_all(request: web.Request) -> web.Response:
    body = await read_json(request)
    action = body.get("action", "continue")
    if action not in ("continue", "abort"):
        raise bad_request('action must be "continue" or "abort"')
    n = ctx(request).breakpoints.resume_all(action)
    return json_response({"success": True, "resumed": n})


@routes.get("/api/breakpoints/paused/{hitId}")
async def paused_one(request: web.Request) -> web.Response:
    hit = ctx(request).breakpoints.get(request.match_info["hitId"])
    if hit is None:
        raise not_found(PAUSED_NOT_FOUND)
    return json_response(hit.as_json(inline=None))


@routes.post("/api/breakpoints/paused/{hitId}/resume")
async def resume(request: web.Request) -> web.Response:
    board = ctx(request).breakpoints
    hit_id = request.match_info["hitId"]
    hit = board.get(hit_id)
    if hit is None:
        raise not_found(PAUSED_NOT_FOUND)
    body = await read_json(request)
    try:
        decision = parse_resume(body, hit.type)
    except ResumeError as e:
        raise bad_request(str(e)) from None
    if board.resume(hit_id, decision) is None:  # went on while the body was read
        raise not_found(PAUSED_NOT_FOUND)
    return json_response({"success": True, "id": hit_id, "action": decision.action})


# ---------------------------------------------------------------------------- definitions
@routes.get("/api/breakpoints/{id}")
async def get_breakpoint(request: web.Request) -> web.Response:
    bp = await ctx(request).store.get_breakpoint(request.match_info["id"])
    if bp is None:
        raise not_found(BREAKPOINT_NOT_FOUND)
    return json_response(bp.as_json())


@routes.post("/api/breakpoints")
async def create_breakpoint(request: web.Request) -> web.Response:
    fields = _validated(await read_json(request))
    try:
        bp = await ctx(request).store.create_breakpoint(fields)
    except Exception:
        log.exception("could not store a breakpoint")
        raise ApiError(500, FAILED_TO_CREATE) from None
    return json_response(bp.as_json(), status=201)


@routes.put("/api/breakpoints/{id}")
async def update_breakpoint(request: web.Request) -> web.Response:
    store = ctx(request).store
    current = await store.get_breakpoint(request.match_info["id"])
    if current is None:
        raise not_found(BREAKPOINT_NOT_FOUND)
    fields = _validated(await read_json(request), current.fields())
    bp = await store.update_breakpoint(current.id, fields)
    if bp is None:  # deleted meanwhile
        raise not_found(BREAKPOINT_NOT_FOUND)
    return json_response(bp.as_json())


@routes.patch("/api/breakpoints/{id}/toggle")
async def toggle_breakpoint(request: web.Request) -> web.Response:
    bp = await ctx(request).store.toggle_breakpoint(request.match_info["id"])
    if bp is None:
        raise not_found(BREAKPOINT_NOT_FOUND)
    return json_response(bp.as_json())


@routes.delete("/api/breakpoints/{id}")
async def delete_breakpoint(request: web.Request) -> web.Response:
    if not await ctx(request).store.delete_breakpoint(request.match_info["id"]):
        raise not_found(BREAKPOINT_NOT_FOUND)
    return json_response({"success": True})
