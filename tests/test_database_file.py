"""The data directory and the database file (issue 11, items 9, 11 and 15).

A database Necto cannot use (not a database, garbled, truncated, a damaged schema, a newer
schema) stops `necto run` and every command at once with exit 2 and one line naming the file
and what to do; `necto db check|vacuum|recover` look after the file. The directory is 0700 and
the database and its -wal/-shm 0600, fixed at start for older installs. Upload temp files left
by a killed import are removed at the next start.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import stat
from pathlib import Path

import aiohttp
import orjson
import pytest

from helpers import NECTO, TestPki, Upstream, necto_process, poll_until, run_cmd, stop

ENTRIES = 150


def big_har() -> bytes:
    entries = [
        {
            "startedDateTime": "2024-05-01T10:00:00.000Z",
            "time": 5,
            "request": {"method": "GET", "url": f"http://example.test/item/{i}", "httpVersion": "HTTP/1.1",
                        "headers": [], "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0},
            "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [],
                         "cookies": [], "content": {"size": 4000, "mimeType": "text/plain", "text": f"{i:05d}" * 800},
                         "redirectURL": "", "headersSize": -1, "bodySize": 4000},
            "cache": {},
            "timings": {"send": 1, "wait": 3, "receive": 1},
        }
        for i in range(ENTRIES)
    ]  # fmt: skip
    return orjson.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": entries}})


@pytest.fixture(scope="module")
def filled_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory whose database holds ENTRIES imported entries (closed cleanly)."""
    home = tmp_path_factory.mktemp("filled") / "home"
    har = home.parent / "big.har"
    har.write_bytes(big_har())
    code, out, err = asyncio.run(run_cmd(*NECTO, "import", str(har), "--data-dir", str(home)))
    assert code == 0, err
    assert not (home / "necto.db-wal").exists()
    return home


