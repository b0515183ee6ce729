"""Rules through the real proxy with curl against a local origin that counts what reaches it:
the API (NectoProxy's shapes and errors), every action's exact effect, evaluation order,
toggles and reorders on the next request, real bandwidth limits, what the recorded entry and
the HAR export say, and rules that survive a restart and follow the CLI."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import orjson
import pytest

from helpers import (
    PNG,
    Counting,
    RunningNecto,
    TestPki,
    api,
    curl_fetch,
    har_validator_errors,
    make_pki,
    necto_cli,
    necto_process,
    start_upstream,
    stop,
    wait_for_entries,
)
from necto.model import Session

pytestmark = pytest.mark.usefixtures("clean_rules")


async def add(http: aiohttp.ClientSession, necto: RunningNecto, body: dict[str, Any]) -> dict[str, Any]:
    status, rule = await api(http, "POST", necto.api_url + "/api/rules", body)
    assert status == 201, rule
    return rule


# ------------------------------------------------------------------ the API
async def test_rules_api_follows_nectoproxy(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    base = necto.api_url + "/api/rules"
    a = await add(http, necto, {"name": "A", "match": {"host": "a.test"}, "action": "block", "config": None})
    assert a["enabled"] is True and a["priority"] == 0 and a["config"] is None
    assert set(a) == {"id", "name", "enabled", "priority", "match", "action", "config", "createdAt", "updatedAt"}
    b = await add(http, necto, {"name": "B", "match": {"url": "*/b"}, "action": "delay", "config": {"delay": 10}})
    assert b["priority"] == 1  # no priority given: after the last rule

    status, listed = await api(http, "GET", base)
    assert status == 200 and [r["id"] for r in listed["rules"]] == [a["id"], b["id"]]
    status, got = await api(http, "GET", f"{base}/{a['id']}")
    assert status == 200 and got == a

    status, upd = await api(http, "PUT", f"{base}/{b['id']}", {"enabled": False})
    assert status == 200 and upd["enabled"] is False and upd["name"] == "B" and upd["config"] == {"delay": 10}
    status, enabled = await api(http, "GET", f"{base}/enabled")
    assert [r["id"] for r in enabled["rules"]] == [a["id"]]
    status, toggled = await api(http, "PATCH", f"{base}/{b['id']}/toggle")
    assert status == 200 and toggled["enabled"] is True

    status, reordered = await api(http, "POST", f"{base}/reorder", {"orderedIds": [b["id"], a["id"]]})
    assert status == 200
    assert [(r["id"], r["priority"]) for r in reordered["rules"]] == [(b["id"], 0), (a["id"], 1)]

    status, bad = await api(http, "POST", f"{base}/reorder", {"orderedIds": "nope"})
    assert (status, bad) == (400, {"error": "orderedIds must be an array"})
    for method, url in (("GET", f"{base}/missing"), ("PUT", f"{base}/missing"), ("PATCH", f"{base}/missing/toggle"),
                        ("DELETE", f"{base}/missing")):  # fmt: skip
        status, body = await api(http, method, url, {} if method == "PUT" else None)
        assert (status, body) == (404, {"error": "Rule not found"}), method

    status, body = await api(http, "DELETE", f"{base}/{a['id']}")
    assert (status, body) == (200, {"success": True})
    status, _ = await api(http, "GET", f"{base}/{a['id']}")
    assert status == 404


BAD_RULES: list[tuple[dict[str, Any], str]] = [
    ({"match": {}, "action": "block"}, "Rule name is required"),
    ({"name": "x", "action": "block"}, "match is required"),
    ({"name": "x", "match": {}}, "action is required"),
    ({"name": "x", "match": {}, "action": "explode"}, "Invalid action: 'explode'"),
    ({"name": "x", "match": {}, "action": "mapLocal", "config": {"localPath": "/tmp"}}, "Invalid action: 'mapLocal': use \"map-local\""),
    ({"name": "x", "matchPattern": {}, "action": "block"}, "matchPattern: use match"),
    ({"name": "x", "match": {"url": "/([a-/"}, "action": "block"}, "match.url: invalid regular expression"),
    ({"name": "x", "match": {"colour": "red"}, "action": "block"}, "match.colour is not a match field"),
    ({"name": "x", "match": {}, "action": "map-remote", "config": {}}, "config.targetUrl is required for map-remote"),
    ({"name": "x", "match": {}, "action": "map-remote", "config": {"targetUrl": "ftp://h/"}}, "config.targetUrl must be an absolute http(s) URL"),
    ({"name": "x", "match": {}, "action": "map-local", "config": {}}, "config.localPath is required for map-local"),
    ({"name": "x", "match": {}, "action": "map-local", "config": {"localPath": "rel/dir"}}, "config.localPath must be an absolute path"),
    ({"name": "x", "match": {}, "action": "delay", "config": {}}, "config.delay is required for delay"),
    ({"name": "x", "match": {}, "action": "delay", "config": {"delay": -5}}, "config.delay must be at least 0"),
    ({"name": "x", "match": {}, "action": "throttle", "config": {"latency": 5}}, "config.bytesPerSecond is required for throttle"),
    ({"name": "x", "match": {}, "action": "mock", "config": {"status": 99}}, "config.status must be at least 100"),
    ({"name": "x", "match": {}, "action": "mock", "config": {"bogus": 1}}, "config.bogus is not a field of mock"),
    ({"name": "x", "match": {}, "action": "mock", "config": {"bodyFile": "/nonexistent/necto/body.json"}}, "config.bodyFile: file not found"),
    ({"name": "x", "match": {}, "action": "modify-request", "config": {}}, "config must set at least one of"),
    ({"name": "x", "match": {}, "action": "modify-response", "config": {"transformBody": "function(b) { return b }"}},
     "config.transformBody: Necto does not run JavaScript"),
    ({"name": "x", "match": {}, "action": "modify-response", "config": {"findReplace": [{"find": "/([a-/", "replace": ""}]}},
     "config.findReplace[0].find: invalid regular expression"),
    ({"name": "x", "match": {}, "action": "modify-response", "config": {"setJson": {"$.a[": 1}}}, "config.setJson: invalid JSON path"),
    ({"name": "x", "match": {}, "action": "replay-from", "config": {"harFile": "/nonexistent/necto/x.har"}}, "config.harFile: file not found"),
    ({"name": "x", "match": {}, "action": "replay-from", "config": {"session": "no such session"}}, "config.session: Session not found"),
    ({"name": "x", "match": {}, "action": "block", "priority": "high"}, "priority must be a number"),
]  # fmt: skip


@pytest.mark.parametrize("body,message", BAD_RULES, ids=[m for _, m in BAD_RULES])
async def test_bad_rules_get_400_naming_the_field_and_nothing_is_saved(
    necto: RunningNecto, http: aiohttp.ClientSession, body: dict[str, Any], message: str
) -> None:
    status, answer = await api(http, "POST", necto.api_url + "/api/rules", body)
    assert status == 400 and set(answer) == {"error"} and answer["error"].startswith(message), answer
    assert await necto.store.list_rules() == []


async def test_a_bad_update_leaves_the_rule_as_it_was(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    rule = await add(http, necto, {"name": "keep", "match": {"path": "/k"}, "action": "mock", "config": {"body": "k"}})
    url = f"{necto.api_url}/api/rules/{rule['id']}"
    for body in ({"action": "map-remote"}, {"match": {"url": "/[/"}}, {"config": {"status": "ok"}}, {"name": ""}):
        status, answer = await api(http, "PUT", url, body)
        assert status == 400, (body, answer)
    async with http.put(url, data=b"{not json", headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400 and (await r.json())["error"] == "Invalid JSON body"
    assert (await api(http, "GET", url))[1] == rule


# ------------------------------------------------------------------ what each action does
async def test_mock_answers_without_reaching_the_origin(
    necto: RunningNecto, http: aiohttp.ClientSession, counting: Counting, fresh_session: Session
) -> None:
    rule = await add(http, necto, {
        "name": "Mock users", "match": {"path": "/mocked/*", "method": "GET"}, "action": "mock",
        "config": {"status": 418, "statusText": "Teapot", "headers": {"Content-Type": "application/json", "X-Mocked": "yes"},
                   "body": '{"users": []}'},
    })  # fmt: skip
    png = await add(http, necto, {
        "name": "Mock png", "match": {"path": "/pixel.png"}, "action": "mock",
        "config": {"headers": {"Content-Type": "image/png"}, "body": base64.b64encode(PNG).decode(), "bodyEncoding": "base64"},
    })  # fmt: skip
    for base in (counting.http_url, counting.https_url):
        r = await curl_fetch(necto, base + "/mocked/users?x=1")
        assert (r.status, r.body) == (418, b'{"users": []}')
        assert r.headers["x-mocked"] == "yes" and r.headers["content-type"] == "application/json"
        assert r.headers["content-length"] == "13"
    r = await curl_fetch(necto, counting.http_url + "/pixel.png")
    assert (r.status, r.body, r.headers["content-type"]) == (200, PNG, "image/png")
    assert counting.hits() == 0  # neither origin was reached (nor dialled for the HTTPS one)
    r = await curl_fetch(necto, counting.http_url + "/mocked/users", "-X", "POST", "-d", "x")
    assert r.body == b"upstream /mocked/users" and counting.hits("/mocked/users") == 1  # POST: not matched

    entries = await wait_for_entries(necto.store, fresh_session.id, 4)
    mark = {"id": rule["id"], "name": "Mock users", "action": "mock"}
    assert [e.extra.get("appliedRules") for e in entries] == [
        [mark],
        [mark],
        [{**mark, "id": png["id"], "name": "Mock png"}],
        None,
    ]
    https_entry = entries[1]
    assert (
        https_entry.status == 418
        and https_entry.status_text == "Teapot"
        and https_entry.response_body == b'{"users": []}'
    )
    assert https_entry.timings.connect == -1  # no upstream connection was opened
    status, listed = await api(
        http, "GET", f"{necto.api_url}/api/traffic?sessionId={fresh_session.id}&sortDirection=asc"
    )
    assert [(e["isMocked"], e["appliedRules"]) for e in listed["entries"]] == [
        (True, [mark]),
        (True, [mark]),
        (True, [{**mark, "id": png["id"], "name": "Mock png"}]),
        (False, []),
    ]


async def test_block_answers_403_or_what_it_is_told(
    necto: RunningNecto, http: aiohttp.ClientSession, counting: Counting, fresh_session: Session
) -> None:
    await add(http, necto, {"name": "Block ads", "match": {"path": "/ads/*"}, "action": "block", "config": None})
    await add(http, necto, {"name": "Outage", "match": {"path": "/pay/*"}, "action": "block",
                            "config": {"status": 503, "body": '{"error": "down"}'}})  # fmt: skip
    r = await curl_fetch(necto, counting.http_url + "/ads/pixel")
    assert (r.status, r.body) == (403, b"Blocked by Necto")
    r = await curl_fetch(necto, counting.https_url + "/pay/now")
    assert (r.status, r.body) == (503, b'{"error": "down"}')
    assert counting.hits() == 0
    entries = await wait_for_entries(necto.store, fresh_session.id, 2)
    assert [e.extra["appliedRules"][0]["action"] for e in entries] == ["block", "block"]


async def test_map_local_serves_files_and_refuses_to_leave_its_directory(
    necto: RunningNecto, http: aiohttp.ClientSession, counting: Counting, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    (site / "docs").mkdir(parents=True)
    (site / "app.css").write_text("h1 { color: teal }")
    (site / "data.json").write_text('{"local": true}')
    (site / "docs" / "index.html").write_text("<h1>docs</h1>")
    (site / "logo.png").write_bytes(PNG)
    (tmp_path / "secret.txt").write_text("do not serve")
    os.symlink(tmp_path / "secret.txt", site / "escape.txt")
    os.symlink(site / "app.css", site / "alias.css")  # a symlink that stays inside is fine
    await add(http, necto, {"name": "Local site", "match": {"url": counting.http_url + "/static/*"}, "action": "map-local",
                            "config": {"localPath": str(site)}})  # fmt: skip
    await add(http, necto, {"name": "One file", "match": {"path": "/fixture/*"}, "action": "map-local",
                            "config": {"localPath": str(site / "data.json")}})  # fmt: skip
    cases = [
        ("/static/app.css", 200, "text/css; charset=utf-8", b"h1 { color: teal }"),
        ("/static/alias.css", 200, "text/css; charset=utf-8", b"h1 { color: teal }"),
        ("/static/data.json", 200, "application/json; charset=utf-8", b'{"local": true}'),
        ("/static/logo.png", 200, "image/png", PNG),
        ("/static/docs/", 200, "text/html; charset=utf-8", b"<h1>docs</h1>"),
        ("/static/docs", 200, "text/html; charset=utf-8", b"<h1>docs</h1>"),
        ("/static/missing.js", 404, "text/plain; charset=utf-8", b"Local file not found: missing.js\n"),
        ("/static/../secret.txt", 403, None, None),
        ("/static/%2e%2e/secret.txt", 403, None, None),
        ("/static/docs/../../secret.txt", 403, None, None),
        ("/static/escape.txt", 403, None, None),
        ("/fixture/any/path?q=1", 200, "application/json; charset=utf-8", b'{"local": true}'),
    ]
    for path, status, ctype, body in cases:
        r = await curl_fetch(necto, counting.http_url + path)
        assert r.status == status, (path, r.status, r.body)
        if ctype is not None:
            assert (r.headers["content-type"], r.body) == (ctype, body), path
        else:
            assert b"do not serve" not in r.body and b"refused a path outside localPath" in r.body, path
    assert counting.hits() == 0


async def test_map_remote_keeps_path_and_query_and_sets_host(
    necto: RunningNecto, http: aiohttp.ClientSession, counting: Counting, fresh_session: Session
) -> None:
    port = counting.https_url.rsplit(":", 1)[1]
    await add(http, necto, {"name": "Prod to local", "match": {"host": "api.prod.invalid"}, "action": "map-remote",
                            "config": {"targetUrl": counting.https_url + "/echo"}})  # fmt: skip
    for scheme in ("http", "https"):
        r = await curl_fetch(necto, f"{scheme}://api.prod.invalid/v1/items?b=2&a=1")
        assert r.status == 200, r.body
        seen = orjson.loads(r.body)
        assert (seen["path"], seen["query"]) == ("/echo/v1/items", "b=2&a=1")
        assert seen["headers"]["host"] == f"localhost:{port}"
    await add(http, necto, {"name": "Fixed", "match": {"host": "fixed.invalid"}, "action": "map-remote",
                            "config": {"targetUrl": counting.http_url + "/echo/fixed?x=1", "preservePath": False,
                                       "preserveQuery": False}})  # fmt: skip
    r = await curl_fetch(necto, "http://fixed.invalid/some/where?y=2")
    seen = orjson.loads(r.body)
    assert (seen["path"], seen["query"]) == ("/echo/fixed", "x=1")
    entries = await wait_for_entries(necto.store, fresh_session.id, 3)
    first = entries[0]
    assert first.url == "http://api.prod.invalid/v1/items?b=2&a=1"  # what the client asked for
    assert first.extra["upstreamRequest"]["url"] == f"{counting.https_url}/echo/v1/items?b=2&a=1"
    assert first.server_port == int(port)


async def test_map_remote_verifies_the_new_origins_certificate(
    necto: RunningNecto, http: aiohttp.ClientSession, tmp_path: Path, fresh_session: Session
) -> None:
    runner, untrusted = await start_upstream(make_pki(tmp_path))  # signed by a CA Necto does not trust
    try:
        await add(http, necto, {"name": "To untrusted", "match": {"host": "trust.invalid"}, "action": "map-remote",
                                "config": {"targetUrl": untrusted.https_url}})  # fmt: skip
        r = await curl_fetch(necto, "http://trust.invalid/hello")
        assert r.status == 502 and b"hello world" not in r.body
        (entry,) = await wait_for_entries(necto.store, fresh_session.id, 1)
        assert entry.error and "certificate" in entry.error.lower()
    finally:
        await runner.cleanup()


async def test_modify_request_changes_what_the_origin_gets_and_the_entry_keeps_both(
    necto: RunningNecto, http: aiohttp.ClientSession, counting: Counting, fresh_session: Session
) -> None:
    rule = await add(http, necto, {
        "name": "Rewrite signup", "match": {"url": counting.http_url + "/echo/*", "method": "POST"}, "action": "modify-request",
        "config": {"removeHeaders": ["X-Drop"], "setHeaders": {"X-Added": "1", "User-Agent": "necto-rule"},
                   "removeQueryParams": ["secret"], "setQueryParams": {"debug": True},
                   "findReplace": [{"find": r"/(\w+)@example\.com/", "replace": "$1@test.invalid"}],
                   "setJson": {"$.env": "staging"}, "removeJson": ["$.password"]},
    })  # fmt: skip
    sent = b'{"email": "ana@example.com", "password": "p4ss"}'
    r = await curl_fetch(
        necto, counting.http_url + "/echo/signup?secret=1&keep=2", "-X", "POST", "-H", "X-Drop: gone",
        "-H", "Content-Type: application/json", "--data-binary", sent,
    )  # fmt: skip
    seen = orjson.loads(r.body)
    assert (
        "x-drop" not in seen["headers"]
        and seen["headers"]["x-added"] == "1"
        and seen["headers"]["user-agent"] == "necto-rule"
    )
    assert seen["query"] == "keep=2&debug=true"
    assert orjson.loads(seen["body"]) == {"email": "ana@test.invalid", "env": "staging"}

    (entry,) = await wait_for_entries(necto.store, fresh_session.id, 1)
    assert entry.url == counting.http_url + "/echo/signup?secret=1&keep=2" and entry.request_body == sent
    assert ("X-Drop", "gone") in entry.request_headers
    up = entry.extra["upstreamRequest"]
    assert up["url"] == counting.http_url + "/echo/signup?keep=2&debug=true"
    assert {"name": "X-Added", "value": "1"} in up["headers"]
    assert orjson.loads(base64.b64decode(up["body"])) == {"email": "ana@test.invalid", "env": "staging"}
    status, detail = await api(http, "GET", f"{necto.api_url}/api/traffic/{entry.id}")
    assert detail["upstreamRequest"]["url"] == up["url"]
    assert detail["appliedRules"] == [{"id": rule["id"], "name": "Rewrite signup", "action": "modify-request"}]


async def test_modify_response_changes_what_the_client_gets(
    necto: RunningNecto, http: aiohttp.ClientSession, counting: Counting, fresh_session: Session
) -> None:
    await add(http, necto, {
        "name": "Patch json", "match": {"url": counting.http_url + "/json"}, "action": "modify-response",
        "config": {"setStatus": 201, "removeHeaders": ["X-Origin"], "setHeaders": {"Access-Control-Allow-Origin": "*"},
                   "findReplace": [{"find": "/hel(lo)/", "replace": "HEL$1"}], "removeJson": ["$.token"],
                   "setJson": {"$.items[0]": 99}},
    })  # fmt: skip
    r = await curl_fetch(necto, counting.http_url + "/json")
    assert r.status == 201 and "x-origin" not in r.headers and r.headers["access-control-allow-origin"] == "*"
    assert orjson.loads(r.body) == {"message": "HELlo", "items": [99, 2, 3]}
    assert int(r.headers["content-length"]) == len(r.body)
    assert counting.hits("/json") == 1
    (entry,) = await wait_for_entries(necto.store, fresh_session.id, 1)
    assert entry.status == 201 and orjson.loads(entry.response_body or b"") == {"message": "HELlo", "items": [99, 2, 3]}
    assert entry.extra["upstreamResponse"]["status"] == 200
    assert {"name": "X-Origin", "value": "yes"} in entry.extra["upstreamResponse"]["headers"]


# ------------------------------------------------------------------ order, toggles, reorder
async def test_order_toggles_and_reorders_apply_to_the_next_request(
    necto: RunningNecto, http: aiohttp.ClientSession, counting: Counting, fresh_session: Session
) -> None:
    match = {"path": "/order/*"}
    await add(
        http,
        necto,
        {"name": "Tag", "match": match, "action": "modify-request", "config": {"setHeaders": {"X-Step": "1"}}},
    )
    delay = await add(http, necto, {"name": "Slow", "match": match, "action": "delay", "config": {"delay": 150}})
    a = await add(http, necto, {"name": "A", "match": match, "action": "mock", "config": {"body": "A"}})
    b = await add(http, necto, {"name": "B", "match": match, "action": "mock", "config": {"body": "B"}})
    url = counting.http_url + "/order/x"
    r = await curl_fetch(necto, url)
    assert r.body == b"A" and r.seconds >= 0.15  # the delay applied, then the first terminal rule answered
    base = necto.api_url + "/api/rules"
    await api(http, "POST", f"{base}/reorder", {"orderedIds": [b["id"]]})
    assert (await curl_fetch(necto, url)).body == b"B"
    for rule in (a, b):
        await api(http, "PATCH", f"{base}/{rule['id']}/toggle")
    r = await curl_fetch(necto, url)
    assert r.body == b"upstream /order/x" and counting.last("/order/x")["headers"]["x-step"] == "1"
    await api(http, "PUT", f"{base}/{a['id']}", {"enabled": True, "config": {"body": "A2"}})
    assert (await curl_fetch(necto, url)).body == b"A2"
    assert counting.hits("/order/x") == 1

    entries = await wait_for_entries(necto.store, fresh_session.id, 4)
    names = [[m["name"] for m in e.extra["appliedRules"]] for e in entries]
    # B was moved first: it ran before Tag and Slow. With both mocks off, Tag and Slow applied.
    assert names == [["Slow", "A"], ["B"], ["Tag", "Slow"], ["Slow", "A"]]
    assert entries[0].timings.wait >= 150 and entries[0].extra["conditions"]["latency"] >= 150
    assert delay["id"] in {m["id"] for m in entries[2].extra["appliedRules"]}


# ------------------------------------------------------------------ bandwidth
async def test_throttle_delivers_the_body_at_the_rate(
    necto: RunningNecto, http: aiohttp.ClientSession, counting: Counting, fresh_session: Session
) -> None:
    url = counting.http_url + "/bytes?n=500000"
    baseline = await curl_fetch(necto, url)
    await add(
        http,
        necto,
        {"name": "100 KB/s", "match": {"path": "/bytes"}, "action": "throttle", "config": {"bytesPerSecond": 100_000}},
    )
    slow = await curl_fetch(necto, url)
    assert len(baseline.body) == len(slow.body) == 500_000 and slow.body == baseline.body
    # 500 KB at 100 KB/s is 5 s, measured by the client (generous bounds on a busy machine).
    assert 4.0 <= slow.seconds <= 9.0, slow.seconds
    assert slow.seconds > baseline.seconds + 3.0, (baseline.seconds, slow.seconds)
    entries = await wait_for_entries(necto.store, fresh_session.id, 2)
    throttled = entries[1]
    assert throttled.response_body_size == 500_000 and len(throttled.response_body or b"") == 500_000
    assert throttled.timings.receive >= 3500  # the time went to receiving
    assert throttled.extra["conditions"]["downloadBytesPerSecond"] == 100_000

    # A local answer is paced too (it is written after the rules decided).
    # (the throttle first: a rule after the terminal one is never evaluated)
    await add(
        http,
        necto,
        {"name": "40 KB/s", "match": {"path": "/bigmock"}, "action": "throttle", "config": {"bytesPerSecond": 40_000}},
    )
    await add(
        http,
        necto,
        {"name": "Big mock", "match": {"path": "/bigmock"}, "action": "mock", "config": {"body": "y" * 60_000}},
    )
    r = await curl_fetch(necto, counting.http_url + "/bigmock")
    assert r.body == b"y" * 60_000 and r.seconds >= 1.2, r.seconds
    entries = await wait_for_entries(necto.store, fresh_session.id, 3)
    assert entries[2].timings.receive >= 1200


# ------------------------------------------------------------------ export names the rule
async def test_export_of_a_mocked_entry_is_valid_har_and_names_the_rule(
    necto: RunningNecto, http: aiohttp.ClientSession, counting: Counting, fresh_session: Session, tmp_path: Path
) -> None:
    rule = await add(http, necto, {"name": "Mock for HAR", "match": {"path": "/har/*"}, "action": "mock",
                                   "config": {"headers": {"Content-Type": "application/json"}, "body": '{"a": 1}'}})  # fmt: skip
    await curl_fetch(necto, counting.http_url + "/har/one")
    await wait_for_entries(necto.store, fresh_session.id, 1)
    async with http.get(f"{necto.api_url}/api/har/export/{fresh_session.id}") as r:
        data = await r.read()
    path = tmp_path / "mocked.har"
    path.write_bytes(data)
    assert await har_validator_errors(path) is None
    (entry,) = orjson.loads(data)["log"]["entries"]
    assert entry["_necto"]["appliedRules"] == [{"id": rule["id"], "name": "Mock for HAR", "action": "mock"}]
    assert entry["_necto"]["isMocked"] is True
    assert entry["response"]["content"]["text"] == '{"a": 1}'


# ------------------------------------------------------------------ restart and the CLI
async def test_rules_survive_restart_and_cli_changes_apply_to_the_next_request(
    tmp_path: Path, pki: TestPki, counting: Counting
) -> None:
    home = str(tmp_path / "home")
    code, out, err = await necto_cli("rules", "add", "From CLI", "--data-dir", home, "--action", "mock",
                                     "--path", "/cli/*", "--config", '{"status": 202, "body": "from cli"}')  # fmt: skip
    assert code == 0, err.decode()
    url = counting.http_url + "/cli/x"
    async with necto_process(Path(home), pki) as p:
        via = SimpleNamespace(proxy_url=p.proxy_url, ca_pem=Path(home) / "certs" / "necto-ca-cert.pem")
        assert "Rules      1 enabled" in p.banner
        r = await curl_fetch(via, url)  # type: ignore[arg-type]
        assert (r.status, r.body) == (202, b"from cli")
        code, _, err = await necto_cli("rules", "disable", "From CLI", "--data-dir", home)
        assert code == 0, err.decode()
        r = await curl_fetch(via, url)  # type: ignore[arg-type]  # right after the CLI returned
        assert r.body == b"upstream /cli/x"
        async with aiohttp.ClientSession() as client:
            status, rules = await api(client, "GET", p.api_url + "/api/rules")
            await api(client, "PATCH", f"{p.api_url}/api/rules/{rules['rules'][0]['id']}/toggle")
        await stop(p)
    async with necto_process(Path(home), pki) as p:
        via = SimpleNamespace(proxy_url=p.proxy_url, ca_pem=Path(home) / "certs" / "necto-ca-cert.pem")
        r = await curl_fetch(via, url)  # type: ignore[arg-type]
        assert (r.status, r.body) == (202, b"from cli")
        await stop(p)
    code, out, _ = await necto_cli("rules", "list", "--json", "--data-dir", home)
    assert [(r["name"], r["enabled"]) for r in orjson.loads(out)["rules"]] == [("From CLI", True)]


# ------------------------------------------------------------------ rules files
async def test_rules_export_and_import_as_files_a_team_commits(
    necto: RunningNecto, http: aiohttp.ClientSession, counting: Counting, tmp_path: Path
) -> None:
    home = str(tmp_path / "home")
    fixtures = tmp_path / "repo" / "fixtures"
    fixtures.mkdir(parents=True)
    (fixtures / "users.json").write_text('{"users": ["from file"]}')
    rules_file = tmp_path / "repo" / "necto-rules.yaml"
    rules_file.write_text(
        "version: 1\n"
        "rules:\n"
        "  - name: Users from a fixture\n"
        "    match: {path: /api/users}\n"
        "    action: map-local\n"
        "    config: {localPath: fixtures/users.json}\n"  # relative to the file
        "  - name: Slow everything\n"
        "    enabled: false\n"
        "    match: {}\n"
        "    action: delay\n"
        "    config: {delay: 100, variance: 20}\n"
    )
    code, out, err = await necto_cli("rules", "import", str(rules_file), "--data-dir", home)
    assert code == 0 and b"2 created" in out, err.decode()
    code, out, _ = await necto_cli("rules", "export", "--data-dir", home)
    exported = orjson.loads(out)
    assert [r["name"] for r in exported["rules"]] == ["Users from a fixture", "Slow everything"]
    assert exported["rules"][0]["config"]["localPath"] == str(fixtures / "users.json")
    assert "createdAt" not in exported["rules"][0]  # stable in version control

    # A file with one bad rule changes nothing.
    bad = tmp_path / "bad.json"
    bad.write_bytes(
        orjson.dumps(
            {"version": 1, "rules": [exported["rules"][0], {"name": "oops", "match": {}, "action": "map-remote"}]}
        )
    )
    code, _, err = await necto_cli("rules", "import", str(bad), "--replace", "--data-dir", home)
    assert code == 1 and b"rules[1] (oops): config.targetUrl is required for map-remote" in err
    alias = tmp_path / "alias.yaml"
    alias.write_text("a: &x [1]\nrules: *x\n")
    code, _, err = await necto_cli("rules", "import", str(alias), "--data-dir", home)
    assert code == 1 and b"aliases" in err
    code, out, _ = await necto_cli("rules", "list", "--json", "--data-dir", home)
    assert len(orjson.loads(out)["rules"]) == 2

    # Through the API: import replaces, export gives YAML back.
    status, answer = await api(
        http, "POST", necto.api_url + "/api/rules/import", {"rules": exported["rules"][:1], "replace": True}
    )
    assert status == 200 and answer["created"] == 1 and len(answer["rules"]) == 1
    r = await curl_fetch(necto, counting.http_url + "/api/users")
    assert r.body == b'{"users": ["from file"]}' and counting.hits("/api/users") == 0
    async with http.get(necto.api_url + "/api/rules/export?format=yaml") as resp:
        assert resp.status == 200 and resp.headers["Content-Disposition"] == 'attachment; filename="necto-rules.yaml"'
        text = await resp.text()
    assert "name: Users from a fixture" in text
    status, answer = await api(http, "POST", necto.api_url + "/api/rules/import", {"rules": [{"name": "x"}]})
    assert status == 400 and answer["error"].startswith("rules[0] (x): ")
