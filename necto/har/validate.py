"""HAR validation: the errors that reject a file and the warnings that do not.

Validation is the import's parse with no store behind it (`necto.har.reader.HarReader`), so
what `validate` says is exactly what `import` will do. Severities follow the table in
../shared/har-notes.md; every warning names its field path (and entry index when it has one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO

from necto.har.reader import HarReader
from necto.har.report import HarError, Report

__all__ = ["HarError", "Report", "validate_har"]


def validate_har(
    open_file: Callable[[], IO[bytes]],
    progress: Callable[[int], None] | None = None,
    on_warning: Callable[[tuple[int, int, int | None, str, str]], None] | None = None,
) -> Report:
    """Parse the whole file exactly as an import would, storing nothing. Raises HarError.
    `on_warning` hears every warning and skip as it is found (`necto validate --warnings all`).

    Blocking (CPU and file I/O): call it in a worker thread from async code."""
    reader = HarReader(open_file, session_id="", progress=progress, keep_all=on_warning is not None)
    for _batch in reader.batches():
        if on_warning is not None:
            for row in reader.report.take_pending():
                on_warning(row)
    if on_warning is not None:
        for row in reader.report.take_pending():
            on_warning(row)
    return reader.report
