"""What a HAR export writes around its entries: the pages, which page each entry belongs to,
and the log fields (`browser`, `comment`, `_` fields) an imported file had.

Imported pages come back as the file had them, each import's in its order; entries keep their
`pageref`. Captured traffic (and anything that names no page) belongs to one page per session,
titled after it, starting with its first captured entry. A session that has no page at all
still gets that one page: Safari reads `log.pages[0]`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from necto.model import Entry
from necto.store import SessionHar, Store
from necto.vocab import iso_time

SESSION_PAGE_ID = "page_1"


@dataclass
class ExportPlan:
    pages: list[dict[str, Any]] = field(default_factory=list)
    ids: dict[tuple[str, str], str] = field(default_factory=dict)  # (import id, page id) -> id written
    own_page: str | None = None  # the page of captured traffic, when written
    log: dict[str, Any] = field(default_factory=dict)

    def pageref(self, e: Entry) -> tuple[str | None, str | None]:
        """(pageref to write, or None; the file's pageref when it names no page written)."""
        return self.pageref_of(page_key(e))

    def pageref_of(self, key: bytes | None) -> tuple[str | None, str | None]:
        """`pageref` for an entry known by its `page_key` (stored beside its HAR fragment)."""
        if key is None:
            return self.own_page, None
        import_id, ref = orjson.loads(key)
        if ref is None:
            return None, None
        written = self.ids.get((import_id, ref))
        return (written, None) if written is not None else (None, ref)


def page_key(e: Entry) -> bytes | None:
    """What ExportPlan.pageref reads of an entry, in a few bytes (None: the session's own page)."""
    if e.source != "import" or e.order is None:  # captured, replayed, or imported before pages were kept
        return None
    har = e.extra.get("har") or {}
    return orjson.dumps([har.get("import", ""), har.get("pageref")])


def _own_page(page_id: str, title: str, started: float | None) -> dict[str, Any]:
    return {
        "startedDateTime": iso_time(started if started is not None else time.time()),
        "id": page_id,
        "title": title,
        "pageTimings": {"onContentLoad": -1, "onLoad": -1},
    }


def _free_id(taken: set[str]) -> str:
    n = 1
    while f"page_{n}" in taken:
        n += 1
    return f"page_{n}"


def _add_pages(plan: ExportPlan, pages: Sequence[tuple[str, dict[str, Any]]], taken: set[str]) -> None:
    """Imported pages in order; an id already written (two imports into one session) gets a
    suffix, the original kept in `_id`."""
    for import_id, page in pages:
        pid = page["id"]
        written = pid
        n = 2
        while written in taken:
            written = f"{pid}~{n}"
            n += 1
        if written != pid:
            page = {**page, "id": written, "_id": page.get("_id", pid)}
        taken.add(written)
        plan.ids[(import_id, pid)] = written
        plan.pages.append(page)


def session_plan(facts: SessionHar, title: str, first_started: float | None = None) -> ExportPlan:
    """The plan for exporting a whole session."""
    plan = ExportPlan(log=dict(facts.log))
    taken: set[str] = set()
    _add_pages(plan, facts.pages, taken)
    if facts.has_captured or not plan.pages:
        plan.own_page = SESSION_PAGE_ID if SESSION_PAGE_ID not in taken else _free_id(taken)
        page = _own_page(plan.own_page, title, facts.first_captured if facts.has_captured else first_started)
        if (
            plan.pages
            and facts.first_captured is not None
            and page["startedDateTime"] < plan.pages[0]["startedDateTime"]
        ):
            plan.pages.insert(0, page)
        else:
            plan.pages.append(page)
    return plan


async def plan_for_session(store: Store, session_id: str, title: str) -> ExportPlan:
    facts = await store.session_har(session_id)
    first = None
    if not facts.has_captured and not facts.pages:
        async for e in store.iter_entries(session_id, batch=1, bodies=False):
            first = e.started
            break
    return session_plan(facts, title, first)


async def plan_for_entries(store: Store, entry_ids: Sequence[str], title: str) -> ExportPlan:
    """The plan for exporting chosen entries: only the pages they name (from whichever
    sessions they come), and the session's log fields when they all come from one."""
    origins = await store.entry_origins(entry_ids)
    wanted: set[tuple[str, str]] = set()
    captured: list[float] = []
    sessions: dict[str, None] = {}
    for session_id, source, started, extra in origins:
        sessions[session_id] = None
        har = extra.get("har") or {}
        if source != "import":
            captured.append(started)
        elif "pageref" in har:
            wanted.add((har.get("import", ""), har["pageref"]))
    plan = ExportPlan()
    taken: set[str] = set()
    for session_id in sessions:
        facts = await store.session_har(session_id)
        _add_pages(plan, [(i, p) for i, p in facts.pages if (i, p["id"]) in wanted], taken)
        if len(sessions) == 1:
            plan.log = dict(facts.log)
    if captured or not plan.pages:
        plan.own_page = SESSION_PAGE_ID if SESSION_PAGE_ID not in taken else _free_id(taken)
        first = min(captured or [o[2] for o in origins] or [time.time()])
        plan.pages.insert(0, _own_page(plan.own_page, title, first))
    return plan
