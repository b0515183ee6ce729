"""Fast, table-driven unit tests for pure functions that the end-to-end tests reach only through
the proxy or the API: timing arithmetic, HAR time and version parsing, JSON paths, row mapping,
path templating, HAR export timings and host/status patterns. No network, no Necto, no files.
"""

from __future__ import annotations

import calendar
from dataclasses import replace
from typing import Any

import pytest

from necto.capture.timing import ConnectionTimes, compute
from necto.compare import CompareOptions, json_changes
from necto.har.convert import norm_version, parse_time
from necto.har.export import har_timings
from necto.har.guard import MAX_DEPTH, Guard
from necto.har.report import HarError
from necto.inventory.templating import never_templated, param_name, segment_kind, value_kind
from necto.jsonpath import format_path, parse_json_path
from necto.model import Entry, Timings, WsMessage
from necto.replay import ReplayOptions, host_matches
from necto.store import COLUMNS, TrafficQuery, entry_to_row, row_to_entry

T0 = calendar.timegm((2024, 2, 28, 12, 0, 0))  # 2024-02-28T12:00:00Z, from the standard library
NA = -1.0  # "does not apply"


# ---------------------------------------------------------------------------- timing arithmetic
# Each row: the timestamps a proxy observed (seconds, offsets from 100.0) and the HAR phases
# expected (ms). The sum of the phases must be the wall-clock span of the exchange.
def conn(
    dns: float, tcp: float, tcp_end: float | None, tls_end: float | None, failed: float | None = None
) -> ConnectionTimes:
    return ConnectionTimes(100 + dns, 100 + tcp, None if tcp_end is None else 100 + tcp_end,
                           None if tls_end is None else 100 + tls_end, None if failed is None else 100 + failed)  # fmt: skip


TIMING_CASES: list[Any] = [
    # name, request start/end, response start/end, connection, failed_at -> started, phases
    pytest.param(
        (0.0, 0.001, 0.051, 0.061, None, None), 0.0,
        dict(blocked=NA, dns=NA, connect=NA, ssl=NA, send=1, wait=50, receive=10), id="reused-connection",
    ),
    pytest.param(  # HTTPS: the upstream connection opened at CONNECT, before the request
        (0.100, 0.101, 0.151, 0.161, conn(0.0, 0.005, 0.015, 0.035), None), 0.0,
        dict(blocked=65, dns=5, connect=30, ssl=20, send=1, wait=50, receive=10), id="eager-tls",
    ),
    pytest.param(  # plain HTTP: the request is read first, then the connection opened
        (0.0, 0.002, 0.066, 0.070, conn(0.004, 0.006, 0.016, None), None), 0.0,
        dict(blocked=2, dns=2, connect=10, ssl=NA, send=2, wait=50, receive=4), id="lazy-plain",
    ),
    pytest.param(  # lazy, the connection opened at once: nothing blocked
        (0.0, 0.001, 0.031, 0.032, conn(0.001, 0.001, 0.011, 0.021), None), 0.0,
        dict(blocked=0, dns=0, connect=20, ssl=10, send=1, wait=10, receive=1), id="lazy-tls-no-dns",
    ),
    # A connection that could not be opened: the phases that happened up to the failure, -1
    # for those that never started, nothing sent or awaited; `time` is what was spent.
    pytest.param(  # connect refused after 500 ms: reading the request is blocked, the attempt connect
        (0.0, 0.001, None, None, conn(0.001, 0.003, None, None, failed=0.503), 0.503), 0.0,
        dict(blocked=1, dns=2, connect=500, ssl=NA, send=0, wait=0, receive=0), id="failed-connect",
    ),
    pytest.param(  # the connect failure time known only to the flow
        (0.0, 0.001, None, None, conn(0.001, 0.003, None, None), 0.203), 0.0,
        dict(blocked=1, dns=2, connect=200, ssl=NA, send=0, wait=0, receive=0), id="failed-connect-flow-time",
    ),
    pytest.param(  # DNS failed after 30 ms: no connect at all
        (0.0, 0.001, None, None, replace(conn(0.002, 0.032, None, None, failed=0.032), stage="dns"), 0.033), 0.0,
        dict(blocked=3, dns=30, connect=NA, ssl=NA, send=0, wait=0, receive=0), id="failed-dns",
    ),
    pytest.param(  # refused by Necto's guard after resolving: no connect
        (0.0, 0.001, None, None, replace(conn(0.001, 0.004, None, None, failed=0.004), stage="refused"), 0.004), 0.0,
        dict(blocked=1, dns=3, connect=NA, ssl=NA, send=0, wait=0, receive=0), id="failed-refused-by-guard",
    ),
    pytest.param(  # upstream certificate rejected: ssl up to the failure, inside connect
        (0.0, 0.001, None, None, replace(conn(0.001, 0.003, 0.013, None, failed=0.043), stage="tls"), 0.043), 0.0,
        dict(blocked=1, dns=2, connect=40, ssl=30, send=0, wait=0, receive=0), id="failed-tls",
    ),
    pytest.param(  # HTTPS: failed at CONNECT (TLS), the request came later and got the error
        (0.100, 0.101, None, None, replace(conn(0.0, 0.005, 0.015, None, failed=0.035), stage="tls"), 0.102), 0.0,
        dict(blocked=67, dns=5, connect=30, ssl=20, send=0, wait=0, receive=0), id="failed-tls-eager",
    ),
    pytest.param(  # reused connection, the server never answered
        (0.0, 0.001, None, None, None, 0.201), 0.0,
        dict(blocked=NA, dns=NA, connect=NA, ssl=NA, send=1, wait=200, receive=0), id="no-response",
    ),
    pytest.param(  # request end unknown: sending took no time
        (0.0, None, 0.010, 0.012, None, None), 0.0,
        dict(blocked=NA, dns=NA, connect=NA, ssl=NA, send=0, wait=10, receive=2), id="request-end-unknown",
    ),
    pytest.param(  # response start only (headers, no body yet)
        (0.0, 0.001, 0.041, None, None, None), 0.0,
        dict(blocked=NA, dns=NA, connect=NA, ssl=NA, send=1, wait=40, receive=0), id="response-end-unknown",
    ),
]  # fmt: skip


