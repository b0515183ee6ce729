"""The inventory: entries in, endpoints out, one pass, memory per path rather than per entry.

`InventoryBuilder.add(entry)` files the entry under its path in a tree (`pathtree.Node`; typed
segments become parameters at once) and folds it into that path's counters; `finish()` lets
`pathtree.decide` settle which literal segments are values (sibling evidence, bottom-up),
merges the counters of each resulting endpoint once, and names the parameters. Anything that
iterates `Entry` objects feeds it: a stored session or an imported HAR file alike.
"""

from __future__ import annotations

import bisect
import datetime
import math
import random
from collections.abc import AsyncIterator, Iterable, Set
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson

from necto.inventory.auth import API_KEY_HEADER_RE, API_KEY_QUERY_RE, AuthInfo, detect_auth
from necto.inventory.pathtree import Budget, Decision, Node, Note, Shape, decide
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
from necto.inventory.templating import param_name, segment_kind, split_path, value_kind
from necto.model import BodyFile, Entry, Header
from necto.vocab import DEFAULT_PORTS, is_static

MAX_EXAMPLES = 3
MAX_EXAMPLE_BYTES = 2048
MAX_PARSE_BYTES = 10 << 20
MAX_TEXT_SCAN = 1 << 20
MAX_SENSITIVE = 100
MAX_PARAMS = 100
LATENCY_EXACT = 1000

# Request headers every client sends: not parameters of the API.
ORDINARY_HEADERS = frozenset(
    """host user-agent accept accept-encoding accept-language accept-charset connection
    content-length content-type cookie authorization proxy-authorization proxy-connection
    origin referer cache-control pragma upgrade-insecure-requests dnt te if-none-match
    if-modified-since if-match if-unmodified-since keep-alive priority upgrade via
    x-forwarded-for x-forwarded-proto x-forwarded-host forwarded purpose x-requested-with
    sec-gpc range expect transfer-encoding""".split()
)
SHAPE_PATHS = 100  # JSON field paths compared per response shape
_UNSET = object()
SKIP_SCAN_HEADERS = frozenset({"host", ":authority", "origin", "referer", "date", "server", "etag"})


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
    default = DEFAULT_PORTS.get(parts.scheme)
    return parts.scheme, f"{host}:{port}" if port and port != default else host


_KINDS_MEMO: dict[tuple[str | None, str], frozenset[str]] = {}
KINDS_MEMO_MAX = 1 << 14  # entries: a few MB at most
KINDS_MEMO_LEN = 256  # longer strings are scanned every time


def memo_kinds(name: str | None, value: Any) -> Set[str]:
    """Sensitive kinds in a header, path segment, query or JSON value (`name` None: by content
    only). Names, headers and many values repeat across entries: each distinct short one is
    scanned once (bounded memo)."""
    if not isinstance(value, str) or len(value) > KINDS_MEMO_LEN:
        return value_kinds(name, value)
    key = (name, value)
    found = _KINDS_MEMO.get(key)
    if found is None:
        found = frozenset(value_kinds(name, value))
        if len(_KINDS_MEMO) >= KINDS_MEMO_MAX:
            _KINDS_MEMO.clear()
        _KINDS_MEMO[key] = found
    return found


def masked_example(name: str, value: str) -> str:
    if is_secret_key(name) or API_KEY_QUERY_RE.match(name) or API_KEY_HEADER_RE.match(name):
        return mask("secret")
    return redact_text(value)


def _read_body(body: bytes | None, file: BodyFile | None, size: int, mime: str) -> tuple[str, Any, int]:
    """parse_body's answer and the size; a body too long to read whole (left in its file,
    WHOLE_BODY_MAX) is counted by its type, not parsed: text for a textual type, else binary."""
    if body is None and file is not None:
        return ("text" if _textual(mime) else "binary"), "", max(size, file.size, 0)
    return (*parse_body(body, mime), len(body or b""))


def _textual(mime: str) -> bool:
    return mime.startswith("text/") or any(t in mime for t in ("xml", "json", "javascript", "html", "graphql"))


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
    textual = _textual(mime)
    if textual or not mime:
        try:
            return "text", body[:MAX_TEXT_SCAN].decode("utf-8")
        except UnicodeDecodeError:
            if textual:
                return "text", body[:MAX_TEXT_SCAN].decode("utf-8", "replace")
    return "binary", None


