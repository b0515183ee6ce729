"""The `match` object that rules (and later breakpoints) share: which requests something applies to.

NectoProxy's shape: `{url, method, host, path, headers, bodyContains}`, every present field
AND-ed. A pattern is a glob (`*` any run of characters, `?` one character, anchored,
case-insensitive) or a regular expression written as a JavaScript literal `/body/flags`
(searched, flags from `gimsuy`) or with a `regex:` prefix. A value only counts as a regex literal
when its body has no unescaped `/` and it has flags or uses regex syntax (a backslash or one of
`^$.|?*+()[]{}`), so plain paths such as `/api/` or `/a/b/c` stay globs.

Everything is validated and compiled once (`compile_match`), when a rule is saved or loaded;
matching a request compiles nothing. Bad input raises `MatchError` naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from necto.vocab import is_token

MATCH_FIELDS = ("url", "method", "host", "path", "headers", "bodyContains")
MAX_PATTERN = 4096
MAX_BODY_NEEDLE = 64 * 1024
REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "u": 0, "g": 0, "y": 0}
_REGEX_LITERAL = re.compile(r"\A/((?:[^/\\]|\\.)+)/([a-z]*)\Z", re.DOTALL)
_REGEX_SYNTAX = re.compile(r"[\\^$.|?*+()\[\]{}]")
_URL_HOST = re.compile(r"\A(?:https?|wss?)://([a-z0-9._~%!$&'()+,;=-]+)(?=[:/]|\Z)", re.IGNORECASE)


class MatchError(ValueError):
    """A match object that cannot be used; the message starts with the field at fault."""


class Request(Protocol):
    """What a matcher reads from a request; `url`, `path`, header values and the body are only
    computed when a test needs them."""

    @property
    def method(self) -> str: ...  # upper case

    @property
    def host(self) -> str: ...  # lower case, no port, no brackets

    @property
    def port(self) -> int: ...

    def url(self) -> str: ...

    def path(self) -> str: ...  # without the query

    def header_values(self, lname: str) -> list[str]: ...

    def body(self) -> bytes | None: ...


@dataclass(slots=True)
class SimpleRequest:
    """A plain Request (tests, the standalone mock server)."""

    method: str
    full_url: str
    headers: Sequence[tuple[str, str]] = ()
    content: bytes | None = None
    host: str = ""
    port: int = 0
    _path: str = ""

    def __post_init__(self) -> None:
        from urllib.parse import urlsplit

        from necto.vocab import DEFAULT_PORTS

        u = urlsplit(self.full_url)
        self.method = self.method.upper()
        self.host = (u.hostname or "").lower()
        self.port = u.port or DEFAULT_PORTS.get(u.scheme, 0)
        self._path = u.path or "/"

    def url(self) -> str:
        return self.full_url

    def path(self) -> str:
        return self._path

    def header_values(self, lname: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == lname]

    def body(self) -> bytes | None:
        return self.content


# ---------------------------------------------------------------------------- patterns
def _regex(body: str, flags: str, where: str) -> re.Pattern[str]:
    bits = 0
    for f in flags:
        bits |= REGEX_FLAGS[f]
    try:
        return re.compile(body, bits)
    except re.error as e:
        raise MatchError(f"{where}: invalid regular expression: {e}") from None


def _glob_regex(text: str, star: str = ".*") -> str:
    out: list[str] = []
    for ch in text:
        if ch == "*":
            if not out or out[-1] != star:  # `**` is the same as `*`
                out.append(star)
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return "".join(out)


def regex_literal(text: str) -> tuple[str, str] | None:
    """(body, flags) when `text` is written as a regex, else None (it is a glob)."""
    if text.startswith("regex:"):
        return text[6:], ""
    m = _REGEX_LITERAL.match(text)
    if m is None or not set(m.group(2)) <= REGEX_FLAGS.keys():
        return None
    if not m.group(2) and not _REGEX_SYNTAX.search(m.group(1)):
        return None
    return m.group(1), m.group(2)


def compile_pattern(value: Any, where: str) -> Callable[[str], bool]:
    """A glob or regex pattern as a test on one string."""
    if not isinstance(value, str):
        raise MatchError(f"{where} must be a string")
    if len(value) > MAX_PATTERN:
        raise MatchError(f"{where} is longer than {MAX_PATTERN} characters")
    lit = regex_literal(value)
    if lit is not None:
        rx = _regex(*lit, where)
        return lambda s: rx.search(s) is not None
    if value == "*":
        return _always
    if "*" not in value and "?" not in value:
        low = value.lower()
        return lambda s: s.lower() == low
    rx = re.compile(r"\A" + _glob_regex(value) + r"\Z", re.IGNORECASE | re.DOTALL)
    return lambda s: rx.match(s) is not None


def _always(_: str) -> bool:
    return True


def _host_test(value: Any, where: str) -> tuple[Callable[[str, int], bool], str | None, str | None]:
    """(test(host, port), exact host for indexing, suffix for `*.suffix` indexing)."""
    if not isinstance(value, str) or not value.strip():
        raise MatchError(f"{where} must be a non-empty string")
    text = value.strip().lower()
    if len(text) > MAX_PATTERN:
        raise MatchError(f"{where} is longer than {MAX_PATTERN} characters")
    lit = regex_literal(value.strip())
    if lit is not None:
        rx = _regex(*lit, where)
        return (lambda h, p: rx.search(h) is not None), None, None
    port: int | None = None
    if text.startswith("["):  # [IPv6] or [IPv6]:port
        m = re.match(r"\A\[([^\]]+)\](?::(\d{1,5}))?\Z", text)
        if m is None:
            raise MatchError(f"{where}: not a host name or pattern: {value!r}")
        text, port = m.group(1), int(m.group(2)) if m.group(2) else None
    elif text.count(":") == 1:  # host:port (a bare IPv6 address has several colons)
        text, _, digits = text.partition(":")
        if not digits.isdigit() or len(digits) > 5:
            raise MatchError(f"{where}: not a port: {digits!r}")
        port = int(digits)
    if not text or any(c in text for c in "/ \t"):
        raise MatchError(f"{where}: not a host name or pattern: {value!r}")

    def with_port(test: Callable[[str], bool]) -> Callable[[str, int], bool]:
        if port is None:
            return lambda h, p: test(h)
        return lambda h, p: p == port and test(h)

    if "*" not in text and "?" not in text:
        return with_port(lambda h: h == text), text, None
    suffix = None
    if text.startswith("*."):
        rest = text[2:]
        body = r"(?:[^.]+\.)+" + _glob_regex(rest, "[^.]*")
        if "*" not in rest and "?" not in rest:
            suffix = rest
    else:
        body = _glob_regex(text, "[^.]*")
    rx = re.compile(r"\A" + body + r"\Z")
    return with_port(lambda h: rx.match(h) is not None), None, suffix


def _url_host(value: str) -> str | None:
    """The host a URL glob pins down (`https://api.example.com/*`), for indexing; None when
    the pattern could match more than one host."""
    if regex_literal(value) is not None:
        return None
    m = _URL_HOST.match(value)
    if m is None or any(c in m.group(1) for c in "*?@["):
        return None
    return m.group(1).lower()


# ---------------------------------------------------------------------------- the match object
@dataclass(slots=True)
class CompiledMatch:
    """A validated match object, ready to test requests. `spec` is the normalised JSON form."""

    spec: dict[str, Any]
    methods: frozenset[str] | None = None
    hosts: frozenset[str] | None = None  # the request host must be one of these (indexing)
    host_suffix: str | None = None  # ... or end with "." + this
    path_prefix: str | None = None  # literal leading path of the pattern (map-local mounts)
    path_segment: str | None = None  # the request path's first segment must be this (indexing)
    tests: list[Callable[[Request], bool]] = field(default_factory=list)

    def matches(self, req: Request) -> bool:
        if self.methods is not None and req.method not in self.methods:
            return False
        for test in self.tests:
            if not test(req):
                return False
        return True


def _literal_path_prefix(pattern: str) -> str | None:
    """`/static/*` -> `/static/`; `*/api/*` -> `/api/`; `https://h/assets/*` -> `/assets/`."""
    if regex_literal(pattern) is not None:
        return None
    m = re.match(r"\A(?:[a-z]+://[^/*?]+|\*)?(/[^*?]*)", pattern, re.IGNORECASE)
    if m is None:
        return None
    prefix = m.group(1)
    return prefix[: prefix.rfind("/") + 1] or None


def _first_segment(pattern: str) -> str | None:
    """`/api/v1/*` -> `api` (lower case: globs ignore case); None when a wildcard or a regex
    could put anything there."""
    if regex_literal(pattern) is not None or not pattern.startswith("/"):
        return None
    m = re.match(r"\A/([^/*?]+)(?:/|\Z)", pattern)
    return m.group(1).lower() if m else None


def request_segment(path: str) -> str:
    """The first segment of a request path, as `CompiledMatch.path_segment` is written."""
    end = path.find("/", 1)
    return (path[1:end] if end != -1 else path[1:]).lower()


def compile_match(value: Any, where: str = "match") -> CompiledMatch:
    """Validate and compile a match object; MatchError names the bad field."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise MatchError(f"{where} must be an object")
    unknown = [k for k in value if k not in MATCH_FIELDS]
    if unknown:
        raise MatchError(f"{where}.{unknown[0]} is not a match field (use {', '.join(MATCH_FIELDS)})")
    spec: dict[str, Any] = {}
    cm = CompiledMatch(spec)
    tests: list[tuple[int, Callable[[Request], bool]]] = []  # (cost, test): cheap ones first

    method = value.get("method")
    if method is not None:
        items = [method] if isinstance(method, str) else method
        if not isinstance(items, list) or not items or not all(isinstance(m, str) and m.strip() for m in items):
            raise MatchError(f"{where}.method must be a method name or a non-empty list of them")
        names = [m.strip().upper() for m in items]
        bad = [m for m in names if m != "*" and not is_token(m)]
        if bad:
            raise MatchError(f"{where}.method: not an HTTP method: {bad[0]!r}")
        spec["method"] = method if isinstance(method, str) else list(method)
        if "*" not in names:
            cm.methods = frozenset(names)

    host = value.get("host")
    if host is not None:
        htest, exact, suffix = _host_test(host, f"{where}.host")
        spec["host"] = host
        tests.append((1, lambda r: htest(r.host, r.port)))
        if exact is not None:
            cm.hosts = frozenset({exact})
        cm.host_suffix = suffix

    path = value.get("path")
    if path is not None:
        ptest = compile_pattern(path, f"{where}.path")
        spec["path"] = path
        if ptest is not _always:
            tests.append((2, lambda r: ptest(r.path())))
        cm.path_prefix = _literal_path_prefix(path)
        cm.path_segment = _first_segment(path)

    url = value.get("url")
    if url is not None:
        utest = compile_pattern(url, f"{where}.url")
        spec["url"] = url
        if utest is not _always:
            tests.append((3, lambda r: utest(r.url())))
        pinned = _url_host(url)
        if pinned is not None and cm.hosts is None and cm.host_suffix is None:
            cm.hosts = frozenset({pinned})
        if cm.path_prefix is None:
            cm.path_prefix = _literal_path_prefix(url)

    headers = value.get("headers")
    if headers is not None:
        if not isinstance(headers, dict):
            raise MatchError(f"{where}.headers must be an object of header name to pattern")
        for name, pattern in headers.items():
            if not is_token(name):
                raise MatchError(f"{where}.headers: not a header name: {name!r}")
            htest2 = compile_pattern(pattern, f"{where}.headers.{name}")
            tests.append((4, _header_test(name.lower(), htest2)))
        spec["headers"] = dict(headers)

    needle = value.get("bodyContains")
    if needle is not None:
        if not isinstance(needle, str) or not needle:
            raise MatchError(f"{where}.bodyContains must be a non-empty string")
        if len(needle) > MAX_BODY_NEEDLE:
            raise MatchError(f"{where}.bodyContains is longer than {MAX_BODY_NEEDLE} characters")
        raw = needle.encode("utf-8")
        spec["bodyContains"] = needle

        def body_test(r: Request) -> bool:
            body = r.body()
            return bool(body) and raw in body  # type: ignore[operator]

        tests.append((9, body_test))

    tests.sort(key=lambda t: t[0])
    cm.tests = [t for _, t in tests]
    return cm


