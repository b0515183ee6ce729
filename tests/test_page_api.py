"""The small API and CLI pieces the page relies on: one meaning per word, errors that say which."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import aiohttp
import orjson

from helpers import RunningNecto, run_cmd
from necto.model import Entry, Session
from necto.store import Store

NECTO = [sys.executable, "-m", "necto"]


async def test_session_names_are_capped_at_200_characters(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    api = f"{necto.api_url}/api/sessions"
    async with http.post(api, json={"name": "n" * 200}) as r:
        assert r.status == 201
        sid = (await r.json())["id"]
    async with http.post(api, json={"name": "n" * 201}) as r:
        assert r.status == 400
        assert await r.json() == {"error": "Session name is too long: 201 characters, at most 200 allowed"}
    async with http.patch(f"{api}/{sid}", json={"name": "m" * 5000}) as r:
        assert r.status == 400 and "at most 200" in (await r.json())["error"]
    stored = await necto.store.get_session(sid)
    assert stored is not None and stored.name == "n" * 200
    async with http.delete(f"{api}/{sid}") as r:
        assert r.status == 200


async def test_traffic_of_an_unknown_session_is_404(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{necto.api_url}/api/traffic?sessionId=nope") as r:
        assert r.status == 404 and await r.json() == {"error": "Session not found"}
    async with http.get(f"{necto.api_url}/api/traffic") as r:  # the active session, as before
        assert r.status == 200


async def _entries(store: Store, session: Session, n: int) -> list[Entry]:
    entries = [
        Entry(
            session_id=session.id, started=1_700_000_000 + i, method="GET", url=f"https://cli.example/{i}", status=200
        )
        for i in range(n)
    ]
    await store.add_entries(entries)
    return entries


async def test_cli_ids_from_traffic_list_work_with_show_and_delete(tmp_path: Path) -> None:
    home = tmp_path / "ids"
    store = await Store.open(home / "necto.db")
    try:
        session = await store.create_session("ids", activate=True)
        entries = await _entries(store, session, 40)
    finally:
        await store.close()
    opts = ["--data-dir", str(home)]
    code, out, err = await run_cmd(*NECTO, "traffic", "list", *opts)
    assert code == 0, err
    short = out.decode().splitlines()[1].split()[0]
    assert len(short) == 8
    code, out, err = await run_cmd(*NECTO, "traffic", "show", short, *opts)
    assert code == 0, err
    assert orjson.loads(out)["id"].startswith(short)
    # Too short to mean anything (as git): refused with the reason.
    code, _, err = await run_cmd(*NECTO, "traffic", "show", entries[0].id[:2], *opts)
    assert code == 1 and b"at least 4 characters" in err
    # Make an ambiguity for sure: two entries whose ids share a long prefix.
    store = await Store.open(home / "necto.db")
    try:
        twins = [
            Entry(
                session_id=session.id,
                started=1_800_000_000 + i,
                method="GET",
                url="https://cli.example/twin",
                id=f"abcdef12-0000-4000-8000-00000000000{i}",
            )
            for i in range(2)
        ]
        await store.add_entries(twins)
    finally:
        await store.close()
    code, _, err = await run_cmd(*NECTO, "traffic", "show", "abcdef12", *opts)
    assert code == 1
    assert b"Ambiguous id prefix abcdef12" in err and twins[0].id.encode() in err and twins[1].id.encode() in err
    code, out, err = await run_cmd(*NECTO, "traffic", "delete", "abcdef12-0000-4000-8000-000000000001", *opts)
    assert code == 0 and twins[1].id.encode() in out
    code, out, err = await run_cmd(*NECTO, "traffic", "delete", "abcdef12", *opts)  # unique now
    assert code == 0 and twins[0].id.encode() in out
    code, _, err = await run_cmd(*NECTO, "traffic", "show", "ffffffff-nope", *opts)
    assert code == 1 and b"Traffic entry not found: ffffffff-nope" in err


def _states(table: bytes) -> dict[str, str]:
    """NAME -> STATE from `necto sessions list` (columns are separated by two or more spaces)."""
    out = {}
    for line in table.decode().splitlines()[1:]:
        cols = re.split(r"\s{2,}", line.strip())
        out[cols[-4]] = cols[-3]
    return out


async def test_cli_sessions_list_shows_recording_as_the_page_does(tmp_path: Path) -> None:
    """Only the active session records: `rec` or `paused` for it, `-` for every other one."""
    opts = ["--data-dir", str(tmp_path / "rec")]
    assert (await run_cmd(*NECTO, "sessions", "create", "old", *opts))[0] == 0
    assert (await run_cmd(*NECTO, "sessions", "create", "live one", "--activate", *opts))[0] == 0
    code, out, _ = await run_cmd(*NECTO, "sessions", "list", *opts)
    assert code == 0 and _states(out) == {"Default Session": "-", "old": "-", "live one": "rec"}, out
    code, out, _ = await run_cmd(*NECTO, "sessions", "pause", "live one", *opts)
    assert code == 0 and b"active, paused" in out
    code, out, _ = await run_cmd(*NECTO, "sessions", "list", *opts)
    assert _states(out)["live one"] == "paused"
    code, out, _ = await run_cmd(*NECTO, "sessions", "resume", "old", *opts)
    assert code == 0 and out.rstrip().endswith(b"not recording")