@pytest.mark.parametrize("times,started,phases", TIMING_CASES)
def test_timing_compute(times: tuple[Any, ...], started: float, phases: dict[str, float]) -> None:
    req_start, req_end, resp_start, resp_end, c, failed_at = times
    at = lambda x: None if x is None else 100 + x  # noqa: E731
    got_started, t = compute(100 + req_start, at(req_end), at(resp_start), at(resp_end), c, at(failed_at))
    assert got_started == pytest.approx(100 + started)
    assert {k: round(v, 3) for k, v in t.as_dict().items()} == pytest.approx(phases, abs=0.002)
    assert t.ssl == NA or t.ssl <= t.connect, "ssl is part of connect"
    assert min(t.send, t.wait, t.receive) >= 0
    end = max(x for x in (resp_end, resp_start, failed_at, req_end, req_start) if x is not None)
    assert t.total == pytest.approx((100 + end - got_started) * 1000, abs=0.01), "the phases are the time spent"


# ---------------------------------------------------------------------------- HAR time parsing
@pytest.mark.parametrize(
    "text,epoch,naive",
    [
        ("2024-02-28T12:00:00.000Z", T0, False),
        ("2024-02-28T12:00:00Z", T0, False),
        ("2024-02-28T12:00:00z", T0, False),
        ("2024-02-28T12:00Z", T0, False),
        ("2024-02-28 12:00:00Z", T0, False),
        ("  2024-02-28T12:00:00Z\n", T0, False),
        ("2024-02-28T12:00:00.123+00:00", T0 + 0.123, False),
        ("2024-02-28T14:00:00.5+02:00", T0 + 0.5, False),
        ("2024-02-28T07:00:00-0500", T0, False),
        ("2024-02-28T12:00:00,25Z", T0 + 0.25, False),
        ("2024-02-28T12:00:00.123456Z", T0 + 0.123456, False),
        ("2024-02-28T12:00:00.1234567+00:00", T0 + 0.123456, False),  # 7 digits: cut to microseconds
        ("2024-02-28T12:00:00.250", T0 + 0.25, True),  # no zone: UTC assumed, and said
        ("2024-02-29T00:00:00Z", T0 + 12 * 3600, False),  # leap day
    ],
)
def test_parse_time(text: str, epoch: float, naive: bool) -> None:
    got, got_naive = parse_time(text)
    assert got == pytest.approx(epoch, abs=1e-6) and got_naive is naive


