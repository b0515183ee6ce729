"""The filter language: one parser for the list API, the CLI, the page, exports, replay and diff.

    order_id=8812                      plain words search everything (URL, headers, bodies, notes)
    "exact phrase"  /regex\\d+/i         quoted text; a regex (JavaScript-literal rule of necto.match)
    method:POST  method:get,put        status:404  status:4xx,5xx  status>=500  status:0 (no response)
    host:api.example.com  host:*.example.com       path:/api/*  path:/api/users?page=*
    url:checkout  url:/v\\d+/            type:json  type:img,css  type:ws
    body:"order_id=8812"  req.body:x  res.body:x   header:x-request-id  req.header:  res.header:
    duration>500  duration<=2s         size>1MB  size<10k
    is:mocked is:error is:websocket is:replay is:imported is:annotated is:graphql ...
    note:"flaky"  tag:bug  color:red   graphql:GetUser  graphql:Get*
    -term (not)   a b (and)   a OR b   ( ... )

Terms are AND-ed; `OR` binds looser than AND. Text matching is case-insensitive substring
matching; a regex is case-sensitive unless it has the `i` flag. Globs (`*`) are anchored and
case-insensitive. A malformed query raises `FilterError` with the position and text of the
offending token.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from necto.match import regex_literal

MAX_QUERY = 4096
MAX_TERMS = 64
MAX_DEPTH = 16
MAX_REGEX = 1000

COLORS = ("gray", "red", "orange", "yellow", "green", "blue", "purple")
REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "u": 0, "g": 0, "y": 0}

# Where a text term looks (see necto.search.text for what each part holds).
TEXT_SCOPES = ("all", "headers", "req.headers", "res.headers", "body", "req.body", "res.body", "notes")
_TEXT_FIELDS = {
    "body": "body", "bodies": "body",
    "req.body": "req.body", "request.body": "req.body",
    "res.body": "res.body", "resp.body": "res.body", "response.body": "res.body",
    "header": "headers", "headers": "headers",
    "req.header": "req.headers", "req.headers": "req.headers", "request.header": "req.headers",
    "request.headers": "req.headers",
    "res.header": "res.headers", "res.headers": "res.headers", "resp.header": "res.headers",
    "resp.headers": "res.headers", "response.header": "res.headers", "response.headers": "res.headers",
    "note": "notes", "notes": "notes",
}  # fmt: skip
FLAGS = (
    "mocked", "error", "websocket", "replay", "imported", "captured", "truncated", "tunnel",
    "tls-failed", "annotated", "graphql", "grpc", "static", "complete", "breakpointed", "modified",
)  # fmt: skip
_FLAG_ALIASES = {"ws": "websocket", "replayed": "replay", "import": "imported", "failed": "error",
                 "mock": "mocked", "noted": "annotated", "tlsfailed": "tls-failed"}  # fmt: skip
# type: words -> substrings of the response's content type ("websocket" is the entry kind).
TYPE_ALIASES: dict[str, tuple[str, ...]] = {
    "js": ("javascript", "ecmascript"),
    "javascript": ("javascript", "ecmascript"),
    "img": ("image/",),
    "image": ("image/",),
    "doc": ("text/html", "application/xhtml"),
    "font": ("font", "woff"),
    "form": ("x-www-form-urlencoded", "multipart/form-data"),
    "media": ("audio/", "video/"),
    "text": ("text/",),
    "binary": ("octet-stream",),
}
_OTHER_FIELDS = ("method", "status", "host", "path", "url", "type", "duration", "size", "is", "tag", "color", "graphql")
FIELDS = tuple(_TEXT_FIELDS) + _OTHER_FIELDS
_SHOWN_FIELDS = ("method", "status", "host", "path", "url", "type", "body", "req.body", "res.body", "header",
                 "req.header", "res.header", "duration", "size", "is", "note", "tag", "color", "graphql")  # fmt: skip
_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z.]*")
_FIELD_LIKE = re.compile(r"\A[a-z]+(?:\.[a-z]+)?\Z")  # an unknown name that looks like a field is an error
_OPS = (">=", "<=", ">", "<", "=", ":")
_DURATION = re.compile(r"\A(\d+(?:\.\d+)?)\s*(ms|s|m)?\Z", re.I)
_SIZE = re.compile(r"\A(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\Z", re.I)
_SIZE_UNITS = {"b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
               "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}  # fmt: skip
_STATUS_CLASS = re.compile(r"\A([1-5])xx\Z", re.I)
_STATUS_RANGE = re.compile(r"\A(\d{1,3})-(\d{1,3})\Z")


class FilterError(ValueError):
    """A query that cannot be parsed: `position` (0-based) and `token` name what is wrong."""

    def __init__(self, message: str, position: int, token: str) -> None:
        self.reason = message
        self.position = position
        self.token = token
        shown = token if len(token) <= 60 else token[:57] + "..."
        super().__init__(f"Invalid filter: {message} at position {position} ({shown!r})" if token else
                         f"Invalid filter: {message} at position {position}")  # fmt: skip

    def as_json(self) -> dict[str, Any]:
        return {"error": str(self), "position": self.position, "token": self.token, "reason": self.reason}


# ---------------------------------------------------------------------------- the tree
@dataclass(frozen=True, slots=True)
class Match:
    """How a text value matches: a lower-cased substring, or a regex."""

    text: str = ""
    regex: re.Pattern[str] | None = None

    def test(self, value: str) -> bool:
        if self.regex is not None:
            return self.regex.search(value) is not None
        return self.text in value.lower()


@dataclass(frozen=True, slots=True)
class Glob:
    """An anchored, case-insensitive glob (`*` = any characters; exact without one), or a regex
    the user wrote (`user_regex`). `regex` is always the compiled test."""

    pattern: str
    regex: re.Pattern[str]
    user_regex: bool = False

    @classmethod
    def of(cls, pattern: str) -> Glob:
        body = ".*".join(re.escape(p) for p in pattern.split("*"))
        return cls(pattern.lower(), re.compile(r"\A" + body + r"\Z", re.I | re.S))

    @classmethod
    def of_regex(cls, rx: re.Pattern[str]) -> Glob:
        return cls("", rx, True)

    def test(self, value: str) -> bool:
        return self.regex.search(value) is not None


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


@dataclass(frozen=True, slots=True)
class Text:
    scope: str  # one of TEXT_SCOPES
    match: Match


@dataclass(frozen=True, slots=True)
class Url:
    match: Match


@dataclass(frozen=True, slots=True)
class Method:
    names: tuple[str, ...] = ()  # upper case
    regex: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class Status:
    codes: tuple[int, ...] = ()  # 0 = no response
    classes: tuple[int, ...] = ()  # 4 for 4xx
    ranges: tuple[tuple[int, int], ...] = ()
    op: str = ":"  # or a comparison against `value`
    value: int = 0


@dataclass(frozen=True, slots=True)
class Host:
    globs: tuple[Glob, ...]


@dataclass(frozen=True, slots=True)
class Path:
    glob: Glob
    with_query: bool  # the pattern has a `?`: matched against path and query


@dataclass(frozen=True, slots=True)
class Type:
    words: tuple[str, ...]  # lower case


@dataclass(frozen=True, slots=True)
class Number:
    field: str  # duration (ms) | size (bytes)
    op: str  # > >= < <= =
    value: float


@dataclass(frozen=True, slots=True)
class Flag:
    name: str  # one of FLAGS


@dataclass(frozen=True, slots=True)
class Tag:
    globs: tuple[Glob, ...]


@dataclass(frozen=True, slots=True)
class Color:
    colors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GraphQL:
    globs: tuple[Glob, ...]


Node = And | Or | Not | Text | Url | Method | Status | Host | Path | Type | Number | Flag | Tag | Color | GraphQL


# ---------------------------------------------------------------------------- tokens
@dataclass(slots=True)
class _Tok:
    kind: str  # "(" ")" "OR" "-" "term"
    pos: int
    raw: str
    node: Node | None = None


def _read_quoted(s: str, i: int) -> tuple[str, int]:
    """A "..." string starting at s[i]; backslash escapes the next character. (text, end)."""
    out: list[str] = []
    j = i + 1
    while j < len(s):
        c = s[j]
        if c == "\\" and j + 1 < len(s):
            out.append(s[j + 1])
            j += 2
            continue
        if c == '"':
            return "".join(out), j + 1
        out.append(c)
        j += 1
    raise FilterError("unclosed quote", i, s[i:])


def _bare_end(s: str, i: int) -> int:
    j = i
    while j < len(s) and not s[j].isspace() and s[j] not in "()":
        j += 1
    return j


def _read_regex(s: str, i: int) -> tuple[re.Pattern[str], int] | None:
    """A /regex/flags literal at s[i] that ends a token, by necto.match's rule; None if it is
    not one (then the text is a plain word, e.g. `/api/`)."""
    j = i + 1
    while j < len(s):
        if s[j] == "\\":
            j += 2
            continue
        if s[j] == "/":
            break
        j += 1
    if j >= len(s):
        return None
    end = j + 1
    while end < len(s) and s[end].isalpha():
        end += 1
    if end < len(s) and not (s[end].isspace() or s[end] == ")"):
        return None
    lit = regex_literal(s[i:end])
    if lit is None:
        return None
    body, flags = lit
    if len(body) > MAX_REGEX:
        raise FilterError(f"regular expression longer than {MAX_REGEX} characters", i, s[i:end])
    bits = 0
    for f in flags:
        bits |= REGEX_FLAGS[f]
    try:
        return re.compile(body, bits), end
    except re.error as e:
        raise FilterError(f"invalid regular expression: {e}", i, s[i:end]) from None


def _read_value(s: str, i: int) -> tuple[str, re.Pattern[str] | None, int, bool]:
    """A field's value at s[i]: (text, regex or None, end, quoted)."""
    if i < len(s) and s[i] == '"':
        text, end = _read_quoted(s, i)
        return text, None, end, True
    if i < len(s) and s[i] == "/":
        rx = _read_regex(s, i)
        if rx is not None:
            return "", rx[0], rx[1], False
    end = _bare_end(s, i)
    return s[i:end], None, end, False


