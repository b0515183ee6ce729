"""The page's side of rules and network conditions (issue 13) and of connection entries
(issue 16): the Rules panel, the rule editor with the API's messages beside their fields,
"create rule from this entry", row marks and the detail's applied rules, the network-profile
picker and its banner, tunnel and TLS-failure rows, the empty state. Real Necto, real origins
(one that counts its hits), real curl and Chromium."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from helpers import (
    Counting,
    RunningNecto,
    TestPki,
    Upstream,
    curl,
    curl_fetch,
    open_page,
    poll_until,
    run_cmd,
    shot,
)
from necto.model import Session

pytestmark = pytest.mark.usefixtures("clean_rules")  # before the page opens

try:
    from playwright.async_api import Browser, Page, expect
except ImportError:  # pragma: no cover - CI installs it
    pass


async def call(necto: RunningNecto, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as c:
        async with c.request(method, necto.api_url + path, json=body) as r:
            return r.status, await r.json(content_type=None)


async def new_rule(page: Page) -> None:
    if not await page.locator("#rules-panel").is_visible():
        await page.click("#btn-rules")
    await page.click("#btn-new-rule")
    await expect(page.locator("#rule-form")).to_be_visible()


def field(page: Page, key: str) -> Any:
    return page.locator(f'#rule-form .field[data-field="{key}"]')


async def fill(page: Page, key: str, value: str) -> None:
    await field(page, key).locator("input, textarea").first.fill(value)


# ---------------------------------------------------------------- the panel and the editor
async def test_mock_rule_made_in_the_panel_answers_without_the_origin(
    page: Page, necto: RunningNecto, counting: Counting
) -> None:
    await page.keyboard.press("r")
    await expect(page.locator("#rules-empty")).to_contain_text("No rules yet")
    await new_rule(page)
    await fill(page, "name", "Panel mock")
    await fill(page, "match.url", f"{counting.http_url}/panel/*")
    await fill(page, "match.method", "GET")
    await page.select_option('#rule-form select[name="action"]', "mock")
    await fill(page, "config.status", "201")
    await fill(page, "config.headers", "Content-Type: application/json\nX-From: panel")
    await fill(page, "config.body", '{"mocked": true}')
    await page.click("#btn-save-rule")
    rows = page.locator("#rule-list .rule-row")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Panel mock")
    await expect(page.locator("#rules-count")).to_have_text("1")  # the toolbar says rules are on

    got = await curl_fetch(necto, f"{counting.http_url}/panel/x")
    assert (got.status, got.body, got.headers["x-from"]) == (201, b'{"mocked": true}', "panel")
    assert counting.hits() == 0  # answered by the rule: the origin never saw it

    await page.keyboard.press("Escape")
    row = page.locator(".row[data-id]")
    await expect(row).to_have_count(1, timeout=10_000)
    await expect(row.locator(".mk-mock")).to_have_attribute("title", "Mocked by a rule: Panel mock (mock)")
    await row.click()
    await expect(page.locator("#rule-note")).to_contain_text(
        "Answered by a rule, the origin was not contacted: Panel mock (mock)"
    )
    await page.get_by_role("tab", name="Rules").click()
    await expect(page.locator("#applied-rules")).to_contain_text("Panel mock")
    await page.locator("#applied-rules .rule-link").click()
    await expect(page.locator("#rule-form-title")).to_have_text("Edit rule: Panel mock")
    await expect(field(page, "config.body").locator("textarea")).to_have_value('{"mocked": true}')


async def test_the_apis_400_is_shown_beside_the_field_it_names(
    page: Page, necto: RunningNecto, counting: Counting, upstream: Upstream
) -> None:
    await new_rule(page)
    await fill(page, "name", "Broken")
    await fill(page, "match.url", "/(unclosed/")
    await page.click("#btn-save-rule")
    url_error = field(page, "match.url").locator(".field-error")
    await expect(url_error).to_contain_text("match.url: invalid regular expression")
    await expect(field(page, "match.url")).to_have_class("field has-error")
    assert await necto.store.list_rules() == []  # nothing half-saved

    # A config field: map-remote without its target.
    await fill(page, "match.url", f"{counting.http_url}/hello")
    await page.select_option('#rule-form select[name="action"]', "map-remote")
    await page.click("#btn-save-rule")
    await expect(url_error).to_be_hidden()
    await expect(field(page, "config.targetUrl").locator(".field-error")).to_have_text(
        "config.targetUrl is required for map-remote"
    )
    await shot(page, "rules-form-error")

    await fill(page, "config.targetUrl", upstream.http_url)
    await page.click("#btn-save-rule")
    await expect(page.locator("#rule-list .rule-row")).to_have_count(1)
    [rule] = await necto.store.list_rules()
    assert rule.action == "map-remote" and rule.config == {
        "targetUrl": upstream.http_url,
        "preservePath": True,
        "preserveQuery": True,
    }
    got = await curl_fetch(necto, f"{counting.http_url}/hello")
    assert (got.body, counting.hits()) == (b"hello world", 0)  # the other origin answered


async def answer_rules(necto: RunningNecto, url: str) -> dict[str, str]:
    """Mock rules "Answer A" then "Answer B" for `url`, answering "A" and "B"; their ids by name."""
    ids = {}
    for name in ("A", "B"):
        status, rule = await call(necto, "POST", "/api/rules", {
            "name": f"Answer {name}", "match": {"url": url}, "action": "mock", "config": {"body": name},
        })  # fmt: skip
        assert status == 201
        ids[name] = rule["id"]
    return ids


async def test_toggle_and_drag_reorder_apply_to_the_next_request(
    page: Page, necto: RunningNecto, counting: Counting
) -> None:
    url = f"{counting.http_url}/order/x"
    ids = await answer_rules(necto, f"{counting.http_url}/order/*")

    async def answer() -> bytes:
        got = await curl_fetch(necto, url)
        return got.body

    assert await answer() == b"A"
    await page.click("#btn-rules")
    rows = page.locator("#rule-list .rule-row")
    await expect(rows).to_have_count(2)  # the rules made through the API are listed
    await page.locator(f'.rule-row[data-id="{ids["B"]}"] .grip').drag_to(
        page.locator(f'.rule-row[data-id="{ids["A"]}"]')
    )
    await expect(rows.nth(0)).to_have_attribute("data-id", ids["B"])
    await poll_until(lambda: _order(necto, ids), "the new order stored")
    assert await answer() == b"B"

    await page.locator(f'.rule-row[data-id="{ids["B"]}"] .rule-toggle').uncheck()
    await expect(page.locator(f'.rule-row[data-id="{ids["B"]}"]')).to_have_class("rule-row off")
    await poll_until(lambda: _disabled(necto, ids["B"]), "rule B stored as disabled")
    assert await answer() == b"A"
    await expect(page.locator("#rules-count")).to_have_text("1")

    # keyboard: Alt+Down moves the focused rule down
    await page.locator(f'.rule-row[data-id="{ids["B"]}"]').focus()
    await page.keyboard.press("Alt+ArrowDown")
    await expect(rows.nth(1)).to_have_attribute("data-id", ids["B"])

    await page.locator(f'.rule-row[data-id="{ids["A"]}"] .rule-toggle').uncheck()
    await poll_until(lambda: _disabled(necto, ids["A"]), "rule A stored as disabled")
    assert await answer() == b"upstream /order/x"
    assert counting.hits("/order/x") == 1  # only with both rules off did the origin see it

    await page.locator(f'.rule-row[data-id="{ids["A"]}"] button', has_text="Delete").click()  # confirmed
    await expect(rows).to_have_count(1)
    assert [r.id for r in await necto.store.list_rules()] == [ids["B"]]


async def _disabled(necto: RunningNecto, rule_id: str) -> bool:
    return any(r.id == rule_id and not r.enabled for r in await necto.store.list_rules())


async def test_a_change_made_elsewhere_during_a_drag_does_not_lose_the_drag(
    page: Page, necto: RunningNecto, counting: Counting
) -> None:
    """The list re-renders on `event: rules`; while a row is held it waits for the drop."""
    ids = await answer_rules(necto, f"{counting.http_url}/held/*")
    await page.click("#btn-rules")
    rows = page.locator("#rule-list .rule-row")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_have_attribute("data-id", ids["A"])
    grip = await page.locator(f'.rule-row[data-id="{ids["B"]}"] .grip').bounding_box()
    target = await page.locator(f'.rule-row[data-id="{ids["A"]}"]').bounding_box()
    assert grip and target
    await page.mouse.move(grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2)
    await page.mouse.down()
    # another client renames A while B is held: the page reloads the rules mid-drag
    reloaded = lambda r: r.url.endswith("/api/rules") and r.request.method == "GET"  # noqa: E731
    async with page.expect_response(reloaded):
        status, _ = await call(necto, "PUT", f"/api/rules/{ids['A']}", {"name": "Renamed A"})
        assert status == 200
    await page.evaluate("() => new Promise((r) => setTimeout(r, 50))")  # the reload's rendering ran
    held = page.locator(f'.rule-row.dragging[data-id="{ids["B"]}"]')
    await expect(held).to_have_count(1)  # still the row under the pointer, not a re-render
    await page.mouse.move(target["x"] + target["width"] / 2, target["y"] + target["height"] / 2, steps=4)
    await page.mouse.up()
    await expect(rows.nth(0)).to_have_attribute("data-id", ids["B"])
    await poll_until(lambda: _order(necto, ids), "the new order stored")
    await expect(page.locator(f'.rule-row[data-id="{ids["A"]}"]')).to_contain_text("Renamed A")  # the held reload shown

    # a live update keeps the keyboard's place: B is renamed elsewhere, then Alt+↓ still moves B
    await page.locator(f'.rule-row[data-id="{ids["B"]}"]').focus()
    status, _ = await call(necto, "PUT", f"/api/rules/{ids['B']}", {"name": "Renamed B"})
    assert status == 200
    await expect(page.locator(f'.rule-row[data-id="{ids["B"]}"]')).to_contain_text("Renamed B")
    await page.keyboard.press("Alt+ArrowDown")
    await expect(rows.nth(1)).to_have_attribute("data-id", ids["B"])


async def _order(necto: RunningNecto, ids: dict[str, str]) -> bool:
    return [r.id for r in await necto.store.list_rules()] == [ids["B"], ids["A"]]


async def test_rules_list_follows_changes_made_elsewhere(page: Page, necto: RunningNecto, counting: Counting) -> None:
    await page.click("#btn-rules")
    await expect(page.locator("#rules-empty")).to_be_visible()
    status, rule = await call(
        necto, "POST", "/api/rules", {"name": "From the CLI", "match": {"host": "cli.test"}, "action": "block"}
    )
    assert status == 201
    await expect(page.locator("#rule-list .rule-row")).to_have_count(1, timeout=10_000)  # event: rules
    await page.locator("#rule-list .rule-row button", has_text="Edit").click()
    await call(necto, "DELETE", f"/api/rules/{rule['id']}")
    await expect(page.locator("#rule-stale")).to_contain_text("deleted meanwhile", timeout=10_000)


# ---------------------------------------------------------------- rules made from entries
async def test_create_rules_from_entries(
    page: Page, necto: RunningNecto, counting: Counting, upstream: Upstream
) -> None:
    recorded = await curl_fetch(necto, f"{counting.http_url}/json")
    await curl(necto, f"{counting.http_url}/counter/block-me")
    await curl(necto, f"{counting.http_url}/hello")
    rows = page.locator(".row[data-id]")
    await expect(rows).to_have_count(3, timeout=10_000)

    # from the entry detail: mock with the recorded response
    await rows.nth(0).click()
    await page.click("#btn-create-rule")
    await page.click('#create-rule-menu [data-create-rule="mock"]')
    await expect(page.locator("#rule-form-title")).to_have_text("New rule from this entry")
    await expect(field(page, "config.body").locator("textarea")).to_have_value(recorded.body.decode())
    await expect(field(page, "match.url").locator("input")).to_have_value(f"{counting.http_url}/json")
    await shot(page, "rules-from-entry")
    await page.click("#btn-save-rule")
    await expect(page.locator("#rule-list .rule-row")).to_have_count(1)

    # from the right-click menu: block, and map remote
    await page.keyboard.press("Escape")
    await rows.nth(1).click(button="right")
    await page.click('#popup [data-create-rule="block"]')
    await expect(field(page, "match.url").locator("input")).to_have_value(f"{counting.http_url}/counter/block-me")
    await page.click("#btn-save-rule")
    await page.keyboard.press("Escape")
    await rows.nth(2).click(button="right")
    await page.click('#popup [data-create-rule="map-remote"]')
    host = counting.http_url.removeprefix("http://")
    await expect(field(page, "match.host").locator("input")).to_have_value(host)
    await expect(page.locator("#rule-form .field[data-field='config.targetUrl'] input")).to_be_focused()
    await fill(page, "config.targetUrl", upstream.http_url)
    await page.click("#btn-save-rule")
    await expect(page.locator("#rule-list .rule-row")).to_have_count(3)

    counting.reset()
    mocked = await curl_fetch(necto, f"{counting.http_url}/json")
    assert (mocked.status, mocked.body) == (200, recorded.body)
    assert mocked.headers["content-type"] == recorded.headers["content-type"] and mocked.headers["x-origin"] == "yes"
    blocked = await curl_fetch(necto, f"{counting.http_url}/counter/block-me")
    assert (blocked.status, blocked.body) == (403, b"Blocked by Necto")
    mapped = await curl_fetch(necto, f"{counting.http_url}/hello")
    assert (mapped.status, mapped.body) == (200, b"hello world")  # the other origin's answer
    assert counting.hits() == 0

    # the mapped entry: marked as changed by a rule, its detail says what went upstream
    await page.keyboard.press("Escape")
    await expect(rows).to_have_count(6, timeout=10_000)
    await expect(rows.nth(3).locator(".mk-mock")).to_be_visible()
    await expect(rows.nth(5).locator(".mk-rule")).to_have_attribute(
        "title", f"Changed by rules: Map {host} elsewhere (map-remote)"
    )
    await rows.nth(5).click()
    await page.get_by_role("tab", name="Rules").click()
    await expect(page.locator("#detail")).to_contain_text(f"{upstream.http_url}/hello")  # the upstream request's URL


# ---------------------------------------------------------------- network conditions
async def test_slow_3g_is_shown_while_on_and_slows_the_next_request(
    page: Page, necto: RunningNecto, counting: Counting
) -> None:
    url = f"{counting.http_url}/json"
    baseline = min([(await curl_fetch(necto, url)).seconds for _ in range(2)])
    banner = page.locator("#network-banner")
    await expect(banner).to_be_hidden()
    await page.click("#btn-network")
    await expect(page.locator('#network-items [data-profile="preset-4"]')).to_contain_text("Slow 3G")
    await page.click('#network-items [data-profile="preset-4"]')
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("Network conditions on: Slow 3G")
    await expect(page.locator("#btn-network")).to_have_class("net-on")
    assert "Slow 3G" in await page.title()
    slow = (await curl_fetch(necto, url)).seconds
    assert slow > baseline + 0.25, (baseline, slow)  # 400 ± 100 ms of latency (and 97 KB/s)
    rows = page.locator(".row[data-id]")
    await expect(rows).to_have_count(3, timeout=10_000)
    await rows.nth(2).click()
    await page.get_by_role("tab", name="Conditions").click()  # what held the exchange, in its detail
    await expect(page.locator("#detail")).to_contain_text("Network conditions")
    await expect(page.locator("#detail table").first).to_contain_text("ProfileSlow 3G")
    await shot(page, "network-slow-3g")

    # persistent: a reload still says so; live: turned off elsewhere, the page follows
    await page.reload()
    await page.wait_for_selector("body[data-ready='1']")
    await expect(page.locator("#network-banner")).to_contain_text("Slow 3G")
    await call(necto, "POST", "/api/network/deactivate")
    await expect(page.locator("#network-banner")).to_be_hidden(timeout=10_000)
    await expect(page.locator("#btn-network")).to_have_text("Network ▾")


async def test_custom_network_profile_made_in_the_page(page: Page, necto: RunningNecto) -> None:
    await page.click("#btn-network")
    await expect(page.locator("#network-items")).to_contain_text("Slow 3G")
    await page.click("#btn-new-profile")
    await page.click("#profile-form button[type=submit]")
    await expect(page.locator("#profile-error")).to_have_text("Profile name is required")
    await page.fill("#profile-form input[name=name]", "Hotel Wi-Fi")
    await page.fill("#profile-form input[name=downloadBandwidth]", "50")
    await page.fill("#profile-form input[name=latency]", "250")
    await page.click("#profile-form button[type=submit]")
    await expect(page.locator("#dialog")).to_be_hidden()
    profiles = (await call(necto, "GET", "/api/network/profiles"))[1]["profiles"]
    custom = [p for p in profiles if p["name"] == "Hotel Wi-Fi"]  # other tests may leave profiles of their own
    assert [(p["name"], p["downloadBandwidth"], p["latency"]) for p in custom] == [("Hotel Wi-Fi", 50 * 1024, 250)]
    try:
        await page.click("#btn-network")
        item = page.locator(f'#network-items [data-profile="{custom[0]["id"]}"]')
        await expect(item).to_contain_text("↓ 50 KB/s · ↑ unlimited · 250 ms latency")
        await item.click()
        await expect(page.locator("#network-active-name")).to_have_text("Hotel Wi-Fi")
        await page.click("#btn-network-off")
        await expect(page.locator("#network-banner")).to_be_hidden()

        async def off() -> bool:
            return (await call(necto, "GET", "/api/network/active"))[1] == {"activeProfile": None}

        await poll_until(off, "no active network profile after Turn off")
    finally:
        await call(necto, "DELETE", f"/api/network/profiles/{custom[0]['id']}")


async def test_a_click_in_the_network_menu_survives_a_reload_that_changed_nothing(
    page: Page, necto: RunningNecto
) -> None:
    """The menu reloads on each `event: network`; one that changed nothing keeps its items, so
    a press, a reload, then the release still picks the profile."""
    await page.click("#btn-network")
    item = page.locator('#network-items [data-profile="preset-4"]')
    await expect(item).to_contain_text("Slow 3G")
    box = await item.bounding_box()
    assert box
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.mouse.down()
    reloaded = lambda r: r.url.endswith("/api/network/profiles") and r.request.method == "GET"  # noqa: E731
    async with page.expect_response(reloaded):
        await call(necto, "POST", "/api/network/deactivate")  # already off: an event, no change
    await page.evaluate("() => new Promise((r) => setTimeout(r, 50))")  # the reload's rendering ran
    await page.mouse.up()
    await expect(page.locator("#network-active-name")).to_have_text("Slow 3G")


# ---------------------------------------------------------------- connection entries, empty state
async def test_tunnel_and_tls_failed_rows_are_distinct(
    page: Page, necto: RunningNecto, counting: Counting, pki: TestPki
) -> None:
    await curl(necto, f"{counting.http_url}/hello")
    # no --cacert: curl does not trust Necto's CA and breaks off the handshake
    code, _, _ = await run_cmd("curl", "-sS", "-x", necto.proxy_url, f"{counting.https_url}/hello")
    assert code == 60
    status, added = await call(necto, "POST", "/api/ssl-passthrough", {"domain": "localhost"})
    assert status == 201
    try:
        code, out, err = await run_cmd(
            "curl", "-sS", "-x", necto.proxy_url, "--cacert", str(pki.ca_pem), f"{counting.https_url}/hello"
        )
        assert (code, out) == (0, b"upstream /hello"), err
    finally:
        await call(necto, "DELETE", f"/api/ssl-passthrough/{added['id']}")
    rows = page.locator(".row[data-id]")
    await expect(rows).to_have_count(3, timeout=10_000)
    failed = page.locator(".row.k-tls-failed")
    tunnel = page.locator(".row.k-tunnel")
    await expect(failed).to_have_count(1)
    await expect(tunnel).to_have_count(1)
    await expect(failed.locator(".c-path")).to_have_text(
        "client refused Necto's certificate (unknown ca) — trust the CA or add the host to SSL passthrough"
    )
    await expect(failed.locator(".c-status")).to_have_text("TLS ✕")
    await expect(tunnel.locator(".c-path")).to_contain_text("tunnel, not decrypted · ↑ ")
    await expect(tunnel.locator(".c-type")).to_have_text("tunnel")
    colors = await page.evaluate(
        "[...document.querySelectorAll('.row[data-id]')].map((r) => getComputedStyle(r).backgroundImage + '|' + getComputedStyle(r).backgroundColor)"
    )
    assert len(set(colors)) == 3  # three looks: plain, tunnel, TLS failure
    await expect(page.locator("#tls-note")).to_have_text("⚠ 1 TLS failure")  # "⚠ 1" in narrow windows

    await failed.click()
    note = page.locator("#kind-note")
    await expect(note).to_contain_text("Client refused Necto's certificate (unknown ca)")
    await shot(page, "tls-failed-detail")
    await page.click("#btn-add-passthrough")
    try:
        await poll_until(lambda: _passthrough_has(necto, "localhost"), "localhost added to SSL passthrough")
    finally:
        for d in (await call(necto, "GET", "/api/ssl-passthrough"))[1]["domains"]:
            await call(necto, "DELETE", f"/api/ssl-passthrough/{d['id']}")
    await tunnel.click()
    await expect(note).to_contain_text("Tunnel: passed through untouched (SSL passthrough)")
    await page.locator("#tls-note").click()
    await expect(page.locator("#dialog")).to_contain_text("Clients refused Necto's certificate")


async def _passthrough_has(necto: RunningNecto, domain: str) -> bool:
    return any(d["domain"] == domain for d in (await call(necto, "GET", "/api/ssl-passthrough"))[1]["domains"])


async def test_empty_state_says_how_to_point_clients_at_the_proxy(page: Page, necto: RunningNecto) -> None:
    proxy = necto.proxy_url
    help_ = page.locator("#setup-help")
    await expect(help_).to_contain_text(f'chromium --proxy-server={proxy} --proxy-bypass-list="<-loopback>"')
    await expect(help_).to_contain_text("network.proxy.allow_hijacking_localhost")
    await expect(help_).to_contain_text("--mode reverse:http://localhost:3000@8081")
    await expect(help_).to_contain_text("--mode socks5@1080")
    await expect(page.locator("#tls-note")).to_be_hidden()
    await shot(page, "empty-state")


# ---------------------------------------------------------------- screenshots to look at
async def test_screenshots(
    browser: Browser, necto: RunningNecto, counting: Counting, pki: TestPki, fresh_session: Session, clean_rules: None
) -> None:
    """The list with rule marks, a tunnel and a TLS failure, the Rules panel, the editor, a
    rule-touched entry and the network banner at 1440x900 and 1024x768, light and dark, into
    test-artifacts/."""
    rules = [
        {"name": "Mock the login", "match": {"method": "POST", "url": f"{counting.http_url}/login"}, "action": "mock",
         "config": {"status": 200, "headers": {"Content-Type": "application/json"}, "body": '{"token": "t"}'}},
        {"name": "CORS for everything", "match": {}, "action": "modify-response",
         "config": {"setHeaders": {"Access-Control-Allow-Origin": "*"}}},
        {"name": "Slow images", "match": {"path": "*.png"}, "action": "throttle", "config": {"bytesPerSecond": 20480, "latency": 100}},
        {"name": "No analytics", "enabled": False, "match": {"host": "*.analytics.example"}, "action": "block"},
        {"name": "Staging API", "match": {"host": "api.example.com"}, "action": "map-remote", "config": {"targetUrl": "https://staging.example.com"}},
    ]  # fmt: skip
    for r in rules:
        assert (await call(necto, "POST", "/api/rules", r))[0] == 201
    await curl(necto, "-X", "POST", f"{counting.http_url}/login")
    await call(necto, "POST", "/api/network/activate/preset-4")
    await curl(necto, f"{counting.http_url}/json")
    await run_cmd("curl", "-sS", "-x", necto.proxy_url, f"{counting.https_url}/hello")  # refuses Necto's CA
    status, added = await call(necto, "POST", "/api/ssl-passthrough", {"domain": "localhost"})
    try:
        await run_cmd("curl", "-sS", "-x", necto.proxy_url, "--cacert", str(pki.ca_pem), f"{counting.https_url}/hello")
    finally:
        await call(necto, "DELETE", f"/api/ssl-passthrough/{added['id']}")
    p = await open_page(browser, necto.api_url + "/")
    try:
        rows = p.locator(".row[data-id]")
        await expect(rows).to_have_count(4, timeout=10_000)
        for width, height in ((1440, 900), (1024, 768)):
            await p.set_viewport_size({"width": width, "height": height})
            for scheme in ("light", "dark"):
                await p.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
                await p.keyboard.press("Escape")
                await expect(p.locator("#detail")).to_be_hidden()
                await shot(p, f"rules-list-{width}-{scheme}")
                await rows.nth(1).click()
                await p.get_by_role("tab", name="Rules").click()
                await shot(p, f"rules-entry-{width}-{scheme}")
                await p.click("#btn-rules")
                await expect(p.locator("#rule-list .rule-row")).to_have_count(5)
                await shot(p, f"rules-panel-{width}-{scheme}")
                await p.locator("#rule-list .rule-row button", has_text="Edit").first.click()
                await expect(p.locator("#rule-form")).to_be_visible()
                await shot(p, f"rules-form-{width}-{scheme}")
                await p.keyboard.press("Escape")
                await p.click("#btn-network")
                await shot(p, f"network-menu-{width}-{scheme}")
                await p.keyboard.press("Escape")
        assert p.errors == []  # type: ignore[attr-defined]
    finally:
        await p.context.close()
        await call(necto, "POST", "/api/network/deactivate")