@pytest.mark.parametrize(
    "value",
    ["yesterday", "", "NaN-NaN-NaNTNaN:NaN:NaN.NaNZ", "2024-02-30T12:00:00Z", "2024-13-01T00:00:00Z",
     "2024-02-28T25:00:00Z", "2024-02-28", "1709121600", None, 1709121600, {"t": 1}],
)  # fmt: skip
def test_parse_time_rejects(value: Any) -> None:
    assert parse_time(value)[0] is None


@pytest.mark.parametrize(
    "value,version",
    [
        ("HTTP/1.1", "HTTP/1.1"), ("HTTP/1.0", "HTTP/1.0"), ("HTTP/2.0", "HTTP/2.0"), ("HTTP/3", "HTTP/3"),
        (" HTTP/1.1 ", "HTTP/1.1"), ("http/1.1", "HTTP/1.1"), ("1.1", "HTTP/1.1"), ("1.0", "HTTP/1.0"),
        ("h2", "HTTP/2.0"), ("H2", "HTTP/2.0"), ("h2c", "HTTP/2.0"), ("http/2", "HTTP/2.0"), ("HTTP/2", "HTTP/2.0"),
        ("http/2.0", "HTTP/2.0"), ("h3", "HTTP/3"), ("h3-29", "HTTP/3"), ("http/3.0", "HTTP/3"),
        ("spdy/3.1", "HTTP/2.0"),
        ("", None), ("unknown", None), ("me:", None), ("ori", None), ("2 2", None), ("HTTP/1.1 200", None),
        (None, None), (2, None),
    ],
)  # fmt: skip
def test_norm_version(value: Any, version: str | None) -> None:
    assert norm_version(value) == version


# ---------------------------------------------------------------------------- JSON paths
@pytest.mark.parametrize(
    "text,tokens",
    [
        ("$", []),
        ("$.a.b[0]", [("key", "a"), ("key", "b"), ("index", 0)]),
        ("a.b", [("key", "a"), ("key", "b")]),  # `$.` may be left out
        ("[0].id", [("index", 0), ("key", "id")]),
        ("$.items[*].ts", [("key", "items"), ("any",), ("key", "ts")]),
        ("$.*", [("any",)]),
        ("$..ts", [("deep",), ("key", "ts")]),
        ("$..*", [("deep",), ("any",)]),
        ("$.a..b", [("key", "a"), ("deep",), ("key", "b")]),
        ('$["a.b"]', [("key", "a.b")]),
        ('$["say \\"hi\\""]', [("key", 'say "hi"')]),
        ("$.a.0", [("key", "a"), ("key", "0")]),
    ],
)
def test_parse_json_path(text: str, tokens: list[Any]) -> None:
    assert parse_json_path(text) == tokens


@pytest.mark.parametrize("text", ["$.a[", "$.a[x]", "$[-1]", "$.a]", "$a", "$.a[1.5]"])
def test_parse_json_path_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid JSON path"):
        parse_json_path(text)
    with pytest.raises(ValueError):
        CompareOptions(ignore_paths=[text])


@pytest.mark.parametrize(
    "path,text",
    [
        ([], "$"),
        (["a", 0, "b"], "$.a[0].b"),
        (["$id", "x-y", "_z"], "$.$id.x-y._z"),
        (["a.b"], '$["a.b"]'),
        (["with space"], '$["with space"]'),
        (["1abc"], '$["1abc"]'),
        (['q"uote'], '$["q\\"uote"]'),
        (["0"], '$["0"]'),
        ([""], '$[""]'),
        (["é"], '$["é"]'),
    ],
)
def test_format_path_round_trips(path: list[Any], text: str) -> None:
    assert format_path(path) == text
    assert parse_json_path(text) == [("index", s) if isinstance(s, int) else ("key", s) for s in path]


