"""Noticing a change another process committed to a version counter in `rule_state`.

Rules and breakpoints each keep a version there, bumped in the same transaction as a change.
The proxy asks on every request whether it moved; this answers in microseconds: at most every
few milliseconds it asks a private SQLite connection for `PRAGMA data_version` (which changes
only when another connection committed, and never waits for a lock), and only then reads the
version.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("necto.store")

OUTSIDE_CHECK_SECONDS = 0.005


class VersionProbe:
    """One `rule_state` key, watched for changes committed by other connections."""

    def __init__(self, path: Path, key: str) -> None:
        self.path, self.key = path, key
        self.seen = -1  # the version last seen (ours or another process's)
        self._db: sqlite3.Connection | None = None
        self._data_version: int | None = None
        self._at = 0.0

    def moved(self) -> bool:
        """Did another process move the version since we last saw it? (Throttled; a busy or
        closed database answers False and the next request asks again.)"""
        now = time.monotonic()
        if now - self._at < OUTSIDE_CHECK_SECONDS:
            return False
        self._at = now
        try:
            if self._db is None:
                self._db = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
            (data_version,) = self._db.execute("PRAGMA data_version").fetchone()
            if data_version == self._data_version:
                return False
            self._data_version = data_version
            found = self._db.execute("SELECT value FROM rule_state WHERE key = ?", (self.key,)).fetchone()
        except sqlite3.Error as e:
            log.debug("%s probe: %s", self.key, e)
            return False
        version = int(found[0]) if found else 0
        if version == self.seen:
            return False
        self.seen = version
        return True

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class ProbeSlot:
    """A store attribute holding a VersionProbe for `key`, made on first use (the store's
    mixins have no __init__ of their own)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.attr = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.attr = f"_{name}_probe"

    def __get__(self, store: Any, owner: type | None = None) -> VersionProbe:
        probe = store.__dict__.get(self.attr)
        if probe is None:
            probe = store.__dict__[self.attr] = VersionProbe(store.path, self.key)
        return probe
