"""Breakpoints on the page, in real Chromium: the Paused tray appears when curl's request is held,
the editor changes its JSON body and headers and the origin receives exactly that; F8, Shift+F8
and Ctrl+Enter; Mock prefilled from a held response; "Break on this" from the right-click menu;
the breakpoints list."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from helpers import Counting, RunningNecto, api, curl_fetch, poll_until, shot

try:
    from playwright.async_api import Page, expect
except ImportError:  # pragma: no cover - CI installs it
    pass

pytestmark = pytest.mark.usefixtures("clean_breakpoints")


async def add(http: aiohttp.ClientSession, necto: RunningNecto, body: dict[str, Any]) -> dict[str, Any]:
    status, bp = await api(http, "POST", necto.api_url + "/api/breakpoints", body)
    assert status == 201, bp
    return bp


async def open_held(page: Page, count: int = 1) -> None:
    """Wait for the tray to count `count` held exchanges, open the first in the editor."""
    await expect(page.locator("#paused-tray")).to_be_visible(timeout=15_000)
    await expect(page.locator("#paused-count")).to_have_text(str(count))
    await page.click("#paused-tray")
    await page.locator(".paused-item").first.click()
    await expect(page.locator("#bp-editor")).to_be_visible()


async def test_editor_changes_a_held_json_body_and_the_origin_receives_it(
    page: Page, necto: RunningNecto, http: aiohttp.ClientSession, counting: Counting
) -> None:
    await add(
        http, necto, {"name": "Page JSON", "type": "request", "match": {"path": "/echo/page-json", "method": "POST"}}
    )
    task = asyncio.create_task(curl_fetch(necto, counting.http_url + "/echo/page-json", "-H", "Content-Type: application/json",
                                          "--data-binary", '{"a": 1, "keep": "x"}'))  # fmt: skip
    await open_held(page)
    await expect(page.locator("#bp-editor h3")).to_contain_text("Held request: POST")
    body = page.locator("#bp-body")
    await expect(body).to_have_value('{"a": 1, "keep": "x"}')
    await page.click("#bp-body-pretty")
    await expect(body).to_have_value('{\n  "a": 1,\n  "keep": "x"\n}')
    await body.fill('{"a": 2, "keep": ')
    await expect(page.locator("#bp-body-status")).to_contain_text("invalid JSON")
    await body.fill('{"a": 2, "keep": "x", "edited": true}')
    await expect(page.locator("#bp-body-status")).to_have_text("valid JSON")
    await page.get_by_role("button", name="+ Add header").click()
    await page.locator("#bp-req-headers .hdr-name").last.fill("X-From-Page")
    await page.locator("#bp-req-headers .hdr-value").last.fill("yes")
    await shot(page, "breakpoint-editor")
    assert not task.done() and counting.hits("/echo/page-json") == 0
    await body.press("Control+Enter")
    got = await asyncio.wait_for(task, 15)
    assert got.status == 200
    reached = counting.last("/echo/page-json")
    assert json.loads(reached["body"]) == {"a": 2, "keep": "x", "edited": True}
    assert reached["headers"]["x-from-page"] == "yes" and reached["headers"]["content-type"] == "application/json"
    await expect(page.locator("#bp-editor")).to_be_hidden()
    await expect(page.locator("#paused-tray")).to_be_hidden()


async def test_keys_continue_and_abort_and_mock_starts_from_the_response(
    page: Page, necto: RunningNecto, http: aiohttp.ClientSession, counting: Counting
) -> None:
    await add(http, necto, {"name": "Keys", "type": "request", "match": {"path": "/echo/keys*"}})
    await add(http, necto, {"name": "Response", "type": "response", "match": {"path": "/json"}})
    task = asyncio.create_task(curl_fetch(necto, counting.http_url + "/echo/keys-f8"))
    await open_held(page)
    await page.keyboard.press("F8")
    assert (await asyncio.wait_for(task, 15)).status == 200

    task = asyncio.create_task(curl_fetch(necto, counting.http_url + "/echo/keys-abort"))
    await open_held(page)
    await page.keyboard.press("Shift+F8")
    got = await asyncio.wait_for(task, 15)
    assert (got.status, got.body) == (499, b"Request aborted by breakpoint")
    assert counting.hits("/echo/keys-abort") == 0

    task = asyncio.create_task(curl_fetch(necto, counting.http_url + "/json"))
    await open_held(page)
    await expect(page.locator("#bp-status")).to_have_value("200")
    await page.click("#bp-mock")
    await expect(page.locator("#bp-mock-status")).to_have_value("200")  # prefilled from the response
    assert json.loads(await page.locator("#bp-mock-body").input_value())["message"] == "hello"
    await page.locator("#bp-mock-status").fill("203")
    await page.click("#bp-mock-send")
    got = await asyncio.wait_for(task, 15)
    assert got.status == 203 and json.loads(got.body)["message"] == "hello"


async def test_break_on_this_holds_the_next_request_with_that_method_and_url(
    page: Page, necto: RunningNecto, http: aiohttp.ClientSession, counting: Counting
) -> None:
    url = counting.http_url + "/echo/break-on-this?x=1"
    assert (await curl_fetch(necto, url, "-X", "PUT", "--data", "1")).status == 200
    rows = page.locator(".row[data-id]")
    await expect(rows).to_have_count(1, timeout=10_000)
    await rows.first.click(button="right")
    await page.get_by_role("button", name="Break on this").click()
    await expect(page.locator("#btn-breakpoints")).to_have_text("Breakpoints (1)", timeout=10_000)
    _, listed = await api(http, "GET", necto.api_url + "/api/breakpoints")
    (bp,) = listed["breakpoints"]
    assert (bp["type"], bp["match"]) == ("request", {"method": "PUT", "url": url})

    assert (
        await curl_fetch(necto, counting.http_url + "/echo/break-on-this?x=2", "-X", "PUT")
    ).status == 200  # another URL
    task = asyncio.create_task(curl_fetch(necto, url, "-X", "PUT", "--data", "2"))
    await expect(page.locator("#paused-count")).to_have_text("1", timeout=15_000)
    await page.click("#paused-tray")
    await page.click("#paused-continue-all")
    assert (await asyncio.wait_for(task, 15)).status == 200

    await page.click("#btn-breakpoints")
    await page.locator(f"#bp-manager tr[data-bp='{bp['id']}'] input[type=checkbox]").uncheck()

    async def disabled() -> bool:
        _, got = await api(http, "GET", f"{necto.api_url}/api/breakpoints/{bp['id']}")
        return got["enabled"] is False

    await poll_until(disabled, "the breakpoint disabled from the page")
    await expect(page.locator("#btn-breakpoints")).to_have_text("Breakpoints (0)")


async def test_a_click_on_a_held_exchange_survives_its_countdown_ticking(
    page: Page, necto: RunningNecto, http: aiohttp.ClientSession, counting: Counting
) -> None:
    """The open Paused list updates each held exchange's countdown every second: a press before
    a tick and the release after it is still a click on that exchange."""
    await add(
        http, necto, {"name": "Ticking", "type": "request", "match": {"path": "/echo/ticking"}, "timeout": 120_000}
    )
    task = asyncio.create_task(curl_fetch(necto, counting.http_url + "/echo/ticking"))
    await expect(page.locator("#paused-count")).to_have_text("1", timeout=15_000)
    await page.click("#paused-tray")
    item = page.locator(".paused-item").first
    left = item.locator(".paused-left")
    before = await left.inner_text()
    assert before.startswith("continues in "), before
    box = await item.bounding_box()
    assert box
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.mouse.down()
    await expect(left).not_to_have_text(before)  # a tick between the press and the release
    await page.mouse.up()
    await expect(page.locator("#bp-editor h3")).to_contain_text("/echo/ticking")
    await page.keyboard.press("F8")
    assert (await asyncio.wait_for(task, 15)).status == 200


async def test_a_newly_held_exchange_does_not_move_the_one_under_the_pointer(
    page: Page, necto: RunningNecto, http: aiohttp.ClientSession, counting: Counting
) -> None:
    """The open Paused list grows upwards from the tray: a second exchange held while the pointer
    is on the first goes in above it, so the first stays where it was and the click opens it."""
    await add(http, necto, {"name": "Both", "type": "request", "match": {"path": "/echo/stay*"}, "timeout": 120_000})
    first = asyncio.create_task(curl_fetch(necto, counting.http_url + "/echo/stay-1"))
    await expect(page.locator("#paused-count")).to_have_text("1", timeout=15_000)
    await page.click("#paused-tray")
    item = page.locator(".paused-item", has_text="/echo/stay-1")
    box = await item.bounding_box()
    assert box
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    second = asyncio.create_task(curl_fetch(necto, counting.http_url + "/echo/stay-2"))
    await expect(page.locator(".paused-item")).to_have_count(2, timeout=15_000)
    assert await page.locator(".paused-item").first.inner_text() != await item.inner_text()  # newest first
    assert await item.bounding_box() == box  # still under the pointer
    await page.mouse.down()
    await page.mouse.up()
    await expect(page.locator("#bp-editor h3")).to_contain_text("/echo/stay-1")
    await page.keyboard.press("F8")
    assert (await asyncio.wait_for(first, 15)).status == 200
    await expect(page.locator("#paused-count")).to_have_text("1")
    await page.click("#paused-tray")
    await page.locator(".paused-item", has_text="/echo/stay-2").click()
    await expect(page.locator("#bp-editor h3")).to_contain_text("/echo/stay-2")
    await page.keyboard.press("F8")
    assert (await asyncio.wait_for(second, 15)).status == 200
