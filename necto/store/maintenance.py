"""`necto db check|vacuum|recover`: SQLite's integrity check, VACUUM, and recovery of what a
damaged database still holds. Plain blocking functions (the CLI runs them in a thread).

Recovery uses the `sqlite3` command-line shell's `.recover` when one is installed (it reads
pages directly and salvages rows even from a damaged schema); otherwise Python's sqlite3
module copies, into a fresh database with Necto's schema, every row it can still read (rows
on damaged pages are skipped, found by bisecting the row ids).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from necto.store.integrity import header_problem
from necto.store.schema import MIGRATIONS, PAGE_SIZE

# SQLite's unix VFS: every connection to a WAL database holds a shared lock on this byte of the
# -shm file (UNIX_SHM_DMS); nobody holds it once the last connection closed.
SHM_DMS_BYTE = 128
TABLES = ("sessions", "entries", "websocket_frames")  # in the order rows are copied
MAX_PROBES = 200_000  # row-id ranges tried per table before the rest is given up


def database_in_use(path: Path) -> bool:
    """Does some process (a running Necto, a command) have the database open?"""
    shm = path.with_name(path.name + "-shm")
    try:
        fd = os.open(shm, os.O_RDWR)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: assume it is
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, SHM_DMS_BYTE)
    except OSError as e:
        return e.errno in (errno.EAGAIN, errno.EACCES)
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, SHM_DMS_BYTE)
        return False
    finally:
        os.close(fd)


@contextlib.contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout=10000")
        yield db
    finally:
        db.close()


@dataclass
class CheckResult:
    ok: bool
    problems: list[str] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)


def check(path: Path, limit: int = 100) -> CheckResult:
    """SQLite's `PRAGMA integrity_check` (at most `limit` problems), plus what can be counted."""
    problem = header_problem(path)
    if problem:
        return CheckResult(False, [problem])
    result = CheckResult(True)
    try:
        with _connect(path) as db:
            rows = [r[0] for r in db.execute(f"PRAGMA integrity_check({int(limit)})")]
            if rows != ["ok"]:
                result.ok, result.problems = False, rows
            result.facts["schemaVersion"] = db.execute("PRAGMA user_version").fetchone()[0]
            result.facts["pageSize"] = db.execute("PRAGMA page_size").fetchone()[0]
            result.facts["pages"] = db.execute("PRAGMA page_count").fetchone()[0]
            result.facts["freePages"] = db.execute("PRAGMA freelist_count").fetchone()[0]
            try:
                present = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            except sqlite3.Error:
                present = set(TABLES)
            for table in TABLES:
                if table not in present:
                    continue  # an older schema
                try:
                    result.facts[table] = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                except sqlite3.Error as e:
                    result.facts[table] = f"unreadable: {e}"
    except sqlite3.Error as e:
        return CheckResult(False, [str(e)])
    if result.facts.get("schemaVersion", 0) > len(MIGRATIONS):  # type: ignore[operator]
        result.ok = False
        result.problems.append(
            f"schema version {result.facts['schemaVersion']} is newer than this Necto reads ({len(MIGRATIONS)})"
        )
    return result


def vacuum(path: Path) -> tuple[int, int]:
    """VACUUM (rewrites the file without free pages); returns the size before and after."""
    before = path.stat().st_size
    with _connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return before, path.stat().st_size


# ---------------------------------------------------------------------------- recovery
@dataclass
class Recovery:
    output: Path
    method: str  # "sqlite3 .recover" or "python"
    rows: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)  # rows that could not be read (python)
    lost_and_found: int = 0  # rows .recover could not place in a table
    usable: bool = True  # has Necto's tables: can replace the damaged file
    note: str = ""


def sqlite_shell() -> str | None:
    """The sqlite3 shell, if it is recent enough to have `.recover` (3.29)."""
    exe = shutil.which("sqlite3")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.match(r"(\d+)\.(\d+)", out.strip())
    return exe if m and (int(m.group(1)), int(m.group(2))) >= (3, 29) else None


def recover(path: Path, output: Path, use_shell: bool = True) -> Recovery:
    """Write what `path` still holds into the new database `output` (which must not exist)."""
    if output.exists():
        raise FileExistsError(f"{output} exists already: move it away or choose another -o")
    shell = sqlite_shell() if use_shell else None
    if shell:
        result = _recover_with_shell(shell, path, output)
        _finish(output, result)
        if result.usable and not result.note:
            return result
        # Older shells fail on some files (3.40's .recover on 32 KiB pages): copy instead.
        output.unlink(missing_ok=True)
        failed = result.note or "it rebuilt none of Necto's tables"
        result = _recover_with_python(path, output)
        result.note = f"sqlite3 .recover failed ({failed}); copied with Python instead"
    else:
        result = _recover_with_python(path, output)
    _finish(output, result)
    return result


