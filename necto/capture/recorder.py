"""mitmproxy addon that turns finished flows into Entries and queues them for the store.

Every attempt leaves an entry: HTTP exchanges (also failed ones), WebSockets at their end,
CONNECTs whose upstream could not be reached (DNS, refused, timed out, refused by the upstream
proxy), tunnels that were passed through untouched (SSL passthrough, raw TCP) with their byte
counts, and TLS handshakes the client broke off (it does not trust Necto's CA, or pins
certificates) as "tls-failed" entries, logged once per host and reason with a count.

The hooks do only what must happen at once (read the capture target, claim connection
timestamps, mark the flow) and queue a closure; the closure (headers, decoding bodies) runs in
the store's writer batch, off the event loop. An exchange whose bodies take real work to decode
(Content-Encoding over more than `HEAVY_DECODE` bytes) is built in the recorder's own worker
thread first, so the store's writer is never held up by it.

Bodies come from mitmproxy's buffer, or from the tap of a message that was streamed through
(necto.capture.streaming); Content-Encoding is decoded a piece at a time and never past the
cap (necto.capture.decoding).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import string
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast
from urllib.parse import quote

from mitmproxy import connection, http, tcp
from mitmproxy import tls as mtls
from mitmproxy.net.http.http1 import assemble_request_head, assemble_response_head
from mitmproxy.proxy import server_hooks
from mitmproxy.proxy.layers.tls import parse_client_hello

from necto.capture import errorpage
from necto.capture.connections import ConnectionTracker, Opened
from necto.capture.decoding import KNOWN, Decoded, decode_body
from necto.capture.streaming import REQUEST_TAP, RESPONSE_TAP, Tap
from necto.capture.timing import compute, refused_timings
from necto.capture.upstream import FAILED
from necto.model import BodyFile, Entry, Header, WsMessage, new_id
from necto.store import Finish, Frames, Pending
from necto.store.bodies import BodyStore, body_file_for
from necto.urls import bracket_host
from necto.vocab import TLS_FAILED_ERROR

log = logging.getLogger(__name__)

RECORDED = "necto.recorded"
SESSION_OVERRIDE = "necto.session"
ENTRY_ID = "necto.entry_id"
OPENED = "necto.opened"
TUNNEL = "necto.tunnel"
# Necto's own replays send this header through the proxy so the exchange is recorded into the
# replay's session under an id chosen in advance. It carries a per-process secret (outsiders
# cannot steer recording) and is removed before the request goes upstream.
REPLAY_HEADER = "x-necto-replay"
TLS_LOG_WINDOW = 60.0  # seconds: identical client TLS failures are logged once per window
TLS_LOG_KEYS = 10_000  # distinct (host, reason) pairs remembered for that
# Callables `(entry, flow, max_body)` other addons leave on a flow to complete its entry (the
# rules addon: which rules applied, the request as the client sent it, conditioning timings).
ANNOTATE = "necto.annotate"
# An open WebSocket's (session id, entry id, connection times), and how many frames are queued.
WS_ENTRY = "necto.ws_entry"
WS_QUEUED = "necto.ws_queued"
# Set by an addon that changed the response's headers on the way out (Connection: close while
# Necto shuts down): the header fields the server really sent, which are what is recorded.
SERVER_HEADERS = "necto.server_headers"
_URL_SAFE = "".join(c for c in string.printable if not c.isspace())
HEAVY_DECODE = 1 << 20  # encoded bytes above which an exchange is built in the recorder's thread


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


def _safe_url(value: str) -> str:
    """The same for a URL, percent-encoding what is not UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return quote(value.encode("utf-8", "surrogateescape"), safe=_URL_SAFE)
    return value


def _raw_body(message: http.Message, tap: Tap | None) -> tuple[bytes | BodyFile | None, int]:
    """What travelled (whole, or the part that was kept) and how many bytes did: mitmproxy's
    buffer, or the tap's spool when the message was streamed (mitmproxy then kept nothing)."""
    raw = message.raw_content
    if raw is None and tap is not None:
        tap.freeze()
        return tap.spool.result(), tap.spool.seen
    if tap is not None:
        tap.spool.discard()  # not streamed after all (answered locally, or no body)
    return raw, len(raw or b"")


