"""The page's rough edges from issue 17, one test each (each failed on the page before the fix).

Real Necto, real upstream, real Chromium; entries come from curl through the proxy or, where
exact values matter, straight from the store (as an import would write them).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import pytest

from helpers import PNG, RunningNecto, Upstream, copied_by, curl, open_page, run_cmd, shot
from necto.model import Entry, Session, Timings

try:
    from playwright.async_api import Browser, Page, expect
except ImportError:  # pragma: no cover - CI installs it
    pass


def har(*entries: dict) -> bytes:
    return json.dumps(
        {"log": {"version": "1.2", "creator": {"name": "test", "version": "1"}, "entries": list(entries)}}
    ).encode()


def har_entry(url: str) -> dict:
    return {
        "startedDateTime": "2024-05-01T10:00:00.000Z",
        "time": 3,
        "request": {
            "method": "GET",
            "url": url,
            "httpVersion": "HTTP/1.1",
            "headers": [],
            "queryString": [],
            "cookies": [],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": {
            "status": 200,
            "statusText": "OK",
            "httpVersion": "HTTP/1.1",
            "headers": [],
            "cookies": [],
            "content": {"size": 2, "mimeType": "text/plain", "text": "ok"},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": 2,
        },
        "cache": {},
        "timings": {"send": 1, "wait": 1, "receive": 1},
    }


async def upload(page: Page, name: str, data: bytes) -> None:
    await page.set_input_files("#import-file", files=[{"name": name, "mimeType": "application/json", "buffer": data}])


async def test_replay_and_import_dialogs_print_no_stray_null(
    page: Page, necto: RunningNecto, upstream: Upstream
) -> None:
    await curl(necto, f"{upstream.http_url}/api/data")
    rows = page.locator(".row[data-id]")
    await expect(rows).to_have_count(1, timeout=10_000)
    await rows.first.click()
    await page.click("#btn-replay")
    await expect(page.locator("#replay-result")).to_contain_text("200", timeout=15_000)
    assert "null" not in await page.locator("#dialog").inner_text()
    await page.keyboard.press("Escape")
    await upload(page, "clean.har", har(har_entry("http://clean.test/a")))
    await expect(page.locator("#dialog h3")).to_contain_text("Imported 1 of 1", timeout=15_000)
    assert "null" not in await page.locator("#dialog").inner_text()


@pytest.mark.parametrize("width,height", [(1440, 900), (1024, 768)])
async def test_a_300_character_session_name_leaves_the_toolbar_on_one_line(
    browser: Browser, necto: RunningNecto, fresh_session: Session, width: int, height: int
) -> None:
    # The API now refuses names over 200 characters, but databases made before can hold any.
    long = await necto.store.create_session("Checkout flow against staging " * 10)
    assert len(long.name) == 300
    p = await open_page(browser, necto.api_url + "/", width=width, height=height)
    try:
        await p.select_option("#session-select", long.id)
        await expect(p.locator("#session-state")).to_have_text("not recording")
        items = p.locator("#toolbar > :visible")
        tops = {round((await items.nth(i).bounding_box())["y"]) for i in range(await items.count())}  # type: ignore[index]
        assert max(tops) - min(tops) <= 4, f"toolbar wraps: item tops {sorted(tops)}"
        assert await p.evaluate("document.documentElement.scrollWidth") <= width
        last = await p.locator("#btn-help").bounding_box()
        assert last is not None and last["x"] + last["width"] <= width
        # the full name is still there, as the select's tooltip
        assert await p.locator("#session-select").get_attribute("title") == long.name
        await shot(p, f"long-session-name-{width}")
    finally:
        await p.context.close()
        await necto.store.delete_session(long.id)


async def test_at_1024_px_the_open_detail_leaves_the_path_column_and_headers_clear(
    browser: Browser, necto: RunningNecto, upstream: Upstream, fresh_session: Session
) -> None:
    for i in range(3):
        await curl(necto, f"{upstream.http_url}/hello?n={i}")
    p = await open_page(browser, necto.api_url + "/", width=1024, height=768)
    try:
        rows = p.locator(".row[data-id]")
        await expect(rows).to_have_count(3, timeout=10_000)
        await rows.first.click()
        await expect(p.locator("#detail h3")).to_contain_text("/hello?n=0")
        pane = await p.locator("#detail").bounding_box()
        assert pane is not None
        header_cells = p.locator(".thead > *")
        path = header_cells.filter(has_text=re.compile(r"^\s*Path\s*$"))
        box = await path.bounding_box()
        assert box is not None and box["width"] >= 80, f"Path column is {box}"
        for i in range(await header_cells.count()):
            cell = await header_cells.nth(i).bounding_box()
            assert cell is not None and cell["x"] + cell["width"] <= pane["x"] + 1, "a header overlaps the detail pane"
        await expect(rows.first).to_contain_text("/hello?n=0")
        await shot(p, "detail-open-1024")
    finally:
        await p.context.close()


async def test_after_sorting_the_list_returns_to_capture_order(
    page: Page, necto: RunningNecto, upstream: Upstream
) -> None:
    for ms in (300, 20, 150):
        await curl(necto, f"{upstream.http_url}/delay?ms={ms}")
    rows = page.locator(".row[data-id]")
    await expect(rows).to_have_count(3, timeout=10_000)
    capture = ["ms=300", "ms=20", "ms=150"]
    time_header = page.locator(".thead > *").filter(has_text=re.compile(r"^\s*Time"))
    await time_header.click()
    for i, text in enumerate(["ms=20", "ms=150", "ms=300"]):
        await expect(rows.nth(i)).to_contain_text(text)
    await page.click("#sort-reset")  # the "Sorted by time ✕" chip
    for i, text in enumerate(capture):
        await expect(rows.nth(i)).to_contain_text(text)
    # and clicking a header cycles ascending, descending, capture order
    for _ in range(3):
        await time_header.click()
    for i, text in enumerate(capture):
        await expect(rows.nth(i)).to_contain_text(text)
    await expect(page.locator("#sort-reset")).to_have_count(0)


@pytest.mark.parametrize(
    "name,data,reason",
    [
        ("empty.har", b"", "The file is empty"),
        ("screenshot.har", PNG, "This is a PNG image, not a HAR file"),
        ("notes.har", b"hello world, this is not JSON\n", "Not JSON: at byte 0 the file starts with \u201chello world"),
        (
            "package.json",
            b'{"name": "x", "dependencies": {}}',
            'This JSON has no "log" property (its top-level keys are "name", "dependencies")',
        ),
    ],
)
async def test_import_errors_say_what_was_wrong(
    page: Page, necto: RunningNecto, name: str, data: bytes, reason: str
) -> None:
    before = len(await necto.store.list_sessions())
    await upload(page, name, data)
    await expect(page.locator("#dialog h3")).to_contain_text("failed", timeout=10_000)
    await expect(page.locator("#import-error")).to_contain_text(reason)
    assert len(await necto.store.list_sessions()) == before  # nothing left behind


async def test_an_import_where_every_entry_is_skipped_shows_the_reasons(
    page: Page, necto: RunningNecto, fresh_session: Session
) -> None:
    no_url = har_entry("")
    del no_url["request"]["url"]
    await upload(page, "broken.har", har(no_url))
    dialog = page.locator("#dialog")
    await expect(dialog).to_contain_text("request has no url", timeout=10_000)
    assert not (await page.locator("#dialog h3").inner_text()).startswith("Imported")
    # The page stays where it was rather than opening an empty session
    assert await page.locator("#session-select").input_value() == fresh_session.id


async def test_recording_state_has_one_meaning(page: Page, necto: RunningNecto, fresh_session: Session) -> None:
    other = await necto.store.create_session("Imported: an old capture")  # inactive, isRecording true
    try:
        await page.reload()
        await page.wait_for_selector("body[data-ready='1']")
        await page.select_option("#session-select", other.id)
        await expect(page.locator("#session-state")).to_have_text("not recording")
        await expect(page.locator("#btn-pause-session")).to_be_hidden()
        await expect(page.locator("#btn-activate-session")).to_be_visible()
        await page.select_option("#session-select", fresh_session.id)
        await expect(page.locator("#session-state")).to_have_text("recording")
        await expect(page.locator("#btn-pause-session")).to_have_text("Pause")
        await expect(page.locator("#btn-activate-session")).to_be_hidden()
    finally:
        await necto.store.delete_session(other.id)


async def test_the_session_count_keeps_up_with_the_list_during_live_capture(
    page: Page, necto: RunningNecto, upstream: Upstream
) -> None:
    import aiohttp

    async def traffic() -> None:
        async with aiohttp.ClientSession() as c:
            for i in range(80):
                async with c.get(f"{upstream.http_url}/hello?live={i}", proxy=necto.proxy_url) as r:
                    await r.read()
                await asyncio.sleep(0.03)

    task = asyncio.create_task(traffic())
    samples = []
    try:
        while not task.done():
            samples.append(
                await page.evaluate(
                    """() => [parseInt(document.getElementById('count').textContent),
                              parseInt(/\\((\\d+)\\)\\s*$/.exec(document.querySelector('#session-select option:checked').textContent)[1])]"""
                )
            )
            await asyncio.sleep(0.1)
    finally:
        await task
    await expect(page.locator("#count")).to_have_text("80 entries", timeout=10_000)
    moving = [s for s in samples if 0 < s[0] < 80]
    assert len(moving) >= 5, samples
    assert all(a == b for a, b in samples), f"list vs session drop-down: {samples}"
    await expect(page.locator("#session-select option:checked")).to_contain_text("(80)")


async def test_copy_as_curl_uses_compressed_when_the_request_accepted_it(
    page: Page, necto: RunningNecto, upstream: Upstream, tmp_path: Path
) -> None:
    await curl(necto, "--compressed", f"{upstream.http_url}/gzip")
    rows = page.locator(".row[data-id]")
    await expect(rows).to_have_count(1, timeout=10_000)
    await rows.first.click(button="right")
    command = await copied_by(page, page.get_by_role("button", name="Copy as cURL").click)
    assert "--compressed" in command
    code, out, err = await run_cmd("bash", "-c", command)
    assert code == 0, err
    assert out == b"compressible " * 200  # text, not gzip bytes


async def test_copy_as_curl_of_a_hostile_entry_is_inert_in_bash(
    page: Page, necto: RunningNecto, upstream: Upstream, fresh_session: Session, tmp_path: Path
) -> None:
    marks = [tmp_path / f"pwned-{i}" for i in range(4)]
    await necto.store.add_entries(
        [
            Entry(
                session_id=fresh_session.id, started=time.time(), method=f"GET;touch {marks[0]};#",
                url=f"{upstream.http_url}/hello?x=$(touch%20{marks[1]})",
                request_headers=[("X-Evil", f"'; touch {marks[2]}; echo '"), ("Cookie", f"a=`touch {marks[3]}`")],
                request_body=f"$(touch {marks[1]}) '\"; touch {marks[2]}".encode(), request_body_size=40,
                status=200, status_text="OK", timings=Timings(send=1, wait=1, receive=1), source="import",
            )
        ]
    )  # fmt: skip
    rows = page.locator(".row[data-id]")
    await expect(rows).to_have_count(1, timeout=10_000)
    await rows.first.click(button="right")
    command = await copied_by(page, page.get_by_role("button", name="Copy as cURL").click)
    code, _, err = await run_cmd("bash", "-c", command + " --max-time 5 -o /dev/null", timeout=30)
    assert not any(m.exists() for m in marks), (command, err)
    assert "touch" in command  # the text is all there, as data


async def test_no_favicon_404(browser: Browser, necto: RunningNecto, fresh_session: Session) -> None:
    statuses: list[tuple[int, str]] = []
    context = await browser.new_context()
    p = await context.new_page()
    p.on("response", lambda r: statuses.append((r.status, r.url)))
    try:
        await p.goto(necto.api_url + "/")
        await p.wait_for_selector("body[data-ready='1']")
        icon = await p.evaluate("async () => (await fetch('/favicon.ico')).status")
        declared = await p.evaluate("async () => (await fetch(document.querySelector('link[rel~=icon]').href)).status")
        assert (icon, declared) == (200, 200)
        assert [s for s in statuses if s[0] >= 400] == []
    finally:
        await context.close()


async def test_no_half_cut_row_sits_under_the_header_after_scrolling(
    page: Page, necto: RunningNecto, fresh_session: Session
) -> None:
    base = time.time()
    await necto.store.add_entries(
        [
            Entry(session_id=fresh_session.id, started=base + i / 10, method="GET", url=f"https://scroll.test/row/{i}",
                  status=200, status_text="OK", timings=Timings(send=1, wait=5, receive=1), source="import")
            for i in range(120)
        ]
    )  # fmt: skip
    await expect(page.locator("#count")).to_have_text("120 entries", timeout=10_000)
    vp = page.locator("#viewport")
    box = await vp.bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + 200, box["y"] + 200)

    async def settled_rows_clear_of_header() -> None:
        deadline = time.monotonic() + 3
        while True:
            # the header's lower edge (before the fix it sat above the scrolling viewport)
            header = await page.evaluate(
                """() => { const t = document.querySelector('#thead, .thead');
                           const vp = document.querySelector('#viewport').getBoundingClientRect();
                           const r = t.getBoundingClientRect();
                           return Math.max(vp.top, r.bottom <= vp.top + 1 ? vp.top : r.bottom); }"""
            )
            cut = await page.evaluate(
                """(edge) => [...document.querySelectorAll('.row')].map(r => r.getBoundingClientRect())
                              .filter(r => r.top < edge - 0.5 && r.bottom > edge + 0.5).length""",
                header,
            )
            if cut == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{cut} row(s) cut in half by the header's edge at y={header}")
            await asyncio.sleep(0.05)

    for delta in (37, 250, 13):
        await page.mouse.wheel(0, delta)
        await asyncio.sleep(0.3)
        await settled_rows_clear_of_header()
    await vp.evaluate("vp => { vp.scrollTop = vp.scrollHeight; }")
    await asyncio.sleep(0.3)
    await settled_rows_clear_of_header()
