"""`necto check`: the worked example for real (record a baseline through `necto record`, keep its
HAR, gate later runs), then the finding rules one by one on small in-memory runs."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import orjson
import pytest
import pytest_asyncio
from aiohttp import web

from helpers import NECTO, TestPki, run_cmd
from necto.check import CheckRules, RulesError, Side, load_rules, markdown, rules_from_data, run_check
from necto.check.endpoints import KIND_SAMPLES, unmask
from necto.compare import iterate, list_fetcher
from necto.inventory.sensitive import DETECTORS, kinds_in
from necto.model import Entry, Timings

# ---------------------------------------------------------------------- a changing API
CLIENT = """
import http.client, os, ssl, sys, threading
from urllib.parse import urlsplit
base, proxy = urlsplit(sys.argv[1]), urlsplit(os.environ["HTTPS_PROXY"])
paths = ["/api/users/1", "/api/users/2", "/api/users/3", "/api/profile", "/api/orders", "/api/health"]
done = []
def worker(rounds):  # one keep-alive connection through the proxy (trusting SSL_CERT_FILE)
    conn = http.client.HTTPSConnection(proxy.hostname, proxy.port, context=ssl.create_default_context())
    conn.set_tunnel(base.hostname, base.port)
    for _ in range(rounds):
        for path in paths:
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            assert r.status == 200, (path, r.status)
            done.append(path)
    conn.close()
