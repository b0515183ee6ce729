"""The physical limits on this machine: orjson in memory, ijson streaming, raw SQLite rows."""

from __future__ import annotations

import gc
import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson

from bench_lib import data


def run(work: Path, entries: int, ijson_file: Path | None) -> dict[str, Any]:
    from necto.store import ENTRY_COLUMNS, INSERT_ENTRY, MIGRATIONS, entry_to_row

    gen = data.Generator(4)  # the same entries as the export sessions
    es = list(gen.entries("ref-session", entries))
    har = {"log": {"version": "1.2", "creator": {"name": "necto-bench", "version": "1"}, "pages": [],
                   "entries": [data.har_entry(e) for e in es]}}  # fmt: skip
    out: dict[str, Any] = {"entries": entries}

    gc.collect()
    t = time.perf_counter()
    blob = orjson.dumps(har)
    dumps_s = time.perf_counter() - t
    del har
    gc.collect()
    t = time.perf_counter()
    parsed = orjson.loads(blob)
    loads_s = time.perf_counter() - t
    del parsed
    size = len(blob)
    del blob
    out["har_bytes"] = size
    out["orjson_dumps_mb_s"] = round(size / dumps_s / 1e6, 1)
    out["orjson_loads_mb_s"] = round(size / loads_s / 1e6, 1)

    if ijson_file is not None and ijson_file.exists():
        import ijson

        fsize = ijson_file.stat().st_size
        t = time.perf_counter()
        n = 0
        with open(ijson_file, "rb") as f:
            for _ in ijson.items(f, "log.entries.item", use_float=True):
                n += 1
        secs = time.perf_counter() - t
        out["ijson_backend"] = ijson.backend
        out["ijson_items_mb_s"] = round(fsize / secs / 1e6, 1)

    rows = [entry_to_row(e) for e in es]
    del es
    db_path = work / "reference.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    for migration in MIGRATIONS:
        db.executescript(migration)
    db.execute("INSERT INTO sessions (id, name, created_at, updated_at) VALUES ('ref-session', 'ref', 0, 0)")
    t = time.perf_counter()
    for i in range(0, len(rows), 500):
        db.execute("BEGIN")
        db.executemany(INSERT_ENTRY, rows[i : i + 500])
        db.execute("COMMIT")
    ins = time.perf_counter() - t
    t = time.perf_counter()
    cur = db.execute(f"SELECT {ENTRY_COLUMNS} FROM entries WHERE session_id = 'ref-session' ORDER BY started, seq")
    n = 0
    while batch := cur.fetchmany(500):
        n += len(batch)
    sel = time.perf_counter() - t
    db.close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    out["sqlite_insert_rows_s"] = round(len(rows) / ins)
    out["sqlite_insert_har_mb_s"] = round(size / ins / 1e6, 1)  # HAR bytes' worth of rows per second
    out["sqlite_select_rows_s"] = round(n / sel)
    out["sqlite_select_har_mb_s"] = round(size / sel / 1e6, 1)
    return out
