"""Necto's own HAR fixtures (tests/data/har/, one per quirk class) through the real endpoints.

Every file goes through POST /api/har/validate and POST /api/har/import (multipart, as curl -F
sends it) on the shared Necto, and what was imported comes back out through
GET /api/har/export/:sessionId. The table `CASES` says, per file, what a user must see: valid or
the documented error string, the warnings (by field path, plus a message fragment where the
wording matters), skipped entries with index and reason, entries stored, and values that must
come back unchanged. Generic rules (required fields numeric, timings, header lines, bodies,
har-validator) apply to every re-export. Adding a fixture is one `Case(...)` line plus a row in
tests/data/README.md.

Expectations that today's Necto does not meet yet carry `pending="issue N ..."`: they run as
`xfail(strict=True)` with the correct expectation, so they flip (and fail as XPASS) when fixed.
None of this needs ../shared.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import datetime as dt
import ipaddress
import json
import re
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio

from helpers import DATA as TEST_DATA
from helpers import HAR_VALIDATOR, MISSING, RunningNecto, har_differences, missing_tool, read_har_text, run_cmd
from necto.model import Entry

DATA = TEST_DATA / "har"
README = TEST_DATA / "README.md"

MAX_LISTED = 200  # warnings an answer lists one by one (the rest: GET /api/har/imports/:id/warnings)
BAD_JSON = ("Invalid JSON format", "Invalid HAR file format")
NO_LOG = ("Missing log property", "Invalid HAR structure")
NO_ENTRIES = ("Missing or invalid entries array", "Invalid HAR structure")


# ---------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class W:
    """A warning the user must see: its exact field path and a fragment of its message
    ("" when the wording is incidental)."""

    path: str
    fragment: str = ""
    pending: str | None = None


@dataclass(frozen=True)
class Check:
    """One more assertion on a file's outcome (see `keep`, `said` and the functions below)."""

    name: str
    fn: Callable[[Outcome], None]
    pending: str | None = None


@dataclass(frozen=True)
class Case:
    file: str
    quirk: str
    outcome: tuple[int, int] | tuple[str | None, str | None]  # (imported, total) or the errors
    warnings: tuple[W, ...] = ()
    skipped: tuple[tuple[int, str], ...] = ()  # (index, reason)
    may_warn: tuple[str, ...] = ()  # path prefixes whose warnings a pending fix may change
    checks: tuple[Check, ...] = ()
    import_pending: str | None = None  # `outcome` is the fixed behaviour; today's import differs
    validator_pending: str | None = None  # har-validator rejects the re-export today
    reimport_pending: str | None = None  # re-importing the re-export warns today
    import_refused: str | None = None  # valid (validate says so, with `warnings`) but import answers 400 this

    @property
    def rejected(self) -> bool:
        return isinstance(self.outcome[0], str) or self.outcome[0] is None

    @property
    def imported(self) -> bool:
        return not self.rejected and self.import_refused is None


def resolve(doc: Any, path: str) -> Any:
    """A HAR field path as Necto's warnings write it (`log.entries[2].response._error`)."""
    cur = doc
    for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        if key:
            if not isinstance(cur, dict) or key not in cur:
                return MISSING
            cur = cur[key]
        else:
            if not isinstance(cur, list) or int(index) >= len(cur):
                return MISSING
            cur = cur[int(index)]
    return cur


def counterpart(o: Outcome, path: str) -> Any:
    """The re-exported value at an original's path: `log.entries[i]` is the exported entry with
    the same method and URL as the original's entry i (exports may reorder and skip)."""
    assert o.export is not None and o.original is not None
    m = re.match(r"log\.entries\[(\d+)\](.*)", path)
    if not m:
        return resolve(o.export, path)
    e = o.original["log"]["entries"][int(m.group(1))]
    found = [x for x in o.export["log"]["entries"] if same_request(x, e)]
    assert len(found) == 1, f"{path}: {len(found)} exported entries match the original"
    return resolve(found[0], m.group(2).lstrip("."))


