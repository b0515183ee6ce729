"""The exchanges held at a breakpoint right now, and how each one goes on.

A `Hit` is NectoProxy's `BreakpointHit` (what is held: the request, and for response hits the
response) plus when it times out. The `PauseBoard` lists them, resumes them (the REST API, the
page, `necto breakpoints watch`), times them out (`expire`) and tells listeners (the event
stream): `breakpoint:hit`, `breakpoint:resumed`, `breakpoint:timeout`. At shutdown it lets
every held exchange continue and waits, bounded, until they were answered.

`parse_resume` turns NectoProxy's resume body `{action, modifications?: {request?, response?,
mock?}}` into a `Decision`, or a `ResumeError` naming the bad field. Nothing here touches
mitmproxy: the proxy side (necto.capture.breakpoints) applies decisions to flows.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from necto.breakpoints.model import ABORT_MODES, TIMEOUT_ACTIONS
from necto.model import Header, new_id
from necto.views import header_map
from necto.vocab import is_token

log = logging.getLogger(__name__)

ACTIONS = ("continue", "abort", "mock")
DEFAULT_TIMEOUT_MS = 300_000  # five minutes
MAX_HITS = 1000  # held at once; past this, matching exchanges go on without pausing
INLINE_BODY = 256 * 1024  # bodies larger than this are left out of lists and events
MAX_HEADERS = 1000
MAX_HEADER_VALUE = 64 * 1024
SHUTDOWN_DRAIN_SECONDS = 10.0

Listener = Callable[[str, Any], None]


class ResumeError(ValueError):
    """A resume body that cannot be applied; the message names the field."""


# ---------------------------------------------------------------------------- decisions
@dataclass(slots=True)
class Edits:
    """Changes to a request or a response; None = unchanged."""

    method: str | None = None
    url: str | None = None
    status: int | None = None
    status_text: str | None = None
    header_list: list[Header] | None = None  # replaces every header, in this order
    header_merge: dict[str, list[str] | None] | None = None  # NectoProxy's map: set these, None removes
    body: bytes | None = None

    @property
    def empty(self) -> bool:
        return all(
            v is None
            for v in (
                self.method,
                self.url,
                self.status,
                self.status_text,
                self.header_list,
                self.header_merge,
                self.body,
            )
        )


@dataclass(slots=True)
class Decision:
    action: str  # continue | abort | mock
    by: str = "user"  # user | timeout | shutdown | client
    abort: str | None = None  # 499 | reset; None = the breakpoint's
    request: Edits | None = None
    response: Edits | None = None
    mock: Edits | None = None  # status required

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "by": self.by}
        if self.action == "abort":
            out["abort"] = self.abort
        return out


def _where(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _headers(value: Any, where: str, as_list: bool) -> Any:
    if as_list:
        if not isinstance(value, list):
            raise ResumeError(f"{where} must be a list of {{name, value}}")
        pairs: list[Header] = []
        for i, item in enumerate(value):
            if isinstance(item, dict) and set(item) <= {"name", "value"}:
                name, val = item.get("name"), item.get("value")
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                name, val = item
            else:
                raise ResumeError(f"{where}[{i}] must be {{name, value}}")
            pairs.append((_header_name(name, f"{where}[{i}].name"), _header_value(val, f"{where}[{i}].value")))
        if len(pairs) > MAX_HEADERS:
            raise ResumeError(f"{where}: at most {MAX_HEADERS} headers")
        return pairs
    if not isinstance(value, dict):
        raise ResumeError(f"{where} must be an object of header name to value (or use headerList)")
    merged: dict[str, list[str] | None] = {}
    for name, val in value.items():
        n = _header_name(name, f"{where}: header name")
        if val is None:
            merged[n] = None
        elif isinstance(val, list):
            merged[n] = [_header_value(v, f"{where}.{n}") for v in val]
        else:
            merged[n] = [_header_value(val, f"{where}.{n}")]
    if len(merged) > MAX_HEADERS:
        raise ResumeError(f"{where}: at most {MAX_HEADERS} headers")
    return merged


def _header_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not is_token(name):
        raise ResumeError(f"{where}: not a header name: {name!r}")
    return name


def _header_value(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ResumeError(f"{where} must be a string")
    text = str(value)
    if any(c in text for c in "\r\n\x00"):
        raise ResumeError(f"{where} must not contain line breaks")
    if len(text) > MAX_HEADER_VALUE:
        raise ResumeError(f"{where} is longer than {MAX_HEADER_VALUE} characters")
    return text


def _status(value: Any, where: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value != int(value)
    ):
        raise ResumeError(f"{where} must be a whole number")
    if not 100 <= value <= 599:
        raise ResumeError(f"{where} must be between 100 and 599")
    return int(value)


def _edits(value: Any, where: str, kind: str) -> Edits:
    """`kind`: request (method, url) or response/mock (status, statusText)."""
    if not isinstance(value, dict):
        raise ResumeError(f"{where} must be an object")
    line = ("method", "url") if kind == "request" else ("status", "statusText")
    allowed = (*line, "headers", "headerList", "body", "bodyEncoding")
    unknown = [k for k in value if k not in allowed]
    if unknown:
        raise ResumeError(f"{where}.{unknown[0]} is not a field here (use {', '.join(allowed)})")
    e = Edits()
    if value.get("method") is not None:
        m = value["method"]
        if not isinstance(m, str) or not is_token(m):
            raise ResumeError(f"{where}.method: not an HTTP method: {m!r}")
        e.method = m
    if value.get("url") is not None:
        u = value["url"]
        parts = urlsplit(u) if isinstance(u, str) else None
        try:
            ok = parts is not None and parts.scheme in ("http", "https") and bool(parts.hostname)
            if ok and parts is not None:
                parts.port  # noqa: B018 - a bad port raises here
        except ValueError:
            ok = False
        if not ok or any(c in u for c in " \r\n\x00"):
            raise ResumeError(f"{where}.url must be an absolute http(s) URL")
        e.url = u
    if value.get("status") is not None:
        e.status = _status(value["status"], f"{where}.status")
    if value.get("statusText") is not None:
        e.status_text = _header_value(value["statusText"], f"{where}.statusText")
    if value.get("headers") is not None and value.get("headerList") is not None:
        raise ResumeError(f"{where}: give headers (merged) or headerList (all of them), not both")
    if value.get("headers") is not None:
        e.header_merge = _headers(value["headers"], f"{where}.headers", as_list=False)
    if value.get("headerList") is not None:
        e.header_list = _headers(value["headerList"], f"{where}.headerList", as_list=True)
    encoding = value.get("bodyEncoding") or "text"
    if encoding not in ("text", "base64"):
        raise ResumeError(f'{where}.bodyEncoding must be "text" or "base64"')
    body = value.get("body")
    if body is not None:
        if not isinstance(body, str):
            raise ResumeError(f"{where}.body must be a string")
        if encoding == "base64":
            try:
                e.body = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                raise ResumeError(f"{where}.body is not valid base64") from None
        else:
            e.body = body.encode("utf-8", "surrogatepass")
    return e


def parse_resume(body: Any, hit_type: str) -> Decision:
    """NectoProxy's resume body as a Decision; ResumeError names the bad field."""
    if not isinstance(body, dict):
        raise ResumeError("the resume body must be a JSON object {action, modifications?}")
    unknown = [k for k in body if k not in ("id", "action", "modifications", "abort")]
    if unknown:
        raise ResumeError(f"{unknown[0]} is not a resume field (use action, modifications, abort)")
    action = body.get("action", "continue")
    if action not in ACTIONS:
        raise ResumeError('action must be "continue", "abort" or "mock"')
    abort = body.get("abort")
    if abort is not None:
        abort = str(abort) if isinstance(abort, int) and not isinstance(abort, bool) else abort
        if abort not in ABORT_MODES:
            raise ResumeError('abort must be "499" (answer 499) or "reset" (close the connection)')
    mods = body.get("modifications")
    if mods is None:
        mods = {}
    if not isinstance(mods, dict):
        raise ResumeError("modifications must be an object {request?, response?, mock?}")
    unknown = [k for k in mods if k not in ("request", "response", "mock")]
    if unknown:
        raise ResumeError(f"modifications.{unknown[0]} is not a field (use request, response, mock)")
    d = Decision(action, abort=abort)
    if mods.get("request") is not None:
        if hit_type == "response":
            raise ResumeError("modifications.request: the request of a response hit has already gone upstream")
        d.request = _edits(mods["request"], "modifications.request", "request")
    if mods.get("response") is not None:
        if hit_type == "request":
            raise ResumeError(
                "modifications.response only applies to response hits (use action mock to answer a request)"
            )
        d.response = _edits(mods["response"], "modifications.response", "response")
    if mods.get("mock") is not None:
        d.mock = _edits(mods["mock"], "modifications.mock", "mock")
        if d.mock.status is None:
            raise ResumeError("modifications.mock.status is required")
    if action == "mock" and d.mock is None:
        raise ResumeError("modifications.mock is required for action mock ({status, statusText?, headers?, body?})")
    return d


