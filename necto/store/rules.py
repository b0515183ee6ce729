"""Rules, custom network profiles and the active profile, stored beside the sessions.

Every change bumps `rule_state.version` in the same transaction and `rules_generation` in
memory, so the proxy (which compares `rules_generation` on every request) applies a change on
the next request. A change made by another process (the CLI) is noticed by
`check_outside_rules()`: at most every few milliseconds it asks a private SQLite connection
for `PRAGMA data_version` (microseconds; it never waits for a lock) and, when another
connection committed, whether the version moved.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from necto.model import new_id, now_ms
from necto.rules.model import Rule
from necto.store.base import StoreBase
from necto.store.probe import ProbeSlot

RULE_COLUMNS = "id, name, enabled, priority, match, action, config, created_at, updated_at"
RULE_ORDER = "ORDER BY priority, created_at, rowid"
ACTIVE_PROFILE_KEY = "network.active"


def _rule(r: Sequence[Any]) -> Rule:
    return Rule(
        id=r[0], name=r[1], enabled=bool(r[2]), priority=r[3], match=orjson.loads(r[4]), action=r[5],
        config=orjson.loads(r[6]) if r[6] is not None else None, created_at=r[7], updated_at=r[8],
    )  # fmt: skip


class RuleStore(StoreBase):
    rules_generation = 0  # bumped on every change to rules or network state (any process)
    _rules_probe = ProbeSlot("version")

    # ------------------------------------------------------------------ change tracking
    async def _write_rules(self, kind: str, statements: Iterable[tuple[str, Sequence[Any]]]) -> list[int]:
        """Run statements in one transaction with a version bump, then tell the proxy and the
        page (`kind`: "rules" or "network"); rowcounts in order."""
        counts, self._rules_probe.seen = await self._write_versioned("version", statements)
        self.rules_generation += 1
        self._notify(kind, None)
        return counts

    def check_outside_rules(self) -> None:
        """Notice a change another process committed (cheap; called on every request)."""
        if self._rules_probe.moved():
            self.rules_generation += 1
            self._notify("rules", None)

    def _close_probe(self) -> None:
        self._rules_probe.close()

    # ------------------------------------------------------------------ rules
    async def list_rules(self, enabled_only: bool = False) -> list[Rule]:
        where = "WHERE enabled = 1 " if enabled_only else ""
        async with self._r.execute(f"SELECT {RULE_COLUMNS} FROM rules {where}{RULE_ORDER}") as cur:
            rows = await cur.fetchall()
        return [_rule(r) for r in rows]

    async def get_rule(self, rule_id: str) -> Rule | None:
        async with self._r.execute(f"SELECT {RULE_COLUMNS} FROM rules WHERE id = ?", (rule_id,)) as cur:
            row = await cur.fetchone()
        return _rule(row) if row else None

    async def _next_priority(self) -> float:
        async with self._r.execute("SELECT MAX(priority) FROM rules") as cur:
            row = await cur.fetchone()
        return 0 if row is None or row[0] is None else int(row[0]) + 1

    async def create_rule(self, fields: dict[str, Any], rule_id: str | None = None) -> Rule:
        """Insert a validated rule (`necto.rules.validate_rule`); no priority = after the last."""
        rid, ts = rule_id or new_id(), now_ms()
        priority = fields["priority"] if fields.get("priority") is not None else await self._next_priority()
        await self._write_rules("rules", [(
            f"INSERT INTO rules ({RULE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (rid, fields["name"], int(fields["enabled"]), priority, orjson.dumps(fields["match"]),
             fields["action"], _config_blob(fields["config"]), ts, ts),
        )])  # fmt: skip
        rule = await self.get_rule(rid)
        assert rule is not None
        return rule

    async def update_rule(self, rule_id: str, fields: dict[str, Any]) -> Rule | None:
        """Replace a rule's fields with validated ones (a PUT merged over the stored rule)."""
        current = await self.get_rule(rule_id)
        if current is None:
            return None
        priority = fields["priority"] if fields.get("priority") is not None else current.priority
        (n,) = await self._write_rules("rules", [(
            "UPDATE rules SET name = ?, enabled = ?, priority = ?, match = ?, action = ?, config = ?, "
            "updated_at = ? WHERE id = ?",
            (fields["name"], int(fields["enabled"]), priority, orjson.dumps(fields["match"]), fields["action"],
             _config_blob(fields["config"]), now_ms(), rule_id),
        )])  # fmt: skip
        return await self.get_rule(rule_id) if n else None

    async def toggle_rule(self, rule_id: str, enabled: bool | None = None) -> Rule | None:
        """Flip (or set) `enabled`."""
        value = "NOT enabled" if enabled is None else str(int(enabled))
        (n,) = await self._write_rules(
            "rules", [(f"UPDATE rules SET enabled = {value}, updated_at = ? WHERE id = ?", (now_ms(), rule_id))]
        )
        return await self.get_rule(rule_id) if n else None

    async def delete_rule(self, rule_id: str) -> bool:
        (n,) = await self._write_rules("rules", [("DELETE FROM rules WHERE id = ?", (rule_id,))])
        return n > 0

    async def reorder_rules(self, ordered_ids: list[str]) -> list[Rule]:
        """priority = position in `ordered_ids`; rules not listed follow in their current order.
        KeyError names an unknown id (nothing is changed then)."""
        current = await self.list_rules()
        known = {r.id for r in current}
        for rid in ordered_ids:
            if rid not in known:
                raise KeyError(rid)
        order = list(dict.fromkeys(ordered_ids)) + [r.id for r in current if r.id not in set(ordered_ids)]
        ts = now_ms()
        await self._write_rules(
            "rules",
            [
                ("UPDATE rules SET priority = ?, updated_at = ? WHERE id = ?", (i, ts, rid))
                for i, rid in enumerate(order)
            ],
        )
        return await self.list_rules()

    async def import_rules(self, items: list[tuple[str | None, dict[str, Any]]], replace: bool) -> dict[str, int]:
        """Save validated rules in one transaction: an item whose id exists updates that rule,
        others are created; with `replace`, every rule not in `items` is deleted."""
        existing = {r.id: r for r in await self.list_rules()}
        ts = now_ms()
        base = await self._next_priority()
        statements: list[tuple[str, Sequence[Any]]] = []
        keep: set[str] = set()
        created = updated = 0
        for n, (rid, f) in enumerate(items):
            config, match = _config_blob(f["config"]), orjson.dumps(f["match"])
            if rid is not None and rid in existing:
                prio = f["priority"] if f.get("priority") is not None else existing[rid].priority
                statements.append((
                    "UPDATE rules SET name = ?, enabled = ?, priority = ?, match = ?, action = ?, config = ?, "
                    "updated_at = ? WHERE id = ?",
                    (f["name"], int(f["enabled"]), prio, match, f["action"], config, ts, rid),
                ))  # fmt: skip
                updated += 1
            else:
                rid = rid or new_id()
                prio = f["priority"] if f.get("priority") is not None else base + n
                statements.append((
                    f"INSERT INTO rules ({RULE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (rid, f["name"], int(f["enabled"]), prio, match, f["action"], config, ts, ts),
                ))  # fmt: skip
                created += 1
            keep.add(rid)
        deleted = 0
        if replace:
            gone = [rid for rid in existing if rid not in keep]
            statements.extend(("DELETE FROM rules WHERE id = ?", (rid,)) for rid in gone)
            deleted = len(gone)
        await self._write_rules("rules", statements)
        return {"created": created, "updated": updated, "deleted": deleted}

    # ------------------------------------------------------------------ network profiles
    async def list_profiles(self) -> list[tuple[str, dict[str, Any]]]:
        """Custom profiles as (id, fields), oldest first."""
        async with self._r.execute("SELECT id, fields FROM network_profiles ORDER BY created_at, rowid") as cur:
            rows = await cur.fetchall()
        return [(r[0], orjson.loads(r[1])) for r in rows]

    async def get_profile(self, profile_id: str) -> dict[str, Any] | None:
        async with self._r.execute("SELECT fields FROM network_profiles WHERE id = ?", (profile_id,)) as cur:
            row = await cur.fetchone()
        return orjson.loads(row[0]) if row else None

    async def create_profile(self, fields: dict[str, Any]) -> str:
        pid = new_id()
        await self._write_rules(
            "network",
            [
                (
                    "INSERT INTO network_profiles (id, fields, created_at) VALUES (?, ?, ?)",
                    (pid, orjson.dumps(fields), now_ms()),
                )
            ],  # fmt: skip
        )
        return pid

    async def update_profile(self, profile_id: str, fields: dict[str, Any]) -> bool:
        (n,) = await self._write_rules(
            "network", [("UPDATE network_profiles SET fields = ? WHERE id = ?", (orjson.dumps(fields), profile_id))]
        )
        return n > 0

    async def delete_profile(self, profile_id: str) -> bool:
        """Delete a custom profile; it stops being active if it was."""
        n, _ = await self._write_rules("network", [
            ("DELETE FROM network_profiles WHERE id = ?", (profile_id,)),
            ("DELETE FROM rule_state WHERE key = ? AND value = ?", (ACTIVE_PROFILE_KEY, profile_id)),
        ])  # fmt: skip
        return n > 0

    async def active_profile_id(self) -> str | None:
        async with self._r.execute("SELECT value FROM rule_state WHERE key = ?", (ACTIVE_PROFILE_KEY,)) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row and row[0] is not None else None

    async def set_active_profile(self, profile_id: str | None) -> None:
        if profile_id is None:
            await self._write_rules("network", [("DELETE FROM rule_state WHERE key = ?", (ACTIVE_PROFILE_KEY,))])
        else:
            await self._write_rules("network", [(
                "INSERT INTO rule_state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (ACTIVE_PROFILE_KEY, profile_id),
            )])  # fmt: skip

    # ------------------------------------------------------------------ recorded responses
    async def recorded_rows(self, session_id: str) -> list[tuple[str, str, str, float]]:
        """(id, method, url, started) of a session's answered exchanges, oldest first: what a
        `replay-from` rule indexes (bodies are read only when one is served)."""
        async with self._r.execute(
            "SELECT id, method, url, started FROM entries WHERE session_id = ? AND status IS NOT NULL "
            "AND websocket IS NULL ORDER BY started, seq",
            (session_id,),
        ) as cur:
            rows = await cur.fetchall()
        return [(r[0], r[1], r[2], r[3]) for r in rows]


def _config_blob(config: dict[str, Any] | None) -> bytes | None:
    return orjson.dumps(config) if config is not None else None
