"""Capture through the real proxy: HTTP/1.1, HTTP/2, HTTPS, WebSocket, failures, timings."""

from __future__ import annotations

import asyncio

import aiohttp

from helpers import RunningNecto, Upstream, curl, wait_for_entries
from necto.model import Session


async def test_http_get_recorded_with_body_and_headers(
    necto: RunningNecto, upstream: Upstream, fresh_session: Session
) -> None:
    code, out, err = await curl(necto, f"{upstream.http_url}/hello", "-H", "X-Test: one", "-H", "X-Test: two")
    assert code == 0, err
    assert out == b"hello world"
    [entry] = await wait_for_entries(necto.store, fresh_session.id, 1)
    assert entry.method == "GET"
    assert entry.url == f"{upstream.http_url}/hello"
    assert entry.status == 200 and entry.status_text == "OK"
    assert entry.http_version == "HTTP/1.1"
    assert entry.response_body == b"hello world"
    assert [v for n, v in entry.request_headers if n.lower() == "x-test"] == ["one", "two"]
    assert entry.server_ip == "127.0.0.1" and entry.server_port == upstream.http_port
    assert entry.client_ip == "127.0.0.1"


async def test_https_timings_new_then_reused_connection(
    necto: RunningNecto, upstream: Upstream, fresh_session: Session
) -> None:
    # One curl, two URLs: the second request reuses the keep-alive connection.
    code, out, err = await curl(necto, f"{upstream.https_url}/hello", f"{upstream.https_url}/delay?ms=200")
    assert code == 0, err
    assert out == b"hello worldlate"
    first, second = await wait_for_entries(necto.store, fresh_session.id, 2)
    t1, t2 = first.timings, second.timings
    assert t1.dns >= 0
    assert t1.connect > t1.ssl > 0
    assert first.tls is not None and first.tls["sni"] == "localhost"
    assert first.tls["version"].startswith("TLS")
    assert (t2.dns, t2.connect, t2.ssl) == (-1, -1, -1)
    assert first.connection_id == second.connection_id
    # The upstream waited 200 ms before answering.
    assert 195 <= t2.wait <= 400, t2.wait
    for e in (first, second):
        t = e.timings
        assert t.send >= 0 and t.wait >= 0 and t.receive >= 0
        parts = [p for p in (t.blocked, t.dns, t.connect, t.send, t.wait, t.receive) if p >= 0]
        assert abs(e.duration - sum(parts)) < 0.01
        assert e.url.startswith("https://localhost:")


async def test_plain_http_lazy_connect_wait_starts_when_ready(
    necto: RunningNecto, upstream: Upstream, fresh_session: Session
) -> None:
    code, _, err = await curl(necto, f"{upstream.http_url}/delay?ms=200")
    assert code == 0, err
    [e] = await wait_for_entries(necto.store, fresh_session.id, 1)
    assert e.timings.dns >= 0 and e.timings.connect >= 0 and e.timings.ssl == -1
    assert 195 <= e.timings.wait <= 400
    assert e.timings.blocked >= 0


async def test_http2_through_the_proxy(necto: RunningNecto, h2_upstream: str, fresh_session: Session) -> None:
    code, out, err = await curl(necto, "--http2", f"{h2_upstream}/two")
    assert code == 0, err
    assert out == b"h2 says hi to /two"
    [e] = await wait_for_entries(necto.store, fresh_session.id, 1)
    assert e.http_version == "HTTP/2.0"
    assert e.response_http_version == "HTTP/2.0"
    assert e.tls is not None and e.tls["alpn"] == "h2"
    assert e.status == 200


async def test_post_bodies_gzip_and_redirect(necto: RunningNecto, upstream: Upstream, fresh_session: Session) -> None:
    payload = b'{"name": "necto", "n": 1}'
    await curl(
        necto,
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        payload.decode(),
        f"{upstream.http_url}/echo",
    )
    await curl(necto, f"{upstream.http_url}/gzip")
    await curl(necto, f"{upstream.http_url}/redirect")
    post, gz, redirect = await wait_for_entries(necto.store, fresh_session.id, 3)
    assert post.method == "POST" and post.request_body == payload
    assert post.request_body_size == len(payload) and post.response_body == payload
    assert gz.response_body == b"compressible " * 200  # stored decoded
    assert gz.response_body_size == len(b"compressible " * 200)
    assert 0 < gz.response_wire_size < gz.response_body_size
    assert redirect.status == 302
    assert ("Location", "/hello") in redirect.response_headers


async def test_websocket_messages_recorded(necto: RunningNecto, upstream: Upstream, fresh_session: Session) -> None:
    async with aiohttp.ClientSession() as client:
        # Browsers tunnel WebSockets through the proxy with CONNECT, as wss:// does here.
        async with client.ws_connect(
            upstream.https_url.replace("https", "wss") + "/ws",
            proxy=necto.proxy_url,
            ssl=necto.client_ssl(),
        ) as ws:
            await ws.send_str("ping")
            assert (await ws.receive_str()) == "echo: ping"
            await ws.send_bytes(b"\x01\x02\x03")
            assert (await ws.receive_bytes()) == b"\x03\x02\x01"
    [e] = await wait_for_entries(necto.store, fresh_session.id, 1)
    assert e.status == 101
    assert e.protocol == "wss"
    assert e.websocket is not None
    data = [(m.type, m.opcode, m.data) for m in e.websocket if m.opcode in (1, 2)]
    assert data == [
        ("send", 1, b"ping"),
        ("receive", 1, b"echo: ping"),
        ("send", 2, b"\x01\x02\x03"),
        ("receive", 2, b"\x03\x02\x01"),
    ]


async def test_connection_refused_is_recorded_with_error(necto: RunningNecto, fresh_session: Session) -> None:
    from helpers import free_port

    port = free_port()  # nothing listens there
    code, out, _ = await curl(necto, "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}/nothing")
    assert out == b"502"
    [e] = await wait_for_entries(necto.store, fresh_session.id, 1)
    assert e.status is None
    assert e.error and "connect call failed" in e.error.lower()
    assert e.timings.connect >= 0 and e.timings.wait >= 0


async def test_paused_session_records_nothing(
    necto: RunningNecto, upstream: Upstream, fresh_session: Session, http: aiohttp.ClientSession
) -> None:
    async with http.patch(f"{necto.api_url}/api/sessions/{fresh_session.id}", json={"isRecording": False}) as r:
        assert r.status == 200 and (await r.json())["isRecording"] is False
    await curl(necto, f"{upstream.http_url}/hello")
    async with http.patch(f"{necto.api_url}/api/sessions/{fresh_session.id}", json={"isRecording": True}) as r:
        assert r.status == 200
    await curl(necto, f"{upstream.http_url}/hello?after=1")
    entries = await wait_for_entries(necto.store, fresh_session.id, 1)
    assert [e.url for e in entries] == [f"{upstream.http_url}/hello?after=1"]


async def test_many_concurrent_requests_all_recorded(
    necto: RunningNecto, upstream: Upstream, fresh_session: Session
) -> None:
    async with aiohttp.ClientSession() as client:

        async def one(i: int) -> int:
            async with client.get(f"{upstream.http_url}/hello?i={i}", proxy=necto.proxy_url) as r:
                await r.read()
                return r.status

        statuses = await asyncio.gather(*(one(i) for i in range(300)))
    assert set(statuses) == {200}
    entries = await wait_for_entries(necto.store, fresh_session.id, 300)
    assert sorted(int(e.url.rsplit("=", 1)[1]) for e in entries) == list(range(300))
