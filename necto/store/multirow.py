"""`executemany` for INSERTs, as a few multi-row statements.

Python's sqlite3 releases the GIL around every step of a statement, and `executemany` steps once
per row. A writer thread must then win the GIL back once per row from the event loop, which holds
it while the proxy is busy: each win waits up to the switch interval (5 ms). Twenty rows took
about 290 ms that way with a busy loop, against 25 ms as one statement of twenty rows, and the
captures waiting for the write lock meanwhile are what a kill -9 loses. One statement per power
of two rows keeps the number of distinct statement texts (and so compilations) small.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import aiosqlite


def _max_variables() -> int:
    with sqlite3.connect(":memory:") as db:
        return db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)


MAX_VARIABLES = _max_variables()  # 32766 since SQLite 3.32, 999 before
MAX_ROWS = 256  # rows per statement, at most: a longer text costs more to compile than it saves


def statements(sql: str, rows: Sequence[Sequence[Any]]) -> Iterator[tuple[str, list[Any]]]:
    """`sql` (`INSERT … VALUES (?, …)`, optionally followed by an upsert clause) for every row of
    `rows`, as (statement, parameters) pairs of 2**k rows each, in the rows' order."""
    head, found, rest = sql.partition(" VALUES (")
    marks, closed, tail = rest.partition(")")
    width = marks.count("?")
    if not found or not closed or not width or marks.replace("?", "").replace(",", "").strip():
        raise ValueError(f"not an INSERT … VALUES (?, …) statement: {sql[:80]}")
    fit = min(MAX_ROWS, max(1, MAX_VARIABLES // width))
    most = 1 << (fit.bit_length() - 1)  # the largest power of two that fits
    group = f"({marks})"
    i = 0
    while i < len(rows):
        n = min(most, 1 << ((len(rows) - i).bit_length() - 1))
        yield f"{head} VALUES {', '.join([group] * n)}{tail}", [v for r in rows[i : i + n] for v in r]
        i += n


def insert_many(db: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """`db.executemany(sql, rows)` for an INSERT, in a few steps (see the module's docstring)."""
    for statement, params in statements(sql, rows):
        db.execute(statement, params)


async def insert_many_async(db: aiosqlite.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """`insert_many` on aiosqlite's connection: one thread hop per statement, not per row."""
    for statement, params in statements(sql, rows):
        await db.execute(statement, params)
