"""Necto's recorder inside a plain `mitmdump -s addons/necto_recorder.py`.

mitmdump owns the loop and the proxy; we only add DNS timing and the recorder, and open the
same store (`--set necto_home=DIR`, else NECTO_HOME or ~/.necto) when mitmdump starts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mitmproxy import ctx

from necto.capture.connections import ConnectionTracker
from necto.capture.recorder import Recorder
from necto.config import default_data_dir
from necto.model import Entry
from necto.store import Finish, Frames, Pending, Store

EARLY = "necto-early"  # placeholder session id, replaced when the store opens


class StoreLifecycle:
    def __init__(self) -> None:
        self.store: Store | None = None
        # mitmdump may accept traffic before `running` has opened the store; keep it.
        self._early: list[Pending] = []

    def load(self, loader: Any) -> None:
        loader.add_option("necto_home", str, "", "Necto data directory (default: NECTO_HOME or ~/.necto)")
        loader.add_option("necto_max_body_size", int, -1, "keep at most this many bytes per body")

    async def running(self) -> None:
        home = Path(ctx.options.necto_home) if ctx.options.necto_home else default_data_dir()
        store = await Store.open(home / "necto.db")
        recorder.max_body_size = ctx.options.necto_max_body_size
        recorder.bodies = store.bodies  # long decoded bodies go to the body store
        self.store = store
        session_id = store.capture_session_id
        if session_id is not None:
            for item in self._early:
                store.record(_retarget(item, session_id))
        self._early.clear()

    async def done(self) -> None:
        if self.store is not None:
            await self.store.close()
            self.store = None

    def sink(self, item: Pending) -> None:
        if self.store is not None:
            self.store.record(item)
        else:
            self._early.append(item)

    def target(self) -> str | None:
        if self.store is None:
            return EARLY
        return self.store.capture_session_id


def _retarget(item: Pending, session_id: str) -> Pending:
    """A capture queued before the store opened, recorded into `session_id`."""
    if isinstance(item, Frames):
        return item
    if isinstance(item, Finish):
        return Finish(functools.partial(_rebuild, item.build, session_id))
    return functools.partial(_rebuild, item, session_id)


def _rebuild(item: Entry | Callable[[], Entry | None], session_id: str) -> Entry | None:
    entry = item if isinstance(item, Entry) else item()
    if entry is not None:
        entry.session_id = session_id
    return entry


lifecycle = StoreLifecycle()
tracker = ConnectionTracker()
recorder = Recorder(sink=lifecycle.sink, target=lifecycle.target, tracker=tracker)
addons = [lifecycle, tracker, recorder]
