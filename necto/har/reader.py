"""A HAR file -> batches of Entry, streamed: memory follows the largest entry, never the file.

The file is read incrementally with ijson (C backend when available), through `Source` (BOM,
JSONP, UTF-16, and the Guard's bounds on depth and token sizes). Passes over the (seekable) file:
  1. header: events up to the start of `log.entries` (version, creator, pages, log fields;
     structure errors);
  2. entries: `ijson.items(..., "log.entries.item")`, converted one by one;
  3. only when `version`/`creator` were not before the entries: a scan for them after it.
The pages and log fields found (`Report.pages`, `Report.log`) are what an export gives back.
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
from necto.har.sniff import explain_json_error
from necto.har.source import Source
from necto.model import Entry
from necto.vocab import iso_time

log = logging.getLogger(__name__)

try:
    import ijson.backends.yajl2_c as _ijson
except ImportError:  # pragma: no cover - pure Python fallback, same results, slower
    _ijson = ijson

BATCH_ENTRIES = 1000


BATCH_BYTES = 8 * 1024 * 1024
_LOG_KEYS = frozenset({"version", "creator", "pages", "entries"})  # what the export writes itself
_PAGE_TIMINGS = ("onContentLoad", "onLoad")


class HarReader:
    """Parses a HAR file into batches of Entry (a blocking generator: run it in a thread).

    `open_file` opens the file afresh; it is called once per pass. `report` collects the
    header facts, pages, log fields, warnings and skips; `HarError` rejects the whole file
    (also when every entry had to be skipped). With `import_id`, entries remember the import
    their page references belong to."""

    def __init__(
        self,
        open_file: Callable[[], IO[bytes]],
        session_id: str,
        *,
        progress: Callable[[int], None] | None = None,
        now: float | None = None,
        import_id: str | None = None,
        keep_all: bool = False,
    ) -> None:
        self.open_file = open_file
        self.session_id = session_id
        self.report = Report(keep_all=keep_all)
        self.progress = progress
        self.now = now if now is not None else time.time()
        self.import_id = import_id
        self.cancelled = False
        self._pagerefs: dict[str, list[int]] = {}  # page id -> indexes of the entries naming it

    # -- errors
    def _json_error(self, e: Exception) -> HarError:
        return HarError("json", explain_json_error(self.open_file, _short(e), _read_all))

    # -- pass 1 and 3
    def _scan(self, after_entries: bool) -> dict[str, Any]:
        """Build the small `log` members (everything but entries) from parse events.

        Before the entries (pass 1) it stops at `log.entries`; after them (pass 3) it skips
        the entries cheaply and collects what follows."""
        meta: dict[str, Any] = {}
        state: dict[str, Any] = {"log": None, "entries": None}
        top_keys: list[str] = []
        log_keys: list[str] = []
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
                            kind = {"start_array": "an array"}.get(event, f"a single {event} value")
                            raise HarError("log", f'the top level is {kind}, not an object with a "log" member')
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
                    if prefix == "" and event == "map_key":
                        if len(top_keys) < 10:
                            top_keys.append(value)
                        if value == "log":
                            state["log"] = "pending"
                        continue
                    if prefix == "log":
                        if state["log"] == "pending":
                            state["log"] = "object" if event == "start_map" else event
                        elif event == "map_key":
                            key = value
                            if len(log_keys) < 10:
                                log_keys.append(value)
                        continue
                    if key is None or not prefix.startswith("log."):
                        continue
                    if prefix == "log.entries":
                        if state["entries"] is None:
                            state["entries"] = "array" if event == "start_array" else event
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
                raise self._json_error(e) from None
        if first:
            raise self._json_error(ValueError("no JSON value"))
        if state["log"] != "object":
            if state["log"] is None:
                keys = ", ".join(top_keys) or "none"
                raise HarError("log", f'the JSON has no "log" member (its top-level keys: {keys})')
            raise HarError("log", f'"log" is {_kind(state["log"])}, not an object')
        if state["entries"] != "array":
            if state["entries"] is None:
                keys = ", ".join(log_keys) or "none"
                raise HarError("entries", f'"log" has no "entries" member (its keys: {keys})')
            raise HarError("entries", f"log.entries is {_kind(state['entries'])}, not an array")
        return meta

    def _apply_meta(self, meta: dict[str, Any], final: bool) -> None:
        r = self.report
        version = meta.get("version")
        if isinstance(version, str) and version.strip():
            r.version = version.strip()
            if final and r.version != "1.2":
                what = "HAR 1.1" if r.version == "1.1" else f"HAR version {r.version!r} (not 1.1 or 1.2)"
                r.warn("log.version", f"{what}: read as 1.2; exports are HAR 1.2")
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
            r.warn("log.creator", f'wrong type ({type(creator).__name__}); "Unknown" used')
        elif final:
            r.warn("log.creator", 'missing; "Unknown" used')
        if final:
            self._log_fields(meta)
            if "pages" in meta:
                self._pages(meta["pages"])

    def _log_fields(self, meta: dict[str, Any]) -> None:
        """`browser`, `comment`, `_` fields and anything else `log` holds: kept for export."""
        r = self.report
        for k, v in meta.items():
            if k in _LOG_KEYS:
                continue
            if k == "browser" and not (
                isinstance(v, dict) and isinstance(v.get("name"), str) and isinstance(v.get("version"), str)
                and isinstance(v.get("comment", ""), str)
            ):  # fmt: skip
                r.warn(
                    "log.browser", "not a {name, version, comment?} object of strings; left out (kept in log._browser)"
                )
                r.log["_browser"] = v
            elif k == "comment" and not isinstance(v, str):
                r.warn("log.comment", f"{v!r} is not a string; stringified")
                r.log[k] = str(v)
            else:
                r.log[k] = v

    def _pages(self, pages: Any) -> None:
        """The file's pages as an export will write them, each changed only where it must be."""
        r = self.report
        if pages is None:
            r.warn("log.pages", "null; treated as no pages")
            return
        if not isinstance(pages, list):
            r.warn("log.pages", f"wrong type ({type(pages).__name__}); ignored (kept in log._pages)")
            r.log["_pages"] = pages
            return
        seen: set[str] = set()
        for j, p in enumerate(pages):
            where = f"log.pages[{j}]"
            if not isinstance(p, dict):
                r.warn(where, "not an object; left out")
                continue
            page = dict(p)
            pid = page.get("id")
            if not isinstance(pid, str) or not pid:
                new = f"page_{j + 1}"
                while new in seen:
                    new += "_"
                r.warn(f"{where}.id", f"{pid!r} is not a page id; {new!r} used (kept in _id)")
                page["_id"], page["id"] = pid, new
                pid = new
            if pid in seen:
                r.warn(f"{where}.id", f"duplicate page id {pid!r}; this page is left out")
                continue
            seen.add(pid)
            title = page.get("title")
            if not isinstance(title, str):
                r.warn(f"{where}.title", ("missing" if title is None else f"{title!r} is not a string") + '; "" used')
                if title is not None:
                    page["_title"] = title
                page["title"] = ""
            when = page.get("startedDateTime")
            t, naive = parse_time(when)
            if t is None or naive:
                why = "no timezone; UTC assumed" if t is not None else "missing or unparseable; import time used"
                r.warn(f"{where}.startedDateTime", f"{why} (kept in _startedDateTime)")
                if when is not None:
                    page["_startedDateTime"] = when
                page["startedDateTime"] = iso_time(t if t is not None else self.now)
            timings = page.get("pageTimings")
            if not isinstance(timings, dict):
                r.warn(
                    f"{where}.pageTimings", ("missing" if timings is None else "not an object") + "; -1 (unknown) used"
                )
                if timings is not None:
                    page["_pageTimings"] = timings
                page["pageTimings"] = {k: -1 for k in _PAGE_TIMINGS}
            else:
                fixed = dict(timings)
                for k in _PAGE_TIMINGS:
                    v = fixed.get(k)
                    if k in fixed and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < -1):
                        r.warn(f"{where}.pageTimings.{k}", f"{v!r} is not a time in ms; -1 used (kept in _{k})")
                        fixed[f"_{k}"], fixed[k] = v, -1
                if "comment" in fixed and not isinstance(fixed["comment"], str):
                    r.warn(f"{where}.pageTimings.comment", f"{fixed['comment']!r} is not a string; stringified")
                    fixed["comment"] = str(fixed["comment"])
                page["pageTimings"] = fixed
            if "comment" in page and not isinstance(page["comment"], str):
                r.warn(f"{where}.comment", f"{page['comment']!r} is not a string; stringified")
                page["comment"] = str(page["comment"])
            r.pages.append(page)

    def _more_after_entries(self) -> bool:
        """Does `log` go on after its entries (chrome-har writes `browser` there)? Read from
        the end of the file: a plain `]}}` means no; anything else (or UTF-16) asks for pass 3."""
        with self.open_file() as raw:
            head = raw.read(4)
            if head.startswith((b"\xff\xfe", b"\xfe\xff")):
                return True
            raw.seek(0, 2)
            raw.seek(max(0, raw.tell() - 256))
            tail = b"".join(raw.read().split())
        tail = tail.rstrip(b";")
        if tail.endswith(b")"):  # JSONP
            tail = tail[:-1]
        return not tail.endswith(b"]}}")

    def _check_pagerefs(self) -> None:
        """Entries naming a page the file does not have: export leaves their pageref out."""
        ids = {p["id"] for p in self.report.pages}
        for ref, indexes in self._pagerefs.items():
            if ref not in ids:
                for i in indexes:
                    self.report.warn(
                        f"log.entries[{i}].pageref",
                        f"{ref!r} names no page of the file; left out (kept in _pageref)",
                        i,
                    )

    # -- pass 2
    def batches(self, max_entries: int = BATCH_ENTRIES, max_bytes: int = BATCH_BYTES) -> Iterator[list[Entry]]:
        meta = self._scan(after_entries=False)
        complete = "version" in meta and "creator" in meta
        batch: list[Entry] = []
        size = 0
        index = -1
        anchor: float | None = None
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
                    if anchor is None:
                        anchor = entry.started
                    entry.order = anchor
                    har = entry.extra.get("har")
                    if har is not None and "pageref" in har:
                        self._pagerefs.setdefault(har["pageref"], []).append(index)
                        if self.import_id is not None:
                            har["import"] = self.import_id
                    batch.append(entry)
                    size += len(entry.request_body or b"") + len(entry.response_body or b"") + 512
                    if len(batch) >= max_entries or size >= max_bytes:
                        if self.progress:
                            self.progress(src.consumed)
                        self.report.imported += len(batch)
                        yield batch
                        batch, size = [], 0
            except ijson.JSONError as e:
                raise self._json_error(e) from None
            self.report.total = index + 1
            if self.progress:
                self.progress(src.consumed)
        if not complete or self._more_after_entries():
            meta = {**self._scan(after_entries=True), **meta}
        self._apply_meta(meta, final=True)
        self._check_pagerefs()
        r = self.report
        if r.total == 0:
            r.warn("log.entries", "empty: the file contains no traffic (an import refuses it)")
        elif r.skipped_count == r.total:
            reasons = "; ".join(
                f"{g['reason']} ("
                + ", ".join(f"log.entries[{i}]" for i in g["firstIndexes"])
                + (", ..." if g["count"] > len(g["firstIndexes"]) else "")
                + ")"
                for g in r.skipped_groups()
            )
            raise HarError(
                "unusable",
                f"none of the {r.total} entries can be imported: {reasons}",
                {"skipped": r.skipped, "skippedCount": r.skipped_count, "skippedGroups": r.skipped_groups()},
            )
        r.imported += len(batch)
        if batch:
            yield batch


def _kind(event: str) -> str:
    return {"start_array": "an array", "start_map": "an object", "string": "a string", "number": "a number",
            "boolean": "a boolean", "null": "null"}.get(event, event)  # fmt: skip


def _short(e: Exception) -> str:
    text = str(e)
    if isinstance(e.args[0] if e.args else None, bytes):
        text = e.args[0].decode("utf-8", "replace")
    return " ".join(text.split())[:300]


def _read_all(raw: IO[bytes]) -> bytes:
    """The JSON text the parser reads from a file (for locating its errors)."""
    src = Source(raw)
    parts = []
    while chunk := src.read():
        parts.append(chunk)
    return b"".join(parts)


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
