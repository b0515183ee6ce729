"""Compare entries and sessions; the acceptance test: capture v1, replay against v2, diff.

v2 of the small API changes one JSON field, drops one endpoint and answers one route 200 ms
slower; the diff must name exactly those three things and nothing else.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
from aiohttp import web

from helpers import RunningNecto, Upstream, run_cmd, wait_for_entries
from necto.model import Entry, Session, Timings

SLOW_MS = 600  # planted slowdown: far above the 100 ms flag threshold and a busy machine's noise


def versioned_api(version: int) -> web.Application:
    """The small API. v2: $.items[1].price 20 -> 25, /api/legacy gone, /api/report 200 ms slower."""
    routes = web.RouteTableDef()

    @web.middleware
    async def volatile(request: web.Request, handler: Any) -> web.StreamResponse:
        resp = await handler(request)
        resp.headers["X-Request-Id"] = str(uuid.uuid4())  # differs on every response
        return resp

    @routes.get("/api/users/{id}")
    async def user(request: web.Request) -> web.Response:
        return web.json_response({"id": int(request.match_info["id"]), "name": "Ada", "roles": ["admin"]})

    @routes.get("/api/products")
    async def products(request: web.Request) -> web.Response:
        price = 20 if version == 1 else 25
        items = [{"id": 1, "price": 10}, {"id": 2, "price": price}]
        return web.json_response({"page": int(request.query.get("page", "1")), "items": items})

    @routes.get("/api/report")
    async def report(request: web.Request) -> web.Response:
        if version == 2:
            await asyncio.sleep(SLOW_MS / 1000)
        return web.json_response({"rows": 3})

    @routes.post("/api/echo")
    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"got": await request.json()})

    if version == 1:

        @routes.get("/api/legacy")
        async def legacy(request: web.Request) -> web.Response:
            return web.json_response({"ok": True})

    app = web.Application(middlewares=[volatile])
    app.add_routes(routes)
    return app


@dataclass
class Versions:
    v1: str
    v2: str


@pytest_asyncio.fixture(scope="session")
async def versions() -> AsyncIterator[Versions]:
    runners, urls = [], []
    for v in (1, 2):
        runner = web.AppRunner(versioned_api(v), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        urls.append(f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}")  # type: ignore[union-attr]
    yield Versions(*urls)
    for r in runners:
        await r.cleanup()


async def api(http: aiohttp.ClientSession, necto: RunningNecto, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with http.request(method, necto.api_url + path, **kw) as r:
        return r.status, await r.json()


async def capture_v1(necto: RunningNecto, base: str) -> None:
    """A client using v1 through the proxy; the query of one request in a different order."""
    async with aiohttp.ClientSession() as client:
        for method, path, body in [
            ("GET", "/api/users/1", None),
            ("GET", "/api/products?page=1&sort=name", None),
            ("GET", "/api/report", None),
            ("GET", "/api/legacy", None),
            ("POST", "/api/echo", {"q": "x"}),
            ("GET", "/api/users/1", None),  # a second occurrence of the same request
        ]:
            async with client.request(method, base + path, json=body, proxy=necto.proxy_url) as r:
                await r.read()


async def run_replay(
    http: aiohttp.ClientSession, necto: RunningNecto, session_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    status, job = await api(http, necto, "POST", f"/api/sessions/{session_id}/replay", json=payload)
    assert status == 202, job
    deadline = time.monotonic() + 20
    while job["status"] not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.02)
        _, job = await api(http, necto, "GET", f"/api/replays/{job['id']}")
    return job


async def test_v1_replayed_against_v2_diff_names_exactly_the_regressions(
    necto: RunningNecto, versions: Versions, http: aiohttp.ClientSession, fresh_session: Session
) -> None:
    await capture_v1(necto, versions.v1)
    await wait_for_entries(necto.store, fresh_session.id, 6)

    rewrite = {"from": versions.v1, "to": versions.v2}
    job = await run_replay(http, necto, fresh_session.id, {"hostRewrite": rewrite, "concurrency": 2})
    assert job["status"] == "completed", job
    assert (job["done"], job["total"], job["failed"]) == (6, 6, 0)
    status, session = await api(http, necto, "GET", f"/api/sessions/{job['sessionId']}")
    assert session["name"] == f"Replay of {fresh_session.name}" and session["trafficCount"] == 6
    replayed = await wait_for_entries(necto.store, job["sessionId"], 6)
    assert all(e.url.startswith(versions.v2) and e.source == "replay" for e in replayed)
    assert all(e.timings.wait >= 0 and e.duration > 0 for e in replayed)

    status, diff = await api(
        http, necto, "POST", "/api/compare/sessions",
        json={"a": fresh_session.id, "b": job["sessionId"], "hostRewrite": rewrite},
    )  # fmt: skip
    assert status == 200, diff
    assert diff["identical"] is False
    assert diff["onlyInA"] == [] and diff["onlyInB"] == []
    assert diff["summary"]["paired"] == 6
    changes = {c["url"].removeprefix(versions.v1): c for c in diff["changes"]}
    # Exactly two endpoints changed: the dropped one and the one with a changed field.
    assert set(changes) == {"/api/legacy", "/api/products?page=1&sort=name"}
    assert changes["/api/legacy"]["status"] == {"a": 200, "b": 404}
    products = changes["/api/products?page=1&sort=name"]
    assert "status" not in products and "headers" not in products  # Date, X-Request-Id ignored
    assert products["body"]["kind"] == "json"
    assert products["body"]["changes"] == [{"path": "$.items[1].price", "type": "changed", "a": 20, "b": 25}]
    # The slow endpoint is flagged, by about the planted delay (a busy machine may flag others).
    flagged = {row["endpoint"]: row for row in diff["timing"] if row["flagged"]}
    report = flagged[f"GET {versions.v1}/api/report"]
    assert report["delta"] >= SLOW_MS * 0.5
    assert report["b"]["wait"] >= SLOW_MS * 0.5  # the slowdown is in the server's wait
    assert diff["summary"]["timingFlags"] == len(flagged)

    # The same diff from the command line, no server involved: exit 1, same findings.
    code, out, err = await run_cmd(
        sys.executable, "-m", "necto", "diff", fresh_session.id, job["sessionId"], "--json",
        "--rewrite", f"{versions.v1}={versions.v2}", "--data-dir", str(necto.data_dir),
    )  # fmt: skip
    assert code == 1, err
    cli = orjson.loads(out)
    assert cli["summary"] == diff["summary"]
    assert [c["body"]["changes"] for c in cli["changes"] if "body" in c and "status" not in c] == [
        products["body"]["changes"]
    ]

    code, out, err = await run_cmd(
        sys.executable, "-m", "necto", "diff", fresh_session.id, job["sessionId"],
        "--rewrite", f"{versions.v1}={versions.v2}", "--data-dir", str(necto.data_dir),
    )  # fmt: skip
    text = out.decode()
    assert code == 1, err
    assert "status 200 -> 404" in text and "body $.items[1].price: 20 -> 25" in text
    flags = diff["summary"]["timingFlags"]  # the same stored sessions: the same flags as the API's
    assert "SLOWER" in text and text.count("SLOWER") == flags
    assert f"different: 0 only in A, 0 only in B, 2 changed, {flags} timing flagged" in text


async def test_session_diff_equal_and_only_in(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    """Pairing: query order does not matter, occurrences pair in order, extras are only-in."""
    a = await necto.store.create_session("diff-a")
    b = await necto.store.create_session("diff-b")
    body = b'{"x": 1}'

    def entry(sid: str, url: str, t: float, total: float = 5.0) -> Entry:
        return Entry(
            session_id=sid, started=t, method="GET", url=url, status=200, status_text="OK",
            response_headers=[("Content-Type", "application/json"), ("Date", str(t))],
            response_body=body, response_body_size=len(body), timings=Timings(send=1, wait=total - 2, receive=1),
        )  # fmt: skip

    await necto.store.add_entries(
        [entry(a.id, "http://h/p?a=1&b=2", 1), entry(a.id, "http://h/p?a=1&b=2", 2), entry(a.id, "http://h/gone", 3)]
    )
    await necto.store.add_entries(
        [entry(b.id, "http://H:80/p?b=2&a=1", 1), entry(b.id, "http://h/p?b=2&a=1", 2), entry(b.id, "http://h/new", 3)]
    )
    status, diff = await api(http, necto, "POST", "/api/compare/sessions", json={"a": a.id, "b": b.id})
    assert status == 200
    assert diff["summary"]["paired"] == 2 and diff["changes"] == []
    assert [x["url"] for x in diff["onlyInA"]] == ["http://h/gone"]
    assert [x["url"] for x in diff["onlyInB"]] == ["http://h/new"]
    assert diff["identical"] is False

    status, same = await api(http, necto, "POST", "/api/compare/sessions", json={"a": a.id, "b": a.id})
    assert same["identical"] is True and same["summary"]["timingFlags"] == 0

    code, out, _ = await run_cmd(
        sys.executable, "-m", "necto", "diff", "diff-a", "diff-a", "--data-dir", str(necto.data_dir)
    )
    assert code == 0 and b"equal:" in out
    code, _, err = await run_cmd(
        sys.executable, "-m", "necto", "diff", "diff-a", "no-such-session", "--data-dir", str(necto.data_dir)
    )
    assert code == 2 and b"Session not found" in err


async def test_compare_two_entries(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession, fresh_session: Session
) -> None:
    async with aiohttp.ClientSession() as client:
        for path in ("/echo", "/echo"):
            payload = {"ts": time.time(), "user": {"name": "ada" if path else ""}, "n": 1}
            async with client.post(upstream.http_url + path, json=payload, proxy=necto.proxy_url) as r:
                await r.read()
        async with client.get(upstream.http_url + "/cookies", proxy=necto.proxy_url) as r:
            await r.read()
        async with client.get(upstream.http_url + "/image.png", proxy=necto.proxy_url) as r:
            await r.read()
    e1, e2, cookies, image = await wait_for_entries(necto.store, fresh_session.id, 4)

    status, d = await api(http, necto, "GET", f"/api/compare/entries?a={e1.id}&b={e2.id}")
    assert status == 200
    assert d["requestLine"]["changed"] == []
    assert d["status"] == {"a": 200, "b": 200, "changed": False}
    assert d["responseHeaders"] == {"added": [], "removed": [], "changed": []}  # Date ignored
    assert [c["path"] for c in d["responseBody"]["changes"]] == ["$.ts"]
    assert set(d["timings"]) == {"blocked", "dns", "connect", "ssl", "send", "wait", "receive", "total"}
    assert d["timings"]["total"]["delta"] == round(e2.duration - e1.duration, 3)

    status, d = await api(http, necto, "GET", f"/api/compare/entries?a={e1.id}&b={e2.id}&ignorePaths=$.ts")
    assert d["identical"] is True, d

    status, d = await api(http, necto, "GET", f"/api/compare/entries?a={e1.id}&b={cookies.id}")
    assert d["requestLine"]["changed"] == ["method", "url"]
    assert d["responseBody"]["kind"] == "mixed"
    assert "set-cookie" not in {h["name"].lower() for h in d["responseHeaders"]["added"]}  # volatile
    status, d = await api(http, necto, "GET", f"/api/compare/entries?a={e1.id}&b={cookies.id}&ignoreVolatile=false")
    assert "Set-Cookie" in {h["name"] for h in d["responseHeaders"]["added"]}
    assert any(h["name"].lower() == "content-length" for h in d["responseHeaders"]["changed"])

    status, d = await api(http, necto, "GET", f"/api/compare/entries?a={cookies.id}&b={image.id}")
    assert d["responseBody"]["kind"] == "mixed"
    assert d["responseBody"]["b"]["kind"] == "binary" and d["responseBody"]["b"]["size"] == image.response_body_size
    assert len(d["responseBody"]["b"]["sha256"]) == 64
    assert {"name": "Content-Type", "a": "text/plain; charset=utf-8", "b": "image/png"} in d["responseHeaders"][
        "changed"
    ]


async def test_text_bodies_get_a_line_diff(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    s = await necto.store.create_session("text-diff")

    def entry(text: bytes) -> Entry:
        return Entry(
            session_id=s.id, started=time.time(), method="GET", url="http://h/t", status=200,
            response_headers=[("Content-Type", "text/plain")], response_body=text,
        )  # fmt: skip

    a, b = entry(b"one\ntwo\nthree\n"), entry(b"one\n2\nthree\n")
    await necto.store.add_entries([a, b])
    status, d = await api(http, necto, "GET", f"/api/compare/entries?a={a.id}&b={b.id}")
    assert d["responseBody"]["kind"] == "text" and d["identical"] is False
    assert "-two" in d["responseBody"]["lines"] and "+2" in d["responseBody"]["lines"]


async def test_compare_errors_are_json(
    necto: RunningNecto, http: aiohttp.ClientSession, fresh_session: Session
) -> None:
    assert await api(http, necto, "GET", "/api/compare/entries?a=x") == (
        400, {"error": "Query parameters a and b (entry ids) are required"},
    )  # fmt: skip
    assert await api(http, necto, "GET", "/api/compare/entries?a=x&b=y") == (404, {"error": "Traffic entry not found"})
    assert await api(http, necto, "GET", "/api/compare/entries?a=x&b=y&ignorePaths=$[") == (
        400, {"error": "invalid JSON path: $["},
    )  # fmt: skip
    assert await api(http, necto, "POST", "/api/compare/sessions", json={"a": fresh_session.id}) == (
        400, {"error": "a and b (session ids) are required"},
    )  # fmt: skip
    # Which of the two was not found: said in `detail`, `side` and `sessionId`.
    assert await api(http, necto, "POST", "/api/compare/sessions", json={"a": fresh_session.id, "b": "nope"}) == (
        404, {"error": "Session not found", "detail": "Session b not found: nope", "side": "b", "sessionId": "nope"},
    )  # fmt: skip
    status, body = await api(http, necto, "POST", "/api/compare/sessions", json={"a": "gone", "b": fresh_session.id})
    assert (status, body["error"], body["side"], body["sessionId"]) == (404, "Session not found", "a", "gone")
    status, body = await api(
        http, necto, "POST", "/api/compare/sessions", json={"a": "x", "b": "y", "thresholdMs": "fast"}
    )
    assert (status, body) == (400, {"error": "thresholdMs must be a non-negative number"})


async def test_har_of_v1_replayed_against_v2_and_diffed_from_the_command_line(
    necto: RunningNecto, versions: Versions, fresh_session: Session, tmp_path: Any
) -> None:
    """The HAR workflow: a HAR of v1 traffic, `necto replay FILE.har --to v2`, `necto diff FILE.har SESSION`."""
    pytest.importorskip("necto.har.importer")
    from necto.har.export import export_har

    await capture_v1(necto, versions.v1)
    await wait_for_entries(necto.store, fresh_session.id, 6)
    har = tmp_path / "v1.har"
    har.write_bytes(b"".join([c async for c in export_har(necto.store.iter_entries(fresh_session.id))]))

    code, out, err = await run_cmd(
        sys.executable, "-m", "necto", "replay", str(har), "--to", versions.v2, "--keep-order", "--json",
        "--data-dir", str(necto.data_dir),
    )  # fmt: skip
    assert code == 0, err
    job = orjson.loads(out)
    assert (job["status"], job["done"], job["total"], job["sessionName"]) == ("completed", 6, 6, "Replay of v1.har")

    code, out, err = await run_cmd(
        sys.executable, "-m", "necto", "diff", str(har), job["sessionId"], "--json",
        "--rewrite", f"{versions.v1}={versions.v2}", "--data-dir", str(necto.data_dir),
    )  # fmt: skip
    assert code == 1, err
    diff = orjson.loads(out)
    assert diff["onlyInA"] == [] and diff["onlyInB"] == [] and diff["summary"]["paired"] == 6
    by_url = {c["url"].removeprefix(versions.v1): c for c in diff["changes"]}
    assert set(by_url) == {"/api/legacy", "/api/products?page=1&sort=name"}
    assert by_url["/api/legacy"]["status"] == {"a": 200, "b": 404}
    assert by_url["/api/products?page=1&sort=name"]["body"]["changes"] == [
        {"path": "$.items[1].price", "type": "changed", "a": 20, "b": 25}
    ]
    assert f"GET {versions.v1}/api/report" in [r["endpoint"] for r in diff["timing"] if r["flagged"]]

    # The HAR against itself is equal; a file that is not a HAR is an error.
    code, out, _ = await run_cmd(
        sys.executable, "-m", "necto", "diff", str(har), str(har), "--data-dir", str(necto.data_dir)
    )
    assert code == 0 and b"equal:" in out
    bad = tmp_path / "bad.har"
    bad.write_bytes(b"not json")
    code, _, err = await run_cmd(
        sys.executable, "-m", "necto", "diff", str(bad), str(har), "--data-dir", str(necto.data_dir)
    )
    assert code == 2 and err.startswith(b"necto: ")


async def test_ignored_json_paths_accept_wildcards_and_any_depth(
    necto: RunningNecto, http: aiohttp.ClientSession
) -> None:
    s = await necto.store.create_session("json paths")

    def entry(doc: Any) -> Entry:
        body = orjson.dumps(doc)
        return Entry(
            session_id=s.id, started=time.time(), method="GET", url="http://h/j", status=200,
            response_headers=[("Content-Type", "application/json")], response_body=body,
        )  # fmt: skip

    a = entry({"meta": {"ts": 1, "n": 1}, "items": [{"id": "x1", "v": 1, "ts": 5}], "odd key": 1, "flag": True})
    b = entry({"meta": {"ts": 2, "n": 1}, "items": [{"id": "y9", "v": 2, "ts": 6}], "odd key": 2, "flag": 1})
    await necto.store.add_entries([a, b])
    path = f"/api/compare/entries?a={a.id}&b={b.id}"
    _, d = await api(http, necto, "GET", path)
    assert [c["path"] for c in d["responseBody"]["changes"]] == [
        "$.meta.ts", "$.items[0].id", "$.items[0].v", "$.items[0].ts", '$["odd key"]', "$.flag",
    ]  # fmt: skip
    assert d["responseBody"]["changes"][-1] == {"path": "$.flag", "type": "changed", "a": True, "b": 1}
    _, d = await api(http, necto, "GET", path + '&ignorePaths=$..ts,$.items[*].id,$["odd key"],flag')
    assert [c["path"] for c in d["responseBody"]["changes"]] == ["$.items[0].v"]
