"""The REST API (and later the page) on :8889, as one aiohttp application."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from necto import __version__
from necto.api import annotation as annotations_api
from necto.api import breakpoints as breakpoints_api
from necto.api import certificates, dns, events, har, page, sessions, ssl_passthrough, traffic, upstream_proxy
from necto.api import compare as compare_api
from necto.api import inventory as inventory_api
from necto.api import network as network_api
from necto.api import replay as replay_api
from necto.api import rules as rules_api
from necto.api import search as search_api
from necto.api import views as views_api
from necto.api.context import CTX, ApiContext, ctx
from necto.api.errors import DAMAGE, DATABASE_DAMAGED, error_middleware, json_response
from necto.api.security import make_security_middleware
from necto.api.site import API_MAX_CONNECTIONS, mark_connections

health_routes = web.RouteTableDef()

# `status` is "degraded" while the last lost capture or refused connection is this recent.
DEGRADED_SECONDS = 60.0


def _connections(c: ApiContext) -> tuple[dict[str, Any], list[str]]:
    guard, site = c.guard(), c.api_site()
    out: dict[str, Any] = {"apiLimit": API_MAX_CONNECTIONS}
    problems = []
    if guard is not None:
        out.update(proxy=len(guard.conns), proxyLimit=guard.limits.max_connections,
                   proxyRefused=guard.refused, proxyTimedOut=guard.timed_out)  # fmt: skip
        if guard.refused_recently(DEGRADED_SECONDS):
            problems.append(f"proxy connection limit ({guard.limits.max_connections}) reached: new connections refused")
    if site is not None:
        out.update(apiRefused=site.refused, apiTimedOut=site.timed_out)
        if site.refused_recently(DEGRADED_SECONDS):
            problems.append(f"API connection limit ({site.max_connections}) reached: new connections refused")
    return out, problems


@health_routes.get("/api/health")
async def health(request: web.Request) -> web.Response:
    c = ctx(request)
    host, port = c.proxy_address()
    active = await c.store.active_session()
    drops = c.store.drops
    connections, problems = _connections(c)
    if drops.recent(DEGRADED_SECONDS):
        problems.insert(0, f"captures could not be stored: {drops.reason}")
    if c.store.index_problem:
        problems.append(c.store.index_problem)
    damage = request.app[DAMAGE]
    if damage:
        problems.insert(0, f"{DATABASE_DAMAGED}: {damage[-1]}")
    return json_response(
        {
            "status": "degraded" if problems else "ok",
            "problems": problems,
            "version": __version__,
            "uptime": round(time.time() - c.started_at, 3),
            "proxy": {"host": host, "port": port},
            "api": {"host": c.config.api_host, "port": c.api_port()},
            "activeSessionId": active.id if active else None,
            "recording": c.store.capture_session_id is not None,
            "captureSessionId": c.store.capture_session_id,
            "droppedEntries": drops.entries,
            "droppedFrames": drops.frames,
            "lastDropReason": drops.reason,
            "lastDropAt": round(drops.at * 1000) if drops.at is not None else None,
            "connections": connections,
        }
    )


JSON_BODY_LIMIT = 64 << 20  # 64 MiB: ample for 100k entry ids or a replayed body

# One line per resource; later features (HAR, replay, compare, inventory, page) add theirs here.
ROUTE_TABLES: list[web.RouteTableDef] = [
    health_routes,
    sessions.routes,
    search_api.routes,  # before traffic's: /api/traffic/search is not an entry id
    traffic.routes,
    views_api.routes,
    annotations_api.routes,
    certificates.routes,
    har.routes,
    replay_api.routes,
    compare_api.routes,
    inventory_api.routes,
    dns.routes,
    ssl_passthrough.routes,
    upstream_proxy.routes,
    rules_api.routes,
    network_api.routes,
    breakpoints_api.routes,
    events.routes,
    page.routes,
]


def make_app(context: ApiContext) -> web.Application:
    app = web.Application(
        middlewares=[
            mark_connections(context.api_waiting),
            make_security_middleware(context.config, context.api_port),
            error_middleware,
        ],
        # JSON bodies are read whole; HAR uploads stream (multipart) and have their own limit.
        client_max_size=JSON_BODY_LIMIT,
    )
    app[CTX] = context
    app[DAMAGE] = []
    for table in ROUTE_TABLES:
        app.add_routes(table)
    events.setup(app)
    return app
