"""Temporary files for HAR uploads: named after the process that owns them, so the leftovers
of a process that died mid-import (kill -9, a crash) are removed at the next start."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from necto.store.staging import pid_alive

_NAME = re.compile(r"^upload-(?:(\d+)-)?.*\.har$")


def new_upload_file(tmpdir: Path) -> tuple[int, Path]:
    """An open descriptor and the path of a new, private temp file for an upload."""
    tmpdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f"upload-{os.getpid()}-", suffix=".har", dir=tmpdir)
    return fd, Path(name)


def remove_stale_uploads(tmpdir: Path) -> int:
    """Remove upload files whose process is gone (files from before pids were in the name
    have no owner to ask: they are removed too). Returns how many were removed."""
    removed = 0
    try:
        names = os.listdir(tmpdir)
    except OSError:
        return 0
    for name in names:
        m = _NAME.match(name)
        if m is None or (m.group(1) and pid_alive(int(m.group(1)))):
            continue
        try:
            (tmpdir / name).unlink()
            removed += 1
        except OSError:
            pass
    return removed