@pytest.mark.parametrize(
    "pattern,path,ignored",
    [
        ("$.updatedAt", ["updatedAt"], True),
        ("$.updatedAt", ["updatedAt", "nested"], True),  # everything under it
        ("$.updatedAt", ["a", "updatedAt"], False),
        ("$.updatedAt", ["updatedAtX"], False),
        ("$..updatedAt", ["updatedAt"], True),
        ("$..updatedAt", ["a", 0, "updatedAt"], True),
        ("$..updatedAt", ["a", 0, "updated"], False),
        ("$.items[*].ts", ["items", 3, "ts"], True),
        ("$.items[*].ts", ["items", 3, "id"], False),
        ("$.items[*].ts", ["items"], False),
        ("$.items[0]", ["items", 0, "x"], True),
        ("$.items[0]", ["items", 1], False),
        ("$.a[0]", ["a", "0"], False),  # an index is not an object key
        ("$.a.0", ["a", 0], False),
        ("$.a.0", ["a", "0"], True),
        ("$.*", ["anything"], True),
        ("$.*", [], False),
        ("$", [], True),
        ("$..*", ["x", "y"], True),
        ("$..*", [], False),
    ],
)
def test_json_path_matching(pattern: str, path: list[Any], ignored: bool) -> None:
    assert CompareOptions(ignore_paths=[pattern]).path_ignored(path) is ignored


@pytest.mark.parametrize(
    "a,b,ignore,changes",
    [
        ({"a": 1}, {"a": 1}, [], []),
        ({"a": 1}, {"a": 2}, [], [("$.a", "changed")]),
        ({"a": 1}, {"a": True}, [], [("$.a", "changed")]),  # JSON: 1 is not true
        ({"a": 1}, {"a": 1.0}, [], [("$.a", "changed")]),
        ({"a": 1, "b": 2}, {"b": 2, "c": 3}, [], [("$.a", "removed"), ("$.c", "added")]),
        ([1, 2], [1, 2, 3], [], [("$[2]", "added")]),
        ({"u": {"ts": 1, "id": 1}}, {"u": {"ts": 2, "id": 1}}, ["$..ts"], []),
        ({"items": [{"ts": 1}, {"ts": 2}]}, {"items": [{"ts": 9}, {"ts": 8}]}, ["$.items[*].ts"], []),
        ({"x y": 1}, {"x y": 2}, [], [('$["x y"]', "changed")]),
        ("a", {"a": 1}, [], [("$", "changed")]),
    ],
    ids=[
        "equal",
        "changed",
        "int-vs-bool",
        "int-vs-float",
        "removed-added",
        "list-grows",
        "ignore-deep",
        "ignore-wildcard",
        "quoted-key",
        "root-type",
    ],
)
def test_json_changes(a: Any, b: Any, ignore: list[str], changes: list[tuple[str, str]]) -> None:
    got, capped = json_changes(a, b, CompareOptions(ignore_paths=ignore))
    assert [(c["path"], c["type"]) for c in got] == changes and capped is False


def test_json_changes_are_capped() -> None:
    got, capped = json_changes({"k": list(range(50))}, {"k": list(range(1, 51))}, CompareOptions(max_changes=10))
    assert len(got) == 10 and capped is True


# ---------------------------------------------------------------------------- row mapping
FULL = Entry(
    session_id="s1", started=T0 + 0.123456, method="POST", url="https://api.example.com:8443/v1/items?x=1&x=2",
    http_version="HTTP/2.0",
    request_headers=[("content-type", "application/octet-stream"), ("x-rep", "1"), ("x-rep", "2"), ("x-é", "ü")],
    request_body=b"\x00\x01\xff binary", request_body_size=11, request_truncated=True,
    status=201, status_text="Created", response_http_version="HTTP/2.0",
    response_headers=[("content-type", "application/json; charset=utf-8"), ("set-cookie", "a=1"), ("set-cookie", "b=2")],
    response_body='{"ok": "✓"}'.encode(), response_body_size=13, response_wire_size=40, response_truncated=True,
    timings=Timings(blocked=0.5, dns=1.25, connect=30.125, ssl=20.0625, send=0.001, wait=50.5, receive=3.0),
    server_ip="2001:db8::1", server_port=8443, client_ip="127.0.0.1", client_port=51234, connection_id="c-1",
    tls={"version": "TLSv1.3", "cipher": "TLS_AES_128_GCM_SHA256", "alpn": "h2", "sni": "api.example.com"},
    error="upstream reset", extra={"har": {"entry": {"_priority": "High", "comment": "x"}}, "websocketClose": [1000, ""]},
    websocket=[WsMessage("send", T0 + 1.5, 1, "héllo".encode()), WsMessage("receive", T0 + 2.0, 2, b"\x00\xff\x10"),
               WsMessage("receive", T0 + 2.5, 8, b"\x03\xe8")],
    source="import", id="e-1",
)  # fmt: skip

