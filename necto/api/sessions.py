"""/api/sessions: NectoProxy's shapes and error strings."""

from __future__ import annotations

import time

from aiohttp import web

from necto.api.context import ctx
from necto.api.errors import bad_request, json_response, not_found, read_json, session_not_found

routes = web.RouteTableDef()

MAX_NAME = 200  # one long name must not break every view that lists sessions


def _name(value: object) -> str:
    """A session name from a request body: a non-empty string of at most MAX_NAME characters."""
    if not isinstance(value, str) or not value.strip():
        raise bad_request("Session name must be a non-empty string")
    name = value.strip()
    if len(name) > MAX_NAME:
        raise bad_request(f"Session name is too long: {len(name)} characters, at most {MAX_NAME} allowed")
    return name


@routes.get("/api/sessions")
async def list_sessions(request: web.Request) -> web.Response:
    sessions = await ctx(request).store.list_sessions()
    return json_response([s.as_json() for s in sessions])


@routes.post("/api/sessions")
async def create_session(request: web.Request) -> web.Response:
    body = await read_json(request)
    name = body.get("name")
    name = _name(time.strftime("Session %Y-%m-%d %H:%M:%S") if name is None else name)
    activate = body.get("activate", False)
    if not isinstance(activate, bool):
        raise bad_request("activate must be a boolean")
    session = await ctx(request).store.create_session(name, activate=activate)
    return json_response(session.as_json(), status=201)


@routes.get("/api/sessions/active")
async def active_session(request: web.Request) -> web.Response:
    session = await ctx(request).store.active_session()
    if session is None:
        raise not_found("No active session")
    return json_response(session.as_json())


@routes.get("/api/sessions/{id}")
async def get_session(request: web.Request) -> web.Response:
    session = await ctx(request).store.get_session(request.match_info["id"])
    if session is None:
        raise session_not_found()
    return json_response(session.as_json())


@routes.patch("/api/sessions/{id}")
async def update_session(request: web.Request) -> web.Response:
    body = await read_json(request)
    name, recording = body.get("name"), body.get("isRecording")
    if name is not None:
        name = _name(name)
    if recording is not None and not isinstance(recording, bool):
        raise bad_request("isRecording must be a boolean")
    session = await ctx(request).store.update_session(
        request.match_info["id"],
        name=name,
        is_recording=recording,
    )
    if session is None:
        raise session_not_found()
    return json_response(session.as_json())


@routes.delete("/api/sessions/{id}")
async def delete_session(request: web.Request) -> web.Response:
    if not await ctx(request).store.delete_session(request.match_info["id"]):
        raise session_not_found()
    return json_response({"success": True})


@routes.post("/api/sessions/{id}/activate")
async def activate_session(request: web.Request) -> web.Response:
    session = await ctx(request).store.activate_session(request.match_info["id"])
    if session is None:
        raise session_not_found()
    return json_response(session.as_json())
