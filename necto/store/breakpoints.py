"""Breakpoint definitions, stored beside the rules so they survive restarts.

Every change bumps `rule_state` key `breakpoints.version` in the same transaction and
`breakpoints_generation` in memory; the proxy compares the generation on every request, so a
change made through the API applies to the next request. A change another process commits (the
CLI) is noticed by `check_outside_breakpoints()`: at most every few milliseconds it asks a
private SQLite connection for `PRAGMA data_version` (microseconds, never waits for a lock) and,
when another connection committed, whether the version moved.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from necto.breakpoints.model import Breakpoint
from necto.model import new_id, now_ms
from necto.store.base import StoreBase
from necto.store.probe import ProbeSlot

BREAKPOINT_COLUMNS = "id, name, enabled, type, fields, created_at"
VERSION_KEY = "breakpoints.version"


def _breakpoint(r: Sequence[Any]) -> Breakpoint:
    f = orjson.loads(r[4])
    return Breakpoint(
        id=r[0], name=r[1], enabled=bool(r[2]), type=r[3], match=f.get("match") or {},
        conditions=f.get("conditions") or [], condition_logic=f.get("conditionLogic") or "and",
        timeout=f.get("timeout"), timeout_action=f.get("timeoutAction"), abort=f.get("abort") or "499",
        created_at=r[5],
    )  # fmt: skip


def _fields_blob(fields: dict[str, Any]) -> bytes:
    keep = ("match", "conditions", "conditionLogic", "timeout", "timeoutAction", "abort")
    return orjson.dumps({k: fields[k] for k in keep})


class BreakpointStore(StoreBase):
    breakpoints_generation = 0  # bumped on every change to breakpoints (any process)
    _breakpoints_probe = ProbeSlot(VERSION_KEY)

    async def _write_breakpoints(self, statements: list[tuple[str, Sequence[Any]]]) -> list[int]:
        """Run statements in one transaction with a version bump; rowcounts in order."""
        counts, self._breakpoints_probe.seen = await self._write_versioned(VERSION_KEY, statements)
        self.breakpoints_generation += 1
        self._notify("breakpoints", None)
        return counts

    def check_outside_breakpoints(self) -> None:
        """Notice a change another process committed (cheap; called on every request)."""
        if self._breakpoints_probe.moved():
            self.breakpoints_generation += 1
            self._notify("breakpoints", None)

    def _close_breakpoint_probe(self) -> None:
        self._breakpoints_probe.close()

    async def list_breakpoints(self, enabled_only: bool = False) -> list[Breakpoint]:
        where = "WHERE enabled = 1 " if enabled_only else ""
        sql = f"SELECT {BREAKPOINT_COLUMNS} FROM breakpoints {where}ORDER BY created_at, rowid"
        async with self._r.execute(sql) as cur:
            rows = await cur.fetchall()
        return [_breakpoint(r) for r in rows]

    async def get_breakpoint(self, breakpoint_id: str) -> Breakpoint | None:
        async with self._r.execute(
            f"SELECT {BREAKPOINT_COLUMNS} FROM breakpoints WHERE id = ?", (breakpoint_id,)
        ) as cur:
            row = await cur.fetchone()
        return _breakpoint(row) if row else None

    async def create_breakpoint(self, fields: dict[str, Any]) -> Breakpoint:
        """Insert validated fields (`necto.breakpoints.validate_breakpoint`)."""
        bid = new_id()
        await self._write_breakpoints([(
            f"INSERT INTO breakpoints ({BREAKPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (bid, fields["name"], int(fields["enabled"]), fields["type"], _fields_blob(fields), now_ms()),
        )])  # fmt: skip
        bp = await self.get_breakpoint(bid)
        assert bp is not None
        return bp

    async def update_breakpoint(self, breakpoint_id: str, fields: dict[str, Any]) -> Breakpoint | None:
        (n,) = await self._write_breakpoints([(
            "UPDATE breakpoints SET name = ?, enabled = ?, type = ?, fields = ? WHERE id = ?",
            (fields["name"], int(fields["enabled"]), fields["type"], _fields_blob(fields), breakpoint_id),
        )])  # fmt: skip
        return await self.get_breakpoint(breakpoint_id) if n else None

    async def toggle_breakpoint(self, breakpoint_id: str, enabled: bool | None = None) -> Breakpoint | None:
        """Flip (or set) `enabled`."""
        value = "NOT enabled" if enabled is None else str(int(enabled))
        (n,) = await self._write_breakpoints(
            [(f"UPDATE breakpoints SET enabled = {value} WHERE id = ?", (breakpoint_id,))]
        )
        return await self.get_breakpoint(breakpoint_id) if n else None

    async def delete_breakpoint(self, breakpoint_id: str) -> bool:
        (n,) = await self._write_breakpoints([("DELETE FROM breakpoints WHERE id = ?", (breakpoint_id,))])
        return n > 0
