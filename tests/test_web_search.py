"""The page's side of issue 15, in Chromium: the filter box speaks the filter language (a JSON
needle in a br-encoded body, live entries, a mistake pointed at), the global search, notes with
colour stripes, the body view picker, the GraphQL column and the export of a filtered view."""

from __future__ import annotations

import json
import re
from pathlib import Path

from helpers import RunningNecto, Upstream, curl, shot
from necto.model import Session

try:
    from playwright.async_api import Page, expect
except ImportError:  # pragma: no cover - CI installs it
    pass


def has_class(name: str) -> re.Pattern[str]:
    return re.compile(rf"(^|\s){re.escape(name)}(\s|$)")


async def test_the_filter_box_finds_a_json_needle_and_points_at_mistakes(
    page: Page, necto: RunningNecto, upstream: Upstream
) -> None:
    for path in ("/orders/8812?enc=br", "/orders/8811?enc=gzip", "/status/500"):
        await curl(necto, "--compressed", upstream.http_url + path)
    rows = page.locator(".row[data-id]")
    await expect(rows).to_have_count(3, timeout=10_000)
    await page.fill("#filter-text", 'body:"order_id=8812"')
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator(".c-path")).to_have_text("/orders/8812?enc=br")
    assert "q=body" in page.url
    # live entries join the filtered list when the server says they match
    await curl(necto, "--compressed", upstream.http_url + "/orders/8812?enc=gzip")
    await curl(necto, "--compressed", upstream.http_url + "/orders/1")
    await expect(rows).to_have_count(2, timeout=10_000)
    await expect(rows.nth(1).locator(".c-path")).to_have_text("/orders/8812?enc=gzip")

    await page.fill("#filter-text", "status:5xx stauts:1")
    error = page.locator("#filter-error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("did you mean status?")
    await expect(error.locator("mark")).to_have_text("stauts:1")
    await expect(page.locator("#filter-text")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#empty h2")).to_have_text("The filter has a mistake")
    await shot(page, "filter-error")
    await page.fill("#filter-text", "status:5xx")
    await expect(rows).to_have_count(1)
    await expect(error).to_be_hidden()
    await page.click("#btn-filter-help")
    await expect(page.locator("#filter-syntax")).to_contain_text("graphql:GetUser")


async def test_global_search_opens_an_entry_in_another_session(
    page: Page, necto: RunningNecto, upstream: Upstream, fresh_session: Session
) -> None:
    other = await necto.store.create_session("search elsewhere", activate=True)
    try:
        await curl(necto, "--compressed", upstream.http_url + "/orders/6061?enc=br")
        await necto.store.flush()
        await page.keyboard.press("Control+Shift+F")
        await page.fill("#search-q", "ORDER_ID=6061")
        await page.keyboard.press("Enter")
        hits = page.locator("#search-results tr.search-hit")
        await expect(hits).to_have_count(1, timeout=10_000)
        await expect(hits.first).to_contain_text("search elsewhere")
        await hits.first.click()
        await expect(page.locator("#session-select")).to_have_value(other.id)
        await expect(page.locator("#detail .detail-head h3")).to_contain_text("/orders/6061?enc=br")
    finally:
        await necto.store.delete_session(other.id)
        await necto.store.activate_session(fresh_session.id)


async def test_notes_in_the_detail_and_the_list(page: Page, necto: RunningNecto, upstream: Upstream) -> None:
    await curl(necto, upstream.http_url + "/status/503")
    row = page.locator(".row[data-id]").first
    await expect(row).to_be_visible(timeout=10_000)
    await row.click()
    await page.get_by_role("tab", name="Notes").click()
    await page.fill(".note-editor .note-content", "flaky: 503 on Mondays")
    await page.select_option(".note-editor .note-color", "red")
    await page.fill(".note-editor .note-tags", "bug, infra")
    await page.click(".note-editor .note-save")
    await expect(page.locator("#notes .note")).to_have_count(1)
    await expect(page.locator("#notes .note-tag")).to_have_text(["bug", "infra"])
    await expect(row).to_have_class(has_class("ann-red"), timeout=10_000)
    await expect(row.locator(".mk-note")).to_have_attribute("title", "Note: flaky: 503 on Mondays")
    await shot(page, "notes")
    await page.click("#notes .note-edit")
    await page.select_option("#notes .note-color", "green")
    await page.click("#notes .note-save")
    await expect(row).to_have_class(has_class("ann-green"), timeout=10_000)
    await page.fill("#filter-text", "color:green tag:infra")
    await expect(page.locator(".row[data-id]")).to_have_count(1)
    await page.fill("#filter-text", "")
    await row.click()
    await page.get_by_role("tab", name="Notes").click()
    await page.click("#notes .note-delete")
    await expect(page.locator("#notes .note")).to_have_count(0)
    await expect(row.locator(".mk-note")).to_have_count(0, timeout=10_000)


async def test_body_views_and_the_graphql_column(
    page: Page, necto: RunningNecto, upstream: Upstream, tmp_path: Path
) -> None:
    body = '{"operationName":"GetUser","query":"query GetUser {\\n  me { id }\\n}"}'
    await curl(necto, "-H", "Content-Type: application/json", "--data-binary", body, upstream.http_url + "/graphql")
    packed = tmp_path / "body.msgpack"
    packed.write_bytes(b"\x81\xa4user\xa3ann")  # {"user": "ann"}
    await curl(
        necto, "-H", "Content-Type: application/msgpack", "--data-binary", f"@{packed}", upstream.http_url + "/echo"
    )
    rows = page.locator(".row[data-id]")
    await expect(rows).to_have_count(2, timeout=10_000)
    await expect(rows.first.locator(".c-operation")).to_have_text("GetUser")
    await rows.nth(1).click()
    await page.get_by_role("tab", name="Response").click()
    await expect(page.locator("#body-response .view-note")).to_contain_text("MsgPack view")
    await expect(page.locator("#body-response pre")).to_contain_text("user: ann")
    await page.select_option("#view-response", "hex")
    await expect(page.locator("#body-response pre")).to_contain_text("81 a4 75 73")
    await rows.first.click()
    await page.get_by_role("tab", name="Request").click()
    await page.select_option("#view-request", "graphql")
    await expect(page.locator("#body-request pre")).to_contain_text("query GetUser")
    await page.select_option("#view-request", "auto")  # the page's own JSON tree again
    await expect(page.locator("#body-request .json")).to_be_visible()


async def test_export_of_the_filtered_view(page: Page, necto: RunningNecto, upstream: Upstream) -> None:
    for code in ("200", "500", "503", "404"):
        await curl(necto, f"{upstream.http_url}/status/{code}")
    await expect(page.locator(".row[data-id]")).to_have_count(4, timeout=10_000)
    await page.fill("#filter-text", "path:/status/*")
    await page.select_option("#filter-status", "5xx")
    await expect(page.locator(".row[data-id]")).to_have_count(2)
    await page.click("#btn-export")
    async with page.expect_download() as info:
        await page.click("#export-filtered")
    download = await info.value
    har = json.loads((await download.path()).read_bytes())
    assert sorted(e["response"]["status"] for e in har["log"]["entries"]) == [500, 503]


async def test_a_filter_waiting_for_the_index_says_so(page: Page, necto: RunningNecto, upstream: Upstream) -> None:
    """A text filter over entries the background indexer has not reached first indexes them:
    meanwhile the list says what it is waiting for, not silently the old view."""
    rows = page.locator(".row[data-id]")
    note = page.locator("#scan-note")
    async with necto.store._index_lock:  # nothing gets indexed until released: a backlog
        for n in (7001, 7002, 7003):
            await curl(necto, "--compressed", f"{upstream.http_url}/orders/{n}?enc=gzip")
        await expect(rows).to_have_count(3, timeout=10_000)
        await page.fill("#filter-text", 'body:"order_id=7002"')
        await expect(note).to_have_text(re.compile(r"indexing [1-9]\d* new entr(y|ies) for the filter…"))
        await expect(rows).to_have_count(3)  # the old view, still, while the filter waits
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator(".c-path")).to_have_text("/orders/7002?enc=gzip")
    await expect(note).to_have_text("")
