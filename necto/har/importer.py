"""HAR import into the store: atomic, whatever the file does.

Entries go into a hidden staging session batch by batch (parsed in a worker thread while the
previous batch is written) and are published in one transaction at the end; a rejected,
cancelled or interrupted import leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from necto.har.reader import HarReader, load_entries
from necto.har.report import Report
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

    def as_json(self) -> dict[str, Any]:
        r = self.report
        out: dict[str, Any] = {
            "success": True,
            "imported": r.imported,
            "total": r.total,
            "sessionId": self.session_id,
            "sessionName": self.session_name,
            "skipped": r.skipped,
            "skippedCount": r.skipped_count,
            "warnings": r.warnings_json(),
            "warningCount": r.warning_count,
        }
        return out


async def import_har(
    store: Store,
    open_file: Callable[[], IO[bytes]],
    *,
    session_name: str,
    session_id: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import a HAR file into a new session (or `session_id`), all or nothing.

    Entries go into a hidden staging session batch by batch and are published in one
    transaction at the end; any failure (HarError, cancellation, crash) drops the staging."""
    target = None
    if session_id is not None:
        target = await store.get_session(session_id)
        if target is None:
            raise SessionNotFound(session_id)
    staging = await store.create_staging_session(session_name if target is None else f"import into {target.name}")
    reader = HarReader(open_file, staging, progress=progress)
    gen = reader.batches()
    pending: asyncio.Future[list[Entry] | None] | None = None
    try:
        # Parse the next batch in its thread while this one is written (SQLite frees the GIL).
        pending = asyncio.ensure_future(asyncio.to_thread(next, gen, None))
        while True:
            batch = await pending
            pending = None
            if batch is None:
                break
            pending = asyncio.ensure_future(asyncio.to_thread(next, gen, None))
            await store.add_entries(batch)
        try:
            final = await store.commit_staging(staging, into=session_id)
        except KeyError:
            raise SessionNotFound(session_id or "") from None
    except BaseException:
        reader.cancelled = True
        if pending is not None:
            with contextlib.suppress(BaseException):
                await asyncio.shield(pending)
        try:
            gen.close()  # type: ignore[attr-defined]
        except ValueError:  # still running in its thread: it stops at the next entry
            pass
        await asyncio.shield(store.drop_staging(staging))
        raise
    name = target.name if target is not None else session_name
    return ImportResult(final, name, reader.report)