def _kept(d: Decoded) -> tuple[bytes | None, BodyFile | None]:
    return (None, d.body) if isinstance(d.body, BodyFile) else (d.body, None)


def _raw_file(d: Decoded) -> BodyFile | None:
    if d.raw is None:
        return None
    return d.raw if isinstance(d.raw, BodyFile) else body_file_for(d.raw)


def _notes(entry: Entry, side: str, d: Decoded, tap: Tap | None, cap: int) -> None:
    """What the entry says about how a body was recorded: streamed, events, decoding cut."""
    if tap is not None:
        entry.extra.setdefault("streamed", []).append(side)
        if tap.failed:
            entry.extra.setdefault("bodyNotRecorded", {})[side] = tap.failed
        events = tap.events_json() if side == "response" else None
        if events is not None:
            entry.extra["events"] = events
    if d.cut:
        entry.extra.setdefault("decodeStopped", {})[side] = {
            "encoding": d.encoding, "decodedBytes": d.size, "limit": cap if cap >= 0 else None,
        }  # fmt: skip


def heavy(flow: http.HTTPFlow) -> bool:
    """Does building this exchange's entry mean decoding a lot (see HEAVY_DECODE)?"""
    for message, key in ((flow.request, REQUEST_TAP), (flow.response, RESPONSE_TAP)):
        if message is None or message.headers.get("content-encoding", "").strip().lower() not in KNOWN:
            continue
        tap = flow.metadata.get(key)
        size = len(message.raw_content) if message.raw_content is not None else (tap.spool.kept if tap else 0)
        if size > HEAVY_DECODE:
            return True
    return False


def _url(req: http.Request) -> str:
    """The request's URL with an IPv6 literal host in brackets (mitmproxy leaves them out),
    bytes that are not UTF-8 percent-encoded."""
    url = req.pretty_url
    for host in {req.pretty_host, req.host}:
        url = bracket_host(url, host)
    return _safe_url(url)


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


def authority_url(host: str, port: int) -> str:
    """The URL a CONNECT entry shows for `host:port` (IPv6 bracketed)."""
    shown = f"[{host}]" if ":" in host else host
    return f"{'http' if port == 80 else 'https'}://{shown}:{port}"


def _har_fields(entry: Entry, **fields: Any) -> None:
    """Captured connectivity facts, kept as HAR `_` fields so that exports carry them."""
    given = {k: v for k, v in fields.items() if v is not None}
    if given:
        entry.extra.setdefault("har", {}).setdefault("entry", {}).update(given)


def _apply_opened(entry: Entry, opened: Opened | None) -> None:
    if opened is None:
        return
    if entry.server_ip is None and opened.server_ip:
        entry.server_ip, entry.server_port = opened.server_ip, opened.server_port
    mapping = {"domain": opened.mapping.domain, "targetIp": opened.mapping.target_ip} if opened.mapping else None
    _har_fields(entry, _dnsMapping=mapping, _upstreamProxy=opened.via)


def _client(entry: Entry, client: connection.Client) -> None:
    if client.peername:
        entry.client_ip, entry.client_port = str(client.peername[0]), int(client.peername[1])
    mode = client.proxy_mode
    if mode is not None and mode.type_name != "regular":
        entry.extra["proxyMode"] = mode.full_spec


