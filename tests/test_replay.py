"""Replay through Necto's own proxy: single entries, custom requests, whole sessions, cancel.

Real parts only: the shared running Necto, real upstream aiohttp servers, the REST API.
"""

from __future__ import annotations

import asyncio
import base64
import sys
import time
from typing import Any

import aiohttp
import orjson
import pytest

from helpers import RunningNecto, Upstream, run_cmd, wait_for_entries
from necto.model import Entry, Session


async def capture(necto: RunningNecto, *urls: str, method: str = "GET", data: bytes | None = None) -> None:
    """Send requests through the proxy as a user's client would (trusting Necto's CA)."""
    async with aiohttp.ClientSession() as client:
        for url in urls:
            async with client.request(method, url, data=data, proxy=necto.proxy_url, ssl=necto.client_ssl()) as r:
                await r.read()


async def api(http: aiohttp.ClientSession, necto: RunningNecto, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with http.request(method, necto.api_url + path, **kw) as r:
        return r.status, await r.json()


async def poll_job(
    http: aiohttp.ClientSession, necto: RunningNecto, job_id: str, until: Any, timeout: float = 20
) -> dict[str, Any]:
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

    status, body = await api(
        http, necto, "POST", "/api/traffic/replay", json={"method": "GET", "url": f"http://127.0.0.1:{port}/x"}
    )
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
        (
            {"method": "GET", "url": "http://example.com/", "timeout": -1},
            "timeout must be a number of seconds between 0 and 3600",
        ),
        (
            {"method": "GET", "url": "http://example.com/", "headers": "x"},
            "headers must be an object or a list of {name, value}",
        ),
        (
            {"method": "GET", "url": "http://example.com/", "body": "!!", "bodyEncoding": "base64"},
            "body is not valid base64",
        ),
    ],
)
async def test_custom_request_validation(
    necto: RunningNecto, http: aiohttp.ClientSession, payload: dict[str, Any], message: str
) -> None:
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


# ---------------------------------------------------------------------- session replays
def imported(session_id: str, url: str, started: float, method: str = "GET", **kw: Any) -> Entry:
    """An entry as an imported browser HAR would hold it."""
    return Entry(session_id=session_id, started=started, method=method, url=url, source="import", status=200, **kw)


