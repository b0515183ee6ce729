"""mitmproxy addon that turns finished flows into Entries and queues them for the store.

The hooks do only what must happen at once (read the capture target, claim connection
timestamps, mark the flow) and queue a closure; the closure (headers, decoding bodies) runs in
the store's writer batch, off the event loop.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from mitmproxy import http
from mitmproxy.net.http.http1 import assemble_request_head, assemble_response_head

from necto.capture.connections import ConnectionTracker
from necto.capture.timing import ConnectionTimes, compute
from necto.model import Entry, Header, WsMessage
from necto.store import Pending
from necto.urls import bracket_host

log = logging.getLogger(__name__)

RECORDED = "necto.recorded"
SESSION_OVERRIDE = "necto.session"
ENTRY_ID = "necto.entry_id"
# Necto's own replays send this header through the proxy so the exchange is recorded into the
# replay's session under an id chosen in advance. It carries a per-process secret (outsiders
# cannot steer recording) and is removed before the request goes upstream.
REPLAY_HEADER = "x-necto-replay"


def _headers(h: http.Headers) -> list[Header]:
    return [(k.decode("utf-8", "replace"), v.decode("utf-8", "replace")) for k, v in h.fields]


def _capped(body: bytes | None, cap: int) -> tuple[bytes | None, bool]:
    if body is None or cap < 0 or len(body) <= cap:
        return body, False
    return body[:cap], True


def _url(req: http.Request) -> str:
    """The request's URL with an IPv6 literal host in brackets (mitmproxy leaves them out)."""
    url = req.pretty_url
    for host in {req.pretty_host, req.host}:
        url = bracket_host(url, host)
    return url


def _head_size(message: http.Message, assemble: Callable[[Any], bytes]) -> int | None:
    """HAR `headersSize`: the bytes of an HTTP/1.x request line (as sent to the server: origin
    form) or status line and the headers, with their CRLFs. Unknown (None) for HTTP/2 and 3,
    whose header compression (HPACK/QPACK) mitmproxy does not report."""
    if not message.http_version.startswith("HTTP/1"):
        return None
    try:
        return len(assemble(message))
    except Exception:  # a head mitmproxy cannot serialise again: say unknown
        return None


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
) -> Entry:
    """Build the Entry for a finished flow. Safe to run in a worker thread: the flow is done."""
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
        method=req.method,
        url=_url(req),
        http_version=req.http_version,
        request_headers=_headers(req.headers),
        request_body=req_body,
        request_body_size=len(req.raw_content or b""),
        request_truncated=req_trunc,
        timings=timings,
        client_ip=flow.client_conn.peername[0] if flow.client_conn.peername else None,
        client_port=flow.client_conn.peername[1] if flow.client_conn.peername else None,
        connection_id=server.id if server.timestamp_start is not None else None,
        tls=_tls(server),
        error=flow.error.msg if flow.error else None,
        source="replay" if entry_id else "capture",
    )
    if entry_id:
        entry.id = entry_id
    if server.peername:
        entry.server_ip, entry.server_port = str(server.peername[0]), int(server.peername[1])
    sizes = {"request": _head_size(req, assemble_request_head)}
    if resp is not None:
        body = resp.get_content(strict=False)
        entry.status = resp.status_code
        entry.status_text = resp.reason
        entry.response_http_version = resp.http_version
        entry.response_headers = _headers(resp.headers)
        entry.response_body, entry.response_truncated = _capped(body, max_body)
        entry.response_body_size = len(body or b"")
        entry.response_wire_size = len(resp.raw_content or b"")
        sizes["response"] = _head_size(resp, assemble_response_head)
    head_sizes = {k: v for k, v in sizes.items() if v is not None}
    if head_sizes:
        entry.extra["headersSize"] = head_sizes
    if flow.websocket is not None:
        ws = flow.websocket
        entry.websocket = [
            WsMessage("send" if m.from_client else "receive", m.timestamp, int(m.type), m.content)
            for m in ws.messages
        ]
        if ws.close_code is not None:
            entry.extra["websocketClose"] = {
                "code": ws.close_code,
                "reason": ws.close_reason,
                "byClient": ws.closed_by_client,
            }
    return entry


class Recorder:
    """Records every finished HTTP exchange (and WebSocket, at its end) into the active session."""

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

    def _record(self, flow: http.HTTPFlow) -> None:
        if flow.metadata.get(RECORDED):
            return
        flow.metadata[RECORDED] = True
        # Claim first: a paused session must still consume the connection's opening cost.
        conn = self._tracker.claim(flow)
        session_id = flow.metadata.get(SESSION_OVERRIDE) or self._target()
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

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        self._record(flow)