def _header_test(lname: str, test: Callable[[str], bool]) -> Callable[[Request], bool]:
    def run(r: Request) -> bool:
        return any(test(v) for v in r.header_values(lname))

    return run


def host_could_match(cm: CompiledMatch, host: str) -> bool:
    """Could a request to `host` match? (False only when the host index rules it out.)"""
    host = host.lower()
    if cm.hosts is not None:
        return host in cm.hosts or (cm.host_suffix is not None and host.endswith("." + cm.host_suffix))
    if cm.host_suffix is not None:
        return host.endswith("." + cm.host_suffix)
    return True


# ---------------------------------------------------------------------------- indexing many
class Matchable(Protocol):
    """Anything carrying a compiled match object (a rule, a breakpoint)."""

    match: CompiledMatch


class MatchIndex[M: Matchable]:
    """Items (rules, breakpoints) indexed by the host their match pins (exact, or `*.suffix`),
    else by their literal first path segment, so a request only meets the items that could
    match it: a hundred items for other hosts cost a few dictionary lookups. Order is kept."""

    def __init__(self, items: Iterable[M] = ()) -> None:
        self.items = list(items)
        self._pos = {id(x): i for i, x in enumerate(self.items)}
        self.by_host: dict[str, list[M]] = {}
        self.by_suffix: dict[str, list[M]] = {}
        self.by_segment: dict[str, list[M]] = {}  # no host, but a literal first path segment
        self.general: list[M] = []
        for x in self.items:
            m = x.match
            if m.hosts is not None:
                for h in m.hosts:
                    self.by_host.setdefault(h, []).append(x)
                if m.host_suffix is not None:
                    self.by_suffix.setdefault(m.host_suffix, []).append(x)
            elif m.host_suffix is not None:
                self.by_suffix.setdefault(m.host_suffix, []).append(x)
            elif m.path_segment is not None:
                self.by_segment.setdefault(m.path_segment, []).append(x)
            else:
                self.general.append(x)

    def __bool__(self) -> bool:
        return bool(self.items)

    def candidates(self, host: str, segment: str | None = None) -> list[M]:
        """The items that could match a request to `host` whose path starts with `segment`
        (None: any path), in order."""
        lists = []
        exact = self.by_host.get(host)
        if exact:
            lists.append(exact)
        if self.by_suffix:
            dot = host.find(".")
            while dot != -1:
                found = self.by_suffix.get(host[dot + 1 :])
                if found:
                    lists.append(found)
                dot = host.find(".", dot + 1)
        if self.by_segment:
            if segment is None:
                lists.extend(self.by_segment.values())
            else:
                found = self.by_segment.get(segment)
                if found:
                    lists.append(found)
        if self.general:
            lists.append(self.general)
        if not lists:
            return []
        if len(lists) == 1:
            return lists[0]
        pos = self._pos
        return sorted({id(x): x for lst in lists for x in lst}.values(), key=lambda x: pos[id(x)])

    def matching(self, req: Request) -> Iterator[M]:
        """The items whose match object matches the request, in order."""
        for x in self.candidates(req.host, request_segment(req.path()) if self.by_segment else None):
            if x.match.matches(req):
                yield x