def flow_to_entry(
    flow: http.HTTPFlow,
    session_id: str,
    opened: Opened | None,
    max_body: int,
    entry_id: str | None = None,
    frames: int | None = None,
    bodies: BodyStore | None = None,
) -> Entry:
    """Build the Entry for a finished flow. Safe to run in a worker thread: the flow is done.

    `frames` keeps only that many WebSocket frames (an open socket's entry starts with none).
    `bodies` is the body store streamed bodies were spooled to (and long decoded ones go to)."""
    req, resp, server = flow.request, flow.response, flow.server_conn
    refused = flow.metadata.get(FAILED)
    if refused is not None:  # Necto answered with its own error page: no response from upstream
        resp = None
    failed_at = flow.error.timestamp if flow.error else None
    if refused is not None:
        answered = flow.response.timestamp_end if flow.response and flow.response.timestamp_end else None
        started = req.timestamp_start
        timings = refused_timings(started, answered or req.timestamp_end or started)
    else:
        started, timings = compute(
            req.timestamp_start,
            req.timestamp_end,
            resp.timestamp_start if resp else None,
            resp.timestamp_end if resp else None,
            opened.times if opened else None,
            failed_at,
        )
    error = refused or (flow.error.msg if flow.error else None)
    if error is not None and opened is not None and opened.times.failed and opened.error:
        error = opened.error  # the connection's own words, without mitmproxy's prefixes
    req_tap = flow.metadata.get(REQUEST_TAP)
    raw, req_wire = _raw_body(req, req_tap)
    rq = decode_body(raw, req.headers.get("content-encoding"), bodies, max_body, req_wire)
    req_body, req_file = _kept(rq)
    entry = Entry(
        session_id=session_id,
        started=started,
        method=_text(req.method),
        url=_url(req),
        http_version=_text(req.http_version),
        request_headers=_headers(req.headers.fields),
        request_body=req_body,
        request_body_file=req_file,
        request_raw_file=_raw_file(rq),
        request_body_size=req_wire,
        request_truncated=rq.truncated,
        timings=timings,
        connection_id=server.id if server.timestamp_start is not None else None,
        tls=_tls(server),
        error=error,
        source="replay" if flow.metadata.get(ENTRY_ID) else "capture",
    )
    _client(entry, flow.client_conn)
    if entry_id:
        entry.id = entry_id
    if server.peername:
        entry.server_ip, entry.server_port = str(server.peername[0]), int(server.peername[1])
    _apply_opened(entry, opened)
    sizes = {"request": _head_size(req, assemble_request_head)}
    _notes(entry, "request", rq, req_tap, max_body)
    resp_tap = flow.metadata.get(RESPONSE_TAP)
    if resp is not None:
        raw, wire = _raw_body(resp, resp_tap)
        rs = decode_body(raw, resp.headers.get("content-encoding"), bodies, max_body, wire)
        entry.status = resp.status_code
        entry.status_text = resp.reason
        entry.response_http_version = resp.http_version
        entry.response_headers = _headers(flow.metadata.get(SERVER_HEADERS) or resp.headers.fields)
        entry.response_body, entry.response_body_file = _kept(rs)
        entry.response_raw_file = _raw_file(rs)
        entry.response_truncated = rs.truncated
        entry.response_body_size = max(rs.size, 0)
        entry.response_wire_size = wire
        _notes(entry, "response", rs, resp_tap, max_body)
        sizes["response"] = _head_size(resp, assemble_response_head)
    elif resp_tap is not None:
        resp_tap.spool.discard()
    head_sizes = {k: v for k, v in sizes.items() if v is not None}
    if head_sizes:
        entry.extra["headersSize"] = head_sizes
    if flow.websocket is not None:
        ws = flow.websocket
        entry.websocket = _frames(ws.messages[:frames] if frames is not None else ws.messages)
        if ws.close_code is not None:
            entry.extra["websocketClose"] = {
                "code": ws.close_code,
                "reason": ws.close_reason,
                "byClient": ws.closed_by_client,
            }
    for note in flow.metadata.get(ANNOTATE, ()):
        note(entry, flow, max_body)
    return entry


def _attempt(build: Callable[[], Entry]) -> Entry | Callable[[], Entry]:
    """Run `build`; if it fails, hand the store a builder that fails the same way (the writer
    counts and reports failed conversions)."""
    try:
        return build()
    except Exception as e:
        error = e

        def fail() -> Entry:
            raise error

        return fail


def _frames(messages: Any) -> list[WsMessage]:
    return [WsMessage("send" if m.from_client else "receive", m.timestamp, int(m.type), m.content) for m in messages]


def connect_failure_entry(flow: http.HTTPFlow, session_id: str, opened: Opened | None, error: str, at: float) -> Entry:
    """A CONNECT whose tunnel could not be opened: no response, the phases that happened."""
    req = flow.request
    if opened is not None:
        started, timings = compute(req.timestamp_start, req.timestamp_end, None, None, opened.times, at)
    else:
        started, timings = req.timestamp_start, refused_timings(req.timestamp_start, at)
    entry = Entry(
        session_id=session_id,
        started=started,
        method="CONNECT",
        url=authority_url(req.host, req.port),
        http_version=req.http_version,
        request_headers=_headers(req.headers.fields),
        request_body_size=0,
        timings=timings,
        error=error,
    )
    _client(entry, flow.client_conn)
    _apply_opened(entry, opened)
    return entry


