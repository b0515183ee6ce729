"""Bodies streamed through as they arrive, with a tap that records what passed.

mitmproxy buffers a whole request or response before passing it on unless told to stream it.
Buffered, a Server-Sent-Events or chunked response reaches the client only when it ends (never,
for an endless one), and a 2 GB download sits in memory. This addon tells mitmproxy to stream:

- responses of unknown length (chunked, read until close, HTTP/2 without Content-Length) and
  `text/event-stream`, at once;
- requests and responses whose Content-Length is above `--stream-above`;
- requests sent chunked (an upload of unknown length);

unless another addon needs the whole message first: a breakpoint or a modify-response rule
that may apply (`KEEP_RESPONSE`), a request rule, a request breakpoint or a network profile
(`keep_request` callbacks). Pacing still applies to a streamed response (the pacer sits on the
client's connection).

Each streamed message gets a `Tap`: mitmproxy hands it every chunk on its way through; it
writes the chunk to a `Spool` (memory up to 64 KiB, then a temporary file in the body store,
hashed as it comes, at most --max-body-size kept) and, for event streams, notes when each
event ended. The recorder turns the tap into the entry's body when the exchange ends, whether
the stream finished or broke off (the client left, the server reset), with the real duration.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from mitmproxy import http
from mitmproxy.net.http.http1.read import expected_http_body_size

from necto.config import DEFAULT_STREAM_ABOVE
from necto.store.bodies import BodyStore, Spool

log = logging.getLogger(__name__)

REQUEST_TAP = "necto.request_tap"
RESPONSE_TAP = "necto.response_tap"
# Set by an addon that needs the whole response before it goes to the client (a response
# breakpoint or rule may apply): it is not streamed.
KEEP_RESPONSE = "necto.keep_response"
MAX_EVENTS = 10_000  # event times kept per stream; beyond that they are only counted
EVENT_STREAM = "text/event-stream"
_EVENT_ENDS = (b"\n\n", b"\r\n\r\n", b"\r\r")


class Tap:
    """Passed as `message.stream`: records each chunk (see the module doc), returns it as is."""

    __slots__ = ("spool", "started", "events", "event_count", "_tail", "_done", "failed")

    def __init__(self, spool: Spool, started: float, events: bool) -> None:
        self.spool = spool
        self.started = started
        self.events: list[list[float]] | None = [] if events else None  # [ms since start, body bytes]
        self.event_count = 0
        self._tail = b""
        self._done = False  # the message ended, or the recorder took it
        self.failed: str | None = None  # why recording stopped (a full disk): the stream went on

    def __call__(self, data: bytes) -> bytes:
        if self._done:
            return data
        if not data:
            self._done = True  # end of the message
            return data
        if self.failed is None:
            try:
                self.spool.write(data)
            except OSError as e:
                self.failed = f"the body could not be recorded: {e.strerror or e}"
                log.warning("%s", self.failed)
                self.spool.discard()
        if self.events is not None:
            self._note_events(data)
        return data

    def _note_events(self, data: bytes) -> None:
        text = self._tail + data
        base = self.spool.seen - len(text)
        now = round((time.time() - self.started) * 1000.0, 3)
        pos = 0
        while True:
            found = [(i, len(m)) for m in _EVENT_ENDS if (i := text.find(m, pos)) != -1]
            if not found:
                break
            i, n = min(found)
            pos = i + n
            self.event_count += 1
            if len(self.events or ()) < MAX_EVENTS:
                assert self.events is not None
                self.events.append([now, base + pos])
        self._tail = text[max(pos, len(text) - 3) :]

    def freeze(self) -> None:
        """No more recording: the exchange is over (its entry is being built)."""
        self._done = True

    def events_json(self) -> dict[str, Any] | None:
        if self.events is None:
            return None
        out: dict[str, Any] = {"count": self.event_count, "items": self.events}
        if self.event_count > len(self.events):
            out["notKept"] = self.event_count - len(self.events)
        return out


def _length(request: http.Request, response: http.Response | None) -> int | None:
    """The body's announced length; None when unknown (chunked, until close, HTTP/2 without
    Content-Length), 0 when there is none."""
    try:
        size = expected_http_body_size(request, response)
    except ValueError:
        return 0  # mitmproxy refuses the message anyway
    if size == -1:
        return None
    if response is None and size == 0 and not request.http_version.startswith("HTTP/1"):
        # HTTP/2 and 3 requests carry no framing headers: a body, if any, is of unknown length.
        return None if "content-length" not in request.headers else 0
    return size


class Streamer:
    """mitmproxy addon deciding what streams and tapping it (see the module doc)."""

    def __init__(
        self,
        bodies: BodyStore,
        stream_above: int = DEFAULT_STREAM_ABOVE,
        cap: Callable[[], int] = lambda: -1,
        keep_request: Sequence[Callable[[http.HTTPFlow], bool | Awaitable[bool]]] = (),
    ) -> None:
        self.bodies = bodies
        self.stream_above = stream_above
        self._cap = cap
        self._keep_request = list(keep_request)

    def _short(self, size: int | None) -> bool:
        """A known length not above --stream-above (-1: no length is; only unknown ones stream)."""
        return size is not None and (self.stream_above < 0 or size <= self.stream_above)

    def _tap(self, message: http.Message, started: float, events: bool = False) -> Tap:
        return Tap(self.bodies.spool(cap=self._cap()), started, events)

    def requestheaders(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        req = flow.request
        if req.stream or flow.response is not None:
            return None
        size = _length(req, None)
        if size == 0 or self._short(size):
            return None
        for i, keep in enumerate(self._keep_request):
            wants = keep(flow)
            if inspect.isawaitable(wants):  # (its addon reloads its definitions first)
                return self._decide_later(flow, wants, self._keep_request[i + 1 :])
            if wants:
                return None
        self._stream_request(flow)
        return None

    async def _decide_later(
        self,
        flow: http.HTTPFlow,
        first: Awaitable[bool],
        rest: Sequence[Callable[[http.HTTPFlow], bool | Awaitable[bool]]],
    ) -> None:
        if await first:
            return
        for keep in rest:
            wants = keep(flow)
            if await wants if inspect.isawaitable(wants) else wants:
                return
        self._stream_request(flow)

    def _stream_request(self, flow: http.HTTPFlow) -> None:
        req = flow.request
        tap = self._tap(req, req.timestamp_start)
        flow.metadata[REQUEST_TAP] = tap
        req.stream = tap

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        resp = flow.response
        if resp is None or flow.websocket is not None or flow.metadata.get(KEEP_RESPONSE):
            return
        events = resp.headers.get("content-type", "").split(";", 1)[0].strip().lower() == EVENT_STREAM
        if not resp.stream:  # (the rules addon asks for streaming to pace a response)
            size = _length(flow.request, resp)
            if size == 0:
                return
            if self._short(size) and not events:
                return
        elif callable(resp.stream):
            return  # someone else's function: leave it alone
        tap = self._tap(resp, flow.request.timestamp_start, events)
        flow.metadata[RESPONSE_TAP] = tap
        resp.stream = tap
