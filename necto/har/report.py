"""What a HAR parse found (header facts, counts, warnings, skipped entries) and the error
that rejects a whole file. Severities follow ../shared/har-notes.md.

Every warning and skip is counted and grouped by kind (`{path pattern, message, count, first
indexes}`, so 640 warnings read as 3 lines); the first `MAX_DETAILED` are kept one by one, and
an import also hands every one to the store (`take_pending`), where they are paged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

MAX_DETAILED = 200  # warnings and skips listed one by one in an answer
MAX_GROUPS = 500  # kinds of warning told apart; the rest are counted under one
FIRST_INDEXES = 5


VALIDATE_ERRORS = {
    "json": "Invalid JSON format",
    "log": "Missing log property",
    "entries": "Missing or invalid entries array",
    "unusable": "Missing or invalid entries array",
}


IMPORT_ERRORS = {
    "json": "Invalid HAR file format",
    "log": "Invalid HAR structure",
    "entries": "Invalid HAR structure",
    "empty": "Invalid HAR structure",
    "unusable": "Invalid HAR structure",
}


class HarError(Exception):
    """The file as a whole cannot be used (or, for an import, holds nothing to import).

    `kind`: json, log, entries; empty (no entries: valid, but an import refuses it) and
    unusable (every entry would be skipped). `detail` says what was wrong in words;
    `extra` adds fields to the error answer (the skipped entries)."""

    def __init__(self, kind: str, detail: str = "", extra: dict[str, Any] | None = None) -> None:
        head = VALIDATE_ERRORS.get(kind) or IMPORT_ERRORS[kind]
        super().__init__(f"{head}: {detail}" if detail else head)
        self.kind = kind
        self.detail = detail
        self.extra = extra or {}

    @property
    def validate_message(self) -> str:
        return VALIDATE_ERRORS.get(self.kind) or IMPORT_ERRORS[self.kind]

    @property
    def import_message(self) -> str:
        return IMPORT_ERRORS[self.kind]

    def body(self, validate: bool = False) -> dict[str, Any]:
        """The JSON error answer (`{"error", "detail"?, ...}`; validate adds `valid: false`)."""
        out: dict[str, Any] = {"valid": False} if validate else {}
        out["error"] = self.validate_message if validate else self.import_message
        if self.detail:
            out["detail"] = self.detail
        out.update(self.extra)
        return out


_INDEX = re.compile(r"\[\d+\]")
_VALUE = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|(?<![\w/.])-?\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![\w.])")


def path_pattern(path: str) -> str:
    """`log.entries[12].response.headers[3]` -> `log.entries[*].response.headers[*]`."""
    return _INDEX.sub("[*]", path)


def message_template(message: str) -> str:
    """A message with its quoted values and numbers as `…`: what warnings of one kind share."""
    return _VALUE.sub("…", message)


@dataclass
class Report:
    """What a parse found: header facts, counts, warnings and skipped entries.

    With `keep_all`, every warning and skip is also queued as a row for the store
    (`take_pending`); otherwise only counts, groups and the first `MAX_DETAILED` are kept."""

    version: str = "1.2"
    creator: dict[str, Any] = field(default_factory=lambda: {"name": "Unknown", "version": ""})
    total: int = 0
    imported: int = 0
    warnings: list[dict[str, Any]] = field(default_factory=list)
    warning_count: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    skipped_count: int = 0
    keep_all: bool = False
    # what an export gives back: the file's pages and log fields (browser, comment, `_` fields)
    pages: list[dict[str, Any]] = field(default_factory=list)
    log: dict[str, Any] = field(default_factory=dict)
    _groups: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _skip_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    _pending: list[tuple[int, int, int | None, str, str]] = field(default_factory=list)
    _n: int = 0

    def warn(self, path: str, message: str, index: int | None = None) -> None:
        self.warning_count += 1
        if len(self.warnings) < MAX_DETAILED:
            w: dict[str, Any] = {"path": path, "message": message}
            if index is not None:
                w["index"] = index
            self.warnings.append(w)
        key = (path_pattern(path), message_template(message))
        group = self._groups.get(key)
        if group is None:
            if len(self._groups) >= MAX_GROUPS:
                key = ("", "other warnings")
                group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = {"path": key[0], "message": key[1], "count": 0,
                                             "firstIndexes": [], "example": message}  # fmt: skip
        group["count"] += 1
        if index is not None and len(group["firstIndexes"]) < FIRST_INDEXES:
            group["firstIndexes"].append(index)
        self._queue(0, index, path, message)

    def skip(self, index: int, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < MAX_DETAILED:
            self.skipped.append({"index": index, "reason": reason})
        group = self._skip_groups.get(reason)
        if group is None and len(self._skip_groups) < MAX_GROUPS:
            group = self._skip_groups[reason] = {"reason": reason, "count": 0, "firstIndexes": []}
        if group is not None:
            group["count"] += 1
            if len(group["firstIndexes"]) < FIRST_INDEXES:
                group["firstIndexes"].append(index)
        self._queue(1, index, f"log.entries[{index}]", reason)

    def _queue(self, skipped: int, index: int | None, path: str, message: str) -> None:
        if self.keep_all:
            self._pending.append((self._n, skipped, index, path, message))
        self._n += 1

    def take_pending(self) -> list[tuple[int, int, int | None, str, str]]:
        """Warnings and skips found since the last call, as store rows (n, skipped, index, path, message)."""
        out, self._pending = self._pending, []
        return out

    def warning_groups(self) -> list[dict[str, Any]]:
        return sorted(self._groups.values(), key=lambda g: -g["count"])

    def skipped_groups(self) -> list[dict[str, Any]]:
        return sorted(self._skip_groups.values(), key=lambda g: -g["count"])

    def summary_json(self) -> dict[str, Any]:
        """Warnings and skips as an answer carries them: the first ones, counts and groups."""
        out: dict[str, Any] = {}
        if self.skipped_count:
            out["skipped"] = self.skipped
            out["skippedCount"] = self.skipped_count
            if self.skipped_count > 1:
                out["skippedGroups"] = self.skipped_groups()
        if self.warning_count:
            out["warnings"] = self.warnings
            out["warningCount"] = self.warning_count
            out["warningGroups"] = self.warning_groups()
        return out

    def validation_json(self) -> dict[str, Any]:
        """The body of a 200 from POST /api/har/validate."""
        warnings = list(self.warnings)
        for s in self.skipped:
            warnings.append(
                {"path": f"log.entries[{s['index']}]", "index": s["index"],
                 "message": f"entry would be skipped: {s['reason']}"}
            )  # fmt: skip
        out = {
            "valid": True,
            "version": self.version,
            "creator": self.creator,
            "entryCount": self.total,
            "warnings": warnings,
            "warningCount": self.warning_count + self.skipped_count,
        }
        if self.warning_count:
            out["warningGroups"] = self.warning_groups()
        if self.skipped_count:
            out["skippedGroups"] = self.skipped_groups()
        return out
