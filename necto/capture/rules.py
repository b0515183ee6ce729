"""mitmproxy addon: applies the rules and the active network profile to every flow.

Fast path: with no enabled rule that could match a request's host and no active profile, the
hooks return at once (no coroutine, nothing compiled). Otherwise the request hook decides a
plan: packet loss (503, upstream never reached), latency and upload time held before the
request goes on, request edits and re-routing, or a local answer (mock, map-local, block,
replay-from); the response hooks apply response edits and deliver the body at the download rate
through a `Pacer` (an upstream body is streamed through it as it arrives).

Each plan leaves an annotation for the recorder: the rules that touched the entry
(`appliedRules`, `isMocked`), the request as the client sent it (with what went upstream kept
in `upstreamRequest`), the network conditions, and timings with the held time moved to where
it belongs (latency to `wait`, upload to `send`; download pacing already is `receive`).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from mitmproxy import connection, http, tls
from mitmproxy.net.http import status_codes
from mitmproxy.net.http import url as mitm_url

from necto.capture.fresh import when_fresh
from necto.capture.pacing import Pacer
from necto.capture.recorder import ANNOTATE
from necto.capture.streaming import KEEP_RESPONSE
from necto.match import request_segment
from necto.model import Entry, Header
from necto.network import REQUEST_DROPPED, RESPONSE_DROPPED, Profile
from necto.rules.book import RuleBook
from necto.rules.engine import CompiledRule
from necto.rules.local import file_body, serve_local
from necto.rules.recorded import fetch_entry, recorded_hold_ms, response_parts
from necto.vocab import DEFAULT_PORTS

log = logging.getLogger(__name__)

PLAN = "necto.rules.plan"
__all__ = ["KEEP_RESPONSE", "PLAN", "RulesAddon"]  # KEEP_RESPONSE: see necto.capture.streaming


class FlowRequest:
    """A mitmproxy request as `necto.match.Request`, computed lazily and cheaply (every request
    with rules in play is tested against several of them)."""

    __slots__ = ("_r", "method", "host", "port", "_url", "_path")

    def __init__(self, r: http.Request) -> None:
        self._r = r
        self.method = r.method.upper()
        self.host = r.host.lower()
        self.port = r.port
        self._url: str | None = None
        self._path: str | None = None

    def url(self) -> str:
        """scheme://host[:port]/path?query, the default port left out (mitmproxy's `url`)."""
        if self._url is None:
            r = self._r
            scheme, host, port = r.scheme, self.host, self.port
            if ":" in host:
                host = f"[{host}]"
            if DEFAULT_PORTS.get(scheme) != port:
                host = f"{host}:{port}"
            self._url = f"{scheme}://{host}{r.path}"
        return self._url

    def path(self) -> str:
        if self._path is None:
            self._path = self._r.path.split("?", 1)[0]
        return self._path

    def header_values(self, lname: str) -> list[str]:
        return self._r.headers.get_all(lname)

    def body(self) -> bytes | None:
        return self._r.get_content(strict=False)


def make_headers(pairs: list[tuple[str, str]]) -> http.Headers:
    return http.Headers([(k.encode("utf-8"), v.encode("utf-8", "surrogateescape")) for k, v in pairs])


def answer(status: int, body: bytes, headers: list[tuple[str, str]], reason: str = "") -> http.Response:
    resp = http.Response.make(status, body, make_headers(headers))
    if reason:
        resp.reason = reason
    return resp


def text_answer(status: int, text: str) -> http.Response:
    return answer(status, text.encode("utf-8"), [("Content-Type", "text/plain; charset=utf-8")])


def header_pairs(h: http.Headers) -> list[Header]:
    return [(k.decode("utf-8", "replace"), v.decode("utf-8", "replace")) for k, v in h.fields]


def show_client_request(entry: Entry, client: http.Request, cap: int) -> None:
    """The entry shows the request as the client sent it; what went upstream is kept in
    `upstreamRequest` (the first addon to change the request records it)."""
    if "upstreamRequest" not in entry.extra:
        up: dict[str, Any] = {
            "method": entry.method,
            "url": entry.url,
            "headers": [{"name": n, "value": v} for n, v in entry.request_headers],
            "bodySize": entry.request_body_size,
        }
        if entry.request_body != client.get_content(strict=False):
            up["body"] = base64.b64encode(entry.request_body or b"").decode("ascii")
        entry.extra["upstreamRequest"] = up
    body = client.get_content(strict=False)
    entry.method = client.method
    entry.url = client.pretty_url
    entry.request_headers = header_pairs(client.headers)
    entry.request_body_size = len(client.raw_content or b"")
    if body is not None and 0 <= cap < len(body):
        body, entry.request_truncated = body[:cap], True
    entry.request_body = body
    entry.request_body_file = entry.request_raw_file = None  # the body is the client's, in memory


