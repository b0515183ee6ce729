"""The inventory: entries in, endpoints out, one pass, memory per endpoint rather than per entry.

`InventoryBuilder.add(entry)` templates typed path segments at once and folds the entry into its
endpoint's counters; `finish()` applies sibling evidence (merging counters, never re-reading
entries) and names the parameters. Anything that iterates `Entry` objects feeds it: a stored
session or an imported HAR file alike.
"""

from __future__ import annotations

import bisect
import datetime
import math
import random
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson

from necto.inventory.auth import API_KEY_HEADER_RE, API_KEY_QUERY_RE, AuthInfo, detect_auth
from necto.inventory.schema import SchemaNode
from necto.inventory.sensitive import (
    find_spans,
    is_secret_key,
    mask,
    redact_json,
    redact_text,
    value_kinds,
    walk_json,
)
from necto.inventory.templating import (
    KIND_REASONS,
    SiblingRule,
    param_name,
    segment_kind,
    split_path,
    value_kind,
)
from necto.model import Entry, Header

MAX_EXAMPLES = 3
MAX_EXAMPLE_BYTES = 2048
MAX_PARSE_BYTES = 10 << 20
MAX_TEXT_SCAN = 1 << 20
MAX_SENSITIVE = 100
MAX_PARAMS = 100
LATENCY_EXACT = 1000

STATIC_EXTENSIONS = frozenset(
    "png jpg jpeg gif webp svg ico bmp avif tif tiff apng woff woff2 ttf otf eot css js mjs cjs map "
    "mp4 webm mp3 ogg wav flac m4a wasm".split()
)
STATIC_MIME_PREFIXES = ("image/", "font/", "video/", "audio/", "application/font", "application/x-font")
STATIC_MIMES = frozenset(
    {"text/css", "application/javascript", "text/javascript", "application/x-javascript",
     "application/ecmascript", "application/vnd.ms-fontobject", "application/wasm",
     "application/json+sourcemap"}
)  # fmt: skip
# Request headers every client sends: not parameters of the API.
ORDINARY_HEADERS = frozenset(
    """host user-agent accept accept-encoding accept-language accept-charset connection
    content-length content-type cookie authorization proxy-authorization proxy-connection
    origin referer cache-control pragma upgrade-insecure-requests dnt te if-none-match
    if-modified-since if-match if-unmodified-since keep-alive priority upgrade via
    x-forwarded-for x-forwarded-proto x-forwarded-host forwarded purpose x-requested-with
    sec-gpc range expect transfer-encoding""".split()
)
SKIP_SCAN_HEADERS = frozenset({"host", ":authority", "origin", "referer", "date", "server", "etag"})


