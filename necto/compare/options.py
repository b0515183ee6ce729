"""What a comparison ignores and when a timing change counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from necto.jsonpath import parse_json_path, path_matches
from necto.rewrite import HostRewrite

# Headers that change on every response (or request) without meaning anything changed.
VOLATILE_HEADERS = frozenset(
    {
        "date", "set-cookie", "expires", "last-modified", "etag", "age", "x-request-id",
        "request-id", "x-correlation-id", "x-trace-id", "traceparent", "tracestate", "cf-ray",
        "x-amz-request-id", "x-amzn-requestid", "x-amzn-trace-id", "x-amz-cf-id",
        "server-timing", "x-runtime", "x-response-time", "report-to", "nel", "x-necto-replay",
    }
)  # fmt: skip


# Headers that restate the body or the connection; the body diff reports the real change.
DERIVED_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection"})


@dataclass
class CompareOptions:
    ignore_headers: frozenset[str] = frozenset()  # lower-case names, on top of the defaults
    ignore_volatile: bool = True
    ignore_paths: list[str] = field(default_factory=list)  # JSON paths, `*` and `$..key` allowed
    threshold_ms: float = 100.0  # timing change flagged when above both thresholds
    threshold_pct: float = 50.0
    ignore_host: bool = False  # pair sessions by method + path + query only
    rewrites: list[HostRewrite] = field(default_factory=list)  # applied to side A when pairing
    max_changes: int = 200  # per body

    def __post_init__(self) -> None:
        self._patterns = [parse_json_path(p) for p in self.ignore_paths]

    def header_ignored(self, name: str) -> bool:
        n = name.lower()
        if n.startswith(":") or n in self.ignore_headers:
            return True
        return self.ignore_volatile and (n in VOLATILE_HEADERS or n in DERIVED_HEADERS)

    def path_ignored(self, path: Sequence[str | int]) -> bool:
        return any(path_matches(p, list(path)) for p in self._patterns)
