"""API inventory and OpenAPI, from traffic a client sends to a small shop API through the proxy."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
import yaml
from aiohttp import web
from openapi_spec_validator import validate

from helpers import CORPUS, RunningNecto, b64url, run_cmd, wait_for_entries
from necto.inventory import InventoryBuilder, diff_inventories, inventory_json, openapi_document
from necto.inventory.templating import param_name, segment_kind
from necto.model import Entry, Timings

JWT = ".".join([
    b64url({"alg": "HS256", "typ": "JWT"}),
    b64url({"iss": "https://auth.shop.test", "sub": "1", "aud": "shop-api", "scope": "users:read orders:write"}),
    "c2lnbmF0dXJlLW5vdC1jaGVja2Vk",
])  # fmt: skip
API_KEY = "k3y-ABCDEF1234567890"
ORDER_IDS = ["3f2a9c1b-5d6e-4f70-8a9b-0c1d2e3f4a5b", "9b8a7c6d-1e2f-4a3b-8c9d-0e1f2a3b4c5d"]
USERS = {
    1: {"id": 1, "name": "Alice", "email": "alice@shop.test", "createdAt": "2026-01-05T10:00:00Z"},
    2: {"id": 2, "name": "Bob", "email": "bob@shop.test", "createdAt": "2026-02-11T09:30:00Z"},
    3: {"id": 3, "email": "carol@shop.test", "createdAt": "2026-03-01T12:00:00Z", "nickname": "cc"},
}


def shop_app() -> web.Application:
    routes = web.RouteTableDef()

    @routes.get("/users/me")
    async def me(request: web.Request) -> web.Response:
        return web.json_response({**USERS[1], "phone": "+1 415 555 0100"})

    @routes.get("/users/search")
    async def search(request: web.Request) -> web.Response:
        q = request.query.get("q", "").lower()
        found = [u for u in USERS.values() if q in u["email"]]
        return web.json_response({"users": found, "total": len(found)})

    @routes.get("/users/{id}")
    async def user(request: web.Request) -> web.Response:
        u = USERS.get(int(request.match_info["id"]))
        if u is None:
            return web.json_response({"error": "User not found"}, status=404)
        return web.json_response(u)

    @routes.get("/orders/{id}")
    async def order(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "id": request.match_info["id"],
                "total": 12.5,
                "items": [{"sku": "A1", "qty": 2}],
                "placedAt": "2026-11-20T08:00:00Z",
            }
        )

    @routes.post("/orders")
    async def create_order(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"id": ORDER_IDS[0], "items": body["items"], "status": "placed"}, status=201)

    @routes.get("/reports/{day}")
    async def report(request: web.Request) -> web.Response:
        if request.query.get("api_key") != API_KEY:
            return web.json_response({"error": "bad key"}, status=401)
        return web.json_response({"day": request.match_info["day"], "orders": 2, "servers": [{"ip": "10.0.3.7"}]})

    @routes.get("/logo.png")
    async def logo(request: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG\r\n\x1a\n", content_type="image/png")

    app = web.Application()
    app.add_routes(routes)
    return app


@pytest_asyncio.fixture(scope="module")
async def shop() -> AsyncIterator[str]:
    runner = web.AppRunner(shop_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"127.0.0.1:{port}"
    await runner.cleanup()


async def drive_shop(necto: RunningNecto, base: str) -> int:
    """What a client of the shop does; returns how many exchanges it made."""
    bearer = {"Authorization": f"Bearer {JWT}"}
    calls: list[tuple[str, str, dict[str, str], Any]] = [
        ("GET", "/users/1", bearer, None),
        ("GET", "/users/2", bearer, None),
        ("GET", "/users/3", bearer, None),
        ("GET", "/users/999", bearer, None),
        ("GET", "/users/me", bearer, None),
        ("GET", "/users/search?q=alice", bearer, None),
        ("GET", f"/orders/{ORDER_IDS[0]}", bearer, None),
        ("GET", f"/orders/{ORDER_IDS[1]}", bearer, None),
        ("POST", "/orders", bearer, {"items": [{"sku": "A1", "qty": 2}], "card": "4111 1111 1111 1111"}),
        ("GET", f"/reports/2026-11-23?api_key={API_KEY}", {}, None),
        ("GET", "/legacy/export", {}, None),
        ("GET", "/logo.png", {}, None),
    ]
    async with aiohttp.ClientSession() as client:
        for method, path, headers, body in calls:
            async with client.request(
                method, f"http://{base}{path}", headers=headers, json=body, proxy=necto.proxy_url
            ) as r:
                await r.read()
    return len(calls)


@pytest_asyncio.fixture(scope="module")
async def shop_session(necto: RunningNecto, shop: str) -> dict[str, Any]:
    session = await necto.store.create_session("shop traffic", activate=True)
    n = await drive_shop(necto, shop)
    await wait_for_entries(necto.store, session.id, n)
    return {"id": session.id, "host": shop}


def project(ep: dict[str, Any]) -> dict[str, Any]:
    """The parts of an endpoint that do not depend on timing."""
    return {
        "count": ep["count"],
        "statusCodes": ep["statusCodes"],
        "path": [(p["name"], p["type"]) for p in ep["params"]["path"]],
        "query": [(q["name"], q["type"], q["required"]) for q in ep["params"]["query"]],
        "auth": sorted(a["type"] + (f":{a['in']}:{a['name']}" if a.get("name") else "") for a in ep["auth"]),
        "sensitive": sorted((s["kind"], s["where"]) for s in ep["sensitive"]),
        "responseContentTypes": sorted(ep["responseContentTypes"]),
    }


JWT_HEADER = ("jwt", "request.header Authorization")
EXPECTED = {
    ("GET", "/legacy/export"): {
        "count": 1, "statusCodes": {"404": 1}, "path": [], "query": [], "auth": ["none"],
        "sensitive": [], "responseContentTypes": ["text/plain"],
    },
    ("POST", "/orders"): {
        "count": 1, "statusCodes": {"201": 1}, "path": [], "query": [],
        "auth": ["jwt:header:Authorization"],
        "sensitive": [("credit_card", "request.body $.card"), JWT_HEADER],
        "responseContentTypes": ["application/json"],
    },
    ("GET", "/orders/{orderId}"): {
        "count": 2, "statusCodes": {"200": 2}, "path": [("orderId", "uuid")], "query": [],
        "auth": ["jwt:header:Authorization"], "sensitive": [JWT_HEADER],
        "responseContentTypes": ["application/json"],
    },
    ("GET", "/reports/{reportDate}"): {
        "count": 1, "statusCodes": {"200": 1}, "path": [("reportDate", "date")], "query": [],
        "auth": ["apiKey:query:api_key"],
        "sensitive": [("private_ip", "response.body $.servers[*].ip"), ("secret", "request.query api_key")],
        "responseContentTypes": ["application/json"],
    },
    ("GET", "/users/me"): {
        "count": 1, "statusCodes": {"200": 1}, "path": [], "query": [],
        "auth": ["jwt:header:Authorization"],
        "sensitive": [JWT_HEADER, ("email", "response.body $.email"), ("phone", "response.body $.phone")],
        "responseContentTypes": ["application/json"],
    },
    ("GET", "/users/search"): {
        "count": 1, "statusCodes": {"200": 1}, "path": [], "query": [("q", "string", True)],
        "auth": ["jwt:header:Authorization"],
        "sensitive": [JWT_HEADER, ("email", "response.body $.users[*].email")],
        "responseContentTypes": ["application/json"],
    },
    ("GET", "/users/{userId}"): {
        "count": 4, "statusCodes": {"200": 3, "404": 1}, "path": [("userId", "integer")], "query": [],
        "auth": ["jwt:header:Authorization"], "sensitive": [JWT_HEADER, ("email", "response.body $.email")],
        "responseContentTypes": ["application/json"],
    },
}  # fmt: skip
for _facts in EXPECTED.values():
    _facts["sensitive"] = sorted(_facts["sensitive"])


async def test_shop_traffic_gives_exactly_the_expected_inventory(
    necto: RunningNecto, http: aiohttp.ClientSession, shop_session: dict[str, Any]
) -> None:
    async with http.get(f"{necto.api_url}/api/sessions/{shop_session['id']}/inventory") as r:
        assert r.status == 200
        inv = await r.json()
    assert inv["source"] == {"kind": "session", "id": shop_session["id"], "name": "shop traffic"}
    assert inv["entries"] == {"total": 12, "used": 11, "skipped": {"static": 1}}
    assert [h["host"] for h in inv["hosts"]] == [shop_session["host"]]
    host = inv["hosts"][0]
    assert host["schemes"] == ["http"]
    got = {(ep["method"], ep["pathTemplate"]): project(ep) for ep in host["endpoints"]}
    assert got == EXPECTED

    eps = {(ep["method"], ep["pathTemplate"]): ep for ep in host["endpoints"]}
    users = eps[("GET", "/users/{userId}")]
    assert users["params"]["path"][0]["examples"] == ["1", "2", "3"]
    assert "integer" in users["templating"][0]["reason"]
    assert users["templating"][0]["segment"] == 1
    assert users["firstSeen"] < users["lastSeen"]
    assert 0 < users["latency"]["p50"] <= users["latency"]["p95"]
    jwt = next(a for a in users["auth"] if a["type"] == "jwt")
    assert jwt["issuer"] == "https://auth.shop.test"
    assert jwt["scopes"] == ["orders:write", "users:read"]
    assert jwt["audience"] == ["shop-api"]
    assert eps[("POST", "/orders")]["requestContentTypes"] == {"application/json": 1}
    assert "$.users[*].email" in eps[("GET", "/users/search")]["fields"]["response"]
    # The API key is an auth scheme, never an example value anywhere in the inventory.
    assert API_KEY not in orjson.dumps(inv).decode()
    assert JWT not in orjson.dumps(inv).decode()

    async with http.get(f"{necto.api_url}/api/sessions/{shop_session['id']}/inventory?includeStatic=true") as r:
        with_static = await r.json()
    paths = [ep["pathTemplate"] for ep in with_static["hosts"][0]["endpoints"]]
    assert "/logo.png" in paths and with_static["entries"]["skipped"] == {}


async def test_openapi_validates_and_merges_every_sample(
    necto: RunningNecto, http: aiohttp.ClientSession, shop_session: dict[str, Any]
) -> None:
    async with http.get(f"{necto.api_url}/api/sessions/{shop_session['id']}/openapi.json") as r:
        assert r.status == 200
        doc = await r.json()
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    assert doc["servers"] == [{"url": f"http://{shop_session['host']}"}]
    # /legacy/export only ever answered 404: in the inventory (observedSuccess false), not here.
    assert sorted(doc["paths"]) == [
        "/orders", "/orders/{orderId}", "/reports/{reportDate}",
        "/users/me", "/users/search", "/users/{userId}",
    ]  # fmt: skip
    assert "1 endpoint that never answered 2xx is left out" in doc["info"]["description"]
    get_user = doc["paths"]["/users/{userId}"]["get"]
    assert sorted(get_user["responses"]) == ["200", "404"]
    assert get_user["parameters"][0] == {
        "name": "userId", "in": "path", "required": True, "schema": {"type": "integer"},
        "description": get_user["parameters"][0]["description"], "example": "1",
    }  # fmt: skip
    user = get_user["responses"]["200"]["content"]["application/json"]["schema"]
    # name is missing from user 3, nickname only there: merged over all three samples.
    assert sorted(user["required"]) == ["createdAt", "email", "id"]
    assert set(user["properties"]) == {"id", "name", "email", "createdAt", "nickname"}
    assert user["properties"]["email"] == {"type": "string", "format": "email"}
    assert user["properties"]["createdAt"] == {"type": "string", "format": "date-time"}
    example = get_user["responses"]["200"]["content"]["application/json"]["example"]
    assert example["email"] == "[REDACTED:email]"
    order = doc["paths"]["/orders/{orderId}"]["get"]
    assert order["parameters"][0]["schema"] == {"type": "string", "format": "uuid"}
    assert order["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["id"]["format"] == "uuid"
    post = doc["paths"]["/orders"]["post"]
    assert post["requestBody"]["content"]["application/json"]["example"]["card"] == "[REDACTED:credit_card]"
    assert sorted(doc["paths"]["/users/search"]["get"]["parameters"][0].items())[:3] == [
        ("example", "alice"), ("in", "query"), ("name", "q"),
    ]  # fmt: skip
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerJwt"]["type"] == "http" and schemes["bearerJwt"]["bearerFormat"] == "JWT"
    assert schemes["apiKey_query_api_key"] == {"type": "apiKey", "in": "query", "name": "api_key"}
    assert get_user["security"] == [{"bearerJwt": []}]
    assert doc["paths"]["/reports/{reportDate}"]["get"]["security"] == [{"apiKey_query_api_key": []}]
    assert API_KEY not in orjson.dumps(doc).decode()

    async with http.get(
        f"{necto.api_url}/api/sessions/{shop_session['id']}/openapi.json?includeUnsuccessful=true"
    ) as r:
        assert r.status == 200
        everything = await r.json()
    validate(everything)
    assert sorted(everything["paths"]) == sorted([*doc["paths"], "/legacy/export"])
    legacy = everything["paths"]["/legacy/export"]["get"]
    assert "security" not in legacy
    assert legacy["x-necto"]["observedSuccess"] is False and sorted(legacy["responses"]) == ["404"]

    async with http.get(f"{necto.api_url}/api/sessions/{shop_session['id']}/openapi.yaml") as r:
        assert r.status == 200
        assert r.content_type == "application/yaml"
        from_yaml = yaml.safe_load(await r.text())
    validate(from_yaml)
    assert from_yaml["paths"] == doc["paths"]


async def test_unknown_session_and_bad_flags_are_json_errors(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    for suffix in ("inventory", "openapi.json", "openapi.yaml"):
        async with http.get(f"{necto.api_url}/api/sessions/nope/{suffix}") as r:
            assert r.status == 404
            assert await r.json() == {"error": "Session not found"}
    active = await necto.store.active_session()
    assert active is not None
    async with http.get(f"{necto.api_url}/api/sessions/{active.id}/inventory?includeStatic=maybe") as r:
        assert r.status == 400
        assert await r.json() == {"error": "includeStatic must be true or false"}
    async with http.get(f"{necto.api_url}/api/sessions/{active.id}/openapi.yaml?includeUnsuccessful=maybe") as r:
        assert r.status == 400
        assert await r.json() == {"error": "includeUnsuccessful must be true or false"}
    async with http.get(f"{necto.api_url}/api/sessions/{active.id}/openapi.json?host=nowhere.test") as r:
        assert r.status == 400
        assert await r.json() == {"error": "No traffic for host nowhere.test"}
    # The session routes next to ours still answer as before.
    async with http.get(f"{necto.api_url}/api/sessions/{active.id}") as r:
        assert r.status == 200 and (await r.json())["id"] == active.id


async def test_cli_table_json_openapi_and_diff(
    necto: RunningNecto, shop: str, shop_session: dict[str, Any], tmp_path: Any
) -> None:
    # A second visit: one endpoint gone, one new, one with a new query parameter and status.
    b = await necto.store.create_session("shop traffic v2", activate=True)
    async with aiohttp.ClientSession() as client:
        for path in (
            "/users/1",
            "/users/2?expand=orders",
            "/users/search?q=bob",
            f"/orders/{ORDER_IDS[1]}",
            "/users/7/orders",
        ):
            async with client.get(
                f"http://{shop}{path}", headers={"Authorization": f"Bearer {JWT}"}, proxy=necto.proxy_url
            ) as r:
                await r.read()
    await wait_for_entries(necto.store, b.id, 5)
    cli = [sys.executable, "-m", "necto", "inventory", "--data-dir", str(necto.data_dir)]

    code, out, err = await run_cmd(*cli, "shop traffic")
    assert code == 0, err
    text = out.decode()
    assert shop in text and "/users/{userId}" in text and "/users/me" in text
    assert "7 endpoints from 11 of 12 entries (skipped: 1 static)" in text

    spec = tmp_path / "shop.yaml"
    code, out, err = await run_cmd(*cli, shop_session["id"], "--json", "--openapi", str(spec))
    assert code == 0, err
    assert orjson.loads(out)["endpointCount"] == 7
    written = yaml.safe_load(spec.read_text())
    validate(written)
    assert "/legacy/export" not in written["paths"]  # only ever answered 404
    code, out, err = await run_cmd(*cli, shop_session["id"], "--openapi", "-", "--include-unsuccessful")
    assert code == 0, err
    assert sorted(orjson.loads(out)["paths"]) == sorted([*written["paths"], "/legacy/export"])

    code, out, err = await run_cmd(*cli, "shop traffic", "--diff", "shop traffic v2", "--json")
    assert code == 0, err
    d = orjson.loads(out)
    assert [(e["method"], e["pathTemplate"]) for e in d["added"]] == [("GET", "/users/{userId}/orders")]
    assert sorted((e["method"], e["pathTemplate"]) for e in d["removed"]) == [
        ("GET", "/legacy/export"), ("GET", "/reports/{reportDate}"), ("GET", "/users/me"), ("POST", "/orders"),
    ]  # fmt: skip
    changed = {e["pathTemplate"]: {c["field"]: (c["added"], c["removed"]) for c in e["changes"]} for e in d["changed"]}
    assert changed["/users/{userId}"]["queryParams"] == (["expand"], [])
    assert changed["/users/{userId}"]["statusCodes"] == ([], ["404"])
    assert d["unchangedCount"] == 2  # /orders/{orderId}, /users/search

    code, out, err = await run_cmd(*cli, "no such session")
    assert code == 1 and b"Session not found: no such session" in err
    code, out, err = await run_cmd(*cli, str(tmp_path / "missing.har"))
    assert code == 1 and b"No such file" in err


# ---------------------------------------------------------------- templating rules
def entry(method: str, url: str, status: int = 200, body: Any = None) -> Entry:
    return Entry(
        session_id="unit", started=time.time(), method=method, url=url, status=status,
        response_headers=[("Content-Type", "application/json")],
        response_body=orjson.dumps(body if body is not None else {"ok": True}),
        timings=Timings(send=0.1, wait=1.0, receive=0.1),
    )  # fmt: skip


def templates(urls: list[str], body: Any = None) -> list[str]:
    b = InventoryBuilder()
    for u in urls:
        b.add(entry("GET", "http://api.test" + u, body=body))
    return [ep.template for ep in b.finish().endpoints]


@pytest.mark.parametrize(
    ("segment", "kind"),
    [
        ("42", "integer"), ("3f2a9c1b-5d6e-4f70-8a9b-0c1d2e3f4a5b", "uuid"), ("2026-11-23", "date"),
        ("01HZX3K8Q7N2V5M9C4T6B1R0YW", "ulid"), ("507f1f77bcf86cd799439011", "objectid"),
        ("9f86d081884c", "hex"), ("cus_NffrFeUfNV2Hib", "prefixed"), ("ana@example.com", "email"),
        ("Zx8kQ2mP9vL4tR7wY1nB", "token"),
        ("v1", None), ("me", None), ("search", None), ("login", None), ("new", None), ("users", None),
        ("sha256", None), ("deadbeef", None),
    ],
)  # fmt: skip
def test_typed_segments_from_one_sample(segment: str, kind: str | None) -> None:
    assert segment_kind(segment) == kind


def test_literal_beats_template_and_first_segment_stays() -> None:
    assert templates(["/users/1", "/users/me", "/users/search", "/42/items", "/v2/orders/7"]) == [
        "/42/items", "/users/me", "/users/search", "/users/{userId}", "/v2/orders/{orderId}",
    ]  # fmt: skip


def test_untyped_strings_need_sibling_evidence() -> None:
    # Three value-like names with one response shape are values of one parameter.
    assert templates(["/files/a.pdf", "/files/b.txt", "/files/c.csv"]) == ["/files/{fileId}"]
    # Two are not enough.
    assert templates(["/files/a.pdf", "/files/b.txt"]) == ["/files/a.pdf", "/files/b.txt"]
    # Resource names are words: they stay apart below ten, and when their responses differ.
    b = InventoryBuilder()
    for i, name in enumerate(["users", "orders", "reports", "carts"]):
        b.add(entry("GET", f"http://api.test/api/{name}", body={f"k{i}": 1}))
    assert [ep.template for ep in b.finish().endpoints] == ["/api/carts", "/api/orders", "/api/reports", "/api/users"]
    names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
    merged = InventoryBuilder()
    for n in names:
        merged.add(entry("GET", f"http://api.test/people/{n}", body={"login": n, "id": 1}))
    [ep] = merged.finish().endpoints
    assert ep.template == "/people/{personId}" and ep.stats.count == 10
    assert "10 sibling values share one shape" in ep.path_params[0].reason


def test_parameter_names_come_from_the_parent_segment() -> None:
    assert param_name("users", "integer") == "userId"
    assert param_name("categories", "uuid") == "categoryId"
    assert param_name("line-items", "integer") == "lineItemId"
    assert param_name("reports", "date") == "reportDate"
    assert param_name(None, "integer") == "id"
    assert templates(["/orgs/5/repos/9/commits/cus_ABCdef123456"]) == [
        "/orgs/{orgId}/repos/{repoId}/commits/{commitId}"
    ]
    assert templates(["/a/1/2"]) == ["/a/{aId}/{id}"]


def test_openapi_for_many_hosts_and_odd_traffic_validates() -> None:
    b = InventoryBuilder()
    b.add(entry("GET", "https://one.test/items/1", body=[{"a": 1, "b": None}, {"a": 2.5}]))
    b.add(entry("GET", "https://two.test/items/abc123def456"))
    b.add(entry("PATCH", "https://two.test/items/7?dry=true", status=204))
    failed = entry("DELETE", "https://two.test/items/8")
    failed.status, failed.response_headers, failed.response_body = None, [], None
    b.add(failed)
    b.add(entry("CONNECT", "https://two.test/"))
    b.add(entry("GET", "data:text/plain,hello"))
    inv = b.finish()
    # The DELETE never got a response: left out unless asked for.
    assert "delete" not in openapi_document(inv)["paths"]["/items/{itemId}"]
    doc = openapi_document(inv, include_unsuccessful=True)
    validate(doc)
    item = doc["paths"]["/items/{itemId}"]
    assert [s["url"] for s in item["servers"]] == ["https://one.test", "https://two.test"]
    assert item["delete"]["responses"] == {"default": {"description": "No response was recorded"}}
    assert item["get"]["responses"]["200"]["content"]["application/json"]["schema"]["items"] == {
        "type": "object",
        "properties": {"a": {"type": "number"}, "b": {"type": "null"}},
        "required": ["a"],
    }
    data = inventory_json(inv)
    assert data["entries"]["skipped"] == {"nonHttp": 1, "tunnel": 1}  # a CONNECT is not an API call
    assert "connect" not in {m for p in doc["paths"].values() for m in p}
    assert diff_inventories(data, data)["changed"] == []


# ---------------------------------------------------------------- HAR files
CORPUS_HARS = sorted(p for p in CORPUS.rglob("*") if p.suffix in (".har", ".json")) if CORPUS.is_dir() else []
# Files the importer rejects as a whole (not JSON, no log, no entries, none importable): a clean
# error, no traceback.
UNREADABLE = {"corrupted_har-brokenfile.har", "not-json.har", "not-valid.har", "har-invalid.json", "missing_page.har"}


@pytest.mark.corpus
async def test_every_corpus_har_yields_an_inventory(tmp_path: Any) -> None:
    from necto.har import HarError, aiter_entries, load_entries
    from necto.inventory import build_inventory

    assert CORPUS_HARS, f"no HAR files under {CORPUS}"
    endpoints = 0
    for path in CORPUS_HARS:
        try:
            inv = await build_inventory(aiter_entries(path), include_static=True, source={"kind": "file"})
        except HarError as e:
            assert path.name in UNREADABLE, f"{path.name}: {e}"
            continue
        assert path.name not in UNREADABLE, path.name
        # Every entry the importer reads is counted; used ones become endpoints.
        assert inv.entries_total == sum(1 for _ in load_entries(path)), path.name
        assert inv.entries_used <= inv.entries_total
        assert (inv.entries_used > 0) == bool(inv.endpoints), path.name
        endpoints += len(inv.endpoints)
        validate(openapi_document(inv, title=path.name))
        report = orjson.loads(orjson.dumps(inventory_json(inv)))
        assert report["endpointCount"] == len(inv.endpoints)
        assert report["entries"]["total"] == inv.entries_total
    assert endpoints > 100  # the corpus holds hundreds of distinct requests
