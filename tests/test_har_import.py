"""HAR import and validate through the real API (multipart, as curl -F sends it) and the CLI."""

from __future__ import annotations

import asyncio
import base64
import codecs
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio

from helpers import DATA, Captured, RunningNecto, Upstream, capture_standard_traffic, necto_cli, poll_until, run_cmd

CHROME = DATA / "chrome-devtools.har"  # a Chrome DevTools export with its `_` fields
EXPORT_TIME_FIELDS = ("creator", "pages")


async def post_file(
    http: aiohttp.ClientSession, url: str, data: bytes, filename: str = "traffic.har", **fields: str
) -> tuple[int, dict[str, Any]]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    for k, v in fields.items():
        form.add_field(k, v)
    async with http.post(url, data=form) as resp:
        return resp.status, await resp.json()


async def session_names(necto: RunningNecto) -> set[str]:
    return {s.name for s in await necto.store.list_sessions()}


async def export(http: aiohttp.ClientSession, necto: RunningNecto, session_id: str) -> dict[str, Any]:
    async with http.get(f"{necto.api_url}/api/har/export/{session_id}") as resp:
        assert resp.status == 200
        return orjson.loads(await resp.read())


def minimal_har(n: int = 2) -> dict[str, Any]:
    entries = []
    for i in range(n):
        entries.append({
            "startedDateTime": f"2024-02-28T12:00:0{i}.000Z", "time": 3,
            "request": {"method": "GET", "url": f"https://api.example.com/users/{i}", "httpVersion": "HTTP/1.1",
                        "cookies": [], "headers": [{"name": "Accept", "value": "application/json"}],
                        "queryString": [], "headersSize": -1, "bodySize": 0},
            "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "cookies": [],
                         "headers": [{"name": "Content-Type", "value": "application/json"}],
                         "content": {"size": 2, "mimeType": "application/json", "text": "[]"},
                         "redirectURL": "", "headersSize": -1, "bodySize": 2},
            "cache": {}, "timings": {"send": 1, "wait": 1, "receive": 1},
        })  # fmt: skip
    return {"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": entries}}


@pytest_asyncio.fixture(scope="module")
async def captured_for_import(necto: RunningNecto, upstream: Upstream) -> Captured:
    return await capture_standard_traffic(necto, upstream.http_url, upstream.https_url, "import source")


def body_of(content: dict[str, Any]) -> bytes | None:
    if "text" not in content:
        return None
    if content.get("encoding") == "base64":
        return base64.b64decode(content["text"])
    return content["text"].encode()


def strip_export_time(har: dict[str, Any]) -> dict[str, Any]:
    log = {k: v for k, v in har["log"].items() if k not in EXPORT_TIME_FIELDS}
    return {"log": log}


async def test_round_trip_of_a_necto_export_is_exact(
    necto: RunningNecto, http: aiohttp.ClientSession, captured_for_import: Captured
) -> None:
    first = await export(http, necto, captured_for_import.session_id)
    status, body = await post_file(http, f"{necto.api_url}/api/har/import", orjson.dumps(first), filename="backup.har")
    assert status == 200, body
    assert body["success"] is True and body["imported"] == body["total"] == 12
    assert body["sessionName"] == "Imported: backup"
    # Always present, even when empty (the README lists them)
    assert (body["skipped"], body["skippedCount"], body["warnings"], body["warningCount"]) == ([], 0, [], 0)
    second = await export(http, necto, body["sessionId"])
    assert strip_export_time(second) == strip_export_time(first)
    # same kind of row as a captured one
    imported = [e async for e in necto.store.iter_entries(body["sessionId"])]
    originals = captured_for_import.entries
    for a, b in zip(originals, imported, strict=True):
        assert (b.method, b.url, b.status, b.http_version, b.server_ip, b.started) == (
            a.method,
            a.url,
            a.status,
            a.http_version,
            a.server_ip,
            round(a.started, 3),
        )
        assert b.response_body == a.response_body and b.request_body == (
            a.request_body or None if not a.request_body else a.request_body
        )
        assert b.timings.as_dict() == pytest.approx(a.timings.as_dict(), abs=0.001)
        assert b.source == "import"
    ws = [e for e in imported if e.websocket is not None]
    assert len(ws) == 1 and [m.data for m in ws[0].websocket if m.opcode in (1, 2)][:2] == [b"ping", b"echo: ping"]


