"""Origin rewrites shared by replay (send prod's requests to staging) and compare (pair them).

A rewrite `{"from": origin[/prefix], "to": origin[/prefix]}` swaps scheme, host, port and a
path prefix; an empty `from` matches every origin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from necto.vocab import DEFAULT_PORTS


@dataclass(slots=True)
class HostRewrite:
    """Send (or pair) `from` origin's requests to `to`: replay prod traffic against staging.

    An empty `source` matches every origin. A path on either side is a prefix to swap.
    """

    source: str
    target: str

    def apply(self, url: str) -> str | None:
        """The rewritten URL, or None when this rule does not match."""
        u, t = urlsplit(url), urlsplit(self.target)
        prefix = ""
        if self.source:
            s = urlsplit(self.source)
            if (s.scheme.lower(), host_port(s)) != (u.scheme.lower(), host_port(u)):
                return None
            prefix = s.path.rstrip("/")
            if prefix and not (u.path == prefix or u.path.startswith(prefix + "/")):
                return None
        rest = u.path[len(prefix) :]
        path = t.path.rstrip("/") + rest if t.path.rstrip("/") else rest or "/"
        return urlunsplit((t.scheme, t.netloc, path or "/", u.query, ""))


def parse_rewrites(value: Any) -> list[HostRewrite]:
    """`{"from", "to"}` or a list of them (API and CLI); ValueError says what is wrong."""
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("to"), str):
            raise ValueError('hostRewrite must be {"from": URL, "to": URL} or a list of them')
        src = item.get("from") or ""
        if not isinstance(src, str):
            raise ValueError("hostRewrite.from must be a URL")
        for u in (src, item["to"]) if src else (item["to"],):
            p = urlsplit(u)
            if p.scheme not in ("http", "https") or not p.netloc:
                raise ValueError(f"hostRewrite URL must be absolute http(s): {u}")
        out.append(HostRewrite(src, item["to"]))
    return out


def rewrite_url(url: str, rewrites: Sequence[HostRewrite]) -> str:
    """The first matching rule wins; no match leaves the URL alone."""
    for r in rewrites:
        new = r.apply(url)
        if new is not None:
            return new
    return url


def host_port(u: SplitResult) -> tuple[str, int | None]:
    host = (u.hostname or "").lower()
    try:
        port = u.port
    except ValueError:
        port = None
    return host, port if port is not None else DEFAULT_PORTS.get(u.scheme.lower())
