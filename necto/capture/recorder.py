"""mitmproxy addon that turns finished flows into Entries and queues them for the store.

The hooks do only what must happen at once (read the capture target, claim connection
timestamps, mark the flow) and queue a closure; the closure (headers, decoding bodies) runs in
the store's writer batch, off the event loop.
"""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from mitmproxy import http

from necto.capture.connections import ConnectionTracker
from necto.capture.timing import ConnectionTimes, compute
from necto.model import Entry, Header, WsMessage, new_id
from necto.store import Finish, Frames, Pending

log = logging.getLogger(__name__)

RECORDED = "necto.recorded"
SESSION_OVERRIDE = "necto.session"
ENTRY_ID = "necto.entry_id"
# Necto's own replays send this header through the proxy so the exchange is recorded into the
# replay's session under an id chosen in advance. It carries a per-process secret (outsiders
# cannot steer recording) and is removed before the request goes upstream.
REPLAY_HEADER = "x-necto-replay"
# An open WebSocket's (session id, entry id, connection times), and how many frames are queued.
WS_ENTRY = "necto.ws_entry"
WS_QUEUED = "necto.ws_queued"
# Set by an addon that changed the response's headers on the way out (Connection: close while
# Necto shuts down): the header fields the server really sent, which are what is recorded.
SERVER_HEADERS = "necto.server_headers"
_URL_SAFE = "".join(c for c in string.printable if not c.isspace())


def _headers(fields: Any) -> list[Header]:
    return [(k.decode("utf-8", "replace"), v.decode("utf-8", "replace")) for k, v in fields]


def _text(value: str) -> str:
    """mitmproxy decodes raw bytes with surrogateescape, so bytes that are not UTF-8 (a method
    sent as `GET\\xff`) arrive as lone surrogates, which SQLite and JSON refuse: write them as
    `\\xNN` instead."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return value


def _url(value: str) -> str:
    """The same for a URL, percent-encoding what is not UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return quote(value.encode("utf-8", "surrogateescape"), safe=_URL_SAFE)
    return value


def _capped(body: bytes | None, cap: int) -> tuple[bytes | None, bool]:
    if body is None or cap < 0 or len(body) <= cap:
        return body, False
    return body[:cap], True


def _tls(conn: Any) -> dict[str, Any] | None:
    if not getattr(conn, "tls_established", False):
        return None
    return {
        "version": conn.tls_version,
        "cipher": conn.cipher,
        "alpn": conn.alpn.decode("ascii", "replace") if conn.alpn else None,
        "sni": conn.sni,
    }


def flow_to_entry(
    flow: http.HTTPFlow,
    session_id: str,
    conn: ConnectionTimes | None,
    max_body: int,
    entry_id: str | None = None,
    frames: int | None = None,
) -> Entry:
    """Build the Entry for a finished flow. Safe to run in a worker thread: the flow is done.

    `frames` keeps only that many WebSocket frames (an open socket's entry starts with none)."""
    req, resp, server = flow.request, flow.response, flow.server_conn
    failed_at = flow.error.timestamp if flow.error else None
    started, timings = compute(
        req.timestamp_start,
        req.timestamp_end,
        resp.timestamp_start if resp else None,
        resp.timestamp_end if resp else None,
        conn,
        failed_at,
    )
    req_body, req_trunc = _capped(req.get_content(strict=False), max_body)
    entry = Entry(
        session_id=session_id,
        started=started,
        method=_text(req.method),
        url=_url(req.pretty_url),
        http_version=_text(req.http_version),
        request_headers=_headers(req.headers.fields),
        request_body=req_body,
        request_body_size=len(req.raw_content or b""),
        request_truncated=req_trunc,
        timings=timings,
        client_ip=flow.client_conn.peername[0] if flow.client_conn.peername else None,
        client_port=flow.client_conn.peername[1] if flow.client_conn.peername else None,
        connection_id=server.id if server.timestamp_start is not None else None,
        tls=_tls(server),
        error=flow.error.msg if flow.error else None,
        source="replay" if flow.metadata.get(ENTRY_ID) else "capture",
    )
    if entry_id:
        entry.id = entry_id
    if server.peername:
        entry.server_ip, entry.server_port = str(server.peername[0]), int(server.peername[1])
    if resp is not None:
        body = resp.get_content(strict=False)
        entry.status = resp.status_code
        entry.status_text = resp.reason
        entry.response_http_version = resp.http_version
        entry.response_headers = _headers(flow.metadata.get(SERVER_HEADERS) or resp.headers.fields)
        entry.response_body, entry.response_truncated = _capped(body, max_body)
        entry.response_body_size = len(body or b"")
        entry.response_wire_size = len(resp.raw_content or b"")
    if flow.websocket is not None:
        ws = flow.websocket
        entry.websocket = _frames(ws.messages[:frames] if frames is not None else ws.messages)
        if ws.close_code is not None:
            entry.extra["websocketClose"] = {
                "code": ws.close_code,
                "reason": ws.close_reason,
                "byClient": ws.closed_by_client,
            }
    return entry