class _TlsFailureLog:
    """Client TLS failures, logged once per (host, reason) and window, then as a count."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], list[float]] = {}  # key -> [window start, count]
        self.total = 0

    def add(self, host: str, reason: str, now: float) -> None:
        self.total += 1
        key = (host, reason)
        state = self._seen.get(key)
        if state is None:
            if len(self._seen) >= TLS_LOG_KEYS:
                self.flush()
                self._seen.clear()
            self._seen[key] = [now, 0]
            log.warning(
                "%s for %s: %s. Trust Necto's CA in that client (necto ca), or add the host to SSL "
                "passthrough (/api/ssl-passthrough). Repeats are counted, not printed.",
                TLS_FAILED_ERROR, host, reason,
            )  # fmt: skip
            return
        state[1] += 1
        if now - state[0] >= TLS_LOG_WINDOW:
            self._report(key, state)
            state[0], state[1] = now, 0

    def _report(self, key: tuple[str, str], state: list[float]) -> None:
        if state[1]:
            log.warning("%s for %s: %s (%d more times)", TLS_FAILED_ERROR, key[0], key[1], int(state[1]))

    def flush(self) -> None:
        for key, state in self._seen.items():
            self._report(key, state)
            state[1] = 0


class _DropMitmproxyTlsLines(logging.Filter):
    """mitmproxy logs every client TLS failure; the recorder logs them grouped instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Client TLS handshake failed.")


_ALERT = re.compile(r"alert ([a-z /]+?)(?:\)|'|$)")
_log_filter = _DropMitmproxyTlsLines()


