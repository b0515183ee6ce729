"""/api/traffic/search: NectoProxy's global search over URLs, headers and bodies.

`q` is one case-insensitive substring (not the filter language, as in NectoProxy), looked for
in the places `searchIn` names (default all three, as NectoProxy's documents say) and OR-ed,
then AND-ed with `methods`, `statusCodes` and, a Necto addition, `filter`. Across every
session unless `sessionId` is given; newest first.
"""

from __future__ import annotations

from aiohttp import web

from necto.api.context import ctx
from necto.api.errors import bad_request, csv_param, filter_arg, int_param, json_response, session_not_found
from necto.api.traffic import MAX_LIMIT, add_status_codes
from necto.search.filterlang import DEFAULT_SEARCH_PLACES, SEARCH_PLACES, all_of, search_tree
from necto.store import TrafficQuery
from necto.views import entry_summary

routes = web.RouteTableDef()

QUERY_REQUIRED = "Search query is required"


@routes.get("/api/traffic/search")
async def search(request: web.Request) -> web.Response:
    text = (request.query.get("q") or "").strip()
    if not text:
        raise bad_request(QUERY_REQUIRED)
    where = [w.lower() for w in csv_param(request.query.get("searchIn"))] or list(DEFAULT_SEARCH_PLACES)
    unknown = [w for w in where if w not in SEARCH_PLACES]
    if unknown:
        raise bad_request(
            f"searchIn must be a comma-separated list of: {', '.join(SEARCH_PLACES)} (got {unknown[0]!r})"
        )
    store = ctx(request).store
    session_id = request.query.get("sessionId") or None
    if session_id is not None and await store.get_session(session_id) is None:
        raise session_not_found()
    q = TrafficQuery(
        session_id=session_id,
        filter=all_of(search_tree(text, where), filter_arg(request.query.get("filter") or None)),
        methods=csv_param(request.query.get("methods")),
        sort_direction="desc",
        limit=int_param(request, "limit", 50, 1, MAX_LIMIT),
        offset=int_param(request, "offset", 0, 0, 1 << 62),
    )
    add_status_codes(q, request.query.get("statusCodes"))
    entries, total = await store.list_entries(q)
    wanted = {e.session_id for e in entries}
    names = {s.id: s.name for s in await store.list_sessions() if s.id in wanted}
    return json_response({"entries": [entry_summary(e) for e in entries], "total": total, "sessionNames": names})


@routes.get("/api/search/status")
async def index_status(request: web.Request) -> web.Response:
    """How far the search index is: {mode (fts5|plain), indexedUpto, pending, gone, running}."""
    return json_response(await ctx(request).store.index_status())
