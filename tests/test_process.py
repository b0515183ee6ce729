"""Necto as a user runs it: the `necto` command in its own process.

Covers what only a real process shows: the start banner, Ctrl-C flushing every capture, a
restart on the same data directory, a port clash, the token for non-loopback binds, the CLI's
store commands, and the recorder loaded into a plain mitmdump.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path

import aiohttp

from helpers import NECTO, TestPki, Upstream, free_port, necto_process, run_cmd, stop, wait_for_port

BIN = Path(sys.executable).parent  # mitmdump beside the interpreter running the tests


async def test_ctrl_c_keeps_everything_and_restart_finds_it(tmp_path: Path, pki: TestPki, upstream: Upstream) -> None:
    home = tmp_path / "home"
    async with necto_process(home, pki) as p:
        assert "curl -x" in p.banner and "necto-ca-cert.pem" in p.banner
        async with aiohttp.ClientSession() as c:
            for i in range(50):
                async with c.get(f"{upstream.http_url}/hello?n={i}", proxy=p.proxy_url) as r:
                    assert r.status == 200
            async with c.post(f"{p.api_url}/api/sessions", json={"name": "kept"}) as r:
                assert r.status == 201
        # Ctrl-C right after the last response: the batch still pending must be written.
        code, output = await stop(p)
        assert code == 0, output
        assert "Traceback" not in output

    async with necto_process(home, pki) as p2:
        async with aiohttp.ClientSession() as c:
            async with c.get(f"{p2.api_url}/api/sessions") as r:
                sessions = await r.json()
            assert "kept" in [s["name"] for s in sessions]
            default = next(s for s in sessions if s["name"] == "Default Session")
            assert default["trafficCount"] == 50
            async with c.get(f"{p2.api_url}/api/traffic", params={"sessionId": default["id"], "limit": "100"}) as r:
                urls = sorted(e["url"] for e in (await r.json())["entries"])
        assert urls == sorted(f"{upstream.http_url}/hello?n={i}" for i in range(50))
        await stop(p2)


async def test_port_clash_is_a_clear_error(tmp_path: Path, pki: TestPki) -> None:
    async with necto_process(tmp_path / "a", pki) as p:
        api_port = p.api_url.rsplit(":", 1)[1]
        proxy_port = p.proxy_url.rsplit(":", 1)[1]
        for flag, port in (("--api-port", api_port), ("--proxy-port", proxy_port)):
            args = ["run", "--data-dir", str(tmp_path / "b"), "--proxy-port", "0", "--api-port", "0", flag, port]
            code, out, err = await run_cmd(*NECTO, *args, timeout=30)
            assert code == 2, (flag, out, err)
            assert b"Traceback" not in err
            assert f":{port}".encode() in err and b"cannot listen" in err
        # The running instance is unharmed.
        async with aiohttp.ClientSession() as c:
            async with c.get(f"{p.api_url}/api/health") as r:
                assert r.status == 200
        await stop(p)


async def test_body_cap_stores_truncated_bodies(tmp_path: Path, pki: TestPki, upstream: Upstream) -> None:
    async with necto_process(tmp_path / "h", pki, "--max-body-size", "1KB") as p:
        async with aiohttp.ClientSession() as c:
            async with c.get(f"{upstream.http_url}/big?bytes=5000", proxy=p.proxy_url) as r:
                assert len(await r.read()) == 5000  # the client still gets everything
            deadline = time.monotonic() + 10
            entries: list = []
            while not entries and time.monotonic() < deadline:
                async with c.get(f"{p.api_url}/api/traffic") as r:
                    entries = (await r.json())["entries"]
                await asyncio.sleep(0.05)
            async with c.get(f"{p.api_url}/api/traffic/{entries[0]['id']}") as r:
                full = await r.json()
        assert full["responseBodyTruncated"] is True and full["isTruncated"] is True
        assert full["responseBodySize"] == 5000
        import base64

        assert len(base64.b64decode(full["responseBody"])) == 1024
        await stop(p)


async def test_non_loopback_api_requires_token(tmp_path: Path, pki: TestPki) -> None:
    async with necto_process(tmp_path / "t", pki, "--api-host", "0.0.0.0") as p:
        m = re.search(r"API token .*: (\S+)", p.banner)
        assert m, p.banner
        token = m.group(1)
        port = p.api_url.rsplit(":", 1)[1]
        url = f"http://127.0.0.1:{port}/api/sessions"
        async with aiohttp.ClientSession() as c:
            async with c.get(url, headers={"Host": "necto.lan"}) as r:
                assert r.status == 403
            async with c.get(url, headers={"Host": "necto.lan", "Authorization": f"Bearer {token}"}) as r:
                assert r.status == 200
            async with c.get(url, params={"token": token}, headers={"Host": "necto.lan"}) as r:
                assert r.status == 200
            async with c.get(url, headers={"Host": "necto.lan", "Authorization": "Bearer wrong"}) as r:
                assert r.status == 403
        await stop(p)


async def test_cli_sessions_and_traffic_commands(tmp_path: Path) -> None:
    home = ["--data-dir", str(tmp_path / "cli")]
    code, out, _ = await run_cmd(*NECTO, "sessions", "create", "Mobile app", "--activate", *home)
    assert code == 0 and b"Mobile app" in out
    code, out, _ = await run_cmd(*NECTO, "sessions", "rename", "Mobile app", "iOS app", *home)
    assert code == 0
    code, out, _ = await run_cmd(*NECTO, "sessions", "pause", "iOS app", *home)
    assert code == 0 and b"paused" in out
    code, out, _ = await run_cmd(*NECTO, "sessions", "list", "--json", *home)
    import orjson

    listed = {s["name"]: s for s in orjson.loads(out)}
    assert listed["iOS app"]["isActive"] is True and listed["iOS app"]["isRecording"] is False
    code, out, err = await run_cmd(*NECTO, "sessions", "delete", "no such", *home)
    assert code == 1 and b"Session not found" in err
    code, out, _ = await run_cmd(*NECTO, "traffic", "list", "--json", "--status", "4xx", "--status", "0", *home)
    assert code == 0 and orjson.loads(out)["count"] == 0
    code, _, err = await run_cmd(*NECTO, "traffic", "list", "--status", "4xxx", *home)
    assert code == 2 and b"Invalid status code: 4xxx" in err
    code, out, _ = await run_cmd(*NECTO, "--version")
    assert code == 0 and out.startswith(b"necto ")
    code, out, _ = await run_cmd(*NECTO, "ca", *home)
    assert code == 0 and b"SHA-256" in out


async def test_cli_session_switch_is_followed_by_a_running_necto(
    tmp_path: Path, pki: TestPki, upstream: Upstream
) -> None:
    home = tmp_path / "follow"
    async with necto_process(home, pki) as p:
        code, out, _ = await run_cmd(*NECTO, "sessions", "create", "from cli", "--activate", "--data-dir", str(home))
        assert code == 0
        async with aiohttp.ClientSession() as c:
            deadline = time.monotonic() + 10
            while True:  # the server's recorder follows the change made by another process
                async with c.get(f"{p.api_url}/api/sessions/active") as r:
                    active = await r.json()
                async with c.get(f"{p.api_url}/api/health") as r:
                    health = await r.json()
                if health["captureSessionId"] == active["id"] or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            assert active["name"] == "from cli"
            assert health["captureSessionId"] == active["id"]
            async with c.get(f"{upstream.http_url}/hello", proxy=p.proxy_url) as r:
                assert r.status == 200
        await stop(p)
    code, out, _ = await run_cmd(*NECTO, "traffic", "list", "--session", "from cli", "--json", "--data-dir", str(home))
    import orjson

    assert orjson.loads(out)["count"] == 1


async def test_recorder_loads_into_plain_mitmdump(tmp_path: Path, pki: TestPki, upstream: Upstream) -> None:
    home = tmp_path / "mitmdump-home"
    port = free_port()
    script = Path(__file__).resolve().parent.parent / "addons" / "necto_recorder.py"
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "mitmdump"),
        "-q",
        "--listen-host",
        "127.0.0.1",
        "--listen-port",
        str(port),
        "-s",
        str(script),
        "--set",
        f"necto_home={home}",
        "--set",
        f"ssl_verify_upstream_trusted_ca={pki.ca_pem}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ},
    )
    try:
        await wait_for_port(port)
        async with aiohttp.ClientSession() as c:
            async with c.get(f"{upstream.http_url}/hello?via=mitmdump", proxy=f"http://127.0.0.1:{port}") as r:
                assert r.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 30)
    code, out, _ = await run_cmd(*NECTO, "traffic", "list", "--json", "--data-dir", str(home))
    import orjson

    entries = orjson.loads(out)["entries"]
    assert [e["url"] for e in entries] == [f"{upstream.http_url}/hello?via=mitmdump"]
    assert entries[0]["status"] == 200