@dataclass
class Plan:
    """What the rules and conditions decided for one flow, and what to tell the recorder."""

    marks: list[dict[str, str]] = field(default_factory=list)
    mocked: bool = False
    response_rules: list[CompiledRule] = field(default_factory=list)
    rate: float | None = None  # download bytes/s
    latency_ms: float = 0.0  # held before the request went on (latency, delays)
    upload_ms: float = 0.0  # held for the upload at the profile's upload bandwidth
    error: str | None = None
    profile: Profile | None = None
    drop_response: bool = False
    client_request: http.Request | None = None  # as the client sent it, when rules changed it
    upstream_response: dict[str, Any] | None = None
    pacer: Pacer | None = None  # the response streams through it (recorded by the streaming tap)

    def annotate(self, entry: Entry, flow: http.HTTPFlow, cap: int) -> None:
        """Runs in the store's writer thread once the flow is done."""
        if self.marks:
            entry.extra["appliedRules"] = self.marks
        if self.mocked:
            entry.extra["isMocked"] = True
        if self.error:
            entry.error = self.error
        if self.profile is not None or self.rate is not None or self.latency_ms or self.upload_ms:
            cond: dict[str, Any] = {"latency": round(self.latency_ms, 3), "upload": round(self.upload_ms, 3)}
            if self.rate is not None:
                cond["downloadBytesPerSecond"] = self.rate
            if self.profile is not None:
                cond["profile"] = {"id": self.profile.id, "name": self.profile.name}
            entry.extra["conditions"] = cond
        if self.client_request is not None:
            show_client_request(entry, self.client_request, cap)
        if self.upstream_response is not None:
            entry.extra["upstreamResponse"] = self.upstream_response
        self._attribute_hold(entry, flow)

    def _attribute_hold(self, entry: Entry, flow: http.HTTPFlow) -> None:
        """The proxy held the request for latency + upload: take that time out of the phase it
        fell into (blocked when the connection opened after it, else wait) and report latency
        as wait and upload as send. `time` is unchanged."""
        held = self.latency_ms + self.upload_ms
        if held <= 0:
            return
        t = entry.timings
        lazy = t.dns >= 0 and abs(entry.started - flow.request.timestamp_start) < 1e-6
        if lazy and t.blocked > 0:
            take = min(held, t.blocked)
            t.blocked = round(t.blocked - take, 3)
        else:
            take = min(held, max(0.0, t.wait))
            t.wait = round(t.wait - take, 3)
        upload = min(self.upload_ms, take)
        t.send = round(t.send + upload, 3)
        t.wait = round(t.wait + take - upload, 3)


