"""A held exchange as an HTTP message a person edits in $EDITOR, and the resume body it becomes.

`necto breakpoints watch` writes the request (or the response, or a mock answer) as

    POST https://api.example.com/v1/users HTTP/1.1
    Content-Type: application/json

    {"name": "x"}

and, once the editor is closed, sends only what changed (`modifications.request.method`,
`url`, `headerList`, `body`; for a response `status`, `statusText`, ...), in the REST API's resume
body. A body that is not UTF-8 text is shown as one placeholder line: left as it is, the body
is kept. The file ends with one newline after the body, which is not part of it. Lines starting
with `#` before the first line are comments.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from necto.model import Header
from necto.vocab import is_token

BINARY_PLACEHOLDER = "<binary body, {size} bytes: leave this line as it is to keep it>"
MAX_MESSAGE = 64 << 20


class MessageError(ValueError):
    """An edited message that cannot be sent; the message says where."""


@dataclass(slots=True)
class Message:
    start: list[str]  # request: [method, url, version?]; response: [version, status, reason]
    headers: list[Header]
    body: bytes | None  # None: keep the body as it was (the binary placeholder was left alone)


def _body_text(body: bytes | None) -> str:
    if not body:
        return ""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return BINARY_PLACEHOLDER.format(size=len(body))


def _b64(value: str | None) -> bytes | None:
    return base64.b64decode(value) if value else None


def _pairs(items: list[dict[str, str]] | None) -> list[Header]:
    return [(h["name"], h["value"]) for h in items or []]


def _render(first: str, headers: list[Header], body: bytes | None, comment: str) -> str:
    lines = [f"# {comment}", first, *(f"{n}: {v}" for n, v in headers), "", _body_text(body)]
    return "\n".join(lines) + "\n"


def render_request(hit: dict[str, Any]) -> str:
    first = f"{hit['method']} {hit['url']} {hit.get('httpVersion') or 'HTTP/1.1'}"
    return _render(first, _pairs(hit.get("requestHeaderList")), _b64(hit.get("requestBody")),
                   "Necto: edit the request, save and quit to send it on (Content-Length is recomputed).")  # fmt: skip


def render_response(hit: dict[str, Any]) -> str:
    first = f"{hit.get('httpVersion') or 'HTTP/1.1'} {hit['status']} {hit.get('statusText') or ''}".rstrip()
    return _render(first, _pairs(hit.get("responseHeaderList")), _b64(hit.get("responseBody")),
                   "Necto: edit the response, save and quit to send it to the client.")  # fmt: skip


def render_mock(hit: dict[str, Any]) -> str:
    """A mock answer to start from: the response itself for a response hit, else a 200."""
    if hit.get("type") == "response":
        text = render_response(hit)
        return text.replace(
            "edit the response, save and quit to send it to the client", "this answer replaces the response", 1
        )
    return _render("HTTP/1.1 200 OK", [("Content-Type", "text/plain; charset=utf-8")], b"",
                   "Necto: this answer is sent to the client; the origin is not contacted.")  # fmt: skip


def parse(text: str, kind: str, original_body: bytes | None = None) -> Message:
    """Read an edited message; `kind` is request or response."""
    if len(text) > MAX_MESSAGE:
        raise MessageError(f"the message is larger than {MAX_MESSAGE >> 20} MiB")
    lines = text.split("\n")
    i = 0
    while i < len(lines) and (lines[i].startswith("#") or not lines[i].strip()):
        i += 1
    if i == len(lines):
        raise MessageError("the message is empty")
    start = lines[i].rstrip("\r").split(None, 2)
    headers: list[Header] = []
    i += 1
    while i < len(lines) and lines[i].rstrip("\r"):
        line = lines[i].rstrip("\r")
        name, colon, value = line.partition(":")
        if not colon or not is_token(name.strip()):
            raise MessageError(f"line {i + 1}: not a header (Name: value): {line[:80]!r}")
        headers.append((name.strip(), value.strip()))
        i += 1
    body_text = "\n".join(lines[i + 1 :]) if i < len(lines) else ""
    if body_text.endswith("\n"):
        body_text = body_text[:-1]  # the newline the file ends with
    body: bytes | None = body_text.encode("utf-8", "surrogateescape")
    if original_body and body_text == _body_text(original_body) and body_text.startswith("<binary body"):
        body = None
    if kind == "request":
        if len(start) < 2 or not is_token(start[0]):
            raise MessageError("the first line must be: METHOD URL [HTTP/1.1]")
    else:
        if len(start) < 2 or not start[0].upper().startswith("HTTP/") or not start[1].isdigit():
            raise MessageError("the first line must be: HTTP/1.1 STATUS [REASON]")
        if not 100 <= int(start[1]) <= 599:
            raise MessageError("the status must be between 100 and 599")
    return Message(start, headers, body)


def _header_json(headers: list[Header]) -> list[dict[str, str]]:
    return [{"name": n, "value": v} for n, v in headers]


def _body_json(body: bytes) -> dict[str, str]:
    try:
        return {"body": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"body": base64.b64encode(body).decode("ascii"), "bodyEncoding": "base64"}


def request_resume(hit: dict[str, Any], text: str) -> dict[str, Any]:
    """The resume body for an edited request: only what changed."""
    original = _b64(hit.get("requestBody"))
    m = parse(text, "request", original)
    mods: dict[str, Any] = {}
    if m.start[0] != hit["method"]:
        mods["method"] = m.start[0]
    if m.start[1] != hit["url"]:
        mods["url"] = m.start[1]
    if m.headers != _pairs(hit.get("requestHeaderList")):
        mods["headerList"] = _header_json(m.headers)
    if m.body is not None and m.body != (original or b""):
        mods.update(_body_json(m.body))
    return {"action": "continue", "modifications": {"request": mods}} if mods else {"action": "continue"}


def response_resume(hit: dict[str, Any], text: str) -> dict[str, Any]:
    """The resume body for an edited response: only what changed."""
    original = _b64(hit.get("responseBody"))
    m = parse(text, "response", original)
    mods: dict[str, Any] = {}
    status, reason = int(m.start[1]), m.start[2] if len(m.start) > 2 else ""
    if status != hit.get("status"):
        mods["status"] = status
    if reason != (hit.get("statusText") or ""):
        mods["statusText"] = reason
    if m.headers != _pairs(hit.get("responseHeaderList")):
        mods["headerList"] = _header_json(m.headers)
    if m.body is not None and m.body != (original or b""):
        mods.update(_body_json(m.body))
    return {"action": "continue", "modifications": {"response": mods}} if mods else {"action": "continue"}


def mock_resume(hit: dict[str, Any], text: str) -> dict[str, Any]:
    """The resume body answering with the edited message (the origin is not asked, or not heard)."""
    original = _b64(hit.get("responseBody")) if hit.get("type") == "response" else None
    m = parse(text, "response", original)
    body = m.body if m.body is not None else (original or b"")
    mock: dict[str, Any] = {"status": int(m.start[1]), "headerList": _header_json(m.headers), **_body_json(body)}
    if len(m.start) > 2:
        mock["statusText"] = m.start[2]
    return {"action": "mock", "modifications": {"mock": mock}}
