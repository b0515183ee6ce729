"""What the proxy applies right now: the compiled enabled rules and the active network profile.

The proxy asks `stale()` on every request (an integer comparison plus the store's throttled
outside-change probe) and awaits `reload()` when something changed, so a change made through
the API or by another process applies to the very next request. Recordings behind
`replay-from` rules are kept across reloads while their rule is unchanged, so the Nth-call
counters survive edits to other rules.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from necto.network import PRESET_BY_ID, PRESETS, Profile, profile_from_fields
from necto.rules.engine import CompiledRule, RuleSet, compile_rule
from necto.rules.model import Rule
from necto.rules.recorded import Recording
from necto.rules.sources import load_recording

log = logging.getLogger(__name__)


async def resolve_profile(store: Any, profile_id: str | None) -> Profile | None:
    if profile_id is None:
        return None
    if profile_id in PRESET_BY_ID:
        return PRESET_BY_ID[profile_id]
    fields = await store.get_profile(profile_id)
    return profile_from_fields(profile_id, fields) if fields is not None else None


class RuleBook:
    def __init__(self, store: Any) -> None:
        self.store = store
        self.rules = RuleSet()
        self.profile: Profile | None = None  # None also when the active profile changes nothing
        self.active: Profile | None = None  # the active profile as stored (even "No Throttling")
        self.errors: dict[str, str] = {}  # rule id -> why it is not applied
        self._generation = -1
        self._lock = asyncio.Lock()
        self._recordings: dict[tuple[str, int], Recording] = {}

    def stale(self) -> bool:
        self.store.check_outside_rules()
        return self._generation != self.store.rules_generation

    async def reload(self) -> None:
        async with self._lock:
            generation = self.store.rules_generation
            if generation == self._generation:
                return
            rules: list[Rule] = await self.store.list_rules(enabled_only=True)
            compiled: list[CompiledRule] = []
            errors: dict[str, str] = {}
            recordings: dict[tuple[str, int], Recording] = {}
            for i, rule in enumerate(rules):
                try:
                    cr = compile_rule(rule, i)
                    if rule.action == "replay-from":
                        key = (rule.id, rule.updated_at)
                        rec = self._recordings.get(key)
                        if rec is None:
                            rec = await load_recording(self.store, cr.config)
                        recordings[key] = cr.recording = rec
                except Exception as e:  # a rule that cannot apply must not stop the others
                    errors[rule.id] = str(e)
                    log.warning("rule %r (%s) is not applied: %s", rule.name, rule.id, e)
                    continue
                compiled.append(cr)
            self.active = await resolve_profile(self.store, await self.store.active_profile_id())
            self.profile = None if self.active is None or self.active.is_noop else self.active
            self.rules = RuleSet(compiled)
            self.errors = errors
            self._recordings = recordings
            self._generation = generation


async def all_profiles(store: Any) -> list[Profile]:
    """The presets, then the custom profiles (oldest first)."""
    return [*PRESETS, *(profile_from_fields(pid, f) for pid, f in await store.list_profiles())]


async def find_profile(store: Any, key: str) -> Profile | None:
    """A profile by id, else by name (case-insensitive): what the CLI accepts."""
    profiles = await all_profiles(store)
    for p in profiles:
        if p.id == key:
            return p
    low = key.strip().lower()
    return next((p for p in profiles if p.name.lower() == low), None)
