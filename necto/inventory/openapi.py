"""OpenAPI 3.1 from an inventory: servers, paths, parameters, schemas merged over every sample,
the response codes seen, redacted examples and security schemes from the auth found."""

from __future__ import annotations

import http
import re
from typing import Any

import yaml

from necto import __version__
from necto.inventory.model import AuthStats, Endpoint, Inventory
from necto.inventory.schema import SchemaNode
from necto.vocab import iso_time as iso

KIND_SCHEMAS: dict[str, dict[str, Any]] = {
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "uuid": {"type": "string", "format": "uuid"},
    "date": {"type": "string", "format": "date"},
    "date-time": {"type": "string", "format": "date-time"},
    "email": {"type": "string", "format": "email"},
}
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
OAS_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def kind_schema(kind: str) -> dict[str, Any]:
    return dict(KIND_SCHEMAS.get(kind, {"type": "string"}))


def _scheme_name(a: AuthStats) -> str:
    info = a.info
    if (
        info.type in ("bearer", "jwt")
        and info.location == "header"
        and info.name
        and info.name.lower() == "authorization"
    ):
        return "bearerJwt" if info.type == "jwt" else "bearerAuth"
    if info.type == "basic":
        return "basicAuth"
    raw = f"{info.type}_{info.location}_{info.name or info.scheme or ''}"
    return re.sub(r"[^A-Za-z0-9._-]", "_", raw)


def _scheme(a: AuthStats) -> dict[str, Any]:
    info = a.info
    if info.location == "header" and info.name and info.name.lower() == "authorization":
        if info.type == "basic":
            return {"type": "http", "scheme": "basic"}
        if info.type in ("bearer", "jwt"):
            out: dict[str, Any] = {"type": "http", "scheme": "bearer"}
            if info.type == "jwt":
                out["bearerFormat"] = "JWT"
                desc = []
                if info.issuer:
                    desc.append(f"issuer {info.issuer}")
                if a.scopes:
                    desc.append("scopes " + " ".join(sorted(a.scopes)))
                if desc:
                    out["description"] = "JWT seen with " + ", ".join(desc)
            return out
        return {"type": "http", "scheme": (info.scheme or "custom").lower()}
    location = info.location or "header"
    return {"type": "apiKey", "in": location, "name": info.name or "Authorization"}


def _media(kind: str, node: SchemaNode | None, mime: str, example: Any) -> dict[str, Any]:
    if node is not None and kind in ("json", "form"):
        media: dict[str, Any] = {"schema": node.to_schema()}
        if example is not None:
            media["example"] = example
        return media
    if kind == "text" or mime.startswith("text/"):
        return {"schema": {"type": "string"}}
    return {"schema": {"type": "string", "contentMediaType": mime or "application/octet-stream"}}


def _operation_id(method: str, template: str, taken: set[str]) -> str:
    words = [w for w in re.split(r"[^A-Za-z0-9]+", template) if w]
    base = method.lower() + "".join(w[0].upper() + w[1:] for w in words) or method.lower()
    name, i = base, 2
    while name in taken:
        name, i = f"{base}{i}", i + 1
    taken.add(name)
    return name


