"""No silent loss in the store (issue 11, items 3, 4 and 5).

One capture that cannot be stored as it is (a body over SQLite's limit, a method that is not
UTF-8) never takes the captures beside it along: the oversized one is stored cut to fit and
flagged, the others whole. What cannot be stored at all (a full disk) is counted and shown in
/api/health and on `necto run`'s stderr, while the proxy keeps proxying; an import answers 507.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from helpers import DATA, RunningNecto, TestPki, Upstream, necto_process, poll_until, stop, wait_for_entries
from necto.model import Entry, Session

LIMIT = 300_000  # SQLite's length limit for this test's Necto (NECTO_SQLITE_MAX_LENGTH)


async def raw_request(port: int, request_line: bytes, host: str) -> bytes:
    """Send one request as raw bytes (what no well-behaved client would send)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_line + b"\r\nHost: " + host.encode() + b"\r\nConnection: close\r\n\r\n")
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return data


async def traffic(c: aiohttp.ClientSession, api: str, count: int, session_id: str | None = None) -> list[dict]:
    params = {"limit": "1000", **({"sessionId": session_id} if session_id else {})}
    entries: list[dict] = []

    async def enough() -> bool:
        nonlocal entries
        async with c.get(f"{api}/api/traffic", params=params) as r:
            entries = (await r.json())["entries"]
        return len(entries) >= count

    await poll_until(enough, f"{count} entries", timeout=20)
    return entries


async def test_an_oversized_body_and_a_non_utf8_method_take_no_other_capture_along(
    tmp_path: Path, pki: TestPki, upstream: Upstream
) -> None:
    env = {"NECTO_SQLITE_MAX_LENGTH": str(LIMIT)}
    async with necto_process(tmp_path / "home", pki, env=env) as p:
        port = int(p.proxy_url.rsplit(":", 1)[1])
        target = upstream.http_url
        async with aiohttp.ClientSession() as c:

            async def get(path: str) -> int:
                async with c.get(f"{target}{path}", proxy=p.proxy_url) as r:
                    await r.read()
                    return r.status

            # All in the same moment, so that they share a write batch.
            results = await asyncio.gather(
                get(f"/big?bytes={LIMIT * 3}"),
                *(get(f"/hello?n={i}") for i in range(5)),
                raw_request(port, f"GET\xff {target}/hello?raw=utf8 HTTP/1.1".encode("latin-1"), target[7:]),
                raw_request(port, f"GET;touch$IFS/tmp/x;# {target}/hello?raw=shell HTTP/1.1".encode(), target[7:]),
            )
            assert results[:6] == [200] * 6
            assert all(r.startswith(b"HTTP/1.") for r in results[6:])  # the upstream answered
            entries = await traffic(c, p.api_url, 8)
            by_url = {e["url"]: e for e in entries}
            big = by_url[f"{target}/big?bytes={LIMIT * 3}"]
            async with c.get(f"{p.api_url}/api/traffic/{big['id']}") as r:
                full = await r.json()
            async with c.get(f"{p.api_url}/api/health") as r:
                health = await r.json()
        code, output = await stop(p)
    assert code == 0 and "Traceback" not in output, output
    assert {f"{target}/hello?n={i}" for i in range(5)} <= set(by_url)
    # A body that long lives in the body store, outside the row: SQLite's limit no longer cuts it.
    assert full["isTruncated"] is False and full["responseBodySize"] == LIMIT * 3
    assert base64.b64decode(full["responseBody"]) == b"x" * (LIMIT * 3)
    methods = {e["url"].rsplit("=", 1)[1]: e["method"] for e in entries if "raw=" in e["url"]}
    assert methods == {"utf8": "GET\\xff", "shell": "GET;TOUCH$IFS/TMP/X;#"}  # mitmproxy upper-cases
    assert health["droppedEntries"] == 0 and health["status"] == "ok", health


async def test_captured_non_token_methods_export_and_are_never_replayed(
    tmp_path: Path, pki: TestPki, upstream: Upstream
) -> None:
    async with necto_process(tmp_path / "home", pki) as p:
        port = int(p.proxy_url.rsplit(":", 1)[1])
        target = upstream.http_url
        # `;` and bytes that are not UTF-8 are not token characters (`$`, `|`, backquotes are).
        for line in (f"GET;touch$IFS/tmp/x;# {target}/hello HTTP/1.1", f"GET\xff {target}/hello HTTP/1.1"):
            await raw_request(port, line.encode("latin-1"), target[7:])
        async with aiohttp.ClientSession() as c:
            entries = await traffic(c, p.api_url, 2)
            async with c.get(f"{p.api_url}/api/sessions/active") as r:
                session = await r.json()
            async with c.get(f"{p.api_url}/api/har/export/{session['id']}") as r:
                assert r.status == 200
                har = orjson.loads(await r.read())
            for e in entries:
                async with c.post(f"{p.api_url}/api/traffic/{e['id']}/replay", json={}) as r:
                    assert r.status == 400, await r.text()
                    assert "HTTP token" in (await r.json())["error"]
            async with c.post(f"{p.api_url}/api/sessions/{session['id']}/replay", json={}) as r:
                assert r.status == 202, await r.text()
                job = await r.json()
            while job["status"] not in ("completed", "failed", "cancelled"):
                await asyncio.sleep(0.05)
                async with c.get(f"{p.api_url}/api/replays/{job['id']}") as r:
                    job = await r.json()
            async with c.get(f"{p.api_url}/api/traffic", params={"sessionId": job["sessionId"]}) as r:
                replayed = (await r.json())["count"]
        await stop(p)
    assert sorted(e["request"]["method"] for e in har["log"]["entries"]) == sorted(e["method"] for e in entries)
    assert job["status"] == "completed" and job["failed"] == 2 and replayed == 0, job
    assert all(f["error"].startswith("not replayed") for f in job["failures"])


