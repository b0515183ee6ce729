"""Readers that analyse bodies (compare, inventory, check, search) never read a body longer
than WHOLE_BODY_MAX into memory: it stays in its file, and compare tells two such bodies apart
by their hash and size. (Exports stream long bodies: tests/test_bodies.py.)"""

from __future__ import annotations

import hashlib
import tracemalloc
from typing import Any

import aiohttp

from helpers import RunningNecto
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