def same_request(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (a["request"]["method"], a["request"]["url"]) == (b["request"]["method"], b["request"]["url"].strip())


def warned_at(o: Outcome, path: str) -> bool:
    """A warning names this path, a field inside it, or the object holding it."""
    for w in o.import_body.get("warnings", []):
        p = w["path"]
        if p == path or path.startswith((p + ".", p + "[")) or p.startswith((path + ".", path + "[")):
            return True
    return False


def keep(path: str, pending: str | None = None) -> Check:
    """The value at `path` comes back in the re-export exactly as the file had it."""

    def fn(o: Outcome) -> None:
        want, got = resolve(o.original, path), counterpart(o, path)
        assert want is not MISSING, f"the fixture has no {path}"
        assert got == want, f"{path}: {want!r} came back as {'(missing)' if got is MISSING else repr(got)}"

    return Check(f"keep:{path}", fn, pending)


def said(path: str, pending: str | None = None) -> Check:
    """The value comes back unchanged, or a warning names its path ("every change is said")."""

    def fn(o: Outcome) -> None:
        want, got = resolve(o.original, path), counterpart(o, path)
        assert want is not MISSING, f"the fixture has no {path}"
        assert got == want or warned_at(o, path), (
            f"{path}: {want!r} came back as {'(missing)' if got is MISSING else repr(got)} without a warning"
        )

    return Check(f"said:{path}", fn, pending)


def check(pending: str | None = None) -> Callable[[Callable[[Outcome], None]], Check]:
    """Decorator: a named custom check."""

    def wrap(fn: Callable[[Outcome], None]) -> Check:
        return Check(fn.__name__, fn, pending)

    return wrap


def exported(o: Outcome, index: int) -> dict[str, Any]:
    """The re-exported counterpart of the original's entry `index`."""
    return counterpart(o, f"log.entries[{index}]")  # type: ignore[no-any-return]


# ---- custom checks, one small function each
@check()
def headers_split_into_lines(o: Outcome) -> None:
    e = exported(o, 0)
    req = [(h["name"], h["value"]) for h in e["request"]["headers"]]
    assert req == [("Accept", "text/html"), ("X-Forwarded-For", "198.51.100.1"), ("X-Forwarded-For", "198.51.100.2")]
    resp = [(h["name"], h["value"]) for h in e["response"]["headers"]]
    assert resp == [
        ("Content-Type", "text/plain"), ("set-cookie", "a=1; Path=/"), ("set-cookie", "b=2; Path=/"),
        ("server-timing", "db;dur=5"), ("server-timing", "cache;desc=hit"),
    ]  # fmt: skip


@check()
def request_without_response_is_status_0(o: Outcome) -> None:
    e = exported(o, 0)
    assert e["response"]["status"] == 0 and e["response"]["headers"] == []
    assert [s.status for s in o.stored] == [None]  # the row says "no response", not 0


@check()
def cookies_become_lists(o: Outcome) -> None:
    e = exported(o, 0)
    assert e["request"]["cookies"] == [{"name": "sid", "value": "abc"}, {"name": "theme", "value": "dark"}]
    [c] = e["response"]["cookies"]
    assert (c["name"], c["value"], c["secure"]) == ("lang", "en", True)


@check()
def wrong_types_coerced(o: Outcome) -> None:
    e = exported(o, 0)
    assert [(h["name"], h["value"]) for h in e["request"]["headers"]] == [
        ("Accept", "application/json"),
        ("Cookie", "sid=abc"),
    ]
    [c] = e["request"]["cookies"]
    assert (c["httpOnly"], c["secure"]) == (True, False) and c.get("expires") is None
    assert e["response"]["status"] == 200 and e["response"]["redirectURL"] == ""
    assert e["response"]["headersSize"] == 180
    assert e["timings"]["dns"] == 2 and e["timings"]["wait"] == 5


@check()
def dates_without_a_usable_time(o: Outcome) -> None:
    """Missing/unparseable dates become the import time; a zone-less one is read as UTC; a
    valid one comes back as written."""
    for i in (0, 1):
        t = instant(exported(o, i)["startedDateTime"])
        assert o.window[0] - 1 <= t <= o.window[1] + 1, exported(o, i)["startedDateTime"]
    assert exported(o, 2)["startedDateTime"] == "2024-02-28T12:00:00.250Z"
    assert exported(o, 2)["_startedDateTime"] == "2024-02-28T12:00:00.250"  # the file's value, kept
    assert exported(o, 3)["startedDateTime"] == "2024-02-28T14:00:00.500+02:00"  # valid: as written


@check()
def ssl_inside_connect_and_time_kept(o: Outcome) -> None:
    t = exported(o, 0)["timings"]
    assert t["ssl"] == 28.074 and t["connect"] == pytest.approx(10.1 + 28.074)


@check()
def failed_flows_keep_their_error(o: Outcome) -> None:
    a, b = exported(o, 0), exported(o, 1)
    assert a["response"]["status"] == 0 and b["response"]["status"] == 0
    assert a["response"]["_error"] == "net::ERR_CONNECTION_REFUSED"
    assert "net::ERR_ABORTED" in (b.get("_error"), b["response"].get("_error"))
    assert "serverIPAddress" not in a  # "" is not an address: left out rather than invalid


@check()
def invalid_response_header_names_dropped(o: Outcome) -> None:
    e = exported(o, 0)["response"]
    assert [h["name"] for h in e["headers"]] == ["Content-Type"]
    assert e["_invalidHeaders"] == [{"name": "bad header", "value": "1"}, {"name": "", "value": "empty name"}]


@check()
def invalid_request_header_names_dropped(o: Outcome) -> None:
    """One rule for both sides: names a HAR header may not have leave `headers` (so no reader
    re-warns) and are kept beside them."""
    e = exported(o, 0)["request"]
    assert [h["name"] for h in e["headers"]] == ["Accept"]
    assert [h["name"] for h in e["_invalidHeaders"]] == ["GET /wiki/Special", "Accept;charset=UTF-8"]


@check()
def dangling_pageref_kept_aside(o: Outcome) -> None:
    e = exported(o, 1)
    assert "pageref" not in e and e["_pageref"] == "page_9"
    assert "pageref" not in exported(o, 2) and "_pageref" not in exported(o, 2)  # had none: gets none


@check()
def response_pseudo_headers_dropped(o: Outcome) -> None:
    e = exported(o, 0)
    assert [h["name"] for h in e["response"]["headers"]] == ["content-type"]
    assert [h["name"] for h in e["request"]["headers"]] == [":method", ":authority", ":scheme", ":path", "accept"]


@check()
def binary_bodies_stay_base64(o: Outcome) -> None:
    png = exported(o, 0)["response"]["content"]
    assert png["encoding"] == "base64" and base64.b64decode(png["text"]).startswith(b"\x89PNG")
    post = exported(o, 2)["request"]["postData"]
    assert post["encoding"] == "base64"


@check()
def firefox_empty_timings_take_time_as_wait(o: Outcome) -> None:
    e = exported(o, 0)
    assert e["time"] == 50 and e["timings"]["wait"] == 50
    assert (e["timings"]["send"], e["timings"]["receive"]) == (0, 0)
    assert exported(o, 2)["time"] == 30  # the sum, as warned


@check()
def skipped_entries_leave_the_rest(o: Outcome) -> None:
    assert [e["request"]["url"] for e in o.export["log"]["entries"]] == ["https://kept.example.com/ok"]  # type: ignore[index]


@check()
def dangling_pagerefs_point_at_a_page(o: Outcome) -> None:
    assert o.export is not None
    ids = {p["id"] for p in o.export["log"]["pages"]}
    assert all(e["pageref"] in ids for e in o.export["log"]["entries"] if "pageref" in e)


@check()
def three_runs_stay_apart(o: Outcome) -> None:
    """Three interleaved test runs keep their pages and their order: the page changes twice
    along the list (re-sorted by time it would change at every entry)."""
    assert o.export is not None
    refs = [e["pageref"] for e in o.export["log"]["entries"]]
    assert sum(a != b for a, b in zip(refs, refs[1:], strict=False)) == 2, refs
    assert [p["id"] for p in o.export["log"]["pages"]] == ["run_1", "run_2", "run_3"]


@check()
def ssl_rule(o: Outcome) -> None:
    """One rule: time kept whenever the phases explain it; ssl always inside connect."""
    inside, counted, bigger, unexplained = (exported(o, i) for i in range(4))
    assert (inside["time"], inside["timings"]["connect"], inside["timings"]["ssl"]) == (45, 30, 20)
    assert "_connect" not in inside["timings"]
    assert (counted["time"], counted["timings"]["connect"], counted["timings"]["_connect"]) == (65, 50, 30)
    assert (bigger["time"], bigger["timings"]["ssl"], bigger["timings"]["_ssl"]) == (25, 10, 40)
    assert (unexplained["time"], unexplained["_time"], unexplained["timings"]["connect"]) == (65, 999, 50)


@check()
def compression_as_given(o: Outcome) -> None:
    given, absent, negative, string, neg_body = (exported(o, i)["response"]["content"] for i in range(5))
    assert given["compression"] == 12 and "compression" not in absent
    assert "compression" not in negative and negative["_compression"] == -48702
    assert string["compression"] == 0 and neg_body["compression"] == 0
    assert all(c.get("compression", 0) >= 0 for c in (given, absent, negative, string, neg_body))


@check()
def every_warning_paged_and_grouped(o: Outcome) -> None:
    """300 warnings: all of them through the paged endpoint, in the answer as 12 groups."""
    body = o.import_body
    assert body["warningCount"] == len(o.all_warnings) == 300 and len(body["warnings"]) == MAX_LISTED
    groups = body["warningGroups"]
    assert len(groups) == 12 and sum(g["count"] for g in groups) == 300
    for g in groups:
        members = [
            w
            for w in o.all_warnings
            if re.sub(r"\[\d+\]", "[*]", w["path"]) == g["path"]
            and re.sub(r"'[^']*'|-?\d+", "…", w["message"]) == re.sub(r"'[^']*'|-?\d+", "…", g["example"])
        ]
        assert len(members) == g["count"] == 25, g
        assert g["firstIndexes"] == [0, 1, 2, 3, 4]


# ---- the round trip: file order, field for field, cache
@check()
def file_order_kept(o: Outcome) -> None:
    assert o.export is not None and o.original is not None
    urls = [e["request"]["url"] for e in o.export["log"]["entries"]]
    assert urls == [e["request"]["url"] for e in o.original["log"]["entries"]]


@check()
def entries_come_back_field_for_field(o: Outcome) -> None:
    assert o.original is not None
    for i, e in enumerate(o.original["log"]["entries"]):
        assert differences(e, exported(o, i), f"log.entries[{i}]") == []


def differences(a: Any, b: Any, path: str) -> list[str]:
    """Where two JSON values differ, as `path: a -> b` lines."""
    show = lambda v: "(missing)" if v is MISSING else repr(v)  # noqa: E731
    return [f"{p}: {show(x)} -> {show(y)}" for p, x, y in har_differences(a, b, path)]


@check()
def cache_is_valid_har_and_original_kept(o: Outcome) -> None:
    e, original = exported(o, 0), o.original["log"]["entries"][0]["cache"]["afterRequest"]  # type: ignore[index]
    after = e["cache"].get("afterRequest")
    assert after is None or {"lastAccess", "eTag", "hitCount"} <= set(after), after
    assert set(after or {}) <= {"expires", "lastAccess", "eTag", "hitCount", "comment"}, after
    assert original in list(_underscored(e)), "the original afterRequest is kept in a `_` field"


def _underscored(obj: Any) -> Any:
    """Every value held under a `_`-prefixed key, at any depth."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k.startswith("_"):
                yield v
            yield from _underscored(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _underscored(v)


MP = "log.entries"
CASES: list[Case] = [
    Case("clean.har", "control: a valid HAR 1.2 (one page, GET + form POST, TLS timings)", (2, 2), checks=(
        keep(f"{MP}[0].timings"), keep(f"{MP}[0].time"), keep(f"{MP}[0].serverIPAddress"), keep(f"{MP}[0].connection"),
        keep(f"{MP}[0].request.headers"), keep(f"{MP}[0].request.queryString"), keep(f"{MP}[0].request.cookies"),
        keep(f"{MP}[0].response.headers"), keep(f"{MP}[1].request.postData"), keep(f"{MP}[0].pageref"),
        keep("log.pages[0].pageTimings"), keep("log.pages[0].title"), entries_come_back_field_for_field)),
    Case("bom-utf8.har", "UTF-8 byte order mark (Fiddler, Chrome)", (1, 1), (W("", "byte order mark removed"),)),
    Case("utf16.har", "UTF-16 file with BOM", (1, 1), (W("", "UTF-16 file transcoded"),)),
    Case("latin1.har", "Latin-1 bytes (not UTF-8) in a body", (1, 1), (W("", "not valid UTF-8"),)),
    Case("jsonp-padding.har", "JSONP padding onInputData({...}); (Firebug .harp)", (1, 1), (W("", "JSONP padding onInputData(...) removed"),)),
    Case("har-1.1.har", "HAR 1.1 (Firebug), +01:00 zone, log.browser", (1, 1), (W("log.version", "HAR 1.1"),), checks=(
        keep(f"{MP}[0].request.headersSize"), keep(f"{MP}[0].response.headersSize"), keep(f"{MP}[0].timings.dns"),
        keep("log.browser"))),
    Case("missing-log-fields.har", "no version, creator, pages; missing, unparseable and zone-less dates", (4, 4), (
        W("log.version", "missing"), W("log.creator", "missing"), W(f"{MP}[0].startedDateTime", "missing"),
        W(f"{MP}[1].startedDateTime", "unparseable"), W(f"{MP}[2].startedDateTime", "no timezone")),
        checks=(dates_without_a_usable_time,)),
    Case("pages-null.har", "`pages: null` (Fiddler)", (1, 1), (W("log.pages", "null"),)),
    Case("wrong-types.har", "null sizes, string booleans/numbers, headers object, null redirectURL, NaN expires", (1, 1), (
        W(f"{MP}[0].request.headers", "an object instead of a list"), W(f"{MP}[0].request.bodySize", "not a number"),
        W(f"{MP}[0].request.headersSize", "not a number"), W(f"{MP}[0].request.cookies[0].httpOnly", "not a boolean"),
        W(f"{MP}[0].request.cookies[0].secure", "not a boolean"), W(f"{MP}[0].request.cookies[0].expires", "unparseable date"),
        W(f"{MP}[0].response.status", "not an integer"), W(f"{MP}[0].response.content.size", "not a number"),
        W(f"{MP}[0].response.bodySize", "not a number"), W(f"{MP}[0].response.redirectURL", "null"),
        W(f"{MP}[0].response.headersSize", "not an integer"), W(f"{MP}[0].timings.dns", "not a number"),
        W(f"{MP}[0].timings.blocked", "not a number"), W(f"{MP}[0].timings.wait", "not a number")),
        checks=(wrong_types_coerced,)),
    Case("fraction-7-digits.har", "7-digit fractional seconds (.NET writers)", (2, 2), (
        W(f"{MP}[0].startedDateTime", "7 digits"), W(f"{MP}[1].startedDateTime", "7 digits"))),
    Case("httpversion-junk.har", "httpVersion h2, h3, spdy/3.1, '', unknown, http/2.0", (6, 6), (
        W(f"{MP}[3].request.httpVersion", "unrecognised ''"), W(f"{MP}[3].response.httpVersion", "unrecognised ''"),
        W(f"{MP}[4].request.httpVersion", "unrecognised 'unknown'"), W(f"{MP}[4].response.httpVersion", "unrecognised 'unknown'")),
        checks=tuple(said(f"{MP}[{i}].{side}.httpVersion") for i in range(6) for side in ("request", "response"))),
    Case("headers-newline.har", "repeated headers joined by \\n (and \\r\\n)", (1, 1), (
        W(f"{MP}[0].request.headers[1]", "contains newlines"), W(f"{MP}[0].response.headers[1]", "contains newlines"),
        W(f"{MP}[0].response.headers[2]", "contains newlines")), checks=(headers_split_into_lines,)),
    Case("no-response.har", "entry with only a request (har-to-k6)", (1, 1), (W(f"{MP}[0].response", "missing"),),
         checks=(request_without_response_is_status_0,)),
    Case("no-url.har", "entries without url, request, method; a non-object entry", (1, 5), skipped=(
        (1, "request has no url"), (2, "entry has no request"), (3, "request has no method"), (4, "entry is not an object")),
        checks=(skipped_entries_leave_the_rest,)),
    Case("all-skipped.har", "every entry unusable", (None, None), skipped=((0, "request has no url"), (1, "request has no url")),
         ),
    Case("cookies-object.har", "cookies as an object (IE11)", (1, 1), (
        W(f"{MP}[0].request.cookies", "an object instead of a list"), W(f"{MP}[0].response.cookies", "an object instead of a list")),
        checks=(cookies_become_lists,)),
    Case("ssl-outside-connect.har", "ssl > connect; time counting ssl twice (Playwright/Chromium)", (2, 2), (
        W(f"{MP}[0].timings.ssl", "ssl was outside connect"), W(f"{MP}[1].timings.ssl", "ssl was outside connect")), checks=(
        ssl_inside_connect_and_time_kept, keep(f"{MP}[0].time"), keep(f"{MP}[1].time"))),
    Case("firefox-cache.har", "Firefox cache.afterRequest with lastFetched, fetchCount, expires '4294967295'", (1, 1), (
        W(f"{MP}[0].cache", "afterRequest is not a valid HAR cache entry"),), checks=(
        keep(f"{MP}[0]._securityState"), keep("log.browser"), cache_is_valid_har_and_original_kept)),
    Case("invalid-json.har", "invalid JSON (file cut off)", BAD_JSON),
    Case("empty-file.har", "a 0-byte file", BAD_JSON),
    Case("no-log.har", "valid JSON without `log`", NO_LOG),
    Case("top-level-array.har", "the top level is an array", NO_LOG),
    Case("no-entries.har", "`log.entries` missing (Firebug)", NO_ENTRIES),
    Case("entries-object.har", "`log.entries` an object", NO_ENTRIES),
    Case("empty-entries.har", "`log.entries` empty", (0, 0), (W("log.entries", "empty"),),
         import_refused="Invalid HAR structure"),
    Case("base64-bodies.har", "base64 bodies: PNG, SVG, binary POST, unpadded, undecodable, encoding 'gzip'", (6, 6), (
        W(f"{MP}[3].response.content.text", "canonical form"),
        W(f"{MP}[4].response.content.encoding", "does not decode"), W(f"{MP}[5].response.content.encoding", "unsupported encoding 'gzip'")),
        checks=(binary_bodies_stay_base64,)),
    Case("status-zero-error.har", "status 0 with _error (Chrome), serverIPAddress '', an aborted entry", (2, 2), (
        W(f"{MP}[0].serverIPAddress", "not an IP address"),), checks=(
        failed_flows_keep_their_error, keep(f"{MP}[0].time"), keep(f"{MP}[0].timings"), keep(f"{MP}[0].response._transferSize"),
        keep(f"{MP}[1]._error"), keep(f"{MP}[1].response.statusText"), keep(f"{MP}[1].response.content.mimeType"))),
    Case("invalid-header-names.har", "invalid header names (a request line, `;`, space, empty)", (1, 1), (
        W(f"{MP}[0].request.headers[1]", "invalid header name 'GET /wiki/Special'"),
        W(f"{MP}[0].request.headers[2]", "invalid header name 'Accept;charset=UTF-8'"),
        W(f"{MP}[0].response.headers[1]", "invalid header name 'bad header'"), W(f"{MP}[0].response.headers[2]", "invalid header name ''")),
        checks=(invalid_response_header_names_dropped, invalid_request_header_names_dropped)),
    Case("response-pseudo-headers.har", "HTTP/2 pseudo-headers: `:status` in a response, `:authority` in a request", (1, 1), (
        W(f"{MP}[0].response.headers[0]", "response pseudo-header ':status'"),), checks=(response_pseudo_headers_dropped,)),
    Case("custom-fields.har", "`_` fields at every level, comment, non-spec keys without `_`", (1, 1), checks=(
        keep(f"{MP}[0]._initiator"), keep(f"{MP}[0]._priority"), keep(f"{MP}[0]._resourceType"), keep(f"{MP}[0].comment"),
        keep(f"{MP}[0]._webSocketMessages"), keep(f"{MP}[0].request._isLinkPreload"), keep(f"{MP}[0].request.postData._sha"),
        keep(f"{MP}[0].response._transferSize"), keep(f"{MP}[0].response._fetchedViaServiceWorker"),
        keep(f"{MP}[0].response.content._cached"), keep(f"{MP}[0].timings._blocked_queueing"), keep(f"{MP}[0].timings._workerStart"))),
    Case("multi-page.har", "two pages with `_` fields, pagerefs, file order != time order", (4, 4), checks=(
        keep("log.pages[0]"), keep("log.pages[1]"), *(keep(f"{MP}[{i}].pageref") for i in range(4)), file_order_kept)),
    Case("interleaved-runs.har", "three test runs grouped by page, their times interleaved (WebPagetest)", (9, 9), checks=(
        three_runs_stay_apart, keep("log.pages"), file_order_kept, entries_come_back_field_for_field)),
    Case("timings-ssl-rule.har", "ssl inside connect; counted outside (Chromium); > connect but inside; time unexplained", (4, 4), (
        W(f"{MP}[1].timings.ssl", "ssl was outside connect"), W(f"{MP}[2].timings.ssl", "ssl lowered to 10"),
        W(f"{MP}[3].timings.ssl", "ssl was outside connect"), W(f"{MP}[3].time", "not the sum")), checks=(
        ssl_rule, keep(f"{MP}[0].timings"), keep(f"{MP}[0].time"), keep(f"{MP}[1].time"), keep(f"{MP}[2].time"))),
    Case("compression.har", "content.compression given, absent, negative, a string; negative bodySize", (5, 5), (
        W(f"{MP}[2].response.content.compression", "negative"), W(f"{MP}[3].response.content.compression", "not an integer")),
        checks=(compression_as_given,)),
    Case("log-fields.har", "log.browser (with comment), log.comment, a log `_` field, page and entry comments", (1, 1), checks=(
        keep("log.browser"), keep("log.comment"), keep("log._exportedBy"), keep("log.pages"),
        entries_come_back_field_for_field)),
    Case("empty-postdata.har", "empty postData on GETs (Insomnia), params without text on a form POST", (3, 3), checks=(
        keep(f"{MP}[0].request.postData"), keep(f"{MP}[1].request.postData"), keep(f"{MP}[2].request.postData"),
        entries_come_back_field_for_field)),
    Case("many-warnings.har", "25 bare entries, 12 warnings each: more than 200", (25, 25),
         may_warn=("log.entries[",), checks=(every_warning_paged_and_grouped,)),
    Case("pageref-dangling.har", "a pageref naming no page, an entry without pageref", (3, 3), (
        W(f"{MP}[1].pageref", "names no page"),), checks=(
        dangling_pagerefs_point_at_a_page, keep(f"{MP}[0].pageref"), dangling_pageref_kept_aside)),
    Case("timings-odd.har", "timings {} (Firefox), send/wait/receive -1, time != sum", (3, 3), (
        W(f"{MP}[0].timings", "missing send, wait, receive"), W(f"{MP}[1].timings.send", "negative"),
        W(f"{MP}[1].timings.wait", "negative"), W(f"{MP}[1].timings.receive", "negative"),
        W(f"{MP}[2].time", "not the sum"), W(f"{MP}[1].time", "not the sum")), checks=(
        firefox_empty_timings_take_time_as_wait, keep(f"{MP}[0].response.content.comment"))),
]  # fmt: skip
BY_FILE = {c.file: c for c in CASES}
ACCEPTED = [c for c in CASES if c.imported]


def xfail(reason: str | None) -> list[pytest.MarkDecorator]:
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


# ---------------------------------------------------------------------------- running the files
@dataclass
class Outcome:
    case: Case
    raw: bytes
    original: Any  # the file read independently of Necto (None when it is not JSON)
    validate_status: int = 0
    validate_body: dict[str, Any] = field(default_factory=dict)
    import_status: int = 0
    import_body: dict[str, Any] = field(default_factory=dict)
    window: tuple[float, float] = (0.0, 0.0)  # wall clock around the import
    new_sessions: set[str] = field(default_factory=set)
    rows_added: tuple[int, int] = (0, 0)  # (sessions, entries) in SQLite, hidden staging included
    stored: list[Entry] = field(default_factory=list)
    export_raw: bytes | None = None
    export: dict[str, Any] | None = None
    reimport_status: int = 0
    reimport_body: dict[str, Any] = field(default_factory=dict)
    all_warnings: list[dict[str, Any]] = field(default_factory=list)  # paged from the import's record


def read_original(raw: bytes) -> Any:
    """The fixture as JSON, decoded here (not by Necto): BOM, UTF-16, Latin-1, JSONP."""
    return read_har_text(raw)


async def post_file(http: aiohttp.ClientSession, url: str, data: bytes, filename: str) -> tuple[int, dict[str, Any]]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    async with http.post(url, data=form) as resp:
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, {"not JSON": text[:500]}


async def row_counts(necto: RunningNecto) -> tuple[int, int]:
    """Sessions (any state) and entries in the database file, read as another process would."""
    await necto.store.flush()

    def count() -> tuple[int, int]:
        with sqlite3.connect(f"file:{necto.data_dir / 'necto.db'}?mode=ro", uri=True) as db:
            return db.execute("SELECT (SELECT COUNT(*) FROM sessions), (SELECT COUNT(*) FROM entries)").fetchone()

    return await asyncio.to_thread(count)


async def run_case(necto: RunningNecto, http: aiohttp.ClientSession, case: Case) -> Outcome:
    raw = (DATA / case.file).read_bytes()
    o = Outcome(case, raw, read_original(raw))
    api = necto.api_url
    o.validate_status, o.validate_body = await post_file(http, f"{api}/api/har/validate", raw, case.file)
    before = {s.id for s in await necto.store.list_sessions()}
    rows = await row_counts(necto)
    t0 = time.time()
    o.import_status, o.import_body = await post_file(http, f"{api}/api/har/import", raw, case.file)
    o.window = (t0, time.time())
    o.new_sessions = {s.id for s in await necto.store.list_sessions()} - before
    after = await row_counts(necto)
    o.rows_added = (after[0] - rows[0], after[1] - rows[1])
    sid = o.import_body.get("sessionId")
    if o.import_status == 200 and "importId" in o.import_body:
        while True:  # GET /api/har/imports/:id/warnings, a page at a time
            async with http.get(f"{api}/api/har/imports/{o.import_body['importId']}/warnings",
                                params={"offset": len(o.all_warnings), "limit": 100}) as resp:  # fmt: skip
                assert resp.status == 200, await resp.text()
                page = (await resp.json())["warnings"]
            if not page:
                break
            o.all_warnings += page
    if o.import_status == 200 and sid:
        o.stored = [e async for e in necto.store.iter_entries(sid)]
        async with http.get(f"{api}/api/har/export/{sid}") as resp:
            assert resp.status == 200, await resp.text()
            o.export_raw = await resp.read()
        o.export = orjson.loads(o.export_raw)
        o.reimport_status, o.reimport_body = await post_file(
            http, f"{api}/api/har/validate", o.export_raw, "re-export.har"
        )
    return o


@pytest_asyncio.fixture(scope="module")
async def outcomes(necto: RunningNecto, http: aiohttp.ClientSession) -> AsyncIterator[dict[str, Outcome]]:
    """Every fixture validated, imported, exported and re-validated once (a few ms each)."""
    results = {c.file: await run_case(necto, http, c) for c in CASES}
    yield results
    for o in results.values():
        for sid in o.new_sessions:
            await necto.store.delete_session(sid)


@pytest_asyncio.fixture(scope="module")
async def validator_verdicts(
    outcomes: dict[str, Outcome], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any] | None:
    """har-validator's verdict on every re-export, from one node process; None: not installed."""
    node = shutil.which("node")
    if node is None or not (HAR_VALIDATOR / "package.json").is_file():
        return None
    folder = tmp_path_factory.mktemp("fixture-exports")
    for name, o in outcomes.items():
        if o.export_raw is not None:
            (folder / name).write_bytes(o.export_raw)
    script = (
        f"const v = require({str(HAR_VALIDATOR)!r}); const fs = require('fs'); const dir = {str(folder)!r};"
        "(async () => { const out = {};"
        "  for (const f of fs.readdirSync(dir)) {"
        "    try { await v.har(JSON.parse(fs.readFileSync(dir + '/' + f, 'utf8'))); out[f] = null; }"
        "    catch (e) { out[f] = e.errors || String(e); } }"
        "  console.log(JSON.stringify(out)); })();"
    )
    code, out, err = await run_cmd(node, "-e", script)
    assert code == 0, err.decode()
    return orjson.loads(out)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- small readers
def instant(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def body_bytes(content: dict[str, Any]) -> bytes | None:
    """A HAR body as bytes, the way the spec reads it (base64 only when it decodes)."""
    text = content.get("text")
    if not isinstance(text, str):
        return None
    if content.get("encoding") == "base64":
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except ValueError:
            pass
    return text.encode("utf-8")


def imported_originals(o: Outcome) -> list[tuple[int, dict[str, Any]]]:
    skipped = {i for i, _ in o.case.skipped}
    return [(i, e) for i, e in enumerate(o.original["log"]["entries"]) if i not in skipped]


HAR_DATE = re.compile(r"^\d{4}-?\d\d-?\d\dT?\d\d:?\d\d:?\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$")
TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


# ---------------------------------------------------------------------------- the tests
def test_every_fixture_has_a_case_and_a_readme_row() -> None:
    files = sorted(p.name for p in DATA.iterdir())
    assert files == sorted(BY_FILE), "each file in tests/data/har has exactly one Case"
    readme = README.read_text()
    missing = [f for f in files if f"`{f}`" not in readme]
    assert not missing, f"tests/data/README.md has no row for {missing}"
    assert all(p.stat().st_size <= 8 * 1024 for p in DATA.iterdir()), "fixtures stay small"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.file)
async def test_validate(outcomes: dict[str, Outcome], case: Case) -> None:
    o = outcomes[case.file]
    body = o.validate_body
    if case.rejected and case.outcome[0] is not None:
        assert (o.validate_status, body["valid"], body["error"]) == (400, False, case.outcome[0])
        return
    text = json.dumps(body)
    for index, reason in case.skipped:  # however the verdict is shaped, the reasons are there
        assert f"log.entries[{index}]" in text and reason in text, (index, reason, body)
    if case.rejected:
        return
    assert o.validate_status == 200 and body["valid"] is True, body
    assert body["entryCount"] == case.outcome[1]
    if o.original is not None and isinstance(o.original["log"].get("version"), str):
        assert body["version"] == o.original["log"]["version"]
    creator = o.original["log"].get("creator") if o.original else None
    assert body["creator"] == (creator if isinstance(creator, dict) else {"name": "Unknown", "version": ""})
    # validate says exactly what import does: the same warnings, then the entries it would skip
    skips = [w for w in body["warnings"] if w["message"].startswith("entry would be skipped: ")]
    if case.import_refused is None:
        assert body["warnings"] == o.import_body.get("warnings", []) + skips
    assert [(w["index"], w["message"].removeprefix("entry would be skipped: ")) for w in skips] == list(case.skipped)
    assert len(body["warnings"]) == min(body["warningCount"], MAX_LISTED + len(skips))


@pytest.mark.parametrize("case", [pytest.param(c, id=c.file, marks=xfail(c.import_pending)) for c in CASES])
async def test_import(outcomes: dict[str, Outcome], case: Case) -> None:
    o = outcomes[case.file]
    body = o.import_body
    if case.rejected:
        assert o.import_status == 400, body
        if case.outcome[1] is not None:
            assert body["error"] == case.outcome[1]
        else:
            assert isinstance(body.get("error"), str) and body["error"], body
            text = json.dumps(body)
            assert all(reason in text for _, reason in case.skipped), body
        assert o.new_sessions == set() and o.rows_added == (0, 0), "a rejected file leaves nothing behind"
        return
    if case.import_refused is not None:
        assert (o.import_status, body.get("error")) == (400, case.import_refused), body
        assert isinstance(body.get("detail"), str) and body["detail"], "the error says what was wrong"
        assert o.new_sessions == set() and o.rows_added == (0, 0), "a refused file leaves nothing behind"
        return
    imported, total = case.outcome
    assert o.import_status == 200 and body["success"] is True, body
    assert (body["imported"], body["total"]) == (imported, total)
    assert body["sessionName"] == f"Imported: {case.file.removesuffix('.har')}"
    assert o.new_sessions == {body["sessionId"]} and o.rows_added == (1, imported)
    assert len(o.stored) == imported and all(e.source == "import" for e in o.stored)
    assert [(s["index"], s["reason"]) for s in body.get("skipped", [])] == list(case.skipped)
    assert body.get("skippedCount", 0) == len(case.skipped)
    # exactly the warnings in the table (pending ones may or may not be there yet)
    warnings = body.get("warnings", [])
    assert len(warnings) == min(body.get("warningCount", 0), MAX_LISTED)  # the first ones; all are paged
    assert o.all_warnings[: len(warnings)] == warnings and len(o.all_warnings) == body.get("warningCount", 0)
    pending = {w.path for w in case.warnings if w.pending}
    seen = {w["path"] for w in warnings if not w["path"].startswith(case.may_warn or ("\0",))}
    assert seen - pending == {w.path for w in case.warnings if not w.pending}, warnings
    for w in warnings:
        m = re.match(r"log\.entries\[(\d+)\]", w["path"])
        assert w.get("index") == (int(m.group(1)) if m else None), w


WARNING_PARAMS = [
    pytest.param(c, w, id=f"{c.file}:{w.path or '(file)'}", marks=xfail(w.pending)) for c in CASES for w in c.warnings
]


@pytest.mark.parametrize("case,warning", WARNING_PARAMS)
async def test_warning_names_the_field(outcomes: dict[str, Outcome], case: Case, warning: W) -> None:
    o = outcomes[case.file]
    for where, body in (("validate", o.validate_body), ("import", o.import_body))[: 1 if case.import_refused else 2]:
        found = [w for w in body.get("warnings", []) if w["path"] == warning.path and warning.fragment in w["message"]]
        assert found, f"{where}: no warning at {warning.path!r} containing {warning.fragment!r}: {body.get('warnings')}"


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.file)
async def test_reexport_rules(outcomes: dict[str, Outcome], case: Case) -> None:
    """What Chrome, Safari, Playwright and mitmproxy need (../shared/har-notes.md), for every file."""
    o = outcomes[case.file]
    assert o.import_status == 200, o.import_body
    raw = o.export_raw
    assert raw is not None and not raw.startswith(codecs.BOM_UTF8)
    raw.decode("utf-8")
    log = o.export["log"]  # type: ignore[index]
    assert log["version"] == "1.2"
    assert isinstance(log["creator"]["name"], str) and isinstance(log["creator"]["version"], str)
    assert isinstance(log["pages"], list) and log["pages"], "one page at least (Safari)"
    page_ids = {p["id"] for p in log["pages"]}
    assert all(HAR_DATE.match(p["startedDateTime"]) for p in log["pages"])
    assert len(log["entries"]) == case.outcome[0]
    for e in log["entries"]:
        where = e["request"]["url"]
        assert e.get("pageref", next(iter(page_ids))) in page_ids, where
        assert HAR_DATE.match(e["startedDateTime"]), where
        req, resp, t = e["request"], e["response"], e["timings"]
        for side in (req, resp):
            assert isinstance(side["headersSize"], int) and isinstance(side["bodySize"], int), where
            assert isinstance(side["httpVersion"], str) and isinstance(side["cookies"], list), where
            for h in side["headers"]:
                assert set(h) >= {"name", "value"} and isinstance(h["name"], str) and isinstance(h["value"], str), where
                assert "\n" not in h["value"] and "\r" not in h["value"], (where, h)
            for c in side["cookies"]:
                assert isinstance(c["name"], str) and isinstance(c["value"], str), (where, c)
                assert all(isinstance(c[k], bool) for k in ("httpOnly", "secure") if k in c), (where, c)
        assert all(TOKEN.match(h["name"]) for h in resp["headers"]), (where, resp["headers"])
        assert isinstance(resp["status"], int) and isinstance(resp["content"]["size"], int), where
        assert isinstance(resp["content"]["mimeType"], str) and isinstance(resp["redirectURL"], str), where
        for content in (resp["content"], req.get("postData", {})):
            if content.get("encoding") is not None:
                assert content["encoding"] == "base64", where
                base64.b64decode(content["text"], validate=True)
        for k in ("send", "wait", "receive"):
            assert isinstance(t[k], (int, float)) and t[k] >= 0, (where, t)
        for k in ("blocked", "dns", "connect", "ssl"):
            assert t.get(k, -1) == -1 or t[k] >= 0, (where, t)
        assert t.get("ssl", -1) == -1 or t["ssl"] <= t["connect"], (where, t)
        phases = sum(t[k] for k in ("blocked", "dns", "connect", "send", "wait", "receive") if t.get(k, -1) >= 0)
        assert isinstance(e["time"], (int, float)) and e["time"] == pytest.approx(phases, abs=0.002), (
            where,
            e["time"],
            t,
        )
        if "serverIPAddress" in e:
            ipaddress.ip_address(e["serverIPAddress"])
    # dates survive to the millisecond wherever the file gave a zone
    for i, orig in imported_originals(o):
        when = orig.get("startedDateTime")
        if isinstance(when, str) and HAR_DATE.match(when):
            assert instant(exported(o, i)["startedDateTime"]) == pytest.approx(instant(when), abs=0.0006), when


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.file)
async def test_bodies_round_trip(outcomes: dict[str, Outcome], case: Case) -> None:
    o = outcomes[case.file]
    assert o.import_status == 200, o.import_body
    for i, orig in imported_originals(o):
        e = exported(o, i)
        post = orig["request"].get("postData")
        if isinstance(post, dict) and isinstance(post.get("text"), str) and post["text"]:
            assert body_bytes(e["request"]["postData"]) == body_bytes(post), orig["request"]["url"]
        resp = orig.get("response")
        if isinstance(resp, dict) and isinstance(resp.get("content"), dict) and resp.get("status") not in (0, None):
            assert body_bytes(e["response"]["content"]) == body_bytes(resp["content"]), orig["request"]["url"]


