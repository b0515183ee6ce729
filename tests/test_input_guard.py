"""Bad input gets a 4xx in JSON, never a 500 or a traceback; the token is asked for and
need not be on the command line (issue 11, items 12 and 16).
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from helpers import NECTO, TestPki, Upstream, necto_process, poll_until, run_cmd, stop


def lan_address() -> str | None:
    """This machine's address on its network (no packet is sent), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
        except OSError:
            return None
        addr = s.getsockname()[0]
    return None if addr.startswith("127.") or addr == "0.0.0.0" else addr


async def call(
    c: aiohttp.ClientSession, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else None
    kwargs: dict[str, Any] = {"json": body} if body is not None and data is None else {}
    hdrs = {"Content-Type": "application/json", **(headers or {})} if data is not None else (headers or {})
    async with c.request(method, url, data=data, headers=hdrs, **kwargs) as r:
        raw = await r.read()
        assert r.content_type == "application/json", (method, url, r.status, raw[:200])
        return r.status, orjson.loads(raw)


async def test_malformed_input_is_a_4xx_in_json_never_a_500(tmp_path: Path, pki: TestPki, upstream: Upstream) -> None:
    async with necto_process(tmp_path / "h", pki) as p:
        api = p.api_url
        async with aiohttp.ClientSession() as c:
            async with c.get(f"{upstream.http_url}/hello", proxy=p.proxy_url) as r:
                assert r.status == 200

            entries: list = []

            async def captured() -> bool:
                nonlocal entries
                async with c.get(f"{api}/api/traffic") as r:
                    entries = (await r.json())["entries"]
                return bool(entries)

            await poll_until(captured, "the capture")
            eid, sid = entries[0]["id"], entries[0]["sessionId"]
            s = f"/api/sessions/{sid}"
            table: list[tuple[str, str, Any, dict[str, str] | None, int]] = [
                # Origin headers that do not parse are foreign origins: 403, not 500.
                *(("POST", "/api/sessions", {"name": "x"}, {"Origin": o}, 403)
                  for o in ("http://localhost:abc", "http://localhost:99999", "http://[::1", "http://[zz]:1",
                            "http://localhost:-1", "null", "http://:80")),
                ("GET", "/api/traffic?limit=abc", None, None, 400),
                ("GET", "/api/traffic?limit=99999999999999999999", None, None, 400),
                ("GET", "/api/traffic?offset=-1", None, None, 400),
                ("GET", "/api/traffic?offset=99999999999999999999", None, None, 400),
                ("GET", "/api/traffic?statusCodes=99999999999999999999999", None, None, 400),
                ("GET", "/api/traffic?sortField=evil", None, None, 400),
                ("GET", "/api/traffic?sortDirection=up", None, None, 400),
                ("GET", f"/api/har/export/{sid}?redact=maybe", None, None, 400),
                ("GET", f"/api/compare/entries?a={eid}&b={eid}&thresholdMs=abc", None, None, 400),
                ("POST", "/api/sessions", b"[]", None, 400),
                ("POST", "/api/sessions", b'"name"', None, 400),
                ("POST", "/api/sessions", b"{", None, 400),
                ("POST", "/api/sessions", b"\xff\xfe", None, 400),
                ("POST", "/api/sessions", {"name": 123}, None, 400),
                ("PATCH", s, {"isRecording": "yes"}, None, 400),
                ("POST", "/api/har/export", {"entryIds": "x"}, None, 400),
                ("POST", "/api/har/export", {"entryIds": [1, 2]}, None, 400),
                ("POST", "/api/traffic/replay", {"method": "GET", "url": "http://[::1/"}, None, 400),
                ("POST", "/api/traffic/replay", {"method": "GET", "url": "http://x:99999/"}, None, 400),
                ("POST", "/api/traffic/replay", {"method": "GET;id", "url": "http://x/"}, None, 400),
                ("POST", f"/api/traffic/{eid}/replay", {"url": "http://[zz]/"}, None, 400),
                ("POST", f"/api/traffic/{eid}/replay", {"timeout": 1e308}, None, 400),
                ("POST", f"{s}/replay", {"concurrency": 1e30}, None, 400),
                ("POST", f"{s}/replay", {"speed": "fast"}, None, 400),
                ("POST", f"{s}/replay", {"hostRewrite": 5}, None, 400),
                ("POST", "/api/compare/sessions", {"a": 5, "b": []}, None, 400),
                ("DELETE", "/api/replays/nope", None, None, 404),
            ]  # fmt: skip
            wrong = []
            for method, path, body, headers, expected in table:
                status, answer = await call(c, method, api + path, body, headers)
                if status != expected or "error" not in answer:
                    wrong.append((method, path, body, headers, status, answer))
            assert not wrong, wrong

            # And a sweep: every query parameter and JSON body below, with junk, stays under 500.
            junk = ["abc", "1e3", "-1", "99999999999999999999", "", "1.5", "NaN", "inf", "1e400", "\x00", "%ff", "[]"]
            params = ["/api/traffic?limit=", "/api/traffic?offset=", "/api/traffic?statusCodes=", "/api/traffic?sessionId=",
                      "/api/traffic?methods=", "/api/traffic?hosts=", "/api/traffic?search=", f"{s}/inventory?includeStatic=",
                      f"{s}/openapi.json?host=", f"/api/har/export/{sid}?excludeBinary=", "/api/traffic/", "/api/sessions/",
                      "/api/replays/", "/api/traffic/stats/", f"/api/compare/entries?a={eid}&b={eid}&ignorePaths="]  # fmt: skip
            for prefix, value in itertools.product(params, junk):
                status, _ = await call(c, "GET", api + prefix + value)
                assert status < 500, (prefix, value, status)
            bodies = [b"[]", b"1", b"null", b'{"name": {"a": 1}}', b'{"isRecording": 1}', b'{"entryIds": [null]}',
                      b'{"timeout": -1}', b'{"headers": 5}', b'{"headers": {"a\\nb": "x"}}', b'{"body": 5}',
                      b'{"concurrency": 99999999999999999999999}', b'{"methods": [5]}', b'{"ignorePaths": ["$[[["]}',
                      b'{"thresholdMs": 1e400}', b'{"name": "\\ud800"}']  # fmt: skip
            targets = [("POST", "/api/sessions"), ("PATCH", s), ("POST", "/api/har/export"), ("POST", f"/api/traffic/{eid}/replay"),
                       ("POST", "/api/traffic/replay"), ("POST", f"{s}/replay"), ("POST", "/api/compare/sessions")]  # fmt: skip
            for (method, path), body in itertools.product(targets, bodies):
                status, answer = await call(c, method, api + path, body)
                assert status < 500, (method, path, body, status, answer)
        code, output = await stop(p)
    assert code == 0 and "Traceback" not in output and "unhandled error" not in output, output


@pytest.mark.parametrize(
    "argv",
    [
        ["traffic", "list", "--status", "99999999999999999999"],
        ["traffic", "list", "--limit", "99999999999999999999"],
        ["traffic", "list", "--offset", "-5"],
        ["traffic", "list", "--sort", "evil"],
        ["run", "--proxy-port", "99999"],
        ["run", "--idle-timeout", "soon"],
        ["run", "--max-connections", "0"],
    ],
    ids=lambda a: " ".join(a),
)
async def test_cli_numbers_out_of_range_are_usage_errors(tmp_path: Path, argv: list[str]) -> None:
    code, out, err = await run_cmd(*NECTO, *argv, "--data-dir", str(tmp_path / "h"), timeout=60)
    assert code == 2, (out, err)
    assert b"Traceback" not in err and err.strip(), err


async def test_token_from_env_or_file_is_asked_for_by_a_lan_client(tmp_path: Path, pki: TestPki) -> None:
    lan = lan_address()
    if lan is None:
        pytest.skip("no network address besides loopback on this machine")
    token = "s3cret-" + os.urandom(8).hex()
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    os.chmod(token_file, 0o600)
    for how, extra, env in (
        ("$NECTO_TOKEN", (), {"NECTO_TOKEN": token}),
        ("--token-file", ("--token-file", str(token_file)), {}),
    ):
        async with necto_process(tmp_path / how.strip("$-"), pki, "--api-host", "0.0.0.0", *extra, env=env) as p:
            assert token not in p.banner and how in p.banner, p.banner
            with open(f"/proc/{p.proc.pid}/cmdline", "rb") as f:
                assert token.encode() not in f.read()  # nothing for `ps` to show
            port = p.api_url.rsplit(":", 1)[1]
            url = f"http://{lan}:{port}/api/sessions"
            async with aiohttp.ClientSession() as c:
                async with c.get(url) as r:  # a phone on the LAN, without the token
                    assert r.status == 401
                    assert "token" in (await r.json())["error"]
                async with c.get(url, headers={"Authorization": "Bearer wrong"}) as r:
                    assert r.status == 401
                async with c.get(url, headers={"Authorization": f"Bearer {token}"}) as r:
                    assert r.status == 200
                async with c.get(url, params={"token": token}) as r:
                    assert r.status == 200
                # The page opened by the LAN address posts with that origin and the token.
                origin = {"Origin": f"http://{lan}:{port}", "Authorization": f"Bearer {token}"}
                async with c.post(url, json={"name": f"from {how}"}, headers=origin) as r:
                    assert r.status == 201, await r.text()
                async with c.post(
                    url, json={"name": "forged"}, headers={**origin, "Origin": "http://evil.example"}
                ) as r:
                    assert r.status == 403
                # A DNS-rebinding page on this machine still meets the Host check.
                async with c.get(f"http://127.0.0.1:{port}/api/sessions", headers={"Host": "evil.example"}) as r:
                    assert r.status == 403
            await stop(p)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    started = time.monotonic()
    code, out, err = await run_cmd(
        *NECTO, "run", "--token-file", str(empty), "--data-dir", str(tmp_path / "e"), timeout=60
    )
    assert code == 2 and b"is empty" in err and b"Traceback" not in err, err
    assert time.monotonic() - started < 60