def _frames(messages: Any) -> list[WsMessage]:
    return [WsMessage("send" if m.from_client else "receive", m.timestamp, int(m.type), m.content) for m in messages]


class Recorder:
    """Records every finished HTTP exchange into the active session. A WebSocket is recorded
    when it opens, its frames as they pass (in the store's batches), its end when it closes."""

    def __init__(
        self,
        sink: Callable[[Pending], None],
        target: Callable[[], str | None],
        tracker: ConnectionTracker,
        max_body_size: int = -1,
    ) -> None:
        self._sink = sink
        self._target = target  # active, recording session id, or None when paused
        self._tracker = tracker
        self.max_body_size = max_body_size
        self.replay_secret = secrets.token_hex(16)

    def replay_header(self, session_id: str, entry_id: str) -> tuple[str, str]:
        """The header a replay sends through the proxy to be recorded as `entry_id`."""
        return REPLAY_HEADER, f"{self.replay_secret}:{session_id}:{entry_id}"

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        value = flow.request.headers.get(REPLAY_HEADER)
        if value is None:
            return
        del flow.request.headers[REPLAY_HEADER]
        secret, _, rest = value.partition(":")
        session_id, _, entry_id = rest.partition(":")
        if secrets.compare_digest(secret, self.replay_secret) and session_id and entry_id:
            flow.metadata[SESSION_OVERRIDE] = session_id
            flow.metadata[ENTRY_ID] = entry_id

    def _claim(self, flow: http.HTTPFlow) -> tuple[str | None, ConnectionTimes | None]:
        """Once per flow: the session it is recorded into (None: paused) and its connection's
        opening times (claimed even when paused: that cost belongs to this exchange)."""
        flow.metadata[RECORDED] = True
        conn = self._tracker.claim(flow)
        return flow.metadata.get(SESSION_OVERRIDE) or self._target(), conn

    def _record(self, flow: http.HTTPFlow) -> None:
        if flow.metadata.get(RECORDED):
            return
        session_id, conn = self._claim(flow)
        if session_id is None:
            return
        cap, entry_id = self.max_body_size, flow.metadata.get(ENTRY_ID)
        self._sink(lambda: flow_to_entry(flow, session_id, conn, cap, entry_id))

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is None:  # a WebSocket is recorded once it ends, with its messages
            self._record(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is None:
            self._record(flow)

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        if flow.metadata.get(RECORDED):
            return
        session_id, conn = self._claim(flow)
        if session_id is None:
            return
        cap, entry_id = self.max_body_size, flow.metadata.get(ENTRY_ID) or new_id()
        flow.metadata[WS_ENTRY] = (session_id, entry_id, conn)
        flow.metadata[WS_QUEUED] = 0
        self._sink(lambda: flow_to_entry(flow, session_id, conn, cap, entry_id, frames=0))

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        info = flow.metadata.get(WS_ENTRY)
        if info is None or flow.websocket is None:
            return
        queued, messages = flow.metadata[WS_QUEUED], flow.websocket.messages
        if len(messages) > queued:
            flow.metadata[WS_QUEUED] = len(messages)
            self._sink(Frames(info[1], queued, _frames(messages[queued:])))

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        info = flow.metadata.get(WS_ENTRY)
        if info is None:
            self._record(flow)  # opened before the recorder was loaded, or paused: as before
            return
        session_id, entry_id, conn = info
        cap = self.max_body_size
        self._sink(Finish(lambda: flow_to_entry(flow, session_id, conn, cap, entry_id)))
