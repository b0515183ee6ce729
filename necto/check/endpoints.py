"""The endpoints two inventories are compared by, and the facts compared per endpoint.

Each side's inventory is built on its own (the same inventory `necto inventory` shows). The
two are then lined up by (host, method, path template). Templating is evidence-based, so a
run with fewer samples can keep `/repos/torvalds` literal where the other made
`/repos/{repoId}`: such a weakly literal endpoint is folded into the other side's template
(never one kept literal on purpose, like `/users/me` beside `/users/{userId}`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from necto.inventory.model import Endpoint, EndpointStats, host_key
from necto.inventory.report import auth_json
from necto.inventory.schema import SchemaNode
from necto.inventory.templating import never_templated, split_path
from necto.model import Entry
from necto.rewrite import HostRewrite, rewrite_url

WEAK_LITERAL_RULES = frozenset({"not-enough-evidence"})
MAX_FIELDS = 2000
MAX_DEPTH = 32

Key = tuple[str, str, str]  # (host or "" when hosts are ignored, METHOD, /path/{template})


def is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def segments(template: str) -> list[str]:
    return [s for s in template.strip("/").split("/")] if template.strip("/") else []


@dataclass
class Group:
    """One endpoint of one side: the inventory endpoints that map to its key, merged."""

    key: Key
    parts: list[Endpoint] = field(default_factory=list)
    _stats: EndpointStats | None = None

    @property
    def stats(self) -> EndpointStats:
        if self._stats is None:
            self._stats = (
                self.parts[0].stats if len(self.parts) == 1 else EndpointStats.combine([p.stats for p in self.parts])
            )
        return self._stats


def side_host(ep: Endpoint, ignore_host: bool, rewrites: list[HostRewrite]) -> str:
    """The host an endpoint is compared under: rewritten (baseline side), or none at all."""
    if ignore_host:
        return ""
    if rewrites:
        for scheme in ep.schemes:
            moved = rewrite_url(f"{scheme}://{ep.host}/", rewrites)
            if moved != f"{scheme}://{ep.host}/":
                return host_key(moved)[1]
    return ep.host


def group_endpoints(endpoints: Iterable[Endpoint], ignore_host: bool, rewrites: list[HostRewrite]) -> dict[Key, Group]:
    groups: dict[Key, Group] = {}
    for ep in endpoints:
        key = (side_host(ep, ignore_host, rewrites), ep.method, ep.template)
        groups.setdefault(key, Group(key)).parts.append(ep)
    return groups


def _weak_literals(group: Group) -> set[int]:
    """Positions whose literal segment was kept for want of evidence, in every part."""
    weak: set[int] | None = None
    for ep in group.parts:
        notes = {n.position: n.rule for n in ep.literals}
        segs = segments(ep.template)
        mine = {
            i for i, s in enumerate(segs)
            if i > 0 and not is_param(s) and not never_templated(s) and notes.get(i, "not-enough-evidence") in WEAK_LITERAL_RULES
        }  # fmt: skip
        weak = mine if weak is None else weak & mine
    return weak or set()


def _generalises(general: Key, specific: Key, weak: set[int]) -> bool:
    """Does `general` stand for `specific` (a parameter where it has a weak literal)?"""
    if general[:2] != specific[:2] or general == specific:
        return False
    g, s = segments(general[2]), segments(specific[2])
    if len(g) != len(s):
        return False
    widened = False
    for i, (a, b) in enumerate(zip(g, s, strict=True)):
        if a == b:
            continue
        if is_param(a) and not is_param(b) and i in weak:
            widened = True
            continue
        return False
    return widened


def reconcile(base: dict[Key, Group], cur: dict[Key, Group]) -> None:
    """Fold each side's weakly literal endpoints into the other side's template, in place,
    when that side has no such template itself."""
    for mine, other in ((base, cur), (cur, base)):
        for key in [k for k in mine if k not in other]:
            group = mine[key]
            weak = _weak_literals(group)
            if not weak:
                continue
            target = next((k for k in other if k not in mine and _generalises(k, key, weak)), None)
            if target is None:
                continue
            del mine[key]
            merged = mine.setdefault(target, Group(target))
            merged.parts += group.parts
            merged._stats = None


class UrlIndex:
    """Which endpoint a URL belongs to: its side's templates, the most literal match."""

    def __init__(self, groups: dict[Key, Group], ignore_host: bool, rewrites: list[HostRewrite]) -> None:
        self.ignore_host = ignore_host
        self.rewrites = rewrites
        self.by: dict[tuple[str, str, int], list[tuple[list[str], Key]]] = {}
        for key, group in groups.items():
            for ep in group.parts:
                segs = segments(ep.template)
                self.by.setdefault((key[0], key[1], len(segs)), []).append((segs, key))

    def find(self, method: str, url: str) -> Key | None:
        moved = rewrite_url(url, self.rewrites) if self.rewrites else url
        host = "" if self.ignore_host else host_key(moved)[1]
        segs = split_path(urlsplit(moved).path or "/")
        best: tuple[int, Key] | None = None
        for template, key in self.by.get((host, method.upper(), len(segs)), []):
            literal = 0
            for t, s in zip(template, segs, strict=True):
                if t == s:
                    literal += 1
                elif not is_param(t):
                    break
            else:
                if best is None or literal > best[0]:
                    best = (literal, key)
        return best[1] if best else None