# ---------------------------------------------------------------------------- hits
@dataclass(eq=False)
class Hit:
    """One held exchange, as the page, the API and `necto breakpoints watch` see it."""

    breakpoint_id: str
    breakpoint_name: str
    traffic_id: str
    type: str  # request | response
    method: str
    url: str
    http_version: str
    request_headers: list[Header]
    request_body: bytes | None
    status: int | None = None
    status_text: str = ""
    response_headers: list[Header] = field(default_factory=list)
    response_body: bytes | None = None
    deadline: float | None = None  # epoch seconds; None = waits until resumed
    timeout_action: str = "continue"
    abort: str = "499"
    client_id: str | None = None  # the client connection holding it
    id: str = field(default_factory=new_id)
    timestamp: float = field(default_factory=time.time)
    decision: Decision | None = None
    wake: Callable[[], None] = lambda: None  # lets the held exchange go on (the proxy sets it)
    done: Callable[[], bool] = lambda: True  # has the exchange been answered since? (for shutdown)

    def as_json(self, inline: int | None = INLINE_BODY) -> dict[str, Any]:
        """NectoProxy's BreakpointHit, plus ordered header lists, sizes and the deadline.
        Bodies are base64; with `inline`, larger bodies are left out (`...BodyOmitted`)."""
        out: dict[str, Any] = {
            "id": self.id,
            "breakpointId": self.breakpoint_id,
            "breakpointName": self.breakpoint_name,
            "trafficId": self.traffic_id,
            "type": self.type,
            "timestamp": int(self.timestamp * 1000),
            "method": self.method,
            "url": self.url,
            "httpVersion": self.http_version,
            "requestHeaders": header_map(self.request_headers),
            "requestHeaderList": [{"name": n, "value": v} for n, v in self.request_headers],
            **_body_json("request", self.request_body, inline),
            "expiresAt": int(self.deadline * 1000) if self.deadline is not None else None,
            "timeoutAction": self.timeout_action,
            "abort": self.abort,
        }
        if self.type == "response":
            out.update({
                "status": self.status,
                "statusText": self.status_text,
                "responseHeaders": header_map(self.response_headers),
                "responseHeaderList": [{"name": n, "value": v} for n, v in self.response_headers],
                **_body_json("response", self.response_body, inline),
            })  # fmt: skip
        return out

    def event(self, **extra: Any) -> dict[str, Any]:
        return {"id": self.id, "trafficId": self.traffic_id, "type": self.type, **extra}


