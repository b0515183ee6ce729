"""The one data model every part of Necto speaks.

A captured flow and an imported HAR entry both become an `Entry` before they reach the store;
HAR export, the REST API, replay, compare and inventory all start from it. No mitmproxy or
aiohttp types appear here.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

Header = tuple[str, str]

NOT_APPLICABLE = -1.0


def new_id() -> str:
    """A random (version 4) UUID as text, as str(uuid.uuid4()) writes it, in less than half
    the time (one per captured exchange)."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class Timings:
    """HAR 1.2 phase timings in milliseconds; -1 means "does not apply".

    `ssl` is part of `connect` (HAR rule), so `total` never adds it twice.
    """

    blocked: float = NOT_APPLICABLE
    dns: float = NOT_APPLICABLE
    connect: float = NOT_APPLICABLE
    ssl: float = NOT_APPLICABLE
    send: float = 0.0
    wait: float = 0.0
    receive: float = 0.0

    @property
    def total(self) -> float:
        parts = (self.blocked, self.dns, self.connect, self.send, self.wait, self.receive)
        return round(sum(p for p in parts if p >= 0), 3)

    def as_dict(self) -> dict[str, float]:
        return {
            "blocked": self.blocked,
            "dns": self.dns,
            "connect": self.connect,
            "ssl": self.ssl,
            "send": self.send,
            "wait": self.wait,
            "receive": self.receive,
        }


@dataclass(slots=True)
class WsMessage:
    """One WebSocket frame; `type` is "send" (client to server) or "receive"."""

    type: str
    time: float  # epoch seconds
    opcode: int  # 1 text, 2 binary, 8 close, 9 ping, 10 pong
    data: bytes


@dataclass(slots=True)
class BodyFile:
    """A body kept as a file in the body store (content-addressed by its SHA-256) rather than
    in the entry's row. `pending` is what a writer still has to put in place when the row is
    written: the body's bytes, or the path of a spooled temporary file (see necto.store.bodies)."""

    sha256: str
    size: int
    pending: bytes | str | None = None


@dataclass(slots=True, frozen=True)
class HarFragment:
    """An entry's HAR JSON as a plain export writes it, serialised once (necto.har.fragments):
    `data` with the response body's place cut out at `cut` (-1: no body) and no `pageref`.
    `format` names the code that built it; `force`, `mime` and `page` are what writing the body
    and the page reference needs."""

    format: str
    data: bytes
    cut: int
    force: str | None
    mime: str
    page: bytes | None


@dataclass(slots=True)
class FragmentEntry:
    """An entry to export from its fragment: the fragment and the response body (if any)."""

    id: str
    started: float
    fragment: HarFragment
    body: bytes | None


@dataclass(slots=True)
class Entry:
    """One request/response exchange, captured or imported.

    `status is None` means no response was received (failed flow or an imported request-only
    entry). Bodies are stored decoded of Content-Encoding; `*_wire_size` is what travelled.

    A large body lives in the body store: `*_body_file` names it, and the store's read methods
    fill `*_body` from it unless asked not to (HAR export streams it instead). `*_raw_file` is
    the body as it travelled (still Content-Encoded), kept only when decoding it was cut short
    (a decompression bomb, `--max-body-size`): then `*_body` holds the decoded prefix.
    """

    session_id: str
    started: float  # epoch seconds of the first byte of work attributed to this entry
    method: str
    url: str
    http_version: str = "HTTP/1.1"
    request_headers: list[Header] = field(default_factory=list)
    request_body: bytes | None = None
    request_body_size: int = 0  # bytes on the wire
    request_truncated: bool = False
    status: int | None = None
    status_text: str = ""
    response_http_version: str = ""
    response_headers: list[Header] = field(default_factory=list)
    response_body: bytes | None = None
    response_body_size: int = -1  # decoded length
    response_wire_size: int = -1  # bytes on the wire
    response_truncated: bool = False
    timings: Timings = field(default_factory=Timings)
    server_ip: str | None = None
    server_port: int | None = None
    client_ip: str | None = None
    client_port: int | None = None
    connection_id: str | None = None
    tls: dict[str, Any] | None = None  # {version, cipher, alpn, sni}
    error: str | None = None
    websocket: list[WsMessage] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # fields we carry but do not model
    source: str = "capture"  # capture | import | replay
    id: str = field(default_factory=new_id)
    # Imported entries: the import's anchor time. A session lists by (order or started, then
    # insertion), so an import keeps its file's order as one block placed at that time.
    order: float | None = None
    request_body_file: BodyFile | None = None
    response_body_file: BodyFile | None = None
    request_raw_file: BodyFile | None = None
    response_raw_file: BodyFile | None = None

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def path(self) -> str:
        parts = urlsplit(self.url)
        return parts.path + ("?" + parts.query if parts.query else "") or "/"

    @property
    def protocol(self) -> str:
        """NectoProxy's protocol: http, https, ws or wss."""
        secure = self.scheme in ("https", "wss")
        if self.websocket is not None or self.scheme in ("ws", "wss"):
            return "wss" if secure else "ws"
        return "https" if secure else "http"

    @property
    def content_type(self) -> str:
        return header_value(self.response_headers, "content-type") or ""

    @property
    def kind(self) -> str:
        """http, websocket, tunnel (passed through untouched) or tls-failed (the client broke off)."""
        captured = ((self.extra.get("har") or {}).get("entry") or {}).get("_kind")
        if captured in ("tunnel", "tls-failed"):
            return str(captured)
        return "websocket" if self.websocket is not None else "http"

    @property
    def duration(self) -> float:
        return self.timings.total


@dataclass(slots=True)
class Session:
    id: str
    name: str
    is_active: bool
    is_recording: bool
    created_at: int  # epoch ms
    updated_at: int  # epoch ms
    traffic_count: int = 0
    total_bytes: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "isActive": self.is_active,
            "isRecording": self.is_recording,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "trafficCount": self.traffic_count,
            "totalBytes": self.total_bytes,
        }


def header_value(headers: list[Header], name: str) -> str | None:
    """First value of a header, case-insensitively; None when absent."""
    lname = name.lower()
    for n, v in headers:
        if n.lower() == lname:
            return v
    return None
