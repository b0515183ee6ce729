"""Issue 12 beyond the fixtures: pages and order when captured and imported traffic share a
session, selection exports, every warning through the API and the CLI, a closed stdout, real
`headersSize` for captured HTTP/1.x, and "body not recorded" in diffs.

Real proxy, real clients (curl, raw sockets), real servers, the real `necto` command.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from helpers import DATA, RunningNecto, Upstream, curl, necto_cli, run_cmd, wait_for_entries
from necto.model import Session

HAR = DATA / "har"


async def post_file(http: aiohttp.ClientSession, url: str, data: bytes, **fields: str) -> tuple[int, dict[str, Any]]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename="f.har", content_type="application/octet-stream")
    for k, v in fields.items():
        form.add_field(k, v)
    async with http.post(url, data=form) as resp:
        return resp.status, await resp.json()


async def export(http: aiohttp.ClientSession, necto: RunningNecto, session_id: str) -> dict[str, Any]:
    async with http.get(f"{necto.api_url}/api/har/export/{session_id}") as resp:
        assert resp.status == 200
        return orjson.loads(await resp.read())  # type: ignore[no-any-return]


def bare_entries(n: int) -> bytes:
    """n entries with nothing but a request: 12 warnings each."""
    items = [
        {
            "request": {
                "method": "GET",
                "url": f"https://bare.example.com/{i}",
                "headers": [{"name": "bad name", "value": "x"}],
            }
        }
        for i in range(n)
    ]
    return orjson.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": items}})


# ---------------------------------------------------------------------------- pages and order
async def test_captured_and_imported_traffic_in_one_session(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession, fresh_session: Session
) -> None:
    """Imported pages come back as they were, captured traffic gets the session's own page (an
    id the import did not use), captured entries stay in time order and the import in its
    file's order."""
    for path in ("/hello", "/api/data"):
        code, _, err = await curl(necto, f"{upstream.http_url}{path}")
        assert code == 0, err
    await wait_for_entries(necto.store, fresh_session.id, 2)
    for _ in range(2):  # twice: the second import's page ids are taken
        status, body = await post_file(
            http,
            f"{necto.api_url}/api/har/import",
            (HAR / "interleaved-runs.har").read_bytes(),
            sessionId=fresh_session.id,
        )
        assert status == 200, body
    har = await export(http, necto, fresh_session.id)
    pages = har["log"]["pages"]
    ids = [p["id"] for p in pages]
    assert ids == ["run_1", "run_2", "run_3", "run_1~2", "run_2~2", "run_3~2", "page_1"], ids
    assert pages[3]["_id"] == "run_1" and pages[0]["pageTimings"]["_SpeedIndex"] == 1001
    assert pages[-1]["title"] == fresh_session.name
    entries = har["log"]["entries"]
    captured = [e for e in entries if "_resourceType" in e]
    assert [e["pageref"] for e in captured] == ["page_1", "page_1"]
    assert [e["request"]["url"].rsplit("/", 1)[-1] for e in captured] == ["hello", "data"]
    imported = [e for e in entries if "_resourceType" not in e]
    original = orjson.loads((HAR / "interleaved-runs.har").read_bytes())["log"]["entries"]
    assert [e["request"]["url"] for e in imported] == [e["request"]["url"] for e in original] * 2
    assert [e["pageref"] for e in imported[9:]] == [e["pageref"] + "~2" for e in original]
    # the captured entries sit where their time puts them (they are newer than the file)
    assert entries.index(captured[0]) > entries.index(imported[-1])


