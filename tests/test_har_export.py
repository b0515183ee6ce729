"""HAR export of traffic captured through the real proxy: the bytes a user downloads."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio

from helpers import (
    FORM,
    JSON_BODY,
    PNG,
    Captured,
    RunningNecto,
    Upstream,
    capture_standard_traffic,
    necto_cli,
    run_cmd,
)


@pytest_asyncio.fixture(scope="module")
async def captured(necto: RunningNecto, upstream: Upstream) -> Captured:
    return await capture_standard_traffic(necto, upstream.http_url, upstream.https_url, 'HAR "export" / test')


async def fetch_export(
    http: aiohttp.ClientSession, necto: RunningNecto, session_id: str, query: str = ""
) -> tuple[aiohttp.ClientResponse, bytes]:
    async with http.get(f"{necto.api_url}/api/har/export/{session_id}{query}") as resp:
        return resp, await resp.read()


def by_path(har: dict[str, Any], path: str, method: str = "GET") -> dict[str, Any]:
    found = [
        e
        for e in har["log"]["entries"]
        if e["request"]["url"].split("://", 1)[1].split("/", 1)[-1] == path.lstrip("/")
        and e["request"]["method"] == method
    ]
    assert found, f"no {method} {path} in export"
    return found[0]


@pytest_asyncio.fixture(scope="module")
async def exported(
    necto: RunningNecto, captured: Captured, http: aiohttp.ClientSession
) -> tuple[aiohttp.ClientResponse, bytes, dict[str, Any]]:
    resp, raw = await fetch_export(http, necto, captured.session_id)
    return resp, raw, orjson.loads(raw)


async def test_download_headers_and_log(exported: Any, captured: Captured) -> None:
    resp, raw, har = exported
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    cd = resp.headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="HAR_export_test_\d{13}\.har"', cd), cd
    assert not raw.startswith(b"\xef\xbb\xbf")
    log = har["log"]
    assert log["version"] == "1.2"
    assert log["creator"]["name"] == "Necto" and isinstance(log["creator"]["version"], str)
    assert [p["id"] for p in log["pages"]] == ["page_1"]
    assert log["pages"][0]["startedDateTime"] == log["entries"][0]["startedDateTime"]
    assert len(log["entries"]) == len(captured.entries) == 12


async def test_every_entry_has_required_numbers_and_sane_timings(exported: Any) -> None:
    for e in exported[2]["log"]["entries"]:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["startedDateTime"])
        assert e["pageref"] == "page_1"
        t = e["timings"]
        for k in ("send", "wait", "receive"):
            assert isinstance(t[k], (int, float)) and t[k] >= 0
        for k in ("blocked", "dns", "connect", "ssl"):
            assert t[k] == -1 or t[k] >= 0
        assert t["ssl"] == -1 or t["ssl"] <= t["connect"]
        phases = sum(t[k] for k in ("blocked", "dns", "connect", "send", "wait", "receive") if t[k] >= 0)
        assert e["time"] == pytest.approx(phases, abs=0.002)
        for side in ("request", "response"):
            for k in ("headersSize", "bodySize"):
                assert isinstance(e[side][k], int)
            assert all(set(h) == {"name", "value"} and "\n" not in h["value"] for h in e[side]["headers"])
        assert isinstance(e["response"]["status"], int)
        assert isinstance(e["response"]["content"]["size"], int)
        assert isinstance(e["response"]["redirectURL"], str)


async def test_bodies_sizes_and_versions(exported: Any) -> None:
    har = exported[2]
    page = by_path(har, "/")
    assert page["request"]["httpVersion"] == "HTTP/1.1" and page["response"]["httpVersion"] == "HTTP/1.1"
    assert "Hello from upstream" in page["response"]["content"]["text"]
    assert page["response"]["content"]["mimeType"].startswith("text/html")
    assert page["serverIPAddress"] == "127.0.0.1" and page["_resourceType"] == "document"
    img = by_path(har, "/image.png")["response"]["content"]
    assert img["encoding"] == "base64" and base64.b64decode(img["text"]) == PNG and img["size"] == len(PNG)
    data = by_path(har, "/api/data")
    assert orjson.loads(data["response"]["content"]["text"]) == {"message": "data loaded", "items": [1, 2, 3]}
    gz = by_path(har, "/gzip")["response"]
    body = b"compressible " * 200
    assert gz["content"]["text"] == body.decode() and gz["content"]["size"] == len(body)
    assert 0 < gz["bodySize"] < len(body) and gz["content"]["compression"] == len(body) - gz["bodySize"]
    redirect = by_path(har, "/redirect")["response"]
    assert redirect["status"] == 302 and redirect["redirectURL"] == "/hello"


async def test_post_data_params_and_query(exported: Any) -> None:
    posts = [e for e in exported[2]["log"]["entries"] if e["request"]["method"] == "POST"]
    form, js = posts
    assert form["request"]["postData"] == {
        "mimeType": "application/x-www-form-urlencoded",
        "text": FORM,
        "params": [
            {"name": "name", "value": "necto"},
            {"name": "lang", "value": "py thon"},
            {"name": "empty", "value": ""},
        ],
    }
    assert form["request"]["bodySize"] == len(FORM)
    assert js["request"]["postData"] == {"mimeType": "application/json", "text": JSON_BODY}
    assert by_path(exported[2], "/")["request"]["queryString"] == []


async def test_cookies_parsed_from_headers(exported: Any) -> None:
    e = by_path(exported[2], "/cookies")
    assert e["request"]["cookies"] == [{"name": "a", "value": "1"}, {"name": "b", "value": "two"}]
    cookies = {c["name"]: c for c in e["response"]["cookies"]}
    assert cookies["session"]["value"] == "abc123" and cookies["session"]["path"] == "/"
    assert cookies["session"]["httpOnly"] is True and cookies["session"]["secure"] is False
    assert cookies["session"]["sameSite"] == "Lax"
    assert cookies["theme"]["value"] == "dark"
    assert e["_tls"]["version"].startswith("TLS") and e["_tls"]["sni"] == "localhost"
    assert e["timings"]["ssl"] >= 0 and e["timings"]["ssl"] <= e["timings"]["connect"]


async def test_websocket_and_failed_flow(exported: Any) -> None:
    entries = exported[2]["log"]["entries"]
    [ws] = [e for e in entries if e["response"]["status"] == 101]
    assert ws["_resourceType"] == "websocket"
    msgs = [(m["type"], m["opcode"], m["data"]) for m in ws["_webSocketMessages"] if m["opcode"] in (1, 2)]
    assert msgs == [
        ("send", 1, "ping"),
        ("receive", 1, "echo: ping"),
        ("send", 2, base64.b64encode(b"\x01\x02\x03").decode()),
        ("receive", 2, base64.b64encode(b"\x03\x02\x01").decode()),
    ]
    assert all(isinstance(m["time"], float) for m in ws["_webSocketMessages"])
    [failed] = [e for e in entries if "unreachable" in e["request"]["url"]]
    assert failed["response"]["status"] == 0 and failed["response"]["_error"]
    assert failed["response"]["content"] == {"size": 0, "mimeType": ""}


async def test_exclude_binary(necto: RunningNecto, captured: Captured, http: aiohttp.ClientSession) -> None:
    resp, raw = await fetch_export(http, necto, captured.session_id, "?excludeBinary=true")
    assert resp.status == 200
    har = orjson.loads(raw)
    img = by_path(har, "/image.png")["response"]["content"]
    assert "text" not in img and "encoding" not in img and img["size"] == len(PNG)
    assert "excluded" in img["comment"].lower()
    assert "Hello from upstream" in by_path(har, "/")["response"]["content"]["text"]


async def test_unknown_session_is_404(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    resp, raw = await fetch_export(http, necto, "no-such-session")
    assert resp.status == 404 and orjson.loads(raw) == {"error": "Session not found"}


async def test_export_selected_entries_in_given_order(
    necto: RunningNecto, captured: Captured, http: aiohttp.ClientSession
) -> None:
    ids = [captured.entries[3].id, "missing-id", captured.entries[0].id]
    async with http.post(f"{necto.api_url}/api/har/export", json={"entryIds": ids}) as resp:
        assert resp.status == 200
        assert re.fullmatch(r'attachment; filename="Necto_Export_\d{13}\.har"', resp.headers["Content-Disposition"])
        har = orjson.loads(await resp.read())
    assert [e["request"]["url"] for e in har["log"]["entries"]] == [captured.entries[3].url, captured.entries[0].url]
    async with http.post(
        f"{necto.api_url}/api/har/export", json={"entryIds": ids[:1], "sessionName": 'a"b\r\nX-Evil: 1'}
    ) as resp:
        assert resp.status == 200
        assert re.fullmatch(r'attachment; filename="a_b_X-Evil_1_\d{13}\.har"', resp.headers["Content-Disposition"])
        assert "X-Evil" not in resp.headers
        assert orjson.loads(await resp.read())["log"]["pages"][0]["title"] == 'a"b\r\nX-Evil: 1'


@pytest.mark.parametrize(
    "body,status,error",
    [
        ({}, 400, "No entry IDs provided"),
        ({"entryIds": []}, 400, "No entry IDs provided"),
        ({"entryIds": ["nope-1", "nope-2"]}, 404, "No valid entries found"),
    ],
)
async def test_export_selected_errors(
    necto: RunningNecto, http: aiohttp.ClientSession, body: dict[str, Any], status: int, error: str
) -> None:
    async with http.post(f"{necto.api_url}/api/har/export", json=body) as resp:
        assert resp.status == status
        assert await resp.json() == {"error": error}


async def test_seed_curl_export_example(necto: RunningNecto, captured: Captured, tmp_path: Path) -> None:
    """`curl http://localhost:8889/api/har/export/session-uuid -o traffic.har`, verbatim but for the address."""
    out = tmp_path / "traffic.har"
    code, _, err = await run_cmd("curl", "-sS", f"{necto.api_url}/api/har/export/{captured.session_id}", "-o", str(out))
    assert code == 0, err
    assert len(orjson.loads(out.read_bytes())["log"]["entries"]) == 12
    sel = tmp_path / "selected.har"
    ids = orjson.dumps({"entryIds": [captured.entries[0].id, captured.entries[1].id]}).decode()
    code, _, err = await run_cmd(
        "curl",
        "-sS",
        "-X",
        "POST",
        f"{necto.api_url}/api/har/export",
        "-H",
        "Content-Type: application/json",
        "-d",
        ids,
        "-o",
        str(sel),
    )
    assert code == 0, err
    assert len(orjson.loads(sel.read_bytes())["log"]["entries"]) == 2


async def test_cli_export_matches_api(necto: RunningNecto, captured: Captured, exported: Any, tmp_path: Path) -> None:
    out = tmp_path / "cli.har"
    code, _, err = await necto_cli("export", captured.session_id, "-o", str(out), "--data-dir", str(necto.data_dir))
    assert code == 0, err
    cli = orjson.loads(out.read_bytes())
    api = exported[2]
    assert cli["log"]["entries"] == api["log"]["entries"]
    code, stdout, err = await necto_cli(
        "export",
        "--entries",
        f"{captured.entries[1].id},{captured.entries[0].id}",
        "--exclude-binary",
        "--data-dir",
        str(necto.data_dir),
    )
    assert code == 0, err
    assert [e["request"]["url"] for e in orjson.loads(stdout)["log"]["entries"]] == [
        captured.entries[1].url,
        captured.entries[0].url,
    ]


async def test_gzip_body_is_decoded_text_not_wire_bytes(exported: Any) -> None:
    gz = by_path(exported[2], "/gzip")
    enc = [h["value"] for h in gz["response"]["headers"] if h["name"].lower() == "content-encoding"]
    assert enc == ["gzip"]  # header kept; text is the decoded body (what mitmproxy's reader expects)
    assert gz["response"]["content"]["text"] == "compressible " * 200  # decoded, plain text
    assert "encoding" not in gz["response"]["content"]
