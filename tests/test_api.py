"""The REST API as a user of curl sees it: sessions, traffic, certificates, health, security."""

from __future__ import annotations

import base64
import os
import stat

import aiohttp

from helpers import RunningNecto, Upstream, curl, run_cmd, wait_for_entries
from necto.model import Session


async def test_health(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{necto.api_url}/api/health") as r:
        assert r.status == 200
        body = await r.json()
    assert body["status"] == "ok"
    assert f"http://127.0.0.1:{body['proxy']['port']}" == necto.proxy_url


async def test_sessions_lifecycle(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    api = f"{necto.api_url}/api/sessions"
    async with http.post(api, json={"name": "Checkout flow"}) as r:
        assert r.status == 201
        created = await r.json()
    assert created["name"] == "Checkout flow"
    assert set(created) == {
        "id",
        "name",
        "isActive",
        "isRecording",
        "createdAt",
        "updatedAt",
        "trafficCount",
        "totalBytes",
    }
    assert created["isActive"] is False and created["isRecording"] is True
    sid = created["id"]

    async with http.get(api) as r:
        assert sid in [s["id"] for s in await r.json()]
    async with http.patch(f"{api}/{sid}", json={"name": "Checkout v2"}) as r:
        assert r.status == 200 and (await r.json())["name"] == "Checkout v2"
    async with http.post(f"{api}/{sid}/activate") as r:
        assert r.status == 200 and (await r.json())["isActive"] is True
    async with http.get(f"{api}/active") as r:
        assert (await r.json())["id"] == sid
    async with http.get(api) as r:
        assert [s["id"] for s in await r.json() if s["isActive"]] == [sid]

    async with http.delete(f"{api}/{sid}") as r:
        assert r.status == 200 and await r.json() == {"success": True}
    async with http.get(f"{api}/{sid}") as r:
        assert r.status == 404 and await r.json() == {"error": "Session not found"}
    # There is always an active session.
    async with http.get(f"{api}/active") as r:
        assert r.status == 200 and (await r.json())["id"] != sid


async def test_session_errors(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    api = f"{necto.api_url}/api/sessions"
    for method, path, kwargs in [
        ("GET", "/nope", {}),
        ("PATCH", "/nope", {"json": {"name": "x"}}),
        ("DELETE", "/nope", {}),
        ("POST", "/nope/activate", {}),
    ]:
        async with http.request(method, api + path, **kwargs) as r:
            assert r.status == 404, (method, path)
            assert await r.json() == {"error": "Session not found"}
    async with http.post(api, data=b"{not json", headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400 and "error" in await r.json()
    async with http.post(api, json={"name": 42}) as r:
        assert r.status == 400
    async with http.patch(f"{api}/whatever", json={"isRecording": "yes"}) as r:
        assert r.status == 400
    async with http.get(f"{necto.api_url}/api/unknown") as r:
        assert r.status == 404 and r.content_type == "application/json"


async def test_traffic_list_filter_sort_page_get_delete(
    necto: RunningNecto, upstream: Upstream, fresh_session: Session, http: aiohttp.ClientSession
) -> None:
    await curl(necto, f"{upstream.http_url}/hello")
    await curl(necto, "-X", "POST", "--data-binary", "abc", f"{upstream.http_url}/echo")
    await curl(necto, f"{upstream.http_url}/status/404")
    await curl(necto, f"{upstream.http_url}/image.png")
    await wait_for_entries(necto.store, fresh_session.id, 4)
    api = f"{necto.api_url}/api/traffic"
    sid = fresh_session.id

    async def listing(**params: str) -> dict:
        async with http.get(api, params={"sessionId": sid, **params}) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    everything = await listing()
    assert everything["count"] == 4
    assert [e["path"] for e in everything["entries"]] == ["/hello", "/echo", "/status/404", "/image.png"]
    assert (await listing(methods="POST"))["count"] == 1
    assert [e["status"] for e in (await listing(statusCodes="404"))["entries"]] == [404]
    assert (await listing(statusCodes="4xx,5xx"))["count"] == 1
    assert (await listing(search="image"))["entries"][0]["contentType"] == "image/png"
    assert (await listing(hosts="127.0.0.1"))["count"] == 4
    assert (await listing(hosts="elsewhere.example"))["count"] == 0
    page = await listing(limit="2", offset="1")
    assert page["count"] == 4 and [e["path"] for e in page["entries"]] == ["/echo", "/status/404"]
    by_status = await listing(sortField="status", sortDirection="desc")
    assert by_status["entries"][0]["status"] == 404

    post_id = (await listing(methods="POST"))["entries"][0]["id"]
    async with http.get(f"{api}/{post_id}") as r:
        full = await r.json()
    assert base64.b64decode(full["requestBody"]) == b"abc"
    assert base64.b64decode(full["responseBody"]) == b"abc"
    assert set(full["timings"]) == {"blocked", "dns", "connect", "ssl", "send", "wait", "receive"}
    assert full["serverIp"] == "127.0.0.1"

    async with http.delete(f"{api}/{post_id}") as r:
        assert r.status == 200 and await r.json() == {"success": True}
    async with http.get(f"{api}/{post_id}") as r:
        assert r.status == 404 and await r.json() == {"error": "Traffic entry not found"}
    assert (await listing())["count"] == 3

    async with http.get(f"{api}/stats/{sid}") as r:
        stats = await r.json()
    assert stats["totalRequests"] == 3 and stats["completedRequests"] == 3
    assert stats["failedRequests"] == 0 and stats["totalBytes"] > 0 and stats["avgDuration"] > 0

    async with http.delete(f"{api}/session/{sid}") as r:
        assert r.status == 200 and (await r.json())["success"] is True
    assert (await listing())["count"] == 0

    for bad in ({"limit": "lots"}, {"sortField": "color"}, {"statusCodes": "teapot"}, {"limit": "0"}):
        async with http.get(api, params=bad) as r:
            assert r.status == 400, bad
            assert "error" in await r.json()
    async with http.get(f"{api}/stats/nope") as r:
        assert r.status == 404 and await r.json() == {"error": "Session not found"}


async def test_certificate_endpoints(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{necto.api_url}/api/certificates/ca") as r:
        pem = await r.read()
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----") and pem == necto.ca_pem.read_bytes()
    async with http.get(f"{necto.api_url}/api/certificates/download") as r:
        assert "attachment" in r.headers["Content-Disposition"]
    async with http.get(f"{necto.api_url}/api/certificates/ca/info") as r:
        info = await r.json()
    code, out, _ = await run_cmd("openssl", "x509", "-in", str(necto.ca_pem), "-noout", "-fingerprint", "-sha256")
    assert code == 0 and out.decode().strip().split("=", 1)[1] == info["fingerprint"]
    assert "Necto CA" in info["subject"]
    async with http.get(f"{necto.api_url}/api/certificates/ca/install") as r:
        steps = await r.json()
    assert {"linux", "macos", "windows", "firefox", "android", "ios"} <= set(steps["platforms"])


async def test_ca_private_key_is_private(necto: RunningNecto) -> None:
    certs = necto.data_dir / "certs"
    for name in ("mitmproxy-ca.pem", "necto-ca-key.pem"):
        assert stat.S_IMODE(os.stat(certs / name).st_mode) == 0o600, name
    assert b"PRIVATE KEY" not in necto.ca_pem.read_bytes()


async def test_https_through_proxy_is_signed_by_necto_ca(
    necto: RunningNecto, upstream: Upstream, fresh_session: Session
) -> None:
    code, out, err = await curl(necto, "-v", f"{upstream.https_url}/hello")
    assert code == 0 and out == b"hello world", err
    assert b"issuer: CN=Necto CA" in err


async def test_dns_rebinding_host_is_refused(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{necto.api_url}/api/sessions", headers={"Host": "evil.example"}) as r:
        assert r.status == 403
        assert "error" in await r.json()
    async with http.get(f"{necto.api_url}/api/sessions", headers={"Host": "localhost"}) as r:
        assert r.status == 200


async def test_cross_origin_writes_are_refused(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    api = f"{necto.api_url}/api/sessions"
    for origin in ("http://evil.example", "null", "http://127.0.0.1:1"):
        async with http.post(api, json={"name": "csrf"}, headers={"Origin": origin}) as r:
            assert r.status == 403, origin
    async with http.post(api, json={"name": "x"}, headers={"Sec-Fetch-Site": "cross-site"}) as r:
        assert r.status == 403
    # The page itself (same origin) may write.
    async with http.post(api, json={"name": "same origin"}, headers={"Origin": necto.api_url}) as r:
        assert r.status == 201
    names = [s.name for s in await necto.store.list_sessions()]
    assert "csrf" not in names and "x" not in names


async def test_proxy_refuses_to_reach_its_own_api(necto: RunningNecto, fresh_session: Session) -> None:
    port = necto.api_url.rsplit(":", 1)[1]
    for host in ("127.0.0.1", "localhost", "127.0.0.2", "[::1]"):
        code, out, _ = await curl(
            necto,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            '{"name":"via proxy"}',
            f"http://{host}:{port}/api/sessions",
        )
        assert out == b"502", host  # the proxy's own error answer, not the API's 201
    assert "via proxy" not in [s.name for s in await necto.store.list_sessions()]
    refused = await wait_for_entries(necto.store, fresh_session.id, 4)
    assert [e.status for e in refused] == [None] * 4
    assert all(e.error and "refuses to proxy requests to its own API" in e.error for e in refused)


async def test_page_follows_the_api_rules(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{necto.api_url}/") as r:
        assert r.status == 200 and r.content_type == "text/html"
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        assert "Necto" in await r.text()
    async with http.get(f"{necto.api_url}/", headers={"Host": "evil.example"}) as r:
        assert r.status == 403
    async with http.get(f"{necto.api_url}/static/app.js") as r:
        assert r.status == 200 and r.content_type == "text/javascript"
    for bad in ("/static/..%2Fcli.py", "/static/.hidden", "/static/nope.js"):
        async with http.get(f"{necto.api_url}{bad}") as r:
            assert r.status == 404, bad


async def test_events_stream_pushes_new_entries(
    necto: RunningNecto, upstream: Upstream, fresh_session: Session, http: aiohttp.ClientSession
) -> None:
    import asyncio
    import json

    async with http.get(f"{necto.api_url}/api/events", params={"sessionId": fresh_session.id}) as r:
        assert r.status == 200 and r.content_type == "text/event-stream"
        assert (await r.content.readline()).startswith(b": connected")
        await curl(necto, f"{upstream.http_url}/hello?pushed=1")
        event, data = None, None
        async with asyncio.timeout(10):
            while data is None:
                line = (await r.content.readline()).decode().strip()
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event == "entries":
                    data = json.loads(line.split(":", 1)[1])
    assert [e["url"] for e in data] == [f"{upstream.http_url}/hello?pushed=1"]


async def test_oversized_json_body_is_refused_without_harm(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    from necto.api import JSON_BODY_LIMIT

    before = len(await necto.store.list_sessions())
    big = b'{"name": "' + b"x" * (JSON_BODY_LIMIT + 1) + b'"}'
    async with http.post(f"{necto.api_url}/api/sessions", data=big, headers={"Content-Type": "application/json"}) as r:
        assert r.status == 413
        assert "error" in await r.json()
    assert len(await necto.store.list_sessions()) == before
