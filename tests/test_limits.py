"""Idle and slow clients, and too many of them (issue 11, item 10).

A connection that never finishes its request headers, or sits idle after a response, is
closed after `--header-timeout` / `--idle-timeout`, on the proxy and on the API. Past
`--max-connections` the proxy refuses new connections (one log line a minute, not one per
socket) and the API, with descriptors of its own, keeps answering, even when the process is
at its open-files limit.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import aiohttp

from helpers import TestPki, Upstream, necto_process, stop

READ_LIMIT = 10.0  # seconds to wait for Necto to close a connection (the timeouts are 1-2 s)


async def open_socket(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url[7:].rsplit(":", 1)
    return await asyncio.open_connection(host, int(port.rstrip("/")))


async def closed_after(reader: asyncio.StreamReader, started: float) -> float:
    """Seconds from `started` until the peer closed (reading and dropping what it sent)."""
    deadline = time.monotonic() + READ_LIMIT
    while True:
        data = await asyncio.wait_for(reader.read(65536), max(0.01, deadline - time.monotonic()))
        if not data:
            return time.monotonic() - started


async def still_open(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        data = await asyncio.wait_for(reader.read(1), seconds)
    except TimeoutError:
        return True
    return bool(data)


def request(host: str, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


async def test_partial_headers_and_idle_keepalive_are_timed_out_on_proxy_and_api(
    tmp_path: Path, pki: TestPki, upstream: Upstream
) -> None:
    async with necto_process(tmp_path / "h", pki, "--header-timeout", "1", "--idle-timeout", "2") as p:
        target = upstream.http_url
        api_host = p.api_url[7:]
        cases = {
            "proxy, half a request line": (p.proxy_url, f"GET {target}/hello HTTP/1.1\r\nHost: x".encode(), (0.5, 8)),
            "proxy, idle after a response": (p.proxy_url, request(target[7:], f"{target}/hello"), (1.5, 9)),
            "API, half a request line": (p.api_url, b"GET /api/health HTTP/1.1\r\nHo", (0.5, 8)),
            "API, idle after a response": (p.api_url, request(api_host, "/api/health"), (1.5, 9)),
            "API, nothing sent": (p.api_url, b"", (0.5, 8)),
        }
        socks = {}
        for name, (url, data, _) in cases.items():
            reader, writer = await open_socket(url)
            writer.write(data)
            socks[name] = (reader, writer, time.monotonic())
        took = {}
        for name, (reader, writer, started) in socks.items():
            try:
                took[name] = await closed_after(reader, started)
            except TimeoutError:
                took[name] = float("inf")
            writer.close()
        async with aiohttp.ClientSession() as c:
            async with c.get(f"{p.api_url}/api/health") as r:
                health = await r.json()
        code, output = await stop(p)
    for name, (_, _, (low, high)) in cases.items():
        assert low <= took[name] <= high, (name, took)
    assert health["connections"]["proxyTimedOut"] >= 2 and health["connections"]["apiTimedOut"] >= 2, health
    assert code == 0 and "Traceback" not in output, output


async def test_connection_cap_refuses_logs_once_and_keeps_the_api(
    tmp_path: Path, pki: TestPki, upstream: Upstream
) -> None:
    cap = 20
    async with necto_process(tmp_path / "h", pki, "--max-connections", str(cap)) as p:
        held = [await open_socket(p.proxy_url) for _ in range(3 * cap)]
        opened = [await still_open(r, 0.5) for r, _ in held]
        async with aiohttp.ClientSession() as c:
            async with c.get(f"{p.api_url}/api/health", timeout=aiohttp.ClientTimeout(total=10)) as r:
                assert r.status == 200
                health = await r.json()
            for _, w in held:
                w.close()
            # The held ones gone, the proxy serves again.
            deadline = time.monotonic() + 10
            while True:
                try:
                    async with c.get(f"{upstream.http_url}/hello", proxy=p.proxy_url) as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            # The API has a cap of its own: past it a 503 in JSON, and it recovers.
            api = [await open_socket(p.api_url) for _ in range(health["connections"]["apiLimit"] + 5)]
            refused = 0
            for r, _ in api[-5:]:
                head = await asyncio.wait_for(r.read(), 10)
                refused += head.startswith(b"HTTP/1.1 503") and b"Too many connections" in head
            for _, w in api:
                w.close()
            await asyncio.sleep(0.2)
            async with c.get(f"{p.api_url}/api/health") as r:
                assert r.status == 200
        code, output = await stop(p)
    assert opened.count(True) == cap, opened
    assert health["status"] == "degraded" and health["connections"]["proxyRefused"] >= 2 * cap, health
    assert any("connection limit" in problem for problem in health["problems"]), health
    assert refused == 5
    assert output.count("refusing new ones") == 2, output  # proxy and API: one line each, not per socket


EXEC_WITH_NOFILE = (
    "import os, resource, sys; n = int(sys.argv[1]); "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)); os.execv(sys.argv[2], sys.argv[2:])"
)


async def test_api_answers_when_the_proxy_is_flooded_at_the_open_files_limit(
    tmp_path: Path, pki: TestPki, upstream: Upstream
) -> None:
    nofile = 400
    prefix = (sys.executable, "-c", EXEC_WITH_NOFILE, str(nofile))
    async with necto_process(tmp_path / "h", pki, prefix=prefix) as p:
        flood = []
        for _ in range(3 * nofile // 2):  # more sockets than the process may open
            try:
                flood.append(await asyncio.wait_for(open_socket(p.proxy_url), 5))
            except (OSError, TimeoutError):
                break
        async with aiohttp.ClientSession() as c:
            for _ in range(5):
                async with c.get(f"{p.api_url}/api/health", timeout=aiohttp.ClientTimeout(total=10)) as r:
                    assert r.status == 200
                    health = await r.json()
            for _, w in flood:
                w.close()
            deadline = time.monotonic() + 15
            while True:  # and the proxy is back once the flood is gone
                try:
                    async with c.get(f"{upstream.http_url}/hello", proxy=p.proxy_url) as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        code, output = await stop(p)
    limit = health["connections"]["proxyLimit"]
    assert limit < nofile // 2 and health["connections"]["proxyRefused"] >= len(flood) - limit, health
    assert "Too many open files" not in output and "out of system resource" not in output, output[-2000:]
    assert output.count("refusing new ones") == 1, output[-2000:]
    assert code == 0, output[-2000:]
