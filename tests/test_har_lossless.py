"""An imported HAR comes back out as it went in (issue 12), field by field.

Every file of tests/data/har that imports (and, marked `corpus`, of ../shared/har-corpus) goes
through POST /api/har/import and GET /api/har/export/:sessionId on the shared Necto. Original
and re-export are compared field by field: every difference must be said, that is

- a warning of the import names the field (or a field inside it, or the object holding it), or
- the field's object holds the file's value under the same name with a `_` prefix and a warning
  names that object or one of its fields (a value changed to make the export valid HAR 1.2), or
- it is one of the few changes in ALLOWED, each with its reason.

Then the re-export is imported and exported again: the same bytes (a fixed point), with no
warning. mitmproxy's HAR reader reads every re-export (har-validator: tests/test_har_fixtures.py).
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio

from helpers import CORPUS, DATA, HAVE_CORPUS, MISSING, RunningNecto, har_differences, read_har_text

FIXTURES = sorted((DATA / "har").glob("*.har"))
CORPUS_FILES = (
    sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in (".har", ".json")) if HAVE_CORPUS else []
)

# The changes an export may make without a warning, each with its reason. Paths as warnings
# write them, entry and page indexes as [*].
ALLOWED: dict[str, str] = {
    "log.creator": "the export was written by Necto: `creator` says so",
    "log.pages": "a file without pages gets one page for its entries (Safari reads log.pages[0])",
}


def pattern(path: str) -> str:
    return re.sub(r"\[\d+\]", "[*]", path)


def allowed(path: str, original: Any) -> bool:
    p = pattern(path)
    for key in ALLOWED:
        if p == key or p.startswith((key + ".", key + "[")):
            return key != "log.pages" or original in (MISSING, None, []) or p != key
    return False


@dataclass
class RoundTrip:
    name: str
    original: Any
    import_status: int = 0
    import_body: dict[str, Any] = field(default_factory=dict)
    warnings: list[dict[str, Any]] = field(default_factory=list)  # all of them, paged
    export_raw: bytes = b""
    again_raw: bytes = b""
    again_body: dict[str, Any] = field(default_factory=dict)
    sessions: list[str] = field(default_factory=list)


async def post(http: aiohttp.ClientSession, url: str, data: bytes, filename: str) -> tuple[int, dict[str, Any]]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    async with http.post(url, data=form) as resp:
        return resp.status, await resp.json()


async def all_warnings(http: aiohttp.ClientSession, api: str, import_id: str) -> list[dict[str, Any]]:
    """Every warning of an import, through GET /api/har/imports/:id/warnings a page at a time."""
    out: list[dict[str, Any]] = []
    while True:
        async with http.get(
            f"{api}/api/har/imports/{import_id}/warnings", params={"offset": len(out), "limit": 500}
        ) as resp:
            assert resp.status == 200, await resp.text()
            page = (await resp.json())["warnings"]
        if not page:
            return out
        out += page


async def export_of(http: aiohttp.ClientSession, api: str, session_id: str) -> bytes:
    async with http.get(f"{api}/api/har/export/{session_id}") as resp:
        assert resp.status == 200, await resp.text()
        return await resp.read()


async def round_trip(necto: RunningNecto, http: aiohttp.ClientSession, path: Path) -> RoundTrip:
    raw = path.read_bytes()
    rt = RoundTrip(path.name, read_har_text(raw))
    api = necto.api_url
    rt.import_status, rt.import_body = await post(http, f"{api}/api/har/import", raw, path.name)
    if rt.import_status != 200:
        return rt
    rt.sessions.append(rt.import_body["sessionId"])
    if "importId" in rt.import_body:
        rt.warnings = await all_warnings(http, api, rt.import_body["importId"])
        assert len(rt.warnings) == rt.import_body.get("warningCount", 0)
    rt.export_raw = await export_of(http, api, rt.import_body["sessionId"])
    status, rt.again_body = await post(http, f"{api}/api/har/import", rt.export_raw, "re-export.har")
    assert status == 200, rt.again_body
    rt.sessions.append(rt.again_body["sessionId"])
    rt.again_raw = await export_of(http, api, rt.again_body["sessionId"])
    return rt


@pytest_asyncio.fixture(scope="module")
async def trips(necto: RunningNecto, http: aiohttp.ClientSession) -> AsyncIterator[dict[str, RoundTrip]]:
    results: dict[str, RoundTrip] = {}
    yield results
    for rt in results.values():
        for sid in rt.sessions:
            await necto.store.delete_session(sid)


async def trip(trips: dict[str, RoundTrip], necto: RunningNecto, http: aiohttp.ClientSession, path: Path) -> RoundTrip:
    key = str(path)
    if key not in trips:
        trips[key] = await round_trip(necto, http, path)
    return trips[key]


def said(rt: RoundTrip, path: str, exported_parent: Any) -> bool:
    """A warning names the field, or its object with the file's value kept aside."""
    for w in rt.warnings:
        p = w["path"]
        if p == path or path.startswith((p + ".", p + "[")) or p.startswith((path + ".", path + "[")):
            return True
    parent, _, leaf = path.rpartition(".")
    aside = isinstance(exported_parent, dict) and (leaf.startswith("_") or f"_{leaf}" in exported_parent)
    return aside and any(w["path"].startswith((parent + ".", parent + "[")) or w["path"] == parent for w in rt.warnings)