def _recover_with_shell(shell: str, path: Path, output: Path) -> Recovery:
    dump = subprocess.Popen([shell, str(path), ".recover"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    load = subprocess.run([shell, str(output)], stdin=dump.stdout, capture_output=True, timeout=None)
    assert dump.stdout is not None
    dump.stdout.close()
    _, dump_err = dump.communicate()
    errors = (dump_err + (load.stderr or b"")).decode(errors="replace").strip()
    if dump.returncode != 0 or load.returncode != 0 or "error" in errors.lower():
        return Recovery(output, "sqlite3 .recover", note=errors.splitlines()[0] if errors else "failed")
    if not output.exists():
        sqlite3.connect(output).close()
    return Recovery(output, "sqlite3 .recover")


def _recover_with_python(path: Path, output: Path) -> Recovery:
    result = Recovery(output, "python")
    with _connect(output) as out:
        out.execute(f"PRAGMA page_size={PAGE_SIZE}")
        for i, script in enumerate(MIGRATIONS, 1):
            out.executescript("BEGIN;\n" + script + f"\nPRAGMA user_version = {i};\nCOMMIT;")
        try:
            src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        except sqlite3.Error as e:
            raise RuntimeError(
                f"SQLite cannot read {path} at all ({e}); install the sqlite3 shell for .recover"
            ) from None
        try:
            for table in TABLES:
                copied, skipped = _copy_table(src, out, table)
                result.rows[table], result.skipped[table] = copied, skipped
        finally:
            src.close()
    return result


def _copy_table(src: sqlite3.Connection, out: sqlite3.Connection, table: str) -> tuple[int, int]:
    """Copy every readable row, by rowid ranges; a range that fails is halved until the
    unreadable rows are isolated and skipped. (`websocket_frames` has no rowid: all or none.)"""
    try:
        src_cols = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
    except sqlite3.Error:
        return 0, 0
    out_cols = {r[1] for r in out.execute(f"PRAGMA table_info({table})")}
    cols = [c for c in src_cols if c in out_cols]
    if not cols:
        return 0, 0
    names = ", ".join(cols)
    insert = f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({', '.join('?' * len(cols))})"
    copied = skipped = 0

    def put(rows: list[tuple[object, ...]]) -> None:
        nonlocal copied, skipped
        for row in rows:
            try:
                out.execute(insert, row)
                copied += 1
            except sqlite3.Error:
                skipped += 1

    out.execute("BEGIN")
    try:
        if table == "websocket_frames":
            try:
                put(src.execute(f"SELECT {names} FROM {table}").fetchall())
            except sqlite3.Error:
                pass
            return copied, skipped
        try:
            lo, hi = src.execute(f"SELECT MIN(rowid), MAX(rowid) FROM {table}").fetchone()
        except sqlite3.Error:
            lo, hi = 1, 1 << 40  # the index is damaged: probe the whole range
        if lo is None:
            return 0, 0
        stack = [(int(lo), int(hi))]
        probes = 0
        while stack and probes < MAX_PROBES:
            probes += 1
            a, b = stack.pop()
            try:
                put(src.execute(f"SELECT {names} FROM {table} WHERE rowid BETWEEN ? AND ?", (a, b)).fetchall())
            except sqlite3.Error:
                if a == b:
                    skipped += 1
                else:
                    mid = (a + b) // 2
                    stack += [(mid + 1, b), (a, mid)]
    finally:
        out.execute("COMMIT")
    return copied, skipped


def _finish(output: Path, result: Recovery) -> None:
    """Count what the new database holds and make it one Necto opens as it is."""
    with _connect(output) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in TABLES:
            if table in tables:
                result.rows[table] = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        if "lost_and_found" in tables:
            result.lost_and_found = db.execute("SELECT COUNT(*) FROM lost_and_found").fetchone()[0]
        result.usable = {"sessions", "entries"} <= tables
        if result.usable and db.execute("PRAGMA user_version").fetchone()[0] == 0:
            # .recover keeps the tables but not the version: say which migrations they are.
            db.execute(f"PRAGMA user_version = {2 if 'websocket_frames' in tables else 1}")
        db.execute("PRAGMA journal_mode=WAL")
    os.chmod(output, 0o600)


def replace_with(damaged: Path, recovered: Path) -> Path:
    """Move the damaged file (and its -wal/-shm) aside and the recovered one into its place;
    returns where the damaged file went."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = damaged.with_name(f"{damaged.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        p = damaged.with_name(damaged.name + suffix)
        if p.exists():
            p.rename(aside.with_name(aside.name + suffix))
    recovered.rename(damaged)
    return aside
