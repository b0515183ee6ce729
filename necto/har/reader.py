"""A HAR file -> batches of Entry, streamed: memory follows the largest entry, never the file.

The file is read incrementally with ijson (C backend when available). Passes over the
(seekable) file:
  1. header: events up to the start of `log.entries` (version, creator, pages; structure errors);
  2. entries: `ijson.items(..., "log.entries.item")`, converted one by one;
  3. only when `version`/`creator` were not before the entries: a scan for them after it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import IO, Any

import ijson

from necto.har.convert import SkipEntry, convert_entry, parse_time
from necto.har.report import HarError, Report
from necto.har.source import Source
from necto.model import Entry

log = logging.getLogger(__name__)

try:
    import ijson.backends.yajl2_c as _ijson
except ImportError:  # pragma: no cover - pure Python fallback, same results, slower
    _ijson = ijson

BATCH_ENTRIES = 1000


BATCH_BYTES = 8 * 1024 * 1024


class HarReader:
    """Parses a HAR file into batches of Entry (a blocking generator: run it in a thread).

    `open_file` opens the file afresh; it is called once per pass. `report` collects the
    header facts, warnings and skips; `HarError` rejects the whole file."""

    def __init__(
        self,
        open_file: Callable[[], IO[bytes]],
        session_id: str,
        *,
        progress: Callable[[int], None] | None = None,
        now: float | None = None,
    ) -> None:
        self.open_file = open_file
        self.session_id = session_id
        self.report = Report()
        self.progress = progress
        self.now = now if now is not None else time.time()
        self.cancelled = False

    # -- pass 1 and 3
    def _scan(self, after_entries: bool) -> dict[str, Any]:
        """Build the small `log` members (everything but entries) from parse events.

        Before the entries (pass 1) it stops at `log.entries`; after them (pass 3) it skips
        the entries cheaply and collects what follows."""
        meta: dict[str, Any] = {}
        state: dict[str, Any] = {"log": None, "entries": None}
        key: str | None = None
        builder: Any = None
        depth = 0
        first = True
        with self.open_file() as raw:
            try:
                for prefix, event, value in _ijson.parse(Source(raw), use_float=True):
                    if first:
                        first = False
                        if event != "start_map":
                            raise HarError("log", "the top level is not an object")
                    if builder is not None:
                        builder.event(event, value)
                        if event in ("start_map", "start_array"):
                            depth += 1
                        elif event in ("end_map", "end_array"):
                            depth -= 1
                        if depth == 0:
                            meta[key] = builder.value  # type: ignore[index]
                            builder = None
                        continue
                    if prefix == "" and event == "map_key" and value == "log":
                        state["log"] = "pending"
                        continue
                    if prefix == "log":
                        if state["log"] == "pending":
                            state["log"] = "object" if event == "start_map" else "invalid"
                        elif event == "map_key":
                            key = value
                        continue
                    if key is None or not prefix.startswith("log."):
                        continue
                    if prefix == "log.entries":
                        if state["entries"] is None:
                            state["entries"] = "array" if event == "start_array" else "invalid"
                            if not after_entries and state["entries"] == "array":
                                return meta
                        continue
                    if prefix.startswith("log.entries."):
                        continue
                    if prefix == f"log.{key}" and builder is None and key not in meta:
                        builder = ijson.common.ObjectBuilder()
                        builder.event(event, value)
                        depth = 1 if event in ("start_map", "start_array") else 0
                        if depth == 0:
                            meta[key] = builder.value
                            builder = None
            except ijson.JSONError as e:
                raise HarError("json", _short(e)) from None
        if first:
            raise HarError("json", "the file is empty")
        if state["log"] != "object":
            raise HarError("log")
        if state["entries"] != "array":
            raise HarError("entries")
        return meta

    def _apply_meta(self, meta: dict[str, Any], final: bool) -> None:
        r = self.report
        version = meta.get("version")
        if isinstance(version, str) and version.strip():
            r.version = version.strip()
        elif version is not None:
            r.warn("log.version", f"{version!r} is not a string; coerced")
            r.version = str(version)
        elif final:
            r.warn("log.version", 'missing; "1.2" assumed')
        creator = meta.get("creator")
        if isinstance(creator, dict):
            name, ver = creator.get("name"), creator.get("version")
            if not isinstance(name, str) or not isinstance(ver, str):
                r.warn("log.creator", "name and version should be strings; coerced")
            r.creator = {"name": "Unknown" if name is None else str(name), "version": "" if ver is None else str(ver)}
        elif creator is not None:
            r.warn("log.creator", f"wrong type ({type(creator).__name__}); \"Unknown\" used")
        elif final:
            r.warn("log.creator", 'missing; "Unknown" used')
        if final and "pages" in meta:
            pages = meta["pages"]
            if pages is None:
                r.warn("log.pages", "null; treated as no pages")
            elif not isinstance(pages, list):
                r.warn("log.pages", f"wrong type ({type(pages).__name__}); ignored")
            else:
                for j, p in enumerate(pages):
                    if not isinstance(p, dict):
                        r.warn(f"log.pages[{j}]", "not an object")
                        continue
                    t, naive = parse_time(p.get("startedDateTime"))
                    if t is None:
                        r.warn(f"log.pages[{j}].startedDateTime", "missing or unparseable")
                    elif naive:
                        r.warn(f"log.pages[{j}].startedDateTime", "no timezone; UTC assumed")

    # -- pass 2
    def batches(self, max_entries: int = BATCH_ENTRIES, max_bytes: int = BATCH_BYTES) -> Iterator[list[Entry]]:
        meta = self._scan(after_entries=False)
        complete = "version" in meta and "creator" in meta
        batch: list[Entry] = []
        size = 0
        index = -1
        with self.open_file() as raw:
            src = Source(raw, self.report)
            try:
                for index, item in enumerate(_ijson.items(src, "log.entries.item", use_float=True)):
                    if self.cancelled:
                        raise HarError("json", "cancelled")
                    try:
                        entry = convert_entry(item, index, self.session_id, self.report, self.now)
                    except SkipEntry as s:
                        self.report.skip(index, str(s))
                        continue
                    except Exception as ex:  # a shape no rule foresaw: skip it, never fail the file
                        log.debug("entry %d skipped", index, exc_info=True)
                        self.report.skip(index, f"could not read entry: {ex}")
                        continue
                    batch.append(entry)
                    size += len(entry.request_body or b"") + len(entry.response_body or b"") + 512
                    if len(batch) >= max_entries or size >= max_bytes:
                        if self.progress:
                            self.progress(src.consumed)
                        self.report.imported += len(batch)
                        yield batch
                        batch, size = [], 0
            except ijson.JSONError as e:
                raise HarError("json", _short(e)) from None
            self.report.total = index + 1
            if self.progress:
                self.progress(src.consumed)
        if not complete:
            meta = {**self._scan(after_entries=True), **meta}
        self._apply_meta(meta, final=True)
        if self.report.total == 0:
            self.report.warn("log.entries", "empty: the file contains no traffic")
        self.report.imported += len(batch)
        if batch:
            yield batch


def _short(e: Exception) -> str:
    text = str(e)
    if isinstance(e.args[0] if e.args else None, bytes):
        text = e.args[0].decode("utf-8", "replace")
    return " ".join(text.split())[:300]


def load_entries(path: str | Path, session_id: str = "") -> Iterator[Entry]:
    """Every importable entry of a HAR file, streamed (blocking; for replay, diff and tools).
    Raises HarError when the file as a whole is not a HAR."""
    reader = HarReader(lambda: open(path, "rb"), session_id)
    for batch in reader.batches():
        yield from batch


async def aiter_entries(path: str | Path, session_id: str = "") -> AsyncIterator[Entry]:
    """The entries of a HAR file for async code: parsed a batch at a time in a worker thread.
    Raises HarError when the file as a whole is not a HAR."""
    reader = HarReader(lambda: open(path, "rb"), session_id)
    batches = iter(reader.batches())
    while True:
        batch = await asyncio.to_thread(next, batches, None)
        if batch is None:
            return
        for entry in batch:
            yield entry
