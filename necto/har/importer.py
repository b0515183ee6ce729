"""HAR import into the store: atomic, whatever the file does.

Entries go into a hidden staging session batch by batch (parsed in a worker thread while the
previous batch is written), every warning and skipped entry with them, and the file's pages
and log fields at the end; all of it is published in one transaction. A rejected, cancelled or
interrupted import, or a file with nothing to import, leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from necto.har.reader import HarReader, load_entries
from necto.har.report import HarError, Report
from necto.model import Entry
from necto.store import Store

__all__ = ["ImportResult", "SessionNotFound", "import_har", "load_entries"]


class SessionNotFound(Exception):
    pass


@dataclass
class ImportResult:
    session_id: str
    session_name: str
    report: Report
    import_id: str

    def as_json(self) -> dict[str, Any]:
        """NectoProxy's answer; with warnings, also the import's id (to page through all of
        them), the first ones and their groups."""
        r = self.report
        out: dict[str, Any] = {
            "success": True,
            "imported": r.imported,
            "total": r.total,
            "sessionId": self.session_id,
            "sessionName": self.session_name,
            "skipped": r.skipped,
            "skippedCount": r.skipped_count,
            "warnings": r.warnings,
            "warningCount": r.warning_count,
        }  # always present, also when empty (the page and scripts read them)
        summary = r.summary_json()
        if summary:
            out["importId"] = self.import_id
            out.update(summary)
        return out


async def import_har(
    store: Store,
    open_file: Callable[[], IO[bytes]],
    *,
    session_name: str,
    session_id: str | None = None,
    progress: Callable[[int], None] | None = None,
    file_name: str = "",
) -> ImportResult:
    """Import a HAR file into a new session (or `session_id`), all or nothing.

    Raises HarError for a file that is not a HAR, has no entries, or none that can be
    imported; SessionNotFound when `session_id` does not exist."""
    target = None
    if session_id is not None:
        target = await store.get_session(session_id)
        if target is None:
            raise SessionNotFound(session_id)
    staging = await store.create_staging_session(session_name if target is None else f"import into {target.name}")
    pending: asyncio.Future[list[Entry] | None] | None = None
    reader: HarReader | None = None
    gen = None
    try:
        import_id = await store.create_import(staging, file_name or session_name)
        reader = HarReader(open_file, staging, progress=progress, import_id=import_id, keep_all=True)
        r = reader.report
        gen = reader.batches()
        # Parse the next batch in its thread while this one is written (SQLite frees the GIL).
        pending = asyncio.ensure_future(asyncio.to_thread(next, gen, None))
        while True:
            batch = await pending
            pending = None
            if batch is None:
                break
            pending = asyncio.ensure_future(asyncio.to_thread(next, gen, None))
            notes = [(e.id, a) for e in batch for a in e.extra.pop("annotations", None) or ()]
            await store.add_entries(batch)
            await store.add_annotation_rows(notes)  # a Necto export's annotations come back
            await store.add_import_warnings(import_id, r.take_pending())
        if r.total == 0:
            raise HarError("empty", "the file has no entries (log.entries is empty): there is nothing to import")
        await store.add_import_warnings(import_id, r.take_pending())
        await store.finish_import(
            import_id, imported=r.imported, total=r.total, warning_count=r.warning_count,
            skipped_count=r.skipped_count, log=r.log, pages=r.pages,
        )  # fmt: skip
        try:
            final = await store.commit_staging(staging, into=session_id)
        except KeyError:
            raise SessionNotFound(session_id or "") from None
    except BaseException:
        if reader is not None:
            reader.cancelled = True
        if pending is not None:
            with contextlib.suppress(BaseException):
                await asyncio.shield(pending)
        if gen is not None:
            try:
                gen.close()  # type: ignore[attr-defined]
            except ValueError:  # still running in its thread: it stops at the next entry
                pass
        await asyncio.shield(store.drop_staging(staging))
        raise
    name = target.name if target is not None else session_name
    return ImportResult(final, name, reader.report, import_id)
