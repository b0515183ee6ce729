"""Replay through Necto's own proxy: single entries, custom requests, whole sessions, cancel.

Real parts only: the shared running Necto, real upstream aiohttp servers, the REST API.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from necto.model import Session

from conftest import RunningNecto, Upstream, wait_for_entries



async def capture(necto: RunningNecto, *urls: str, method: str = "GET", data: bytes | None = None) -> None:
    """Send requests through the proxy as a user's client would (trusting Necto's CA)."""
    async with aiohttp.ClientSession() as client:
        for url in urls:
            async with client.request(method, url, data=data, proxy=necto.proxy_url, ssl=necto.client_ssl()) as r:
                await r.read()


async def api(http: aiohttp.ClientSession, necto: RunningNecto, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with http.request(method, necto.api_url + path, **kw) as r:
        return r.status, await r.json()


async def poll_job(http: aiohttp.ClientSession, necto: RunningNecto, job_id: str, until: Any, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, job = await api(http, necto, "GET", f"/api/replays/{job_id}")
        assert status == 200, job
        if until(job):
            return job
        assert time.monotonic() < deadline, f"job never reached the expected state: {job}"
        await asyncio.sleep(0.02)


# ---------------------------------------------------------------------- single entries
async def test_replay_entry_is_recorded_with_timings(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession, fresh_session: Session
) -> None:
    await capture(necto, upstream.https_url + "/api/data")
    [original] = await wait_for_entries(necto.store, fresh_session.id, 1)

    status, body = await api(http, necto, "POST", f"/api/traffic/{original.id}/replay")
    assert status == 200, body
    assert body["originalId"] == original.id
    assert body["entryId"] != original.id
    result = body["result"]
    assert result["status"] == 200 and result["statusText"] == "OK"
    assert base64.b64decode(result["body"]) == b'{"message": "data loaded", "items": [1, 2, 3]}'
    assert result["headers"]["content-type"].startswith("application/json")
    assert result["duration"] > 0 and "error" not in result
    assert body["comparison"]["identical"] is True, body["comparison"]
    assert body["comparison"]["changes"] == []

    # The replay went through the proxy: a new, recorded entry with real phase timings.
    status, entry = await api(http, necto, "GET", f"/api/traffic/{body['entryId']}")
    assert status == 200
    assert entry["source"] == "replay" and entry["sessionId"] == fresh_session.id
    assert entry["url"] == original.url and entry["status"] == 200
    assert entry["tlsVersion"] is not None  # went over TLS to upstream via the proxy
    t = entry["timings"]
    assert t["wait"] >= 0 and t["send"] >= 0 and entry["duration"] > 0
    assert "x-necto-replay" not in entry["requestHeaders"]


async def test_replay_entry_with_overrides_reports_changes(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession, fresh_session: Session
) -> None:
    await capture(necto, upstream.http_url + "/echo", method="POST", data=b'{"n": 1}')
    [original] = await wait_for_entries(necto.store, fresh_session.id, 1)

    status, body = await api(
        http, necto, "POST", f"/api/traffic/{original.id}/replay",
        json={"body": '{"n": 2, "extra": true}', "headers": {"Content-Type": "application/json", "X-Test": "yes"}},
    )  # fmt: skip
    assert status == 200, body
    assert base64.b64decode(body["result"]["body"]) == b'{"n": 2, "extra": true}'
    comparison = body["comparison"]
    assert comparison["identical"] is False
    changes = {(c["type"], c["field"]): c for c in comparison["changes"]}
    assert changes[("body", "$.n")]["original"] == 1 and changes[("body", "$.n")]["replayed"] == 2
    assert changes[("body", "$.extra")]["replayed"] is True
    assert ("body_size", "size") in changes
    assert changes[("header", "content-type")]["replayed"] == "application/json"

    recorded = await necto.store.get_entry(body["entryId"])
    assert recorded is not None
    headers = {n.lower(): v for n, v in recorded.request_headers}
    assert headers["x-test"] == "yes"
    assert headers["content-length"] == str(len(b'{"n": 2, "extra": true}'))  # recomputed
    assert headers["host"] == upstream.http_url.removeprefix("http://")


async def test_replay_entry_method_and_url_override(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession, fresh_session: Session
) -> None:
    await capture(necto, upstream.http_url + "/hello")
    [original] = await wait_for_entries(necto.store, fresh_session.id, 1)
    status, body = await api(
        http, necto, "POST", f"/api/traffic/{original.id}/replay",
        json={"overrides": {"url": upstream.http_url + "/status/418"}},
    )  # fmt: skip
    assert status == 200
    assert body["result"]["status"] == 418
    assert {"type": "status", "field": "status", "original": 200, "replayed": 418} in body["comparison"]["changes"]


async def test_replay_network_failure_is_status_zero_and_recorded(
    necto: RunningNecto, http: aiohttp.ClientSession, fresh_session: Session
) -> None:
    # A port nothing listens on: bind, note the port, close.
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()

    status, body = await api(http, necto, "POST", "/api/traffic/replay", json={"method": "GET", "url": f"http://127.0.0.1:{port}/x"})
    assert status == 200, body
    assert body["result"]["status"] == 0
    assert body["result"]["error"]
    entry = await necto.store.get_entry(body["entryId"])
    assert entry is not None and entry.status is None and entry.error


async def test_replay_timeout(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession, fresh_session: Session
) -> None:
    status, body = await api(
        http, necto, "POST", "/api/traffic/replay",
        json={"method": "GET", "url": upstream.http_url + "/delay?ms=2000", "timeout": 0.3},
    )  # fmt: skip
    assert status == 200, body
    assert body["result"]["status"] == 0
    assert "Timed out" in body["result"]["error"]


async def test_custom_request_goes_through_the_proxy(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession, fresh_session: Session
) -> None:
    status, body = await api(
        http, necto, "POST", "/api/traffic/replay",
        json={"method": "put", "url": upstream.https_url + "/echo", "headers": [{"name": "Content-Type", "value": "text/plain"}], "body": "hi there"},
    )  # fmt: skip
    assert status == 200, body
    assert body["result"]["status"] == 200
    assert base64.b64decode(body["result"]["body"]) == b"hi there"
    assert body["sessionId"] == fresh_session.id  # the active session by default
    status, entry = await api(http, necto, "GET", f"/api/traffic/{body['entryId']}")
    assert entry["method"] == "PUT" and entry["source"] == "replay"
    assert base64.b64decode(entry["requestBody"]) == b"hi there"


@pytest.mark.parametrize(
    "payload, message",
    [
        ({}, "Method and URL are required"),
        ({"method": "GET"}, "Method and URL are required"),
        ({"url": "http://example.com/"}, "Method and URL are required"),
        ({"method": "GET", "url": "ftp://example.com/"}, "URL must be an absolute http or https URL"),
        ({"method": "G ET", "url": "http://example.com/"}, "Method must be an HTTP token such as GET"),
        ({"method": "GET", "url": "http://example.com/", "timeout": -1}, "timeout must be a number of seconds between 0 and 3600"),
        ({"method": "GET", "url": "http://example.com/", "headers": "x"}, "headers must be an object or a list of {name, value}"),
        ({"method": "GET", "url": "http://example.com/", "body": "!!", "bodyEncoding": "base64"}, "body is not valid base64"),
    ],
)
async def test_custom_request_validation(necto: RunningNecto, http: aiohttp.ClientSession, payload: dict[str, Any], message: str) -> None:
    status, body = await api(http, necto, "POST", "/api/traffic/replay", json=payload)
    assert status == 400
    assert body == {"error": message}


async def test_replay_errors_are_json(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    assert await api(http, necto, "POST", "/api/traffic/nope/replay") == (404, {"error": "Traffic entry not found"})
    assert await api(http, necto, "POST", "/api/sessions/nope/replay") == (404, {"error": "Session not found"})
    assert await api(http, necto, "GET", "/api/replays/nope") == (404, {"error": "Replay job not found"})
    assert await api(http, necto, "POST", "/api/replays/nope/cancel") == (404, {"error": "Replay job not found"})
    status, body = await api(http, necto, "POST", "/api/traffic/replay", data=b"{not json")
    assert (status, body) == (400, {"error": "Invalid JSON body"})
