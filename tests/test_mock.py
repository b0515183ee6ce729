"""Answering from recordings: `replay-from` rules (a HAR file or a session; by URL with the query
order ignored, or by path template; Nth call -> Nth response; misses fall through or 404), a
Chromium page whose whole backend comes from a HAR with the origin stopped, and `necto mock`
serving a HAR as a standalone backend."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Counting,
    RunningNecto,
    TestPki,
    api,
    curl_fetch,
    missing_tool,
    run_cmd,
    start_upstream,
    wait_for_entries,
)
from necto.model import Session

pytestmark = pytest.mark.usefixtures("clean_rules")


async def export_session(necto: RunningNecto, http: aiohttp.ClientSession, session_id: str, path: Path) -> Path:
    async with http.get(f"{necto.api_url}/api/har/export/{session_id}") as r:
        assert r.status == 200
        path.write_bytes(await r.read())
    return path


async def record_counting_traffic(necto: RunningNecto, counting: Counting, session: Session, counter: str) -> None:
    """Two calls of a counter the origin has never seen (`call 1`, `call 2`), a user, some JSON."""
    for path in (counter, counter, "/users/42", "/json?b=2&a=1"):
        r = await curl_fetch(necto, counting.http_url + path)
        assert r.status == 200
    await wait_for_entries(necto.store, session.id, 4)


async def test_replay_from_a_har_file(
    necto: RunningNecto, http: aiohttp.ClientSession, counting: Counting, fresh_session: Session, tmp_path: Path
) -> None:
    await record_counting_traffic(necto, counting, fresh_session, "/counter/replay-from")
    har = await export_session(necto, http, fresh_session.id, tmp_path / "recorded.har")
    counting.reset()
    status, rule = await api(http, "POST", necto.api_url + "/api/rules", {
        "name": "From HAR", "match": {"url": counting.http_url + "/*"}, "action": "replay-from",
        "config": {"harFile": str(har), "onMiss": "404"},
    })  # fmt: skip
    assert status == 201, rule
    bodies = [(await curl_fetch(necto, counting.http_url + "/counter/replay-from")).body for _ in range(3)]
    assert bodies == [b"call 1", b"call 2", b"call 2"]  # Nth call, Nth response; then the last repeats
    r = await curl_fetch(necto, counting.http_url + "/json?a=1&b=2")  # the query in another order
    assert orjson.loads(r.body) == {"message": "hello", "token": "secret-token", "items": [1, 2, 3]}
    assert r.headers["x-origin"] == "yes" and r.headers["content-type"].startswith("application/json")
    miss = await curl_fetch(necto, counting.http_url + "/users/7")
    assert miss.status == 404 and miss.body.startswith(b"Necto replay-from: no recorded response for GET")
    assert counting.hits() == 0

    # By path template: /users/7 is answered by what /users/42 got; misses now go to the origin.
    status, _ = await api(http, "PUT", f"{necto.api_url}/api/rules/{rule['id']}",
                          {"config": {"harFile": str(har), "matchBy": "template", "onMiss": "passthrough"}})  # fmt: skip
    assert status == 200
    r = await curl_fetch(necto, counting.http_url + "/users/7")
    assert orjson.loads(r.body) == {"id": "42", "name": "user 42"}
    r = await curl_fetch(necto, counting.http_url + "/not-recorded")
    assert r.body == b"upstream /not-recorded" and counting.hits() == 1

    entries = await wait_for_entries(necto.store, fresh_session.id, 10)
    replayed = entries[4]
    assert replayed.extra["isMocked"] is True
    assert replayed.extra["appliedRules"] == [{"id": rule["id"], "name": "From HAR", "action": "replay-from"}]
    assert "appliedRules" not in entries[-1].extra  # the miss went to the origin untouched


async def test_replay_from_a_session_with_recorded_timing(
    necto: RunningNecto, http: aiohttp.ClientSession, counting: Counting, fresh_session: Session
) -> None:
    url = counting.http_url + "/slow?ms=600"
    recorded = await curl_fetch(necto, url)
    assert recorded.seconds >= 0.6
    await wait_for_entries(necto.store, fresh_session.id, 1)
    counting.reset()
    status, rule = await api(http, "POST", necto.api_url + "/api/rules", {
        "name": "From session", "match": {"path": "/slow"}, "action": "replay-from",
        "config": {"session": fresh_session.name, "replayTiming": True},
    })  # fmt: skip
    assert status == 201, rule
    timed = await curl_fetch(necto, url)
    await api(http, "PUT", f"{necto.api_url}/api/rules/{rule['id']}", {"config": {"session": fresh_session.id}})
    untimed = await curl_fetch(necto, url)
    assert timed.body == untimed.body == b"slow done" and counting.hits() == 0
    assert timed.seconds >= 0.55 and untimed.seconds < timed.seconds - 0.3, (timed.seconds, untimed.seconds)


# ------------------------------------------------------------------ Chromium
def _chromium() -> Any:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        missing_tool("playwright (pip)")
    if not CHROMIUM.exists():
        missing_tool("Debian chromium (/usr/bin/chromium)")
    return async_playwright


async def _check_page(page: Any, url: str) -> None:
    response = await page.goto(url, timeout=15_000)
    assert response is not None and response.status == 200
    assert await page.title() == "Necto test page"
    assert await page.text_content("#title") == "Hello from upstream"
    await page.wait_for_function("document.getElementById('data').textContent === 'data loaded'", timeout=10_000)
    await page.wait_for_function("document.querySelector('img').complete", timeout=5_000)
    assert await page.evaluate("document.querySelector('img').naturalWidth") == 1
    assert await page.evaluate("getComputedStyle(document.getElementById('title')).color") == "rgb(0, 128, 128)"


async def test_chromium_page_mocked_from_a_har_renders_with_the_origin_stopped(
    necto: RunningNecto, http: aiohttp.ClientSession, pki: TestPki, fresh_session: Session, tmp_path: Path
) -> None:
    async_playwright = _chromium()
    runner, origin = await start_upstream(pki)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, "--proxy-bypass-list=<-loopback>"], headless=True
        )
        try:
            # 1. Record the page (HTTPS) through the proxy, export the session as HAR.
            context = await browser.new_context(proxy={"server": necto.proxy_url}, ignore_https_errors=True)
            await _check_page(await context.new_page(), origin.https_url + "/")
            await context.close()
            await wait_for_entries(necto.store, fresh_session.id, 5)
            har = await export_session(necto, http, fresh_session.id, tmp_path / "page.har")
            # 2. Stop the origin; answer its host from the HAR.
            await runner.cleanup()
            runner = None
            status, rule = await api(http, "POST", necto.api_url + "/api/rules", {
                "name": "Offline page", "match": {"url": origin.https_url + "/*"}, "action": "replay-from",
                "config": {"harFile": str(har), "onMiss": "404"},
            })  # fmt: skip
            assert status == 201, rule
            # 3. A fresh browser profile renders the page, its stylesheet, image and API call.
            context = await browser.new_context(proxy={"server": necto.proxy_url}, ignore_https_errors=True)
            await _check_page(await context.new_page(), origin.https_url + "/")
            await context.close()
        finally:
            await browser.close()
            if runner is not None:
                await runner.cleanup()
    entries = await wait_for_entries(necto.store, fresh_session.id, 10)
    served = [e for e in entries if e.extra.get("isMocked")]
    assert {e.url.rsplit("/", 1)[-1] for e in served} >= {"", "style.css", "app.js", "image.png", "data"}
    assert all(e.extra["appliedRules"][0]["name"] == "Offline page" for e in served)


# ------------------------------------------------------------------ necto mock
@asynccontextmanager
async def necto_mock(*args: str) -> AsyncIterator[str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "necto", "mock", *args, "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    banner = ""
    try:
        while "Stop with Ctrl-C." not in banner:
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            if not line:
                raise AssertionError(
                    f"necto mock exited: {banner}{(await proc.stderr.read()).decode() if proc.stderr else ''}"
                )
            banner += line.decode()
        m = re.search(r"Serving\s+(http://\S+?)/?\n", banner)
        assert m, banner
        yield m.group(1)
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 30)
        assert proc.returncode == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_necto_mock_serves_a_har_as_a_backend(
    necto: RunningNecto, http: aiohttp.ClientSession, pki: TestPki, counting: Counting, fresh_session: Session,
    tmp_path: Path,
) -> None:  # fmt: skip
    async_playwright = _chromium()
    runner, origin = await start_upstream(pki)
    try:
        for path in ("/", "/style.css", "/app.js", "/image.png", "/api/data"):
            assert (await curl_fetch(necto, origin.http_url + path)).status == 200
    finally:
        await runner.cleanup()
    await record_counting_traffic(necto, counting, fresh_session, "/counter/necto-mock")
    har = await export_session(necto, http, fresh_session.id, tmp_path / "backend.har")
    async with necto_mock(str(har), "--data-dir", str(tmp_path / "home")) as base:
        code, out, _ = await run_cmd("curl", "-sS", "-i", base + "/nowhere?x=1")
        assert out.startswith(b"HTTP/1.1 404") and b'{"error":"No recorded response for GET /nowhere?x=1"}' in out
        calls = [(await run_cmd("curl", "-sS", base + "/counter/necto-mock"))[1] for _ in range(3)]
        assert calls == [b"call 1", b"call 2", b"call 2"]
        code, out, _ = await run_cmd("curl", "-sS", base + "/json?a=1&b=2")
        assert orjson.loads(out)["message"] == "hello"
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                await _check_page(await browser.new_page(), base + "/")
            finally:
                await browser.close()
    code, _, err = await run_cmd(
        sys.executable, "-m", "necto", "mock", "no such session", "--data-dir", str(tmp_path / "home")
    )
    assert code == 1 and b"Session not found: no such session" in err