RAW_EXAMPLE_MAX = 4 * MAX_EXAMPLE_BYTES  # bodies kept (unredacted, in memory) as example candidates


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
        self.absorb([other])

    def absorb(self, others: list[Latency]) -> None:
        """Merge many at once: one sort, one thinning (merging one by one re-sorts each time)."""
        combined = sorted([v for lat in (self, *others) for v in lat.values])
        if len(combined) > LATENCY_EXACT:
            step = len(combined) / LATENCY_EXACT
            combined = [combined[int(i * step)] for i in range(LATENCY_EXACT)]
        self.values, self.seen = combined, self.seen + sum(lat.seen for lat in others)

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
        self._shape: Shape | None | object = _UNSET  # computed once, after every entry is in
        self._examples_final = False

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

    def _found(self, kinds: Set[str], where: str) -> None:
        if not kinds:
            return
        if len(kinds) > 1:
            kinds = kinds - {"secret"}  # the specific kind says more
        for kind in kinds:
            key = (kind, where)
            if key in self.sensitive or len(self.sensitive) < MAX_SENSITIVE:
                self.sensitive[key] = self.sensitive.get(key, 0) + 1

    def _sensitive_request(self, e: Entry, query: list[tuple[str, str]], segments: list[str]) -> None:
        for seg in segments:
            self._found(memo_kinds(None, unquote(seg)), "request.path")
        for name, value in query:
            self._found(memo_kinds(name, value), f"request.query {name}")
        self._sensitive_headers(e.request_headers, "request")
        if e.status is not None:
            self._sensitive_headers(e.response_headers, "response")

    def _sensitive_headers(self, headers: list[Header], side: str) -> None:
        for name, value in headers:
            low = name.lower()
            if low in SKIP_SCAN_HEADERS or low.startswith(":"):
                continue
            if low in ("cookie", "set-cookie"):
                kinds = memo_kinds(None, value)
            else:
                kinds = memo_kinds(name, value)
            self._found(kinds, f"{side}.header {name}")

    def _bodies(self, e: Entry, status: int) -> None:
        req_mime = mime_of(e.request_headers)
        kind, value, size = _read_body(e.request_body, e.request_body_file, e.request_body_size, req_mime)
        if kind != "empty":
            mime = req_mime or ("application/json" if kind == "json" else "application/octet-stream")
            self.request_types[mime] = self.request_types.get(mime, 0) + 1
            self.request_kinds.setdefault(mime, kind)
            self._observe_body("request", kind, value, mime, None, size)
        if e.status is None:
            return
        resp_mime = mime_of(e.response_headers)
        kind, value, size = _read_body(e.response_body, e.response_body_file, e.response_body_size, resp_mime)
        if resp_mime or kind != "empty":
            mime = resp_mime or ("application/json" if kind == "json" else "application/octet-stream")
            self.response_types[mime] = self.response_types.get(mime, 0) + 1
            self.response_kinds.setdefault((status, mime), kind)
            self._observe_body("response", kind, value, mime, status, size)

    def _observe_body(self, side: str, kind: str, value: Any, mime: str, status: int | None, size: int) -> None:
        schemas: dict[Any, SchemaNode] = self.request_schemas if status is None else self.response_schemas
        examples: dict[Any, Any] = self.request_examples if status is None else self.response_examples
        key: Any = mime if status is None else (status, mime)
        if kind == "json":
            schemas.setdefault(key, SchemaNode()).observe(value)
            if key not in examples:  # redacted once, for the endpoints that come out
                examples[key] = value if size <= RAW_EXAMPLE_MAX else None
            for where, leaf_key, leaf in walk_json(value):
                self._found(memo_kinds(leaf_key, leaf), f"{side}.body {where}")
        elif kind == "form":
            as_obj = dict(value)
            schemas.setdefault(key, SchemaNode()).observe(as_obj)
            if key not in examples:
                examples[key] = as_obj if size <= RAW_EXAMPLE_MAX else None
            for name, v in value:
                self._found(memo_kinds(name, v), f"{side}.form {name}")
        elif kind == "text":
            self._found({s.kind for s in find_spans(value)}, f"{side}.body (text)")

    # ------------------------------------------------------------ merging
    @classmethod
    def combine(cls, parts: list[EndpointStats]) -> EndpointStats:
        """New counters for one endpoint made of many paths (sibling values folded together)."""
        out = cls()
        for o in parts:
            out.merge(o, latency=False)
        out.latency.absorb([o.latency for o in parts])
        return out

    def merge(self, o: EndpointStats, latency: bool = True) -> None:
        self.count += o.count
        for s, n in o.statuses.items():
            self.statuses[s] = self.statuses.get(s, 0) + n
        self.first, self.last = min(self.first, o.first), max(self.last, o.last)
        if latency:
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

    def finalize_examples(self) -> None:
        """Redact the first body seen per content type into a small example (once)."""
        if self._examples_final:
            return
        self._examples_final = True
        tables: tuple[dict[Any, Any], ...] = (self.request_examples, self.response_examples)
        for table in tables:
            for key, value in table.items():
                table[key] = small_example(value) if value is not None else None

    def succeeded(self) -> bool:
        """Whether it ever answered 2xx: endpoints that never did (typos, probes) are flagged."""
        for status in self.statuses:
            if 200 <= status < 300:
                return True
        return False

    def shape(self) -> Shape | None:
        """What its 2xx responses look like, for the templating vote; None if it never had one."""
        if self._shape is not _UNSET:
            return self._shape  # type: ignore[return-value]
        result: Shape | None = None
        if self.succeeded():
            paths: set[str] = set()
            tokens: set[str] = set()
            for (status, mime), kind in self.response_kinds.items():
                if not 200 <= status < 300:
                    continue
                node = self.response_schemas.get((status, mime))
                if kind in ("json", "form") and node is not None:
                    tokens.update(f"json:{t}" for t in node.types)
                    paths.update(node.field_paths(limit=SHAPE_PATHS))
                else:
                    tokens.add(mime)
            result = Shape(frozenset(paths), frozenset(tokens or {"empty"}))
        self._shape = result
        return result


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