async def test_a_failing_row_is_retried_alone(necto: RunningNecto, fresh_session: Session) -> None:
    store = necto.store
    before = store.drops.entries
    good = [
        Entry(session_id=fresh_session.id, started=time.time() + i, method="GET", url=f"http://x/{i}") for i in range(3)
    ]
    # A row SQLite refuses (text that is not Unicode), and one for a session deleted meanwhile.
    bad = Entry(session_id=fresh_session.id, started=time.time(), method="GET", url="http://x/\udcff")
    orphan = Entry(session_id="deleted-session", started=time.time(), method="GET", url="http://x/orphan")
    for item in (good[0], bad, good[1], orphan, good[2]):
        store.record(item)
    stored = await wait_for_entries(store, fresh_session.id, 3)
    assert [e.url for e in stored] == [e.url for e in good]
    assert store.drops.entries == before + 1  # the orphan is not a loss: its session is gone
    assert store.drops.reason is not None and "surrogates" in store.drops.reason


# ---------------------------------------------------------------------------- a full disk
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MB tmpfs: a disk that really fills up (needs root, as in CI's containers)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill up (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(directory: Path) -> Path:
    """Take every free byte of the filesystem; returns the filler file (delete it to free)."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError as e:
                    assert e.errno == errno.ENOSPC
                    break
    finally:
        os.close(fd)
    return filler


async def test_a_full_disk_is_counted_shown_and_the_proxy_keeps_proxying(
    small_disk: Path, pki: TestPki, upstream: Upstream
) -> None:
    home = small_disk / "home"
    har = (DATA / "har" / "clean.har").read_bytes()
    async with necto_process(home, pki) as p:
        async with aiohttp.ClientSession() as c:
            for i in range(3):
                async with c.get(f"{upstream.http_url}/hello?before={i}", proxy=p.proxy_url) as r:
                    assert r.status == 200
            await traffic(c, p.api_url, 3)
            filler = fill(small_disk)
            statuses = []
            for i in range(20):
                async with c.get(f"{upstream.http_url}/big?bytes=200000&full={i}", proxy=p.proxy_url) as r:
                    statuses.append((r.status, len(await r.read())))
            assert statuses == [(200, 200000)] * 20  # the proxy keeps proxying

            health: dict = {}

            async def degraded() -> bool:
                nonlocal health
                async with c.get(f"{p.api_url}/api/health") as r:
                    health = await r.json()
                return health["droppedEntries"] > 0

            await poll_until(degraded, "droppedEntries in /api/health", timeout=20)
            assert health["status"] == "degraded" and "full" in health["lastDropReason"], health
            assert any("could not be stored" in problem for problem in health["problems"])
            form = aiohttp.FormData()
            form.add_field("file", har, filename="clean.har", content_type="application/json")
            async with c.post(f"{p.api_url}/api/har/import", data=form) as r:
                assert r.status == 507, await r.text()
                body = await r.json()
            assert body["error"] == "Insufficient storage"

            os.unlink(filler)  # space again: capture resumes
            for i in range(3):
                async with c.get(f"{upstream.http_url}/hello?after={i}", proxy=p.proxy_url) as r:
                    assert r.status == 200
            wanted = {f"{upstream.http_url}/hello?{w}={i}" for w in ("before", "after") for i in range(3)}
            urls: set[str] = set()

            async def all_there() -> bool:
                nonlocal urls
                async with c.get(f"{p.api_url}/api/traffic", params={"limit": "1000"}) as r:
                    urls = {e["url"] for e in (await r.json())["entries"]}
                return wanted <= urls

            await poll_until(all_there, "the captures before and after the disk was full", timeout=20)
        code, output = await stop(p)
    assert code == 0, output
    assert "could not be stored" in output and "Traceback" not in output, output
    assert "cannot rollback" not in output
    assert output.count("could not be stored") <= 3  # a line now and then, not one per capture
