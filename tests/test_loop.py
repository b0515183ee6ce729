"""The proxy, the API and the page share one event loop: heavy API work and slow clients must
not stall proxied traffic, and a client that stops reading must not make Necto hold bodies."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from helpers import RunningNecto, TestPki, Upstream, necto_process, poll_until
from necto.model import Entry, Timings


async def _proxied_get(client: aiohttp.ClientSession, necto_proxy: str, url: str) -> float:
    t = time.monotonic()
    async with client.get(url, proxy=necto_proxy) as r:
        assert r.status == 200
        await r.read()
    return time.monotonic() - t


async def _stalled_event_client(api_url: str, session_id: str) -> asyncio.StreamWriter:
    """Opens /api/events and never reads a byte of the answer."""
    host, port = api_url.rsplit("//", 1)[1].split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET /api/events?sessionId={session_id} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    await writer.drain()
    return writer


async def test_openapi_of_2000_endpoints_and_a_stalled_client_do_not_stall_the_proxy(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    big = await necto.store.create_session("2000 endpoints")
    entries = [
        Entry(
            session_id=big.id,
            started=1000.0 + i,
            method="GET",
            url=f"https://api.test/svc{i}/items?page=1",
            status=200,
            status_text="OK",
            response_headers=[("Content-Type", "application/json")],
            response_body=b'{"items": [{"id": 1, "name": "x", "tags": ["a", "b"]}], "total": 1}',
            response_body_size=70,
            timings=Timings(send=1, wait=2, receive=1),
            source="import",
        )  # fmt: skip
        for i in range(2000)
    ]
    await necto.store.add_entries(entries)
    async with aiohttp.ClientSession() as client:
        # Baseline in this run, on the same loop: the worst of a few proxied round trips.
        idle = max([await _proxied_get(client, necto.proxy_url, f"{upstream.http_url}/hello") for _ in range(5)])
        stalled = await _stalled_event_client(necto.api_url, necto.store.capture_session_id or "")
        try:

            async def render() -> bytes:
                async with http.get(f"{necto.api_url}/api/sessions/{big.id}/openapi.yaml") as r:
                    assert r.status == 200
                    return await r.read()

            task = asyncio.create_task(render())
            worst, during = 0.0, 0
            while not task.done():
                worst = max(worst, await _proxied_get(client, necto.proxy_url, f"{upstream.http_url}/hello"))
                during += 1
            yaml_text = await task
        finally:
            stalled.close()
    assert yaml_text.count(b"/svc") >= 2000  # every endpoint is in the document
    assert during >= 1  # the proxy was used while the document was built
    # Each proxied request answered promptly throughout (a blocked loop would hold them for
    # the whole rendering, seconds with pure-Python YAML).
    assert worst < max(1.0, 20 * idle), (worst, idle, during)


async def test_a_client_that_stops_reading_events_does_not_make_necto_hold_bodies(
    tmp_path: Path, pki: TestPki, upstream: Upstream
) -> None:
    """A stalled /api/events client while 1,500 responses of 100 KB are captured: Necto's memory
    stays flat (the old stream queued every entry with its bodies for the stalled client)."""
    n, size = 1500, 100_000
    async with necto_process(tmp_path / "home", pki) as p:
        rss = Path(f"/proc/{p.proc.pid}/status")

        def rss_mib() -> float:
            line = next(x for x in rss.read_text().splitlines() if x.startswith("VmRSS:"))
            return int(line.split()[1]) / 1024

        async with aiohttp.ClientSession() as c:
            async with c.get(f"{p.api_url}/api/sessions/active") as r:
                session_id = (await r.json())["id"]
            for i in range(20):  # warm up: connections, TLS, caches
                await _proxied_get(c, p.proxy_url, f"{upstream.http_url}/big?bytes={size}&w={i}")
            before = rss_mib()
            stalled = await _stalled_event_client(p.api_url, session_id)
            try:
                slots = asyncio.Semaphore(8)

                async def one(i: int) -> None:
                    async with slots:
                        await _proxied_get(c, p.proxy_url, f"{upstream.http_url}/big?bytes={size}&i={i}")

                await asyncio.gather(*(one(i) for i in range(n)))

                async def stored() -> bool:
                    async with c.get(f"{p.api_url}/api/traffic/stats/{session_id}") as r:
                        return (await r.json())["totalRequests"] >= n + 20

                await poll_until(stored, "every capture to be stored", timeout=60)
                grown = rss_mib() - before
            finally:
                stalled.close()
    # 150 MB of bodies passed through; holding them for the stalled client would show here.
    assert grown < 80, f"RSS grew by {grown:.0f} MiB"