threads = [threading.Thread(target=worker, args=(10,)) for _ in range(2)]
for t in threads: t.start()
for t in threads: t.join()
print("done", len(done))
"""
SLOWDOWN_S = 0.3


def contract_app(state: dict[str, str]) -> web.Application:
    """Four endpoints; in the "changed" variant users lose `role`, the profile's contact
    becomes an email address, and orders answer 300 ms later."""
    routes = web.RouteTableDef()

    @routes.get("/api/users/{id}")
    async def user(request: web.Request) -> web.Response:
        uid = int(request.match_info["id"])
        body: dict[str, Any] = {"id": uid, "name": f"User {uid}", "role": "admin"}
        if state["variant"] == "changed":
            del body["role"]
        return web.json_response(body)

    @routes.get("/api/profile")
    async def profile(request: web.Request) -> web.Response:
        contact = "ann.lee@example.com" if state["variant"] == "changed" else "support desk"
        return web.json_response({"plan": "pro", "contact": contact})

    @routes.get("/api/orders")
    async def orders(request: web.Request) -> web.Response:
        if state["variant"] == "changed":
            await asyncio.sleep(SLOWDOWN_S)
        return web.json_response({"orders": [{"id": 1, "total": 9.5}]})

    @routes.get("/api/health")
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.add_routes(routes)
    return app


@pytest_asyncio.fixture
async def contract_api(pki: TestPki) -> AsyncIterator[tuple[str, dict[str, str]]]:
    state = {"variant": "base"}
    runner = web.AppRunner(contract_app(state), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=pki.server_context())
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"https://localhost:{port}", state
    await runner.cleanup()


async def necto(*args: str, timeout: float = 120) -> tuple[int, str, str]:
    code, out, err = await run_cmd(*NECTO, *args, timeout=timeout)
    return code, out.decode(), err.decode()


def found(result: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (ep["endpoint"].split(" ", 1)[0] + " " + ep["path"], f["kind"], f["level"])
        for ep in result["endpoints"]
        for f in ep["findings"]
    }


async def test_check_gates_a_recorded_run(
    contract_api: tuple[str, dict[str, str]], pki: TestPki, tmp_path: Path
) -> None:
    base_url, state = contract_api
    home = str(tmp_path / "home")
    client = tmp_path / "client.py"
    client.write_text(CLIENT)

    async def record_run(session: str, *extra: str) -> None:
        code, out, err = await necto(
            "record", "--data-dir", home, "--upstream-ca", str(pki.ca_pem), "--session", session, *extra, "--",
            sys.executable, str(client), base_url,
        )  # fmt: skip
        assert code == 0 and "done 120" in out, err

    baseline = tmp_path / "baseline.har"
    await record_run("baseline", "--har", str(baseline), "--redact")  # a baseline safe to commit
    await record_run("same")
    state["variant"] = "changed"
    await record_run("changed")

    # Identical runs pass (the redacted baseline against an unredacted session, too).
    code, out, err = await necto("check", "--data-dir", home, str(baseline), "same")
    assert code == 0, out + err
    assert "PASS: 0 failures" in out

    # The changed run: exactly the three planted changes, with latency made a failure.
    rules = tmp_path / "necto-check.yaml"
    rules.write_text("rules:\n  latency-regression: fail\nlatency:\n  thresholdMs: 150\n  thresholdPct: 50\n")
    junit, md = tmp_path / "check.xml", tmp_path / "check.md"
    code, out, err = await necto(
        "check", "--data-dir", home, str(baseline), "changed", "--rules", str(rules),
        "--json", "--junit", str(junit), "--markdown", str(md),
    )  # fmt: skip
    assert code == 1, err
    result = orjson.loads(out)
    assert found(result) == {
        ("GET /api/users/{userId}", "field-removed", "fail"),
        ("GET /api/profile", "sensitive-added", "fail"),
        ("GET /api/orders", "latency-regression", "fail"),
    }
    by_path = {ep["path"]: ep for ep in result["endpoints"]}
    assert by_path["/api/users/{userId}"]["findings"][0]["detail"]["field"] == "$.role"
    assert by_path["/api/profile"]["findings"][0]["detail"] == {"kind": "email", "where": "response.body $.contact"}
    lat = by_path["/api/orders"]["findings"][0]["detail"]
    assert lat["deltaMs"] >= 150 and lat["p95After"] >= SLOWDOWN_S * 1000
    assert result["summary"]["failures"] == 3 and result["verdict"] == "fail"

    suite = ET.parse(junit).getroot()
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"GET /api/users/{userId}", "GET /api/profile", "GET /api/orders", "GET /api/health"}
    failed = {name for name, c in cases.items() if c.find("failure") is not None}
    assert failed == {"GET /api/users/{userId}", "GET /api/profile", "GET /api/orders"}
    assert cases["GET /api/users/{userId}"].find("failure").get("type") == "field-removed"  # type: ignore[union-attr]
    assert "email at response.body $.contact" in (cases["GET /api/profile"].find("failure").text or "")  # type: ignore[union-attr]
    assert suite.get("tests") == "4" and suite.get("failures") == "3"
    table = md.read_text()
    assert table.count("| ❌ |") == 3 and "1 endpoint unchanged" in table

    # Default rules: the slowdown is a warning, the build still fails on the other two.
    code, out, err = await necto("check", "--data-dir", home, str(baseline), "changed")
    assert code == 1, err
    assert "warn  latency-regression: p95 latency" in out and "FAIL: 2 failures" in out


# ---------------------------------------------------------------------- findings one by one
def entry(
    method: str,
    url: str,
    status: int | None = 200,
    body: Any = None,
    headers: list[tuple[str, str]] | None = None,
    ms: float = 10.0,
) -> Entry:
    raw = orjson.dumps(body) if body is not None else None
    return Entry(
        session_id="s", started=time.time(), method=method, url=url, request_headers=headers or [],
        status=status, status_text="OK", response_body=raw,
        response_headers=[("Content-Type", "application/json")] if raw is not None else [],
        timings=Timings(send=0, wait=ms, receive=0),
    )  # fmt: skip


async def check(a: list[Entry], b: list[Entry], rules: CheckRules | None = None) -> dict[str, Any]:
    side = lambda name, es: Side(name, lambda: iterate(es), list_fetcher(es), {"kind": "test"})  # noqa: E731
    return await run_check(side("a", a), side("b", b), rules or CheckRules())


H = "https://api.test"


async def test_endpoints_added_removed_and_status() -> None:
    a = [entry("GET", f"{H}/v1/items/{i}", body={"id": i}) for i in (1, 2)] + [
        entry("DELETE", f"{H}/v1/items/1", body={})
    ]
    b = [
        entry("GET", f"{H}/v1/items/1", body={"id": 1}),
        entry("GET", f"{H}/v1/items/2", status=500, body={"error": "x"}),
    ]
    b.append(entry("POST", f"{H}/v1/items", status=201, body={"id": 3}))
    r = await check(a, b)
    assert found(r) == {
        ("DELETE /v1/items/{itemId}", "endpoint-removed", "fail"),
        ("POST /v1/items", "endpoint-added", "note"),
        ("GET /v1/items/{itemId}", "status-changed", "fail"),
    }
    [status] = [f for ep in r["endpoints"] for f in ep["findings"] if f["kind"] == "status-changed"]
    assert status["detail"] == {"before": 200, "after": 500, "count": 1}
    assert r["verdict"] == "fail"


async def test_schema_retyped_added_and_sampling_is_not_a_change() -> None:
    a = [entry("GET", f"{H}/me", body={"id": 1, "score": 1.5, "tags": ["a"], "n": 2})]
    b = [entry("GET", f"{H}/me", body={"id": "1", "score": 2, "tags": ["a"], "n": None, "extra": {"x": 1}})]
    r = await check(a, b)
    assert found(r) == {("GET /me", "field-retyped", "fail"), ("GET /me", "field-added", "note")}
    details = {f["detail"]["field"]: f["detail"] for ep in r["endpoints"] for f in ep["findings"]}
    assert details["$.id"] == {"field": "$.id", "before": "integer", "after": "string"}
    assert details["$.n"] == {"field": "$.n", "before": "integer", "after": "null"}
    assert set(details) == {
        "$.id",
        "$.n",
        "$.extra",
    }  # an integer where a number was is not a retype; $.extra.x is under $.extra


async def test_auth_added_and_removed() -> None:
    token = [("Authorization", "Bearer abcdefghijkl")]
    a = [entry("GET", f"{H}/orders", body=[]), entry("GET", f"{H}/account", body={}, headers=token)]
    b = [entry("GET", f"{H}/orders", body=[], headers=token), entry("GET", f"{H}/account", body={})]
    r = await check(a, b)
    assert found(r) == {("GET /orders", "auth-added", "fail"), ("GET /account", "auth-removed", "warn")}


async def test_rules_ignore_and_levels() -> None:
    a = [entry("GET", f"{H}/health", body={"ok": True}), entry("GET", f"{H}/me", body={"id": 1, "meta": {"ts": 1}})]
    b = [entry("GET", f"{H}/me", body={"id": 1, "meta": {"ts": "now"}, "new": 1})]
    rules = rules_from_data(
        {"rules": {"field-added": "fail"}, "ignore": {"endpoints": ["GET /health"], "fields": ["$.meta"]}}
    )
    r = await check(a, b, rules)
    assert found(r) == {("GET /me", "field-added", "fail")}


async def test_weak_literals_fold_into_the_other_sides_template() -> None:
    """Few samples keep names literal; many make a parameter: the same endpoint either way.
    A literal kept on purpose (`/users/me`) still stands on its own."""
    names = ["torvalds", "gvanrossum", "matz", "dhh", "antirez", "tj"]
    a = [entry("GET", f"{H}/users/{n}", body={"login": n}) for n in names] + [
        entry("GET", f"{H}/users/me", body={"login": "x", "plan": 1})
    ]
    b = [entry("GET", f"{H}/users/{names[0]}", body={"login": names[0]})]
    r = await check(a, b)
    assert found(r) == {("GET /users/me", "endpoint-removed", "fail")}
    assert [ep["path"] for ep in r["endpoints"]] == ["/users/me", "/users/{userId}"]


async def test_redacted_values_count_as_their_kind() -> None:
    a = [entry("GET", f"{H}/p", body={"contact": "[REDACTED:email]"})]
    b = [entry("GET", f"{H}/p", body={"contact": "bob@example.org"})]
    assert found(await check(a, b)) == set()
    assert found(await check([entry("GET", f"{H}/p", body={"contact": "desk"})], b)) == {
        ("GET /p", "sensitive-added", "fail")
    }


def test_every_sensitive_kind_has_a_detected_sample() -> None:
    kinds = {kind for kind, _, _ in DETECTORS}
    assert set(KIND_SAMPLES) == kinds
    for kind, sample in KIND_SAMPLES.items():
        assert kinds_in(sample) == {kind}, kind
    e = unmask(entry("GET", f"{H}/x", body={"a": "[REDACTED:jwt] and [REDACTED:unknown]"}))
    assert orjson.loads(e.response_body or b"") == {"a": KIND_SAMPLES["jwt"] + " and [REDACTED:unknown]"}


@pytest.mark.parametrize(
    "text,message",
    [
        ("rules:\n  field-removed: maybe\n", "rules.field-removed must be one of fail, warn, note, ignore"),
        ("rules:\n  no-such-kind: fail\n", "rules.no-such-kind is not a known key"),
        ("latency:\n  thresholdMs: -5\n", "latency.thresholdMs must be a non-negative number"),
        ("ignore:\n  fields: ['$.a[']\n", "ignore.fields: invalid JSON path"),
        ("match:\n  rewrite: ['nohost']\n", "match.rewrite must be FROM=TO"),
        ("- a list\n", "rules file must be a mapping"),
        ("rules: [unclosed\n", "not valid YAML"),
    ],
)
def test_rules_file_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(RulesError) as info:
        load_rules(path)
    assert message in str(info.value) and str(path) in str(info.value)


async def test_cli_errors_exit_2(tmp_path: Path) -> None:
    har = tmp_path / "x.har"
    har.write_text("not json")
    code, _, err = await necto("check", "--data-dir", str(tmp_path), str(har), "no such session")
    assert code == 2 and "cannot read" in err
    bad = tmp_path / "r.yaml"
    bad.write_text("rules: {field-removed: sometimes}")
    code, _, err = await necto("check", "--data-dir", str(tmp_path), "--rules", str(bad), "a", "b")
    assert code == 2 and "rules.field-removed" in err


def test_markdown_without_findings() -> None:
    r = {
        "verdict": "pass", "baseline": {"label": "a", "entries": 1}, "current": {"label": "b", "entries": 1},
        "summary": {"endpoints": 1, "changed": 0, "failures": 0, "warnings": 0, "notes": 0}, "endpoints": [],
    }  # fmt: skip
    assert "No changes to the API contract." in markdown(r)
