"""Readers that analyse bodies (compare, inventory, check, search) never read a body longer
than WHOLE_BODY_MAX into memory: it stays in its file, and compare tells two such bodies apart
by their hash and size. (Exports stream long bodies: tests/test_bodies.py.)"""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest_asyncio
from aiohttp import web

from helpers import RunningNecto
from necto.har.export import STREAM_BODY_ABOVE, entry_to_har
from necto.har.pages import plan_for_session
from necto.har.store_export import store_export
from necto.model import Entry, Timings
from necto.store.bodyfiles import WHOLE_BODY_MAX

BIG = WHOLE_BODY_MAX + (4 << 20)


def big_body(last: bytes) -> bytes:
    return b'{"items":"' + b"x" * (BIG - 13) + last + b'"}'


def entry(session_id: str, url: str, body: bytes, t: float) -> Entry:
    return Entry(
        session_id=session_id, started=1_764_000_000 + t, method="GET", url=url, status=200, status_text="OK",
        response_headers=[("Content-Type", "application/json")], response_body=body,
        response_body_size=len(body), timings=Timings(send=1, wait=5, receive=1),
    )  # fmt: skip


async def call(http: aiohttp.ClientSession, necto: RunningNecto, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with http.request(method, necto.api_url + path, **kw) as r:
        return r.status, await r.json()


async def test_long_bodies_are_compared_by_hash_and_never_read_whole(
    necto: RunningNecto, http: aiohttp.ClientSession
) -> None:
    store = necto.store
    a = await store.create_session("long-bodies-a")
    b = await store.create_session("long-bodies-b")
    same, one, other = big_body(b"0"), big_body(b"1"), big_body(b"2")
    await store.add_entries([entry(a.id, "http://h/same", same, 1), entry(a.id, "http://h/changed", one, 2)])
    await store.add_entries([entry(b.id, "http://h/same", same, 1), entry(b.id, "http://h/changed", other, 2)])

    tracemalloc.start()
    try:
        read = [e async for e in store.iter_entries(a.id, body_limit=WHOLE_BODY_MAX)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [e.response_body for e in read] == [None, None]  # left in their files
    assert [e.response_body_file.size for e in read if e.response_body_file] == [BIG, BIG]
    assert peak < BIG // 2, f"reading the session allocated {peak} bytes"

    status, diff = await call(http, necto, "POST", "/api/compare/sessions", json={"a": a.id, "b": b.id})
    assert status == 200, diff
    [changed] = [c for c in diff["changes"] if "body" in c]
    assert changed["body"]["kind"] == "large" and changed["body"]["identical"] is False
    assert changed["body"]["a"] == {"kind": "large", "size": BIG, "sha256": hashlib.sha256(one).hexdigest()}
    assert changed["body"]["b"]["sha256"] == hashlib.sha256(other).hexdigest()

    ea = {e.url: e for e in read}
    eb = {e.url: e async for e in store.iter_entries(b.id, bodies=False)}
    status, pair = await call(
        http, necto, "GET", f"/api/compare/entries?a={ea['http://h/same'].id}&b={eb['http://h/same'].id}"
    )
    assert status == 200
    assert pair["responseBody"]["kind"] == "large" and pair["responseBody"]["identical"] is True


async def test_the_inventory_counts_a_long_body_without_parsing_it(
    necto: RunningNecto, http: aiohttp.ClientSession
) -> None:
    s = await necto.store.create_session("long-body-inventory")
    await necto.store.add_entries([entry(s.id, "http://h/api/export", big_body(b"9"), 1)])
    status, inv = await call(http, necto, "GET", f"/api/sessions/{s.id}/inventory")
    assert status == 200, inv
    [host] = inv["hosts"]
    [ep] = host["endpoints"]
    assert inv["entries"]["used"] == 1 and "application/json" in str(ep), ep


@pytest_asyncio.fixture
async def sink() -> AsyncIterator[str]:
    """An origin that answers a POST with the SHA-256 and length of what it received."""

    async def digest(request: web.Request) -> web.Response:
        h, n = hashlib.sha256(), 0
        async for chunk in request.content.iter_any():
            h.update(chunk)
            n += len(chunk)
        return web.json_response({"sha256": h.hexdigest(), "length": n})

    app = web.Application()
    app.router.add_post("/sink", digest)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/sink"
    await runner.cleanup()


async def test_a_long_request_body_is_replayed_from_its_file(
    necto: RunningNecto, sink: str, http: aiohttp.ClientSession
) -> None:
    s = await necto.store.create_session("long-body-replay")
    payload = bytes(range(256)) * (2 * BIG // 256)
    original = Entry(
        session_id=s.id, started=1_764_000_000, method="POST", url=sink,
        request_headers=[("Content-Type", "application/octet-stream"), ("Content-Length", str(len(payload)))],
        request_body=payload, request_body_size=len(payload), status=200, status_text="OK",
    )  # fmt: skip
    await necto.store.add_entries([original])
    tracemalloc.start()
    try:
        status, answer = await call(http, necto, "POST", f"/api/traffic/{original.id}/replay", json={})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 200, answer
    assert peak < len(payload) // 2, f"replaying allocated {peak} bytes"  # sent from its file, a piece at a time
    [replayed] = [e async for e in necto.store.iter_entries(s.id) if e.id == answer["entryId"]]
    digest = hashlib.sha256(payload).hexdigest()
    assert replayed.status == 200 and orjson.loads(replayed.response_body or b"") == {
        "sha256": digest,
        "length": len(payload),
    }
    assert replayed.request_body_file is not None and replayed.request_body_file.sha256 == digest


async def test_long_request_bodies_are_exported_from_their_files(necto: RunningNecto, tmp_path: Path) -> None:
    """Uploads over the export's streaming threshold: each `postData` is what a whole read
    would write (UTF-8 text as text, characters cut between file pieces joined; other bytes in
    base64), while the export never holds a body whole."""
    store = necto.store
    s = await store.create_session("long-uploads")
    line = "aé€😀 ünïcödé\n".encode()  # 23 bytes: the file's 1 MiB pieces cut characters
    text = line * (STREAM_BODY_ABOVE // len(line) + 1000)
    binary = bytes(range(256)) * ((STREAM_BODY_ABOVE // 256) + 1000)
    uploads = [
        (text, "text/plain; charset=utf-8"),
        (binary, "application/octet-stream"),
        (b"a=1&b=2", "application/x-www-form-urlencoded"),
    ]
    made = [
        Entry(
            session_id=s.id,
            started=1_764_000_000 + i,
            method="POST",
            url=f"http://h/upload/{i}",
            request_headers=[("Content-Type", mime)],
            request_body=body,
            request_body_size=len(body),
            status=201,
            status_text="Created",
            timings=Timings(send=1, wait=5, receive=1),
        )  # fmt: skip
        for i, (body, mime) in enumerate(uploads)
    ]
    await store.add_entries(made)
    plan = await plan_for_session(store, s.id, "long-uploads")
    want = [entry_to_har(e, plan=plan)["request"]["postData"] for e in made]  # as a whole read writes them
    assert len(text) > STREAM_BODY_ABOVE and len(binary) > STREAM_BODY_ABOVE
    assert [w.get("encoding") for w in want] == [None, "base64", None] and "params" in want[2]

    export = await store_export(store, session_id=s.id, title="long-uploads")
    assert export is not None
    tracemalloc.start()
    try:
        longest = 0
        with (tmp_path / "long.har").open("wb") as f:
            async for chunk in export.chunks():
                f.write(chunk)
                longest = max(longest, len(chunk))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < STREAM_BODY_ABOVE, f"the export allocated {peak} bytes"  # less than one body: none read whole
    assert longest < 4 << 20, f"a chunk of {longest} bytes: a body was written whole"
    out = (tmp_path / "long.har").read_bytes()
    got = [e["request"]["postData"] for e in orjson.loads(out)["log"]["entries"]]
    assert got == want
