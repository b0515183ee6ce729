"""Large and endless bodies (issue 19): the body store, decoding with a cap, streaming through.

Bodies above 64 KiB live as content-addressed files under `<data dir>/bodies/`, named from
rows; a gzip bomb is decoded only up to a cap; bodies above `--stream-above`, event streams and
chunked responses stream through as they arrive while a tap records them. Memory is read from
`/proc/<pid>/status` of a Necto in its own process: growth of the peak (VmHWM) over the RSS
before, with wide margins.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import sqlite3
import stat
import struct
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
from aiohttp import web
from mitmproxy.net import encoding

from helpers import RunningNecto, TestPki, har_validator_errors, necto_instance, poll_until, wait_for_entries
from necto.capture.decoding import decode_body
from necto.model import BodyFile, Entry, Session
from necto.store import Store
from necto.store.bodies import BodyStore

BLOCK = 1 << 20


def blob(size: int, seed: int) -> bytes:
    """Bytes that do not compress and differ per seed (a reordered chunk would show)."""
    return random.Random(seed).randbytes(size)


def gzip_bomb(zeros: int) -> bytes:
    """A gzip member decoding to `zeros` zero bytes, about 1/1000 of that in size, built from one
    compressed megabyte repeated (a full flush resets the compressor, so every block is alike)."""
    assert zeros % BLOCK == 0
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(BLOCK)) + c.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    zero_block = bytes(BLOCK)
    for _ in range(zeros // BLOCK):
        crc = zlib.crc32(zero_block, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + block * (zeros // BLOCK) + c.flush() + struct.pack("<II", crc, zeros & 0xFFFFFFFF)


@dataclass
class Origin:
    """A local server for this module's bodies."""

    url: str
    bomb: bytes
    release: dict[str, asyncio.Event] = field(default_factory=dict)  # SSE streams held until set
    left: dict[str, asyncio.Event] = field(default_factory=dict)  # SSE streams whose client left

    def gate(self, name: str) -> asyncio.Event:
        return self.release.setdefault(name, asyncio.Event())

    def gone(self, name: str) -> asyncio.Event:
        return self.left.setdefault(name, asyncio.Event())