def _tokens(s: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c.isspace():
            i += 1
        elif c in "()":
            toks.append(_Tok(c, i, c))
            i += 1
        elif c == "-":
            if i + 1 == len(s) or s[i + 1].isspace() or s[i + 1] == ")":
                raise FilterError("nothing to negate after '-' (quote it to search for it)", i, "-")
            toks.append(_Tok("-", i, "-"))
            i += 1
        else:
            tok = _term(s, i)
            toks.append(tok)
            i = tok.pos + len(tok.raw)
        if len(toks) > MAX_TERMS * 3:
            raise FilterError(f"more than {MAX_TERMS} terms", i, "")
    return toks


def _term(s: str, i: int) -> _Tok:
    if s[i] == '"':
        text, end = _read_quoted(s, i)
        return _Tok("term", i, s[i:end], _text("all", text, None, i, s[i:end]))
    if s[i] == "/":
        lit = _read_regex(s, i)
        if lit is not None:
            return _Tok("term", i, s[i : lit[1]], Text("all", Match(regex=lit[0])))
    m = _FIELD_NAME.match(s, i)
    if m is not None:
        name = m.group().lower()
        rest = m.end()
        op = next((o for o in _OPS if s.startswith(o, rest)), None)
        if op is not None and name in FIELDS:
            if op == ":" and any(s.startswith(o, rest + 1) for o in _OPS[:5]):  # duration:>500
                op = next(o for o in _OPS[:5] if s.startswith(o, rest + 1))
                rest += 1
            text, rx, end, quoted = _read_value(s, rest + len(op))
            raw = s[i:end]
            if not text and rx is None and not quoted:
                raise FilterError(f"{name}{op} needs a value", i, raw)
            return _Tok("term", i, raw, _field(name, op, text, rx, i, raw))
        raw = s[i : _bare_end(s, i)]
        after = raw[rest - i + 1 :]
        near = difflib.get_close_matches(name, FIELDS, n=1, cutoff=0.75) if op is not None else []
        looks = op == ":" and _FIELD_LIKE.match(name) and not after.startswith("//") and not after.isdigit()
        if near or looks:
            hint = f"did you mean {near[0]}?" if near else f"fields: {', '.join(_SHOWN_FIELDS)}"
            raise FilterError(f'unknown field {name!r} ({hint}); to search for the text, quote it: "{raw}"', i, raw)
    end = _bare_end(s, i)
    raw = s[i:end]
    if raw == "OR":
        return _Tok("OR", i, raw)
    return _Tok("term", i, raw, _text("all", raw, None, i, raw))


# ---------------------------------------------------------------------------- fields
def _text(scope: str, text: str, rx: re.Pattern[str] | None, pos: int, raw: str) -> Node:
    if rx is not None:
        return Text(scope, Match(regex=rx))
    if not text:
        raise FilterError("empty text", pos, raw)
    return Text(scope, Match(text=text.lower()))


def _list(text: str, pos: int, raw: str, name: str) -> list[str]:
    items = [x.strip() for x in text.split(",")]
    if not all(items):
        raise FilterError(f"{name}: empty item in a list", pos, raw)
    return items


def _globs(text: str, rx: re.Pattern[str] | None, pos: int, raw: str, name: str) -> tuple[Glob, ...]:
    if rx is not None:
        return (Glob.of_regex(rx),)
    return tuple(Glob.of(x) for x in _list(text, pos, raw, name))


def _number(field: str, text: str, pos: int, raw: str) -> float:
    if field == "duration":
        m = _DURATION.match(text.strip())
        if m is None:
            raise FilterError("duration must be a number of milliseconds (500, 500ms, 2s, 1m)", pos, raw)
        unit = (m.group(2) or "ms").lower()
        return float(m.group(1)) * {"ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]
    m = _SIZE.match(text.strip())
    if m is None:
        raise FilterError("size must be a number of bytes (500, 10KB, 1MB, 2GB)", pos, raw)
    return float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()]


def _status(op: str, text: str, pos: int, raw: str) -> Status:
    if op != ":":
        if not text.isdigit() or len(text) > 3:
            raise FilterError("status comparisons need a number, e.g. status>=400", pos, raw)
        return Status(op=op, value=int(text))
    codes: list[int] = []
    classes: list[int] = []
    ranges: list[tuple[int, int]] = []
    for item in _list(text, pos, raw, "status"):
        low = item.lower()
        cls = _STATUS_CLASS.match(low)
        rng = _STATUS_RANGE.match(low)
        if cls:
            classes.append(int(cls.group(1)))
        elif rng:
            a, b = int(rng.group(1)), int(rng.group(2))
            if a > b:
                raise FilterError(f"status range {item} runs backwards", pos, raw)
            ranges.append((a, b))
        elif low.isdigit() and len(low) <= 3:
            codes.append(int(low))
        elif low in ("none", "failed"):
            codes.append(0)
        else:
            raise FilterError(f"not a status: {item!r} (use 404, 4xx, 200-299 or 0 for no response)", pos, raw)
    return Status(codes=tuple(codes), classes=tuple(classes), ranges=tuple(ranges))


def _field(name: str, op: str, text: str, rx: re.Pattern[str] | None, pos: int, raw: str) -> Node:
    if name in ("duration", "size"):
        if op == ":":
            raise FilterError(
                f"{name} needs a comparison, e.g. {name}>{'500' if name == 'duration' else '1MB'}", pos, raw
            )
        if rx is not None:
            raise FilterError(f"{name} takes a number, not a regex", pos, raw)
        return Number(name, op, _number(name, text, pos, raw))
    if name == "status":
        if rx is not None:
            raise FilterError("status takes codes, not a regex", pos, raw)
        return _status(op, text, pos, raw)
    if op != ":":
        raise FilterError(f"{name} takes ':', not {op!r}", pos, raw)
    if name in _TEXT_FIELDS:
        return _text(_TEXT_FIELDS[name], text, rx, pos, raw)
    if name == "url":
        return Url(Match(regex=rx) if rx is not None else Match(text=text.lower()))
    if name == "method":
        if rx is not None:
            return Method(regex=rx)
        return Method(names=tuple(x.upper() for x in _list(text, pos, raw, name)))
    if name == "host":
        return Host(_globs(text, rx, pos, raw, name))
    if name == "path":
        if rx is not None:
            raise FilterError("path takes a glob such as /api/*; use url:/regex/ for a regex", pos, raw)
        return Path(Glob.of(text), "?" in text)
    if name == "type":
        if rx is not None:
            raise FilterError("type takes words such as json, img or ws", pos, raw)
        return Type(tuple(x.lower() for x in _list(text, pos, raw, name)))
    if name == "is":
        flag = text.lower()
        flag = _FLAG_ALIASES.get(flag, flag)
        if flag not in FLAGS:
            raise FilterError(f"unknown is:{text} (one of: {', '.join(FLAGS)})", pos, raw)
        return Flag(flag)
    if name == "tag":
        return Tag(_globs(text, rx, pos, raw, name))
    if name == "color":
        colors = tuple(x.lower() for x in _list(text, pos, raw, name)) if rx is None else ()
        bad = [c for c in colors if c not in COLORS] if colors else ["a regex"]
        if bad:
            raise FilterError(f"not a colour: {bad[0]} (one of: {', '.join(COLORS)})", pos, raw)
        return Color(colors)
    assert name == "graphql"
    return GraphQL(_globs(text, rx, pos, raw, name))


# ---------------------------------------------------------------------------- grammar
class _Parser:
    def __init__(self, query: str, toks: list[_Tok]) -> None:
        self.query = query
        self.toks = toks
        self.i = 0
        self.depth = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def or_(self) -> Node:
        items = [self.and_()]
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.take()
            nxt = self.peek()
            if nxt is None or nxt.kind in (")", "OR"):
                raise FilterError("OR needs a term after it", tok.pos, tok.raw)
            items.append(self.and_())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self) -> Node:
        items: list[Node] = []
        while (tok := self.peek()) is not None and tok.kind not in (")", "OR"):
            items.append(self.unary())
        if not items:
            tok = self.peek()
            if tok is None:
                raise FilterError("expected a term", len(self.query), "")
            raise FilterError("expected a term before this", tok.pos, tok.raw)
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Node:
        tok = self.take()
        if tok.kind == "-":
            nxt = self.peek()
            if nxt is None or nxt.kind in (")", "OR"):
                raise FilterError("nothing to negate after '-'", tok.pos, tok.raw)
            return Not(self.unary())
        if tok.kind == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise FilterError(f"parentheses nested deeper than {MAX_DEPTH}", tok.pos, tok.raw)
            nxt = self.peek()
            if nxt is None:
                raise FilterError("unclosed parenthesis", tok.pos, "(")
            if nxt.kind == ")":
                raise FilterError("empty parentheses", tok.pos, "()")
            node = self.or_()
            close = self.peek()
            if close is None or close.kind != ")":
                raise FilterError("unclosed parenthesis", tok.pos, "(")
            self.take()
            self.depth -= 1
            return node
        assert tok.node is not None, tok
        return tok.node


