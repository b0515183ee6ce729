"""The search index and filtered reads: lazily indexed text, filters compiled to SQL.

`entry_text` holds each entry's searchable text (necto.search.text): an FTS5 table with the
trigram tokenizer when this SQLite has both (substring MATCH through the index), else a plain
table read row by row. It is filled *after* capture, never on the capture path: an indexer task
reads committed rows above `search_state.upto` (bodies through `get_entries`, like everyone
else), builds their text in a worker thread and writes a batch plus the new `upto` in one
transaction. It rests between batches as long as it worked, so capture keeps the CPU; it
resumes where it stopped after a restart or a crash (`upto` is committed with the rows it
covers). A query that needs the index first indexes whatever is still missing (`index_now`),
so results are always complete; only its latency depends on how far behind the indexer is.

Index rows of deleted entries are removed lazily too (`search_gone`, filled by a trigger).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson

from necto.model import Entry
from necto.search.graphql import entry_operation
from necto.search.sqlfilter import FUNCTIONS, TEXT_TABLE
from necto.search.text import entry_text
from necto.store.base import StoreBase, finish_in_thread, immediate
from necto.store.bodyfiles import WHOLE_BODY_MAX
from necto.store.integrity import classify
from necto.store.multirow import insert_many
from necto.store.query import TrafficQuery

log = logging.getLogger("necto.store.search")

INDEX_ROWS = 100  # entries read and turned into documents at a time
INDEX_BYTES = 1 << 20  # ... or about this much body
INDEX_WRITE_ROWS = 20  # entries per indexing transaction (captures wait while one is written)
INDEX_BODY_MAX = WHOLE_BODY_MAX  # a longer body is not searched (text search reads 2 M characters anyway)
INDEX_DELAY = 0.5  # seconds after new entries before indexing them (they come in bursts)
INDEX_POLL = 5.0  # seconds between looks for entries another process wrote
INDEX_REST = 1.0  # rest this many times as long as a batch took (at most half a core)
STOP_SECONDS = 10.0  # the longest close() waits for a batch in progress
GONE_ROWS = 500

_COLUMNS = "line, req_headers, res_headers, req_body, res_body"
FTS_TABLE = f"CREATE VIRTUAL TABLE {TEXT_TABLE} USING fts5({_COLUMNS}, tokenize='trigram')"
PLAIN_TABLE = f"CREATE TABLE {TEXT_TABLE} (seq INTEGER PRIMARY KEY, {_COLUMNS})"


class SearchUnavailable(Exception):
    """This database's index needs FTS5, which this SQLite lacks."""


@functools.lru_cache(maxsize=1)
def fts5_trigram() -> bool:
    """Does the SQLite linked into Python have FTS5 with the trigram tokenizer (3.34+)?"""
    try:
        db = sqlite3.connect(":memory:")
        try:
            db.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='trigram')")
            db.execute("INSERT INTO t (x) VALUES ('order_id=8812')")
            return db.execute("SELECT count(*) FROM t WHERE t MATCH '\"id=88\"'").fetchone()[0] == 1
        finally:
            db.close()
    except sqlite3.Error:
        return False


