"""HAR fragments (issue 19): an export that reads entries from their stored fragments writes
exactly the bytes of one that converts every entry, for every fixture file, for captured-like
entries with bodies inline, in files and streamed, with excludeBinary, for chosen entries and
filtered views. A fragment goes stale when its entry changes or Necto's code does, and an
entry with annotations is written in full."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from helpers import DATA, RunningNecto, Upstream, curl, poll_until, wait_for_entries
from necto.har.export import export_har
from necto.har.fragments import FORMAT, build
from necto.har.importer import import_har
from necto.har.pages import plan_for_entries, plan_for_session
from necto.har.report import HarError
from necto.har.store_export import export_entries, store_export
from necto.model import Entry, FragmentEntry, Session, Timings
from necto.search.filterlang import parse_filter
from necto.store import Store

FIXTURES = sorted((DATA / "har").glob("*.har")) + [DATA / "chrome-devtools.har"]


async def _export(store: Store, source: AsyncIterator[Entry | FragmentEntry], plan, exclude: bool) -> tuple[bytes, int]:  # type: ignore[no-untyped-def]
    used = 0

    async def counted() -> AsyncIterator[Entry | FragmentEntry]:
        nonlocal used
        async for e in source:
            used += isinstance(e, FragmentEntry)
            yield e

    out = b"".join(
        [c async for c in export_har(counted(), exclude_binary=exclude, plan=plan, read_body=store.body_chunks)]
    )
    return out, used


async def both_ways(store: Store, session_id: str, title: str, exclude: bool = False) -> tuple[bytes, bytes, int]:
    """The session's export from fragments, and converting every entry (a redacted export's
    reader, with nothing to redact: the same entries in full); and how many fragments were used."""
    plan = await plan_for_session(store, session_id, title)
    fast, used = await _export(store, export_entries(store, session_id=session_id), plan, exclude)
    plan = await plan_for_session(store, session_id, title)
    full, none = await _export(store, store.iter_export(session_id, "no such format", 16 << 20), plan, exclude)
    assert none == 0
    return fast, full, used


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "necto.db")
    s.fragment_builder = build
    yield s
    await s.close()


async def catch_up(store: Store) -> None:
    """Build what the background pass would (the running Necto's does it on its own)."""
    while await store._fragment_batch():
        pass


async def fragment_count(store: Store) -> int:
    async with store._r.execute("SELECT COUNT(*) FROM har_fragments WHERE format = ?", (FORMAT,)) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def test_every_fixture_exports_the_same_bytes_from_its_fragments(store: Store) -> None:
    imported = 0
    for path in FIXTURES:
        try:
            result = await import_har(store, lambda p=path: open(p, "rb"), session_name=path.stem)  # type: ignore[misc]
        except HarError:
            continue  # files the importer refuses (no entries, not JSON ...)
        imported += 1
        await catch_up(store)
        for exclude in (False, True):
            fast, full, _ = await both_ways(store, result.session_id, path.stem, exclude)
            assert fast == full, f"{path.name} (excludeBinary={exclude})"
    assert imported >= 25
    async with store._r.execute("SELECT COUNT(*) FROM entries") as cur:
        row = await cur.fetchone()
    assert row is not None and await fragment_count(store) >= 0.8 * row[0], row  # most entries got one


def captured(session_id: str, i: int, body: bytes | None, content_type: str = "application/json") -> Entry:
    return Entry(
        session_id=session_id, started=1_764_000_000 + i, method="POST" if i % 3 == 0 else "GET",
        url=f"https://api.example.com/v1/items/{i}?page={i}&q=a%20b", http_version="HTTP/1.1",
        request_headers=[("Host", "api.example.com"), ("Cookie", f"s={i}; theme=dark"), ("Content-Type", "application/json")],
        request_body=b'{"n": %d}' % i if i % 3 == 0 else None, request_body_size=8 if i % 3 == 0 else 0,
        status=200 if body is not None else None, status_text="OK",
        response_headers=[("Content-Type", content_type), ("Set-Cookie", "a=b; Path=/"), ("Location", "/next")],
        response_body=body, response_body_size=len(body) if body is not None else -1,
        response_wire_size=(len(body) // 2) if body is not None else -1,
        timings=Timings(blocked=0.5, dns=1.25, connect=3.0, ssl=2.0, send=0.1, wait=20.123456, receive=4.0),
        server_ip="203.0.113.9", connection_id=str(i), tls={"version": "TLSv1.3"} if i % 2 else None,
        extra={"headersSize": {"request": 120, "response": 200}} if i % 4 == 0 else {},
    )  # fmt: skip


async def test_captured_bodies_inline_in_files_and_streamed_export_the_same_bytes(store: Store) -> None:
    s = await store.create_session("captured")
    bodies: list[tuple[bytes | None, str]] = [
        (b'{"ok":true,"name":"caf\xc3\xa9"}', "application/json"),
        (bytes(range(256)) * 300, "image/png"),  # binary, in a file (77 KB)
        (b"x" * 70_000, "text/plain"),  # text in a file
        (b"\x00\x01" * 10, "text/plain"),  # NUL: base64 even for a text type
        (b"", "text/html"),
        (None, ""),  # no response
        (b"\xff" * (17 << 20), "application/octet-stream"),  # streamed from its file
        (b'{"a":"\\u00e9"}', "application/json; charset=utf-8"),
    ]
    await store.add_entries([captured(s.id, i, b, ct) for i, (b, ct) in enumerate(bodies)])
    await catch_up(store)
    for exclude in (False, True):
        fast, full, used = await both_ways(store, s.id, "captured", exclude)
        assert fast == full
        assert used == len(bodies) - 1  # all but the streamed one
    har = orjson.loads(fast)
    assert [e["response"]["content"].get("comment") for e in har["log"]["entries"][1:3]] == [
        "Binary content excluded from export (excludeBinary)",
        None,
    ]


async def test_chosen_and_filtered_entries_export_the_same_bytes(store: Store) -> None:
    s = await store.create_session("chosen")
    entries = [captured(s.id, i, b'{"i":%d}' % i) for i in range(12)]
    await store.add_entries(entries)
    await catch_up(store)
    ids = [entries[i].id for i in (7, 2, 9, 2)] + ["no-such-entry"]
    plan = await plan_for_entries(store, ids, "chosen")
    fast, used = await _export(store, export_entries(store, entry_ids=ids), plan, False)
    full, _ = await _export(store, export_entries(store, entry_ids=ids, redact=True), plan, False)
    assert fast == full and used == 3
    assert [e["request"]["url"].split("?")[0][-2:] for e in orjson.loads(fast)["log"]["entries"]] == ["/7", "/2", "/9"]
    plan = await plan_for_session(store, s.id, "chosen")
    export = await store_export(store, session_id=s.id, selection=parse_filter("method:POST"), title="chosen")
    assert export is not None
    har = orjson.loads(b"".join([c async for c in export.chunks()]))
    assert export.count == 4 and [e["request"]["method"] for e in har["log"]["entries"]] == ["POST"] * 4


async def test_an_annotated_changed_or_stale_entry_is_written_in_full(store: Store, tmp_path: Path) -> None:
    s = await store.create_session("changes")
    entries = [captured(s.id, i, b'{"i":%d}' % i) for i in range(4)]
    await store.add_entries(entries)
    await catch_up(store)
    assert await fragment_count(store) == 4
    note = await store.create_annotation(entries[1].id, content="look here", color="red", tags=[])
    assert note is not None
    fast, full, used = await both_ways(store, s.id, "changes")
    assert fast == full and used == 3
    assert orjson.loads(fast)["log"]["entries"][1]["comment"] == "look here"
    await store.delete_entry(entries[2].id)
    assert await fragment_count(store) == 3  # gone with its entry
    with sqlite3.connect(tmp_path / "necto.db") as db:  # an entry changed by another writer
        db.execute("UPDATE entries SET status = 500 WHERE id = ?", (entries[3].id,))
        db.execute("UPDATE har_fragments SET format = 'old code' WHERE seq = (SELECT seq FROM entries WHERE id = ?)",
                   (entries[0].id,))  # fmt: skip
    assert await fragment_count(store) == 1  # the changed entry's went; the stale one is not current
    fast, full, used = await both_ways(store, s.id, "changes")
    assert fast == full and used == 0
    assert orjson.loads(fast)["log"]["entries"][2]["response"]["status"] == 500


async def test_the_running_necto_builds_fragments_after_capture(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession, fresh_session: Session
) -> None:
    """Captured traffic gets its fragments from the background pass; the export is the same
    before and after they exist, and reads them once they do."""
    for oid in ("5101", "5102", "5103"):
        await curl(necto, f"{upstream.http_url}/orders/{oid}?enc=gzip")
    entries = await wait_for_entries(necto.store, fresh_session.id, 3)
    url = f"{necto.api_url}/api/har/export/{fresh_session.id}"
    async with http.get(url) as resp:
        before = await resp.read()

    async def built() -> bool:
        async with necto.store._r.execute(
            "SELECT COUNT(*) FROM har_fragments f JOIN entries e ON e.seq = f.seq WHERE e.session_id = ? AND f.format = ?",
            (fresh_session.id, FORMAT),
        ) as cur:
            row = await cur.fetchone()
        return row is not None and row[0] == len(entries)

    # After whatever the shared Necto still has to index for search (search comes first).
    await poll_until(built, "the background pass to build the entries' HAR fragments", timeout=90)
    async with http.get(url) as resp:
        assert resp.status == 200
        after = await resp.read()

    assert after == before