def _body_json(side: str, body: bytes | None, inline: int | None) -> dict[str, Any]:
    size = len(body) if body is not None else 0
    if body is not None and inline is not None and size > inline:
        return {f"{side}Body": None, f"{side}BodySize": size, f"{side}BodyOmitted": True}
    encoded = base64.b64encode(body).decode("ascii") if body is not None else None
    return {f"{side}Body": encoded, f"{side}BodySize": size}


class PauseBoard:
    """The held exchanges (insertion order = arrival), their timeouts and their events."""

    def __init__(
        self, timeout_ms: int = DEFAULT_TIMEOUT_MS, timeout_action: str = "continue", max_hits: int = MAX_HITS
    ) -> None:
        if timeout_action not in TIMEOUT_ACTIONS:
            raise ValueError(f"timeout action must be one of {', '.join(TIMEOUT_ACTIONS)}")
        self.timeout_ms = timeout_ms  # 0 = wait forever
        self.timeout_action = timeout_action
        self.max_hits = max_hits
        self.hits: dict[str, Hit] = {}
        self.closing = False  # stopping: nothing new pauses
        self._listeners: set[Listener] = set()
        self._shutdown: list[Hit] = []

    # ------------------------------------------------------------------ events
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """`listener(kind, payload)` for each breakpoint event; returns the unsubscribe function."""
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    def _emit(self, kind: str, payload: Any) -> None:
        for listener in list(self._listeners):
            try:
                listener(kind, payload)
            except Exception:
                log.exception("breakpoint listener failed")

    # ------------------------------------------------------------------ holding
    def accepting(self) -> bool:
        return not self.closing and len(self.hits) < self.max_hits

    def limits(self, timeout_ms: int | None, action: str | None) -> tuple[float | None, str]:
        """(deadline in epoch seconds or None, timeout action) for a new hit of a breakpoint
        with these settings (None = the global ones)."""
        ms = self.timeout_ms if timeout_ms is None else timeout_ms
        return (time.time() + ms / 1000.0 if ms > 0 else None), action or self.timeout_action

    def add(self, hit: Hit) -> None:
        self.hits[hit.id] = hit
        self._emit("breakpoint:hit", hit.as_json())

    def get(self, hit_id: str) -> Hit | None:
        return self.hits.get(hit_id)

    def listed(self) -> list[Hit]:
        return list(self.hits.values())

    # ------------------------------------------------------------------ letting go
    def resume(self, hit_id: str, decision: Decision) -> Hit | None:
        """Let a held exchange go on as decided; None when it already went."""
        hit = self.hits.pop(hit_id, None)
        if hit is None:
            return None
        hit.decision = decision
        self._emit("breakpoint:resumed", hit.event(**decision.summary()))
        hit.wake()
        return hit

    def expire(self, hit: Hit) -> Decision:
        """The hit's time is up: its timeout decision, unless it was resumed meanwhile."""
        if self.hits.pop(hit.id, None) is None:
            return hit.decision or Decision("continue", by="client")
        hit.decision = Decision(hit.timeout_action, by="timeout")
        self._emit("breakpoint:timeout", hit.event(**hit.decision.summary()))
        return hit.decision

    def drop(self, hit: Hit, by: str) -> None:
        """The held exchange cannot go on (its client left): forget it, tell listeners."""
        if self.hits.pop(hit.id, None) is not None:
            hit.decision = Decision("continue", by=by)
            self._emit("breakpoint:resumed", hit.event(**hit.decision.summary()))
            hit.wake()

    def resume_all(self, action: str = "continue", by: str = "user") -> int:
        held = list(self.hits)
        for hit_id in held:
            self.resume(hit_id, Decision(action, by=by))
        return len(held)

    async def shutdown(self, timeout: float = SHUTDOWN_DRAIN_SECONDS) -> int:
        """Stop pausing, let every held exchange continue unmodified and wait (bounded) until
        each was answered, so no client hangs when the listener closes. Returns how many."""
        self.closing = True
        released = list(self.hits.values())
        self.resume_all(by="shutdown")
        deadline = time.monotonic() + timeout
        while any(not hit.done() for hit in released) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return len(released)
