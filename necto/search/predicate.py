"""A filter tree as a test on one Entry in memory: for HAR files (replay and diff of a file) and
live events, where there is no index to ask. Same meaning as the SQL of `necto.search.sqlfilter`
(a table-driven test runs every case through both).

Annotations come from `entry.extra["annotations"]` (an imported Necto HAR carries them there;
captured entries have none yet).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from necto.model import Entry
from necto.search.filterlang import (
    TYPE_ALIASES,
    And,
    Color,
    Flag,
    GraphQL,
    Host,
    Method,
    Node,
    Not,
    Number,
    Or,
    Path,
    Status,
    Tag,
    Text,
    Type,
    Url,
)
from necto.search.graphql import entry_operation
from necto.search.text import EntryText, entry_text, url_path, url_path_query
from necto.vocab import is_static

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,
}
_SCOPE_PARTS = {
    "all": ("line", "req_headers", "res_headers", "req_body", "res_body"),
    "headers": ("req_headers", "res_headers"),
    "req.headers": ("req_headers",),
    "res.headers": ("res_headers",),
    "body": ("req_body", "res_body"),
    "req.body": ("req_body",),
    "res.body": ("res_body",),
    "notes": (),
}


class _Ctx:
    """One entry, with what the tests need computed at most once."""

    def __init__(self, e: Entry) -> None:
        self.e = e
        self._text: EntryText | None = None
        self._graphql: tuple[str | None] | None = None

    @property
    def text(self) -> EntryText:
        if self._text is None:
            self._text = entry_text(self.e)
        return self._text

    @property
    def graphql(self) -> str | None:
        if self._graphql is None:
            self._graphql = (entry_operation(self.e),)
        return self._graphql[0]

    def annotations(self) -> list[dict[str, Any]]:
        notes = self.e.extra.get("annotations")
        return [a for a in notes if isinstance(a, dict)] if isinstance(notes, list) else []


def _kind(e: Entry) -> str:
    return e.kind


def _flag(name: str, c: _Ctx) -> bool:
    e = c.e
    if name == "mocked":
        return bool(e.extra.get("isMocked"))
    if name == "breakpointed":
        return bool(e.extra.get("isBreakpointed"))
    if name == "modified":
        return bool(e.extra.get("appliedRules"))
    if name == "error":
        return e.error is not None or e.status is None
    if name == "complete":
        return e.status is not None and e.error is None
    if name == "websocket":
        return e.websocket is not None
    if name in ("replay", "imported", "captured"):
        return e.source == {"replay": "replay", "imported": "import", "captured": "capture"}[name]
    if name == "truncated":
        return e.request_truncated or e.response_truncated
    if name in ("tunnel", "tls-failed"):
        return _kind(e) == name
    if name == "annotated":
        return bool(c.annotations())
    if name == "graphql":
        return c.graphql is not None
    if name == "grpc":
        return e.content_type.lower().startswith("application/grpc")
    if name == "static":
        return is_static(url_path(e.url), e.content_type, e.status)
    raise AssertionError(name)


def _status(n: Status, e: Entry) -> bool:
    if n.op != ":":
        return e.status is not None and _OPS[n.op](e.status, n.value)
    code = e.status if e.status is not None else 0
    if code in n.codes:
        return True
    if e.status is not None and e.status // 100 in n.classes:
        return True
    return e.status is not None and any(a <= e.status <= b for a, b in n.ranges)


def _type(words: tuple[str, ...], e: Entry) -> bool:
    ct = e.content_type.lower()
    for w in words:
        if w in ("ws", "websocket"):
            if e.websocket is not None:
                return True
        elif any(p in ct for p in TYPE_ALIASES.get(w, (w,))):
            return True
    return False


def _host_glob_test(pattern: str, host: str) -> bool:
    """`*.example.com` also matches example.com itself (as replay's --host does)."""
    return pattern.startswith("*.") and host == pattern[2:]


def evaluate(node: Node, c: _Ctx) -> bool:
    e = c.e
    if isinstance(node, And):
        return all(evaluate(n, c) for n in node.items)
    if isinstance(node, Or):
        return any(evaluate(n, c) for n in node.items)
    if isinstance(node, Not):
        return not evaluate(node.item, c)
    if isinstance(node, Text):
        parts = _SCOPE_PARTS[node.scope]
        if any(node.match.test(getattr(c.text, p)) for p in parts):
            return True
        if node.scope in ("all", "notes"):
            return any(node.match.test(str(a.get("content") or "")) for a in c.annotations())
        return False
    if isinstance(node, Url):
        return node.match.test(e.url)
    if isinstance(node, Method):
        if node.regex is not None:
            return node.regex.search(e.method) is not None
        return e.method.upper() in node.names
    if isinstance(node, Status):
        return _status(node, e)
    if isinstance(node, Host):
        host = e.host.lower()
        return any(_host_glob_test(g.pattern, host) or g.test(host) for g in node.globs)
    if isinstance(node, Path):
        value = url_path_query(e.url) if node.with_query else url_path(e.url)
        return node.glob.test(value)
    if isinstance(node, Type):
        return _type(node.words, e)
    if isinstance(node, Number):
        number = e.duration if node.field == "duration" else e.response_body_size
        return _OPS[node.op](number, node.value)
    if isinstance(node, Flag):
        return _flag(node.name, c)
    if isinstance(node, Tag):
        tags = [str(t).lower() for a in c.annotations() for t in (a.get("tags") or []) if isinstance(t, str)]
        return any(g.test(t) for g in node.globs for t in tags)
    if isinstance(node, Color):
        return any(a.get("color") in node.colors for a in c.annotations())
    if isinstance(node, GraphQL):
        name = c.graphql
        if not name:
            return False
        names = [n.strip() for n in name.split(",")]
        return any(g.test(n) for g in node.globs for n in names)
    raise AssertionError(node)


def matches(node: Node | None, e: Entry) -> bool:
    """Does the entry match the filter? (None matches everything.)"""
    return node is None or evaluate(node, _Ctx(e))


def compile_predicate(node: Node | None) -> Callable[[Entry], bool]:
    return lambda e: matches(node, e)
