"""Search through the real proxy: needles in gzip- and br-encoded JSON bodies, request bodies,
WebSocket messages and Latin-1 pages, found through the API and the CLI; binary bodies are not
searched; the lazy index keeps up, forgets deleted entries, and resumes after a crash."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path

import aiohttp

from helpers import (
    RunningNecto,
    TestPki,
    Upstream,
    api,
    curl,
    necto_cli,
    necto_process,
    poll_until,
    run_cmd,
    wait_for_entries,
)
from necto.model import Session
from necto.store import Store


async def _capture_orders(necto: RunningNecto, upstream: Upstream) -> None:
    for oid, enc in (("8811", "gzip"), ("8812", "br"), ("9000", "identity")):
        code, out, err = await curl(necto, "--compressed", f"{upstream.http_url}/orders/{oid}?enc={enc}")
        assert code == 0 and f"order_id={oid}".encode() in out, err
    code, _, err = await curl(necto, "-X", "POST", "-H", "Content-Type: application/x-www-form-urlencoded",
                              "--data-binary", "order_id=8813&note=rush", f"{upstream.http_url}/echo")  # fmt: skip
    assert code == 0, err


async def test_a_needle_in_compressed_bodies_is_found_by_the_api(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession, fresh_session: Session
) -> None:
    await _capture_orders(necto, upstream)
    entries = await wait_for_entries(necto.store, fresh_session.id, 4)
    by_enc = {e.url.rsplit("=", 1)[-1]: e for e in entries if "/orders/" in e.url}
    # stored decoded of Content-Encoding: the wire said gzip and br
    assert by_enc["gzip"].response_wire_size < by_enc["gzip"].response_body_size
    assert dict((n.lower(), v) for n, v in by_enc["br"].response_headers)["content-encoding"] == "br"

    base = f"{necto.api_url}/api/traffic/search"
    status, found = await api(http, "GET", f"{base}?q=order_id%3D8812&sessionId={fresh_session.id}")
    assert status == 200, found
    assert [e["url"] for e in found["entries"]] == [by_enc["br"].url]
    assert found["total"] == 1 and found["sessionNames"] == {fresh_session.id: fresh_session.name}
    # newest first, request bodies too
    status, found = await api(http, "GET", f"{base}?q=ORDER_ID%3D881&limit=10&sessionId={fresh_session.id}")
    assert [e["url"].split("/")[-1] for e in found["entries"]] == ["echo", "8812?enc=br", "8811?enc=gzip"]
    status, found = await api(http, "GET", f"{base}?q=order_id%3D8812&searchIn=url&sessionId={fresh_session.id}")
    assert found["total"] == 0  # the needle is in the body, not the URL
    status, found = await api(
        http,
        "GET",
        f"{base}?q=order_id%3D8812&searchIn=url,body&statusCodes=2xx&methods=GET&sessionId={fresh_session.id}",
    )
    assert found["total"] == 1
    # without sessionId: every session (the CLI test captures the same orders into its own)
    status, found = await api(http, "GET", f"{base}?q=order_id%3D8812&limit=1000")
    assert fresh_session.id in found["sessionNames"] and by_enc["br"].id in [e["id"] for e in found["entries"]]
    status, found = await api(http, "GET", f"{base}?q=%20")
    assert (status, found) == (400, {"error": "Search query is required"})
    status, found = await api(http, "GET", f"{base}?q=x&searchIn=cookies")
    assert status == 400 and "searchIn" in found["error"]

    # the list API's filter language: fields, bodies and a malformed query
    lst = f"{necto.api_url}/api/traffic?sessionId={fresh_session.id}&filter="
    status, found = await api(http, "GET", lst + 'body:"order_id=8812"')
    assert [e["url"] for e in found["entries"]] == [by_enc["br"].url] and found["count"] == 1
    status, found = await api(http, "GET", lst + "req.body:order_id%3D8813 method:POST")
    assert found["count"] == 1 and found["entries"][0]["url"].endswith("/echo")
    status, found = await api(http, "GET", lst + "res.body:order_id%3D8813")
    assert found["count"] == 1  # /echo answers with what it was sent
    status, found = await api(http, "GET", lst + "-is:error sku-9000-19 type:json")
    assert [e["url"] for e in found["entries"]] == [by_enc["identity"].url]
    status, found = await api(http, "GET", lst + "status:2xx%20stauts:404")
    assert status == 400
    assert found["position"] == 11 and found["token"] == "stauts:404" and "did you mean status" in found["error"]


async def test_the_cli_finds_the_same_needle(necto: RunningNecto, upstream: Upstream, fresh_session: Session) -> None:
    await _capture_orders(necto, upstream)
    await wait_for_entries(necto.store, fresh_session.id, 4)
    data = ["--data-dir", str(necto.data_dir)]
    code, out, err = await necto_cli(
        "traffic", "search", "order_id=8812", "--session", fresh_session.id, "--json", *data
    )
    assert code == 0, err
    found = json.loads(out)
    assert [e["url"].split("/")[-1] for e in found["entries"]] == ["8812?enc=br"]
    assert found["sessionNames"] == {fresh_session.id: fresh_session.name}
    code, out, err = await necto_cli(
        "traffic", "list", "--session", fresh_session.id, "--filter", 'body:"order_id=8812" OR req.body:8813', *data
    )
    assert code == 0, err
    text = out.decode()
    assert "/orders/8812?enc=br" in text and "/echo" in text and "8811" not in text and "2 of 2" in text
    code, out, err = await necto_cli(
        "traffic", "list", "--session", fresh_session.id, "--filter", "method:GET (status:2xx", *data
    )
    assert code == 2
    lines = err.decode().splitlines()
    assert "unclosed parenthesis at position 11" in lines[0]
    assert lines[1:] == ["  method:GET (status:2xx", "  " + " " * 11 + "^"]


async def test_websocket_messages_and_charsets_are_searched_but_binary_bodies_are_not(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession, fresh_session: Session
) -> None:
    async with aiohttp.ClientSession() as client:
        ws_url = upstream.https_url.replace("https", "wss") + "/ws"
        async with client.ws_connect(ws_url, proxy=necto.proxy_url, ssl=necto.client_ssl()) as ws:
            await ws.send_str("subscribe ticker-XQZ7")
            assert await ws.receive_str() == "echo: subscribe ticker-XQZ7"
    await curl(necto, f"{upstream.http_url}/latin")
    await curl(necto, f"{upstream.http_url}/image.png")  # PNG bytes: not text, never searched
    entries = await wait_for_entries(necto.store, fresh_session.id, 3)
    png = next(e for e in entries if e.url.endswith(".png"))
    assert png.response_body and b"IHDR" in png.response_body
    lst = f"{necto.api_url}/api/traffic?sessionId={fresh_session.id}&filter="

    async def urls(query: str) -> list[str]:
        status, found = await api(http, "GET", lst + query)
        assert status == 200, found
        return [e["url"].rsplit("/", 1)[-1] for e in found["entries"]]

    assert await urls("req.body:ticker-XQZ7") == ["ws"]  # sent frames count as the request's
    assert await urls('res.body:"echo: subscribe"') == ["ws"]
    assert await urls("is:websocket ticker") == ["ws"]
    assert await urls("grüße") == ["latin"]  # ISO-8859-1 decoded
    assert await urls("body:IHDR") == []
    assert await urls("IHDR OR köln") == ["latin"]


async def test_the_index_keeps_up_and_forgets_deleted_entries(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession, fresh_session: Session
) -> None:
    await curl(necto, f"{upstream.http_url}/orders/4242?enc=gzip")
    await curl(necto, f"{upstream.http_url}/orders/4343")
    entries = await wait_for_entries(necto.store, fresh_session.id, 2)

    async def status() -> dict[str, int]:
        return (await api(http, "GET", f"{necto.api_url}/api/search/status"))[1]

    async def indexed() -> bool:
        s = await status()
        return s["pending"] == 0 and s["gone"] == 0

    await poll_until(indexed, "the background indexer to catch up", timeout=30)  # nobody searched
    assert (await status())["mode"] in ("fts5", "plain") and (await status())["running"]
    gone = next(e for e in entries if "4242" in e.url)
    status_code, _ = await api(http, "DELETE", f"{necto.api_url}/api/traffic/{gone.id}")
    assert status_code == 200
    _, found = await api(http, "GET", f"{necto.api_url}/api/traffic/search?q=order_id%3D4242")
    assert found["total"] == 0
    _, found = await api(http, "GET", f"{necto.api_url}/api/traffic/search?q=order_id%3D4343")
    assert found["total"] == 1
    await poll_until(indexed, "the deleted entry's index rows to be removed", timeout=30)


async def test_indexing_resumes_after_a_crash(tmp_path: Path, pki: TestPki, upstream: Upstream) -> None:
    """kill -9 while entries wait for the index: the next start indexes them (and only once)."""
    home = tmp_path / "home"
    async with necto_process(home, pki, "--no-search-index") as p:
        for oid in ("7001", "7002", "7003"):
            code, _, err = await run_cmd("curl", "-sS", "-x", p.proxy_url, f"{upstream.http_url}/orders/{oid}")
            assert code == 0, err
        store = await Store.open(home / "necto.db")
        try:

            async def recorded() -> bool:
                active = await store.active_session()
                return active is not None and active.traffic_count == 3

            await poll_until(recorded, "3 entries in the store")
            assert (await store.index_status())["pending"] == 3  # no indexer in that process
        finally:
            await store.close()
        os.kill(p.proc.pid, signal.SIGKILL)
        await p.proc.wait()
    async with necto_process(home, pki) as p:
        async with aiohttp.ClientSession() as http:

            async def caught_up() -> bool:
                _, s = await api(http, "GET", f"{p.api_url}/api/search/status")
                return s["pending"] == 0

            await poll_until(caught_up, "the restarted indexer to index the backlog", timeout=30)
            _, found = await api(http, "GET", f"{p.api_url}/api/traffic/search?q=order_id%3D700")
            assert sorted(e["url"].rsplit("/", 1)[-1] for e in found["entries"]) == ["7001", "7002", "7003"]
    with sqlite3.connect(home / "necto.db") as db:  # one index row per entry, none twice
        assert db.execute("SELECT COUNT(*), COUNT(DISTINCT rowid) FROM entry_text").fetchone() == (3, 3)
