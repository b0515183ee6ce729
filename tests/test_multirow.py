"""necto.store.multirow: INSERTs as a few multi-row statements give the same table as
executemany, row order and upserts included."""

from __future__ import annotations

import sqlite3

import aiosqlite
import pytest

from necto.store.multirow import MAX_ROWS, insert_many, insert_many_async, statements

TABLE = "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER, data BLOB)"
UPSERT = "INSERT INTO t (id, name, n, data) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET n = t.n + excluded.n"


def _rows(count: int) -> list[tuple[int, str, int, bytes]]:
    # ids repeat (every 7th row updates an earlier one), so order and the upsert clause matter
    return [(i % (count - count // 7) if count > 7 else i, f"row {i}", i, bytes([i % 256]) * 3) for i in range(count)]


def _table(db: sqlite3.Connection) -> list[tuple[object, ...]]:
    return db.execute("SELECT id, name, n, data FROM t ORDER BY id").fetchall()


@pytest.mark.parametrize("count", [0, 1, 2, 3, 7, 255, 256, 257, 1000])
def test_same_table_as_executemany(count: int) -> None:
    rows = _rows(count)
    want, got = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    for db in (want, got):
        db.execute(TABLE)
    want.executemany(UPSERT, rows)
    insert_many(got, UPSERT, rows)
    assert _table(got) == _table(want)
    assert len(_table(got)) == len({r[0] for r in rows})


def test_few_statements_of_powers_of_two() -> None:
    made = list(statements(UPSERT, _rows(1000)))
    sizes = [len(params) // 4 for _, params in made]
    assert sum(sizes) == 1000 and all(s & (s - 1) == 0 and s <= MAX_ROWS for s in sizes)
    assert sizes == sorted(sizes, reverse=True) and len(made) <= 10  # 256 × 3, 128, 64, 32, 8
    assert all(sql.endswith("DO UPDATE SET n = t.n + excluded.n") for sql, _ in made)


def test_a_failing_row_fails_its_statement() -> None:
    db = sqlite3.connect(":memory:")
    db.execute(TABLE)
    with pytest.raises(sqlite3.IntegrityError):
        insert_many(db, "INSERT INTO t (id, name, n, data) VALUES (?, ?, ?, ?)", [(1, "a", 1, b""), (1, "b", 2, b"")])


def test_only_inserts() -> None:
    with pytest.raises(ValueError, match="not an INSERT"):
        list(statements("DELETE FROM t WHERE id = ?", [(1,)]))
    with pytest.raises(ValueError, match="not an INSERT"):
        list(statements("INSERT INTO t (id, n) VALUES (?, abs(?))", [(1, 2)]))


async def test_on_aiosqlite() -> None:
    rows = _rows(300)
    want = sqlite3.connect(":memory:")
    want.execute(TABLE)
    want.executemany(UPSERT, rows)
    async with aiosqlite.connect(":memory:") as db:
        await db.execute(TABLE)
        await insert_many_async(db, UPSERT, rows)
        async with db.execute("SELECT id, name, n, data FROM t ORDER BY id") as cur:
            assert [tuple(r) for r in await cur.fetchall()] == _table(want)
