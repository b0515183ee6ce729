"""Host patterns of the connectivity settings, one reading each, as NectoProxy documents them.

- DNS mappings and SSL passthrough (`domain`): an exact name, or labels with `*` wildcards
  where each `*` stands for exactly one label: `*.example.com` matches `api.example.com`, not
  `example.com` nor `a.b.example.com` (use `*.*.example.com` for two levels).
- Upstream-proxy bypass rules: an exact name or IP, `*.domain` for the domain's subdomains at
  any depth (as proxy bypass lists are read everywhere), or an IP prefix such as `10.*`.

Hosts are compared in canonical form (necto.addresses): lower case, no trailing dot.
"""

from __future__ import annotations

import re

from necto.addresses import clean_host, normalize_host, parse_ip

MAX_PATTERN = 253
_LABEL = re.compile(r"^(\*|[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)$")


def check_domain(pattern: str) -> str | None:
    """The pattern in canonical form, or None if it is not a name, IP or label wildcard."""
    p = clean_host(pattern)
    if not p or len(p) > MAX_PATTERN:
        return None
    ip = parse_ip(p)
    if ip is not None:
        return str(ip)
    return p if all(_LABEL.match(label) for label in p.split(".")) else None


def domain_regex(pattern: str) -> str:
    """A regular expression (no anchors) for the host names a domain pattern matches."""
    return r"\.".join("[^.:]+" if label == "*" else re.escape(label) for label in pattern.split("."))


class DomainPatterns:
    """Domain patterns with their values: exact names first, then wildcards, most labels first."""

    def __init__(self, items: list[tuple[str, object]]) -> None:
        self._exact: dict[str, object] = {}
        self._wild: list[tuple[re.Pattern[str], object]] = []
        for pattern, value in items:
            if "*" in pattern:
                self._wild.append((re.compile(domain_regex(pattern)), value))
            else:
                self._exact.setdefault(pattern, value)
        self._wild.sort(key=lambda w: -w[0].pattern.count(r"\."))

    def __bool__(self) -> bool:
        return bool(self._exact or self._wild)

    def lookup(self, host: str) -> object | None:
        h = normalize_host(host)
        if h in self._exact:
            return self._exact[h]
        for rx, value in self._wild:
            if rx.fullmatch(h):
                return value
        return None


def bypass_matches(rule: str, host: str) -> bool:
    """Does an upstream-proxy bypass rule cover `host`?"""
    r = rule.strip().lower().rstrip(".")
    h = normalize_host(host)
    if not r:
        return False
    if r == "*":
        return True
    if r.startswith("*."):
        return h.endswith(r[1:])
    if r.endswith(".*"):  # IP prefix: 10.* or 192.168.*
        return h.startswith(r[:-1])
    return h == normalize_host(r)
