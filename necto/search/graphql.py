"""The operation name of a GraphQL request (`POST /graphql` alone tells nothing).

Read from the JSON body's `operationName`, else the first named operation in `query`; GET
requests carry both in the query string; `application/graphql` bodies are the query itself.
Batched requests (a JSON array) give their names joined by ", ". An anonymous operation
(`{ user { id } }`) is "" (still GraphQL); anything else is None. Bodies over MAX_BODY are not
parsed.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import orjson

from necto.model import Entry, header_value
from necto.vocab import base_mime

MAX_BODY = 1 << 20
MAX_NAMES = 5
_OPERATION = re.compile(r"(?<![\w$])(query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)")
_COMMENT = re.compile(r"#[^\n\r]*")
_DOCUMENT = re.compile(r"\A\s*(?:#[^\n]*\s*)*(?:\{|query\b|mutation\b|subscription\b|fragment\b)")


def _name_in(query: str) -> str:
    m = _OPERATION.search(_COMMENT.sub("", query[:MAX_BODY]))
    return m.group(2) if m else ""


def _one(obj: object) -> str | None:
    if not isinstance(obj, dict):
        return None
    name = obj.get("operationName")
    query = obj.get("query")
    if isinstance(query, str) and _DOCUMENT.match(query):
        return name if isinstance(name, str) and name else _name_in(query)
    persisted = isinstance(obj.get("extensions"), dict) and "persistedQuery" in obj["extensions"]
    if persisted and isinstance(name, str):
        return name
    return None


def operation_name(method: str, url: str, content_type: str, body: bytes | None) -> str | None:
    """The operation name, "" for an anonymous operation, None when this is not GraphQL."""
    mime = base_mime(content_type)
    if body and len(body) <= MAX_BODY:
        if mime == "application/graphql":
            text = body.decode("utf-8", "replace")
            return _name_in(text) if _DOCUMENT.match(text) else None
        head = body.lstrip()[:1]
        if head in (b"{", b"[") and (not mime or "json" in mime):
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError:
                return None
            if isinstance(data, list):
                names = [_one(x) for x in data[:50]]
                if not names or any(n is None for n in names):
                    return None
                unique = list(dict.fromkeys(n for n in names if n))
                return ", ".join(unique[:MAX_NAMES])
            return _one(data)
    if method.upper() == "GET" and "query=" in url:
        params = parse_qs(urlsplit(url).query)
        query = (params.get("query") or [""])[0]
        if query and _DOCUMENT.match(query):
            name = (params.get("operationName") or [""])[0]
            return name or _name_in(query)
    return None


def entry_operation(e: Entry) -> str | None:
    """`operation_name` of an entry's request (it needs the request body)."""
    return operation_name(e.method, e.url, header_value(e.request_headers, "content-type") or "", e.request_body)