class Recorder:
    """Records every attempt (see the module doc) into the active session."""

    def __init__(
        self,
        sink: Callable[[Pending], None],
        target: Callable[[], str | None],
        tracker: ConnectionTracker,
        max_body_size: int = -1,
        passthrough: Callable[[str], bool] | None = None,
        bodies: BodyStore | None = None,
    ) -> None:
        self._sink = sink
        self.bodies = bodies  # where streamed and long bodies go (set later by the mitmdump adapter)
        self._target = target  # active, recording session id, or None when paused
        self._tracker = tracker
        self._passthrough = passthrough or (lambda host: False)
        self.max_body_size = max_body_size
        self.replay_secret = secrets.token_hex(16)
        self.tls_failures = _TlsFailureLog()
        self._asked: set[str] = set()  # clients that sent a request or a CONNECT
        self._building: set[asyncio.Future[Any]] = set()  # entries being built in our thread
        self._executor: ThreadPoolExecutor | None = None
        logging.getLogger("mitmproxy.proxy.server").addFilter(_log_filter)

    def replay_header(self, session_id: str, entry_id: str) -> tuple[str, str]:
        """The header a replay sends through the proxy to be recorded as `entry_id`."""
        return REPLAY_HEADER, f"{self.replay_secret}:{session_id}:{entry_id}"

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self._asked.add(flow.client_conn.id)
        value = flow.request.headers.get(REPLAY_HEADER)
        if value is None:
            return
        del flow.request.headers[REPLAY_HEADER]
        secret, _, rest = value.partition(":")
        session_id, _, entry_id = rest.partition(":")
        if secrets.compare_digest(secret, self.replay_secret) and session_id and entry_id:
            flow.metadata[SESSION_OVERRIDE] = session_id
            flow.metadata[ENTRY_ID] = entry_id

    # ------------------------------------------------------------------ HTTP
    def _claim(self, flow: http.HTTPFlow) -> tuple[str | None, Opened | None]:
        """Once per flow: the session it is recorded into (None: paused) and its connection's
        opening (claimed even when paused: that cost belongs to this exchange)."""
        flow.metadata[RECORDED] = True
        opened = self._tracker.claim(flow)
        return flow.metadata.get(SESSION_OVERRIDE) or self._target(), opened

    def _record(self, flow: http.HTTPFlow) -> None:
        if flow.metadata.get(RECORDED):
            return
        session_id, opened = self._claim(flow)
        taps = [t for t in (flow.metadata.get(REQUEST_TAP), flow.metadata.get(RESPONSE_TAP)) if t is not None]
        for tap in taps:
            tap.freeze()  # what passes from now on (a request still uploading) is not recorded
        if session_id is None:
            for tap in taps:
                tap.spool.discard()
            return
        cap, entry_id, bodies = self.max_body_size, flow.metadata.get(ENTRY_ID), self.bodies

        def build() -> Entry:
            return flow_to_entry(flow, session_id, opened, cap, entry_id, bodies=bodies)

        if heavy(flow):
            self._build_aside(build)
        else:
            self._sink(build)

    def _build_aside(self, build: Callable[[], Entry]) -> None:
        """Build in the recorder's own thread (long decoding), then queue the entry: the
        store's writer goes on with other captures meanwhile."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="necto-bodies")
        future = asyncio.get_running_loop().run_in_executor(self._executor, _attempt, build)
        self._building.add(future)

        def done(f: asyncio.Future[Any]) -> None:
            self._building.discard(f)
            if not f.cancelled():
                self._sink(f.result())

        future.add_done_callback(done)

    async def drain(self) -> None:
        """Wait until entries being built aside are queued for the store (before it closes)."""
        while self._building:
            await asyncio.wait(list(self._building))

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is None:  # a WebSocket is recorded once it ends, with its messages
            self._record(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is None:
            self._record(flow)

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        """A WebSocket is recorded when it opens; its frames follow in the store's batches, so a
        crash loses only the last moments of a long socket."""
        if flow.metadata.get(RECORDED):
            return
        session_id, opened = self._claim(flow)
        if session_id is None:
            return
        cap, entry_id = self.max_body_size, flow.metadata.get(ENTRY_ID) or new_id()
        flow.metadata[WS_ENTRY] = (session_id, entry_id, opened)
        flow.metadata[WS_QUEUED] = 0
        self._sink(lambda: flow_to_entry(flow, session_id, opened, cap, entry_id, frames=0))

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
        session_id, entry_id, opened = info
        cap = self.max_body_size
        self._sink(Finish(lambda: flow_to_entry(flow, session_id, opened, cap, entry_id)))

    def http_connect(self, flow: http.HTTPFlow) -> None:
        self._asked.add(flow.client_conn.id)

    def client_disconnected(self, client: connection.Client) -> None:
        self._asked.discard(client.id)

    def server_connect_error(self, data: server_hooks.ServerConnectionHookData) -> None:
        """Reverse, SOCKS5 and transparent listeners connect as soon as a client connects;
        when that fails mitmproxy just closes the client (no flow): record the attempt."""
        client, server = data.client, data.server
        mode = client.proxy_mode
        if mode is None or mode.type_name in ("regular", "upstream") or client.id in self._asked:
            return
        if server.address is None or self._tracker.is_tunnel(server):
            return
        now = time.time()
        opened = self._tracker.claim_server(server)
        session_id = self._target()
        if session_id is None:
            return
        host, port = str(server.address[0]), int(server.address[1])
        start = client.timestamp_start or now
        if opened is not None:
            started, timings = compute(start, start, None, None, opened.times, now)
        else:
            started, timings = start, refused_timings(start, now)
        entry = Entry(
            session_id=session_id, started=started, method="CONNECT", url=authority_url(host, port),
            timings=timings, error=(opened.error if opened else None) or server.error or "connection failed",
        )  # fmt: skip
        _client(entry, client)
        _apply_opened(entry, opened)
        self._sink(entry)

    def http_connect_error(self, flow: http.HTTPFlow) -> None:
        """A CONNECT answered with an error: the tunnel could not be opened."""
        if flow.metadata.get(RECORDED):
            return
        flow.metadata[RECORDED] = True
        now = time.time()
        opened = self._tracker.claim_server(flow.server_conn)
        error = flow.metadata.get(FAILED) or (opened.error if opened else None) or flow.server_conn.error
        if error is None and flow.response is not None:
            error = f"CONNECT answered {flow.response.status_code} {flow.response.reason}"
        error = error or "the tunnel could not be opened"
        if flow.metadata.get(FAILED) is None and flow.response is not None and flow.response.status_code == 502:
            flow.response = errorpage.error_response(502, error)
        session_id = self._target()
        if session_id is not None:
            self._sink(lambda: connect_failure_entry(flow, session_id, opened, error, now))

    # ------------------------------------------------------------------ TLS the client refused
    def tls_failed_client(self, data: mtls.TlsData) -> None:
        client, ctx = cast(connection.Client, data.conn), data.context
        now = time.time()
        server = ctx.server
        host = client.sni or (str(server.address[0]) if server.address else "?")
        port = int(server.address[1]) if server.address else 443
        reason = client.error or "handshake failed"
        alert = _ALERT.search(reason)
        self.tls_failures.add(host, reason, now)
        opened = self._tracker.claim_server(server) if server.address else None
        session_id = self._target()
        if session_id is None:
            return
        if opened is not None:  # opened at CONNECT: its cost, then the wait until the failure
            started, timings = compute(now, now, None, None, opened.times, now)
        else:
            started = client.timestamp_start or now
            timings = refused_timings(started, now)
        entry = Entry(
            session_id=session_id,
            started=started,
            method="CONNECT",
            url=authority_url(host, port),
            timings=timings,
            error=f"{TLS_FAILED_ERROR}: {reason}",
        )
        _client(entry, client)
        _apply_opened(entry, opened)
        _har_fields(
            entry, _kind="tls-failed",
            _tlsFailure={"sni": client.sni, "alert": alert.group(1) if alert else None, "reason": reason},
        )  # fmt: skip
        self._sink(entry)

    # ------------------------------------------------------------------ tunnels (passthrough, raw TCP)
    def tcp_start(self, flow: tcp.TCPFlow) -> None:
        flow.metadata[OPENED] = self._tracker.claim_server(flow.server_conn)
        flow.metadata[TUNNEL] = {"start": time.time(), "sent": 0, "received": 0, "first": None, "sni": None}

    def tcp_message(self, flow: tcp.TCPFlow) -> None:
        stats = flow.metadata.get(TUNNEL)
        if stats is None or not flow.messages:
            return
        message = flow.messages[-1]
        if message.from_client:
            if stats["sent"] == 0:
                try:
                    hello = parse_client_hello(message.content)
                    stats["sni"] = hello.sni if hello else None
                except ValueError:
                    pass
            stats["sent"] += len(message.content)
        else:
            if stats["first"] is None:
                stats["first"] = message.timestamp
            stats["received"] += len(message.content)
        flow.messages.clear()  # counted; a tunnel's bytes are not kept

    def tcp_end(self, flow: tcp.TCPFlow) -> None:
        self._record_tunnel(flow)

    def tcp_error(self, flow: tcp.TCPFlow) -> None:
        self._record_tunnel(flow)

    def _record_tunnel(self, flow: tcp.TCPFlow) -> None:
        stats = flow.metadata.pop(TUNNEL, None)
        # Opened before the tunnel started (CONNECT), or by it (through an upstream proxy).
        opened = flow.metadata.pop(OPENED, None) or self._tracker.claim_server(flow.server_conn)
        session_id = self._target()
        if stats is None or session_id is None:
            return
        end = time.time()
        server = flow.server_conn
        host = stats["sni"] or (str(server.address[0]) if server.address else "?")
        port = int(server.address[1]) if server.address else 0
        started, timings = compute(
            stats["start"], stats["start"], stats["first"], end if stats["first"] else None,
            opened.times if opened else None, end,
        )  # fmt: skip
        entry = Entry(
            session_id=session_id,
            started=started,
            method="CONNECT",
            url=authority_url(host, port),
            request_body_size=stats["sent"],
            status=200 if flow.error is None or stats["received"] else None,
            status_text="Connection established",
            response_body_size=stats["received"],
            response_wire_size=stats["received"],
            timings=timings,
            connection_id=server.id,
            error=flow.error.msg if flow.error else None,
        )
        if entry.status is None:
            entry.status_text = ""
        _client(entry, flow.client_conn)
        if server.peername:
            entry.server_ip, entry.server_port = str(server.peername[0]), int(server.peername[1])
        _apply_opened(entry, opened)
        passthrough = self._passthrough(host) or (
            server.address is not None and self._passthrough(str(server.address[0]))
        )
        _har_fields(
            entry, _kind="tunnel",
            _tunnel={"bytesSent": stats["sent"], "bytesReceived": stats["received"], "passthrough": passthrough,
                     "sni": stats["sni"]},
        )  # fmt: skip
        self._sink(entry)

    def done(self) -> None:
        self.tls_failures.flush()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
