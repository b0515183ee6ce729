"""Hostile and broken HAR uploads (issue 11: 1, the import half of 3, the HAR parts of 12, 13,
the fuzz test; issue 17: errors that say what was wrong).

Everything goes through the real endpoints (multipart, as curl -F sends it) or the real
`necto` command. A refused file answers JSON with a status below 500 and a `detail` a user can
act on, and leaves no session and no staged row behind; the server keeps answering.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from helpers import (
    DATA,
    HAR_VALIDATOR,
    PNG,
    RunningNecto,
    TestPki,
    missing_tool,
    necto_cli,
    necto_process,
    poll_until,
    run_cmd,
    stop,
)

HAR = DATA / "har"


async def post(http: aiohttp.ClientSession, url: str, data: bytes, filename: str = "x.har") -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    async with http.post(url, data=form) as resp:
        text = await resp.text()
        try:
            return resp.status, orjson.loads(text)
        except orjson.JSONDecodeError:
            return resp.status, {"not JSON": text[:300]}


def rows(necto: RunningNecto) -> tuple[int, int, int]:
    """Sessions (any state), entries and import records in the database, read as another process would."""
    with sqlite3.connect(f"file:{necto.data_dir / 'necto.db'}?mode=ro", uri=True) as db:
        return db.execute(
            "SELECT (SELECT COUNT(*) FROM sessions), (SELECT COUNT(*) FROM entries), (SELECT COUNT(*) FROM har_imports)"
        ).fetchone()


def minimal(entries: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": entries}})


def entry(**over: Any) -> dict[str, Any]:
    e: dict[str, Any] = {
        "startedDateTime": "2024-02-28T12:00:00.000Z", "time": 3,
        "request": {"method": "GET", "url": "https://h.example.com/", "httpVersion": "HTTP/1.1", "cookies": [],
                    "headers": [], "queryString": [], "headersSize": -1, "bodySize": 0},
        "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "cookies": [], "headers": [],
                     "content": {"size": 2, "mimeType": "text/plain", "text": "ok"}, "redirectURL": "",
                     "headersSize": -1, "bodySize": 2},
        "cache": {}, "timings": {"send": 1, "wait": 1, "receive": 1},
    }  # fmt: skip
    for path, value in over.items():
        cur = e
        keys = path.split("__")
        for k in keys[:-1]:
            cur = cur[k]
        cur[keys[-1]] = value
    return e


# ---------------------------------------------------------------------------- errors say what was wrong
CUT = minimal([entry()])[:70]
JSON = ("Invalid HAR file format", "Invalid JSON format")  # import's error, validate's
NO_LOG = ("Invalid HAR structure", "Missing log property")
NO_ENTRIES = ("Invalid HAR structure", "Missing or invalid entries array")
DETAILS = [
    ("empty.har", b"", JSON, "the file is empty"),
    ("spaces.har", b"  \n\t ", JSON, "only whitespace"),
    ("image.png", PNG, JSON, "a PNG image, not a HAR"),
    ("page.html", b"<!doctype html><html><body>hi</body></html>", JSON, "an HTML page"),
    ("archive.har.gz", b"\x1f\x8b\x08\x00rest", JSON, "gzip-compressed"),
    ("not-json.har", b'{"log": {"entries": [xxx]}}', JSON, "not JSON at byte 21"),
    ("cut.har", CUT, JSON, f"ends early at byte {len(CUT)}"),
    (
        "deep.har",
        b'{"log": {"entries": [' + b"[" * 5000 + b"]" * 5000 + b"]}}",
        JSON,
        "nests deeper than 64 levels at byte 82",
    ),
    (
        "no-log.json",
        b'{"data": {"entries": []}, "version": 1}',
        NO_LOG,
        'no "log" member (its top-level keys: data, version)',
    ),
    ("array.json", b"[1, 2]", NO_LOG, "the top level is an array"),
    ("log-string.json", b'{"log": "x"}', NO_LOG, '"log" is a string'),
    (
        "no-entries.json",
        b'{"log": {"version": "1.2", "pages": []}}',
        NO_ENTRIES,
        'no "entries" member (its keys: version, pages)',
    ),
    ("entries-object.json", b'{"log": {"entries": {}}}', NO_ENTRIES, "log.entries is an object, not an array"),
]


@pytest.mark.parametrize("name,data,errors,detail", DETAILS, ids=[d[0] for d in DETAILS])
async def test_errors_say_what_was_wrong(
    necto: RunningNecto, http: aiohttp.ClientSession, name: str, data: bytes, errors: tuple[str, str], detail: str
) -> None:
    """Issue 17: the headline stays NectoProxy's; `detail` says what was wrong with this file."""
    before = await asyncio.to_thread(rows, necto)
    status, body = await post(http, f"{necto.api_url}/api/har/import", data, name)
    assert (status, body["error"]) == (400, errors[0]) and detail in body["detail"], body
    status, body = await post(http, f"{necto.api_url}/api/har/validate", data, name)
    assert (status, body["valid"], body["error"]) == (400, False, errors[1]) and detail in body["detail"], body
    await necto.store.flush()
    assert await asyncio.to_thread(rows, necto) == before


