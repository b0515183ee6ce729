"""/api/sessions/{id}/inventory and /api/sessions/{id}/openapi.(json|yaml).

Sub-paths of a session, so they never collide with `/api/sessions/{id}` in sessions.py.
Building and rendering run in worker threads: a 2,000-endpoint document takes seconds, and
the proxy shares the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from necto.api.context import ctx
from necto.api.errors import bad_request, flag, session_not_found
from necto.inventory import Inventory, build_inventory, inventory_json, openapi_document, openapi_yaml
from necto.store.bodyfiles import WHOLE_BODY_MAX

routes = web.RouteTableDef()


async def _inventory(request: web.Request) -> Inventory:
    store = ctx(request).store
    session = await store.get_session(request.match_info["id"])
    if session is None:
        raise session_not_found()
    include_static = flag(request.query.get("includeStatic"), "includeStatic")
    await store.flush()  # include what the proxy captured a moment ago
    return await build_inventory(
        store.iter_entries(session.id, body_limit=WHOLE_BODY_MAX),
        include_static=include_static,
        source={"kind": "session", "id": session.id, "name": session.name},
    )


def _json_bytes(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)


@routes.get("/api/sessions/{id}/inventory")
async def session_inventory(request: web.Request) -> web.Response:
    inv = await _inventory(request)
    body = await asyncio.to_thread(lambda: _json_bytes(inventory_json(inv)))
    return web.Response(body=body, content_type="application/json")


async def _document(request: web.Request) -> dict[str, Any]:
    include_unsuccessful = flag(request.query.get("includeUnsuccessful"), "includeUnsuccessful")  # before the work
    inv = await _inventory(request)
    host = request.query.get("host")
    if host is not None and host not in inv.hosts():
        raise bad_request(f"No traffic for host {host}")
    return await asyncio.to_thread(lambda: openapi_document(inv, host=host, include_unsuccessful=include_unsuccessful))


@routes.get("/api/sessions/{id}/openapi.json")
async def session_openapi_json(request: web.Request) -> web.Response:
    doc = await _document(request)
    return web.Response(body=await asyncio.to_thread(_json_bytes, doc), content_type="application/json")


@routes.get("/api/sessions/{id}/openapi.yaml")
async def session_openapi_yaml(request: web.Request) -> web.Response:
    doc = await _document(request)
    return web.Response(text=await asyncio.to_thread(openapi_yaml, doc), content_type="application/yaml")