CHECK_PARAMS = [pytest.param(c, k, id=f"{c.file}:{k.name}", marks=xfail(k.pending)) for c in CASES for k in c.checks]


@pytest.mark.parametrize("case,chk", CHECK_PARAMS)
async def test_fixture_check(outcomes: dict[str, Outcome], case: Case, chk: Check) -> None:
    o = outcomes[case.file]
    assert o.import_status == 200 and o.export is not None, o.import_body
    chk.fn(o)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.file, marks=xfail(c.validator_pending)) for c in ACCEPTED])
async def test_har_validator_accepts_reexport(validator_verdicts: dict[str, Any] | None, case: Case) -> None:
    if validator_verdicts is None:
        missing_tool("har-validator (npm)")
    assert case.file in validator_verdicts  # type: ignore[operator]
    assert validator_verdicts[case.file] is None, validator_verdicts[case.file]  # type: ignore[index]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.file, marks=xfail(c.reimport_pending)) for c in ACCEPTED])
async def test_reexport_reimports_without_warnings(outcomes: dict[str, Outcome], case: Case) -> None:
    """Necto's own export is clean input for Necto: everything was fixed (and said) once."""
    o = outcomes[case.file]
    assert o.reimport_status == 200, o.reimport_body
    assert o.reimport_body["entryCount"] == case.outcome[0]
    assert o.reimport_body["warnings"] == [] or (
        case.outcome[0] == 0 and {w["path"] for w in o.reimport_body["warnings"]} == {"log.entries"}
    )