# ---------------------------------------------------------------- results
@dataclass(slots=True)
class PathParam:
    name: str
    position: int
    kind: str
    kinds: dict[str, int]
    examples: list[str]
    reason: str
    rule: str = "typed"
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class LiteralNote:
    """Why a literal segment (after the first) stayed literal."""

    position: int
    literal: str
    rule: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Endpoint:
    host: str
    schemes: list[str]
    method: str
    template: str
    path_params: list[PathParam]
    stats: EndpointStats
    literals: list[LiteralNote] = field(default_factory=list)

    @property
    def observed_success(self) -> bool:
        return self.stats.succeeded()


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


METHOD_ORDER = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]


def _method_rank(m: str) -> int:
    return METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER)


def _merged_endpoints(nodes: list[Node]) -> dict[str, EndpointStats]:
    """Each method's counters over every tree node one endpoint stands for, merged once."""
    parts: dict[str, list[EndpointStats]] = {}
    for node in nodes:
        for method, stats in node.endpoints.items():
            parts.setdefault(method, []).append(stats)
    return {method: group[0] if len(group) == 1 else EndpointStats.combine(group) for method, group in parts.items()}


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
        if e.method.upper() == "CONNECT" or e.kind in ("tunnel", "tls-failed"):
            self._skip("tunnel")  # a connection, not an API call
            return
        raw_path = urlsplit(e.url).path or "/"
        if not self.include_static and is_static(raw_path, mime_of(e.response_headers), e.status):
            self._skip("static")
            return
        self.used += 1
        self.schemes.setdefault(host, set()).add(scheme)
        segments = split_path(raw_path)
        node = self.roots.setdefault(host, Node()).file(segments, segment_kind)
        query = parse_qsl(urlsplit(e.url).query, keep_blank_values=True)
        method = (e.method or "GET").upper()
        node.endpoints.setdefault(method, EndpointStats()).add(e, query, segments)

    def add_many(self, entries: Iterable[Entry]) -> None:
        for e in entries:
            self.add(e)

    def finish(self) -> Inventory:
        endpoints: list[Endpoint] = []
        for host, root in self.roots.items():
            schemes = sorted(self.schemes[host])
            top = decide([root], 0, None, False, Budget.for_tree(root))
            Walk = tuple[Decision, list[str], list[PathParam], list[LiteralNote], str | None]
            stack: list[Walk] = [(top, [], [], [], None)]
            while stack:
                d, segs, params, notes, parent = stack.pop()
                template = "/" + "/".join(segs)
                for method, stats in _merged_endpoints(d.sources).items():
                    stats.finalize_examples()
                    endpoints.append(Endpoint(host, schemes, method, template, params, stats, notes))
                for seg, sub in d.lit.items():
                    note = d.lit_notes.get(seg)
                    if note is not None:
                        lit = LiteralNote(len(segs), seg, note.rule, note.reason, note.evidence)
                        stack.append((sub, [*segs, seg], params, [*notes, lit], seg))
                    else:
                        stack.append((sub, [*segs, seg], params, notes, seg))
                if d.param is not None:
                    p, why = d.param, d.param_note or Note("typed", "")
                    kind = unify_kinds(p.kinds) if p.kinds else "string"
                    name = _unique(param_name(parent, kind, p.kinds), {q.name for q in params})
                    pp = PathParam(
                        name, len(segs), kind, dict(p.kinds), list(p.examples), why.reason, why.rule, why.evidence
                    )
                    stack.append((p, [*segs, "{" + name + "}"], [*params, pp], notes, None))
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