def _docs(batch: Sequence[tuple[int, Entry]]) -> tuple[list[tuple[Any, ...]], list[tuple[int, str]]]:
    """Text rows and GraphQL facts for a batch (CPU work: run in a worker thread)."""
    texts, facts = [], []
    for seq, e in batch:
        t = entry_text(e)
        texts.append((seq, *t.parts()))
        op = entry_operation(e)
        if op is not None:
            facts.append((seq, op))
    return texts, facts


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _write_index(
    db: sqlite3.Connection, upto: int, seqs: list[int], texts: list[tuple[Any, ...]], facts: list[tuple[int, str]]
) -> bool:
    """One indexing transaction (a worker thread); False when another writer moved `upto`."""
    with immediate(db):
        now = db.execute("SELECT upto FROM search_state WHERE id = 1").fetchone()
        if now is None or now[0] != upto:
            db.execute("ROLLBACK")
            return False
        marks = _marks(len(seqs))
        # one row back, not one per entry: each row fetched is a GIL hand-over (see multirow.py)
        live = set(
            orjson.loads(
                db.execute(f"SELECT json_group_array(seq) FROM entries WHERE seq IN ({marks})", seqs).fetchone()[0]
            )
        )
        db.execute(f"DELETE FROM {TEXT_TABLE} WHERE rowid IN ({marks})", seqs)
        db.execute(f"DELETE FROM entry_facts WHERE seq IN ({marks})", seqs)
        db.execute(f"DELETE FROM search_gone WHERE seq IN ({marks})", seqs)
        insert_many(
            db,
            f"INSERT INTO {TEXT_TABLE} (rowid, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            [t for t in texts if t[0] in live],
        )
        insert_many(db, "INSERT INTO entry_facts (seq, graphql) VALUES (?, ?)", [f for f in facts if f[0] in live])
        db.execute("UPDATE search_state SET upto = ? WHERE id = 1", (seqs[-1],))
        return True


def _clean_gone(db: sqlite3.Connection) -> int:
    """Remove a batch of deleted entries' index rows (a worker thread); how many."""
    with immediate(db):
        seqs = [r[0] for r in db.execute("SELECT seq FROM search_gone ORDER BY seq LIMIT ?", (GONE_ROWS,))]
        if seqs:
            marks = _marks(len(seqs))
            db.execute(f"DELETE FROM {TEXT_TABLE} WHERE rowid IN ({marks})", seqs)
            db.execute(f"DELETE FROM search_gone WHERE seq IN ({marks})", seqs)
        return len(seqs)


