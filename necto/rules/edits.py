"""What modify-request / modify-response do, compiled once per rule.

Order (NectoProxy's documented order, then Necto's additions): remove headers -> set headers ->
remove query parameters -> set query parameters -> replaceBody -> findReplace -> setJson ->
removeJson. No user code runs: `transformBody` (JavaScript in NectoProxy) is replaced by regex
find/replace and JSON path edits.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from necto.jsonpath import parse_json_path
from necto.match import REGEX_FLAGS, regex_literal

MAX_JSON_DEPTH = 512


def header_strings(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [_text(v) for v in values]


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _replacer(template: str) -> Callable[[re.Match[str]], str]:
    """A JavaScript-style replacement: `$1`..`$99` groups, `$&` the match, `$$` a dollar."""
    parts = re.split(r"(\$\$|\$&|\$\d{1,2})", template)

    def expand(m: re.Match[str]) -> str:
        out = []
        for p in parts:
            if p == "$$":
                out.append("$")
            elif p == "$&":
                out.append(m.group(0))
            elif len(p) > 1 and p[0] == "$" and p[1:].isdigit():
                n = int(p[1:])
                out.append((m.group(n) or "") if n <= (m.re.groups or 0) else p)
            else:
                out.append(p)
        return "".join(out)

    return expand


@dataclass(slots=True)
class FindReplace:
    pattern: re.Pattern[str] | None  # a regex, or None for a literal `find`
    find: str
    replace: str

    def apply(self, text: str) -> str:
        if self.pattern is None:
            return text.replace(self.find, self.replace)
        return self.pattern.sub(_replacer(self.replace), text)


def compile_find(find: str, replace: str) -> FindReplace:
    """`/regex/flags` (or `regex:...`) is a regular expression; anything else is literal text."""
    lit = regex_literal(find)
    if lit is None:
        return FindReplace(None, find, replace)
    body, flags = lit
    bits = 0
    for f in flags:
        bits |= REGEX_FLAGS[f]
    return FindReplace(re.compile(body, bits), find, replace)


@dataclass(slots=True)
class Edits:
    """One modify-* rule's config, ready to apply."""

    set_status: int | None = None
    remove_headers: list[str] = field(default_factory=list)
    set_headers: list[tuple[str, list[str]]] = field(default_factory=list)
    remove_query: list[str] = field(default_factory=list)
    set_query: list[tuple[str, list[str]]] = field(default_factory=list)
    replace_body: str | None = None
    find_replace: list[FindReplace] = field(default_factory=list)
    set_json: list[tuple[list[Any], Any]] = field(default_factory=list)
    remove_json: list[list[Any]] = field(default_factory=list)

    @property
    def touches_body(self) -> bool:
        return self.replace_body is not None or bool(self.find_replace or self.set_json or self.remove_json)

    def apply_headers(self, headers: Any) -> None:
        """On a mitmproxy `Headers` (case-insensitive; `set_all` replaces every value)."""
        for name in self.remove_headers:
            if name in headers:
                del headers[name]
        for name, values in self.set_headers:
            headers.set_all(name, values)

    def apply_query(self, query: Any) -> None:
        """On a mitmproxy request's `query` view."""
        for name in self.remove_query:
            if name in query:
                del query[name]
        for name, values in self.set_query:
            query.set_all(name, values)

    def apply_body(self, body: bytes) -> bytes:
        if self.replace_body is not None:
            body = self.replace_body.encode("utf-8")
        if self.find_replace:
            text = body.decode("utf-8", "surrogateescape")
            for fr in self.find_replace:
                text = fr.apply(text)
            body = text.encode("utf-8", "surrogateescape")
        if self.set_json or self.remove_json:
            body = edit_json(body, self.set_json, self.remove_json)
        return body


def compile_edits(config: dict[str, Any]) -> Edits:
    e = Edits()
    e.set_status = config.get("setStatus")
    e.remove_headers = list(config.get("removeHeaders") or [])
    e.set_headers = [(k, header_strings(v)) for k, v in (config.get("setHeaders") or {}).items()]
    e.remove_query = list(config.get("removeQueryParams") or [])
    e.set_query = [(k, header_strings(v)) for k, v in (config.get("setQueryParams") or {}).items()]
    e.replace_body = config.get("replaceBody")
    e.find_replace = [compile_find(i["find"], i.get("replace", "")) for i in config.get("findReplace") or []]
    e.set_json = [(parse_json_path(p), v) for p, v in (config.get("setJson") or {}).items()]
    e.remove_json = [parse_json_path(p) for p in config.get("removeJson") or []]
    return e


# ---------------------------------------------------------------------------- JSON edits
_MISSING = object()


def _set(doc: Any, tokens: list[Any], value: Any, depth: int = 0) -> Any:
    if not tokens:
        return value
    if depth > MAX_JSON_DEPTH:
        return doc
    head, rest = tokens[0], tokens[1:]
    kind = head[0]
    if kind == "key":
        if doc is _MISSING:
            doc = {}
        if isinstance(doc, dict):
            doc[head[1]] = _set(doc.get(head[1], _MISSING), rest, value, depth + 1)
        return doc
    if kind == "index":
        if isinstance(doc, list):
            i = head[1]
            if i < len(doc):
                doc[i] = _set(doc[i], rest, value, depth + 1)
            elif i == len(doc):
                doc.append(_set(_MISSING, rest, value, depth + 1))
        return doc
    if kind == "any":
        if isinstance(doc, dict):
            for k in doc:
                doc[k] = _set(doc[k], rest, value, depth + 1)
        elif isinstance(doc, list):
            for i in range(len(doc)):
                doc[i] = _set(doc[i], rest, value, depth + 1)
        return doc
    # deep: the rest applies here and at every level below
    doc = _set(doc, rest, value, depth + 1) if rest and doc is not _MISSING else doc
    children = doc.values() if isinstance(doc, dict) else doc if isinstance(doc, list) else []
    for child in list(children):
        if isinstance(child, (dict, list)):
            _set(child, tokens, value, depth + 1)
    return doc


def _remove(doc: Any, tokens: list[Any], depth: int = 0) -> None:
    if not tokens or depth > MAX_JSON_DEPTH or not isinstance(doc, (dict, list)):
        return
    head, rest = tokens[0], tokens[1:]
    kind = head[0]
    if kind == "deep":
        _remove(doc, rest, depth + 1)
        for child in list(doc.values() if isinstance(doc, dict) else doc):
            _remove(child, tokens, depth + 1)
        return
    if kind == "key":
        keys: list[Any] = [head[1]] if isinstance(doc, dict) and head[1] in doc else []
    elif kind == "index":
        keys = [head[1]] if isinstance(doc, list) and head[1] < len(doc) else []
    else:  # any
        keys = list(doc) if isinstance(doc, dict) else list(range(len(doc)))
    if not rest:
        for k in sorted(keys, reverse=True) if isinstance(doc, list) else keys:
            del doc[k]
        return
    for k in keys:
        _remove(doc[k], rest, depth + 1)


def edit_json(body: bytes, sets: list[tuple[list[Any], Any]], removes: list[list[Any]]) -> bytes:
    """Apply JSON path edits; a body that is not JSON is left as it is."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    for tokens, value in sets:
        doc = _set(doc, tokens, value)
    for tokens in removes:
        _remove(doc, tokens)
    return orjson.dumps(doc)
