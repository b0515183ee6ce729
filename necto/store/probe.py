"""Noticing a change another process committed to a version counter in `rule_state`.

Rules and breakpoints each keep a version there, bumped in the same transaction as a change.
The proxy asks on every request whether they moved; this answers in microseconds: at most every
few milliseconds it asks a private SQLite connection for `PRAGMA data_version` (which changes
only when another connection committed, and never waits for a lock), and only then reads the
versions, all of them in one query.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("necto.store")

OUTSIDE_CHECK_SECONDS = 0.005


class OutsideVersions:
    """The `rule_state` versions, watched for changes committed by other connections: one
    private connection and one `PRAGMA data_version` per interval serve every key (rules and
    breakpoints ask on every request)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: dict[str, int] = {}  # per key, the version last reported
        self._versions: dict[str, int] = {}
        self._db: sqlite3.Connection | None = None
        self._data_version: int | None = None
        self._at = 0.0

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._at < OUTSIDE_CHECK_SECONDS:
            return
        self._at = now
        try:
            if self._db is None:
                self._db = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
            (data_version,) = self._db.execute("PRAGMA data_version").fetchone()
            if data_version == self._data_version:
                return
            rows = self._db.execute("SELECT key, value FROM rule_state").fetchall()
            self._data_version = data_version
        except sqlite3.Error as e:
            log.debug("rule_state probe: %s", e)
            return
        self._versions = {k: v for k, v in rows if isinstance(v, int)}  # (other keys hold other values)

    def moved(self, key: str) -> bool:
        """Did another process move `key`'s version since we last saw it? (Throttled; a busy
        or closed database answers False and the next request asks again.)"""
        self._refresh()
        version = self._versions.get(key, 0)
        if version == self.seen.get(key, -1):
            return False
        self.seen[key] = version
        return True

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class VersionProbe:
    """One `rule_state` key of the store's OutsideVersions."""

    def __init__(self, versions: OutsideVersions, key: str) -> None:
        self.versions, self.key = versions, key

    @property
    def seen(self) -> int:
        return self.versions.seen.get(self.key, -1)

    @seen.setter
    def seen(self, version: int) -> None:
        self.versions.seen[self.key] = version

    def moved(self) -> bool:
        return self.versions.moved(self.key)

    def close(self) -> None:
        self.versions.close()


class ProbeSlot:
    """A store attribute holding a VersionProbe for `key`, made on first use (the store's
    mixins have no __init__ of their own); every slot of a store shares one OutsideVersions."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.attr = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.attr = f"_{name}_probe"

    def __get__(self, store: Any, owner: type | None = None) -> VersionProbe:
        probe = store.__dict__.get(self.attr)
        if probe is None:
            versions = store.__dict__.get("_outside_versions")
            if versions is None:
                versions = store.__dict__["_outside_versions"] = OutsideVersions(store.path)
            probe = store.__dict__[self.attr] = VersionProbe(versions, self.key)
        return probe