async def test_selection_export_writes_the_pages_it_needs(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    status, body = await post_file(http, f"{necto.api_url}/api/har/import", (HAR / "interleaved-runs.har").read_bytes())
    assert status == 200
    entries = [e async for e in necto.store.iter_entries(body["sessionId"])]
    pick = [entries[7].id, entries[1].id]  # run_3's and run_1's, in this order
    async with http.post(f"{necto.api_url}/api/har/export", json={"entryIds": pick}) as resp:
        har = orjson.loads(await resp.read())
    assert [p["id"] for p in har["log"]["pages"]] == ["run_1", "run_3"]
    assert [e["pageref"] for e in har["log"]["entries"]] == ["run_3", "run_1"]


# ---------------------------------------------------------------------------- every warning
async def test_warnings_are_all_kept_paged_and_grouped(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    status, body = await post_file(http, f"{necto.api_url}/api/har/import", bare_entries(60))
    assert status == 200 and body["warningCount"] == 720 and len(body["warnings"]) == 200
    assert sorted(g["count"] for g in body["warningGroups"]) == [60] * 12
    url = f"{necto.api_url}/api/har/imports/{body['importId']}"
    async with http.get(url) as resp:
        record = await resp.json()
    assert (record["sessionId"], record["warningCount"], record["imported"], record["fileName"]) == (
        body["sessionId"],
        720,
        60,
        "f.har",
    )
    async with http.get(f"{url}/warnings", params={"offset": 700, "limit": 50}) as resp:
        page = await resp.json()
    assert (page["total"], page["offset"], len(page["warnings"])) == (720, 700, 20)
    assert page["warnings"][-1] == {"index": 59, "path": "log.entries[59].cache", "message": "missing; {} used"}
    for query, error in (({"offset": "-1"}, "offset must be between"), ({"limit": "0"}, "limit must be between"),
                         ({"limit": "x"}, "limit must be an integer"), ({"skipped": "maybe"}, "skipped must be true or false")):  # fmt: skip
        async with http.get(f"{url}/warnings", params=query) as resp:
            assert resp.status == 400 and error in (await resp.json())["error"]
    async with http.get(f"{necto.api_url}/api/har/imports/nope/warnings") as resp:
        assert (resp.status, await resp.json()) == (404, {"error": "Import not found"})
    # skipped entries have their own pages; the record goes with its session
    doc = orjson.loads(bare_entries(3))
    doc["log"]["entries"].append({"request": {"method": "GET"}})
    status, body = await post_file(http, f"{necto.api_url}/api/har/import", orjson.dumps(doc))
    async with http.get(
        f"{necto.api_url}/api/har/imports/{body['importId']}/warnings", params={"skipped": "true"}
    ) as resp:
        page = await resp.json()
    assert (
        page["skipped"] == [{"index": 3, "path": "log.entries[3]", "message": "request has no url"}]
        and page["total"] == 1
    )
    await necto.store.delete_session(body["sessionId"])
    async with http.get(f"{necto.api_url}/api/har/imports/{body['importId']}") as resp:
        assert resp.status == 404


async def test_cli_warnings_grouped_or_all(tmp_path: Path) -> None:
    path = tmp_path / "bare.har"
    path.write_bytes(bare_entries(30))
    home = str(tmp_path / "home")
    code, out, err = await necto_cli("import", str(path), "--data-dir", home)
    assert code == 0 and b"imported 30 of 30" in out, err
    lines = err.decode().splitlines()
    assert len(lines) == 12 and all("[30 times (entries 0, 1, 2, 3, 4, ...)]" in line for line in lines), lines
    assert b"360 warnings; all of them: necto import ... --warnings all" in out
    code, out, err = await necto_cli("import", str(path), "--data-dir", home, "--warnings", "all")
    lines = err.decode().splitlines()
    assert code == 0 and len(lines) == 360 and lines[-1] == "warning: log.entries[29].cache: missing; {} used"
    code, out, err = await necto_cli("import", str(path), "--data-dir", home, "--warnings", "all", "--json")
    assert len(orjson.loads(out)["warnings"]) == 360
    code, out, _ = await necto_cli("validate", str(path), "--warnings", "all")
    assert code == 0 and len(out.decode().splitlines()) == 361
    code, out, _ = await necto_cli("validate", str(path))
    assert code == 0 and len(out.decode().splitlines()) == 13 and out.endswith(b"30 entries, 360 warnings\n")


# ---------------------------------------------------------------------------- a closed stdout
async def _piped(command: list[str], reader: str, tmp: Path) -> tuple[int, bytes]:
    """`command | reader` in bash, as a user types it: (command's exit status, its stderr)."""
    err_file = tmp / "stderr.txt"
    script = f"{shlex.join(command)} 2>{shlex.quote(str(err_file))} | {reader} >/dev/null; echo ${{PIPESTATUS[0]}}"
    code, out, err = await run_cmd("bash", "-c", script)
    assert code == 0, err
    return int(out.strip()), err_file.read_bytes()


async def test_a_closed_stdout_is_not_an_error(tmp_path: Path) -> None:
    """`necto validate x.har | head -1` and `necto export S | head -c 100`: the reader left
    early; that is neither a traceback nor "invalid" (exit 1) but SIGPIPE's 141, as for any
    command. The output is larger than a pipe holds, so the writes really fail."""
    path = tmp_path / "bare.har"
    path.write_bytes(bare_entries(200))  # 2,400 warning lines
    necto = [sys.executable, "-m", "necto"]
    code, err = await _piped([*necto, "validate", "--warnings", "all", str(path)], "head -1", tmp_path)
    assert code == 141 and b"Traceback" not in err and b"BrokenPipe" not in err, err
    home = str(tmp_path / "home")
    code, _, err = await necto_cli("import", str(path), "--session-name", "big", "--data-dir", home)
    assert code == 0, err
    code, err = await _piped([*necto, "export", "big", "--data-dir", home], "head -c 100", tmp_path)
    assert code == 141 and b"Traceback" not in err and b"BrokenPipe" not in err, err
    code, out, err = await necto_cli("export", "big", "--data-dir", home)
    assert code == 0 and len(orjson.loads(out)["log"]["entries"]) == 200  # unpiped, all of it


# ---------------------------------------------------------------------------- headersSize of captures
async def _raw_upstream(head: bytes, body: bytes) -> tuple[asyncio.Server, int, list[bytes]]:
    got: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(head + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], got


async def test_captured_http1_entries_export_real_headers_sizes(
    necto: RunningNecto, http: aiohttp.ClientSession, fresh_session: Session, h2_upstream: str
) -> None:
    """Request line + headers + CRLFs as they went to the server, status line + headers as the
    server sent them, measured on the server's socket; -1 for HTTP/2 (HPACK size unknown)."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-Padding: " + b"p" * 37 + b"\r\n\r\n"
    server, port, received = await _raw_upstream(head, b"hello")
    try:
        proxy_host, proxy_port = necto.proxy_url.rsplit("//", 1)[1].split(":")
        reader, writer = await asyncio.open_connection(proxy_host, int(proxy_port))
        request = (f"GET http://127.0.0.1:{port}/raw?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                   "User-Agent: raw-socket\r\nX-Test: 12345\r\nConnection: close\r\n\r\n").encode()  # fmt: skip
        writer.write(request)
        await writer.drain()
        answer = await reader.read()
        writer.close()
        assert answer.endswith(b"hello")
    finally:
        server.close()
    code, _, err = await curl(necto, "--http2", f"{h2_upstream}/two")
    assert code == 0, err
    await wait_for_entries(necto.store, fresh_session.id, 2)
    entries = (await export(http, necto, fresh_session.id))["log"]["entries"]
    raw, h2 = entries
    [sent] = received  # origin-form: the proxy takes the scheme and host off the request line
    assert sent.startswith(b"GET /raw?x=1 HTTP/1.1\r\nHost: ") and len(sent) == len(request) - len(
        f"http://127.0.0.1:{port}"
    )
    assert raw["request"]["headersSize"] == len(sent) and raw["response"]["headersSize"] == len(head)
    assert h2["request"]["httpVersion"] == "HTTP/2.0" and (
        h2["request"]["headersSize"],
        h2["response"]["headersSize"],
    ) == (-1, -1)


# ---------------------------------------------------------------------------- unknown is not empty
async def test_diff_does_not_call_an_unrecorded_body_empty(tmp_path: Path) -> None:
    """A HAR that left bodies out (Firefox images, `content.size` -1, no text) compared with
    one that has them: no body change, the body is unknown."""
    entry = orjson.loads((HAR / "clean.har").read_bytes())
    a = tmp_path / "a.har"
    a.write_bytes(orjson.dumps(entry))
    for e in entry["log"]["entries"]:
        content = e["response"]["content"]
        content.pop("text")
        content["size"] = -1
        e["request"].pop("postData", None)
        e["request"]["bodySize"] = 12 if e["request"]["method"] == "POST" else 0
    b = tmp_path / "b.har"
    b.write_bytes(orjson.dumps(entry))
    code, out, err = await necto_cli("diff", str(a), str(b), "--json")
    result = orjson.loads(out)
    assert code == 0 and result["identical"] is True and result["summary"]["bodyChanges"] == 0, (result, err)


async def test_compare_entries_says_unknown(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    doc = orjson.loads((HAR / "clean.har").read_bytes())
    status, full = await post_file(http, f"{necto.api_url}/api/har/import", orjson.dumps(doc))
    doc["log"]["entries"][0]["response"]["content"] = {
        "size": -1,
        "mimeType": "application/json",
        "comment": "left out",
    }
    status, bare = await post_file(http, f"{necto.api_url}/api/har/import", orjson.dumps(doc))
    a = [e async for e in necto.store.iter_entries(full["sessionId"])][0]
    b = [e async for e in necto.store.iter_entries(bare["sessionId"])][0]
    async with http.get(f"{necto.api_url}/api/compare/entries", params={"a": a.id, "b": b.id}) as resp:
        result = await resp.json()
    assert result["responseBody"]["kind"] == "unknown" and result["responseBody"]["identical"] is None
    assert result["responseBody"]["b"] == {"kind": "unknown", "size": None, "sha256": None}
    assert result["identical"] is True


# ---------------------------------------------------------------------------- IPv6 hosts when captured
async def test_captured_ipv6_urls_have_brackets(
    necto: RunningNecto, http: aiohttp.ClientSession, fresh_session: Session
) -> None:
    from aiohttp import web

    app = web.Application()
    app.router.add_get("/six", lambda r: web.Response(text="over IPv6"))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "::1", 0)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        pytest.skip("no IPv6 loopback on this machine")
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        code, out, err = await curl(necto, f"http://[::1]:{port}/six?q=1")
        assert code == 0 and out == b"over IPv6", err
        [e] = await wait_for_entries(necto.store, fresh_session.id, 1)
    finally:
        await runner.cleanup()
    assert e.url == f"http://[::1]:{port}/six?q=1" and e.host == "::1"
    [out_entry] = (await export(http, necto, fresh_session.id))["log"]["entries"]
    assert out_entry["request"]["url"] == e.url
    form = aiohttp.FormData()
    async with http.get(f"{necto.api_url}/api/har/export/{fresh_session.id}") as resp:
        form.add_field("file", await resp.read(), filename="six.har")
    async with http.post(f"{necto.api_url}/api/har/validate", data=form) as resp:
        assert (await resp.json())["warnings"] == []
