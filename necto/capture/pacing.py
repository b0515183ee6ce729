"""Real bandwidth limits: a stand-in for a connection's StreamWriter that delivers bytes at a rate.

mitmproxy writes to each connection with `writer.write()` and applies backpressure by awaiting
`writer.drain()` after every chunk it reads. A `Pacer` put in place of the client connection's
writer keeps what is written while a rate is set in its own queue and hands it to the socket a
slice at a time (at most `TICK` seconds' worth), so the client receives the body at that rate;
`drain()` waits while more than `HIGH_WATER` bytes are queued, which stops mitmproxy reading
from the upstream: memory stays bounded and an upstream body streams through at the rate.

Each write remembers the rate in force when it was written, so changing the rate (the next
exchange on a keep-alive connection) never speeds up or slows down bytes already queued.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

log = logging.getLogger(__name__)

TICK = 0.05  # seconds of data per slice
HIGH_WATER = 64 * 1024


class Pacer:
    """Wraps an asyncio.StreamWriter (the parts mitmproxy uses: write, drain, is_closing, close,
    write_eof, get_extra_info)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.inner = writer
        self.rate: float | None = None  # bytes/s for what is written from now on; None = as fast as possible
        self._queue: deque[tuple[bytes, float | None]] = deque()
        self._queued = 0
        self.written = 0  # bytes accepted
        self.sent = 0  # bytes handed to the socket
        self._task: asyncio.Task[None] | None = None
        self._progress = asyncio.Event()
        self._close: str | None = None  # "close" or "eof", done once the queue is empty
        self._dead = False

    # ------------------------------------------------------------------ StreamWriter surface
    def write(self, data: bytes | bytearray | memoryview) -> None:
        n = len(data)
        if not n or self._dead:
            return
        self.written += n
        if self.rate is None and not self._queue:
            self.inner.write(data)
            self.sent += n
            return
        self._queue.append((bytes(data), self.rate))
        self._queued += n
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="necto-pacer")

    async def drain(self) -> None:
        while self._queued > HIGH_WATER and not self._dead:
            self._progress.clear()
            await self._progress.wait()
        await self.inner.drain()

    def is_closing(self) -> bool:
        return self._close is not None or self._dead or self.inner.is_closing()

    def close(self) -> None:
        if self._queue and not self._dead:
            self._close = "close"
        else:
            self._dead = True
            self.inner.close()

    def write_eof(self) -> None:
        if self._queue and not self._dead:
            self._close = self._close or "eof"
        else:
            self.inner.write_eof()

    def can_write_eof(self) -> bool:
        return self.inner.can_write_eof()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.inner.get_extra_info(name, default)

    @property
    def transport(self) -> asyncio.WriteTransport:
        return self.inner.transport

    async def wait_closed(self) -> None:
        await self.inner.wait_closed()

    # ------------------------------------------------------------------ pacing
    async def wait_sent(self, upto: int) -> None:
        """Until the first `upto` bytes written have reached the socket (or the peer left)."""
        while self.sent < upto and not self._dead:
            self._progress.clear()
            await self._progress.wait()

    async def _run(self) -> None:
        try:
            next_at = time.monotonic()
            while self._queue:
                data, rate = self._queue[0]
                if rate is None:
                    self._queue.popleft()
                    chunk = data
                else:
                    size = max(1, int(rate * TICK))
                    chunk = data[:size]
                    if len(chunk) == len(data):
                        self._queue.popleft()
                    else:
                        self._queue[0] = (data[size:], rate)
                    # Sleep first: the slice is "on the wire" for len/rate seconds.
                    next_at = max(next_at, time.monotonic() - TICK) + len(chunk) / rate
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                self._queued -= len(chunk)
                self.inner.write(chunk)
                self.sent += len(chunk)
                self._progress.set()
                await self.inner.drain()
            if self._close == "close":
                self._dead = True
                self.inner.close()
            elif self._close == "eof":
                self.inner.write_eof()
        except (ConnectionError, OSError, RuntimeError) as e:
            log.debug("paced connection ended: %s", e)
            self._dead = True
            self._queue.clear()
            self._queued = 0
        finally:
            self._task = None
            self._progress.set()
            if self._queue and not self._dead:  # written while we were finishing
                self._task = asyncio.get_running_loop().create_task(self._run(), name="necto-pacer")
