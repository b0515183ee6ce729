"""Every file in ../shared/har-corpus through the real HTTP endpoints, with its asserted outcome.

Files are real HARs from a dozen tools (attribution in ../shared/har-corpus/INDEX.md); they are
read in place, not copied. Each row: (file, imported/total or the rejection error, skipped
indexes, warnings that must be reported as (path suffix, text in the message)).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
import pytest

from helpers import CORPUS, RunningNecto

pytestmark = pytest.mark.corpus

BAD_JSON = "Invalid HAR file format"
BAD_STRUCTURE = "Invalid HAR structure"

# file, (imported, total) or error, skipped indexes, [(path ending, message fragment)]
CASES: list[tuple[str, Any, list[int], list[tuple[str, str]]]] = [
    (
        "har-to-k6/multipart-formdata.har",
        (5, 5),
        [],
        [
            ("log.version", "missing"),
            ("log.creator", "missing"),
            ("[0].startedDateTime", "missing"),
            ("[0].response", "missing"),
        ],
    ),
    (
        "har-to-k6/pseudo-headers.har",
        (1, 1),
        [],
        [("log.version", "missing"), ("[0].request.headers[1]", "invalid header name 'Accept;charset=UTF-8'")],
    ),
    ("haralyzer/missing_page.har", BAD_STRUCTURE, [0], []),  # its only entry has no request: nothing to import
    ("haralyzer/no_title.har", (4, 4), [], [("log.version", "HAR 1.1"), ("log.pages[0].title", "missing")]),
    (
        "harviewer/data-url.har",
        (1, 1),
        [],
        [
            ("[0].request.method", "GET assumed"),
            ("[0].timings.send", "negative"),
            ("[0].timings.wait", "negative"),
            ("[0].timings.receive", "negative"),
        ],
    ),
    ("harviewer/issue-49-chrome51.har", (4, 4), [], [("serverIPAddress", "not an IP address")]),
    ("harviewer/issue-56-missing-content-type.har", (1, 1), [], [("[0].response.content.mimeType", "missing")]),
    ("harviewer/issue-62-svg.base64.har", (1, 1), [], []),
    ("harviewer/jsonp.har", (1, 1), [], [("", "JSONP padding onInputData(...) removed")]),
    ("harviewer/noPages.har", (87, 87), [], [("[16].response.cookies[1].httpOnly", "'true' is not a boolean")]),
    ("harviewer/not-json.har", BAD_JSON, [], []),
    ("harviewer/not-valid.har", BAD_STRUCTURE, [], []),
    ("harviewer/www-cnn-com.har", (22, 22), [], [("", "byte order mark removed"), ("log.pages", "null")]),
    ("mitmproxy/charles.har", (1, 1), [], [("[0].response.redirectURL", "null")]),
    ("mitmproxy/chrome.har", (3, 3), [], [("[1].serverIPAddress", "not an IP address")]),
    ("mitmproxy/corrupted_har-brokenfile.har", BAD_JSON, [], []),
    (
        "mitmproxy/firefox.har",
        (14, 14),
        [],
        [
            ("request.headersSize", "not a number"),
            ("response.content.size", "missing"),
            ("timings", "missing send, wait, receive"),
        ],
    ),
    ("mitmproxy/flows-corrupted_gzip_body.har", (1, 1), [], []),
    (
        "mitmproxy/flows-diff_data.har",
        (5, 5),
        [],
        [
            ("[0].timings.ssl", "ssl was outside connect"),
            ("[4].timings.ssl", "counts ssl"),
            ("[0].response.content.compression", "negative"),
        ],
    ),
    ("mitmproxy/flows-error_log.har", (2, 2), [], [("[1].timings.ssl", "ssl was outside connect")]),
    ("mitmproxy/flows-event_stream.har", (2, 2), [], [("[0].timings.ssl", "ssl was outside connect")]),
    (
        "mitmproxy/flows-incomplete_log.har",
        (4, 4),
        [],
        [("[0].response.content.size", "missing; 0 used"), ("[0].response.content.mimeType", "missing")],
    ),
    ("mitmproxy/flows-successful_log.har", (2, 2), [], [("[1].timings.ssl", "ssl was outside connect")]),
    ("mitmproxy/flows-websocket.har", (3, 3), [], [("timings.ssl", "ssl was outside connect")]),
    ("mitmproxy/head-content-length.har", (1, 1), [], [("[0].timings.ssl", "ssl was outside connect")]),
    ("mitmproxy/insomnia.har", (1, 1), [], []),
    ("mitmproxy/invalid_content_encoding.har", (1, 1), [], [("[0].timings.ssl", "outside connect")]),
    ("mitmproxy/postdata.har", (1, 1), [], []),
    (
        "mitmproxy/safari.har",
        (19, 19),
        [],
        [("[0].time", "not the sum"), ("[3].request.httpVersion", "unrecognised ''")],
    ),
    ("mitmproxy/with-bom.har", (1, 1), [], [("", "byte order mark removed")]),
    ("node-har-validator/har-invalid.json", BAD_STRUCTURE, [], []),
    ("node-har-validator/har-valid.json", (1, 1), [], []),
    (
        "pagexray/contentTypes-ferguson.har",
        (174, 174),
        [],
        [("[3].response.headers[8]", "value of 'server-timing' contains newlines; split into one header per line")],
    ),
    ("pagexray/domains-run.sitespeed.io.har", (10, 10), [], [("request.httpVersion", "unrecognised 'unknown'")]),
    ("pagexray/http-http2-firefox.har", (10, 10), [], [("log.version", "HAR 1.1")]),
    ("pagexray/http-spdy-chrome.har", (19, 19), [], [("time", "not the sum of the timings")]),
    ("pagexray/sitespeed-browsertime-recalculate-style.har", (7, 7), [], []),
    (
        "pagexray/www.sitespeed.io-redirecting-to-https.har",
        (15, 15),
        [],
        [("request.httpVersion", "unrecognised 'me:'"), ("response.httpVersion", "unrecognised '2 2'")],
    ),
    ("playwright/har-fulfill.har", (5, 5), [], [("timings.receive", "negative")]),
    ("playwright/har-sha1.har", (1, 1), [], [("[0].timings.receive", "negative")]),
    ("playwright/har-sha1-main-response.txt", BAD_JSON, [], []),
]


def test_every_corpus_file_has_a_case() -> None:
    files = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.is_file() and p.name != "INDEX.md"}
    assert files == {c[0] for c in CASES}


async def post(http: aiohttp.ClientSession, url: str, name: str) -> tuple[int, dict[str, Any]]:
    form = aiohttp.FormData()
    form.add_field("file", (CORPUS / name).read_bytes(), filename=name.rsplit("/", 1)[-1])
    async with http.post(url, data=form) as resp:
        return resp.status, await resp.json()


def has_warning(warnings: list[dict[str, Any]], path_end: str, fragment: str) -> bool:
    return any(w["path"].endswith(path_end) and fragment in w["message"] for w in warnings)


@pytest.mark.parametrize("name,outcome,skipped,warnings", CASES, ids=[c[0] for c in CASES])
async def test_corpus_file(
    necto: RunningNecto,
    http: aiohttp.ClientSession,
    name: str,
    outcome: Any,
    skipped: list[int],
    warnings: list[tuple[str, str]],
) -> None:
    before = {s.id for s in await necto.store.list_sessions()}
    status, body = await post(http, f"{necto.api_url}/api/har/import", name)
    vstatus, vbody = await post(http, f"{necto.api_url}/api/har/validate", name)
    if isinstance(outcome, str):
        assert status == 400 and body["error"] == outcome, body
        assert vstatus == 400 and vbody["valid"] is False
        assert vbody["error"] == {BAD_JSON: "Invalid JSON format"}.get(outcome, vbody["error"])
        assert {s.id for s in await necto.store.list_sessions()} == before  # nothing left behind
        return
    imported, total = outcome
    assert status == 200, body
    assert (body["imported"], body["total"]) == (imported, total)
    assert [s["index"] for s in body.get("skipped", [])] == skipped
    got = body.get("warnings", [])
    for path_end, fragment in warnings:
        assert has_warning(got, path_end, fragment), (path_end, fragment, got[:20])
    if not warnings and not skipped:  # the fields are always there, empty
        assert (body["warnings"], body["warningCount"], body["skipped"], body["skippedCount"]) == ([], 0, [], 0), got
    assert all("path" in w and "message" in w for w in got)
    assert all(w["path"].startswith(f"log.entries[{w['index']}]") for w in got if "index" in w)
    assert vstatus == 200 and vbody["valid"] is True and vbody["entryCount"] == total
    assert (await necto.store.get_session(body["sessionId"])).traffic_count == imported  # type: ignore[union-attr]


async def test_imported_corpus_details(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    """Spot checks that the imported rows carry what the source had."""
    _, body = await post(http, f"{necto.api_url}/api/har/import", "mitmproxy/flows-websocket.har")
    entries = [e async for e in necto.store.iter_entries(body["sessionId"])]
    ws = [e for e in entries if e.websocket]
    assert ws and ws[0].status == 101 and all(m.type in ("send", "receive") for m in ws[0].websocket)  # type: ignore[union-attr]
    _, body = await post(http, f"{necto.api_url}/api/har/import", "mitmproxy/chrome.har")
    entries = [e async for e in necto.store.iter_entries(body["sessionId"])]
    failed = [e for e in entries if e.status is None]
    assert [e.error for e in failed] == ["net::ERR_INTERNET_DISCONNECTED"]
    assert {e.http_version for e in entries} >= {"HTTP/2.0"}
    _, body = await post(http, f"{necto.api_url}/api/har/import", "playwright/har-sha1.har")
    async with http.get(f"{necto.api_url}/api/har/export/{body['sessionId']}") as resp:
        har = orjson.loads(await resp.read())
    assert har["log"]["entries"][0]["response"]["content"]["_file"] == "har-sha1-main-response.txt"
    _, body = await post(http, f"{necto.api_url}/api/har/import", "harviewer/issue-62-svg.base64.har")
    [svg] = [e async for e in necto.store.iter_entries(body["sessionId"])]
    assert svg.response_body is not None and svg.response_body.lstrip().startswith(b"<")


@pytest.mark.parametrize(
    "variant,warning",
    [("creator", "log.creator"), ("date", "log.pages[0].startedDateTime"), ("version", "log.version")],
)
async def test_har_validator_invalid_fixtures_split_by_key(
    necto: RunningNecto, http: aiohttp.ClientSession, variant: str, warning: str
) -> None:
    """node-har-validator's invalid.json holds named invalid HARs; each is tolerated with a warning."""
    doc = orjson.loads((CORPUS / "node-har-validator/har-invalid.json").read_bytes())[variant]
    form = aiohttp.FormData()
    form.add_field("file", orjson.dumps(doc), filename=f"{variant}.har")
    async with http.post(f"{necto.api_url}/api/har/validate", data=form) as resp:
        body = await resp.json()
    assert resp.status == 200 and body["valid"] is True
    assert any(w["path"] == warning for w in body["warnings"]), body["warnings"]
