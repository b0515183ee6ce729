"""Our export, read by three HAR readers nobody here wrote.

- har-validator@5.1.5 (npm; the har-schema rules): zero errors.
- Playwright's `route_from_har` driving Debian's Chromium, with the upstream server stopped:
  the page renders the same content, served from the HAR alone.
- mitmproxy's own HAR reader (`mitmproxy.io.FlowReader`): same flows, same bodies.

Re-exports of imported files: har-validator takes every one (tests/test_har_fixtures.py),
mitmproxy's reader every one whose original it takes (tests/test_har_lossless.py), and
`route_from_har` serves every one (below).

The tools are installed by scripts/setup-test-tools. In CI (CI=true) a missing tool fails the
test with a clear message; elsewhere the test is skipped.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import aiohttp
import orjson
import pytest
import pytest_asyncio

from helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DATA,
    PNG,
    Captured,
    RunningNecto,
    TestPki,
    capture_standard_traffic,
    har_validator_errors,
    missing_tool,
    start_upstream,
)


@pytest_asyncio.fixture(scope="module")
async def exported_offline(
    necto: RunningNecto, pki: TestPki, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Captured, Path]:
    """Standard traffic captured from a private upstream (HTTP and HTTPS) that is stopped
    afterwards, so nothing but the HAR can answer the readers."""
    runner, up = await start_upstream(pki)
    try:
        captured = await capture_standard_traffic(necto, up.http_url, up.https_url, "readers")
    finally:
        await runner.cleanup()  # the upstream is gone from here on
    out = tmp_path_factory.mktemp("readers") / "export.har"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{necto.api_url}/api/har/export/{captured.session_id}") as resp:
            assert resp.status == 200
            out.write_bytes(await resp.read())
    return captured, out


async def test_har_validator_finds_no_errors(exported_offline: tuple[Captured, Path]) -> None:
    _, path = exported_offline
    assert await har_validator_errors(path) is None


async def test_playwright_replays_the_page_with_upstream_stopped(exported_offline: tuple[Captured, Path]) -> None:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        missing_tool("playwright (pip)")
    if not CHROMIUM.exists():
        missing_tool("Debian chromium (/usr/bin/chromium)")
    captured, path = exported_offline
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            context = await browser.new_context()
            await context.route_from_har(str(path), not_found="abort")
            page = await context.new_page()
            response = await page.goto(captured.base + "/", timeout=15_000)
            assert response is not None and response.status == 200
            assert await page.title() == "Necto test page"
            assert await page.text_content("#title") == "Hello from upstream"
            # app.js (from the HAR) fetched /api/data (from the HAR) and rendered it
            await page.wait_for_function(
                "document.getElementById('data').textContent === 'data loaded'", timeout=10_000
            )
            width = await page.evaluate(
                "() => { const i = document.querySelector('img'); return i.complete ? i.naturalWidth : -1 }"
            )
            if width == -1:
                await page.wait_for_function("document.querySelector('img').complete", timeout=5_000)
                width = await page.evaluate("document.querySelector('img').naturalWidth")
            assert width == 1  # the 1x1 PNG, decoded from base64
            color = await page.evaluate("getComputedStyle(document.getElementById('title')).color")
            assert color == "rgb(0, 128, 128)"  # style.css from the HAR: teal
            await context.close()
        finally:
            await browser.close()


def test_mitmproxy_reads_the_same_flows_and_bodies(exported_offline: tuple[Captured, Path]) -> None:
    from mitmproxy.io import FlowReader

    captured, path = exported_offline
    flows = list(FlowReader(io.BytesIO(path.read_bytes())).stream())
    har = orjson.loads(path.read_bytes())
    assert len(flows) == len(har["log"]["entries"]) == len(captured.entries)
    for flow, entry in zip(flows, captured.entries, strict=True):
        assert flow.request.method == entry.method
        assert flow.request.pretty_url == entry.url
        assert flow.response is not None
        if entry.status is None:
            assert flow.response.status_code == 0
            continue
        assert flow.response.status_code == entry.status
        assert flow.response.get_content() == (entry.response_body or b""), entry.url
        if entry.request_body:
            assert flow.request.get_content() == entry.request_body
    by_url = {f.request.path: f for f in flows}
    assert by_url["/image.png"].response.content == PNG  # type: ignore[union-attr]
    assert by_url["/gzip"].response.get_content() == b"compressible " * 200  # type: ignore[union-attr]


async def test_playwright_replays_every_fixture_reexport(necto: RunningNecto, tmp_path: Path) -> None:
    """Every file of tests/data/har that imports, exported again, loads in `route_from_har`
    and serves its first GET 200 from the HAR alone (a BOM, a newline in a header value, an
    invalid header name or a response pseudo-header would make it throw or hang)."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        missing_tool("playwright (pip)")
    if not CHROMIUM.exists():
        missing_tool("Debian chromium (/usr/bin/chromium)")
    served = 0
    async with aiohttp.ClientSession() as http, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            for source in sorted((DATA / "har").glob("*.har")):
                form = aiohttp.FormData()
                form.add_field("file", source.read_bytes(), filename=source.name)
                async with http.post(f"{necto.api_url}/api/har/import", data=form) as resp:
                    if resp.status != 200:
                        continue
                    session_id = (await resp.json())["sessionId"]
                async with http.get(f"{necto.api_url}/api/har/export/{session_id}") as resp:
                    raw = await resp.read()
                await necto.store.delete_session(session_id)
                path = tmp_path / source.name
                path.write_bytes(raw)
                context = await browser.new_context()
                try:
                    await context.route_from_har(str(path), not_found="abort")  # parses the file
                    target = next((e for e in orjson.loads(raw)["log"]["entries"]
                                   if e["request"]["method"] == "GET" and e["response"]["status"] == 200
                                   and e["request"]["url"].startswith("http") and "text" in e["response"]["content"]), None)  # fmt: skip
                    if target is None:
                        continue
                    page = await context.new_page()
                    response = await page.goto(target["request"]["url"], timeout=10_000)
                    assert response is not None and response.status == 200, source.name
                    content = target["response"]["content"]
                    expected = (
                        base64.b64decode(content["text"])
                        if content.get("encoding") == "base64"
                        else content["text"].encode()
                    )
                    assert await response.body() == expected, source.name
                    served += 1
                finally:
                    await context.close()
        finally:
            await browser.close()
    assert served >= 20, "most fixtures have a GET 200 to serve"