def resolve(doc: Any, path: str) -> Any:
    cur = doc
    for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        if key:
            cur = cur.get(key, MISSING) if isinstance(cur, dict) else MISSING
        else:
            cur = cur[int(index)] if isinstance(cur, list) and int(index) < len(cur) else MISSING
    return cur


def unexplained(rt: RoundTrip) -> list[str]:
    """The differences between the file and its re-export that nothing explains."""
    original, exported = rt.original["log"], orjson.loads(rt.export_raw)["log"]
    skipped = {s["index"] for s in rt.import_body.get("skipped", [])}
    assert rt.import_body.get("skippedCount", 0) == len(skipped), "every skip is listed"
    kept = [(i, e) for i, e in enumerate(original["entries"]) if i not in skipped]
    assert len(kept) == len(exported["entries"]), "the export has every imported entry"
    diffs: list[tuple[str, Any, Any]] = []
    # entries in the file's order, each against its own index
    for (i, a), b in zip(kept, exported["entries"], strict=True):
        diffs += har_differences(a, b, f"log.entries[{i}]")
    head_a = {k: v for k, v in original.items() if k != "entries"}
    head_b = {k: v for k, v in exported.items() if k != "entries"}
    diffs += har_differences(head_a, head_b, "log")
    out = []
    for path, a, b in diffs:
        if allowed(path, a):
            continue
        parent = resolve({"log": exported}, path.rpartition(".")[0]) if "." in path else None
        if not said(rt, path, parent):
            show = lambda v: "(missing)" if v is MISSING else repr(v)[:120]  # noqa: E731
            out.append(f"{path}: {show(a)} -> {show(b)}")
    return out


def check(rt: RoundTrip) -> None:
    if rt.import_status != 200:
        pytest.skip(f"{rt.name} is not imported ({rt.import_body.get('error')}): tests/test_har_fixtures.py covers it")
    problems = unexplained(rt)
    assert not problems, f"{len(problems)} changes nothing says:\n" + "\n".join(problems[:40])
    assert rt.again_raw == rt.export_raw, "export -> import -> export is a fixed point"
    assert rt.again_body["warningCount"] == 0, rt.again_body["warnings"][:10]


def mitmproxy_reads(rt: RoundTrip) -> None:
    """mitmproxy's reader takes every re-export whose original it takes (as clean JSON): what
    it cannot read in the file it still cannot (a `data:` URL, postData params without text,
    a Content-Encoding that is not a coding), and a re-export never makes it worse."""
    from mitmproxy.io import FlowReader

    if rt.import_status != 200:
        pytest.skip(f"{rt.name} is not imported")
    try:
        list(FlowReader(io.BytesIO(orjson.dumps(rt.original))).stream())
    except Exception as e:
        pytest.skip(f"mitmproxy cannot read the original {rt.name} either: {e.__cause__ or e}")
    flows = list(FlowReader(io.BytesIO(rt.export_raw)).stream())
    assert len(flows) == rt.import_body["imported"]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
async def test_fixture_comes_back_as_it_went_in(
    trips: dict[str, RoundTrip], necto: RunningNecto, http: aiohttp.ClientSession, path: Path
) -> None:
    check(await trip(trips, necto, http, path))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
async def test_mitmproxy_reads_fixture_reexport(
    trips: dict[str, RoundTrip], necto: RunningNecto, http: aiohttp.ClientSession, path: Path
) -> None:
    mitmproxy_reads(await trip(trips, necto, http, path))


@pytest.mark.corpus
@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: str(p.relative_to(CORPUS)))
async def test_corpus_file_comes_back_as_it_went_in(
    trips: dict[str, RoundTrip], necto: RunningNecto, http: aiohttp.ClientSession, path: Path
) -> None:
    check(await trip(trips, necto, http, path))


@pytest.mark.corpus
@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: str(p.relative_to(CORPUS)))
async def test_mitmproxy_reads_corpus_reexport(
    trips: dict[str, RoundTrip], necto: RunningNecto, http: aiohttp.ClientSession, path: Path
) -> None:
    mitmproxy_reads(await trip(trips, necto, http, path))