ROW_CASES = [
    pytest.param(FULL, id="every-field"),
    pytest.param(Entry(session_id="s1", started=T0, method="GET", url="http://example.com/"), id="defaults"),
    pytest.param(
        replace(
            FULL,
            status=None,
            status_text="",
            response_headers=[],
            response_body=None,
            error="connect refused",
            timings=Timings(send=1.0),
        ),
        id="no-response",
    ),  # fmt: skip
    pytest.param(
        replace(FULL, websocket=[], tls=None, extra={}, request_body=b"", response_body=b""), id="empty-not-none"
    ),
    pytest.param(replace(FULL, source="replay", server_ip=None, server_port=None, connection_id=None), id="replay"),
]


@pytest.mark.parametrize("entry", ROW_CASES)
def test_row_round_trip(entry: Entry) -> None:
    row = entry_to_row(entry)
    assert len(row) == len(COLUMNS)
    assert row_to_entry(row) == entry
    assert row_to_entry((*row, "trailing", 1)) == entry  # extra trailing columns are ignored
    col = dict(zip(COLUMNS, row, strict=True))
    assert (col["host"], col["content_type"], col["duration"]) == (entry.host, entry.content_type, entry.timings.total)


def test_row_keeps_websocket_none_apart_from_empty() -> None:
    """A WebSocket with no frames yet is still a WebSocket (the list view relies on it)."""
    assert row_to_entry(entry_to_row(replace(FULL, websocket=None))).websocket is None
    assert row_to_entry(entry_to_row(replace(FULL, websocket=[]))).websocket == []


# ---------------------------------------------------------------------------- path templating
@pytest.mark.parametrize(
    "segment,kind",
    [
        ("42", "integer"), ("-1", "integer"), ("007", "integer"), ("%34%32", "integer"),
        ("3f2504e0-4f89-11d3-9a0c-0305e82c3301", "uuid"), ("3F2504E0-4F89-11D3-9A0C-0305E82C3301", "uuid"),
        ("2024-02-28", "date"), ("2024-02-28T12:00:00Z", "date-time"), ("2024-02-28T12:00", "date-time"),
        ("01ARZ3NDEKTSV4RRFFQ69G5FAV", "ulid"), ("507f1f77bcf86cd799439011", "objectid"),
        ("deadbeef12", "hex"), ("cus_9s6XKzkNRiz8i3", "prefixed"), ("ada%40example.com", "email"),
        ("abc123xyz789", "token"), ("abc123def456", "hex"), ("aB3xY9kLmN2pQ7rS5tU8vW1z", "token"),
        # no evidence on their own
        ("users", None), ("Alice42", None), ("report.pdf", None), ("deadbeef", None), ("2024-02-30", None),
        ("cus_short", None), ("12abc", None),
        # never
        ("me", None), ("search", None), ("v1", None), ("V2.1", None), ("v2beta1", None), ("", None),
    ],
)  # fmt: skip
def test_segment_kind(segment: str, kind: str | None) -> None:
    assert segment_kind(segment) == kind


@pytest.mark.parametrize(
    "value,kind",
    [
        ("true", "boolean"), ("false", "boolean"), ("True", "string"), ("42", "integer"), ("-7", "integer"),
        ("123456789012345678", "integer"), ("1234567890123456789", "string"), ("3.14", "number"), ("-0.5", "number"),
        ("1e5", "string"), ("3f2504e0-4f89-11d3-9a0c-0305e82c3301", "uuid"), ("2024-02-28", "date"),
        ("2024-02-30", "string"), ("2024-02-28T12:00:00.5+02:00", "date-time"), ("ada@example.com", "email"),
        ("abc", "string"), ("", "string"),
    ],
)  # fmt: skip
def test_value_kind(value: str, kind: str) -> None:
    assert value_kind(value) == kind


