"""/api/traffic/:id/view: a body made readable by mitmproxy's content views (necto.bodyview)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from necto.api.context import ctx
from necto.api.errors import bad_request, entry_not_found, json_response
from necto.bodyview import PARTS, VIEWS, render

routes = web.RouteTableDef()


@routes.get("/api/traffic/{id}/view")
async def view_body(request: web.Request) -> web.Response:
    part = request.query.get("part", "response").lower()
    if part not in PARTS:
        raise bad_request("part must be request or response")
    view = request.query.get("view", "auto").lower()
    if view not in VIEWS:
        raise bad_request(f"view must be one of: {', '.join(VIEWS)}")
    c = ctx(request)
    entry = await c.store.get_entry(request.match_info["id"])
    if entry is None:
        raise entry_not_found()
    try:
        rendered = await asyncio.to_thread(render, entry, part, view, c.config.proto_dir)
    except ValueError as e:
        raise bad_request(str(e).capitalize()) from None
    return json_response(rendered.as_json(part))
