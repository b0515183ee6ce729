"""/api/sessions/{id}/inventory and /api/sessions/{id}/openapi.(json|yaml).

Sub-paths of a session, so they never collide with `/api/sessions/{id}` in sessions.py.
"""

from __future__ import annotations

from aiohttp import web

from necto.api.context import ctx
from necto.api.errors import bad_request, json_response, not_found
from necto.inventory import Inventory, build_inventory, inventory_json, openapi_document
from necto.inventory.cli import openapi_yaml

routes = web.RouteTableDef()

SESSION_NOT_FOUND = "Session not found"


def _flag(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise bad_request(f"{name} must be true or false")
    return raw in ("true", "1")


async def _inventory(request: web.Request) -> Inventory:
    store = ctx(request).store
    session = await store.get_session(request.match_info["id"])
    if session is None:
        raise not_found(SESSION_NOT_FOUND)
    include_static = _flag(request, "includeStatic")
    await store.flush()  # include what the proxy captured a moment ago
    return await build_inventory(
        store.iter_entries(session.id),
        include_static=include_static,
        source={"kind": "session", "id": session.id, "name": session.name},
    )


@routes.get("/api/sessions/{id}/inventory")
async def session_inventory(request: web.Request) -> web.Response:
    return json_response(inventory_json(await _inventory(request)))


async def _document(request: web.Request) -> dict:
    include_unsuccessful = _flag(request, "includeUnsuccessful")  # before the work
    inv = await _inventory(request)
    host = request.query.get("host")
    if host is not None and host not in inv.hosts():
        raise bad_request(f"No traffic for host {host}")
    return openapi_document(inv, host=host, include_unsuccessful=include_unsuccessful)


@routes.get("/api/sessions/{id}/openapi.json")
async def session_openapi_json(request: web.Request) -> web.Response:
    return json_response(await _document(request))


@routes.get("/api/sessions/{id}/openapi.yaml")
async def session_openapi_yaml(request: web.Request) -> web.Response:
    return web.Response(text=openapi_yaml(await _document(request)), content_type="application/yaml")