class SearchIndex(StoreBase):
    index_problem: str | None = None  # why background indexing stopped (a damaged database)
    text_mode = "plain"  # "fts5", "plain", or "unavailable" (an FTS5 index this SQLite cannot read)

    async def _prepare_search(self) -> None:
        """At open: register the SQL functions filters use, and make sure the index table
        exists in the best form this SQLite supports (rebuilt from scratch when that changes)."""
        for name, (arity, fn) in FUNCTIONS.items():
            await self._r.create_function(name, arity, fn, deterministic=True)
        self._index_task: asyncio.Task[None] | None = None
        self._index_stopping = False
        self._index_wake = asyncio.Event()
        self._index_lock = asyncio.Lock()
        self._search_on = True
        self.indexed_batches = 0
        want = "fts5" if fts5_trigram() else "plain"
        async with self._r.execute("SELECT mode FROM search_state WHERE id = 1") as cur:
            row = await cur.fetchone()
        mode = row[0] if row else ""
        if mode == want:
            self.text_mode = want
            return
        if mode == "fts5" and want == "plain":
            log.warning("this SQLite has no FTS5 trigram tokenizer; the database's search index needs it")
            self.text_mode = "unavailable"
            return
        async with self._lock:
            await self._w.execute("BEGIN IMMEDIATE")
            try:
                await self._w.execute(f"DROP TABLE IF EXISTS {TEXT_TABLE}")
                await self._w.execute(FTS_TABLE if want == "fts5" else PLAIN_TABLE)
                await self._w.execute("DELETE FROM entry_facts")
                await self._w.execute("DELETE FROM search_gone")
                await self._w.execute("UPDATE search_state SET upto = 0, mode = ? WHERE id = 1", (want,))
                await self._w.execute("COMMIT")
            except BaseException:
                await self._w.execute("ROLLBACK")
                raise
        self.text_mode = want

    # ---------------------------------------------------------------- the indexer task
    def start_indexer(self, search: bool = True) -> None:
        """Index in the background from now on (the running Necto does; CLI commands do not,
        and catch up when a query needs it). The same pass builds HAR fragments once search is caught up, when a
        `fragment_builder` is set (necto/store/fragments.py); `search=False` builds only those."""
        self._search_on = search and self.text_mode != "unavailable"
        fragments = getattr(self, "fragment_builder", None) is not None
        if self._index_task is None and (self._search_on or fragments):
            self.subscribe(self._on_change_for_index)
            self._index_task = asyncio.create_task(self._indexer_loop(), name="necto-search-indexer")

    async def _stop_indexer(self) -> None:
        """End the indexer (a flag as well as a cancel, so it ends between batches even if a
        cancel is lost), waiting at most STOP_SECONDS for a batch in progress."""
        task, self._index_task = getattr(self, "_index_task", None), None
        if task is None:
            return
        self._index_stopping = True
        self._index_wake.set()
        task.cancel()
        await asyncio.wait([task], timeout=STOP_SECONDS)
        if not task.done():
            log.warning("the search indexer did not stop within %s s", STOP_SECONDS)

    def _on_change_for_index(self, kind: str, payload: Any) -> None:
        if kind == "entries":
            self._index_wake.set()

    async def _indexer_loop(self) -> None:
        busy = True  # catch up at start: after a restart or a crash there may be a backlog
        while not self._index_stopping:
            if not busy:
                try:
                    async with asyncio.timeout(INDEX_POLL):
                        await self._index_wake.wait()
                except TimeoutError:
                    pass
                self._index_wake.clear()
                if self._index_stopping:
                    return
                await asyncio.sleep(INDEX_DELAY)
            try:
                started = time.monotonic()
                done = await self._index_step()
                busy = done > 0
                if busy:
                    await asyncio.sleep((time.monotonic() - started) * INDEX_REST)
            except asyncio.CancelledError:
                raise
            except sqlite3.DatabaseError as e:
                problem = classify(self.path, e)
                if "damaged" not in problem.problem and "not a SQLite" not in problem.problem:
                    log.warning("search indexing: %s; retrying later", e)
                    busy = False
                    await asyncio.sleep(INDEX_POLL)
                    continue
                # One line, no traceback, and no retry storm; /api/health and the search
                # status say it. Searches still work: they index what they need themselves.
                self.index_problem = f"search indexing stopped: the database {problem.problem}"
                log.error("%s", self.index_problem)
                return
            except Exception:
                log.exception("search indexing failed; retrying later")
                busy = False
                await asyncio.sleep(INDEX_POLL)

    async def _index_step(self) -> int:
        """One batch of new entries to index, else of HAR fragments, else of deleted entries'
        index rows. Returns the number of rows handled (0: nothing to do). Search comes first:
        a text query must index what is missing before it answers, an export of an entry
        without a fragment only converts it itself."""
        async with self._index_lock:
            if self._search_on:
                n = await self._index_batch()
                if n is None:  # raced with another writer: try again next time round
                    return 1
                if n:
                    return n
            n = await self._fragment_batch()  # type: ignore[attr-defined]
            if n or not self._search_on:
                return n
            return await self._clean_gone()

    async def index_now(self) -> None:
        """Index everything committed so far (a query that reads the index calls this first)."""
        if self.text_mode == "unavailable":
            raise SearchUnavailable(
                "this database's search index needs SQLite with FTS5 (trigram); this Python's SQLite lacks it"
            )
        async with self._r.execute("SELECT COALESCE(MAX(seq), 0) FROM entries") as cur:
            row = await cur.fetchone()
        target = row[0] if row else 0
        async with self._index_lock:
            while await self._indexed_upto() < target:
                n = await self._index_batch()
                if n == 0:
                    return

    async def _indexed_upto(self) -> int:
        async with self._r.execute("SELECT upto FROM search_state WHERE id = 1") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _index_batch(self) -> int | None:
        """Index the next entries above `upto`; the number indexed, or None when another writer
        moved `upto` meanwhile (nothing was written)."""
        upto = await self._indexed_upto()
        async with self._r.execute(
            "SELECT seq, id, MAX(request_body_size, 0) + MAX(response_body_size, 0) FROM entries "
            "WHERE seq > ? ORDER BY seq LIMIT ?",
            (upto, INDEX_ROWS),
        ) as cur:
            rows = list(await cur.fetchall())
        if not rows:
            return 0
        size, cut = 0, len(rows)
        for i, r in enumerate(rows):
            size += r[2]
            if size > INDEX_BYTES and i > 0:
                cut = i
                break
        rows = rows[:cut]
        seqs = [r[0] for r in rows]
        # Bodies kept as files above INDEX_BODY_MAX are not read in (nor searched): memory stays
        # bounded whatever was captured.
        read = await self.get_entries([r[1] for r in rows], any_state=True, body_limit=INDEX_BODY_MAX)  # type: ignore[attr-defined]
        found = {e.id: e for e in read}
        batch = [(r[0], found[r[1]]) for r in rows if r[1] in found]
        texts, facts = await asyncio.to_thread(_docs, batch)
        # Written INDEX_WRITE_ROWS at a time, each one thread hop on the capture writer's
        # connection holding the lock captures wait for: FTS inserts are slow enough that a whole
        # batch in one transaction held captures back for up to 300 ms (the kill -9 window).
        for i in range(0, len(seqs), INDEX_WRITE_ROWS):
            part = seqs[i : i + INDEX_WRITE_ROWS]
            first, last = part[0], part[-1]
            async with self._lock:
                done = await finish_in_thread(
                    _write_index, self._cw, upto, part,  # type: ignore[attr-defined]
                    [t for t in texts if first <= t[0] <= last], [f for f in facts if first <= f[0] <= last],
                )  # fmt: skip
            if not done:
                return None if i == 0 else i
            upto = last
        self.indexed_batches += 1
        return len(seqs)

    async def _clean_gone(self) -> int:
        async with self._lock:
            return await finish_in_thread(_clean_gone, self._cw)  # type: ignore[attr-defined]

    async def index_status(self) -> dict[str, Any]:
        """How far the background pass is: {mode, indexedUpto, pending, gone, running, problem,
        fragmentsPending} (the last: entries whose HAR fragment is still to be built)."""
        upto = await self._indexed_upto()
        async with self._r.execute(
            "SELECT (SELECT COUNT(*) FROM entries WHERE seq > ?), (SELECT COUNT(*) FROM search_gone), "
            "(SELECT COUNT(*) FROM entries WHERE seq > COALESCE((SELECT upto FROM har_fragment_state WHERE id = 1), 0))",
            (upto,),
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        return {"mode": self.text_mode, "indexedUpto": upto, "pending": row[0], "gone": row[1],
                "running": self._index_task is not None and not self._index_task.done(),
                "problem": self.index_problem, "fragmentsPending": row[2]}  # fmt: skip

    # ---------------------------------------------------------------- filtered reads
    async def prepare_query(self, q: TrafficQuery) -> tuple[str, list[Any]]:
        """The WHERE clause for a query, with the index caught up first when it reads it."""
        if q.needs_index():
            await self.index_now()
        return q.where(fts=self.text_mode == "fts5")

    async def matching_ids(self, q: TrafficQuery) -> list[str]:
        """Ids of every entry the query selects, in its sessions' order (capture time, an
        imported file in its own order), ignoring the query's sort and paging."""
        clause, args = await self.prepare_query(q)
        async with self._r.execute(
            f"SELECT e.id FROM entries e JOIN sessions s ON s.id = e.session_id WHERE {clause} "
            "ORDER BY e.session_id, COALESCE(e.ord, e.started), e.seq",
            args,
        ) as cur:
            return [r[0] for r in await cur.fetchall()]

    async def iter_matching(
        self, q: TrafficQuery, response_limit: int = -1, body_limit: int = -1
    ) -> AsyncIterator[Entry]:
        """Every selected entry, bodies read as `iter_entries` reads them (`body_limit`,
        `response_limit`), a bounded group at a time."""
        async for e in self.iter_chosen(await self.matching_ids(q), response_limit, body_limit):  # type: ignore[attr-defined]
            yield e
