"""`necto check` itself: two traffic sources in, findings per endpoint out.

Inventories (necto.inventory) give the endpoints, their merged response schemas, auth,
sensitive data and p95 latency; the session diff (necto.compare) pairs the individual
exchanges for status changes. Nothing here infers a schema or pairs an entry itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from necto.check.endpoints import (
    Group,
    Key,
    UrlIndex,
    auth_kinds,
    brief_stats,
    describe,
    field_types,
    group_endpoints,
    reconcile,
    response_sensitive,
    unmasked,
)
from necto.check.rules import CheckRules
from necto.compare import CompareOptions, Fetch, compare_sources
from necto.inventory import build_inventory
from necto.model import Entry


@dataclass
class Side:
    """One side of a check: a session or a HAR file, readable more than once."""

    label: str
    entries: Callable[[], AsyncIterator[Entry]]
    fetch: Fetch
    source: dict[str, Any]


def _finding(kind: str, rules: CheckRules, message: str, /, **detail: Any) -> dict[str, Any]:
    return {"kind": kind, "level": rules.level(kind), "message": message, **({"detail": detail} if detail else {})}


def _types(t: frozenset[str]) -> str:
    return "|".join(sorted(t)) or "unknown"


def _widened(before: frozenset[str], after: frozenset[str]) -> bool:
    """A type seen now that was not before (an integer is also a number)."""
    extra = set(after) - set(before)
    if "integer" in extra and "number" in before:
        extra.discard("integer")
    return bool(extra)


def _parent(path: str) -> str:
    if path.endswith("[*]"):
        return path[:-3]
    cut = path.rfind(".")
    return path[:cut] if cut > 0 else "$"


def schema_findings(base: Group, cur: Group, rules: CheckRules) -> list[dict[str, Any]]:
    a, b = field_types(base.stats), field_types(cur.stats)
    if a is None or b is None:
        return []  # nothing to compare: one side never had a 2xx JSON answer (its status says why)
    out = []
    for path in sorted(a.keys() - b.keys()):
        if _parent(path) in b and not rules.field_ignored(path):
            out.append(
                _finding("field-removed", rules, f"response field {path} removed", field=path, type=_types(a[path]))
            )
    for path in sorted(b.keys() - a.keys()):
        if _parent(path) in a and not rules.field_ignored(path):
            out.append(_finding("field-added", rules, f"response field {path} added", field=path, type=_types(b[path])))
    for path in sorted(a.keys() & b.keys()):
        if _widened(a[path], b[path]) and not rules.field_ignored(path):
            msg = f"response field {path} retyped {_types(a[path])} -> {_types(b[path])}"
            out.append(_finding("field-retyped", rules, msg, field=path, before=_types(a[path]), after=_types(b[path])))
    return out


def auth_findings(base: Group, cur: Group, rules: CheckRules) -> list[dict[str, Any]]:
    ka, none_a = auth_kinds(base.stats)
    kb, none_b = auth_kinds(cur.stats)
    out = []
    new = kb - ka
    if new or (none_a and not none_b and kb):
        required = ", ".join(sorted(new or kb))
        before = ", ".join(sorted(ka | ({"none"} if none_a else set()))) or "none"
        out.append(
            _finding(
                "auth-added",
                rules,
                f"now requires {required} (baseline: {before})",
                now=sorted(kb),
                baseline=sorted(ka),
            )
        )
    elif ka and not kb and none_b:
        out.append(_finding("auth-removed", rules, f"no longer sends {', '.join(sorted(ka))}", baseline=sorted(ka)))
    return out


def sensitive_findings(base: Group, cur: Group, rules: CheckRules) -> list[dict[str, Any]]:
    known = response_sensitive(base.stats)
    out = []
    for kind, where in sorted(response_sensitive(cur.stats) - known):
        path = where.split(" ", 1)[1] if " " in where else ""
        if path.startswith("$") and rules.field_ignored(path):
            continue
        out.append(_finding("sensitive-added", rules, f"new sensitive data: {kind} at {where}", kind=kind, where=where))
    return out


def latency_findings(base: Group, cur: Group, rules: CheckRules) -> list[dict[str, Any]]:
    sa, sb = base.stats, cur.stats
    pa, pb = sa.latency.percentile(95), sb.latency.percentile(95)
    if pa is None or pb is None or min(sa.latency.seen, sb.latency.seen) < rules.min_samples:
        return []
    delta = pb - pa
    pct = delta / pa * 100 if pa > 0 else None
    if delta < rules.latency_ms or (pct is not None and pct < rules.latency_pct):
        return []
    msg = f"p95 latency {pa:.0f} ms -> {pb:.0f} ms (+{delta:.0f} ms" + (f", +{pct:.0f}%)" if pct is not None else ")")
    return [_finding("latency-regression", rules, msg, p95Before=pa, p95After=pb, deltaMs=round(delta, 3))]


def status_findings(
    key: Key, pairs: dict[Key, dict[tuple[int, int], int]], base: Group, cur: Group, rules: CheckRules
) -> list[dict[str, Any]]:
    """Paired exchanges whose status changed, and status codes never seen in the baseline."""
    out = []
    changed = pairs.get(key, {})
    for (sa, sb), n in sorted(changed.items()):
        msg = f"status {_status(sa)} -> {_status(sb)} ({n} paired request{'s' if n != 1 else ''})"
        out.append(_finding("status-changed", rules, msg, before=sa, after=sb, count=n))
    explained = {sb for (_, sb) in changed}
    for status in sorted(set(cur.stats.statuses) - set(base.stats.statuses) - explained):
        n = cur.stats.statuses[status]
        out.append(
            _finding(
                "status-changed",
                rules,
                f"new status {_status(status)} ({n}x, never in the baseline)",
                after=status,
                count=n,
            )
        )
    return out


def _status(code: int) -> str:
    return str(code) if code else "no response"


async def _inventory(side: Side, rules: CheckRules) -> Any:
    return await build_inventory(unmasked(side.entries()), include_static=rules.include_static, source=side.source)


async def run_check(base: Side, cur: Side, rules: CheckRules) -> dict[str, Any]:
    """Compare `cur` with `base` under `rules`; the result is what every output renders."""
    inv_a = await _inventory(base, rules)
    inv_b = await _inventory(cur, rules)
    ga = group_endpoints(inv_a.endpoints, rules.ignore_host, rules.rewrites)
    gb = group_endpoints(inv_b.endpoints, rules.ignore_host, [])
    reconcile(ga, gb)
    opts = CompareOptions(ignore_host=rules.ignore_host, rewrites=rules.rewrites)
    diff = await compare_sources(base.entries(), cur.entries(), base.fetch, cur.fetch, opts, (base.label, cur.label))
    index = UrlIndex(ga, rules.ignore_host, rules.rewrites)
    pairs: dict[Key, dict[tuple[int, int], int]] = {}
    for change in diff["changes"]:
        if "status" in change:
            key = index.find(change["method"], change["url"])
            if key is not None:
                move = (change["status"]["a"], change["status"]["b"])
                bucket = pairs.setdefault(key, {})
                bucket[move] = bucket.get(move, 0) + 1
    endpoints = await asyncio.to_thread(_compare_groups, ga, gb, pairs, rules)
    return _result(base, cur, rules, endpoints, diff)


def _compare_groups(
    ga: dict[Key, Group], gb: dict[Key, Group], pairs: dict[Key, dict[tuple[int, int], int]], rules: CheckRules
) -> list[dict[str, Any]]:
    out = []
    for key in sorted(ga.keys() | gb.keys(), key=lambda k: (k[0], k[2], k[1])):
        host, method, path = key
        if rules.endpoint_ignored(method, host, path):
            continue
        a, b = ga.get(key), gb.get(key)
        item: dict[str, Any] = {"endpoint": describe(key), "host": host, "method": method, "path": path}
        if a is None:
            assert b is not None
            item |= {"change": "added", "current": brief_stats(b.stats)}
            item["findings"] = [_finding("endpoint-added", rules, f"new endpoint ({b.stats.count} requests)")]
        elif b is None:
            item |= {"change": "removed", "baseline": brief_stats(a.stats)}
            item["findings"] = [
                _finding(
                    "endpoint-removed", rules, f"endpoint no longer called ({a.stats.count} requests in the baseline)"
                )
            ]
        else:
            item |= {"baseline": brief_stats(a.stats), "current": brief_stats(b.stats)}
            item["findings"] = (
                status_findings(key, pairs, a, b, rules)
                + schema_findings(a, b, rules)
                + auth_findings(a, b, rules)
                + sensitive_findings(a, b, rules)
                + latency_findings(a, b, rules)
            )
            item["change"] = "changed" if item["findings"] else "unchanged"
        item["findings"] = [f for f in item["findings"] if f["level"] != "ignore"]
        item["verdict"] = _verdict(item["findings"])
        out.append(item)
    return out


def _verdict(findings: list[dict[str, Any]]) -> str:
    levels = {f["level"] for f in findings}
    return next((lv for lv in ("fail", "warn", "note") if lv in levels), "pass")


def _result(
    base: Side, cur: Side, rules: CheckRules, endpoints: list[dict[str, Any]], diff: dict[str, Any]
) -> dict[str, Any]:
    counts = {
        lv: sum(1 for ep in endpoints for f in ep["findings"] if f["level"] == lv) for lv in ("fail", "warn", "note")
    }
    return {
        "verdict": "fail" if counts["fail"] else "pass",
        "baseline": {"label": base.label, **base.source, "entries": diff["a"]["count"]},
        "current": {"label": cur.label, **cur.source, "entries": diff["b"]["count"]},
        "summary": {
            "endpoints": len(endpoints),
            "changed": sum(1 for ep in endpoints if ep["findings"]),
            "failures": counts["fail"],
            "warnings": counts["warn"],
            "notes": counts["note"],
            "pairedRequests": diff["summary"]["paired"],
        },
        "endpoints": endpoints,
        "rules": rules.as_json(),
    }