async def start_job(
    http: aiohttp.ClientSession, necto: RunningNecto, session_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    status, job = await api(http, necto, "POST", f"/api/sessions/{session_id}/replay", json=payload)
    assert status == 202, job
    return job


def finished(job: dict[str, Any]) -> bool:
    return job["status"] in ("completed", "cancelled", "failed")


async def test_session_replay_filters_order_and_dropped_headers(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    src = await necto.store.create_session("browser capture")
    base, t = "https://prod.example", 1_700_000_000.0
    cookie = [("Cookie", "session=stale"), ("Accept", "application/json"), (":authority", "prod.example")]
    await necto.store.add_entries(
        [
            imported(src.id, base + "/hello", t, request_headers=cookie),
            imported(src.id, base + "/style.css", t + 0.1, response_headers=[("Content-Type", "text/css")]),
            imported(src.id, base + "/image.png", t + 0.2),
            imported(src.id, "https://cdn.other.example/x.js", t + 0.3),
            imported(src.id, base + "/echo", t + 0.4, method="POST", request_body=b"ping",
                     request_headers=[("Content-Type", "text/plain"), ("Content-Length", "999")]),
            imported(src.id, base + "/api/data", t + 0.5, method="DELETE"),
            imported(src.id, base + "/status/201", t + 0.6),
        ]
    )  # fmt: skip
    job = await start_job(
        http, necto, src.id,
        {
            "hostRewrite": {"from": base, "to": upstream.https_url}, "hosts": ["prod.example"],
            "methods": ["GET", "POST"], "skipStatic": True, "dropHeaders": ["Cookie"], "keepOrder": True,
            "name": "staging check",
        },
    )  # fmt: skip
    assert job["sessionName"] == "staging check"
    job = await poll_job(http, necto, job["id"], finished)
    assert job["status"] == "completed" and (job["done"], job["total"], job["failed"]) == (3, 3, 0)

    entries = await wait_for_entries(necto.store, job["sessionId"], 3)
    assert [(e.method, e.url, e.status) for e in entries] == [
        ("GET", upstream.https_url + "/hello", 200),
        ("POST", upstream.https_url + "/echo", 200),
        ("GET", upstream.https_url + "/status/201", 201),
    ]
    hello_headers = {n.lower(): v for n, v in entries[0].request_headers}
    assert "cookie" not in hello_headers and hello_headers["accept"] == "application/json"
    assert not any(n.startswith(":") for n in hello_headers)
    assert entries[1].response_body == b"ping"  # the body went out, with a recomputed length


async def test_session_replay_pacing_keeps_the_original_gaps(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    src = await necto.store.create_session("paced")
    await necto.store.add_entries([imported(src.id, upstream.http_url + "/hello", 1000.0 + i * 0.6) for i in range(3)])
    job = await start_job(http, necto, src.id, {"pacing": True, "speed": 2, "concurrency": 3})
    job = await poll_job(http, necto, job["id"], finished)
    assert job["status"] == "completed" and job["done"] == 3
    entries = await wait_for_entries(necto.store, job["sessionId"], 3)
    gaps = [b.started - a.started for a, b in zip(entries, entries[1:], strict=False)]
    assert all(0.25 <= g < 0.6 for g in gaps), gaps  # 0.6 s apart originally, at double speed


async def test_cancel_stops_the_replay_and_keeps_what_was_replayed(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession
) -> None:
    src = await necto.store.create_session("long capture")
    await necto.store.add_entries(
        [imported(src.id, upstream.http_url + f"/delay?ms=150&i={i}", 1000.0 + i) for i in range(40)]
    )
    job = await start_job(http, necto, src.id, {"concurrency": 2})
    # The API stays responsive while the job runs.
    job = await poll_job(http, necto, job["id"], lambda j: j["done"] >= 2)
    assert job["status"] == "running" and job["total"] == 40
    status, health = await api(http, necto, "GET", "/api/health")
    assert status == 200

    status, cancelled = await api(http, necto, "POST", f"/api/replays/{job['id']}/cancel")
    assert status == 200 and cancelled["status"] == "cancelled"
    assert 2 <= cancelled["done"] < 40

    await necto.store.flush()
    kept = [e async for e in necto.store.iter_entries(job["sessionId"])]
    completed = [e for e in kept if e.status == 200]
    assert len(completed) == cancelled["done"]
    # Requests cut off by the cancel are at most the in-flight ones, recorded as failed.
    assert all(e.error for e in kept if e.status != 200) and len(kept) <= cancelled["done"] + 2

    # Nothing more is sent after the cancel.
    await asyncio.sleep(0.4)
    await necto.store.flush()
    assert len([e async for e in necto.store.iter_entries(job["sessionId"])]) == len(kept)
    _, again = await api(http, necto, "GET", f"/api/replays/{job['id']}")
    assert again["done"] == cancelled["done"] and again["status"] == "cancelled"


async def test_session_replay_validation(
    necto: RunningNecto, http: aiohttp.ClientSession, fresh_session: Session
) -> None:
    for payload, message in [
        ({"concurrency": 0}, "concurrency must be an integer between 1 and 64"),
        ({"hostRewrite": {"from": "x"}}, 'hostRewrite must be {"from": URL, "to": URL} or a list of them'),
        ({"hostRewrite": {"to": "ftp://x"}}, "hostRewrite URL must be absolute http(s): ftp://x"),
        ({"methods": "GET"}, "methods must be a list of strings"),
        ({"keepOrder": "yes"}, "keepOrder must be a boolean"),
    ]:
        assert await api(http, necto, "POST", f"/api/sessions/{fresh_session.id}/replay", json=payload) == (
            400, {"error": message},
        )  # fmt: skip


async def test_cli_replay_with_host_rewrite(necto: RunningNecto, upstream: Upstream) -> None:
    """`necto replay SESSION --to URL` runs its own Necto over the same data dir; no server needed."""
    src = await necto.store.create_session("cli source")
    await necto.store.add_entries([imported(src.id, f"http://prod.invalid/hello?i={i}", 1000.0 + i) for i in range(5)])
    code, out, err = await run_cmd(
        sys.executable, "-m", "necto", "replay", "cli source", "--to", upstream.http_url,
        "--concurrency", "3", "--json", "--data-dir", str(necto.data_dir),
    )  # fmt: skip
    assert code == 0, err
    job = orjson.loads(out)
    assert (job["status"], job["done"], job["total"], job["failed"]) == ("completed", 5, 5, 0)
    assert b"[##############################] 5/5" in err  # the progress bar, on stderr
    entries = await wait_for_entries(necto.store, job["sessionId"], 5)
    assert sorted(e.url for e in entries) == sorted(f"{upstream.http_url}/hello?i={i}" for i in range(5))
    assert all(e.status == 200 and e.response_body == b"hello world" and e.duration > 0 for e in entries)

    code, _, err = await run_cmd(
        sys.executable, "-m", "necto", "replay", "no such session", "--data-dir", str(necto.data_dir)
    )
    assert code == 1 and b"Session not found" in err
    code, _, err = await run_cmd(
        sys.executable, "-m", "necto", "replay", "x", "--from", "http://a", "--data-dir", str(necto.data_dir)
    )
    assert code == 2 and b"--from needs --to" in err


async def test_session_replay_counts_failures_with_reasons(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    src = await necto.store.create_session("unreachable")
    await necto.store.add_entries([imported(src.id, f"http://127.0.0.1:{port}/x{i}", 1000.0 + i) for i in range(3)])
    job = await start_job(http, necto, src.id, {})
    job = await poll_job(http, necto, job["id"], finished)
    assert (job["status"], job["done"], job["failed"]) == ("completed", 3, 3)
    assert all("refused" in f["error"].lower() or "connect" in f["error"].lower() for f in job["failures"]), job
    status, stats = await api(http, necto, "GET", f"/api/traffic/stats/{job['sessionId']}")
    assert stats["failedRequests"] == 3  # recorded by the proxy, as failed exchanges


async def test_a_big_session_replay_does_not_block_the_api_or_the_proxy(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession, fresh_session: Session
) -> None:
    src = await necto.store.create_session("big import")
    n = 400
    await necto.store.add_entries(
        [imported(src.id, f"{upstream.http_url}/hello?i={i}", 1000.0 + i / 1000) for i in range(n)]
    )
    async with aiohttp.ClientSession() as user:
        # Baseline: the same two round trips on an idle Necto, in this run.
        idle = 0.0
        for _ in range(5):
            t = time.monotonic()
            await api(http, necto, "GET", "/api/health")
            async with user.get(upstream.http_url + "/hello", proxy=necto.proxy_url) as r:
                assert r.status == 200
            idle = max(idle, time.monotonic() - t)
        job = await start_job(http, necto, src.id, {"concurrency": 16})
        worst_api = worst_proxy = 0.0
        while True:
            t = time.monotonic()
            status, job = await api(http, necto, "GET", f"/api/replays/{job['id']}")
            worst_api = max(worst_api, time.monotonic() - t)
            t = time.monotonic()
            async with user.get(upstream.http_url + "/hello", proxy=necto.proxy_url) as r:  # live traffic
                assert r.status == 200
            worst_proxy = max(worst_proxy, time.monotonic() - t)
            if finished(job):
                break
    assert (job["status"], job["done"], job["failed"]) == ("completed", n, 0)
    # Responsive throughout: never stalled for long, whatever the machine is doing (wide margin
    # over the idle baseline; a blocked loop would stall for the whole replay).
    bound = max(2.0, 25 * idle)
    assert worst_api < bound and worst_proxy < bound, (worst_api, worst_proxy, idle)
    live = await wait_for_entries(necto.store, fresh_session.id, 1)
    assert all(e.source == "capture" for e in live)  # live traffic stayed in the active session
