"""The inventory recovers real APIs (issue 20): traffic of three made-up APIs (see
`inventory_apis.py`: nested names, refs, labels, prefixed ids, literals beside parameters,
typos, static assets) goes through the proxy, and the inventory and the OpenAPI must list
exactly the operations the servers implement, each holding exactly its own calls."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest_asyncio
from aiohttp import web
from inventory_apis import (
    APIS,
    TYPOS,
    Call,
    app,
    crawler,
    expected_endpoints,
    expected_openapi_paths,
    realistic,
    score,
)
from openapi_spec_validator import validate
from yarl import URL

from helpers import RunningNecto, wait_for_entries

SEED = 1


@pytest_asyncio.fixture(scope="module")
async def servers() -> AsyncIterator[dict[str, str]]:
    """api name -> host:port of its local server."""
    runners, hosts = [], {}
    for api in APIS:
        runner = web.AppRunner(app(api), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        hosts[api] = f"127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        runners.append(runner)
    yield hosts
    for runner in runners:
        await runner.cleanup()


async def drive(necto: RunningNecto, session_id: str, host: str, calls: list[Call]) -> None:
    """Send the calls through the proxy, a few at a time, as a client would."""
    gate = asyncio.Semaphore(6)

    async def one(client: aiohttp.ClientSession, c: Call) -> None:
        async with gate:
            url = URL(f"http://{host}{c.target}", encoded=True)
            async with client.request(c.method, url, json=c.body, proxy=necto.proxy_url) as r:
                await r.read()

    async with aiohttp.ClientSession() as client:
        await asyncio.gather(*(one(client, c) for c in calls))


async def record(necto: RunningNecto, name: str, servers: dict[str, str], traffic: dict[str, list[Call]]) -> str:
    session = await necto.store.create_session(name, activate=True)
    for api, calls in traffic.items():
        await drive(necto, session.id, servers[api], calls)
    await wait_for_entries(necto.store, session.id, sum(len(c) for c in traffic.values()), timeout=60)
    return session.id


async def get_json(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as r:
        assert r.status == 200, await r.text()
        return await r.json()


def check_inventory(inv: dict[str, Any], servers: dict[str, str], traffic: dict[str, list[Call]]) -> dict[str, Any]:
    """Exactly the expected endpoints per host, each with exactly its operation's calls."""
    hosts = {h["host"]: h for h in inv["hosts"]}
    assert set(hosts) == {servers[api] for api in traffic}
    statics = sum(1 for calls in traffic.values() for c in calls if c.op == "static")
    assert inv["entries"]["skipped"] == {"static": statics}
    figures = {}
    for api, calls in traffic.items():
        endpoints = hosts[servers[api]]["endpoints"]
        got = {(ep["method"], ep["pathTemplate"]) for ep in endpoints}
        assert got == expected_endpoints(api), api
        # Every call is in the endpoint of its own operation: no split, no over-merge.
        per_op = Counter(c.op for c in calls if c.op != "static")
        assert {f"{ep['method']} {ep['pathTemplate']}": ep["count"] for ep in endpoints} == per_op, api
        failed = {(ep["method"], ep["pathTemplate"]) for ep in endpoints if not ep["observedSuccess"]}
        assert failed == ({(TYPOS[api][0], TYPOS[api][2])} if api in TYPOS else set()), api
        figures[api] = score(calls, sorted(got))
        assert figures[api]["recovered"] == figures[api]["operations"] == len(APIS[api])
        assert figures[api]["overMerged"] == {}
    return hosts


def openapi_paths(doc: dict[str, Any], servers: dict[str, str]) -> dict[str, dict[str, set[str]]]:
    """api -> path -> methods; with several hosts each path names its server."""
    api_of = {f"http://{host}": api for api, host in servers.items()}
    out: dict[str, dict[str, set[str]]] = {api: {} for api in servers}
    for path, item in doc["paths"].items():
        for server in item["servers"]:
            out[api_of[server["url"]]][path] = {m for m in item if m != "servers"}
    return out


async def check_openapi(
    http: aiohttp.ClientSession, api_url: str, session_id: str, servers: dict[str, str], validate_it: bool
) -> None:
    """The operations and nothing else; typos (never a 2xx) only with includeUnsuccessful."""
    doc = await get_json(http, f"{api_url}/api/sessions/{session_id}/openapi.json")
    assert openapi_paths(doc, servers) == {api: expected_openapi_paths(api) for api in servers}
    everything = await get_json(http, f"{api_url}/api/sessions/{session_id}/openapi.json?includeUnsuccessful=true")
    if validate_it:
        validate(everything)  # about a second per API: once is enough
    for api, paths in openapi_paths(everything, servers).items():
        typo = {TYPOS[api][2]} if api in TYPOS else set()
        assert set(paths) == set(expected_openapi_paths(api)) | typo, api


async def test_realistic_traffic_gives_exactly_the_operations(
    necto: RunningNecto, http: aiohttp.ClientSession, servers: dict[str, str]
) -> None:
    traffic = {api: realistic(api, SEED) for api in APIS}
    session_id = await record(necto, "apis: realistic", servers, traffic)
    inv = await get_json(http, f"{necto.api_url}/api/sessions/{session_id}/inventory")
    hosts = check_inventory(inv, servers, traffic)
    await check_openapi(http, necto.api_url, session_id, servers, validate_it=True)

    # Why each segment is what it is.
    hub = {(ep["method"], ep["pathTemplate"]): ep for ep in hosts[servers["hub"]]["endpoints"]}
    rules = {
        (t["segment"], t.get("param") or t.get("literal")): t["rule"]
        for t in hub[("GET", "/repos/{repoId}/{id}/pulls/comments")]["templating"]
    }
    assert rules == {
        (1, "repoId"): "siblings", (2, "id"): "siblings", (3, "pulls"): "recurring-name", (4, "comments"): "literal-beats-template",
    }  # fmt: skip
    owner = hub[("GET", "/repos/{repoId}/{id}")]["templating"][0]
    assert owner["evidence"]["values"] >= 3 and owner["evidence"]["matching"] >= 2
    assert "sibling values share one shape" in owner["reason"]
    ref = next(t for t in hub[("GET", "/repos/{repoId}/{id}/commits/{ref}")]["templating"] if t.get("param") == "ref")
    assert ref["rule"] == "siblings-beside-typed" and set(ref["types"]) == {"hex", "string"}
    assert [t["rule"] for t in hub[("GET", "/users/me")]["templating"]] == ["common-word"]
    # /repos/vercel/next.js answered JSON: an API call, not a script.
    next_js = sum(1 for c in traffic["hub"] if c.path.startswith("/repos/vercel/next.js"))
    assert next_js > 0
    library = {ep["pathTemplate"]: ep for ep in hosts[servers["library"]]["endpoints"] if ep["method"] == "GET"}
    member = library["/member/{memberId}"]
    assert member["statusCodes"]["400"] == 1 and member["templating"][0]["rule"] == "siblings"


async def test_crawler_traffic_gives_the_same_endpoints(
    necto: RunningNecto, http: aiohttp.ClientSession, servers: dict[str, str]
) -> None:
    traffic = {api: crawler(api) for api in APIS}
    session_id = await record(necto, "apis: crawler", servers, traffic)
    inv = await get_json(http, f"{necto.api_url}/api/sessions/{session_id}/inventory")
    check_inventory(inv, servers, traffic)
    await check_openapi(http, necto.api_url, session_id, servers, validate_it=False)
