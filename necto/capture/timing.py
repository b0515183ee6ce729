"""HAR phase timings from the timestamps a proxy can observe.

Pure arithmetic, no mitmproxy types, so the rules in ../shared/har-notes.md live in one place:
ssl inside connect, -1 for phases that do not apply, `time` = sum of the phases, and the
connection cost charged only to the first exchange on a server connection.

A connection that could not be opened keeps the phases that happened, up to the failure
(dns; connect; ssl inside connect), -1 for those that never started, and send = wait =
receive = 0 (HAR requires numbers there; nothing was sent or awaited): `time` is what was spent.
"""

from __future__ import annotations

from dataclasses import dataclass

from necto.model import NOT_APPLICABLE, Timings


@dataclass(slots=True)
class ConnectionTimes:
    """Epoch-second timestamps of opening one upstream connection."""

    dns_start: float  # our resolve started (== tcp_start when nothing was resolved)
    tcp_start: float
    tcp_end: float | None  # None: the TCP connect failed
    tls_end: float | None  # None: plain TCP, or the handshake failed
    failed_at: float | None = None  # when opening the connection failed
    stage: str | None = None  # what failed: "dns", "refused" (before connecting), "connect", "tls"

    @property
    def failed(self) -> bool:
        return self.failed_at is not None or self.tcp_end is None


def _ms(a: float, b: float) -> float:
    return round(max(0.0, (b - a) * 1000.0), 3)


def compute(
    request_start: float,
    request_end: float | None,
    response_start: float | None,
    response_end: float | None,
    conn: ConnectionTimes | None,
    failed_at: float | None = None,
) -> tuple[float, Timings]:
    """Return (startedDateTime as epoch seconds, timings in ms).

    `conn` is given only to the first exchange on a connection that this exchange caused or
    was the first to use; later exchanges reuse it and get dns = connect = ssl = -1.
    """
    if conn is not None and conn.failed:
        return _failed_connection(request_start, conn, failed_at)
    req_end = request_end if request_end is not None else request_start
    t = Timings(send=_ms(request_start, req_end))
    end = response_end or response_start or failed_at or req_end

    if conn is None:
        t.blocked = t.dns = t.connect = t.ssl = NOT_APPLICABLE
        started, ready = request_start, req_end
    else:
        assert conn.tcp_end is not None
        t.dns = _ms(conn.dns_start, conn.tcp_start)
        conn_ready = conn.tls_end or conn.tcp_end
        t.connect = _ms(conn.tcp_start, conn_ready)
        t.ssl = _ms(conn.tcp_end, conn.tls_end) if conn.tls_end else NOT_APPLICABLE
        if conn.dns_start < request_start:
            # Eager: the connection was opened (at CONNECT) before the request arrived. The
            # idle gap between "ready" and the request is reported as blocked.
            started = conn.dns_start
            t.blocked = _ms(conn_ready, request_start)
            ready = req_end
        else:
            # Lazy: the request was read first; the gap until the connection started is
            # blocked, and waiting starts once the connection is ready.
            started = request_start
            t.blocked = _ms(req_end, conn.dns_start)
            ready = max(conn_ready, req_end)

    if response_start is not None:
        t.wait = _ms(ready, response_start)
        t.receive = _ms(response_start, response_end or response_start)
    else:
        # No response: whatever time passed after the request is waiting for nothing.
        t.wait = _ms(ready, end) if end > ready else 0.0
        t.receive = 0.0
    return started, t


def _failed_connection(
    request_start: float, conn: ConnectionTimes, flow_failed_at: float | None
) -> tuple[float, Timings]:
    """Timings of an exchange whose connection could not be opened (see the module doc)."""
    fail = conn.failed_at or flow_failed_at or conn.tcp_start
    stage = conn.stage or ("connect" if conn.tcp_end is None else "tls")
    t = Timings(send=0.0, wait=0.0, receive=0.0)
    if stage == "dns":
        t.dns = _ms(conn.dns_start, fail)
    elif stage == "refused":
        t.dns = _ms(conn.dns_start, min(conn.tcp_start, fail))
    else:
        t.dns = _ms(conn.dns_start, conn.tcp_start)
        t.connect = _ms(conn.tcp_start, fail)
        if stage == "tls" and conn.tcp_end is not None:
            t.ssl = _ms(conn.tcp_end, fail)
    if conn.dns_start < request_start:
        # Opened (and failed) at CONNECT, before this request: it waited, then got the error.
        started = conn.dns_start
        t.blocked = _ms(fail, max(fail, flow_failed_at or request_start))
    else:
        # Reading the request until the lookup started, and writing the error after the failure.
        started = request_start
        t.blocked = round(_ms(request_start, conn.dns_start) + _ms(fail, max(fail, flow_failed_at or fail)), 3)
    return started, t


def refused_timings(start: float, end: float) -> Timings:
    """An attempt Necto answered itself without opening a connection: it only waited."""
    return Timings(blocked=_ms(start, end), send=0.0, wait=0.0, receive=0.0)
