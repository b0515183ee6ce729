"""/api/traffic: list with filters, one entry in full, deletes and stats."""

from __future__ import annotations

from aiohttp import web

from necto.api.context import ctx
from necto.api.errors import (
    bad_request,
    csv_param,
    entry_not_found,
    filter_arg,
    flag,
    int_param,
    json_response,
    not_found,
    session_not_found,
)
from necto.store import SORT_COLUMNS, TrafficQuery
from necto.views import entry_detail, entry_summary

routes = web.RouteTableDef()

MAX_LIMIT = 10_000
DETAIL_BODY_MAX = 16 << 20  # bodies in files longer than this are left out of an entry's JSON


def add_status_codes(q: TrafficQuery, raw: str | None) -> None:
    """`statusCodes=404,5xx,0` into the query; a bad code is a 400."""
    for code in csv_param(raw):
        try:
            q.add_status(code)
        except ValueError as e:
            raise bad_request(str(e)) from None


def parse_query(request: web.Request) -> TrafficQuery:
    q = TrafficQuery(
        session_id=request.query.get("sessionId") or None,
        search=request.query.get("search") or None,
        filter=filter_arg(request.query.get("filter") or None),
        methods=csv_param(request.query.get("methods")),
        hosts=csv_param(request.query.get("hosts")),
        limit=int_param(request, "limit", 100, 1, MAX_LIMIT),
        offset=int_param(request, "offset", 0, 0, 1 << 62),
    )
    add_status_codes(q, request.query.get("statusCodes"))
    sort_field = request.query.get("sortField", "timestamp")
    if sort_field not in SORT_COLUMNS:
        raise bad_request(f"sortField must be one of: {', '.join(SORT_COLUMNS)}")
    direction = request.query.get("sortDirection", "asc").lower()
    if direction not in ("asc", "desc"):
        raise bad_request("sortDirection must be asc or desc")
    q.sort_field, q.sort_direction = sort_field, direction
    return q


@routes.get("/api/traffic")
async def list_traffic(request: web.Request) -> web.Response:
    query = parse_query(request)
    store = ctx(request).store
    if query.session_id is None:
        active = await store.active_session()
        query.session_id = active.id if active else None
    elif await store.get_session(query.session_id) is None:
        raise session_not_found()
    entries, count = await store.list_entries(query)
    return json_response({"entries": [entry_summary(e) for e in entries], "count": count})


@routes.get("/api/traffic/stats/{sessionId}")
async def traffic_stats(request: web.Request) -> web.Response:
    store = ctx(request).store
    session_id = request.match_info["sessionId"]
    if await store.get_session(session_id) is None:
        raise session_not_found()
    stats = await store.stats(session_id)
    stats["tlsFailures"] = await store.count_tls_failures(session_id)
    return json_response(stats)


@routes.delete("/api/traffic/session/{sessionId}")
async def clear_session(request: web.Request) -> web.Response:
    store = ctx(request).store
    session_id = request.match_info["sessionId"]
    if await store.get_session(session_id) is None:
        raise session_not_found()
    deleted = await store.clear_session(session_id)
    return json_response({"success": True, "deleted": deleted})


@routes.get("/api/traffic/{id}")
async def get_traffic(request: web.Request) -> web.Response:
    """One entry in full; a body longer than DETAIL_BODY_MAX is left out (`...BodyOmitted`) and
    read from `/api/traffic/{id}/body/{side}` instead (never held whole)."""
    store = ctx(request).store
    entry = await store.get_entry(request.match_info["id"], body_limit=DETAIL_BODY_MAX)
    if entry is None:
        raise entry_not_found()
    notes = (await store.annotations_for([entry.id])).get(entry.id, [])
    if notes:
        entry.extra.update(annotationCount=len(notes), annotationColor=notes[-1]["color"],
                           annotationNote=notes[-1]["content"][:200])  # fmt: skip
    out = entry_detail(entry)
    out["annotations"] = notes  # in full here (the list has their count)
    out["annotationCount"] = len(notes)
    return json_response(out)


@routes.get("/api/traffic/{id}/body/{side}")
async def get_body(request: web.Request) -> web.StreamResponse:
    """A body's bytes, streamed from the body store: `side` is `request` or `response`;
    `?raw=true` gives the bytes as they travelled when decoding was cut short (a decompression
    bomb). Always a download (`application/octet-stream`, attachment): a captured page must not
    run as the API's own origin. `X-Necto-Content-Type` says what the body declared."""
    side = request.match_info["side"]
    if side not in ("request", "response"):
        raise bad_request("side must be request or response")
    raw = flag(request.query.get("raw"), "raw")
    store = ctx(request).store
    entry = await store.get_entry(request.match_info["id"], body_limit=0)
    if entry is None:
        raise entry_not_found()
    chunks = await store.body_chunks(entry, side, raw=raw)
    if chunks is None:
        raise not_found("No such body")
    headers = entry.response_headers if side == "response" else entry.request_headers
    declared = next((v for n, v in headers if n.lower() == "content-type"), "")
    resp = web.StreamResponse(headers={
        "Content-Type": "application/octet-stream",
        "Content-Disposition": f'attachment; filename="{entry.id}-{side}{"-raw" if raw else ""}.bin"',
        "X-Content-Type-Options": "nosniff",
        "X-Necto-Content-Type": declared.replace("\r", " ").replace("\n", " "),
    })  # fmt: skip
    await resp.prepare(request)
    async for chunk in chunks:
        await resp.write(chunk)
    await resp.write_eof()
    return resp


@routes.delete("/api/traffic/{id}")
async def delete_traffic(request: web.Request) -> web.Response:
    if not await ctx(request).store.delete_entry(request.match_info["id"]):
        raise entry_not_found()
    return json_response({"success": True})
