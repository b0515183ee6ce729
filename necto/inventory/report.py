"""The inventory as JSON (API and `--json`) and as a table for people."""

from __future__ import annotations

from typing import Any

from necto.inventory.model import AuthStats, Endpoint, EndpointStats, Inventory, ParamStats
from necto.vocab import format_table
from necto.vocab import iso_time as iso


def _params(table: dict[str, ParamStats], total: int) -> list[dict[str, Any]]:
    return [
        {"name": p.name, "type": p.kind, "required": p.count == total, "count": p.count, "examples": p.examples}
        for p in table.values()
    ]


def _auth(a: AuthStats) -> dict[str, Any]:
    out: dict[str, Any] = {"type": a.info.type}
    if a.info.location:
        out["in"] = a.info.location
    if a.info.name:
        out["name"] = a.info.name
    if a.info.scheme:
        out["scheme"] = a.info.scheme
    if a.info.type == "jwt":
        out["issuer"] = a.info.issuer
        out["audience"] = sorted(a.audience)
        out["scopes"] = sorted(a.scopes)
        out["algorithm"] = a.info.algorithm
    out["count"] = a.count
    return out


def auth_json(s: EndpointStats) -> list[dict[str, Any]]:
    found = [_auth(a) for a in sorted(s.auth.values(), key=lambda a: -a.count)]
    if s.no_auth:
        found.append({"type": "none", "count": s.no_auth})
    return found


def _fields(s: EndpointStats) -> dict[str, list[str]]:
    req = sorted({f for node in s.request_schemas.values() for f in node.field_paths()})
    resp = sorted({f for node in s.response_schemas.values() for f in node.field_paths()})
    return {"request": req, "response": resp}


def templating_json(ep: Endpoint) -> list[dict[str, Any]]:
    """Every segment after the first, in order: which rule made it a literal or a parameter, and
    with which evidence. (The first segment is always literal.)"""
    out: list[tuple[int, dict[str, Any]]] = []
    for p in ep.path_params:
        item: dict[str, Any] = {"segment": p.position, "param": p.name, "rule": p.rule, "types": p.kinds}
        if p.evidence:
            item["evidence"] = p.evidence
        item["reason"] = p.reason
        out.append((p.position, item))
    for lit in ep.literals:
        item = {"segment": lit.position, "literal": lit.literal, "rule": lit.rule}
        if lit.evidence:
            item["evidence"] = lit.evidence
        item["reason"] = lit.reason
        out.append((lit.position, item))
    return [item for _, item in sorted(out, key=lambda t: t[0])]


def endpoint_json(ep: Endpoint) -> dict[str, Any]:
    s = ep.stats
    return {
        "method": ep.method,
        "pathTemplate": ep.template,
        "observedSuccess": ep.observed_success,
        "count": s.count,
        "statusCodes": {str(k): v for k, v in sorted(s.statuses.items())},
        "firstSeen": iso(s.first),
        "lastSeen": iso(s.last),
        "latency": {"p50": s.latency.percentile(50), "p95": s.latency.percentile(95)},
        "params": {
            "path": [
                {"name": p.name, "type": p.kind, "examples": p.examples, "reason": p.reason} for p in ep.path_params
            ],
            "query": _params(s.query, s.count),
            "header": _params(s.headers, s.count),
        },
        "requestContentTypes": dict(sorted(s.request_types.items())),
        "responseContentTypes": dict(sorted(s.response_types.items())),
        "auth": auth_json(s),
        "sensitive": [
            {"kind": kind, "where": where, "count": n}
            for (kind, where), n in sorted(s.sensitive.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        ],
        "templating": templating_json(ep),
        "fields": _fields(s),
    }


def inventory_json(inv: Inventory) -> dict[str, Any]:
    hosts: dict[str, dict[str, Any]] = {}
    for ep in inv.endpoints:
        h = hosts.setdefault(ep.host, {"host": ep.host, "schemes": ep.schemes, "endpoints": []})
        h["endpoints"].append(endpoint_json(ep))
    for h in hosts.values():
        h["endpointCount"] = len(h["endpoints"])
    return {
        "source": inv.source,
        "generatedAt": iso(inv.generated_at),
        "entries": {"total": inv.entries_total, "used": inv.entries_used, "skipped": inv.skipped},
        "endpointCount": len(inv.endpoints),
        "unsuccessfulCount": sum(1 for ep in inv.endpoints if not ep.observed_success),
        "hosts": list(hosts.values()),
    }


def _auth_label(a: dict[str, Any]) -> str:
    t = a["type"]
    if t == "none":
        return "none"
    if t == "apiKey":
        return f"apiKey({a.get('in')}:{a.get('name')})"
    if t == "cookie":
        return f"cookie({a.get('name')})"
    if t == "jwt" and a.get("issuer"):
        return f"jwt({a['issuer']})"
    return t


def inventory_table(data: dict[str, Any]) -> str:
    """Plain columns per host, sized to their contents."""
    lines: list[str] = []
    for h in data["hosts"]:
        lines.append(f"{h['host']}  ({', '.join(h['schemes'])})  {h['endpointCount']} endpoints")
        header = ["METHOD", "PATH", "COUNT", "STATUS", "P50", "P95", "AUTH", "SENSITIVE", "NOTE"]
        rows = []
        for ep in h["endpoints"]:
            lat = ep["latency"]
            rows.append([
                ep["method"],
                ep["pathTemplate"],
                str(ep["count"]),
                " ".join(f"{c}x{n}" for c, n in ep["statusCodes"].items()),
                f"{lat['p50']:.0f}ms" if lat["p50"] is not None else "-",
                f"{lat['p95']:.0f}ms" if lat["p95"] is not None else "-",
                ",".join(_auth_label(a) for a in ep["auth"]),
                ",".join(sorted({s["kind"] for s in ep["sensitive"]})) or "-",
                "" if ep.get("observedSuccess", True) else "no 2xx seen",
            ])  # fmt: skip
        lines += format_table(rows, header, indent="  ")
        lines.append("")
    e = data["entries"]
    skipped = ", ".join(f"{n} {k}" for k, n in e["skipped"].items()) or "none"
    lines.append(f"{data['endpointCount']} endpoints from {e['used']} of {e['total']} entries (skipped: {skipped})")
    return "\n".join(lines)