def parse_filter(query: str | None) -> Node | None:
    """The query as a tree, or None for an empty query. Raises FilterError."""
    if query is None:
        return None
    if len(query) > MAX_QUERY:
        raise FilterError(f"query longer than {MAX_QUERY} characters", MAX_QUERY, "")
    if "\x00" in query:
        raise FilterError("NUL character", query.index("\x00"), "")
    toks = _tokens(query)
    if not toks:
        return None
    terms = sum(1 for t in toks if t.kind == "term")
    if terms > MAX_TERMS:
        raise FilterError(f"more than {MAX_TERMS} terms", 0, "")
    p = _Parser(query, toks)
    first = toks[0]
    if first.kind == ")":
        raise FilterError("unmatched ')'", first.pos, ")")
    if first.kind == "OR":
        raise FilterError("OR needs a term before it", first.pos, "OR")
    node = p.or_()
    rest = p.peek()
    if rest is not None:
        raise FilterError("unmatched ')'" if rest.kind == ")" else "unexpected", rest.pos, rest.raw)
    return node


# NectoProxy's global search: one substring looked for in these places (`searchIn`).
SEARCH_PLACES = ("url", "headers", "body", "notes")
DEFAULT_SEARCH_PLACES = ("url", "headers", "body")


def search_tree(text: str, places: list[str] | tuple[str, ...] = DEFAULT_SEARCH_PLACES) -> Node:
    """`text` as a case-insensitive substring of any of the places (SEARCH_PLACES) named."""
    m = Match(text=text.lower())
    parts: list[Node] = [Url(m) if p == "url" else Text(p, m) for p in dict.fromkeys(places)]
    return parts[0] if len(parts) == 1 else Or(tuple(parts))


def all_of(*nodes: Node | None) -> Node | None:
    """AND of the given nodes, ignoring None (several filters on one query)."""
    present = tuple(n for n in nodes if n is not None)
    if not present:
        return None
    return present[0] if len(present) == 1 else And(present)


def walk(node: Node) -> list[Node]:
    """Every node of the tree, depth first."""
    out: list[Node] = [node]
    if isinstance(node, (And, Or)):
        for item in node.items:
            out += walk(item)
    elif isinstance(node, Not):
        out += walk(node.item)
    return out