def iso(ts: float) -> str:
    return (
        datetime.datetime.fromtimestamp(ts, datetime.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def mime_of(headers: list[Header]) -> str:
    for name, value in headers:
        if name.lower() == "content-type":
            return value.split(";", 1)[0].strip().lower()
    return ""


def host_key(url: str) -> tuple[str, str]:
    """(scheme, host[:port]) with the port only when it is not the scheme's default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "ws": 80, "https": 443, "wss": 443}.get(parts.scheme)
    return parts.scheme, f"{host}:{port}" if port and port != default else host


def is_static(path: str, response_mime: str) -> bool:
    """Images, fonts, stylesheets, scripts, source maps and media: browser noise, not API."""
    last = path.split("?", 1)[0].rsplit("/", 1)[-1]
    ext = last.rsplit(".", 1)[-1].lower() if "." in last else ""
    if ext in STATIC_EXTENSIONS:
        return True
    return response_mime in STATIC_MIMES or response_mime.startswith(STATIC_MIME_PREFIXES)


def masked_example(name: str, value: str) -> str:
    if is_secret_key(name) or API_KEY_QUERY_RE.match(name) or API_KEY_HEADER_RE.match(name):
        return mask("secret")
    return redact_text(value)


def parse_body(body: bytes | None, mime: str) -> tuple[str, Any]:
    """('json', value) | ('form', pairs) | ('text', str) | ('binary'|'empty', None)."""
    if not body:
        return "empty", None
    head = body[:1].strip() or body.lstrip()[:1]
    if ("json" in mime or (not mime and head in (b"{", b"["))) and len(body) <= MAX_PARSE_BYTES:
        try:
            return "json", orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    if mime == "application/x-www-form-urlencoded":
        try:
            text = body[:MAX_PARSE_BYTES].decode("utf-8")
        except UnicodeDecodeError:
            return "binary", None
        return "form", parse_qsl(text, keep_blank_values=True)
    textual = mime.startswith("text/") or any(t in mime for t in ("xml", "json", "javascript", "html", "graphql"))
    if textual or not mime:
        try:
            return "text", body[:MAX_TEXT_SCAN].decode("utf-8")
        except UnicodeDecodeError:
            if textual:
                return "text", body[:MAX_TEXT_SCAN].decode("utf-8", "replace")
    return "binary", None


def small_example(value: Any) -> Any | None:
    redacted = redact_json(value)
    return redacted if len(orjson.dumps(redacted)) <= MAX_EXAMPLE_BYTES else None


# ---------------------------------------------------------------- counters
@dataclass(slots=True)
class ParamStats:
    """One query parameter or header across samples: how often, what type, a few examples."""

    name: str
    count: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    def add(self, value: str) -> None:
        self.count += 1
        k = value_kind(value)
        self.kinds[k] = self.kinds.get(k, 0) + 1
        self._example(masked_example(self.name, value))

    def _example(self, value: str) -> None:
        if len(self.examples) < MAX_EXAMPLES and value not in self.examples:
            self.examples.append(value[:200])

    def merge(self, other: ParamStats) -> None:
        self.count += other.count
        for k, n in other.kinds.items():
            self.kinds[k] = self.kinds.get(k, 0) + n
        for e in other.examples:
            self._example(e)

    @property
    def kind(self) -> str:
        return unify_kinds(self.kinds)


def unify_kinds(kinds: dict[str, int]) -> str:
    if len(kinds) == 1:
        return next(iter(kinds))
    if set(kinds) <= {"integer", "number"}:
        return "number"
    return "string"


class Latency:
    """Exact percentiles up to LATENCY_EXACT samples, then a fixed reservoir (memory stays flat)."""

    __slots__ = ("values", "seen")

    def __init__(self) -> None:
        self.values: list[float] = []
        self.seen = 0

    def add(self, ms: float) -> None:
        self.seen += 1
        if len(self.values) < LATENCY_EXACT:
            bisect.insort(self.values, ms)
            return
        j = random.Random(self.seen).randrange(self.seen)
        if j < LATENCY_EXACT:
            del self.values[j]
            bisect.insort(self.values, ms)

    def merge(self, other: Latency) -> None:
        combined = sorted(self.values + other.values)
        if len(combined) > LATENCY_EXACT:
            step = len(combined) / LATENCY_EXACT
            combined = [combined[int(i * step)] for i in range(LATENCY_EXACT)]
        self.values, self.seen = combined, self.seen + other.seen

    def percentile(self, p: float) -> float | None:
        if not self.values:
            return None
        rank = max(0, math.ceil(p / 100 * len(self.values)) - 1)
        return round(self.values[rank], 3)


@dataclass(slots=True)
class AuthStats:
    info: AuthInfo
    count: int = 0
    scopes: set[str] = field(default_factory=set)
    audience: set[str] = field(default_factory=set)


class EndpointStats:
    """Everything the inventory reports about one method + path template."""

    def __init__(self) -> None:
        self.count = 0
        self.statuses: dict[int, int] = {}
        self.first = math.inf
        self.last = -math.inf
        self.latency = Latency()
        self.query: dict[str, ParamStats] = {}
        self.headers: dict[str, ParamStats] = {}
        self.request_types: dict[str, int] = {}
        self.response_types: dict[str, int] = {}
        self.auth: dict[tuple[Any, ...], AuthStats] = {}
        self.no_auth = 0
        self.sensitive: dict[tuple[str, str], int] = {}
        self.request_schemas: dict[str, SchemaNode] = {}
        self.response_schemas: dict[tuple[int, str], SchemaNode] = {}
        self.request_examples: dict[str, Any] = {}
        self.response_examples: dict[tuple[int, str], Any] = {}
        self.request_kinds: dict[str, str] = {}  # mime -> json|form|text|binary
        self.response_kinds: dict[tuple[int, str], str] = {}

    # ------------------------------------------------------------ one entry
    def add(self, e: Entry, query: list[tuple[str, str]], path_segments: list[str]) -> None:
        self.count += 1
        status = e.status if e.status is not None else 0
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.first = min(self.first, e.started)
        self.last = max(self.last, e.started)
        if e.status is not None:
            self.latency.add(e.duration)
        for name, value in query:
            if name in self.query or len(self.query) < MAX_PARAMS:
                if not API_KEY_QUERY_RE.match(name):
                    self.query.setdefault(name, ParamStats(name)).add(value)
        for name, value in e.request_headers:
            low = name.lower()
            if low in ORDINARY_HEADERS or low.startswith((":", "sec-")) or API_KEY_HEADER_RE.match(low):
                continue
            if low in self.headers or len(self.headers) < MAX_PARAMS:
                self.headers.setdefault(low, ParamStats(name)).add(value)
        self._auth(e, query)
        self._sensitive_request(e, query, path_segments)
        self._bodies(e, status)

    def _auth(self, e: Entry, query: list[tuple[str, str]]) -> None:
        found = detect_auth(e.request_headers, query)
        if not found:
            self.no_auth += 1
        for info in found:
            stats = self.auth.setdefault(info.key, AuthStats(info))
            stats.count += 1
            if len(stats.scopes) < 100:
                stats.scopes.update(info.scopes)
            stats.audience.update(info.audience[:10])

    def _found(self, kinds: set[str], where: str) -> None:
        if len(kinds) > 1:
            kinds.discard("secret")  # the specific kind says more
        for kind in kinds:
            key = (kind, where)
            if key in self.sensitive or len(self.sensitive) < MAX_SENSITIVE:
                self.sensitive[key] = self.sensitive.get(key, 0) + 1

    def _sensitive_request(self, e: Entry, query: list[tuple[str, str]], segments: list[str]) -> None:
        for seg in segments:
            self._found({s.kind for s in find_spans(unquote(seg))}, "request.path")
        for name, value in query:
            self._found(value_kinds(name, value), f"request.query {name}")
        self._sensitive_headers(e.request_headers, "request")
        if e.status is not None:
            self._sensitive_headers(e.response_headers, "response")

    def _sensitive_headers(self, headers: list[Header], side: str) -> None:
        for name, value in headers:
            low = name.lower()
            if low in SKIP_SCAN_HEADERS or low.startswith(":"):
                continue
            if low in ("cookie", "set-cookie"):
                kinds = {s.kind for s in find_spans(value)}
            else:
                kinds = value_kinds(name, value)
            self._found(kinds, f"{side}.header {name}")

    def _bodies(self, e: Entry, status: int) -> None:
        req_mime = mime_of(e.request_headers)
        kind, value = parse_body(e.request_body, req_mime)
        if kind != "empty":
            mime = req_mime or ("application/json" if kind == "json" else "application/octet-stream")
            self.request_types[mime] = self.request_types.get(mime, 0) + 1
            self.request_kinds.setdefault(mime, kind)
            self._observe_body("request", kind, value, mime, None)
        if e.status is None:
            return
        resp_mime = mime_of(e.response_headers)
        kind, value = parse_body(e.response_body, resp_mime)
        if resp_mime or kind != "empty":
            mime = resp_mime or ("application/json" if kind == "json" else "application/octet-stream")
            self.response_types[mime] = self.response_types.get(mime, 0) + 1
            self.response_kinds.setdefault((status, mime), kind)
            self._observe_body("response", kind, value, mime, status)

    def _observe_body(self, side: str, kind: str, value: Any, mime: str, status: int | None) -> None:
        schemas: dict[Any, SchemaNode] = self.request_schemas if status is None else self.response_schemas
        examples: dict[Any, Any] = self.request_examples if status is None else self.response_examples
        key: Any = mime if status is None else (status, mime)
        if kind == "json":
            schemas.setdefault(key, SchemaNode()).observe(value)
            if key not in examples:
                examples[key] = small_example(value)
            for where, leaf_key, leaf in walk_json(value):
                self._found(value_kinds(leaf_key, leaf), f"{side}.body {where}")
        elif kind == "form":
            as_obj = dict(value)
            schemas.setdefault(key, SchemaNode()).observe(as_obj)
            if key not in examples:
                examples[key] = small_example(as_obj)
            for name, v in value:
                self._found(value_kinds(name, v), f"{side}.form {name}")
        elif kind == "text":
            self._found({s.kind for s in find_spans(value)}, f"{side}.body (text)")

    # ------------------------------------------------------------ merging
    def merge(self, o: EndpointStats) -> None:
        self.count += o.count
        for s, n in o.statuses.items():
            self.statuses[s] = self.statuses.get(s, 0) + n
        self.first, self.last = min(self.first, o.first), max(self.last, o.last)
        self.latency.merge(o.latency)
        _merge_params(self.query, o.query)
        _merge_params(self.headers, o.headers)
        _add_counts(self.request_types, o.request_types)
        _add_counts(self.response_types, o.response_types)
        for key, stats in o.auth.items():
            mine = self.auth.setdefault(key, AuthStats(stats.info))
            mine.count += stats.count
            mine.scopes |= stats.scopes
            mine.audience |= stats.audience
        self.no_auth += o.no_auth
        _add_counts(self.sensitive, o.sensitive)
        schema_tables: list[tuple[dict[Any, SchemaNode], dict[Any, SchemaNode]]] = [
            (self.request_schemas, o.request_schemas),
            (self.response_schemas, o.response_schemas),
        ]
        for table, other in schema_tables:
            for key, node in other.items():
                table.setdefault(key, SchemaNode()).merge(node)
        value_tables: list[tuple[dict[Any, Any], dict[Any, Any]]] = [
            (self.request_examples, o.request_examples),
            (self.response_examples, o.response_examples),
            (self.request_kinds, o.request_kinds),
            (self.response_kinds, o.response_kinds),
        ]
        for table_mine, table_theirs in value_tables:
            for key, value in table_theirs.items():
                table_mine.setdefault(key, value)

    def shape(self) -> str:
        """What a 2xx response looks like: its top-level JSON keys, or that it is not JSON."""
        for (status, _mime), node in sorted(self.response_schemas.items()):
            if 200 <= status < 300:
                return "json:" + ",".join(sorted(node.props)) if node.props else "json:" + ",".join(node.types)
        kinds = sorted({m.split("/")[0] for m in self.response_types})
        return "other:" + ",".join(kinds)


def _merge_params(mine: dict[str, ParamStats], other: dict[str, ParamStats]) -> None:
    for key, stats in other.items():
        if key in mine:
            mine[key].merge(stats)
        else:
            mine[key] = ParamStats(stats.name)
            mine[key].merge(stats)


def _add_counts(mine: dict[Any, int], other: dict[Any, int]) -> None:
    for k, n in other.items():
        mine[k] = mine.get(k, 0) + n


# ---------------------------------------------------------------- the path tree
class Node:
    """One path position under a host: literal children, at most one parameter child."""

    __slots__ = ("literal", "param", "kinds", "examples", "siblings", "endpoints")

    def __init__(self) -> None:
        self.literal: dict[str, Node] = {}
        self.param: Node | None = None
        self.kinds: dict[str, int] = {}  # for a parameter node: value types seen
        self.examples: list[str] = []
        self.siblings = 0  # literal values merged into this parameter by sibling evidence
        self.endpoints: dict[str, EndpointStats] = {}

    def note_value(self, kind: str, value: str, n: int = 1) -> None:
        self.kinds[kind] = self.kinds.get(kind, 0) + n
        if len(self.examples) < MAX_EXAMPLES and value not in self.examples:
            self.examples.append(value)

    def merge(self, other: Node) -> None:
        for method, stats in other.endpoints.items():
            self.endpoints.setdefault(method, EndpointStats()).merge(stats)
        for seg, child in other.literal.items():
            self.literal.setdefault(seg, Node()).merge(child)
        if other.param is not None:
            if self.param is None:
                self.param = Node()
            self.param.merge(other.param)
        for k, n in other.kinds.items():
            self.kinds[k] = self.kinds.get(k, 0) + n
        for ex in other.examples:
            if len(self.examples) < MAX_EXAMPLES and ex not in self.examples:
                self.examples.append(ex)
        self.siblings += other.siblings

    def signature(self) -> frozenset[tuple[str, str, str]]:
        """(relative path, method, response shape) for the whole subtree."""
        out: set[tuple[str, str, str]] = set()
        stack: list[tuple[Node, str]] = [(self, "")]
        while stack:
            node, rel = stack.pop()
            for method, stats in node.endpoints.items():
                out.add((rel, method, stats.shape()))
            for seg, child in node.literal.items():
                stack.append((child, rel + "/" + seg))
            if node.param is not None:
                stack.append((node.param, rel + "/{}"))
        return frozenset(out)


def merge_siblings(node: Node, depth: int) -> None:
    """Turn literal children into the parameter child when siblings show they are values."""
    if depth >= 1 and len(node.literal) >= SiblingRule.VALUE_MIN:
        eligible = [s for s in node.literal if SiblingRule.eligible(s)]
        groups = (
            ([s for s in eligible if not SiblingRule.word_like(s)], SiblingRule.VALUE_MIN),
            ([s for s in eligible if SiblingRule.word_like(s)], SiblingRule.WORD_MIN),
        )
        for group, minimum in groups:
            if len(group) < minimum:
                continue
            by_sig: dict[frozenset[Any], list[str]] = {}
            for seg in group:
                by_sig.setdefault(node.literal[seg].signature(), []).append(seg)
            best = max(by_sig.values(), key=len)
            if len(best) < minimum or len(best) / len(group) < SiblingRule.SHAPE_SHARE:
                continue
            if node.param is None:
                node.param = Node()
            for seg in best:
                child = node.literal.pop(seg)
                node.param.merge(child)
                node.param.note_value("string", unquote(seg))
                node.param.siblings += 1
    for child in node.literal.values():
        merge_siblings(child, depth + 1)
    if node.param is not None:
        merge_siblings(node.param, depth + 1)


# ---------------------------------------------------------------- results
@dataclass(slots=True)
class PathParam:
    name: str
    position: int
    kind: str
    kinds: dict[str, int]
    examples: list[str]
    reason: str


@dataclass(slots=True)
class Endpoint:
    host: str
    schemes: list[str]
    method: str
    template: str
    path_params: list[PathParam]
    stats: EndpointStats


@dataclass(slots=True)
class Inventory:
    source: dict[str, Any]
    endpoints: list[Endpoint]
    entries_total: int
    entries_used: int
    skipped: dict[str, int]
    generated_at: float

    def hosts(self) -> list[str]:
        return list(dict.fromkeys(e.host for e in self.endpoints))


def _reason(node: Node, kind: str) -> str:
    typed = {k: n for k, n in node.kinds.items() if not (k == "string" and node.siblings)}
    parts = []
    if typed:
        parts.append(" or ".join(KIND_REASONS.get(k, k) for k in typed) + " values")
    if node.siblings:
        parts.append(f"{node.siblings} sibling values share one shape")
    examples = ", ".join(node.examples)
    return "; ".join(parts) + (f" (e.g. {examples})" if examples else "")


METHOD_ORDER = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]


def _method_rank(m: str) -> int:
    return METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER)


class InventoryBuilder:
    """Feed entries with `add`, then `finish` once."""

    def __init__(self, include_static: bool = False, source: dict[str, Any] | None = None) -> None:
        self.include_static = include_static
        self.source = source or {}
        self.roots: dict[str, Node] = {}
        self.schemes: dict[str, set[str]] = {}
        self.total = 0
        self.used = 0
        self.skipped: dict[str, int] = {}

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def add(self, e: Entry) -> None:
        self.total += 1
        scheme, host = host_key(e.url)
        if scheme not in ("http", "https", "ws", "wss") or not host:
            self._skip("nonHttp")
            return
        raw_path = urlsplit(e.url).path or "/"
        if not self.include_static and is_static(raw_path, mime_of(e.response_headers)):
            self._skip("static")
            return
        self.used += 1
        self.schemes.setdefault(host, set()).add(scheme)
        node = self.roots.setdefault(host, Node())
        segments = split_path(raw_path)
        for i, seg in enumerate(segments):
            kind = segment_kind(seg) if i > 0 else None
            if kind is None:
                node = node.literal.setdefault(seg, Node())
            else:
                if node.param is None:
                    node.param = Node()
                node = node.param
                node.note_value(kind, unquote(seg))
        query = parse_qsl(urlsplit(e.url).query, keep_blank_values=True)
        method = (e.method or "GET").upper()
        node.endpoints.setdefault(method, EndpointStats()).add(e, query, segments)

    def add_many(self, entries: Iterable[Entry]) -> None:
        for e in entries:
            self.add(e)

    def finish(self) -> Inventory:
        endpoints: list[Endpoint] = []
        for host, root in self.roots.items():
            merge_siblings(root, 0)
            schemes = sorted(self.schemes[host])
            stack: list[tuple[Node, list[str], list[PathParam], str | None]] = [(root, [], [], None)]
            while stack:
                node, segs, params, parent = stack.pop()
                template = "/" + "/".join(segs)
                for method, stats in node.endpoints.items():
                    endpoints.append(Endpoint(host, schemes, method, template, params, stats))
                for seg, child in node.literal.items():
                    stack.append((child, [*segs, seg], params, seg))
                if node.param is not None:
                    p = node.param
                    kind = unify_kinds(p.kinds) if p.kinds else "string"
                    name = _unique(param_name(parent, kind), {q.name for q in params})
                    pp = PathParam(name, len(segs), kind, dict(p.kinds), list(p.examples), _reason(p, kind))
                    stack.append((p, [*segs, "{" + name + "}"], [*params, pp], None))
        endpoints.sort(key=lambda e: (e.host, e.template, _method_rank(e.method), e.method))
        return Inventory(
            source=self.source,
            endpoints=endpoints,
            entries_total=self.total,
            entries_used=self.used,
            skipped=dict(self.skipped),
            generated_at=datetime.datetime.now(datetime.UTC).timestamp(),
        )


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    i = 2
    while f"{name}{i}" in taken:
        i += 1
    return f"{name}{i}"


BATCH = 200


async def build_inventory(
    entries: AsyncIterator[Entry], *, include_static: bool = False, source: dict[str, Any] | None = None
) -> Inventory:
    """Consume entries in batches, doing the parsing off the event loop so the proxy keeps up."""
    import asyncio

    builder = InventoryBuilder(include_static=include_static, source=source)
    batch: list[Entry] = []
    async for e in entries:
        batch.append(e)
        if len(batch) >= BATCH:
            await asyncio.to_thread(builder.add_many, batch)
            batch = []
    if batch:
        await asyncio.to_thread(builder.add_many, batch)
    return await asyncio.to_thread(builder.finish)
