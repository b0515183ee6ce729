"""What an entry is searched by: its request line, header lines and decoded text bodies.

One function for both sides of search, so they cannot disagree: the store's indexer writes these
parts into the full-text index, and the in-memory test (`necto.search.predicate`) reads them
for entries that are not in the store (HAR files) or not yet indexed (live events).

Bodies are stored decoded of Content-Encoding; here they are decoded to text with the charset
their Content-Type names (else UTF-8, else Windows-1252 for types that are text). Binary bodies
(images, fonts, protobuf, gRPC, anything not text by type or bytes) are not searched. WebSocket
text frames count as bodies: sent frames as the request's, received ones as the response's.
Each part keeps at most MAX_PART characters.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from necto.model import Entry, Header, header_value
from necto.vocab import is_binary_mime, is_text_mime

MAX_PART = 2 << 20  # characters of one body (or of all frames of one direction) that are searched
_CHARSET = re.compile(r";\s*charset\s*=\s*\"?([A-Za-z0-9._:-]+)", re.I)

PARTS = ("line", "req_headers", "res_headers", "req_body", "res_body")


@dataclass(slots=True)
class EntryText:
    line: str  # "METHOD URL"
    req_headers: str  # "name: value" lines
    res_headers: str
    req_body: str  # decoded text ("" when absent or binary) and sent WebSocket text frames
    res_body: str

    def parts(self) -> tuple[str, str, str, str, str]:
        return self.line, self.req_headers, self.res_headers, self.req_body, self.res_body


@functools.lru_cache(maxsize=256)
def _codec(content_type: str) -> str | None:
    m = _CHARSET.search(content_type)
    if m is None:
        return None
    try:
        return codecs.lookup(m.group(1)).name
    except LookupError:
        return None


def body_text(body: bytes | None, content_type: str) -> str:
    """A body as searchable text, "" when there is none or it is binary."""
    if not body or is_binary_mime(content_type):
        return ""
    chunk = body[: MAX_PART * 4]
    codec = _codec(content_type)
    if codec is not None:
        text = chunk.decode(codec, "replace")
    else:
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError as e:
            if e.start >= len(chunk) - 3:  # cut inside a character (here or by --max-body-size)
                text = chunk[: e.start].decode("utf-8", "replace")
            elif is_text_mime(content_type):
                text = chunk.decode("cp1252", "replace")
            else:
                return ""
        if "\x00" in text and not is_text_mime(content_type):
            return ""
    return text[:MAX_PART]


def headers_text(headers: Iterable[Header]) -> str:
    return "\n".join(f"{n}: {v}" for n, v in headers)


def _frames(e: Entry, kind: str) -> str:
    out: list[str] = []
    size = 0
    for m in e.websocket or ():
        if m.type != kind or m.opcode not in (1, 2):
            continue
        text = m.data.decode("utf-8", "replace") if m.opcode == 1 else body_text(m.data, "")
        if text:
            out.append(text)
            size += len(text) + 1
            if size >= MAX_PART:
                break
    return "\n".join(out)[:MAX_PART]


def _join(body: str, frames: str) -> str:
    return body + "\n" + frames if body and frames else body or frames


def entry_text(e: Entry) -> EntryText:
    """The searchable parts of an entry (it needs the bodies)."""
    req_type = header_value(e.request_headers, "content-type") or ""
    return EntryText(
        line=f"{e.method} {e.url}",
        req_headers=headers_text(e.request_headers),
        res_headers=headers_text(e.response_headers),
        req_body=_join(body_text(e.request_body, req_type), _frames(e, "send")),
        res_body=_join(body_text(e.response_body, e.content_type), _frames(e, "receive")),
    )


def url_path(url: str | None) -> str:
    """The path of a URL without its query ("/" when empty)."""
    return urlsplit(url or "").path or "/"


def url_path_query(url: str | None) -> str:
    u = urlsplit(url or "")
    return (u.path or "/") + ("?" + u.query if u.query else "")