def copy_home(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst / "necto.db"


def garble(path: Path, offset: int, length: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b"\x55" * length)


def entries_table_page(path: Path) -> int:
    """The byte offset of the `entries` table's root page: damage there is found by an integrity
    check and by any read of the entries, but not by opening the store (which counts entries
    through its indexes)."""
    with sqlite3.connect(path) as db:
        (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'entries'").fetchone()
    return (int(root) - 1) * PAGE


def garble_entries(path: Path) -> None:
    garble(path, entries_table_page(path) + 8, PAGE - 8)  # the page's cells; its type byte stays


def garble_entries_leaf(path: Path) -> None:
    """Garble the first leaf under the `entries` root (an interior b-tree page: type 5, then its
    first cell's 4-byte child page number), so a few rows are lost and the rest can be recovered."""
    root = entries_table_page(path)
    with open(path, "rb") as f:
        f.seek(root)
        header = f.read(16)
        assert header[0] == 5, "the entries table fits in one page: make the fixture bigger"
        first_cell = int.from_bytes(header[12:14], "big")
        f.seek(root + first_cell)
        child = int.from_bytes(f.read(4), "big")
    garble(path, (child - 1) * PAGE + 8, PAGE - 8)


def set_user_version(path: Path, version: int) -> None:
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {version}")


PAGE = 32768


DAMAGE = {
    "text file": lambda p: p.write_text("these are my notes, not a database\n"),
    "garbled header": lambda p: garble(p, 0, 16),
    "truncated": lambda p: os.truncate(p, p.stat().st_size // 2),
    "garbled schema page": lambda p: garble(p, PAGE - 3000, 3000),
    "newer schema": lambda p: set_user_version(p, 99),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
async def test_an_unusable_database_is_one_line_and_exit_2(tmp_path: Path, filled_home: Path, damage: str) -> None:
    db = copy_home(filled_home, tmp_path / "home")
    DAMAGE[damage](db)
    for argv in (["run", "--proxy-port", "0", "--api-port", "0"], ["traffic", "list"]):
        code, out, err = await run_cmd(*NECTO, *argv, "--data-dir", str(db.parent), timeout=60)
        lines = [line for line in err.decode().splitlines() if line.strip()]
        assert code == 2, (argv, out, err)
        assert len(lines) == 1 and "Traceback" not in err.decode(), err.decode()
        assert str(db) in lines[0]
        advice = "Upgrade Necto" if damage == "newer schema" else "Move it aside"
        assert advice in lines[0], lines[0]


async def test_db_check_vacuum_and_recover(tmp_path: Path, filled_home: Path) -> None:
    good = copy_home(filled_home, tmp_path / "good")
    code, out, _ = await run_cmd(*NECTO, "db", "check", "--json", "--data-dir", str(good.parent))
    facts = orjson.loads(out)
    assert code == 0 and facts["ok"] is True and facts["entries"] == ENTRIES
    code, out, err = await run_cmd(*NECTO, "db", "vacuum", "--data-dir", str(good.parent))
    assert code == 0 and b"MB" in out, err

    # With the sqlite3 shell's .recover where it is installed and works (older shells fail on
    # 32 KiB pages: then the Python copy takes over), and with the Python copy alone.
    for name, extra in (("default", []), ("python", ["--no-shell"])):
        db = copy_home(filled_home, tmp_path / name)
        garble_entries_leaf(db)
        code, out, _ = await run_cmd(*NECTO, "db", "check", "--data-dir", str(db.parent))
        assert code == 1 and b"DAMAGED" in out, out
        code, out, err = await run_cmd(*NECTO, "db", "recover", "--replace", *extra, "--data-dir", str(db.parent))
        assert code == 0, out + err
        assert b"recovered" in out and b"damaged file is now" in out
        assert name == "default" or b"recovered with python" in out
        code, out, _ = await run_cmd(*NECTO, "db", "check", "--json", "--data-dir", str(db.parent))
        facts = orjson.loads(out)
        assert code == 0 and facts["ok"], facts
        assert ENTRIES // 2 <= facts["entries"] <= ENTRIES, facts
        code, out, err = await run_cmd(*NECTO, "traffic", "list", "--json", "--limit", "1000", "--session",
                                       "Imported: big", "--data-dir", str(db.parent))  # fmt: skip
        assert code == 0 and orjson.loads(out)["count"] == facts["entries"], err
        assert list(db.parent.glob("necto.db.damaged-*"))


async def test_recover_replace_refuses_while_necto_runs(tmp_path: Path, filled_home: Path, pki: TestPki) -> None:
    db = copy_home(filled_home, tmp_path / "home")
    async with necto_process(db.parent, pki) as p:
        code, out, err = await run_cmd(*NECTO, "db", "recover", "--replace", "--data-dir", str(db.parent))
        assert code == 2 and b"open in another process" in err, (out, err)
        await stop(p)
    assert not list(db.parent.glob("necto.db.damaged-*"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_data_directory_is_private_and_old_installs_are_fixed(
    tmp_path: Path, pki: TestPki, upstream: Upstream
) -> None:
    fresh = tmp_path / "fresh"
    async with necto_process(fresh, pki) as p:
        async with aiohttp.ClientSession() as c:
            async with c.get(f"{upstream.http_url}/hello", proxy=p.proxy_url) as r:
                assert r.status == 200
        files = [fresh / "necto.db", fresh / "necto.db-wal", fresh / "necto.db-shm"]
        await poll_until(lambda: all(f.exists() for f in files), "the database and its -wal and -shm")
        assert mode(fresh) == 0o700
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        await stop(p)

    # An install from before: everything readable by others, a -wal and -shm left by a crash.
    old = tmp_path / "old"
    shutil.copytree(fresh, old)
    for name in ("necto.db-wal", "necto.db-shm"):
        (old / name).write_bytes(b"")
    os.chmod(old, 0o755)
    for f in old.glob("necto.db*"):
        os.chmod(f, 0o644)
    async with necto_process(old, pki) as p:
        assert mode(old) == 0o700
        assert {f.name: mode(f) for f in old.glob("necto.db*")} == {
            n: 0o600 for n in ("necto.db", "necto.db-wal", "necto.db-shm")
        }
        await stop(p)


async def test_upload_left_by_a_killed_import_is_removed_at_next_start(tmp_path: Path, pki: TestPki) -> None:
    home = tmp_path / "home"
    har = big_har()
    async with necto_process(home, pki) as p:
        host, port = p.api_url[7:].split(":")
        boundary = "necto-test-boundary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.har"\r\n'
            "Content-Type: application/json\r\n\r\n"
        ).encode()
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            f"POST /api/har/import HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(head) + len(har) + len(boundary) + 8}\r\n\r\n".encode()
            + head
            + har[: len(har) // 2]
        )
        await writer.drain()  # half the file sent; the import waits for the rest
        tmp = home / "tmp"
        await poll_until(lambda: tmp.is_dir() and any(tmp.glob("upload-*.har")), "the upload's temp file")
        p.proc.kill()
        await p.proc.communicate()
        writer.close()
    [left] = list(tmp.glob("upload-*.har"))
    # Another live process's upload (this test's pid) must survive; a dead one's and an
    # old-style name must not; anything else in tmp/ is not ours to remove.
    live = tmp / f"upload-{os.getpid()}-live.har"
    live.write_bytes(b"{}")
    legacy = tmp / "upload-abc123.har"
    legacy.write_bytes(b"{}")
    other = tmp / "notes.txt"
    other.write_bytes(b"mine")
    async with necto_process(home, pki) as p:
        assert not left.exists() and not legacy.exists()
        assert live.exists() and other.exists()
        await stop(p)


async def test_damage_found_while_running_is_a_clear_error_and_shows_in_health(
    tmp_path: Path, filled_home: Path, pki: TestPki
) -> None:
    db = copy_home(filled_home, tmp_path / "home")
    garble_entries(db)  # found only when the entries are read
    async with necto_process(db.parent, pki) as p:
        async with aiohttp.ClientSession() as c:
            async with c.get(f"{p.api_url}/api/sessions") as r:
                sid = next(s["id"] for s in await r.json() if s["trafficCount"] == ENTRIES)
            async with c.get(f"{p.api_url}/api/traffic", params={"sessionId": sid, "limit": "1000"}) as r:
                assert r.status == 500
                body = await r.json()
            async with c.get(f"{p.api_url}/api/health") as r:
                health = await r.json()
        code, output = await stop(p)
    assert body["error"] == "The database is damaged" and "necto db check" in body["detail"], body
    assert health["status"] == "degraded" and "damaged" in health["problems"][0], health
    assert code == 0 and "Traceback" not in output, output
