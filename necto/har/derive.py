"""What a HAR entry derives from an Entry: cookies, query, postData, mime, redirect, headers.

Shared by export (which writes these) and import (which keeps a source value only where it
differs from what would be derived, so that a re-export is exact).
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import functools
import ipaddress
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from necto.model import Entry, Header, Timings, header_value
from necto.vocab import is_binary_mime, is_text_mime, is_token

SUMMED = ("blocked", "dns", "connect", "send", "wait", "receive")  # `time` adds these (not ssl)


@functools.lru_cache(maxsize=4096)
def valid_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def text_or_base64(body: bytes) -> tuple[str, str | None]:
    """UTF-8 text as-is; anything else base64 (NUL bytes count as binary)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"
    if "\x00" in text:
        return base64.b64encode(body).decode("ascii"), "base64"
    return text, None


def is_binary(body: bytes, mime: str) -> bool:
    """What excludeBinary leaves out: bodies that are not text by type or by bytes."""
    if is_text_mime(mime):
        return text_or_base64(body)[1] is not None
    if is_binary_mime(mime):
        return True
    return text_or_base64(body)[1] is not None


@functools.lru_cache(maxsize=4096)
def header_exportable(name: str, response: bool) -> bool:
    """What a HAR header list may hold, one rule for both sides: HTTP token names, plus the
    HTTP/2 pseudo-headers of a request (`:authority`). A response's pseudo-headers and any
    invalid name make Playwright hang and are re-warned by every reader. (Cached: header
    names repeat on every entry.)"""
    if name.startswith(":"):
        return not response and is_token(name[1:])
    return is_token(name)


def harheaders(headers: Iterable[Header], response: bool = False) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(headers, left out): one object per header line; names a HAR header may not have are
    left out of `headers` (the export keeps them in `_invalidHeaders`)."""
    out: list[dict[str, str]] = []
    dropped: list[dict[str, str]] = []
    for name, value in headers:
        (out if header_exportable(name, response) else dropped).append({"name": name, "value": value})
    return out, dropped


def phase_total(t: Timings) -> float:
    """HAR `time`: the sum of the phases that apply (`ssl` is inside `connect`, not added)."""
    return sum(v for v in (t.blocked, t.dns, t.connect, t.send, t.wait, t.receive) if v >= 0)


def derive_request_cookies(headers: list[Header]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, value in headers:
        if name.lower() != "cookie":
            continue
        for part in value.split(";"):
            if not part.strip():
                continue
            n, _, v = part.strip().partition("=")
            out.append({"name": n.strip(), "value": v.strip()})
    return out


def _cookie_expires(value: str) -> str | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def parse_set_cookie(value: str) -> dict[str, Any] | None:
    parts = value.split(";")
    name, sep, val = parts[0].partition("=")
    if not sep:
        return None
    c: dict[str, Any] = {"name": name.strip(), "value": val.strip()}
    flags = {"httpOnly": False, "secure": False}
    for attr in parts[1:]:
        k, _, v = attr.strip().partition("=")
        key, v = k.strip().lower(), v.strip()
        if key == "path":
            c["path"] = v
        elif key == "domain":
            c["domain"] = v
        elif key == "expires":
            exp = _cookie_expires(v)
            if exp:
                c["expires"] = exp
        elif key == "httponly":
            flags["httpOnly"] = True
        elif key == "secure":
            flags["secure"] = True
        elif key == "samesite":
            c["sameSite"] = v
    c.update(flags)
    return c


def derive_response_cookies(headers: list[Header]) -> list[dict[str, Any]]:
    out = []
    for name, value in headers:
        if name.lower() == "set-cookie":
            c = parse_set_cookie(value)
            if c is not None:
                out.append(c)
    return out


def derive_query(url: str) -> list[dict[str, str]]:
    if "?" not in url:
        return []
    return [{"name": n, "value": v} for n, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)]


def _multipart_params(body: bytes, content_type: str) -> list[dict[str, str]] | None:
    m = re.search(r'boundary="?([^";]+)"?', content_type, re.I)
    if not m:
        return None
    boundary = b"--" + m.group(1).encode()
    params: list[dict[str, str]] = []
    for part in body.split(boundary)[1:]:
        if part.startswith(b"--"):
            break
        head, sep, data = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        if data.endswith(b"\r\n"):
            data = data[:-2]
        head_text = head.decode("utf-8", "replace")
        name = re.search(r'name="([^"]*)"', head_text)
        if not name:
            continue
        p: dict[str, str] = {"name": name.group(1)}
        fname = re.search(r'filename="([^"]*)"', head_text)
        ctype = re.search(r"content-type:\s*([^\r\n]+)", head_text, re.I)
        if fname:
            p["fileName"] = fname.group(1)
        if ctype:
            p["contentType"] = ctype.group(1).strip()
        text, enc = text_or_base64(data)
        if enc is None:
            p["value"] = text
        params.append(p)
    return params


def form_params(body: bytes, content_type: str) -> list[dict[str, str]] | None:
    """A form body's parameters ({name, value} or, for a file, {name, fileName, contentType});
    None when the body is not a form."""
    lmime = content_type.lower()
    if lmime.startswith("application/x-www-form-urlencoded"):
        text, enc = text_or_base64(body)
        return None if enc else [{"name": n, "value": v} for n, v in parse_qsl(text, keep_blank_values=True)]
    if lmime.startswith("multipart/form-data"):
        return _multipart_params(body, content_type)
    return None


def derive_post_data(e: Entry) -> dict[str, Any] | None:
    body = e.request_body
    if not body:
        return None
    mime = header_value(e.request_headers, "content-type") or ""
    text, enc = text_or_base64(body)
    pd: dict[str, Any] = {"mimeType": mime, "text": text}
    if enc:
        pd["encoding"] = enc
    lmime = mime.lower()
    if lmime.startswith("application/x-www-form-urlencoded") and enc is None:
        pd["params"] = [{"name": n, "value": v} for n, v in parse_qsl(text, keep_blank_values=True)]
    elif lmime.startswith("multipart/form-data"):
        params = _multipart_params(body, mime)
        if params is not None:
            pd["params"] = params
    return pd


def derive_resource_type(e: Entry) -> str:
    if e.websocket is not None:
        return "websocket"
    mime = e.content_type.lower()
    if "html" in mime:
        return "document"
    if "css" in mime:
        return "stylesheet"
    if "javascript" in mime or "ecmascript" in mime:
        return "script"
    if mime.startswith("image/"):
        return "image"
    if mime.startswith("font/") or "font" in mime:
        return "font"
    if mime.startswith(("audio/", "video/")):
        return "media"
    if "json" in mime or "xml" in mime or e.method.upper() != "GET":
        return "fetch"
    return "other"


def derive_mime(e: Entry) -> str:
    return e.content_type


def derive_redirect(e: Entry) -> str:
    return header_value(e.response_headers, "location") or ""
