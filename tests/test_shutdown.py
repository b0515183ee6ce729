"""Stopping Necto loses nothing a client got an answer to (issue 11, items 6 and 7).

Ctrl-C / SIGTERM while clients hammer keep-alive connections: every request that got a
response is stored, the process exits 0 without a traceback, and an exchange still in flight
either finishes (and is stored) or is cut at `--shutdown-timeout`. kill -9: everything
answered more than 250 ms before the kill is stored (commits land at least every ~100 ms),
and a WebSocket's frames are on disk while the socket is still open.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import ssl
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from helpers import NECTO, TestPki, Upstream, necto_process, run_cmd, stop

KILL_WINDOW = 0.25  # seconds: what a kill -9 may lose at most (README, "What a crash can lose")
WORKERS = 12


@dataclass
class Hammer:
    """Clients sending unique GETs over keep-alive connections until stopped or refused."""

    proxy: str
    base: str
    answered: dict[str, float] = field(default_factory=dict)  # url -> wall time the response arrived
    took: list[float] = field(default_factory=list)  # seconds each answered request took
    failures: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def worker(self, n: int) -> None:
        i = 0
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as c:
            while not self.stop.is_set():
                url = f"{self.base}/hello?w={n}&i={i}"
                i += 1
                t0 = time.monotonic()
                try:
                    async with c.get(url, proxy=self.proxy, timeout=aiohttp.ClientTimeout(total=10)) as r:
                        await r.read()
                        if r.status == 200:
                            self.answered[url] = time.time()
                            self.took.append(time.monotonic() - t0)
                except (aiohttp.ClientError, OSError, TimeoutError):
                    self.failures += 1
                    if self.failures > 200 * WORKERS:
                        return
                    await asyncio.sleep(0.01)

    async def until(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.answered) < count:
            assert time.monotonic() < deadline, f"only {len(self.answered)} answers"
            await asyncio.sleep(0.01)


def wss(upstream: Upstream, home: Path, proxy: str) -> dict[str, Any]:
    """ws_connect arguments for the upstream's echo socket, tunnelled with CONNECT as browsers do."""
    ctx = ssl.create_default_context(cafile=str(home / "certs" / "necto-ca-cert.pem"))
    return {"url": upstream.https_url.replace("https", "wss") + "/ws", "proxy": proxy, "ssl": ctx}


def stored_urls(home: Path) -> set[str]:
    with sqlite3.connect(home / "necto.db") as db:
        return {r[0] for r in db.execute("SELECT url FROM entries")}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_signal_under_keepalive_load_loses_no_answered_exchange(
    tmp_path: Path, pki: TestPki, upstream: Upstream, sig: signal.Signals
) -> None:
    home = tmp_path / "home"
    async with necto_process(home, pki) as p:
        hammer = Hammer(p.proxy_url, upstream.http_url)
        tasks = [asyncio.create_task(hammer.worker(n)) for n in range(WORKERS)]
        await hammer.until(300)
        sent_at = time.monotonic()
        p.proc.send_signal(sig)
        out, err = await asyncio.wait_for(p.proc.communicate(), 60)
        exited = time.monotonic() - sent_at
        hammer.stop.set()
        await asyncio.gather(*tasks)
        output = (out + err).decode()
        assert p.proc.returncode == 0, output
    assert "Traceback" not in output and "CancelledError" not in output, output
    assert "everything captured is saved" in output
    answered = set(hammer.answered)
    missing = answered - stored_urls(home)
    assert not missing, f"{len(missing)} of {len(answered)} answered exchanges were not stored: {sorted(missing)[:5]}"
    print(f"\n{sig.name}: {len(answered)} answered, all stored; exit {exited:.2f} s after the signal")


async def test_shutdown_lets_a_slow_exchange_finish_and_bounds_a_hung_one(
    tmp_path: Path, pki: TestPki, upstream: Upstream
) -> None:
    home = tmp_path / "home"
    async with necto_process(home, pki, "--shutdown-timeout", "2") as p:
        async with aiohttp.ClientSession() as c:
            # Baseline: the slow exchange alone, to know how long it takes here.
            t0 = time.monotonic()
            async with c.get(f"{upstream.http_url}/delay?ms=600&n=baseline", proxy=p.proxy_url) as r:
                assert r.status == 200
            slow = time.monotonic() - t0

            async def get(ms: int) -> int | str:
                try:
                    async with c.get(f"{upstream.http_url}/delay?ms={ms}", proxy=p.proxy_url) as r:
                        await r.read()
                        return r.status
                except aiohttp.ClientError as e:
                    return type(e).__name__

            finishing = asyncio.create_task(get(600))
            hung = asyncio.create_task(get(60_000))
            await asyncio.sleep(0.15)  # both requests are with the upstream now
            t0 = time.monotonic()
            code, output = await stop(p)
            took = time.monotonic() - t0
            assert await finishing == 200  # answered during the drain
            assert await hung != 200  # cut at the shutdown timeout
    assert code == 0 and "Traceback" not in output, output
    assert "were still exchanging" in output
    assert took < 2 + slow + 5, f"stop took {took:.1f} s with --shutdown-timeout 2"
    with sqlite3.connect(home / "necto.db") as db:
        rows = {r[0]: (r[1], r[2]) for r in db.execute("SELECT url, status, error FROM entries")}
    assert rows[f"{upstream.http_url}/delay?ms=600"][0] == 200
    status, error = rows[f"{upstream.http_url}/delay?ms=60000"]
    assert status is None and error  # recorded as cut, not lost


