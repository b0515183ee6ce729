"""mitmproxy addon: holds an exchange at a breakpoint until a person (or a timeout) lets it go.

Where it sits: after the rules addon, before the recorder. So a breakpoint sees the request as it
will go upstream (after modify-request and map-remote rules, as NectoProxy does) and the
response as the client will get it (after modify-response rules); an exchange a rule answered
itself (mock, block, map-local, replay-from, packet loss) never pauses.

How it holds: mitmproxy's own interception. The request (or response) hook marks the flow
`intercept()`ed and awaits `wait_for_resume()`, with the hit's timeout; resuming calls
`flow.resume()`. Only this exchange's hook waits: mitmproxy runs every hook as its own task and
pauses only the layer of that one stream, so other connections and other HTTP/2 streams on the
same connection go on, and the connection's idle timeout is disarmed while a hook runs.

What the entry says (through the recorder's annotations): `isBreakpointed`, each hit with how
long it was held, what decided (`by`: user, timeout, shutdown) and what was edited; the time a
request was held is `blocked` (never `wait`), a response's is `_necto.paused` (outside the
phases: the origin had answered). An edited request shows as the client sent it, with what went
upstream in `upstreamRequest`; an edited response shows as the client got it, with the origin's
in `upstreamResponse`. Aborts answer 499 (`Request aborted by breakpoint`) or reset the
connection, and the entry carries that error.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from mitmproxy import connection, http
from mitmproxy.net.http import status_codes
from mitmproxy.net.http import url as mitm_url

from necto.breakpoints.book import BreakpointBook
from necto.breakpoints.hits import Decision, Edits, Hit, PauseBoard
from necto.breakpoints.model import CompiledBreakpoint
from necto.capture.fresh import when_fresh
from necto.capture.recorder import ANNOTATE, ENTRY_ID
from necto.capture.rules import (
    KEEP_RESPONSE,
    PLAN,
    FlowRequest,
    header_pairs,
    make_headers,
    show_client_request,
    text_answer,
)
from necto.match import request_segment
from necto.model import Entry, Header

log = logging.getLogger(__name__)

BREAKS = "necto.breakpoints"
ABORT_STATUS = 499
ABORT_REASON = "Client Closed Request"
REQUEST_ABORTED = "Request aborted by breakpoint"
RESPONSE_ABORTED = "Response aborted by breakpoint"
RESET_SUFFIX = " (connection reset)"


class FlowFacts:
    """What breakpoint conditions read (necto.breakpoints.model.Facts), from a flow."""

    __slots__ = ("_flow", "_req", "_response")

    def __init__(self, flow: http.HTTPFlow, req: FlowRequest, response: bool) -> None:
        self._flow, self._req, self._response = flow, req, response

    @property
    def status(self) -> int | None:
        resp = self._flow.response
        return resp.status_code if self._response and resp is not None else None

    def url(self) -> str:
        return self._req.url()

    @property
    def method(self) -> str:
        return self._req.method

    @property
    def host(self) -> str:
        return self._req.host

    def header_values(self, lname: str) -> list[str]:
        values = list(self._flow.request.headers.get_all(lname))
        resp = self._flow.response
        if self._response and resp is not None:
            values.extend(resp.headers.get_all(lname))
        return values

    def request_body(self) -> bytes | None:
        return self._flow.request.get_content(strict=False)

    def response_body(self) -> bytes | None:
        resp = self._flow.response
        return resp.get_content(strict=False) if self._response and resp is not None else None

    def duration_ms(self) -> float:
        resp = self._flow.response
        end = resp.timestamp_end if self._response and resp is not None and resp.timestamp_end else time.time()
        return max(0.0, (end - self._flow.request.timestamp_start) * 1000.0)


# ---------------------------------------------------------------------------- what the entry says
@dataclass(slots=True)
class Shown:
    """A request or response as it was at one moment (references, summarised off the loop)."""

    line: dict[str, Any]  # method + url, or status + statusText
    headers: list[Header]
    body: bytes | None

    def summary(self) -> dict[str, Any]:
        body = self.body or b""
        return {
            **self.line,
            "headers": [{"name": n, "value": v} for n, v in self.headers],
            "bodySize": len(body),
            "bodySha256": hashlib.sha256(body).hexdigest(),
        }


def _shown_request(r: http.Request) -> Shown:
    return Shown({"method": r.method, "url": r.pretty_url}, header_pairs(r.headers), r.get_content(strict=False))


def _shown_response(r: http.Response) -> Shown:
    return Shown(
        {"status": r.status_code, "statusText": r.reason}, header_pairs(r.headers), r.get_content(strict=False)
    )


@dataclass(slots=True)
class HitRecord:
    hit: Hit
    paused_ms: float
    decision: Decision
    before: Shown | None = None  # set when the decision edited the message
    after: Shown | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.hit.id,
            "breakpointId": self.hit.breakpoint_id,
            "breakpointName": self.hit.breakpoint_name,
            "type": self.hit.type,
            "pausedMs": round(self.paused_ms, 3),
            **self.decision.summary(),
            "edited": self.before is not None,
        }
        if self.before is not None and self.after is not None:
            before, after = self.before.summary(), self.after.summary()
            changed = [k for k in (*self.before.line, "headers") if before[k] != after[k]]
            if before["bodySha256"] != after["bodySha256"]:
                changed.append("body")
            out["edits"] = {"original": before, "edited": after, "changed": changed}
        return out


@dataclass
class FlowBreaks:
    """Every hit of one flow, and what to tell the recorder about them."""

    records: list[HitRecord] = field(default_factory=list)
    client_request: http.Request | None = None  # before a request hit's edits
    origin_response: dict[str, Any] | None = None  # before a response hit changed it
    request_paused_ms: float = 0.0
    response_paused_ms: float | None = None
    error: str | None = None
    answered: bool = False  # a hit answered (mock or 499): no response pause after it

    def annotate(self, entry: Entry, flow: http.HTTPFlow, cap: int) -> None:
        """Runs in the store's writer thread once the flow is done (after the rules' note)."""
        entry.extra["isBreakpointed"] = True
        if not flow.metadata.get(ENTRY_ID):
            entry.id = flow.id  # the hit's trafficId
        entry.extra["breakpoint"] = {"hits": [r.as_json() for r in self.records]}
        if self.response_paused_ms is not None:
            entry.extra["paused"] = round(self.response_paused_ms, 3)
        if self.error:
            entry.error = self.error
        if any(r.decision.action == "mock" for r in self.records):
            entry.extra["isMocked"] = True
        if self.client_request is not None:
            show_client_request(entry, self.client_request, cap)
        if self.origin_response is not None and "upstreamResponse" not in entry.extra:
            entry.extra["upstreamResponse"] = self.origin_response
        self._attribute_pause(entry, flow)

    def _attribute_pause(self, entry: Entry, flow: http.HTTPFlow) -> None:
        """A held request waited before it went on: that time is `blocked`. When the upstream
        connection was opened after the hold (plain HTTP, lazily) it already is; otherwise
        (opened at CONNECT, reused, or no connection at all) it fell into `wait`: move it."""
        held = self.request_paused_ms
        if held <= 0:
            return
        t = entry.timings
        lazy = t.dns >= 0 and abs(entry.started - flow.request.timestamp_start) < 1e-6
        if lazy:
            return
        take = min(held, max(0.0, t.wait))
        t.wait = round(t.wait - take, 3)
        t.blocked = round(max(t.blocked, 0.0) + take, 3)


# ---------------------------------------------------------------------------- applying decisions
def _apply_headers(msg: http.Message, e: Edits) -> None:
    if e.header_list is not None:
        msg.headers = make_headers(e.header_list)
    for name, values in (e.header_merge or {}).items():
        if values is None:
            msg.headers.pop(name, None)
        else:
            msg.headers.set_all(name, values)


def _apply_message(msg: http.Message, e: Edits) -> None:
    """Headers, then the body (encoded as the new headers say), then a true Content-Length."""
    encoding = msg.headers.get("content-encoding")
    decoded = msg.get_content(strict=False)
    _apply_headers(msg, e)
    if e.body is not None:
        msg.content = e.body
    elif encoding != msg.headers.get("content-encoding") and decoded is not None:
        msg.content = decoded
    if "transfer-encoding" not in msg.headers and (msg.raw_content or "content-length" in msg.headers):
        msg.headers["content-length"] = str(len(msg.raw_content or b""))


def apply_request_edits(req: http.Request, e: Edits) -> None:
    host_header = req.host_header
    if e.method is not None:
        req.method = e.method
    _apply_message(req, e)
    if e.url is not None:
        edited_host = req.host_header
        req.url = e.url
        if edited_host == host_header:  # the Host header follows the URL unless it was edited too
            req.host_header = mitm_url.hostport(req.scheme, req.host, req.port)


def apply_response_edits(resp: http.Response, e: Edits) -> None:
    if e.status is not None:
        resp.status_code = e.status
        resp.reason = e.status_text if e.status_text is not None else status_codes.RESPONSES.get(e.status, "")
    elif e.status_text is not None:
        resp.reason = e.status_text
    _apply_message(resp, e)


def mock_response(e: Edits, http_version: str) -> http.Response:
    """The answer of a Mock decision (Content-Length always true to the body)."""
    status = e.status or 200
    headers = make_headers(list(e.header_list or []))
    for name, values in (e.header_merge or {}).items():
        if values is not None:
            headers.set_all(name, values)
    resp = http.Response.make(status, e.body or b"", headers)
    resp.reason = e.status_text or status_codes.RESPONSES.get(status, "")
    resp.http_version = http_version
    return resp


# ---------------------------------------------------------------------------- the addon
class BreakpointsAddon:
    def __init__(self, book: BreakpointBook, board: PauseBoard) -> None:
        self.book = book
        self.board = board
        self._full_logged = False

    # ------------------------------------------------------------------ hooks
    def request(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        if self.board.closing:
            return None
        return when_fresh(self.book, self._request, flow)

    def response(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        if self.board.closing or flow.response is None or flow.websocket is not None:
            return None
        return when_fresh(self.book, self._response, flow)

    def wants_request(self, flow: http.HTTPFlow) -> bool | Awaitable[bool]:
        """Might a breakpoint hold this request, or show it with its response? Then it is not
        streamed (a held request must be whole). (Breakpoints changed since are loaded first.)"""
        if self.board.closing:
            return False
        return when_fresh(self.book, self._wants, flow)

    def _wants(self, flow: http.HTTPFlow) -> bool:
        book = self.book
        if not book.breakpoints:
            return False
        req = flow.request
        host, segment = req.host.lower(), request_segment(req.path.split("?", 1)[0])
        return bool(book.requests.candidates(host, segment) or book.responses.candidates(host, segment))

    def client_disconnected(self, client: connection.Client) -> None:
        """A client that left cannot be answered: its held exchanges leave the list."""
        for hit in self.board.listed():
            if hit.client_id == client.id:
                self.board.drop(hit, "client")

    # ------------------------------------------------------------------ deciding
    def _request(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        book = self.book
        if not book.breakpoints or flow.response is not None:  # nothing set, or a rule answered
            return None
        req = FlowRequest(flow.request)
        if book.requests:
            facts = FlowFacts(flow, req, response=False)
            for cbp in book.requests.matching(req):
                if cbp.conditions_hold(facts):
                    return self._hold_request(flow, cbp)
        self._keep_response(flow, req)
        return None

    def _keep_response(self, flow: http.HTTPFlow, req: FlowRequest) -> None:
        """A response breakpoint may want this response: it must not stream past the hook."""
        if self.book.responses and next(self.book.responses.matching(req), None) is not None:
            flow.metadata[KEEP_RESPONSE] = True

    def _response(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        if not self.book.responses:
            return None
        breaks: FlowBreaks | None = flow.metadata.get(BREAKS)
        plan = flow.metadata.get(PLAN)
        if (breaks is not None and breaks.answered) or (plan is not None and (plan.mocked or plan.error)):
            return None  # answered here, not by the origin
        req = FlowRequest(flow.request)
        facts = FlowFacts(flow, req, response=True)
        for cbp in self.book.responses.matching(req):
            if cbp.conditions_hold(facts):
                return self._hold_response(flow, cbp)
        return None

    # ------------------------------------------------------------------ holding
    def _breaks(self, flow: http.HTTPFlow) -> FlowBreaks:
        breaks: FlowBreaks | None = flow.metadata.get(BREAKS)
        if breaks is None:
            breaks = flow.metadata[BREAKS] = FlowBreaks()
            flow.metadata.setdefault(ANNOTATE, []).append(breaks.annotate)
        return breaks

    def _hit(self, flow: http.HTTPFlow, cbp: CompiledBreakpoint, phase: str) -> Hit:
        bp, req = cbp.bp, flow.request
        deadline, action = self.board.limits(bp.timeout, bp.timeout_action)
        hit = Hit(
            breakpoint_id=bp.id, breakpoint_name=bp.name, traffic_id=flow.metadata.get(ENTRY_ID) or flow.id,
            type=phase, method=req.method, url=req.pretty_url, http_version=req.http_version,
            request_headers=header_pairs(req.headers), request_body=req.get_content(strict=False),
            deadline=deadline, timeout_action=action, abort=bp.abort,
        )  # fmt: skip
        resp = flow.response
        if phase == "response" and resp is not None:
            hit.status, hit.status_text = resp.status_code, resp.reason
            hit.response_headers, hit.response_body = header_pairs(resp.headers), resp.get_content(strict=False)
        hit.client_id = flow.client_conn.id
        hit.wake = flow.resume
        hit.done = lambda: not flow.live or flow.error is not None
        return hit

    async def _wait(self, flow: http.HTTPFlow, hit: Hit) -> tuple[Decision, float]:
        """Hold the flow (mitmproxy's interception) until resumed or timed out."""
        started = time.monotonic()
        flow.intercept()
        self.board.add(hit)
        timeout = max(0.0, hit.deadline - time.time()) if hit.deadline is not None else None
        try:
            await asyncio.wait_for(flow.wait_for_resume(), timeout)
            decision = hit.decision or Decision("continue", by="client")
        except TimeoutError:
            decision = self.board.expire(hit)
        except asyncio.CancelledError:
            self.board.drop(hit, "cancelled")
            raise
        finally:
            flow.resume()
        return decision, (time.monotonic() - started) * 1000.0

    def _full(self) -> bool:
        if self.board.accepting():
            return False
        if not self.board.closing and not self._full_logged:
            self._full_logged = True
            log.warning(
                "%d exchanges are held at breakpoints: more matching ones go on without pausing", len(self.board.hits)
            )
        return True

    async def _hold_request(self, flow: http.HTTPFlow, cbp: CompiledBreakpoint) -> None:
        if self._full():
            return
        hit = self._hit(flow, cbp, "request")
        breaks = self._breaks(flow)
        before = _shown_request(flow.request)
        original = flow.request.copy()
        decision, paused = await self._wait(flow, hit)
        breaks.request_paused_ms += paused
        record = HitRecord(hit, paused, decision)
        breaks.records.append(record)
        if decision.action == "abort":
            self._abort(flow, breaks, decision, hit, REQUEST_ABORTED)
            return
        if decision.action == "mock" and decision.mock is not None:
            resp = mock_response(decision.mock, flow.request.http_version)
            resp.timestamp_start = resp.timestamp_end = time.time()
            flow.response = resp
            breaks.answered = True
            return
        if decision.request is not None and not decision.request.empty:
            apply_request_edits(flow.request, decision.request)
            record.before, record.after = before, _shown_request(flow.request)
            if breaks.client_request is None:
                breaks.client_request = original
        if self.book.responses:
            self._keep_response(flow, FlowRequest(flow.request))

    async def _hold_response(self, flow: http.HTTPFlow, cbp: CompiledBreakpoint) -> None:
        if self._full():
            return
        resp = flow.response
        assert resp is not None
        hit = self._hit(flow, cbp, "response")
        breaks = self._breaks(flow)
        before = _shown_response(resp)
        decision, paused = await self._wait(flow, hit)
        breaks.response_paused_ms = (breaks.response_paused_ms or 0.0) + paused
        record = HitRecord(hit, paused, decision)
        breaks.records.append(record)
        origin = {"status": resp.status_code, "statusText": resp.reason,
                  "headers": [{"name": n, "value": v} for n, v in before.headers]}  # fmt: skip
        if decision.action == "abort":
            self._abort(flow, breaks, decision, hit, RESPONSE_ABORTED)
            if flow.response is not resp:
                breaks.origin_response = origin
            return
        if decision.action == "mock" and decision.mock is not None:
            mocked = mock_response(decision.mock, resp.http_version)
            mocked.timestamp_start, mocked.timestamp_end = resp.timestamp_start, resp.timestamp_end
            flow.response = mocked
            record.before, record.after = before, _shown_response(mocked)
            breaks.origin_response = origin
            return
        if decision.response is not None and not decision.response.empty:
            apply_response_edits(resp, decision.response)
            record.before, record.after = before, _shown_response(resp)
            breaks.origin_response = origin

    def _abort(self, flow: http.HTTPFlow, breaks: FlowBreaks, decision: Decision, hit: Hit, message: str) -> None:
        """NectoProxy's abort: 499 `Client Closed Request` with the message; or reset."""
        mode = decision.abort or hit.abort
        decision.abort = mode
        breaks.answered = True
        if mode == "reset" and flow.killable:
            breaks.error = message + RESET_SUFFIX
            flow.kill()
            return
        breaks.error = message
        old = flow.response
        resp = text_answer(ABORT_STATUS, message)
        resp.reason = ABORT_REASON
        if old is not None:
            resp.http_version = old.http_version
            resp.timestamp_start, resp.timestamp_end = old.timestamp_start, old.timestamp_end
        else:
            resp.http_version = flow.request.http_version
            resp.timestamp_start = resp.timestamp_end = time.time()
        flow.response = resp
