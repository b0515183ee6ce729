"""Compare two entries, or two whole sessions / HAR files, for regressions and timing.

Pure functions over `Entry` (no store, no HTTP), so the API, `necto diff` and replay all give
the same answer. Volatile headers (Date, request ids, ...) and headers that only restate the
body (Content-Length) are ignored by default; JSON bodies are diffed structurally and every
change is named by its JSON path (`$.items[1].price`), which callers can also ignore.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import re
import statistics
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from necto.model import Entry, Header, Timings, header_value

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
DERIVED_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection"}
)
PHASES = ("blocked", "dns", "connect", "ssl", "send", "wait", "receive")
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
MAX_TEXT_DIFF_LINES = 400
DIGEST_BATCH = 200


# ---------------------------------------------------------------------- options
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
            if (s.scheme.lower(), _host_port(s)) != (u.scheme.lower(), _host_port(u)):
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
        return any(_path_matches(p, list(path)) for p in self._patterns)


# ---------------------------------------------------------------------- JSON paths
_TOKEN = re.compile(r'\.\.|\.(\*|[^.\[\]]+)|\[(\*|\d+|"(?:[^"\\]|\\.)*")\]')


def parse_json_path(text: str) -> list[Any]:
    """`$.a.b[0]`, `$.items[*].ts`, `$..ts` -> tokens; ValueError for anything else."""
    t = text.strip()
    if not t.startswith("$"):
        t = "$." + t if not t.startswith("[") else "$" + t
    pos, tokens = 1, []
    while pos < len(t):
        m = _TOKEN.match(t, pos)
        if not m:
            raise ValueError(f"invalid JSON path: {text}")
        if m.group(0) == "..":
            tokens.append(("deep",))
            nxt = re.match(r"(\*|[^.\[\]]+)", t[m.end() :])
            if nxt:  # `$..key` is "key at any depth"
                tokens.append(("key", nxt.group(1)) if nxt.group(1) != "*" else ("any",))
                pos = m.end() + nxt.end()
                continue
        elif m.group(1) is not None:
            tokens.append(("any",) if m.group(1) == "*" else ("key", m.group(1)))
        else:
            g = m.group(2)
            if g == "*":
                tokens.append(("any",))
            elif g.isdigit():
                tokens.append(("index", int(g)))
            else:
                tokens.append(("key", orjson.loads(g)))
        pos = m.end()
    return tokens


def _path_matches(pattern: list[Any], path: list[str | int]) -> bool:
    """Does a concrete path start with (fall under) the pattern?"""
    if not pattern:
        return True
    head, rest = pattern[0], pattern[1:]
    if head[0] == "deep":
        return any(_path_matches(rest, path[i:]) for i in range(len(path) + 1))
    if not path:
        return False
    seg = path[0]
    if head[0] == "any" or (head[0] == "key" and seg == head[1]) or (
        head[0] == "index" and seg == head[1]
    ):
        return _path_matches(rest, path[1:])
    return False


_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")


def format_path(path: Sequence[str | int]) -> str:
    out = "$"
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif _IDENT.match(seg):
            out += "." + seg
        else:
            out += "[" + orjson.dumps(seg).decode() + "]"
    return out


def json_changes(a: Any, b: Any, opts: CompareOptions) -> tuple[list[dict[str, Any]], bool]:
    """Structural differences as `{path, type: added|removed|changed, a, b}`; (changes, capped)."""
    out: list[dict[str, Any]] = []

    def walk(x: Any, y: Any, path: list[str | int]) -> None:
        if len(out) >= opts.max_changes or opts.path_ignored(path):
            return
        if isinstance(x, dict) and isinstance(y, dict):
            for k in [*x, *(k for k in y if k not in x)]:
                sub = [*path, k]
                if k not in y:
                    _add(sub, "removed", x[k], None)
                elif k not in x:
                    _add(sub, "added", None, y[k])
                else:
                    walk(x[k], y[k], sub)
        elif isinstance(x, list) and isinstance(y, list):
            for i in range(max(len(x), len(y))):
                sub = [*path, i]
                if i >= len(y):
                    _add(sub, "removed", x[i], None)
                elif i >= len(x):
                    _add(sub, "added", None, y[i])
                else:
                    walk(x[i], y[i], sub)
        elif type(x) is not type(y) or x != y:  # 1 == True in Python; JSON says otherwise
            _add(path, "changed", x, y)

    def _add(path: list[str | int], kind: str, x: Any, y: Any) -> None:
        if len(out) < opts.max_changes and not opts.path_ignored(path):
            out.append({"path": format_path(path), "type": kind, "a": x, "b": y})

    walk(a, b, [])
    return out, len(out) >= opts.max_changes


# ---------------------------------------------------------------------- bodies
_TEXT_TYPES = ("text/", "xml", "javascript", "ecmascript", "x-www-form-urlencoded", "graphql")


def body_kind(body: bytes | None, content_type: str) -> str:
    """empty | json | text | binary, by content type first and content second."""
    if not body:
        return "empty"
    ct = content_type.lower()
    if "json" in ct or body.lstrip()[:1] in (b"{", b"["):
        try:
            orjson.loads(body)
            return "json"
        except orjson.JSONDecodeError:
            pass
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "binary"
    if any(t in ct for t in _TEXT_TYPES) or b"\x00" not in body:
        return "text"
    return "binary"


def body_facts(body: bytes | None, content_type: str, truncated: bool = False) -> dict[str, Any]:
    data = body or b""
    facts = {
        "kind": body_kind(body, content_type),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    if truncated:
        facts["truncated"] = True
    return facts


def diff_body(
    a: bytes | None,
    a_type: str,
    b: bytes | None,
    b_type: str,
    opts: CompareOptions,
    a_truncated: bool = False,
    b_truncated: bool = False,
) -> dict[str, Any]:
    """JSON: changes by path; text: a unified line diff; binary: only sizes and hashes."""
    fa, fb = body_facts(a, a_type, a_truncated), body_facts(b, b_type, b_truncated)
    out: dict[str, Any] = {"a": fa, "b": fb}
    kind = fa["kind"] if fa["kind"] == fb["kind"] else "mixed"
    out["kind"] = kind
    if kind == "json":
        changes, capped = json_changes(orjson.loads(a or b"null"), orjson.loads(b or b"null"), opts)
        out["changes"] = changes
        if capped:
            out["capped"] = True
        out["identical"] = not changes
    elif kind == "text":
        out["identical"] = fa["sha256"] == fb["sha256"]
        if not out["identical"]:
            lines = list(
                difflib.unified_diff(
                    (a or b"").decode("utf-8").splitlines(),
                    (b or b"").decode("utf-8").splitlines(),
                    "a",
                    "b",
                    lineterm="",
                    n=2,
                )
            )[2:]
            out["lines"] = lines[:MAX_TEXT_DIFF_LINES]
            if len(lines) > MAX_TEXT_DIFF_LINES:
                out["capped"] = True
    else:
        out["identical"] = fa["sha256"] == fb["sha256"]
    return out


# ---------------------------------------------------------------------- headers
def _header_groups(headers: Iterable[Header], opts: CompareOptions) -> dict[str, tuple[str, list[str]]]:
    groups: dict[str, tuple[str, list[str]]] = {}
    for name, value in headers:
        if opts.header_ignored(name):
            continue
        groups.setdefault(name.lower(), (name, []))[1].append(value)
    return groups


def _one(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values


def diff_headers(a: Iterable[Header], b: Iterable[Header], opts: CompareOptions) -> dict[str, list[dict[str, Any]]]:
    """Added / removed / changed header names (case-insensitive; repeats compared as a list)."""
    ga, gb = _header_groups(a, opts), _header_groups(b, opts)
    out: dict[str, list[dict[str, Any]]] = {"added": [], "removed": [], "changed": []}
    for key, (name, values) in ga.items():
        if key not in gb:
            out["removed"].append({"name": name, "value": _one(values)})
        elif gb[key][1] != values:
            out["changed"].append({"name": name, "a": _one(values), "b": _one(gb[key][1])})
    for key, (name, values) in gb.items():
        if key not in ga:
            out["added"].append({"name": name, "value": _one(values)})
    return out


def headers_differ(d: dict[str, list[Any]]) -> bool:
    return bool(d["added"] or d["removed"] or d["changed"])


# ---------------------------------------------------------------------- timings
def _phase(t: Timings, name: str) -> float | None:
    v = t.total if name == "total" else getattr(t, name)
    return None if v < 0 else v


def timing_deltas(a: Timings, b: Timings) -> dict[str, dict[str, float | None]]:
    out = {}
    for name in (*PHASES, "total"):
        va, vb = _phase(a, name), _phase(b, name)
        delta = round(vb - va, 3) if va is not None and vb is not None else None
        out[name] = {"a": va, "b": vb, "delta": delta}
    return out


# ---------------------------------------------------------------------- two entries
def _status(e: Entry) -> int:
    return e.status if e.status is not None else 0


def compare_entries(a: Entry, b: Entry, opts: CompareOptions | None = None) -> dict[str, Any]:
    """Everything a side-by-side view needs: request line, headers, status, bodies, timings."""
    opts = opts or CompareOptions()
    line_changed = [
        f
        for f, x, y in (
            ("method", a.method, b.method),
            ("url", a.url, b.url),
            ("httpVersion", a.http_version, b.http_version),
        )
        if x != y
    ]
    req_h = diff_headers(a.request_headers, b.request_headers, opts)
    resp_h = diff_headers(a.response_headers, b.response_headers, opts)
    req_b = diff_body(
        a.request_body, header_value(a.request_headers, "content-type") or "",
        b.request_body, header_value(b.request_headers, "content-type") or "",
        opts, a.request_truncated, b.request_truncated,
    )  # fmt: skip
    resp_b = diff_body(
        a.response_body, a.content_type, b.response_body, b.content_type,
        opts, a.response_truncated, b.response_truncated,
    )  # fmt: skip
    status_changed = _status(a) != _status(b)
    identical = not (
        line_changed or headers_differ(req_h) or headers_differ(resp_h) or status_changed
        or not req_b["identical"] or not resp_b["identical"]
    )  # fmt: skip
    return {
        "identical": identical,
        "a": {"id": a.id, "sessionId": a.session_id, "error": a.error},
        "b": {"id": b.id, "sessionId": b.session_id, "error": b.error},
        "requestLine": {
            "a": {"method": a.method, "url": a.url, "httpVersion": a.http_version},
            "b": {"method": b.method, "url": b.url, "httpVersion": b.http_version},
            "changed": line_changed,
        },
        "requestHeaders": req_h,
        "requestBody": req_b,
        "status": {"a": _status(a), "b": _status(b), "changed": status_changed},
        "responseHeaders": resp_h,
        "responseBody": resp_b,
        "timings": timing_deltas(a.timings, b.timings),
    }


def replay_comparison(original: Entry, replayed: Entry, opts: CompareOptions | None = None) -> dict[str, Any]:
    """The short form a replay answers with: a flat list of what changed in the response."""
    opts = opts or CompareOptions()
    changes: list[dict[str, Any]] = []
    if _status(original) != _status(replayed):
        changes.append({"type": "status", "field": "status", "original": _status(original), "replayed": _status(replayed)})
    h = diff_headers(original.response_headers, replayed.response_headers, opts)
    for x in h["removed"]:
        changes.append({"type": "header", "field": x["name"].lower(), "original": x["value"], "replayed": None})
    for x in h["added"]:
        changes.append({"type": "header", "field": x["name"].lower(), "original": None, "replayed": x["value"]})
    for x in h["changed"]:
        changes.append({"type": "header", "field": x["name"].lower(), "original": x["a"], "replayed": x["b"]})
    body = diff_body(
        original.response_body, original.content_type, replayed.response_body, replayed.content_type,
        opts, original.response_truncated, replayed.response_truncated,
    )  # fmt: skip
    if body["a"]["size"] != body["b"]["size"]:
        changes.append({"type": "body_size", "field": "size", "original": body["a"]["size"], "replayed": body["b"]["size"]})
    if not body["identical"]:
        if body["kind"] == "json":
            for c in body["changes"]:
                changes.append({"type": "body", "field": c["path"], "original": c["a"], "replayed": c["b"]})
        else:
            changes.append({"type": "body", "field": "sha256", "original": body["a"]["sha256"], "replayed": body["b"]["sha256"]})
    return {
        "identical": not changes,
        "changes": changes,
        "originalDuration": original.duration,
        "replayDuration": replayed.duration,
    }  # fmt: skip


# ---------------------------------------------------------------------- URL identity
def _host_port(u: Any) -> tuple[str, int | None]:
    host = (u.hostname or "").lower()
    try:
        port = u.port
    except ValueError:
        port = None
    return host, port if port is not None else DEFAULT_PORTS.get(u.scheme.lower())


def pairing_key(url: str, ignore_host: bool) -> tuple[str, str]:
    """(endpoint, query): scheme/host lower-cased, default port dropped, query params sorted."""
    u = urlsplit(url)
    host, port = _host_port(u)
    origin = ""
    if not ignore_host:
        scheme = u.scheme.lower()
        origin = f"{scheme}://{host}" + (f":{port}" if port != DEFAULT_PORTS.get(scheme) else "")
    query = urlencode(sorted(parse_qsl(u.query, keep_blank_values=True)))
    return origin + (u.path or "/"), query


# ---------------------------------------------------------------------- two sessions
@dataclass(slots=True)
class Digest:
    """What a session diff keeps of one entry; the bodies are fetched again only if they differ."""

    id: str
    method: str
    url: str
    endpoint: str  # method + normalized origin/path, no query: the timing table's row
    label: str  # method + this entry's own URL without query, for people
    key: str  # endpoint + sorted query: the pairing key
    status: int
    error: str | None
    response_headers: list[Header]
    body_sha256: str
    body_size: int
    timings: Timings


def digest(e: Entry, opts: CompareOptions, side_a: bool) -> Digest:
    url = rewrite_url(e.url, opts.rewrites) if side_a and opts.rewrites else e.url
    endpoint, query = pairing_key(url, opts.ignore_host)
    method = e.method.upper()
    return Digest(
        id=e.id,
        method=method,
        url=e.url,
        endpoint=f"{method} {endpoint}",
        label=f"{method} {e.url.split('?', 1)[0].split('#', 1)[0]}",
        key=f"{method} {endpoint}" + (f"?{query}" if query else ""),
        status=_status(e),
        error=e.error,
        response_headers=e.response_headers,
        body_sha256=hashlib.sha256(e.response_body or b"").hexdigest(),
        body_size=len(e.response_body or b""),
        timings=e.timings,
    )


async def digest_all(entries: AsyncIterator[Entry], opts: CompareOptions, side_a: bool) -> list[Digest]:
    """Digest a stream of entries in batches, hashing off the event loop."""
    out: list[Digest] = []
    batch: list[Entry] = []

    def run(items: list[Entry]) -> list[Digest]:
        return [digest(e, opts, side_a) for e in items if e.websocket is None]

    async for e in entries:
        batch.append(e)
        if len(batch) >= DIGEST_BATCH:
            out += await asyncio.to_thread(run, batch)
            batch = []
    if batch:
        out += await asyncio.to_thread(run, batch)
    return out


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _phase_medians(ds: list[Digest]) -> dict[str, float | None]:
    out = {}
    for name in (*PHASES, "total"):
        out[name] = _median([v for d in ds if (v := _phase(d.timings, name)) is not None])
    return out


def timing_table(a: list[Digest], b: list[Digest], opts: CompareOptions) -> list[dict[str, Any]]:
    """Median total and per-phase time per endpoint, A vs B; flagged past both thresholds."""
    ends: dict[str, tuple[list[Digest], list[Digest]]] = {}
    for d in a:
        ends.setdefault(d.endpoint, ([], []))[0].append(d)
    for d in b:
        ends.setdefault(d.endpoint, ([], []))[1].append(d)
    rows = []
    for endpoint, (da, db) in ends.items():
        ma, mb = _phase_medians(da), _phase_medians(db)
        ta, tb = ma["total"], mb["total"]
        delta = round(tb - ta, 3) if ta is not None and tb is not None else None
        pct = round(delta / ta * 100, 1) if delta is not None and ta else None
        flagged = (
            delta is not None
            and abs(delta) >= opts.threshold_ms
            and (pct is None or abs(pct) >= opts.threshold_pct)
        )
        rows.append(
            {
                "endpoint": (da or db)[0].label,
                "count": {"a": len(da), "b": len(db)},
                "a": ma,
                "b": mb,
                "delta": delta,
                "deltaPct": pct,
                "flagged": flagged,
            }
        )
    return rows


Fetch = Callable[[Sequence[str]], Awaitable[list[Entry]]]


def _brief(d: Digest, occurrence: int) -> dict[str, Any]:
    return {"id": d.id, "method": d.method, "url": d.url, "status": d.status, "occurrence": occurrence}


async def diff_sessions(
    a: list[Digest],
    b: list[Digest],
    fetch_a: Fetch,
    fetch_b: Fetch,
    opts: CompareOptions,
    labels: tuple[str, str] = ("A", "B"),
) -> dict[str, Any]:
    """Pair by method + URL (query order-insensitive) + occurrence; report what differs."""
    groups_a: dict[str, list[Digest]] = {}
    groups_b: dict[str, list[Digest]] = {}
    for d in a:
        groups_a.setdefault(d.key, []).append(d)
    for d in b:
        groups_b.setdefault(d.key, []).append(d)
    only_a, only_b, pairs = [], [], []
    for key, das in groups_a.items():
        dbs = groups_b.get(key, [])
        for i, da in enumerate(das):
            if i < len(dbs):
                pairs.append((da, dbs[i], i))
            else:
                only_a.append(_brief(da, i))
    for key, dbs in groups_b.items():
        n = len(groups_a.get(key, []))
        only_b += [_brief(db, i) for i, db in enumerate(dbs) if i >= n]

    changes: list[dict[str, Any]] = []
    body_suspects: list[tuple[dict[str, Any], Digest, Digest]] = []
    for da, db, occ in pairs:
        item: dict[str, Any] = {
            "method": da.method, "url": da.url, "urlB": db.url, "occurrence": occ,
            "aId": da.id, "bId": db.id,
        }  # fmt: skip
        if da.status != db.status:
            item["status"] = {"a": da.status, "b": db.status}
            if da.error or db.error:
                item["error"] = {"a": da.error, "b": db.error}
        h = diff_headers(da.response_headers, db.response_headers, opts)
        if headers_differ(h):
            item["headers"] = h
        if da.body_sha256 != db.body_sha256:
            body_suspects.append((item, da, db))
        changes.append(item)
    await _fill_body_diffs(body_suspects, fetch_a, fetch_b, opts)
    changes = [c for c in changes if {"status", "headers", "body"} & c.keys()]
    timing = timing_table(a, b, opts)
    summary = {
        "paired": len(pairs),
        "onlyInA": len(only_a),
        "onlyInB": len(only_b),
        "statusChanges": sum("status" in c for c in changes),
        "headerChanges": sum("headers" in c for c in changes),
        "bodyChanges": sum("body" in c for c in changes),
        "timingFlags": sum(r["flagged"] for r in timing),
    }
    return {
        "identical": not (only_a or only_b or changes or summary["timingFlags"]),
        "a": {"label": labels[0], "count": len(a)},
        "b": {"label": labels[1], "count": len(b)},
        "summary": summary,
        "onlyInA": only_a,
        "onlyInB": only_b,
        "changes": changes,
        "timing": timing,
        "options": {
            "ignoreVolatile": opts.ignore_volatile,
            "ignoreHeaders": sorted(opts.ignore_headers),
            "ignorePaths": opts.ignore_paths,
            "ignoreHost": opts.ignore_host,
            "thresholdMs": opts.threshold_ms,
            "thresholdPct": opts.threshold_pct,
        },
    }


async def _fill_body_diffs(
    suspects: list[tuple[dict[str, Any], Digest, Digest]], fetch_a: Fetch, fetch_b: Fetch, opts: CompareOptions
) -> None:
    """Bodies whose hashes differ are loaded again (a chunk at a time) and diffed off the loop."""
    for i in range(0, len(suspects), DIGEST_BATCH):
        chunk = suspects[i : i + DIGEST_BATCH]
        ea = {e.id: e for e in await fetch_a([da.id for _, da, _ in chunk])}
        eb = {e.id: e for e in await fetch_b([db.id for _, _, db in chunk])}

        def run() -> None:
            for item, da, db in chunk:
                x, y = ea.get(da.id), eb.get(db.id)
                if x is None or y is None:
                    continue
                body = diff_body(
                    x.response_body, x.content_type, y.response_body, y.content_type,
                    opts, x.response_truncated, y.response_truncated,
                )  # fmt: skip
                if not body["identical"]:
                    item["body"] = body

        await asyncio.to_thread(run)


async def compare_sources(
    a: AsyncIterator[Entry],
    b: AsyncIterator[Entry],
    fetch_a: Fetch,
    fetch_b: Fetch,
    opts: CompareOptions,
    labels: tuple[str, str] = ("A", "B"),
) -> dict[str, Any]:
    """Session/HAR diff from two entry streams (store sessions or loaded HAR files)."""
    da = await digest_all(a, opts, side_a=True)
    db = await digest_all(b, opts, side_a=False)
    return await diff_sessions(da, db, fetch_a, fetch_b, opts, labels)


def list_fetcher(entries: Sequence[Entry]) -> Fetch:
    """A fetch for entries already in memory (a loaded HAR file)."""
    by_id = {e.id: e for e in entries}

    async def fetch(ids: Sequence[str]) -> list[Entry]:
        return [by_id[i] for i in ids if i in by_id]

    return fetch


async def iterate(entries: Sequence[Entry]) -> AsyncIterator[Entry]:
    for e in sorted(entries, key=lambda e: e.started):
        yield e
