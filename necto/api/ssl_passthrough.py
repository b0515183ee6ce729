"""/api/ssl-passthrough: hosts whose TLS Necto never intercepts (pinned apps, banking).

Their CONNECTs are tunnelled untouched (mitmproxy's `ignore_hosts`) and recorded as one tunnel
entry each (host, bytes each way, duration). `domain` is an exact name or a label wildcard
(`*.bank.example`: one label, not the bare domain).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from necto.api.connectivity import applied, optional_text, state
from necto.api.context import ctx
from necto.api.errors import bad_request, flag, json_response, read_json
from necto.capture.patterns import check_domain

routes = web.RouteTableDef()

PASSTHROUGH_NOT_FOUND = "SSL passthrough domain not found"


def _domain(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise bad_request("Domain is required")
    domain = check_domain(value)
    if domain is None:
        raise bad_request("Domain must be a host name, an IP address or a wildcard like *.example.com")
    return domain


@routes.get("/api/ssl-passthrough")
async def list_domains(request: web.Request) -> web.Response:
    return json_response({"domains": await ctx(request).store.list_passthrough()})


@routes.post("/api/ssl-passthrough")
async def add_domain(request: web.Request) -> web.Response:
    body = await read_json(request)
    domain = _domain(body.get("domain"))
    enabled = flag(body.get("enabled"), "enabled", True)
    entry = await ctx(request).store.add_passthrough(domain, enabled, optional_text(body, "reason"))
    return await applied(request, entry, PASSTHROUGH_NOT_FOUND, status=201)


@routes.post("/api/ssl-passthrough/check")
async def check(request: web.Request) -> web.Response:
    body = await read_json(request)
    domain = body.get("domain")
    if not isinstance(domain, str) or not domain.strip():
        raise bad_request("Domain is required")
    return json_response({"domain": domain, "matches": state(request).is_passthrough(domain[:1000])})


@routes.patch("/api/ssl-passthrough/{id}/toggle")
async def toggle_domain(request: web.Request) -> web.Response:
    entry = await ctx(request).store.toggle_passthrough(request.match_info["id"])
    return await applied(request, entry, PASSTHROUGH_NOT_FOUND)


@routes.delete("/api/ssl-passthrough/{id}")
async def delete_domain(request: web.Request) -> web.Response:
    deleted = await ctx(request).store.delete_passthrough(request.match_info["id"])
    return await applied(request, deleted, PASSTHROUGH_NOT_FOUND)
