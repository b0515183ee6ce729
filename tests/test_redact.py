"""Redaction for sharing: after a capture full of secrets, none of them survives in the HAR."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit

import aiohttp
import orjson
import pytest_asyncio
from aiohttp import web

from helpers import RunningNecto, b64url, har_validator_errors, run_cmd, wait_for_entries
from necto.har.export import export_har
from necto.redact import Redactor, redaction_comment

JWT = ".".join(
    [b64url({"alg": "RS256"}), b64url({"iss": "https://id.secret.test", "sub": "dana"}), "U2lnbmF0dXJlU2lnbmF0dXJl"]
)
EMAIL = "dana.scully@secret.test"
CARD = "4242 4242 4242 4242"
CARD_DIGITS = "4242424242424242"
PASSWORD = "Hunter2-Secret!"
SESSION_COOKIE = "S3ss10nT0k3nValue"
API_KEY = "AK-9988776655-XYZ"
PHONE = "+44 20 7183 8750"
SECRETS = [JWT, EMAIL, CARD, CARD_DIGITS, PASSWORD, SESSION_COOKIE, API_KEY, PHONE]


def secrets_app() -> web.Application:
    routes = web.RouteTableDef()

    @routes.post("/login")
    async def login(request: web.Request) -> web.Response:
        body = await request.json()
        resp = web.json_response({"token": JWT, "user": {"email": body["email"], "phone": PHONE}})
        resp.set_cookie("sid", SESSION_COOKIE, httponly=True, path="/")
        return resp

    @routes.get("/account")
    async def account(request: web.Request) -> web.Response:
        return web.json_response({"cards": [{"number": CARD, "last4": "4242"}], "email": EMAIL, "plan": "pro"})

    @routes.post("/profile")
    async def profile(request: web.Request) -> web.Response:
        form = await request.post()
        return web.Response(text=f"saved {form['email']} with card {form['card']}", content_type="text/plain")

    @routes.get("/echo-cookie")
    async def echo_cookie(request: web.Request) -> web.Response:
        # The session value reappears where no detector would know it is secret.
        return web.Response(
            body=b"\x00\x01" + SESSION_COOKIE.encode() + b"\xff", content_type="application/octet-stream"
        )

    app = web.Application()
    app.add_routes(routes)
    return app


@pytest_asyncio.fixture(scope="module")
async def captured(necto: RunningNecto) -> AsyncIterator[list[Any]]:
    runner = web.AppRunner(secrets_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    session = await necto.store.create_session("secrets", activate=True)
    auth = {"Authorization": f"Bearer {JWT}", "Cookie": f"sid={SESSION_COOKIE}; theme=dark"}
    async with aiohttp.ClientSession() as client:

        async def go(method: str, path: str, **kw: Any) -> None:
            async with client.request(method, base + path, proxy=necto.proxy_url, **kw) as r:
                await r.read()

        await go("POST", "/login", json={"email": EMAIL, "password": PASSWORD})
        await go("GET", f"/account?api_key={API_KEY}&view=full", headers={**auth, "X-Api-Key": API_KEY})
        await go("POST", "/profile", data={"email": EMAIL, "card": CARD_DIGITS}, headers=auth)
        await go("GET", "/echo-cookie", headers={"Referer": f"{base}/account?api_key={API_KEY}"})
    yield await wait_for_entries(necto.store, session.id, 4)
    await runner.cleanup()


def every_text(har_bytes: bytes) -> str:
    """The export's bytes, URL-decoded too, plus every base64 body and message decoded: a secret
    hiding in an encoding still shows up here."""
    har = orjson.loads(har_bytes)
    raw = har_bytes.decode()
    texts = [raw, unquote(raw), unquote_plus(raw)]
    for e in har["log"]["entries"]:
        for holder in (e["response"]["content"], e["request"].get("postData") or {}):
            if holder.get("encoding") == "base64" and holder.get("text"):
                texts.append(base64.b64decode(holder["text"]).decode("latin-1"))
        for m in e.get("_webSocketMessages") or []:
            if m.get("opcode") == 2:
                texts.append(base64.b64decode(m["data"]).decode("latin-1"))
    return "\n".join(texts)


async def redacted_export(entries: list[Any], title: str) -> bytes:
    """The real streaming export path, with redaction on."""
    return b"".join([chunk async for chunk in export_har(entries, title=title, redact=True)])


def assert_har_shape(har: dict[str, Any]) -> None:
    """What HAR readers require of each entry (../shared/har-notes.md) still holds."""
    log = har["log"]
    assert log["version"] == "1.2" and isinstance(log["creator"], dict) and isinstance(log["comment"], str)
    for e in log["entries"]:
        req, resp = e["request"], e["response"]
        parts = urlsplit(req["url"])
        assert parts.scheme == "http" and parts.netloc and " " not in req["url"]
        for h in req["headers"] + resp["headers"] + req["queryString"] + req["cookies"] + resp["cookies"]:
            assert isinstance(h["name"], str) and isinstance(h["value"], str)
        assert isinstance(resp["content"]["size"], int) and isinstance(resp["content"]["mimeType"], str)
        if resp["content"].get("mimeType") == "application/json":
            orjson.loads(resp["content"]["text"])  # still JSON
        for key in ("send", "wait", "receive"):
            assert e["timings"][key] >= 0


async def test_no_secret_survives_a_redacted_export(captured: list[Any]) -> None:
    plain = b"".join([chunk async for chunk in export_har(captured, title="secrets")])
    before = every_text(plain)
    for s in SECRETS:
        assert s in before, f"test setup: {s} was not captured"

    # The page title is often a URL or an address: it goes through redaction too.
    redacted = await redacted_export(captured, title=f"shared by {EMAIL} api_key={API_KEY}")
    har = orjson.loads(redacted)
    text = every_text(redacted)
    for s in SECRETS:
        assert s not in text, f"{s} survived"
    assert_har_shape(har)
    assert har["log"]["pages"][0]["title"].startswith("shared by [REDACTED:email]")

    comment = har["log"]["comment"]
    assert comment.startswith("Redacted by Necto for sharing: ")
    for kind in ("cookie", "api_key", "jwt", "email", "credit_card", "phone", "secret"):
        assert kind in comment, kind

    entries = {urlsplit(e["request"]["url"]).path: e for e in har["log"]["entries"]}
    login = entries["/login"]
    set_cookie = next(h["value"] for h in login["response"]["headers"] if h["name"].lower() == "set-cookie")
    assert set_cookie.startswith("sid=[REDACTED:cookie];") and "HttpOnly" in set_cookie and "Path=/" in set_cookie
    assert orjson.loads(login["request"]["postData"]["text"]) == {
        "email": "[REDACTED:email]",
        "password": "[REDACTED:secret]",
    }
    body = orjson.loads(login["response"]["content"]["text"])
    assert body == {"token": "[REDACTED:jwt]", "user": {"email": "[REDACTED:email]", "phone": "[REDACTED:phone]"}}
    assert login["response"]["content"]["size"] == len(login["response"]["content"]["text"].encode())

    account = entries["/account"]
    headers = {h["name"].lower(): h["value"] for h in account["request"]["headers"]}
    assert headers["authorization"] == "Bearer [REDACTED:jwt]"
    assert headers["cookie"] == "sid=[REDACTED:cookie]; theme=[REDACTED:cookie]"
    assert headers["x-api-key"] == "[REDACTED:api_key]"
    assert {q["name"]: q["value"] for q in account["request"]["queryString"]} == {
        "api_key": "[REDACTED:api_key]",
        "view": "full",
    }
    assert urlsplit(account["request"]["url"]).query == "api_key=%5BREDACTED%3Aapi_key%5D&view=full"
    assert orjson.loads(account["response"]["content"]["text"])["plan"] == "pro"  # ordinary data stays

    profile = entries["/profile"]
    assert profile["request"]["postData"]["text"] == "email=%5BREDACTED%3Aemail%5D&card=%5BREDACTED%3Acredit_card%5D"
    assert profile["response"]["content"]["text"] == "saved [REDACTED:email] with card [REDACTED:credit_card]"

    echo = entries["/echo-cookie"]
    binary = base64.b64decode(echo["response"]["content"]["text"])
    assert binary == b"\x00\x01" + b"X" * len(SESSION_COOKIE) + b"\xff"  # same length, secret gone


def test_redaction_keeps_what_is_not_sensitive() -> None:
    entry = {
        "startedDateTime": "2026-11-23T10:00:00.000Z",
        "serverIPAddress": "10.0.0.5",
        "request": {
            "method": "GET",
            "url": "https://api.test/users/ana@example.com/cards?page=2&token=abcdef123456",
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": "Accept", "value": "application/json"}],
            "queryString": [{"name": "page", "value": "2"}, {"name": "token", "value": "abcdef123456"}],
            "cookies": [],
        },
        "response": {
            "status": 200,
            "headers": [],
            "cookies": [],
            "content": {"size": 60, "mimeType": "application/json", "text": orjson.dumps(
                {"ok": "4242 4242 4242 4241", "id": 1234567890123, "ip": "10.1.2.3", "when": "2026-11-23"}
            ).decode()},
            "redirectURL": "",
        },
        "_note": "call +1 415 555 0100",
        "comment": "abcdef123456 was the token",
    }  # fmt: skip
    r = Redactor()
    r.redact_entry(entry)
    assert entry["serverIPAddress"] == "10.0.0.5"  # a required-format field stays a valid IP
    assert entry["request"]["url"] == (
        "https://api.test/users/%5BREDACTED%3Aemail%5D/cards?page=2&token=%5BREDACTED%3Aapi_key%5D"
    )
    body = orjson.loads(entry["response"]["content"]["text"])
    # Not Luhn-valid, an id, a date: kept. A private address: masked.
    assert body == {
        "ok": "4242 4242 4242 4241",
        "id": 1234567890123,
        "ip": "[REDACTED:private_ip]",
        "when": "2026-11-23",
    }
    assert entry["_note"] == "call [REDACTED:phone]"
    assert entry["comment"] == "[REDACTED:secret] was the token"
    assert redaction_comment({}) == "Redacted by Necto for sharing: nothing sensitive was found."
    assert (
        redaction_comment({"email": 2}, "Exported by Necto")
        == "Exported by Necto\nRedacted by Necto for sharing: 2 email."
    )


async def test_redact_option_on_both_export_endpoints_and_the_cli(
    captured: list[Any], necto: RunningNecto, tmp_path: Any
) -> None:
    import sys

    session_id = captured[0].session_id
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{necto.api_url}/api/har/export/{session_id}", params={"redact": "true"}) as r:
            assert r.status == 200
            whole = await r.read()
        async with http.post(
            f"{necto.api_url}/api/har/export",
            json={"entryIds": [e.id for e in captured], "redact": True},
        ) as r:
            assert r.status == 200
            selected = await r.read()
        async with http.get(f"{necto.api_url}/api/har/export/{session_id}") as r:
            plain = await r.read()
    out = tmp_path / "cli.har"
    code, _, err = await run_cmd(
        sys.executable,
        "-m",
        "necto",
        "export",
        session_id,
        "-o",
        str(out),
        "--redact",
        "--data-dir",
        str(necto.data_dir),
    )
    assert code == 0, err
    assert any(s in every_text(plain) for s in SECRETS)  # off by default
    for raw in (whole, selected, out.read_bytes()):
        text = every_text(raw)
        for s in SECRETS:
            assert s not in text, f"{s} survived"
        har = orjson.loads(raw)
        assert har["log"]["comment"].startswith("Redacted by Necto for sharing: ")
        assert len(har["log"]["entries"]) == 4
    path = tmp_path / "api.har"
    path.write_bytes(whole)
    assert await har_validator_errors(path) is None
