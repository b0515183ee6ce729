"""One filter language everywhere: a HAR export of a filtered view, a session replay and a diff
with a filter touch exactly the selected entries (API and CLI), and the live stream marks the
entries that match the page's filter."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from helpers import (
    RunningNecto,
    Upstream,
    api,
    curl,
    har_validator_errors,
    necto_cli,
    poll_until,
    wait_for_entries,
)
from necto.model import Session

CODES = ("200", "404", "500", "503", "201")


async def _statuses(necto: RunningNecto, upstream: Upstream, session: Session) -> dict[str, str]:
    """One entry per status code; {code: entry id}."""
    for code in CODES:
        await curl(necto, f"{upstream.http_url}/status/{code}")
    entries = await wait_for_entries(necto.store, session.id, len(CODES))
    return {e.url.rsplit("/", 1)[-1]: e.id for e in entries}


async def test_export_of_a_filtered_view_holds_exactly_the_selected_entries(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession, fresh_session: Session, tmp_path: Path
) -> None:
    await _statuses(necto, upstream, fresh_session)
    url = f"{necto.api_url}/api/har/export/{fresh_session.id}"
    async with http.get(url, params={"filter": "status:5xx"}) as r:
        assert r.status == 200
        raw = await r.read()
    har = json.loads(raw)
    assert sorted(e["response"]["status"] for e in har["log"]["entries"]) == [500, 503]
    (tmp_path / "5xx.har").write_bytes(raw)
    assert await har_validator_errors(tmp_path / "5xx.har") is None
    async with http.get(url, params={"filter": "-status:5xx method:GET"}) as r:
        assert sorted(e["response"]["status"] for e in json.loads(await r.read())["log"]["entries"]) == [200, 201, 404]
    async with http.get(url, params={"filter": "status:5xx)"}) as r:
        assert r.status == 400
        assert (await r.json())["position"] == 10

    out = tmp_path / "cli.har"
    code, _, err = await necto_cli("export", fresh_session.id, "--filter", "status:4xx,5xx", "-o", str(out),
                                   "--data-dir", str(necto.data_dir))  # fmt: skip
    assert code == 0, err
    assert "exported 3 entries" in err.decode()
    assert sorted(e["response"]["status"] for e in json.loads(out.read_bytes())["log"]["entries"]) == [404, 500, 503]


async def _job(http: aiohttp.ClientSession, necto: RunningNecto, job_id: str) -> dict[str, object]:
    done: dict[str, object] = {}

    async def finished() -> bool:
        _, job = await api(http, "GET", f"{necto.api_url}/api/replays/{job_id}")
        done.update(job)
        return job["status"] in ("completed", "failed", "cancelled")

    await poll_until(finished, "the replay job to finish", timeout=30)
    return done


async def test_replay_and_diff_with_a_filter_touch_exactly_the_selected_entries(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession, fresh_session: Session, tmp_path: Path
) -> None:
    await _statuses(necto, upstream, fresh_session)
    replay = f"{necto.api_url}/api/sessions/{fresh_session.id}/replay"
    status, body = await api(http, "POST", replay, {"filter": "status:5xx OR stauts:201"})
    assert status == 400 and body["token"] == "stauts:201" and body["position"] == 14
    status, job = await api(http, "POST", replay, {"filter": "status:5xx", "name": "replayed 5xx"})
    assert status == 202, job
    job = await _job(http, necto, str(job["id"]))
    assert (job["status"], job["total"], job["done"]) == ("completed", 2, 2)
    replayed = await wait_for_entries(necto.store, str(job["sessionId"]), 2)
    assert sorted(e.url.rsplit("/", 1)[-1] for e in replayed) == ["500", "503"]

    data = ["--data-dir", str(necto.data_dir)]
    # diff: only what the filter selects is compared on both sides
    code, out, err = await necto_cli(
        "diff", fresh_session.id, str(job["sessionId"]), "--filter", "status:5xx", "--json", *data
    )
    assert code == 0, err  # the replays answered as the originals did
    result = json.loads(out)
    assert (result["a"]["count"], result["b"]["count"], result["summary"]["paired"]) == (2, 2, 2)
    code, out, err = await necto_cli("diff", fresh_session.id, str(job["sessionId"]), "--json", *data)
    assert code == 1 and json.loads(out)["summary"]["onlyInA"] == 3
    # a HAR file on one side is filtered in memory, with the same meaning
    har = tmp_path / "all.har"
    code, _, err = await necto_cli("export", fresh_session.id, "-o", str(har), *data)
    assert code == 0, err
    code, out, err = await necto_cli(
        "diff", str(har), str(job["sessionId"]), "--filter", "path:/status/5*", "--json", *data
    )
    assert code == 0, err
    assert json.loads(out)["a"]["count"] == 2

    # the CLI's replay of a filtered session, through its own private Necto
    code, out, err = await necto_cli("replay", fresh_session.id, "--filter", "status:404 OR status:201", "--name", "cli 4xx",
                                     "--json", *data, timeout=120)  # fmt: skip
    assert code == 0, err
    cli_job = json.loads(out)
    assert (cli_job["total"], cli_job["done"]) == (2, 2)
    urls = sorted(e.url.rsplit("/", 1)[-1] for e in await wait_for_entries(necto.store, cli_job["sessionId"], 2))
    assert urls == ["201", "404"]
    code, _, err = await necto_cli("replay", fresh_session.id, "--filter", "status:", *data)
    assert code == 2 and b"status: needs a value" in err
    for sid in (str(job["sessionId"]), cli_job["sessionId"]):
        await necto.store.delete_session(sid)


async def test_the_live_stream_marks_entries_matching_the_filter(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession, fresh_session: Session
) -> None:
    url = f"{necto.api_url}/api/events?sessionId={fresh_session.id}&filter=status:5xx%20OR%20body:order_id%3D515"
    marks: dict[str, bool] = {}
    async with http.get(url) as stream:
        assert stream.status == 200

        async def read() -> None:
            event = ""
            async for line in stream.content:
                text = line.decode().rstrip("\n")
                if text.startswith("event: "):
                    event = text[7:]
                elif text.startswith("data: ") and event == "entries":
                    for e in json.loads(text[6:]):
                        marks[e["url"].rsplit("/", 1)[-1]] = e["matchesFilter"]

        reader = asyncio.create_task(read())
        try:
            await curl(necto, f"{upstream.http_url}/status/503")
            await curl(necto, f"{upstream.http_url}/status/200")
            await curl(necto, "--compressed", f"{upstream.http_url}/orders/515?enc=br")
            await poll_until(lambda: len(marks) == 3, "three live entries")
        finally:
            reader.cancel()
    assert marks == {"503": True, "200": False, "515?enc=br": True}
    async with http.get(f"{necto.api_url}/api/events?filter=%22open") as bad:
        assert bad.status == 400 and (await bad.json())["reason"] == "unclosed quote"
