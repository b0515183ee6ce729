"""HAR phase timings from the timestamps a proxy can observe.

Pure arithmetic, no mitmproxy types, so the rules in ../shared/har-notes.md live in one place:
ssl inside connect, -1 for phases that do not apply, `time` = sum of the phases, and the
connection cost charged only to the first exchange on a server connection.
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
    req_end = request_end if request_end is not None else request_start
    t = Timings(send=_ms(request_start, req_end))
    end = response_end or response_start or failed_at or req_end

    if conn is None:
        t.blocked = t.dns = t.connect = t.ssl = NOT_APPLICABLE
        started, ready = request_start, req_end
    else:
        t.dns = _ms(conn.dns_start, conn.tcp_start)
        if conn.tcp_end is None:
            # Connect failed: the attempt lasted until the failure was reported.
            t.connect = _ms(conn.tcp_start, conn.failed_at or failed_at or conn.tcp_start)
            t.ssl = NOT_APPLICABLE
            conn_ready = conn.tcp_start + t.connect / 1000.0
        else:
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
