"""Readable bodies through mitmproxy's content views (JSON, XML/HTML, Protobuf, gRPC, GraphQL,
MsgPack, hex...) instead of decoders of our own.

A stored entry becomes a mitmproxy HTTPFlow (the views read the message's headers and the
request path: gRPC needs the method to find its messages in `.proto` files). Protobuf and gRPC
render without a schema (field numbers and wire types), or with field names from the `.proto`
files of `--proto-dir`. Forms also come as a parameter table. CPU-bound: run it in a thread.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mitmproxy import connection, contentviews, http
from mitmproxy.contentviews import Metadata
from mitmproxy.utils import strutils

from necto.har.derive import form_params
from necto.model import Entry, Header, header_value

# Our names (the API's `view` values) -> mitmproxy's view names; "form" is ours.
VIEWS: dict[str, str] = {
    "auto": "auto",
    "json": "json",
    "xml": "xml/html",
    "html": "xml/html",
    "protobuf": "protobuf",
    "grpc": "grpc",
    "graphql": "graphql",
    "msgpack": "msgpack",
    "form": "form",
    "hex": "hex dump",
    "raw": "raw",
}
PARTS = ("request", "response")
MAX_VIEW = 4 << 20  # bytes of a body a view renders (the rest is cut, and said)
_DROP = frozenset({"content-encoding", "content-length", "transfer-encoding"})  # the body is stored decoded


@dataclass
class Rendered:
    view: str  # the view that rendered it (mitmproxy's name, or "form")
    text: str
    description: str = ""  # mitmproxy's note, e.g. "[failed to parse as JSON]"
    params: list[dict[str, str]] | None = None  # form parameters
    truncated: bool = False

    def as_json(self, part: str) -> dict[str, Any]:
        return {"part": part, "view": self.view, "text": self.text, "description": self.description,
                "params": self.params, "truncated": self.truncated, "views": list(VIEWS)}  # fmt: skip


def _headers(headers: list[Header]) -> list[tuple[bytes, bytes]]:
    return [
        (n.encode("utf-8", "surrogateescape"), v.encode("utf-8", "surrogateescape"))
        for n, v in headers
        if n.lower() not in _DROP and not n.startswith(":")
    ]


def _flow(e: Entry, request_body: bytes, response_body: bytes) -> http.HTTPFlow:
    client = connection.Client(peername=(e.client_ip or "127.0.0.1", e.client_port or 0), sockname=("127.0.0.1", 0))
    server = connection.Server(address=(e.host or "localhost", e.server_port or 0))
    flow = http.HTTPFlow(client, server)
    flow.request = http.Request.make(e.method, e.url, request_body, _headers(e.request_headers))
    with contextlib.suppress(ValueError):
        flow.request.http_version = e.http_version or "HTTP/1.1"
    if e.status is not None:
        flow.response = http.Response.make(e.status, response_body, _headers(e.response_headers))
    return flow


def _form(body: bytes, content_type: str) -> Rendered | None:
    params = form_params(body, content_type)
    if params is None:
        return None
    lines = []
    for p in params:
        if "fileName" in p:
            value = f"(file {p['fileName']}{', ' + p['contentType'] if 'contentType' in p else ''})"
        else:
            value = p.get("value", "(binary)")
        lines.append(f"{p['name']}: {value}")
    return Rendered("form", "\n".join(lines), params=params)


def render(e: Entry, part: str, view: str = "auto", proto_dir: Path | None = None) -> Rendered:
    """One side's body through a view. KeyError for an unknown view; ValueError for no body."""
    name = VIEWS[view]
    full = e.request_body if part == "request" else e.response_body
    if not full or (part == "response" and e.status is None):
        raise ValueError(f"the {part} has no body")
    body = full[:MAX_VIEW]
    cut = len(full) > len(body)
    headers = e.request_headers if part == "request" else e.response_headers
    ctype = header_value(headers, "content-type") or ""
    if name == "form":
        out = _form(body, ctype) or Rendered("form", "", description="not a form body (urlencoded or multipart)")
        out.truncated = cut
        return out
    flow = _flow(e, body if part == "request" else b"", body if part == "response" else b"")
    message: http.Message = flow.request if part == "request" else flow.response  # type: ignore[assignment]
    meta = Metadata(flow=flow, http_message=message, protobuf_definitions=proto_dir)
    if ctype:
        parsed = http.parse_content_type(ctype)
        if parsed:
            meta.content_type = f"{parsed[0]}/{parsed[1]}"
    result = _prettify(body, meta, name)
    result.truncated = cut
    if view == "auto":
        form = _form(body, ctype)
        if form is not None:
            form.text = result.text
            form.view = result.view
            form.truncated = cut
            return form
    return result


def _prettify(data: bytes, meta: Metadata, name: str) -> Rendered:
    """mitmproxy's prettify_message without its options context: pick the view (`auto`: the
    best match), render, and fall back to raw when the automatic choice cannot parse."""
    view = contentviews.registry.get_view(data, meta, name)
    try:
        text = view.prettify(data, meta)
        desc = ""
    except Exception as exc:  # every view raises its own kind of error
        if name != "auto":
            return Rendered(view.name, "", description=f"Couldn't parse as {view.name}: {exc}")
        desc = f"[failed to parse as {view.name}]"
        view = contentviews.raw
        text = view.prettify(data, meta)
    return Rendered(view.name, strutils.escape_control_characters(text), description=desc)