@pytest.mark.parametrize(
    "parent,kind,name",
    [
        ("users", "integer", "userId"), ("users", "uuid", "userId"), ("reports", "date", "reportDate"),
        ("events", "date-time", "eventTime"), ("contacts", "email", "contactEmail"),
        ("categories", "integer", "categoryId"), ("addresses", "integer", "addressId"), ("boxes", "integer", "boxId"),
        ("people", "integer", "personId"), ("status", "integer", "statusId"), ("user-groups", "uuid", "userGroupId"),
        ("api_keys", "token", "apiKeyId"), ("2fa", "integer", "p2faId"), ("order%20items", "integer", "orderItemId"),
        (None, "integer", "id"), (None, "date", "date"), (None, "date-time", "time"), (None, "email", "email"),
        ("", "uuid", "id"), ("--", "integer", "id"),
    ],
)  # fmt: skip
def test_param_name(parent: str | None, kind: str, name: str) -> None:
    assert param_name(parent, kind) == name


@pytest.mark.parametrize(
    "segment,never",
    [("", True), ("v1", True), ("v10.2", True), ("v2beta1", True), ("Me", True), ("login", True), ("version", True),
     ("users", False), ("42", False), ("video", False), ("v", False), ("v1x", False)],
)  # fmt: skip
def test_never_templated(segment: str, never: bool) -> None:
    assert never_templated(segment) is never


# ---------------------------------------------------------------------------- HAR export timings
@pytest.mark.parametrize(
    "timings,har,total",
    [
        (Timings(send=1, wait=2, receive=3), dict(blocked=-1, dns=-1, connect=-1, ssl=-1, send=1, wait=2, receive=3), 6),
        (Timings(1, 2, 30, 20, 1, 50, 3), dict(blocked=1, dns=2, connect=30, ssl=20, send=1, wait=50, receive=3), 87),
        (Timings(connect=10, ssl=20, send=1, wait=1, receive=1),  # stored ssl > connect: connect grows to hold it
         dict(blocked=-1, dns=-1, connect=20, ssl=20, send=1, wait=1, receive=1), 23),
        (Timings(connect=-1, ssl=5, send=1, wait=1, receive=1), dict(blocked=-1, dns=-1, connect=5, ssl=5, send=1, wait=1, receive=1), 8),
        (Timings(send=-1, wait=-5, receive=-0.5), dict(blocked=-1, dns=-1, connect=-1, ssl=-1, send=0, wait=0, receive=0), 0),
        (Timings(blocked=-0.5, dns=-3, send=1, wait=1, receive=1), dict(blocked=-1, dns=-1, connect=-1, ssl=-1, send=1, wait=1, receive=1), 3),
        (Timings(dns=0, connect=0, ssl=0, send=0, wait=0, receive=0), dict(blocked=-1, dns=0, connect=0, ssl=0, send=0, wait=0, receive=0), 0),
        (Timings(send=0.1, wait=0.2, receive=1.23456), dict(blocked=-1, dns=-1, connect=-1, ssl=-1, send=0.1, wait=0.2, receive=1.235), 1.535),
        (Timings(send=2.0, wait=3.0004, receive=0.9996), dict(blocked=-1, dns=-1, connect=-1, ssl=-1, send=2, wait=3, receive=1), 6),
    ],
    ids=["reused", "full-tls", "ssl-over-connect", "ssl-without-connect", "negative-required", "negative-optional",
         "all-zero", "rounding", "rounds-to-whole"],
)  # fmt: skip
def test_har_timings(timings: Timings, har: dict[str, float], total: float) -> None:
    got, got_total = har_timings(Entry(session_id="s", started=T0, method="GET", url="http://x/", timings=timings))
    assert got == har and got_total == total
    # whole numbers are written as integers, and `time` is the sum of the phases (ssl not again)
    assert all(type(v) is int for v in got.values() if v == int(v)) and type(got_total) is (
        int if total == int(total) else float
    )
    assert got["ssl"] == -1 or got["ssl"] <= got["connect"]
    assert got_total == pytest.approx(sum(v for k, v in got.items() if k != "ssl" and v >= 0))