async def test_cli_says_what_was_wrong(tmp_path: Path) -> None:
    png = tmp_path / "shot.har"
    png.write_bytes(PNG)
    code, out, _ = await necto_cli("validate", str(png))
    assert code == 1 and b"a PNG image, not a HAR" in out
    code, _, err = await necto_cli("import", str(png), "--data-dir", str(tmp_path / "home"))
    assert code == 1 and b"Invalid HAR file format" in err and b"a PNG image" in err


# ---------------------------------------------------------------------------- nothing to import
async def test_empty_and_all_skipped_files_are_refused(
    necto: RunningNecto, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Issue 11.14 / 12.9: 400 with the reasons, nothing left (the README said so); validate still
    calls an empty file valid (NectoProxy's guide: a warning)."""
    before = await asyncio.to_thread(rows, necto)
    status, body = await post(http, f"{necto.api_url}/api/har/import", b'{"log":{"entries":[]}}')
    assert status == 400 and body["error"] == "Invalid HAR structure" and "no entries" in body["detail"]
    skipped = minimal([{"request": {"method": "GET"}}, {"response": {}}])
    status, body = await post(http, f"{necto.api_url}/api/har/import", skipped)
    assert status == 400 and body["skippedCount"] == 2, body
    assert [(s["index"], s["reason"]) for s in body["skipped"]] == [
        (0, "request has no url"),
        (1, "entry has no request"),
    ]
    await necto.store.flush()
    assert await asyncio.to_thread(rows, necto) == before
    status, body = await post(http, f"{necto.api_url}/api/har/validate", b'{"log":{"entries":[]}}')
    assert status == 200 and body["valid"] is True and body["warnings"][-1]["path"] == "log.entries"
    # the command line: exit 1 with the reasons, no session
    path = tmp_path / "all-skipped.har"
    path.write_bytes(skipped)
    home = tmp_path / "home"
    code, _, err = await necto_cli("import", str(path), "--data-dir", str(home))
    assert (
        code == 1 and b"none of the 2 entries can be imported" in err and b"log.entries[1]: entry has no request" in err
    )
    code, out, _ = await necto_cli("sessions", "list", "--json", "--data-dir", str(home))
    assert [s["name"] for s in orjson.loads(out)] == ["Default Session"]


# ---------------------------------------------------------------------------- numbers, methods, hosts
async def test_huge_numbers_are_warned_not_500(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    """1e308 in sizes and status, integers past 2^63: imported with warnings (validate and
    import agree); a double that overflows is a clear 400."""
    doc = (
        minimal([entry(response__bodySize=1e308, response__status=1e308, request__bodySize=12)])
        .replace(b'"request":{"method":"GET"', b'"_big":18446744073709551616,"request":{"method":"GET"')
        .replace(b'"headersSize":-1,"bodySize":12', b'"headersSize":-1,"bodySize":-99999999999999999999999')
    )
    status, v = await post(http, f"{necto.api_url}/api/har/validate", doc)
    assert status == 200 and v["valid"] is True, v
    status, body = await post(http, f"{necto.api_url}/api/har/import", doc)
    assert status == 200 and body["imported"] == 1, body
    messages = {w["path"]: w["message"] for w in body["warnings"]}
    clamped = [w["message"] for w in body["warnings"] if w["path"] == ""]
    assert [m.split(" at byte")[0] for m in clamped] == [
        "integer 18446744073709551616",
        "integer -99999999999999999999999",
    ]
    assert clamped[0].endswith("outside the 64-bit range; read as 9223372036854775807")
    assert "1e+308 is not a status code" in messages["log.entries[0].response.status"]
    assert "out of range" in messages["log.entries[0].response.bodySize"]
    assert "out of range" in messages["log.entries[0].request.bodySize"]  # clamped to -2^63, still absurd
    assert {w["path"] for w in body["warnings"]} == {w["path"] for w in v["warnings"]}
    [e] = [x async for x in necto.store.iter_entries(body["sessionId"])]
    assert e.status is None and e.response_wire_size == -1 and e.extra["har"]["entry"]["_big"] == 2**63 - 1
    status, body = await post(http, f"{necto.api_url}/api/har/import", doc.replace(b"1e+308", b"1e999"))
    assert status == 400 and body["error"] == "Invalid HAR file format" and "1e999" in body["detail"], body


async def test_methods_that_are_not_tokens_are_escaped(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    """Issue 11.3: a method like `GET;touch /tmp/x;#` never reaches a shell or a request line."""
    status, body = await post(
        http, f"{necto.api_url}/api/har/import", minimal([entry(request__method="GET;touch /tmp/x;#")])
    )
    assert status == 200, body
    [w] = body["warnings"]
    assert w["path"] == "log.entries[0].request.method" and "is not an HTTP token" in w["message"]
    [e] = [x async for x in necto.store.iter_entries(body["sessionId"])]
    assert e.method == "GET%3Btouch%20%2Ftmp%2Fx%3B#"
    async with http.get(f"{necto.api_url}/api/har/export/{body['sessionId']}") as resp:
        [out] = orjson.loads(await resp.read())["log"]["entries"]
    assert out["request"]["method"] == e.method and out["request"]["_method"] == "GET;touch /tmp/x;#"


async def test_ipv6_hosts_get_brackets(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    """Issue 11.13: `http://::1:23889/x` is not a URL; validate says so, import brackets it."""
    doc = minimal([entry(request__url="http://::1:23889/x?q=1"), entry(request__url="http://[::1]:8080/ok"),
                   entry(request__url="https://2001:db8::7/")])  # fmt: skip
    status, v = await post(http, f"{necto.api_url}/api/har/validate", doc)
    flagged = {w["path"] for w in v["warnings"] if "IPv6 host without brackets" in w["message"]}
    assert flagged == {"log.entries[0].request.url", "log.entries[2].request.url"}, v
    status, body = await post(http, f"{necto.api_url}/api/har/import", doc)
    assert status == 200
    urls = [x.url async for x in necto.store.iter_entries(body["sessionId"])]
    assert urls == ["http://[::1]:23889/x?q=1", "http://[::1]:8080/ok", "https://[2001:db8::7]/"]
    from urllib.parse import urlsplit

    assert [urlsplit(u).hostname for u in urls] == ["::1", "::1", "2001:db8::7"]


# ---------------------------------------------------------------------------- damaged multipart
MULTIPART_DAMAGE = [
    ("no opening boundary", b'Content-Disposition: form-data; name="file"; filename="x.har"\r\n\r\n{}\r\n--B--\r\n'),
    (
        "no closing boundary",
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="x.har"\r\n\r\n{"log":{"entries":[]}}',
    ),
    ("cut in the part headers", b"--B\r\nContent-Disposition: form-da"),
    ("only a boundary", b"--B"),
    ("wrong boundary", b'--C\r\nContent-Disposition: form-data; name="file"; filename="x.har"\r\n\r\n{}\r\n--C--\r\n'),
    ("garbage", bytes(range(256)) * 4),
    ("empty", b""),
]


@pytest.mark.parametrize("what,body", MULTIPART_DAMAGE, ids=[m[0] for m in MULTIPART_DAMAGE])
async def test_damaged_multipart_is_a_400(
    necto: RunningNecto, http: aiohttp.ClientSession, what: str, body: bytes
) -> None:
    before = await asyncio.to_thread(rows, necto)
    for path in ("/api/har/import", "/api/har/validate"):
        async with http.post(
            f"{necto.api_url}{path}", data=body, headers={"Content-Type": "multipart/form-data; boundary=B"}
        ) as resp:
            assert resp.status == 400, (what, path, await resp.text())
            assert isinstance((await resp.json())["error"], str)
    assert await asyncio.to_thread(rows, necto) == before
    assert not list((necto.data_dir / "tmp").glob("upload-*"))


# ---------------------------------------------------------------------------- the fuzz test
def _mutations(seed: int = 12) -> list[tuple[str, bytes]]:
    """Deterministic damage to real fixtures: truncations, deep nesting, huge numbers, wrong
    types, bad UTF-8."""
    rng = random.Random(seed)
    sources = [
        (HAR / n).read_bytes() for n in ("clean.har", "custom-fields.har", "status-zero-error.har", "multi-page.har")
    ]
    out: list[tuple[str, bytes]] = []
    for src in sources:
        for _ in range(6):
            cut = rng.randrange(1, len(src))
            out.append((f"truncated at {cut}", src[:cut]))
        for depth in (65, 3000, 100_000):
            at = src.index(b'"request"')
            out.append((f"nested {depth}", src[:at] + b'"_deep":' + b"[" * depth + b"]" * depth + b"," + src[at:]))
        for number in (
            b"1e308",
            b"-1e308",
            b"1e999",
            b"18446744073709551616",
            b"-9223372036854775809",
            b"1" * 5000,
            b"1e-400",
            b"0.1e-99999",
        ):
            positions = [
                i for i in range(len(src) - 1) if src[i : i + 1] == b":" and src[i + 1 : i + 2] in b"-0123456789"
            ]
            at = rng.choice(positions) + 1
            end = at
            while end < len(src) and src[end : end + 1] in b"-+.eE0123456789":
                end += 1
            out.append((f"number {number[:12]!r}", src[:at] + number + src[end:]))
        doc = orjson.loads(src)
        for _ in range(25):
            out.append(("wrong type", orjson.dumps(_retype(doc, rng))))
        for _ in range(4):
            at = rng.randrange(len(src))
            out.append(
                (
                    f"bad UTF-8 at {at}",
                    src[:at] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]) + src[at:],
                )
            )
    return out


def _retype(doc: Any, rng: random.Random) -> Any:
    """A copy of `doc` with one value somewhere replaced by a value of another type."""
    doc = orjson.loads(orjson.dumps(doc))
    paths: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for k, v in items:
            paths.append((node, k))
            walk(v)

    walk(doc)
    node, key = rng.choice(paths)
    node[key] = rng.choice([None, [], {}, "x", True, -1, 1.5, [{"a": 1}], {"name": 1}])
    return doc


MUTATIONS = _mutations()


async def test_fuzz_import_and_validate(necto: RunningNecto, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    """Every damaged file: a JSON answer below 500; refused ones leave nothing; what is
    imported exports as valid HAR 1.2; memory stays bounded; the server still answers."""
    rss0 = _rss()
    before = await asyncio.to_thread(rows, necto)
    created: list[str] = []
    statuses: dict[int, int] = {}
    for what, data in MUTATIONS:
        for path in ("/api/har/validate", "/api/har/import"):
            status, body = await post(http, f"{necto.api_url}{path}", data)
            statuses[status] = statuses.get(status, 0) + 1
            assert status in (200, 400), (what, path, status, body)
            assert "not JSON" not in body, (what, body)
            if status == 400:
                assert isinstance(body.get("error"), str) and body["error"], (what, body)
            elif path.endswith("import"):
                created.append(body["sessionId"])
                async with http.get(f"{necto.api_url}/api/har/export/{body['sessionId']}") as resp:
                    assert resp.status == 200, what
                    (tmp_path / f"{len(created)}.har").write_bytes(await resp.read())
    assert statuses.get(400, 0) > 50 and statuses.get(200, 0) > 50, statuses  # the damage varied
    await necto.store.flush()
    sessions, entries, imports = await asyncio.to_thread(rows, necto)
    assert sessions == before[0] + len(created) and imports == before[2] + len(created), "refused files left nothing"
    for sid in created:
        await necto.store.delete_session(sid)
    assert await asyncio.to_thread(rows, necto) == before
    async with http.get(f"{necto.api_url}/api/health") as resp:
        assert resp.status == 200
    assert _rss() - rss0 < 300 << 20, "parsing hostile files keeps memory bounded"
    if not (HAR_VALIDATOR / "package.json").is_file():
        missing_tool("har-validator (npm)")
    script = (
        f"const v = require({str(HAR_VALIDATOR)!r}); const fs = require('fs'); const dir = {str(tmp_path)!r};"
        "(async () => { const bad = {};"
        "  for (const f of fs.readdirSync(dir)) {"
        "    try { await v.har(JSON.parse(fs.readFileSync(dir + '/' + f, 'utf8'))); }"
        "    catch (e) { bad[f] = e.errors || String(e); } }"
        "  console.log(JSON.stringify(bad)); })();"
    )
    code, out, err = await run_cmd("node", "-e", script)
    assert code == 0 and orjson.loads(out) == {}, (out[:2000], err[:500])


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


# ---------------------------------------------------------------------------- deep nesting, contained
DEEP = b'{"log": {"version": "1.2", "entries": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}}"  # 200 KB
# Needed without the bound: ~24 GB for 100k levels. Allowed here: a fraction of that, so a
# regression fails the test (MemoryError, killed) instead of taking the machine down.
CLI_ADDRESS_SPACE = 1536 << 20
NECTO_ADDRESS_SPACE = 4 << 30


async def test_deep_nesting_cli_under_an_address_space_limit(tmp_path: Path) -> None:
    path = tmp_path / "deep.har"
    path.write_bytes(DEEP)
    code, out, err = await run_cmd(
        "prlimit", f"--as={CLI_ADDRESS_SPACE}", "--", sys.executable, "-m", "necto", "validate", str(path), timeout=60
    )
    assert code == 1, (out, err)
    assert b"Invalid JSON format" in out and b"nests deeper than 64 levels" in out and b"Traceback" not in err


async def test_deep_nesting_api_under_an_address_space_limit(tmp_path: Path, pki: TestPki) -> None:
    """A Necto of its own, its address space capped: the deep file is refused at the API and the
    process (proxy, API) keeps serving."""
    import contextlib

    @contextlib.asynccontextmanager
    async def limited() -> Any:
        async with necto_process(tmp_path / "home", pki) as p:
            code, _, err = await run_cmd("prlimit", f"--pid={p.proc.pid}", f"--as={NECTO_ADDRESS_SPACE}")
            assert code == 0, err
            yield p

    async with limited() as p, aiohttp.ClientSession() as http:
        for path, error in (
            ("/api/har/validate", "Invalid JSON format"),
            ("/api/har/import", "Invalid HAR file format"),
        ):
            status, body = await post(http, f"{p.api_url}{path}", DEEP)
            assert (status, body["error"]) == (400, error) and "nests deeper than 64" in body["detail"], body
        async with http.get(f"{p.api_url}/api/sessions") as resp:
            assert resp.status == 200 and len(await resp.json()) == 1
        await poll_until(lambda: p.proc.returncode is None, "Necto to be still running")
        code, _ = await stop(p)
        assert code == 0