def operation(ep: Endpoint, op_ids: set[str], schemes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    s = ep.stats
    op: dict[str, Any] = {
        "operationId": _operation_id(ep.method, ep.template, op_ids),
        "summary": f"{ep.method} {ep.template}",
        "description": f"Seen {s.count} time{'s' if s.count != 1 else ''} between {iso(s.first)} and {iso(s.last)}.",
    }
    params: list[dict[str, Any]] = []
    for p in ep.path_params:
        schema = kind_schema(p.kind)
        param: dict[str, Any] = {
            "name": p.name,
            "in": "path",
            "required": True,
            "schema": schema,
            "description": p.reason,
        }
        if p.examples:
            param["example"] = p.examples[0]
        params.append(param)
    for where, table in (("query", s.query), ("header", s.headers)):
        for stats in table.values():
            param = {
                "name": stats.name,
                "in": where,
                "required": stats.count == s.count,
                "schema": kind_schema(stats.kind),
            }
            if stats.examples:
                param["example"] = stats.examples[0]
            params.append(param)
    if params:
        op["parameters"] = params
    if s.request_types:
        content = {
            mime: _media(
                s.request_kinds.get(mime, "binary"), s.request_schemas.get(mime), mime, s.request_examples.get(mime)
            )
            for mime in s.request_types
        }
        op["requestBody"] = {"content": content, "required": sum(s.request_types.values()) >= s.count}
    op["responses"] = _responses(ep)
    security: list[dict[str, list[str]]] = []
    for a in s.auth.values():
        name = _scheme_name(a)
        schemes.setdefault(name, _scheme(a))
        if {name: []} not in security:
            security.append({name: []})
    if security and s.no_auth:
        security.append({})
    if security:
        op["security"] = security
    op["x-necto"] = {
        "count": s.count,
        "statusCodes": {str(k): v for k, v in sorted(s.statuses.items())},
        "observedSuccess": ep.observed_success,
    }
    return op


def _responses(ep: Endpoint) -> dict[str, Any]:
    s = ep.stats
    out: dict[str, Any] = {}
    for status in sorted(s.statuses):
        if not 100 <= status <= 599:
            continue
        try:
            description = http.HTTPStatus(status).phrase
        except ValueError:
            description = f"Status {status}"
        resp: dict[str, Any] = {"description": description}
        content = {}
        for (st, mime), kind in s.response_kinds.items():
            if st == status:
                content[mime] = _media(
                    kind, s.response_schemas.get((st, mime)), mime, s.response_examples.get((st, mime))
                )
        if content:
            resp["content"] = content
        out[str(status)] = resp
    if not out:
        out["default"] = {"description": "No response was recorded"}
    return out


def openapi_document(
    inv: Inventory, title: str | None = None, host: str | None = None, include_unsuccessful: bool = False
) -> dict[str, Any]:
    """One document for every host (or the one asked for); paths of other hosts carry `servers`.

    Endpoints that never answered 2xx (typos, probes, 404-only paths) are left out unless
    `include_unsuccessful`; the description says how many.
    """
    endpoints = [e for e in inv.endpoints if host is None or e.host == host]
    left_out = 0
    if not include_unsuccessful:
        kept = [e for e in endpoints if e.observed_success]
        left_out = len(endpoints) - len(kept)
        endpoints = kept
    hosts = list(dict.fromkeys(e.host for e in endpoints))
    servers = {
        h: [{"url": f"{scheme}://{h}"} for scheme in next(e.schemes for e in endpoints if e.host == h)] for h in hosts
    }
    paths: dict[str, dict[str, Any]] = {}
    path_hosts: dict[str, list[str]] = {}
    op_ids: set[str] = set()
    schemes: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        method = ep.method.lower()
        if method not in OAS_METHODS:
            continue
        item = paths.setdefault(ep.template, {})
        if method in item:  # the same path and method on a second host: keep the first
            if ep.host not in path_hosts[ep.template]:
                path_hosts[ep.template].append(ep.host)
            continue
        item[method] = operation(ep, op_ids, schemes)
        path_hosts.setdefault(ep.template, [])
        if ep.host not in path_hosts[ep.template]:
            path_hosts[ep.template].append(ep.host)
    if len(hosts) > 1:
        for template, hs in path_hosts.items():
            paths[template]["servers"] = [s for h in hs for s in servers[h]]
    source = inv.source
    name = title or source.get("name") or source.get("path") or "traffic"
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": f"API inventory: {name}",
            "version": iso(inv.generated_at),
            "description": (
                f"Generated by Necto {__version__} from {inv.entries_used} recorded exchanges. "
                "Schemas are merged over every sample; examples are redacted."
                + (
                    f" {left_out} endpoint{'s' if left_out != 1 else ''} that never answered 2xx "
                    f"{'are' if left_out != 1 else 'is'} left out (see the inventory's observedSuccess)."
                    if left_out
                    else ""
                )
            ),
        },
        "paths": dict(sorted(paths.items())),
    }
    if hosts:
        doc["servers"] = [s for h in hosts for s in servers[h]]
    if schemes:
        doc["components"] = {"securitySchemes": dict(sorted(schemes.items()))}
    return doc


def openapi_yaml(doc: dict[str, Any]) -> str:
    """The document as YAML, with libyaml's C dumper when present (about 8x faster for big
    inventories). Blocking: call it in a worker thread from async code."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(doc, Dumper=dumper, sort_keys=False, allow_unicode=True, width=120)
