"""Annotations (NectoProxy's notes, tags and colours): the API with its error strings, the list's
marks, the filter language, deletion with the entry and the session, and a HAR round trip."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp

from helpers import RunningNecto, Upstream, api, curl, har_validator_errors, necto_cli, wait_for_entries
from necto.model import Session


async def _two_entries(necto: RunningNecto, upstream: Upstream, session: Session) -> list[Any]:
    await curl(necto, f"{upstream.http_url}/orders/1?enc=gzip")
    await curl(necto, f"{upstream.http_url}/status/503")
    return await wait_for_entries(necto.store, session.id, 2)


async def test_annotations_api(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession, fresh_session: Session
) -> None:
    order, failed = await _two_entries(necto, upstream, fresh_session)
    base = f"{necto.api_url}/api/annotations"
    assert await api(http, "POST", base, {"content": "x"}) == (400, {"error": "trafficId is required"})
    assert await api(http, "POST", base, {"trafficId": order.id}) == (400, {"error": "content is required"})
    assert await api(http, "POST", base, {"trafficId": order.id, "content": ""}) == (
        400,
        {"error": "content is required"},
    )
    assert await api(http, "POST", base, {"trafficId": "no-such-entry", "content": "x"}) == (
        404,
        {"error": "Traffic entry not found"},
    )
    status, body = await api(http, "POST", base, {"trafficId": order.id, "content": "x", "color": "pink"})
    assert status == 400 and "color must be one of: gray, red, orange, yellow, green, blue, purple" == body["error"]
    status, body = await api(http, "POST", base, {"trafficId": order.id, "content": "x", "tags": "bug"})
    assert (status, body["error"]) == (400, "tags must be an array of strings")

    status, first = await api(http, "POST", base, {"trafficId": order.id, "content": "flaky: 500 once"})
    assert status == 201
    assert set(first) == {"id", "trafficId", "content", "color", "tags", "createdAt", "updatedAt"}
    assert (first["trafficId"], first["color"], first["tags"]) == (order.id, "yellow", [])
    status, second = await api(
        http,
        "POST",
        base,
        {"trafficId": order.id, "content": "see ticket", "color": "red", "tags": ["bug", "checkout"]},
    )
    assert status == 201
    _, listed = await api(http, "GET", f"{base}/{order.id}")
    assert [a["content"] for a in listed["annotations"]] == ["flaky: 500 once", "see ticket"]
    assert await api(http, "GET", f"{base}/{failed.id}") == (200, {"annotations": []})
    _, everything = await api(http, "GET", base)
    assert {first["id"], second["id"]} <= {a["id"] for a in everything["annotations"]}

    status, edited = await api(http, "PUT", f"{base}/{first['id']}", {"color": "green", "tags": ["triaged"]})
    assert status == 200
    assert (edited["content"], edited["color"], edited["tags"]) == ("flaky: 500 once", "green", ["triaged"])
    assert edited["updatedAt"] >= edited["createdAt"]
    assert await api(http, "PUT", f"{base}/nope", {"content": "x"}) == (404, {"error": "Annotation not found"})

    # the list's marks (the newest note's colour and text) and the entry in full
    _, page = await api(http, "GET", f"{necto.api_url}/api/traffic?sessionId={fresh_session.id}")
    marks = {e["id"]: (e["annotations"], e["annotationColor"], e["annotationNote"]) for e in page["entries"]}
    assert marks == {order.id: (2, "red", "see ticket"), failed.id: (0, None, None)}
    _, detail = await api(http, "GET", f"{necto.api_url}/api/traffic/{order.id}")
    assert [a["id"] for a in detail["annotations"]] == [first["id"], second["id"]]

    # searchable
    lst = f"{necto.api_url}/api/traffic?sessionId={fresh_session.id}&filter="
    for query, expected in (("note:ticket", [order.id]), ("tag:bug", [order.id]), ("tag:triag*", [order.id]),
                            ("color:green", [order.id]), ("color:blue", []), ("-is:annotated", [failed.id]),
                            ('"see ticket"', [order.id])):  # fmt: skip
        _, found = await api(http, "GET", lst + query)
        assert [e["id"] for e in found["entries"]] == expected, query

    assert await api(http, "DELETE", f"{base}/{second['id']}") == (200, {"success": True})
    assert await api(http, "DELETE", f"{base}/{second['id']}") == (404, {"error": "Annotation not found"})


def _rows(necto: RunningNecto, entry_id: str) -> int:
    with sqlite3.connect(necto.data_dir / "necto.db") as db:
        return int(db.execute("SELECT COUNT(*) FROM annotations WHERE traffic_id = ?", (entry_id,)).fetchone()[0])


async def test_annotations_go_with_their_entry_and_session(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession, fresh_session: Session
) -> None:
    order, failed = await _two_entries(necto, upstream, fresh_session)
    for e in (order, failed):
        status, _ = await api(http, "POST", f"{necto.api_url}/api/annotations", {"trafficId": e.id, "content": "n"})
        assert status == 201
    assert _rows(necto, order.id) == _rows(necto, failed.id) == 1
    await api(http, "DELETE", f"{necto.api_url}/api/traffic/{order.id}")
    assert _rows(necto, order.id) == 0 and _rows(necto, failed.id) == 1
    other = await necto.store.create_session("annotations keep going", activate=True)  # the deleted one was active
    assert (await api(http, "DELETE", f"{necto.api_url}/api/sessions/{fresh_session.id}"))[0] == 200
    assert _rows(necto, failed.id) == 0
    assert await api(http, "GET", f"{necto.api_url}/api/annotations/{failed.id}") == (200, {"annotations": []})
    await necto.store.delete_session(other.id)


async def _import(http: aiohttp.ClientSession, necto: RunningNecto, raw: bytes, name: str) -> dict[str, Any]:
    form = aiohttp.FormData()
    form.add_field("file", raw, filename=f"{name}.har", content_type="application/json")
    form.add_field("sessionName", name)
    async with http.post(f"{necto.api_url}/api/har/import", data=form) as r:
        body = await r.json()
        assert r.status == 200, body
        return dict(body)


async def test_annotations_survive_export_and_import(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession, fresh_session: Session, tmp_path: Path
) -> None:
    order, failed = await _two_entries(necto, upstream, fresh_session)
    notes = [("flaky: 500 once", "orange", ["flaky"]), ("ask the payments team", "purple", ["bug", "payments"])]
    for content, color, tags in notes:
        status, _ = await api(http, "POST", f"{necto.api_url}/api/annotations",
                              {"trafficId": order.id, "content": content, "color": color, "tags": tags})  # fmt: skip
        assert status == 201
    async with http.get(f"{necto.api_url}/api/har/export/{fresh_session.id}") as r:
        raw = await r.read()
    har = json.loads(raw)
    exported = {e["request"]["url"]: e for e in har["log"]["entries"]}
    first = exported[order.url]
    assert first["comment"] == "flaky: 500 once\n\nask the payments team"
    assert [(a["content"], a["color"], a["tags"]) for a in first["_necto"]["annotations"]] == notes
    assert "comment" not in exported[failed.url] and "_necto" not in exported[failed.url]
    path = tmp_path / "annotated.har"
    path.write_bytes(raw)
    assert await har_validator_errors(path) is None

    # the CLI's export says the same
    code, out, err = await necto_cli("export", fresh_session.id, "--data-dir", str(necto.data_dir))
    assert code == 0, err
    assert json.loads(out)["log"]["entries"][0]["_necto"]["annotations"] == first["_necto"]["annotations"]

    imported = await _import(http, necto, raw, "annotated import")
    _, page = await api(http, "GET", f"{necto.api_url}/api/traffic?sessionId={imported['sessionId']}")
    again = next(e for e in page["entries"] if e["url"] == order.url)
    assert (again["annotations"], again["annotationColor"]) == (2, "purple")
    _, back = await api(http, "GET", f"{necto.api_url}/api/annotations/{again['id']}")
    assert [(a["content"], a["color"], a["tags"]) for a in back["annotations"]] == notes
    original = [a["createdAt"] for a in first["_necto"]["annotations"]]
    assert [a["createdAt"] for a in back["annotations"]] == original
    # and out again: the same comment and annotations, not doubled
    async with http.get(f"{necto.api_url}/api/har/export/{imported['sessionId']}") as r:
        second = json.loads(await r.read())
    round_trip = next(e for e in second["log"]["entries"] if e["request"]["url"] == order.url)
    assert round_trip["comment"] == first["comment"]
    assert round_trip["_necto"]["annotations"] == first["_necto"]["annotations"]
    await necto.store.delete_session(imported["sessionId"])


async def test_importing_odd_annotations_warns_and_keeps_what_it_can(
    necto: RunningNecto, http: aiohttp.ClientSession
) -> None:
    entry = {
        "startedDateTime": "2026-01-02T03:04:05.000Z", "time": 1,
        "request": {"method": "GET", "url": "http://notes.test/a", "httpVersion": "HTTP/1.1", "cookies": [],
                    "headers": [], "queryString": [], "headersSize": -1, "bodySize": 0},
        "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "cookies": [], "headers": [],
                     "content": {"size": 0, "mimeType": "text/plain"}, "redirectURL": "", "headersSize": -1, "bodySize": 0},
        "cache": {}, "timings": {"send": 0, "wait": 1, "receive": 0},
        "comment": "the file's own comment\n\nkept",
        "_necto": {"isMocked": True, "annotations": [{"content": "kept", "color": "pink", "tags": "x"}, {"color": "red"}]},
    }  # fmt: skip
    raw = json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": [entry]}}).encode()
    result = await _import(http, necto, raw, "odd notes")
    paths = {w["path"] for w in result["warnings"]}
    assert {"log.entries[0]._necto.annotations[0].color", "log.entries[0]._necto.annotations[0].tags",
            "log.entries[0]._necto.annotations[1]"} <= paths  # fmt: skip
    _, page = await api(http, "GET", f"{necto.api_url}/api/traffic?sessionId={result['sessionId']}")
    _, back = await api(http, "GET", f"{necto.api_url}/api/annotations/{page['entries'][0]['id']}")
    assert [(a["content"], a["color"], a["tags"]) for a in back["annotations"]] == [("kept", "yellow", [])]
    async with http.get(f"{necto.api_url}/api/har/export/{result['sessionId']}") as r:
        out = json.loads(await r.read())["log"]["entries"][0]
    assert out["comment"] == "the file's own comment\n\nkept"  # the file's part, then the note
    assert out["_necto"]["isMocked"] is True and len(out["_necto"]["annotations"]) == 1
    await necto.store.delete_session(result["sessionId"])
