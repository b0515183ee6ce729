"""/api/annotations: NectoProxy's notes, tags and colours on entries (shapes and error strings
as its API documents them)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from necto.api.context import ctx
from necto.api.errors import ApiError, bad_request, json_response, not_found, read_json
from necto.search.filterlang import COLORS
from necto.vocab import ENTRY_NOT_FOUND

routes = web.RouteTableDef()

ANNOTATION_NOT_FOUND = "Annotation not found"
DEFAULT_COLOR = "yellow"
MAX_CONTENT = 100_000
MAX_TAGS = 50
MAX_TAG = 100


def _color(value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in COLORS:
        raise bad_request(f"color must be one of: {', '.join(COLORS)}")
    return value.lower()


def _tags(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise bad_request("tags must be an array of strings")
    tags = list(dict.fromkeys(t.strip() for t in value if t.strip()))
    if len(tags) > MAX_TAGS or any(len(t) > MAX_TAG for t in tags):
        raise bad_request(f"at most {MAX_TAGS} tags of at most {MAX_TAG} characters")
    return tags


def _content(value: Any) -> str:
    if not isinstance(value, str):
        raise bad_request("content must be a string")
    if len(value) > MAX_CONTENT:
        raise bad_request(f"content is longer than {MAX_CONTENT} characters")
    return value


@routes.get("/api/annotations")
async def list_all(request: web.Request) -> web.Response:
    return json_response({"annotations": await ctx(request).store.list_annotations()})


@routes.get("/api/annotations/{trafficId}")
async def list_for_entry(request: web.Request) -> web.Response:
    return json_response({"annotations": await ctx(request).store.list_annotations(request.match_info["trafficId"])})


@routes.post("/api/annotations")
async def create(request: web.Request) -> web.Response:
    body = await read_json(request)
    traffic_id = body.get("trafficId")
    if not traffic_id:
        raise bad_request("trafficId is required")
    if not isinstance(traffic_id, str):
        raise bad_request("trafficId must be a string")
    if not body.get("content"):
        raise bad_request("content is required")
    content = _content(body["content"])
    color = _color(body["color"]) if body.get("color") is not None else DEFAULT_COLOR
    tags = _tags(body["tags"]) if body.get("tags") is not None else []
    made = await ctx(request).store.create_annotation(traffic_id, content, color, tags)
    if made is None:
        raise ApiError(404, ENTRY_NOT_FOUND)
    return json_response(made, status=201)


@routes.put("/api/annotations/{id}")
async def update(request: web.Request) -> web.Response:
    body = await read_json(request)
    content = _content(body["content"]) if body.get("content") is not None else None
    if content == "":
        raise bad_request("content is required")
    color = _color(body["color"]) if body.get("color") is not None else None
    tags = _tags(body["tags"]) if body.get("tags") is not None else None
    updated = await ctx(request).store.update_annotation(
        request.match_info["id"], content=content, color=color, tags=tags
    )
    if updated is None:
        raise not_found(ANNOTATION_NOT_FOUND)
    return json_response(updated)


@routes.delete("/api/annotations/{id}")
async def delete(request: web.Request) -> web.Response:
    if not await ctx(request).store.delete_annotation(request.match_info["id"]):
        raise not_found(ANNOTATION_NOT_FOUND)
    return json_response({"success": True})