async def test_kill_9_keeps_everything_answered_before_the_window(
    tmp_path: Path, pki: TestPki, upstream: Upstream
) -> None:
    home = tmp_path / "home"
    async with necto_process(home, pki) as p:
        hammer = Hammer(p.proxy_url, upstream.http_url)
        tasks = [asyncio.create_task(hammer.worker(n)) for n in range(WORKERS)]
        await hammer.until(800)
        killed_at = time.time()
        p.proc.kill()
        await p.proc.communicate()
        hammer.stop.set()
        await asyncio.gather(*tasks)
    stored = stored_urls(home)
    lost = {u: killed_at - t for u, t in hammer.answered.items() if u not in stored}
    window = max(lost.values(), default=0.0)
    # The promise is 250 ms. On a machine so busy that a request through the proxy (12 at a
    # time) takes over 125 ms, every step, the commit included, is that much slower: the bound
    # grows with the request time measured here.
    typical = statistics.median(hammer.took)
    bound = max(KILL_WINDOW, 2 * typical)
    old = {u: age for u, age in lost.items() if age > bound}
    print(f"\nkill -9: {len(hammer.answered)} answered ({typical * 1000:.1f} ms median), {len(lost)} lost, "
          f"the oldest lost answered {window * 1000:.0f} ms before the kill")  # fmt: skip
    assert not old, f"answered more than {bound * 1000:.0f} ms before kill -9 and lost: {sorted(old.items())[:5]}"


async def test_kill_9_keeps_websocket_frames_of_an_open_socket(
    tmp_path: Path, pki: TestPki, upstream: Upstream
) -> None:
    home = tmp_path / "home"
    async with necto_process(home, pki) as p:
        async with aiohttp.ClientSession() as c:
            async with c.ws_connect(**wss(upstream, home, p.proxy_url)) as ws:
                for i in range(20):
                    await ws.send_str(f"frame {i}")
                    assert (await ws.receive_str()) == f"echo: frame {i}"
                last_echo = time.monotonic()
                # The claim under test is about time: frames older than the window are on disk.
                await asyncio.sleep(max(0.0, KILL_WINDOW + 0.05 - (time.monotonic() - last_echo)))
                p.proc.kill()
                await p.proc.communicate()
    code, out, err = await run_cmd(*NECTO, "traffic", "list", "--json", "--data-dir", str(home))
    assert code == 0, err
    entries = orjson.loads(out)["entries"]
    assert [e["protocol"] for e in entries] == ["wss"]
    code, out, err = await run_cmd(*NECTO, "traffic", "show", entries[0]["id"], "--data-dir", str(home))
    assert code == 0, err
    frames = orjson.loads(out)["webSocketMessages"]
    sent = [f["data"] for f in frames if f["type"] == "send"]
    received = [f["data"] for f in frames if f["type"] == "receive"]
    assert sent == [f"frame {i}" for i in range(20)]
    assert received == [f"echo: frame {i}" for i in range(20)]


async def test_websocket_frames_are_readable_while_open_and_folded_at_close(
    tmp_path: Path, pki: TestPki, upstream: Upstream
) -> None:
    home = tmp_path / "home"
    async with necto_process(home, pki) as p:
        async with aiohttp.ClientSession() as c:
            async with c.ws_connect(**wss(upstream, home, p.proxy_url)) as ws:
                await ws.send_str("one")
                assert await ws.receive_str() == "echo: one"
                deadline = time.monotonic() + 10
                frames: list = []
                while len(frames) < 2:  # the open socket's entry shows its frames so far
                    assert time.monotonic() < deadline, frames
                    async with c.get(f"{p.api_url}/api/traffic") as r:
                        listed = (await r.json())["entries"]
                    if listed:
                        async with c.get(f"{p.api_url}/api/traffic/{listed[0]['id']}") as r:
                            frames = (await r.json())["webSocketMessages"]
                    await asyncio.sleep(0.05)
                await ws.send_bytes(b"\x01\x02")
                assert await ws.receive_bytes() == b"\x02\x01"
            entry_id = listed[0]["id"]
            deadline = time.monotonic() + 10
            while True:
                async with c.get(f"{p.api_url}/api/traffic/{entry_id}") as r:
                    detail = await r.json()
                if len(detail["webSocketMessages"]) >= 5 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
        code, _ = await stop(p)
        assert code == 0
    assert [m["type"] for m in detail["webSocketMessages"][:4]] == ["send", "receive", "send", "receive"]
    with sqlite3.connect(home / "necto.db") as db:
        assert db.execute("SELECT COUNT(*) FROM websocket_frames").fetchone()[0] == 0  # folded in
        assert db.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 1


async def test_a_second_signal_cuts_the_wait_short(tmp_path: Path, pki: TestPki, upstream: Upstream) -> None:
    home = tmp_path / "home"
    async with necto_process(home, pki, "--shutdown-timeout", "120") as p:
        async with aiohttp.ClientSession() as c:

            async def hung() -> None:
                try:
                    async with c.get(f"{upstream.http_url}/delay?ms=120000", proxy=p.proxy_url) as r:
                        await r.read()
                except aiohttp.ClientError:
                    pass

            task = asyncio.create_task(hung())
            await asyncio.sleep(0.2)  # the request is with the upstream
            t0 = time.monotonic()
            p.proc.send_signal(signal.SIGINT)
            await asyncio.sleep(0.5)
            p.proc.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(p.proc.communicate(), 60)
            took = time.monotonic() - t0
            await task
    output = (out + err).decode()
    assert p.proc.returncode == 0 and "Traceback" not in output, output
    assert took < 60, took  # not the 120 s the first signal would have waited
    with sqlite3.connect(home / "necto.db") as db:
        [(status, error)] = db.execute("SELECT status, error FROM entries").fetchall()
    assert status is None and error
