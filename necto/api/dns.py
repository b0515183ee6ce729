"""/api/dns: DNS mappings (NectoProxy's paths, fields and errors), applied in Necto's resolver.

A mapping changes only the address connected to: port, Host header and TLS name stay as
requested. `domain` is an exact name or a label wildcard (`*.example.com`: one label, not the
bare domain); exact names win over wildcards.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from necto.addresses import parse_ip
from necto.api.connectivity import MAX_TEXT, applied, optional_text, state
from necto.api.context import ctx
from necto.api.errors import bad_request, flag, json_response, not_found, read_json
from necto.capture.patterns import check_domain

routes = web.RouteTableDef()

MAPPING_NOT_FOUND = "DNS mapping not found"


def _domain(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise bad_request("Domain is required")
    domain = check_domain(value)
    if domain is None or parse_ip(domain) is not None:
        raise bad_request("Domain must be a host name or a wildcard like *.example.com")
    return domain


def _target(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise bad_request("Target IP is required")
    ip = parse_ip(value) if len(value) <= MAX_TEXT else None
    if ip is None:
        raise bad_request("Target IP must be an IPv4 or IPv6 address")
    return str(ip)


@routes.get("/api/dns")
async def list_mappings(request: web.Request) -> web.Response:
    return json_response({"mappings": await ctx(request).store.list_dns_mappings()})


@routes.post("/api/dns")
async def add_mapping(request: web.Request) -> web.Response:
    body = await read_json(request)
    domain, target = _domain(body.get("domain")), _target(body.get("targetIp"))
    enabled = flag(body.get("enabled"), "enabled", True)
    description = optional_text(body, "description")
    mapping = await ctx(request).store.add_dns_mapping(domain, target, enabled, description)
    return await applied(request, mapping, MAPPING_NOT_FOUND, status=201)


@routes.post("/api/dns/resolve")
async def resolve(request: web.Request) -> web.Response:
    body = await read_json(request)
    hostname = body.get("hostname")
    if not isinstance(hostname, str) or not hostname.strip():
        raise bad_request("Hostname is required")
    if len(hostname) > MAX_TEXT:
        raise bad_request("Hostname is too long")
    mapping = state(request).tracker.mapping_for(hostname)
    found = await ctx(request).store.get_dns_mapping(mapping.id) if mapping else None
    return json_response(
        {
            "hostname": hostname,
            "resolvedIp": mapping.target_ip if mapping else None,
            "matched": mapping is not None,
            "mapping": found,
        }
    )


@routes.put("/api/dns/{id}")
async def update_mapping(request: web.Request) -> web.Response:
    body = await read_json(request)
    store = ctx(request).store
    if await store.get_dns_mapping(request.match_info["id"]) is None:
        raise not_found(MAPPING_NOT_FOUND)
    fields: dict[str, Any] = {}
    if "domain" in body:
        fields["domain"] = _domain(body["domain"])
    if "targetIp" in body:
        fields["target_ip"] = _target(body["targetIp"])
    if "enabled" in body:
        fields["enabled"] = flag(body["enabled"], "enabled")
    if "description" in body:
        fields["description"] = optional_text(body, "description")
    return await applied(request, await store.update_dns_mapping(request.match_info["id"], **fields), MAPPING_NOT_FOUND)


@routes.patch("/api/dns/{id}/toggle")
async def toggle_mapping(request: web.Request) -> web.Response:
    return await applied(
        request, await ctx(request).store.toggle_dns_mapping(request.match_info["id"]), MAPPING_NOT_FOUND
    )


@routes.delete("/api/dns/{id}")
async def delete_mapping(request: web.Request) -> web.Response:
    return await applied(
        request, await ctx(request).store.delete_dns_mapping(request.match_info["id"]), MAPPING_NOT_FOUND
    )
