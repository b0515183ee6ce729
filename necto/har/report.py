"""What a HAR parse found (header facts, counts, warnings, skipped entries) and the error
that rejects a whole file. Severities follow ../shared/har-notes.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_DETAILED = 200  # warnings and skips listed one by one; the rest are only counted


VALIDATE_ERRORS = {
    "json": "Invalid JSON format",
    "log": "Missing log property",
    "entries": "Missing or invalid entries array",
}


IMPORT_ERRORS = {
    "json": "Invalid HAR file format",
    "log": "Invalid HAR structure",
    "entries": "Invalid HAR structure",
}


class HarError(Exception):
    """The file as a whole cannot be used. `kind` is json, log or entries."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{VALIDATE_ERRORS[kind]}: {detail}" if detail else VALIDATE_ERRORS[kind])
        self.kind = kind
        self.detail = detail

    @property
    def validate_message(self) -> str:
        return VALIDATE_ERRORS[self.kind]

    @property
    def import_message(self) -> str:
        return IMPORT_ERRORS[self.kind]


@dataclass
class Report:
    """What a parse found: header facts, counts, warnings and skipped entries."""

    version: str = "1.2"
    creator: dict[str, Any] = field(default_factory=lambda: {"name": "Unknown", "version": ""})
    total: int = 0
    imported: int = 0
    warnings: list[dict[str, Any]] = field(default_factory=list)
    warning_count: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    skipped_count: int = 0

    def warn(self, path: str, message: str, index: int | None = None) -> None:
        self.warning_count += 1
        if len(self.warnings) < MAX_DETAILED:
            w: dict[str, Any] = {"path": path, "message": message}
            if index is not None:
                w["index"] = index
            self.warnings.append(w)

    def skip(self, index: int, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < MAX_DETAILED:
            self.skipped.append({"index": index, "reason": reason})

    def warnings_json(self) -> list[dict[str, Any]]:
        out = list(self.warnings)
        if self.warning_count > len(self.warnings):
            out.append(
                {"path": "log", "message": f"... and {self.warning_count - len(self.warnings)} more warnings"}
            )
        return out

    def validation_json(self) -> dict[str, Any]:
        """The body of a 200 from POST /api/har/validate."""
        warnings = self.warnings_json()
        for s in self.skipped:
            warnings.append(
                {"path": f"log.entries[{s['index']}]", "index": s["index"],
                 "message": f"entry would be skipped: {s['reason']}"}
            )  # fmt: skip
        return {
            "valid": True,
            "version": self.version,
            "creator": self.creator,
            "entryCount": self.total,
            "warnings": warnings,
            "warningCount": self.warning_count + self.skipped_count,
        }
