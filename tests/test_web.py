"""The web page on :8889, driven in real (Debian) Chromium with Playwright.

Screenshots of the main views are saved under test-artifacts/.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from helpers import DATA, RunningNecto, Upstream, curl, open_page, shot
from necto.model import Session

try:
    from playwright.async_api import Browser, Page, expect
except ImportError:  # pragma: no cover - CI installs it
    pass


@pytest_asyncio.fixture
async def page(browser: Browser, necto: RunningNecto, fresh_session: Session) -> AsyncIterator[Page]:
    """The shared page, with downloads accepted (exports are read back from disk)."""
    p = await open_page(browser, necto.api_url + "/", accept_downloads=True)
    yield p
    await p.context.close()


async def test_empty_state_explains_setup_and_serves_the_ca(page: Page, necto: RunningNecto) -> None:
    await expect(page.locator("#empty")).to_contain_text("No traffic in this session yet")
    await expect(page.locator("#empty")).to_contain_text(necto.proxy_url.removeprefix("http://"))
    await expect(page.locator("#empty")).to_contain_text("linux")
    href = await page.locator("#ca-download").get_attribute("href")
    body = await page.evaluate("async (u) => (await fetch(u)).text()", href)
    assert body == necto.ca_pem.read_text()
    await shot(page, "empty-state")


async def test_rows_appear_live_and_detail_shows_waterfall(
    page: Page, necto: RunningNecto, upstream: Upstream, fresh_session: Session
) -> None:
    for path in ("/hello?live=1", "/api/data", "/image.png"):
        code, _, err = await curl(necto, f"{upstream.https_url}{path}")
        assert code == 0, err
    rows = page.locator(".row[data-id]")
    await expect(rows).to_have_count(3, timeout=10_000)  # no reload: pushed over SSE
    await expect(rows.nth(0)).to_contain_text("/hello?live=1")
    await expect(page.locator("#count")).to_have_text("3 entries")

    await rows.nth(0).click()
    await page.get_by_role("tab", name="Timing").click()
    waterfall = page.locator("#waterfall")
    for phase in ("blocked", "dns", "connect", "ssl", "send", "wait", "receive"):
        await expect(waterfall.locator(f"[data-phase='{phase}']")).to_contain_text("ms")
    await shot(page, "traffic-and-waterfall")

    await rows.nth(2).click()
    await page.get_by_role("tab", name="Response").click()
    await expect(page.locator(".tab-content img")).to_be_visible()
    await rows.nth(1).click()
    await page.get_by_role("tab", name="Response").click()
    await expect(page.locator(".tab-content .json")).to_contain_text('"data loaded"')


async def test_shift_click_selection_exports_exactly_those_entries(
    page: Page, necto: RunningNecto, upstream: Upstream, fresh_session: Session
) -> None:
    for i in range(4):
        await curl(necto, f"{upstream.http_url}/hello?n={i}")
    rows = page.locator(".row[data-id]")
    await expect(rows).to_have_count(4, timeout=10_000)
    await rows.nth(1).click()
    await rows.nth(2).click(modifiers=["Shift"])
    await expect(page.locator(".row.selected")).to_have_count(2)
    await page.click("#btn-export")
    async with page.expect_download() as info:
        await page.click("#export-selected")
    download = await info.value
    har = json.loads(Path(await download.path()).read_bytes())
    urls = [e["request"]["url"] for e in har["log"]["entries"]]
    assert urls == [f"{upstream.http_url}/hello?n=1", f"{upstream.http_url}/hello?n=2"]

    # Ctrl-click adds a third; right-click offers "Export Selected as HAR".
    await rows.nth(3).click(modifiers=["Control"])
    await expect(page.locator(".row.selected")).to_have_count(3)
    await rows.nth(3).click(button="right")
    async with page.expect_download() as info:
        await page.get_by_role("button", name="Export Selected as HAR").click()
    har = json.loads(Path(await (await info.value).path()).read_bytes())
    assert len(har["log"]["entries"]) == 3


async def test_keyboard_moves_the_selection(page: Page, necto: RunningNecto, upstream: Upstream) -> None:
    for i in range(3):
        await curl(necto, f"{upstream.http_url}/hello?k={i}")
    rows = page.locator(".row[data-id]")
    await expect(rows).to_have_count(3, timeout=10_000)
    await rows.nth(0).click()
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("ArrowDown")
    await expect(page.locator(".row.selected")).to_have_count(1)
    await expect(page.locator(".row.selected")).to_contain_text("k=2")
    await expect(page.locator("#detail h3")).to_contain_text("k=2")


async def test_drag_and_drop_import_shows_warnings_and_rows(page: Page, necto: RunningNecto) -> None:
    source = DATA / "chrome-devtools.har"  # carries a warning (an empty serverIPAddress)
    data = base64.b64encode(source.read_bytes()).decode()
    await page.evaluate(
        """(b64) => {
          const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
          const dt = new DataTransfer();
          dt.items.add(new File([bytes], 'chrome-devtools.har', {type: 'application/json'}));
          window.dispatchEvent(new DragEvent('dragenter', {dataTransfer: dt}));
          window.dispatchEvent(new DragEvent('drop', {dataTransfer: dt}));
        }""",
        data,
    )
    summary = page.locator("#dialog h3")
    await expect(summary).to_contain_text("Imported", timeout=15_000)
    count_text = await page.locator("#import-warning-count").text_content()
    assert count_text and "warnings" in count_text
    imported = json.loads(source.read_bytes().decode("utf-8-sig"))
    n = len(imported["log"]["entries"])
    await expect(summary).to_contain_text(f"of {n} entries")
    await shot(page, "import-result")
    await page.click("#dialog button")
    await expect(page.locator("#count")).to_have_text(f"{n} entries", timeout=10_000)
    # Imported entries look like captured ones: same row, same detail.
    await page.locator(".row[data-id]").first.click()
    await expect(page.locator("#detail h3")).to_be_visible()


async def test_replay_from_the_page(
    page: Page, necto: RunningNecto, upstream: Upstream, fresh_session: Session
) -> None:
    await curl(necto, f"{upstream.http_url}/api/data")
    rows = page.locator(".row[data-id]")
    await expect(rows).to_have_count(1, timeout=10_000)
    await rows.nth(0).click()
    await page.click("#btn-replay")
    await expect(page.locator("#replay-result")).to_contain_text("200", timeout=15_000)
    await shot(page, "replay")
    await page.click("#dialog button")
    # The replay went through the proxy and was recorded as an entry of its own.
    await expect(rows).to_have_count(2, timeout=10_000)


async def test_captured_script_and_onerror_stay_inert(
    page: Page, necto: RunningNecto, upstream: Upstream, fresh_session: Session
) -> None:
    payload = (
        "<script>window.__pwned = 'script'; alert('xss')</script>"
        "<img src=x onerror=\"window.__pwned = 'img'; alert('img')\">"
    )
    await curl(
        necto,
        "-X",
        "POST",
        "-H",
        "Content-Type: text/html",
        "-H",
        "X-Evil: <img src=x onerror=alert('hdr')>",
        "--data-binary",
        payload,
        f"{upstream.http_url}/echo?<script>alert(1)</script>",
    )
    rows = page.locator(".row[data-id]")
    await expect(rows).to_have_count(1, timeout=10_000)
    await rows.nth(0).click()
    for tab in ("Headers", "Query", "Request", "Cookies", "Connection", "Response"):
        await page.get_by_role("tab", name=tab).click()
    await expect(page.locator(".tab-content pre")).to_contain_text("<script>window.__pwned")
    await page.get_by_role("tab", name="Headers").click()
    await expect(page.locator(".tab-content")).to_contain_text("onerror=alert('hdr')")
    assert await page.evaluate("window.__pwned") is None
    assert page.dialogs == []  # type: ignore[attr-defined]
    assert await page.locator("#detail script, #detail img[src='x']").count() == 0


async def test_session_controls(page: Page, necto: RunningNecto, fresh_session: Session) -> None:
    page.answers.append("Renamed by page")  # type: ignore[attr-defined]
    await page.click("#btn-rename-session")
    await expect(page.locator("#session-select option:checked")).to_contain_text("Renamed by page")
    await page.click("#btn-pause-session")
    await expect(page.locator("#session-state")).to_have_text("paused")
    stored = await necto.store.get_session(fresh_session.id)
    assert stored is not None and stored.name == "Renamed by page" and not stored.is_recording
    await page.click("#btn-delete-session")
    await expect(page.locator("#session-select option", has_text="Renamed by page")).to_have_count(0)
    assert await necto.store.get_session(fresh_session.id) is None


async def test_compare_two_selected_entries_side_by_side(page: Page, necto: RunningNecto, upstream: Upstream) -> None:
    await curl(necto, f"{upstream.http_url}/status/200")
    await curl(necto, f"{upstream.http_url}/status/404")
    rows = page.locator(".row[data-id]")
    await expect(rows).to_have_count(2, timeout=10_000)
    await rows.nth(0).click()
    await rows.nth(1).click(modifiers=["Shift"])
    await rows.nth(1).click(button="right")
    await page.get_by_role("button", name="Compare selected").first.click()
    await expect(page.locator("#diff-title")).to_have_text("A and B differ", timeout=10_000)
    status = page.locator("details[data-section='Request line and status'] tr[data-name=status]")
    await expect(status).to_have_class("d-changed")
    await expect(status.locator("td")).to_have_text(["status", "200", "404"])
    await expect(page.locator(".diff-ab")).to_contain_text("/status/200")
    await expect(page.locator(".diff-ab")).to_contain_text("/status/404")
    await shot(page, "compare")


async def test_a_100k_entry_session_stays_usable(browser: Browser, necto: RunningNecto, fresh_session: Session) -> None:
    from necto.model import Entry, Timings

    base = 1_700_000_000.0
    for start in range(0, 100_000, 5_000):
        await necto.store.add_entries(
            [
                Entry(
                    session_id=fresh_session.id,
                    started=base + i,
                    method="GET",
                    url=f"https://big.example/items/{i}",
                    status=200,
                    status_text="OK",
                    response_http_version="HTTP/1.1",
                    response_body_size=10,
                    timings=Timings(send=1, wait=2, receive=1),
                    source="import",
                )
                for i in range(start, start + 5_000)
            ]
        )
    context = await browser.new_context(viewport={"width": 1400, "height": 850})
    p = await context.new_page()
    try:
        await p.goto(necto.api_url + "/")
        await expect(p.locator("#count")).to_have_text("100000 entries", timeout=15_000)
        # Only the visible rows exist in the page, however long the session.
        assert await p.locator(".row").count() < 100
        await p.locator("#viewport").evaluate("vp => { vp.scrollTop = vp.scrollHeight; }")
        await expect(p.locator(".row[data-id]").last).to_contain_text("/items/99999", timeout=15_000)
        await p.locator("#viewport").evaluate("vp => { vp.scrollTop = vp.scrollHeight / 2; }")
        await expect(p.locator(".row[data-id]", has_text="/items/50000")).to_have_count(1, timeout=15_000)
    finally:
        await context.close()
        # the Necto is shared: 100k entries left for the search index to catch up would hold up
        # the next test's text filter (a query that reads the index indexes the backlog first)
        await necto.store.delete_session(fresh_session.id)
