"""A session of the store, a filtered view of it, or chosen entries, as HAR bytes: the one export
behind the API, `necto export`, `necto record` and the MCP tool.

Entries come from their stored HAR fragments where they have one (necto.har.fragments), else in
full with their annotations; bodies longer than STREAM_BODY_ABOVE (request or response) stay
in their files and are streamed in, so memory does not depend on the session's size or its bodies'. A
redacted export reads every entry in full (the redactor rewrites the entry, and reads long
bodies whole).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from necto.har.export import STREAM_BODY_ABOVE, export_har
from necto.har.fragments import FORMAT
from necto.har.pages import ExportPlan, plan_for_entries, plan_for_session
from necto.model import Entry, FragmentEntry
from necto.search.filterlang import Node
from necto.store import Store, TrafficQuery


@dataclass
class StoreExport:
    """An export ready to stream (`chunks()`); `count` says how many entries it wrote so far."""

    store: Store
    plan: ExportPlan
    first: Entry | FragmentEntry | None  # None: an empty session
    rest: AsyncIterator[Entry | FragmentEntry]
    title: str
    exclude_binary: bool
    redact: bool
    count: int = 0

    async def _entries(self) -> AsyncIterator[Entry | FragmentEntry]:
        if self.first is not None:
            self.count = 1
            yield self.first
        async for e in self.rest:
            self.count += 1
            yield e

    def chunks(self) -> AsyncIterator[bytes]:
        return export_har(self._entries(), title=self.title, exclude_binary=self.exclude_binary, redact=self.redact,
                          plan=self.plan, read_body=self.store.body_chunks)  # fmt: skip


def export_entries(
    store: Store, *, session_id: str | None = None, entry_ids: Sequence[str] | None = None, redact: bool = False
) -> AsyncIterator[Entry | FragmentEntry]:
    """The entries of a session in its order, or of `entry_ids` in theirs, as the export reads them."""
    fmt = "" if redact else FORMAT  # no fragment has that format
    if session_id is not None:
        return store.iter_export(session_id, fmt, STREAM_BODY_ABOVE)
    return store.iter_export_ids(entry_ids or [], fmt, STREAM_BODY_ABOVE)


async def store_export(
    store: Store,
    *,
    session_id: str | None = None,
    entry_ids: Sequence[str] | None = None,
    selection: Node | None = None,
    title: str,
    exclude_binary: bool = False,
    redact: bool = False,
) -> StoreExport | None:
    """The export of a session (all of it, or what the filter `selection` selects) or of chosen
    entries; None when `entry_ids` name no entry (an empty session still exports)."""
    if session_id is not None:
        plan = await plan_for_session(store, session_id, title)
        if selection is not None:
            ids = await store.matching_ids(TrafficQuery(session_id=session_id, filter=selection))
            source = export_entries(store, entry_ids=ids, redact=redact)
        else:
            source = export_entries(store, session_id=session_id, redact=redact)
    else:
        plan = await plan_for_entries(store, entry_ids or [], title)
        source = export_entries(store, entry_ids=entry_ids, redact=redact)
    first = await anext(source, None)
    if first is None and session_id is None:
        return None
    return StoreExport(store, plan, first, source, title, exclude_binary, redact)