# ---------------------------------------------------------------- facts per endpoint
def _json_types(node: SchemaNode) -> frozenset[str]:
    return frozenset(node.types)


def field_types(stats: EndpointStats) -> dict[str, frozenset[str]] | None:
    """JSON path -> types seen, over the 2xx JSON response schemas; None without any."""
    nodes = [
        node for (status, mime), node in stats.response_schemas.items()
        if 200 <= status < 300 and stats.response_kinds.get((status, mime)) == "json"
    ]  # fmt: skip
    if not nodes:
        return None
    out: dict[str, set[str]] = {}
    stack: list[tuple[SchemaNode, str, int]] = [(n, "$", 0) for n in nodes]
    while stack and len(out) < MAX_FIELDS:
        node, path, depth = stack.pop()
        out.setdefault(path, set()).update(_json_types(node))
        if depth >= MAX_DEPTH:
            continue
        for key, child in node.props.items():
            stack.append((child, f"{path}.{key}", depth + 1))
        if node.items is not None:
            stack.append((node.items, path + "[*]", depth + 1))
    return {k: frozenset(v) for k, v in out.items()}


def auth_kinds(stats: EndpointStats) -> tuple[set[str], bool]:
    """(auth schemes seen, whether some requests carried none)."""
    kinds: set[str] = set()
    unauthenticated = False
    for a in auth_json(stats):
        if a["type"] == "none":
            unauthenticated = True
        else:
            name = a.get("name")
            kinds.add(a["type"] + (f" ({a.get('in')} {name})" if name and a["type"] in ("apiKey", "cookie") else ""))
    return kinds, unauthenticated


def response_sensitive(stats: EndpointStats) -> set[tuple[str, str]]:
    """(kind, where) of sensitive data found in responses."""
    return {(kind, where) for (kind, where) in stats.sensitive if where.startswith("response.")}


# ---------------------------------------------------------------- redacted baselines
# A value each kind's detector recognises: a baseline HAR written with --redact holds
# `[REDACTED:email]` where the email was, and must still count as having had an email there.
KIND_SAMPLES = {
    "private_key": "-----BEGIN PRIVATE KEY----- MIIBVQ== -----END PRIVATE KEY-----",
    "jwt": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJuZWN0byJ9.c2ln",
    "aws_access_key": "AKIAABCDEFGHIJKLMNOP",
    "google_api_key": "AIza" + "A" * 35,
    "github_token": "ghp_" + "a1" * 18,
    "slack_token": "xoxb-1234567890-abcdef",
    "stripe_key": "sk_test_" + "a1B2" * 5,
    "email": "redacted@example.com",
    "credit_card": "4111 1111 1111 1111",
    "ssn": "123-45-6789",
    "phone": "+1 202 555 0143",
    "private_ip": "10.0.0.1",
}
_MASK = re.compile(rb"\[REDACTED:([a-z_]+)\]")


def _unmask_bytes(data: bytes) -> bytes:
    def sub(m: re.Match[bytes]) -> bytes:
        sample = KIND_SAMPLES.get(m.group(1).decode("ascii"))
        return sample.encode("ascii") if sample else m.group(0)

    return _MASK.sub(sub, data)


def unmask(e: Entry) -> Entry:
    """The entry with redaction masks in its response replaced by values of their kind."""
    if e.response_body and b"[REDACTED:" in e.response_body:
        e.response_body = _unmask_bytes(e.response_body)
    if any("[REDACTED:" in v for _, v in e.response_headers):
        e.response_headers = [
            (n, _unmask_bytes(v.encode()).decode() if "[REDACTED:" in v else v) for n, v in e.response_headers
        ]
    return e


async def unmasked(entries: AsyncIterator[Entry]) -> AsyncIterator[Entry]:
    async for e in entries:
        yield unmask(e)


def describe(key: Key) -> str:
    host, method, path = key
    return f"{method} {host}{path}"


def brief_stats(stats: EndpointStats) -> dict[str, Any]:
    return {
        "count": stats.count,
        "statusCodes": {str(k): v for k, v in sorted(stats.statuses.items())},
        "p95": stats.latency.percentile(95),
    }