async def test_round_trip_keeps_foreign_custom_fields(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    src = CHROME.read_bytes()
    status, body = await post_file(http, f"{necto.api_url}/api/har/import", src, filename="chrome.har")
    assert status == 200 and body["imported"] == 3
    out = await export(http, necto, body["sessionId"])
    orig = orjson.loads(src)["log"]["entries"]
    for o, e in zip(orig, out["log"]["entries"], strict=True):
        assert e["startedDateTime"] == o["startedDateTime"]
        for k in ("_initiator", "_priority", "_resourceType"):
            assert e[k] == o[k]
        assert e["response"]["_transferSize"] == o["response"]["_transferSize"]
        assert e["timings"]["_blocked_queueing"] == o["timings"]["_blocked_queueing"]
        assert e["response"]["status"] == o["response"]["status"]
        assert e["response"].get("_error") == o["response"].get("_error")
        assert body_of(e["response"]["content"]) == body_of(o["response"]["content"])
    # exported again, then imported again: stable
    status, body2 = await post_file(http, f"{necto.api_url}/api/har/import", orjson.dumps(out))
    assert status == 200
    assert strip_export_time(await export(http, necto, body2["sessionId"])) == strip_export_time(out)


async def test_import_into_existing_session(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    target = await necto.store.create_session("Restored Backup")
    status, body = await post_file(
        http, f"{necto.api_url}/api/har/import", orjson.dumps(minimal_har(2)), sessionId=target.id
    )
    assert status == 200
    assert body == {
        "success": True,
        "imported": 2,
        "total": 2,
        "sessionId": target.id,
        "sessionName": "Restored Backup",
        "skipped": [],
        "skippedCount": 0,
        "warnings": [],
        "warningCount": 0,
    }
    status, body = await post_file(
        http, f"{necto.api_url}/api/har/import", orjson.dumps(minimal_har(1)), sessionId=target.id
    )
    assert body["imported"] == 1
    assert (await necto.store.get_session(target.id)).traffic_count == 3  # type: ignore[union-attr]


async def test_session_name_and_errors(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    url = f"{necto.api_url}/api/har/import"
    status, body = await post_file(http, url, orjson.dumps(minimal_har(1)), sessionName="Chrome DevTools Export")
    assert status == 200 and body["sessionName"] == "Chrome DevTools Export"
    assert await post_file(http, url, orjson.dumps(minimal_har(1)), sessionId="nope") == (
        404,
        {"error": "Session not found"},
    )
    status, body = await post_file(http, url, b'{"log": {"entries": [ {"request": ')
    assert (status, body["error"]) == (400, "Invalid HAR file format")
    status, body = await post_file(http, url, b'{"log": {"version": "1.2"}}')
    assert (status, body["error"]) == (400, "Invalid HAR structure")
    status, body = await post_file(http, url, b"[1, 2]")
    assert (status, body["error"]) == (400, "Invalid HAR structure")
    form = aiohttp.FormData()
    form.add_field("sessionName", "x")
    async with http.post(url, data=form) as resp:  # urlencoded, no file
        assert resp.status == 400
    form = aiohttp.FormData()
    form.add_field("sessionName", "x")
    form.add_field("other", b"x", filename="x.har")
    async with http.post(url, data=form) as resp:
        assert (resp.status, await resp.json()) == (400, {"error": "No file provided"})
    async with http.post(url, json=minimal_har(1)) as resp:
        assert resp.status == 400
        assert "multipart/form-data" in (await resp.json())["error"]


async def test_rejected_files_leave_nothing_behind(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    target = await necto.store.create_session("untouched")
    await necto.store.add_entries([])
    before_sessions = await session_names(necto)
    # valid entries first, broken JSON near the end: entries were staged, then dropped
    good = orjson.dumps(minimal_har(3000))
    broken = good[:-10] + b"xx"
    for fields in ({}, {"sessionId": target.id}):
        status, body = await post_file(http, f"{necto.api_url}/api/har/import", broken, filename="broken.har", **fields)
        assert (status, body["error"]) == (400, "Invalid HAR file format")
    assert await session_names(necto) == before_sessions
    assert (await necto.store.get_session(target.id)).traffic_count == 0  # type: ignore[union-attr]
    async with necto.store._r.execute("SELECT COUNT(*) FROM sessions WHERE state != 'ready'") as cur:
        assert (await cur.fetchone())[0] == 0


async def test_client_disconnect_midway_leaves_nothing(necto: RunningNecto) -> None:
    """A client that goes away mid-upload: the half-received file and any staged rows vanish."""
    before = await session_names(necto)
    tmp = necto.data_dir / "tmp"
    host, port = necto.api_url.rsplit("//", 1)[1].split(":")
    boundary = "XyZ"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.har"\r\n\r\n').encode()
    payload = head + orjson.dumps(minimal_har(200))[:5000]
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST /api/har/import HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: 10000000\r\n\r\n".encode()
        + payload
    )
    await writer.drain()
    # The server is receiving: its temporary upload file exists.
    await poll_until(lambda: tmp.is_dir() and any(tmp.glob("upload-*.har")), "the upload to start")
    writer.close()
    await writer.wait_closed()
    # It notices the disconnect: the temporary file goes, and no session ever appears.
    await poll_until(lambda: not any(tmp.glob("upload-*.har")), "the upload file to be removed")
    assert await session_names(necto) == before
    async with necto.store._r.execute("SELECT COUNT(*) FROM sessions WHERE state != 'ready'") as cur:
        assert (await cur.fetchone())[0] == 0


@pytest.fixture
def small_limit_necto(necto: RunningNecto) -> Any:
    """The shared Necto with --max-upload-size 64KB for one test (read per request).

    (A second Necto in the same process would do, but mitmproxy keeps its certificate store
    process-wide, so the shared proxy would then sign with the other instance's CA.)"""
    cfg = necto.app.config
    saved = cfg.max_upload_size
    cfg.max_upload_size = 64 * 1024
    try:
        yield necto
    finally:
        cfg.max_upload_size = saved


async def test_upload_over_limit_is_413(small_limit_necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    n = small_limit_necto
    before = await session_names(n)
    big = orjson.dumps(minimal_har(400))
    assert len(big) > 64 * 1024
    for path in ("/api/har/import", "/api/har/validate"):
        status, body = await post_file(http, f"{n.api_url}{path}", big)
        assert status == 413 and "limit" in body["error"]

    # also when the client does not say how long the body is (chunked)
    async def gen() -> Any:
        yield b'--B\r\nContent-Disposition: form-data; name="file"; filename="x.har"\r\n\r\n'
        for _ in range(100):
            yield b" " * 4096
        yield b"\r\n--B--\r\n"

    async with http.post(
        f"{n.api_url}/api/har/import", data=gen(), headers={"Content-Type": "multipart/form-data; boundary=B"}
    ) as resp:
        assert resp.status == 413 and "limit" in (await resp.json())["error"]
    assert await session_names(n) == before
    status, body = await post_file(http, f"{n.api_url}/api/har/import", orjson.dumps(minimal_har(2)))
    assert status == 200 and body["imported"] == 2


async def test_tolerance_skips_and_warnings(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    har = minimal_har(4)
    es = har["log"]["entries"]
    del es[1]["request"]["url"]
    del es[2]["response"]
    es[3]["startedDateTime"] = "2024-02-28T12:00:00.1234567+00:00"
    es[3]["request"]["httpVersion"] = "h2"
    es[3]["response"]["headers"].append({"name": "set-cookie", "value": "a=1\nb=2"})
    es[3]["response"]["redirectURL"] = None
    es[3]["response"]["_custom"] = {"kept": True}
    es[0]["timings"] = {"send": -1, "wait": 5, "receive": 1, "connect": 2, "ssl": 5}
    status, body = await post_file(http, f"{necto.api_url}/api/har/import", orjson.dumps(har))
    assert status == 200
    assert (body["imported"], body["total"]) == (3, 4)
    assert body["skipped"] == [{"index": 1, "reason": "request has no url"}]
    where = {(w.get("index"), w["path"]) for w in body["warnings"]}
    assert (2, "log.entries[2].response") in where
    assert (3, "log.entries[3].response.headers[1]") in where
    assert (3, "log.entries[3].response.redirectURL") in where
    assert (0, "log.entries[0].timings.send") in where and (0, "log.entries[0].timings.ssl") in where
    out = (await export(http, necto, body["sessionId"]))["log"]["entries"]
    assert out[1]["response"]["status"] == 0  # the request without response (the file's order)
    last = out[2]
    assert last["startedDateTime"] == "2024-02-28T12:00:00.123Z"  # 7 digits: to the ms, said
    assert last["_startedDateTime"] == "2024-02-28T12:00:00.1234567+00:00"
    assert last["request"]["httpVersion"] == "h2"  # a version, as the file wrote it
    assert [h["value"] for h in last["response"]["headers"] if h["name"] == "set-cookie"] == ["a=1", "b=2"]
    assert last["response"]["redirectURL"] == "" and last["response"]["_custom"] == {"kept": True}
    t = out[0]["timings"]
    assert t["send"] == 0 and t["connect"] == 7 and t["ssl"] == 5


async def test_bom_jsonp_utf16_and_latin1(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    """Derived from minimal HARs (the corpus has no non-UTF-8 file, per its INDEX)."""
    har = minimal_har(1)
    har["log"]["entries"][0]["response"]["content"]["text"] = "café"
    raw = orjson.dumps(har)
    variants = {
        "bom": codecs.BOM_UTF8 + raw,
        "jsonp": b"onInputData(" + raw + b");\n",
        "utf16": raw.decode().encode("utf-16"),
        "latin1": raw.decode().encode("latin-1"),
    }
    for name, data in variants.items():
        status, body = await post_file(http, f"{necto.api_url}/api/har/validate", data)
        assert status == 200 and body["valid"] is True and body["entryCount"] == 1, (name, body)
        assert len(body["warnings"]) == 1, (name, body)
        status, body = await post_file(http, f"{necto.api_url}/api/har/import", data)
        assert status == 200 and body["imported"] == 1, (name, body)
        [e] = (await export(http, necto, body["sessionId"]))["log"]["entries"]
        assert e["response"]["content"]["text"] == "café", name


async def test_validate_endpoint(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    url = f"{necto.api_url}/api/har/validate"
    status, body = await post_file(http, url, orjson.dumps(minimal_har(2)))
    assert status == 200
    assert body["valid"] is True and body["version"] == "1.2" and body["entryCount"] == 2
    assert body["creator"] == {"name": "t", "version": "1"} and body["warnings"] == []
    status, body = await post_file(http, url, b"{nope")
    assert status == 400 and body["valid"] is False and body["error"] == "Invalid JSON format"
    status, body = await post_file(http, url, b'{"x": 1}')
    assert (status, body["valid"], body["error"]) == (400, False, "Missing log property")
    status, body = await post_file(http, url, b'{"log": {"entries": {}}}')
    assert (status, body["error"]) == (400, "Missing or invalid entries array")
    status, body = await post_file(http, url, b'{"log": {"entries": []}}')
    assert status == 200 and body["entryCount"] == 0
    assert {w["path"] for w in body["warnings"]} == {"log.version", "log.creator", "log.entries"}
    form = aiohttp.FormData()
    form.add_field("x", "y")
    async with http.post(url, data=form) as resp:
        assert (resp.status, await resp.json()) == (400, {"error": "No file provided"})


async def test_seed_curl_examples_verbatim(
    necto: RunningNecto, http: aiohttp.ClientSession, tmp_path: Path, captured_for_import: Captured
) -> None:
    """The spec's round-trip walkthrough with curl, only the address changed."""
    api = necto.api_url
    backup = tmp_path / "backup.har"
    code, _, err = await run_cmd(
        "curl", "-s", f"{api}/api/har/export/{captured_for_import.session_id}", "-o", str(backup)
    )
    assert code == 0, err
    code, out, _ = await run_cmd("curl", "-s", "-X", "POST", f"{api}/api/har/validate", "-F", f"file=@{backup}")
    v = orjson.loads(out)
    assert v["valid"] is True and v["version"] == "1.2" and v["entryCount"] == 12
    code, out, _ = await run_cmd(
        "curl",
        "-s",
        "-X",
        "POST",
        f"{api}/api/sessions",
        "-H",
        "Content-Type: application/json",
        "-d",
        '{"name": "Restored Backup"}',
    )
    sid = orjson.loads(out)["id"]
    code, out, _ = await run_cmd(
        "curl", "-s", "-X", "POST", f"{api}/api/har/import", "-F", f"file=@{backup}", "-F", f"sessionId={sid}"
    )
    r = orjson.loads(out)
    assert r == {
        "success": True,
        "imported": 12,
        "total": 12,
        "sessionId": sid,
        "sessionName": "Restored Backup",
        "skipped": [],
        "skippedCount": 0,
        "warnings": [],
        "warningCount": 0,
    }
    chrome = tmp_path / "chrome-export.har"
    chrome.write_bytes(CHROME.read_bytes())
    code, out, _ = await run_cmd("curl", "-s", "-X", "POST", f"{api}/api/har/import", "-F", f"file=@{chrome}")
    r = orjson.loads(out)
    assert r["sessionName"] == "Imported: chrome-export" and r["imported"] == r["total"] == 3
    code, out, _ = await run_cmd(
        "curl", "-s", "-X", "POST", f"{api}/api/har/import", "-F", f"file=@{chrome}", "-F", "sessionName=Chrome Capture"
    )
    assert orjson.loads(out)["sessionName"] == "Chrome Capture"


async def test_cli_import_and_validate(tmp_path: Path) -> None:
    home = tmp_path / "home"
    good = tmp_path / "good.har"
    good.write_bytes(orjson.dumps(minimal_har(3)))
    code, out, err = await necto_cli("validate", str(good))
    assert code == 0 and b"valid: HAR 1.2" in out and b"3 entries" in out, err
    not_json = tmp_path / "not-json.har"
    not_json.write_bytes(b"<html>this is not JSON</html>")
    code, out, err = await necto_cli("validate", str(not_json))
    assert code == 1 and b"Invalid JSON format" in out
    with_bom = tmp_path / "with-bom.har"
    with_bom.write_bytes(codecs.BOM_UTF8 + orjson.dumps(minimal_har(1)))
    code, out, err = await necto_cli("validate", str(with_bom))
    assert code == 0 and b"warning: file: UTF-8 byte order mark removed" in out
    code, out, err = await necto_cli("import", str(good), "--session-name", "cli import", "--data-dir", str(home))
    assert code == 0 and b"imported 3 of 3 entries into cli import" in out, err
    code, out, err = await necto_cli("import", str(good), "--session-id", "nope", "--data-dir", str(home))
    assert code == 1 and b"Session not found" in err
    code, out, err = await necto_cli("sessions", "list", "--json", "--data-dir", str(home))
    sessions = {s["name"]: s for s in orjson.loads(out)}
    assert sessions["cli import"]["trafficCount"] == 3


async def test_100k_entry_round_trip(necto: RunningNecto, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    """A generated 100,000-entry HAR imports through the API and exports back complete."""
    n = 100_000
    path = tmp_path / "big.har"

    def write() -> None:
        tpl = minimal_har(1)["log"]["entries"][0]
        with open(path, "wb") as f:
            f.write(b'{"log":{"version":"1.2","creator":{"name":"gen","version":"1"},"entries":[')
            for i in range(n):
                tpl["request"]["url"] = f"http://big.test/{i}"
                tpl["startedDateTime"] = "2024-01-01T00:00:00.000Z"
                f.write((b"," if i else b"") + orjson.dumps(tpl))
            f.write(b"]}}")

    await asyncio.to_thread(write)
    form = aiohttp.FormData()
    form.add_field("file", open(path, "rb"), filename="big.har")
    async with http.post(
        f"{necto.api_url}/api/har/import", data=form, timeout=aiohttp.ClientTimeout(total=120)
    ) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["imported"] == body["total"] == n
    count = 0
    tail = last = b""
    marker = b'"url":"http://big.test/'  # once per entry
    async with http.get(f"{necto.api_url}/api/har/export/{body['sessionId']}") as resp:
        assert resp.status == 200
        async for chunk in resp.content.iter_chunked(1 << 20):
            window = tail + chunk  # a marker cut by a chunk edge is counted here, once
            count += window.count(marker)
            tail = window[-(len(marker) - 1) :]
            last = (last + chunk)[-200:]
    assert count == n and last.endswith(b"]}}")
    await necto.store.delete_session(body["sessionId"])