def origin_app(origin: Origin) -> web.Application:
    routes = web.RouteTableDef()

    @routes.get("/blob")
    async def blob_route(request: web.Request) -> web.Response:
        size, seed = int(request.query["bytes"]), int(request.query["seed"])
        return web.Response(body=blob(size, seed), content_type="application/octet-stream")

    @routes.get("/bomb")
    async def bomb(request: web.Request) -> web.Response:
        return web.Response(body=origin.bomb, headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"})

    @routes.get("/download")
    async def download(request: web.Request) -> web.StreamResponse:
        blocks = int(request.query["mb"])
        chunk = blob(BLOCK, 7)
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        resp.content_length = blocks * BLOCK
        await resp.prepare(request)
        for _ in range(blocks):
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    @routes.post("/sink")
    async def sink(request: web.Request) -> web.Response:
        digest = hashlib.sha256()
        async for chunk in request.content.iter_chunked(BLOCK):
            digest.update(chunk)
        return web.Response(text=digest.hexdigest())

    @routes.get("/reset")
    async def reset(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await resp.prepare(request)
        await resp.write(b"part-")
        await asyncio.wait_for(origin.gate("reset").wait(), 30)
        assert request.transport is not None
        request.transport.abort()
        return resp

    @routes.get("/sse/{name}")
    async def sse(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        try:
            await resp.write(b"data: one\n\n")
            await asyncio.wait_for(origin.gate(name).wait(), 30)
            await resp.write(b"data: two\n\n")
            await resp.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            origin.gone(name).set()
            raise
        return resp

    app = web.Application()
    app.add_routes(routes)
    return app


@pytest_asyncio.fixture(scope="module")
async def origin() -> AsyncIterator[Origin]:
    bomb = await asyncio.to_thread(gzip_bomb, 1 << 30)
    state = Origin("", bomb)
    runner = web.AppRunner(origin_app(state), access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()


async def fetch(url: str, proxy: str) -> bytes:
    async with aiohttp.ClientSession(auto_decompress=False) as c:
        async with c.get(url, proxy=proxy) as r:
            assert r.status == 200
            return await r.read()


def body_path(data_dir: Path, sha: str) -> Path:
    return data_dir / "bodies" / sha[:2] / sha


async def base64_text_digests(chunks: AsyncIterator[bytes]) -> list[str]:
    """SHA-256 of every base64 `"text"` of a HAR read as a stream (a 270 MB export is not
    parsed whole here either). Only for HARs whose texts are all base64."""
    marker, digests = b'"text":"', []
    current: Any = None
    pend = tail = b""
    async for chunk in chunks:
        data, tail, i = tail + chunk, b"", 0
        while i < len(data):
            if current is None:
                j = data.find(marker, i)
                if j < 0:
                    tail = data[max(i, len(data) - len(marker) + 1) :]
                    break
                current, pend, i = hashlib.sha256(), b"", j + len(marker)
                continue
            j = data.find(b'"', i)
            pend += data[i : j if j >= 0 else len(data)]
            whole = len(pend) - len(pend) % 4
            current.update(base64.b64decode(pend[:whole]))
            pend = pend[whole:]
            if j < 0:
                break
            current.update(base64.b64decode(pend))
            digests.append(current.hexdigest())
            current, i = None, j + 1
    return digests


def rows(data_dir: Path, sql: str, *args: object) -> list[tuple]:
    """What SQLite holds, read as any other reader of the database file would."""
    with sqlite3.connect(f"file:{data_dir / 'necto.db'}?mode=ro", uri=True) as db:
        return list(db.execute(sql, args))


# ------------------------------------------------------------------ the body store
async def test_a_large_body_is_one_file_shared_and_read_back_exactly(
    necto: RunningNecto, origin: Origin, http: aiohttp.ClientSession
) -> None:
    """Two downloads of the same 300 KB in two sessions: one 0600 file named by its hash, no
    copy in the row; the API and the HAR export give the bytes back; the file goes with the
    last session that names it."""
    body = blob(300_000, 1)
    sha = hashlib.sha256(body).hexdigest()
    url = f"{origin.url}/blob?bytes=300000&seed=1"
    sessions: list[Session] = []
    for name in ("bodies one", "bodies two"):
        s = await necto.store.create_session(name, activate=True)
        sessions.append(s)
        assert await fetch(url, necto.proxy_url) == body
        await wait_for_entries(necto.store, s.id, 1)
    path = body_path(necto.data_dir, sha)
    assert path.read_bytes() == body and stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = rows(
        necto.data_dir,
        "SELECT id, response_body IS NULL, response_body_file FROM entries WHERE session_id IN (?, ?)",
        sessions[0].id, sessions[1].id,
    )  # fmt: skip
    assert [(inline_null, f) for _, inline_null, f in stored] == [(1, sha), (1, sha)]

    async with http.get(f"{necto.api_url}/api/traffic/{stored[0][0]}") as r:
        detail = await r.json()
    assert base64.b64decode(detail["responseBody"]) == body and detail["responseBodyTruncated"] is False
    async with http.get(f"{necto.api_url}/api/har/export/{sessions[1].id}") as r:
        assert r.status == 200
        har = orjson.loads(await r.read())
    content = har["log"]["entries"][0]["response"]["content"]
    assert content["encoding"] == "base64" and base64.b64decode(content["text"]) == body

    # Imported again: the same file, named by the imported row too.
    form = aiohttp.FormData()
    form.add_field("file", orjson.dumps(har), filename="bodies.har", content_type="application/octet-stream")
    async with http.post(f"{necto.api_url}/api/har/import", data=form) as r:
        imported = await r.json()
        assert r.status == 200 and imported["imported"] == 1, imported
    assert rows(
        necto.data_dir, "SELECT response_body_file FROM entries WHERE session_id = ?", imported["sessionId"]
    ) == [(sha,)]
    async with http.get(f"{necto.api_url}/api/har/export/{imported['sessionId']}") as r:
        again = orjson.loads(await r.read())
    assert again["log"]["entries"][0]["response"]["content"]["text"] == content["text"]

    for s in (sessions[0].id, imported["sessionId"]):
        async with http.delete(f"{necto.api_url}/api/sessions/{s}") as r:
            assert r.status in (200, 204)
    assert path.read_bytes() == body, "the other session still names the file"
    async with http.delete(f"{necto.api_url}/api/sessions/{sessions[1].id}") as r:
        assert r.status in (200, 204)
    await poll_until(lambda: not path.exists(), "the body file to go with the last session naming it")


async def test_files_no_row_names_are_swept_at_start(tmp_path: Path) -> None:
    """What a crash can leave (a file written before its row, a spool of a dead process) goes
    when the store opens next; a file a row names stays."""
    body = blob(100_000, 4)
    store = await Store.open(tmp_path / "necto.db")
    try:
        session = await store.create_session("kept", activate=True)
        await store.add_entries(
            [Entry(session.id, time.time(), "GET", "http://x.test/", status=200, response_body=body)]
        )
    finally:
        await store.close()
    kept = body_path(tmp_path, hashlib.sha256(body).hexdigest())
    orphan = body_path(tmp_path, hashlib.sha256(b"orphan").hexdigest())
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"orphan")
    spool = tmp_path / "bodies" / "tmp" / f"{2**22 + 12345}-0123456789abcdef"  # above any pid
    spool.write_bytes(b"half a body")
    store = await Store.open(tmp_path / "necto.db")
    try:
        [entry] = [e async for e in store.iter_entries(session.id)]
    finally:
        await store.close()
    assert entry.response_body == body and kept.exists()
    assert not orphan.exists() and not spool.exists()


async def test_a_har_export_streams_long_bodies_between_the_others(
    necto: RunningNecto, fresh_session: Session, origin: Origin, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A 17 MiB body (over the export's streaming threshold) between two small ones: the HAR
    is one valid document with every body exact; `excludeBinary` leaves the long one out too."""
    urls = [
        f"{origin.url}/blob?bytes=1000&seed=8",
        f"{origin.url}/download?mb=17",
        f"{origin.url}/blob?bytes=2000&seed=9",
    ]
    bodies = [await fetch(u, necto.proxy_url) for u in urls]
    await wait_for_entries(necto.store, fresh_session.id, 3)
    async with http.get(f"{necto.api_url}/api/har/export/{fresh_session.id}") as r:
        raw = await r.read()
    (tmp_path / "long.har").write_bytes(raw)
    assert await har_validator_errors(tmp_path / "long.har") is None
    har = orjson.loads(raw)
    texts = [e["response"]["content"] for e in har["log"]["entries"]]
    assert [base64.b64decode(c["text"]) for c in texts] == bodies and all(c["encoding"] == "base64" for c in texts)
    assert texts[1]["size"] == 17 * BLOCK
    async with http.get(f"{necto.api_url}/api/har/export/{fresh_session.id}?excludeBinary=true") as r:
        har = orjson.loads(await r.read())
    assert [
        ("text" in e["response"]["content"], e["response"]["content"].get("comment", "")[:6])
        for e in har["log"]["entries"]
    ] == [(False, "Binary")] * 3


async def test_small_bodies_stay_in_the_row(necto: RunningNecto, fresh_session: Session, origin: Origin) -> None:
    body = blob(60_000, 2)
    assert await fetch(f"{origin.url}/blob?bytes=60000&seed=2", necto.proxy_url) == body
    await wait_for_entries(necto.store, fresh_session.id, 1)
    stored = rows(
        necto.data_dir, "SELECT response_body, response_body_file FROM entries WHERE session_id = ?", fresh_session.id
    )
    assert stored == [(body, None)]
    assert not body_path(necto.data_dir, hashlib.sha256(body).hexdigest()).exists()


# ------------------------------------------------------------------ streams
async def test_an_event_stream_reaches_the_client_as_it_arrives(
    necto: RunningNecto, fresh_session: Session, origin: Origin, http: aiohttp.ClientSession
) -> None:
    """The upstream sends one event and waits: the client must get it through the proxy before
    the upstream goes on (buffered, it would never arrive). The entry has both events, with
    their times."""
    name = "first"
    async with aiohttp.ClientSession() as c:
        async with c.get(f"{origin.url}/sse/{name}", proxy=necto.proxy_url) as r:
            assert r.status == 200
            first = await asyncio.wait_for(r.content.readuntil(b"\n\n"), 15)
            assert first == b"data: one\n\n"
            assert not origin.gate(name).is_set()  # the upstream has not finished: it waits for us
            origin.gate(name).set()
            rest = await asyncio.wait_for(r.content.read(), 15)
    assert rest == b"data: two\n\n"
    [entry] = await wait_for_entries(necto.store, fresh_session.id, 1)
    assert entry.response_body == b"data: one\n\ndata: two\n\n" and not entry.response_truncated
    assert entry.extra["streamed"] == ["response"]
    events = entry.extra["events"]
    assert events["count"] == 2 and [pos for _, pos in events["items"]] == [11, 22]
    async with http.get(f"{necto.api_url}/api/har/export/{fresh_session.id}") as r:
        har = orjson.loads(await r.read())
    assert har["log"]["entries"][0]["_necto"]["events"] == events
    assert har["log"]["entries"][0]["response"]["content"]["text"] == "data: one\n\ndata: two\n\n"


async def test_an_upstream_reset_mid_stream_keeps_what_passed_and_the_real_duration(
    necto: RunningNecto, fresh_session: Session, origin: Origin
) -> None:
    """The upstream sends part of a chunked body, then, once the client has it, drops the
    connection: the entry keeps the part, says what went wrong and lasts past the moment the
    client had the part."""
    async with aiohttp.ClientSession() as c:
        async with c.get(f"{origin.url}/reset", proxy=necto.proxy_url) as r:
            assert await asyncio.wait_for(r.content.readexactly(5), 15) == b"part-"
            had_part = time.time()
            origin.gate("reset").set()
            try:
                await asyncio.wait_for(r.content.read(), 15)
            except aiohttp.ClientPayloadError:
                pass  # the client sees the break too
    [entry] = await wait_for_entries(necto.store, fresh_session.id, 1, timeout=20)
    assert entry.response_body == b"part-" and entry.error
    assert entry.started + entry.duration / 1000 >= had_part - 0.05


async def test_a_client_leaving_an_endless_stream_ends_the_entry(
    necto: RunningNecto, fresh_session: Session, origin: Origin
) -> None:
    """An event stream that never ends: the client reads the first event and leaves; the entry
    is stored with what passed and an error, lasting until the client left."""
    name = "endless"
    started = time.time()
    async with aiohttp.ClientSession() as c:
        async with c.get(f"{origin.url}/sse/{name}", proxy=necto.proxy_url) as r:
            assert await asyncio.wait_for(r.content.readuntil(b"\n\n"), 15) == b"data: one\n\n"
            r.close()
    [entry] = await wait_for_entries(necto.store, fresh_session.id, 1, timeout=20)
    origin.gate(name).set()  # let the upstream handler end, if it is still waiting
    assert entry.response_body == b"data: one\n\n" and entry.error
    assert entry.extra["events"]["count"] == 1
    assert 0 < entry.duration <= (time.time() - started) * 1000 + 50


async def test_large_and_chunked_uploads_stream_through_and_are_recorded(
    necto: RunningNecto, fresh_session: Session, origin: Origin
) -> None:
    """A 20 MB upload (above --stream-above) and one sent chunked (unknown length): the origin
    gets every byte, the entry names the same bytes in the body store."""
    body = blob(20 * BLOCK, 5)
    sha = hashlib.sha256(body).hexdigest()

    async def pieces() -> AsyncIterator[bytes]:
        for i in range(0, len(body), BLOCK):
            yield body[i : i + BLOCK]

    async with aiohttp.ClientSession() as c:
        for data in (body, pieces()):
            async with c.post(f"{origin.url}/sink", data=data, proxy=necto.proxy_url) as r:
                assert r.status == 200 and await r.text() == sha
    entries = await wait_for_entries(necto.store, fresh_session.id, 2)
    for e in entries:
        assert "request" in e.extra["streamed"] and e.request_body_file is not None
        assert e.request_body_file.sha256 == sha and e.request_body == body and not e.request_truncated
    assert {h.lower() for h, _ in entries[1].request_headers} >= {"transfer-encoding"}


async def test_stream_above_and_max_body_size_apply_to_streamed_bodies(
    tmp_path: Path, pki: TestPki, origin: Origin
) -> None:
    """With `--stream-above 1MB --max-body-size 1MB`: a 3 MB download streams through whole to
    the client and its first megabyte is kept, flagged truncated; a 500 KB one is not streamed."""
    async with necto_instance(tmp_path / "home", pki, "--stream-above", "1MB", "--max-body-size", "1MB") as n:
        session_id = await n.new_session("capped")
        got = await fetch(f"{origin.url}/download?mb=3", n.proxy_url)
        small = await fetch(f"{origin.url}/blob?bytes=500000&seed=6", n.proxy_url)
        await wait_for_entries(n.store, session_id, 2)
        big, little = [e async for e in n.store.iter_entries(session_id)]
    assert got == blob(BLOCK, 7) * 3 and small == blob(500_000, 6)
    assert big.extra["streamed"] == ["response"] and big.response_truncated
    assert big.response_body == got[:BLOCK] and big.response_wire_size == 3 * BLOCK  # 1MB is 1 MiB
    assert "streamed" not in little.extra and little.response_body == small and not little.response_truncated


# ------------------------------------------------------------------ memory, in Necto's own process
def memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a process, in MiB."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


async def test_a_gzip_bomb_is_decoded_only_up_to_the_cap(tmp_path: Path, pki: TestPki, origin: Origin) -> None:
    """1 MB of gzip that decodes to 1 GiB of zeros: Necto keeps the decoded prefix (up to its
    decode limit) and the bytes as they travelled, flags the entry, and its memory peak hardly
    moves (decoding it whole would add a gigabyte)."""
    async with necto_instance(tmp_path / "home", pki) as n:
        session_id = await n.new_session("bomb")
        await fetch(f"{origin.url}/blob?bytes=100000&seed=3", n.proxy_url)  # warm up
        await wait_for_entries(n.store, session_id, 1)
        before = memory(n.proc.proc.pid)
        got = await fetch(f"{origin.url}/bomb", n.proxy_url)
        assert got == origin.bomb  # the client gets the bytes as they travelled
        entries = await wait_for_entries(n.store, session_id, 2, timeout=60)
        after = memory(n.proc.proc.pid)
        bomb = [e async for e in n.store.iter_entries(session_id, bodies=False)][1]
        async with aiohttp.ClientSession(auto_decompress=False) as c:
            async with c.get(f"{n.api_url}/api/traffic/{bomb.id}/body/response?raw=true") as r:
                assert r.status == 200 and await r.read() == origin.bomb  # as it travelled
    assert bomb.response_truncated and bomb.response_wire_size == len(origin.bomb)
    stopped = bomb.extra["decodeStopped"]["response"]
    assert stopped["encoding"] == "gzip" and 0 < stopped["decodedBytes"] < 1 << 30
    assert (
        bomb.response_raw_file is not None and bomb.response_raw_file.sha256 == hashlib.sha256(origin.bomb).hexdigest()
    )
    assert bomb.response_body_file is not None
    decoded = body_path(n.data_dir, bomb.response_body_file.sha256)
    assert decoded.stat().st_size == 256 << 20 <= stopped["decodedBytes"]  # the decode limit without --max-body-size
    with open(decoded, "rb") as f:
        assert f.read(BLOCK) == bytes(BLOCK)
    assert len(entries) == 2
    grown = after["VmHWM"] - before["VmRSS"]
    assert grown < 200, f"Necto's peak grew by {grown:.0f} MiB decoding a gzip bomb ({before} -> {after})"


async def test_a_large_download_streams_through_with_flat_memory(tmp_path: Path, pki: TestPki, origin: Origin) -> None:
    """200 MB through Necto: streamed (above --stream-above), recorded by the tap into the body
    store as it passed, its stored hash the client's; Necto's peak grows by far less than the body."""
    mb = 200
    async with necto_instance(tmp_path / "home", pki) as n:
        session_id = await n.new_session("download")
        await fetch(f"{origin.url}/download?mb=1", n.proxy_url)  # warm up (1 MB: buffered)
        await wait_for_entries(n.store, session_id, 1)
        before = memory(n.proc.proc.pid)
        digest, size = hashlib.sha256(), 0
        async with aiohttp.ClientSession() as c:
            async with c.get(f"{origin.url}/download?mb={mb}", proxy=n.proxy_url) as r:
                assert r.status == 200
                async for chunk in r.content.iter_chunked(BLOCK):
                    digest.update(chunk)
                    size += len(chunk)
        await wait_for_entries(n.store, session_id, 2, timeout=60)
        entry = [e async for e in n.store.iter_entries(session_id, bodies=False)][1]
        # The API leaves a body that long out of the entry's JSON and streams it on its own.
        async with aiohttp.ClientSession() as c:
            async with c.get(f"{n.api_url}/api/traffic/{entry.id}") as r:
                detail = await r.json()
            served = hashlib.sha256()
            async with c.get(f"{n.api_url}/api/traffic/{entry.id}/body/response") as r:
                assert r.status == 200 and r.headers["Content-Type"] == "application/octet-stream"
                async for chunk in r.content.iter_chunked(BLOCK):
                    served.update(chunk)
            async with c.get(f"{n.api_url}/api/traffic/{entry.id}/body/sideways") as r:
                assert r.status == 400 and "error" in await r.json()
            # The HAR export writes it from its file a piece at a time.
            async with c.get(f"{n.api_url}/api/har/export/{session_id}") as r:
                assert r.status == 200
                exported = await base64_text_digests(r.content.iter_chunked(BLOCK))
        after = memory(n.proc.proc.pid)
    assert detail["responseBodyOmitted"] is True and detail["responseBody"] is None
    assert served.hexdigest() == digest.hexdigest()
    assert exported == [hashlib.sha256(blob(BLOCK, 7)).hexdigest(), digest.hexdigest()]
    assert size == mb * BLOCK
    assert entry.extra["streamed"] == ["response"] and not entry.response_truncated
    assert entry.response_body_size == size and entry.response_body_file is not None
    assert entry.response_body_file.sha256 == digest.hexdigest()
    stored, path = hashlib.sha256(), body_path(n.data_dir, digest.hexdigest())
    with open(path, "rb") as f:
        while chunk := f.read(BLOCK):
            stored.update(chunk)
    assert stored.hexdigest() == digest.hexdigest()
    grown = after["VmHWM"] - before["VmRSS"]
    assert grown < 100, f"Necto's peak grew by {grown:.0f} MiB for a {mb} MB download ({before} -> {after})"


# ------------------------------------------------------------------ decoding, against mitmproxy's own decoders
@pytest.mark.parametrize("enc", ["gzip", "deflate", "br", "zstd"])
def test_content_encoding_is_decoded_as_mitmproxy_does_and_never_past_the_cap(tmp_path: Path, enc: str) -> None:
    """Whole: the same bytes as mitmproxy's decoder (in memory, or as a file when long). Capped:
    the decoded prefix, flagged, with the encoded bytes kept; undecodable: kept as it travelled."""
    store = BodyStore(tmp_path / "bodies")
    store.ensure()
    plain = blob(50_000, 10) * 8 + bytes(300_000)  # 700 KB, partly compressible
    encoded = encoding.encode(plain, enc)
    whole = decode_body(encoded, enc, store, -1)
    assert whole.body == encoding.decode(encoded, enc) == plain and not whole.truncated and whole.raw is None
    spilled = decode_body(encoded, enc, store, -1, memory_max=100_000)
    assert isinstance(spilled.body, BodyFile) and spilled.body.size == len(plain)
    assert spilled.body.pending is not None and Path(str(spilled.body.pending)).read_bytes() == plain
    store.discard(spilled.body)
    capped = decode_body(encoded, enc, store, 100_000)
    assert capped.body == plain[:100_000] and capped.truncated and capped.cut and capped.raw == encoded
    broken = decode_body(b"not " + encoded, enc, store, -1)
    assert broken.body == b"not " + encoded and not broken.truncated
    assert list((tmp_path / "bodies" / "tmp").iterdir()) == []  # nothing left behind