class RulesAddon:
    def __init__(self, book: RuleBook, connections: Any, rng: random.Random | None = None) -> None:
        self.book = book
        self._connections = connections  # mitmproxy's Proxyserver: live client connections
        self._rng = rng or random.Random()
        self._paced: dict[str, Pacer] = {}  # client connection id -> its pacer

    # ------------------------------------------------------------------ hooks
    def http_connect(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        """Do not dial a host that rules may answer for or re-route: it may not even exist."""
        return when_fresh(self.book, self._connect, flow)

    def _connect(self, flow: http.HTTPFlow) -> None:
        if flow.response is None and self.book.rules.may_redirect(flow.request.host):
            # What mitmproxy answers a CONNECT with, minus the early upstream connection.
            flow.response = http.Response(
                flow.request.data.http_version, 200, b"Connection established", http.Headers(), b"", None,
                time.time(), time.time(),
            )  # fmt: skip

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        """mitmproxy dials the upstream first to copy its certificate: not for such hosts."""
        address = data.context.server.address
        if data.establish_server_tls_first and address and self.book.rules.may_redirect(str(address[0])):
            data.establish_server_tls_first = False

    def request(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        return when_fresh(self.book, self._request, flow)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        plan: Plan | None = flow.metadata.get(PLAN)
        # mitmproxy also calls this for answers set in the request hook: those are ours.
        if plan is None or plan.mocked or plan.error or flow.response is None:
            return
        if plan.profile is not None and plan.profile.dropped(self._rng):
            plan.drop_response = True
            flow.metadata[KEEP_RESPONSE] = True  # replaced by a 503: it must not stream out
            return
        if plan.response_rules:
            flow.metadata[KEEP_RESPONSE] = True  # edited before it goes out: never streamed
            return
        if plan.rate is not None and not flow.metadata.get(KEEP_RESPONSE) and flow.websocket is None:
            pacer = self._pacer(flow)
            if pacer is None:
                return
            pacer.rate = plan.rate
            plan.pacer = pacer
            # Streamed through the pacer as it arrives (the streaming addon taps it).
            flow.response.stream = True

    def response(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        plan: Plan | None = flow.metadata.get(PLAN)
        if plan is None or flow.response is None:
            return None
        return self._response(flow, plan)

    def client_disconnected(self, client: connection.Client) -> None:
        self._paced.pop(client.id, None)

    def wants_request(self, flow: http.HTTPFlow) -> bool | Awaitable[bool]:
        """Might rules or the network profile need this request whole (to edit it, answer it,
        or hold it for its upload time)? Then it is not streamed. (Rules changed since the last
        request are loaded first.)"""
        return when_fresh(self.book, self._wants, flow)

    def _wants(self, flow: http.HTTPFlow) -> bool:
        book = self.book
        if book.profile is not None:
            return True
        if not book.rules:
            return False
        req = flow.request
        return bool(book.rules.candidates(req.host.lower(), request_segment(req.path.split("?", 1)[0])))

    # ------------------------------------------------------------------ request
    def _request(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        pacer = self._paced.get(flow.client_conn.id)
        if pacer is not None:
            pacer.rate = None  # a new exchange: nothing is paced unless its plan says so
        book = self.book
        profile = book.profile
        matched = book.rules.matching(FlowRequest(flow.request)) if book.rules else []
        if not matched and profile is None:
            return None
        return self._apply(flow, matched, profile)

    async def _apply(self, flow: http.HTTPFlow, matched: list[CompiledRule], profile: Profile | None) -> None:
        plan = Plan(profile=profile)
        flow.metadata[PLAN] = plan
        flow.metadata.setdefault(ANNOTATE, []).append(plan.annotate)
        req = flow.request
        if profile is not None:
            if profile.dropped(self._rng):
                plan.error = REQUEST_DROPPED
                flow.response = text_answer(503, REQUEST_DROPPED)
                return
            plan.latency_ms += profile.draw_latency(self._rng)
            if profile.download:
                plan.rate = float(profile.download)
            if profile.upload:
                size = len(req.raw_content or b"") + sum(len(k) + len(v) + 4 for k, v in req.headers.fields)
                plan.upload_ms = size / profile.upload * 1000.0
        reroute: list[CompiledRule] = []
        applied: list[CompiledRule] = []  # in evaluation order, for the entry
        answer: http.Response | None = None
        for r in matched:
            action = r.action
            if action == "delay":
                plan.latency_ms += r.delay_ms(self._rng)
                applied.append(r)
            elif action == "throttle":
                bps = float(r.config["bytesPerSecond"])
                plan.rate = bps if plan.rate is None else min(plan.rate, bps)
                plan.latency_ms += float(r.config.get("latency") or 0)
                applied.append(r)
            elif action in ("modify-request", "map-remote"):
                reroute.append(r)
                applied.append(r)
            elif action == "modify-response":
                plan.response_rules.append(r)
            else:
                answer = await self._terminal(flow, r, plan)
                if answer is not None:
                    applied.append(r)
                    break
        if answer is not None:
            # Answered here: request edits and re-routing had nowhere to go.
            applied = [r for r in applied if all(r is not x for x in reroute)]
        elif reroute:
            plan.client_request = req.copy()
            for r in reroute:
                self._reroute(req, r)
        plan.marks.extend(r.mark() for r in applied)
        held = plan.latency_ms + plan.upload_ms
        if held > 0:
            await asyncio.sleep(held / 1000.0)
        if answer is not None:
            answer.timestamp_start = answer.timestamp_end = time.time()
            flow.response = answer
            plan.mocked = True

    async def _terminal(self, flow: http.HTTPFlow, r: CompiledRule, plan: Plan) -> http.Response | None:
        """The local answer of a terminal rule, or None when a replay-from rule misses."""
        cfg = r.config
        action = r.action
        if action == "block":
            return text_answer(int(cfg["status"]), str(cfg["body"]))
        if action == "mock":
            plan.latency_ms += float(cfg.get("delay") or 0)
            if cfg.get("bodyFile"):
                try:
                    content = await asyncio.to_thread(file_body, cfg["bodyFile"])
                except OSError as e:
                    return text_answer(500, f"Necto mock: cannot read bodyFile: {e}")
                if content is None:
                    return text_answer(404, f"Local file not found: {cfg['bodyFile']}")
            elif cfg.get("bodyEncoding") == "base64":
                content = base64.b64decode(cfg.get("body") or "")
            else:
                content = str(cfg.get("body") or "").encode("utf-8")
            return answer(int(cfg["status"]), content, cfg["headerList"], cfg.get("statusText") or "")
        if action == "map-local":
            got = await asyncio.to_thread(serve_local, cfg["localPath"], flow.request.path, r.match.path_prefix)
            return answer(got.status, got.body, got.headers)
        # replay-from
        rec = r.recording
        hit = rec.pick(flow.request.method, flow.request.pretty_url) if rec is not None else None
        entry = await fetch_entry(hit, self.book.store.get_entry) if hit is not None else None
        if entry is None:
            if cfg.get("onMiss") == "404":
                return answer(
                    404, f"Necto replay-from: no recorded response for {flow.request.method} {flow.request.pretty_url}\n".encode(),
                    [("Content-Type", "text/plain; charset=utf-8")],
                )  # fmt: skip
            return None
        status, reason, headers, body = response_parts(entry)
        if cfg.get("replayTiming"):
            before, receive = recorded_hold_ms(entry)
            plan.latency_ms += before
            if receive > 20 and body:
                rate = len(body) / (receive / 1000.0)
                plan.rate = rate if plan.rate is None else min(plan.rate, rate)
        return answer(status, body, headers, reason)

    @staticmethod
    def _reroute(req: http.Request, r: CompiledRule) -> None:
        cfg = r.config
        if r.action == "map-remote":
            t = urlsplit(cfg["targetUrl"])
            path, _, query = req.path.partition("?")
            base = t.path.rstrip("/")
            new_path = (base + path if base else path) if cfg.get("preservePath", True) else (t.path or "/")
            queries = [q for q in (t.query, query if cfg.get("preserveQuery", True) else "") if q]
            scheme = t.scheme
            port = t.port or DEFAULT_PORTS[scheme]
            req.scheme = scheme
            req.host = t.hostname or ""
            req.port = port
            req.path = new_path + ("?" + "&".join(queries) if queries else "")
            req.host_header = mitm_url.hostport(scheme, req.host, port)
            return
        edits = r.edits
        assert edits is not None
        edits.apply_headers(req.headers)
        if edits.remove_query or edits.set_query:
            edits.apply_query(req.query)
        if edits.touches_body:
            req.content = edits.apply_body(req.get_content(strict=False) or b"")

    # ------------------------------------------------------------------ response
    async def _response(self, flow: http.HTTPFlow, plan: Plan) -> None:
        resp = flow.response
        assert resp is not None
        if plan.pacer is not None and resp.raw_content is None:
            # Streamed through the pacer: the exchange ends when the client has really
            # received it.
            await plan.pacer.wait_sent(plan.pacer.written)
            resp.timestamp_end = time.time()
            return
        if plan.drop_response:
            plan.error = RESPONSE_DROPPED
            plan.upstream_response = {"status": resp.status_code, "statusText": resp.reason,
                                      "headers": [{"name": n, "value": v} for n, v in header_pairs(resp.headers)]}  # fmt: skip
            dropped = text_answer(503, RESPONSE_DROPPED)
            dropped.timestamp_start, dropped.timestamp_end = resp.timestamp_start, resp.timestamp_end
            flow.response = dropped
            return
        if plan.response_rules:
            plan.upstream_response = None if plan.mocked else {
                "status": resp.status_code,
                "statusText": resp.reason,
                "headers": [{"name": n, "value": v} for n, v in header_pairs(resp.headers)],
            }  # fmt: skip
            for r in plan.response_rules:
                edits = r.edits
                assert edits is not None
                if edits.set_status is not None:
                    resp.status_code = int(edits.set_status)
                    resp.reason = status_codes.RESPONSES.get(resp.status_code, "")
                edits.apply_headers(resp.headers)
                if edits.touches_body:
                    resp.content = edits.apply_body(resp.get_content(strict=False) or b"")
                plan.marks.append(r.mark())
        if plan.rate is not None and flow.websocket is None:
            pacer = self._pacer(flow)
            if pacer is not None:
                # The answer is written after this hook, at the rate: the exchange ends then.
                pacer.rate = plan.rate
                size = len(resp.raw_content or b"") + sum(len(k) + len(v) + 4 for k, v in resp.headers.fields) + 32
                resp.timestamp_end = max(resp.timestamp_end or 0.0, time.time()) + size / plan.rate

    def _pacer(self, flow: http.HTTPFlow) -> Pacer | None:
        """The client connection's pacer, put in place of its writer the first time."""
        cid = flow.client_conn.id
        pacer = self._paced.get(cid)
        if pacer is not None:
            return pacer
        handler = self._connections.connections.get(cid)
        io = handler.transports.get(handler.client) if handler is not None else None
        if io is None or not isinstance(io.writer, asyncio.StreamWriter):
            return None
        pacer = Pacer(io.writer)
        io.writer = pacer
        self._paced[cid] = pacer
        return pacer
