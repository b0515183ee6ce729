"""What changed between two inventories (A = before, B = after): new, removed, changed endpoints.

It works on inventory JSON, so a saved `--json` file diffs as well as a live session.
"""

from __future__ import annotations

from typing import Any

Key = tuple[str, str, str]


def _index(inv: dict[str, Any]) -> dict[Key, dict[str, Any]]:
    return {(h["host"], ep["method"], ep["pathTemplate"]): ep for h in inv["hosts"] for ep in h["endpoints"]}


def _facets(ep: dict[str, Any]) -> dict[str, set[str]]:
    """The parts of an endpoint whose additions or removals matter to a client."""
    p = ep["params"]
    return {
        "statusCodes": set(ep["statusCodes"]),
        "queryParams": {q["name"] for q in p["query"]},
        "requiredQueryParams": {q["name"] for q in p["query"] if q["required"]},
        "headerParams": {q["name"].lower() for q in p["header"]},
        "pathParamTypes": {f"{q['name']}:{q['type']}" for q in p["path"]},
        "requestContentTypes": set(ep["requestContentTypes"]),
        "responseContentTypes": set(ep["responseContentTypes"]),
        "auth": {a["type"] + (f":{a['in']}:{a['name']}" if a.get("name") else "") for a in ep["auth"]},
        "sensitive": {f"{s['kind']} at {s['where']}" for s in ep["sensitive"]},
        "requestFields": set(ep.get("fields", {}).get("request", [])),
        "responseFields": set(ep.get("fields", {}).get("response", [])),
        "observedSuccess": {str(ep.get("observedSuccess", True)).lower()},
    }


def _summary(key: Key, ep: dict[str, Any]) -> dict[str, Any]:
    return {
        "host": key[0],
        "method": key[1],
        "pathTemplate": key[2],
        "count": ep["count"],
        "statusCodes": ep["statusCodes"],
    }


def diff_inventories(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    ia, ib = _index(a), _index(b)
    added = [_summary(k, ib[k]) for k in ib if k not in ia]
    removed = [_summary(k, ia[k]) for k in ia if k not in ib]
    changed = []
    unchanged = 0
    for key in ia.keys() & ib.keys():
        fa, fb = _facets(ia[key]), _facets(ib[key])
        changes = [
            {"field": name, "added": sorted(fb[name] - fa[name]), "removed": sorted(fa[name] - fb[name])}
            for name in fa
            if fa[name] != fb[name]
        ]
        if changes:
            changed.append({**_summary(key, ib[key]), "changes": changes})
        else:
            unchanged += 1
    order = lambda d: (d["host"], d["pathTemplate"], d["method"])  # noqa: E731
    return {
        "a": a.get("source", {}),
        "b": b.get("source", {}),
        "added": sorted(added, key=order),
        "removed": sorted(removed, key=order),
        "changed": sorted(changed, key=order),
        "unchangedCount": unchanged,
    }


def diff_table(d: dict[str, Any]) -> str:
    lines = []
    for label, sign in (("added", "+"), ("removed", "-")):
        for ep in d[label]:
            lines.append(f"{sign} {ep['method']:<7} {ep['host']}{ep['pathTemplate']}")
    for ep in d["changed"]:
        lines.append(f"~ {ep['method']:<7} {ep['host']}{ep['pathTemplate']}")
        for c in ep["changes"]:
            parts = [f"+{x}" for x in c["added"]] + [f"-{x}" for x in c["removed"]]
            lines.append(f"    {c['field']}: {' '.join(parts)}")
    lines.append(
        f"{len(d['added'])} new, {len(d['removed'])} removed, {len(d['changed'])} changed, "
        f"{d['unchangedCount']} unchanged"
    )
    return "\n".join(lines)
