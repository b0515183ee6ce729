"""What the proxy applies right now: the compiled enabled breakpoints.

The proxy asks `stale()` on every request (an integer comparison plus the store's throttled
outside-change probe) and awaits `reload()` when something changed, so a breakpoint added
through the API or the CLI (another process) catches the very next request.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from necto.breakpoints.model import CompiledBreakpoint, compile_breakpoint
from necto.match import MatchIndex

log = logging.getLogger(__name__)


class BreakpointBook:
    def __init__(self, store: Any) -> None:
        self.store = store
        self.breakpoints: list[CompiledBreakpoint] = []
        # Those that pause requests, and responses: indexed by the host (or path) they pin.
        self.requests: MatchIndex[CompiledBreakpoint] = MatchIndex()
        self.responses: MatchIndex[CompiledBreakpoint] = MatchIndex()
        self._generation = -1
        self._lock = asyncio.Lock()

    def stale(self) -> bool:
        self.store.check_outside_breakpoints()
        return self._generation != self.store.breakpoints_generation

    async def reload(self) -> None:
        async with self._lock:
            generation = self.store.breakpoints_generation
            if generation == self._generation:
                return
            compiled = []
            for bp in await self.store.list_breakpoints(enabled_only=True):
                try:
                    compiled.append(compile_breakpoint(bp))
                except Exception as e:  # one that cannot apply must not stop the others
                    log.warning("breakpoint %r (%s) is not applied: %s", bp.name, bp.id, e)
            self.breakpoints = compiled
            self.requests = MatchIndex(c for c in compiled if "request" in c.phases)
            self.responses = MatchIndex(c for c in compiled if "response" in c.phases)
            self._generation = generation