# ---------------------------------------------------------------------------- patterns
@pytest.mark.parametrize(
    "host,pattern,match",
    [
        ("api.example.com", "*.example.com", True), ("a.b.example.com", "*.example.com", True),
        ("example.com", "*.example.com", True), ("badexample.com", "*.example.com", False),
        ("example.com.evil.test", "*.example.com", False), ("api.example.com", "example.com", False),
        ("example.com", "example.com", True), ("example.co", "example.com", False),
    ],
)  # fmt: skip
def test_host_patterns(host: str, pattern: str, match: bool) -> None:
    assert host_matches(host, pattern) is match


@pytest.mark.parametrize(
    "hosts,url,selected",
    [
        (["*.Example.com"], "https://API.example.com/x", True),  # case does not matter
        (["*.example.com"], "https://example.com:8443/x", True),  # nor does the port
        (["*.example.com"], "https://example.org/x", False),
        (["a.test", "*.b.test"], "http://c.b.test/", True),
        ([], "http://anything.test/", True),
    ],
    ids=["case-insensitive", "port-ignored", "other-domain", "two-patterns", "no-filter"],
)
def test_replay_host_filter(hosts: list[str], url: str, selected: bool) -> None:
    opts = ReplayOptions.from_json({"hosts": hosts})
    assert opts.selects(Entry(session_id="s", started=T0, method="GET", url=url)) is selected


@pytest.mark.parametrize(
    "codes,exact,classes",
    [
        (["404"], [404], []), (["4xx"], [], [4]), (["4XX"], [], [4]), (["0"], [0], []), (["200", "5xx", "301"], [200, 301], [5]),
    ],
    ids=["exact", "class", "class-upper", "no-response", "mixed"],
)  # fmt: skip
def test_add_status(codes: list[str], exact: list[int], classes: list[int]) -> None:
    q = TrafficQuery()
    for c in codes:
        q.add_status(c)
    assert (q.status_codes, q.status_classes) == (exact, classes)


@pytest.mark.parametrize("code", ["", "abc", "4x", "xx", "x4xx", "4xxx", "-1", "1.5", " 404", "40 4", "2XY"])
def test_add_status_rejects(code: str) -> None:
    with pytest.raises(ValueError, match="Invalid status code"):
        TrafficQuery().add_status(code)


# ---------------------------------------------------------------------------- the parse guard
def _depth(v: Any) -> int:
    if isinstance(v, dict):
        return 1 + max((_depth(x) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((_depth(x) for x in v), default=0)
    return 0


def _random_json(rng: Any, depth: int = 0) -> Any:
    r = rng.random()
    if depth < 70 and r < 0.45:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(3))]
    if depth < 70 and r < 0.9:
        return {rng.choice(["a", '"[', "b\\", "{{"]): _random_json(rng, depth + 1) for _ in range(rng.randrange(3))}
    return rng.choice(["x[{", '\\"]]', "\\", 7, None, "\u00e9]"])


def test_guard_measures_nesting_exactly_whatever_the_strings_hold() -> None:
    """Brackets, quotes and backslashes inside strings never count; chunk edges anywhere."""
    import json
    import random

    rng = random.Random(5)
    seen = set()
    for _ in range(400):
        doc = _random_json(rng)
        for _ in range(rng.randrange(50, 70)):  # around the bound
            doc = [doc] if rng.random() < 0.5 else {'"[{': doc}
        text = json.dumps(doc).encode()
        deep = _depth(doc) > MAX_DEPTH
        seen.add(deep)
        for size in (1, 7, 4096):
            guard, out = Guard(), b""
            try:
                for i in range(0, len(text), size):
                    out += guard.feed(text[i : i + size], False)
                out += guard.feed(b"", True)
            except HarError as e:
                assert deep and "nests deeper than 64 levels" in e.detail, (size, text[:200])
                continue
            assert not deep and out == text and guard.depth == 0 and not guard.in_string
    assert seen == {True, False}


def test_guard_clamps_only_integers_outside_strings() -> None:
    warned: list[str] = []
    guard = Guard(warned.append)
    text = b'{"a": 18446744073709551616, "s": "18446744073709551616", "e": "\\": 99999999999999999999", "n": -1e999}'
    out = b"".join(guard.feed(text[i : i + 5], False) for i in range(0, len(text), 5)) + guard.feed(b"", True)
    assert out == text.replace(b"18446744073709551616,", b"9223372036854775807,", 1)
    assert len(warned) == 1 and "read as 9223372036854775807" in warned[0]
