"""The body store: large bodies as content-addressed files beside the database.

A body larger than `INLINE_MAX` is not written into its entry's row (where SQLite would write
it twice, to the WAL and again at the checkpoint) but once, to `bodies/<aa>/<sha256>` under the
data directory; the row names it. The same bytes are stored once however many entries carry
them (the JS bundle a page loads fifty times).

Writing happens in two steps so that a file never exists without a row that names it, except
for the moment a crash can leave (swept at the next start):

1. While a body arrives it is spooled (`Spool`): kept in memory up to `INLINE_MAX`, then in a
   temporary file `bodies/tmp/<pid>-<random>`, hashed as it comes.
2. The writer that inserts the row puts the file in place (`place`) inside the same write
   transaction, after the INSERT took SQLite's write lock. Removing files that nothing names
   any more (`necto.store.bodyfiles`) also happens while holding that lock, so no other writer,
   in this process or another, can dedupe against a file that is about to go.

Plain blocking functions: callers run them in worker threads (or, for the tap, in small steps).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from necto.model import BodyFile

INLINE_MAX = 64 * 1024  # bodies up to this size stay in the row
TMP = "tmp"
READ_CHUNK = 1 << 20


def bodies_dir(db_path: Path) -> Path:
    """`<data dir>/bodies` for the usual `necto.db`; `<name>-bodies` beside any other database
    file, so two databases in one directory never share (and collect) each other's files."""
    return db_path.parent / ("bodies" if db_path.name == "necto.db" else f"{db_path.stem}-bodies")


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def is_hash(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


class BodyStore:
    """The files of one database's body store (see the module doc)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / TMP

    def ensure(self) -> None:
        _private_dir(self.root)
        _private_dir(self.tmp)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    # ------------------------------------------------------------------ writing
    def spool(self, cap: int = -1, inline_max: int = INLINE_MAX) -> Spool:
        return Spool(self, cap, inline_max)

    def new_temp(self) -> tuple[str, int]:
        """A fresh temporary file (path, descriptor), private to its owner."""
        name = self.tmp / f"{os.getpid()}-{secrets.token_hex(8)}"
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileNotFoundError:
            self.ensure()
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        return str(name), fd

    def place(self, body: BodyFile) -> bool:
        """Put a pending body in place (call it inside the write transaction of the row that
        names it). True when this call created the file (undo with `unlink` on rollback)."""
        pending, body.pending = body.pending, None
        final = self.path(body.sha256)
        if final.exists():
            if isinstance(pending, str):
                _remove(pending)
            return False
        if pending is None:
            raise FileNotFoundError(f"body {body.sha256} is neither in the body store nor given")
        if isinstance(pending, bytes):
            temp, fd = self.new_temp()
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(pending)
            except BaseException:
                _remove(temp)
                raise
            pending = temp
        try:
            os.rename(pending, final)
        except FileNotFoundError:
            if not os.path.exists(pending):
                raise
            _private_dir(final.parent)
            os.rename(pending, final)
        return True

    def discard(self, body: BodyFile | None) -> None:
        """Forget a pending body that will not be written (its temporary file goes)."""
        if body is not None and isinstance(body.pending, str):
            _remove(body.pending)
        if body is not None:
            body.pending = None

    def unlink(self, sha256: str) -> bool:
        try:
            os.unlink(self.path(sha256))
            return True
        except FileNotFoundError:
            return False

    # ------------------------------------------------------------------ reading
    def open(self, body: BodyFile) -> BinaryIO:
        return open(self.path(body.sha256), "rb")

    def size(self, body: BodyFile) -> int | None:
        """The file's size (None when it is missing)."""
        try:
            return self.path(body.sha256).stat().st_size
        except FileNotFoundError:
            return None

    def read(self, body: BodyFile) -> bytes | None:
        """The body's bytes; None when its file is missing (or, when the size is known, not that
        size: a crash of the machine before the OS wrote it)."""
        if isinstance(body.pending, bytes):
            return body.pending
        try:
            with self.open(body) as f:
                data = f.read()
        except FileNotFoundError:
            return None
        return data if body.size < 0 or len(data) == body.size else None

    # ------------------------------------------------------------------ sweeping
    def files(self) -> Iterator[str]:
        """Hashes of every body file present."""
        try:
            shards = list(os.scandir(self.root))
        except FileNotFoundError:
            return
        for shard in shards:
            if len(shard.name) != 2 or not shard.is_dir(follow_symlinks=False):
                continue
            for f in os.scandir(shard.path):
                if is_hash(f.name) and f.name.startswith(shard.name):
                    yield f.name

    def stale_temps(self, alive: set[int] | None = None) -> list[Path]:
        """Temporary files of processes that no longer run (a crash mid-body)."""
        from necto.store.staging import pid_alive

        out: list[Path] = []
        try:
            entries = list(os.scandir(self.tmp))
        except FileNotFoundError:
            return out
        for f in entries:
            pid, _, _ = f.name.partition("-")
            if pid.isdigit() and (int(pid) in alive if alive is not None else pid_alive(int(pid))):
                continue
            out.append(Path(f.path))
        return out


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class Spool:
    """A body written in pieces: in memory up to `inline_max`, then in a temporary file of the
    body store, hashed as it comes. Keeps at most `cap` bytes (-1: all); what comes after is
    only counted (`seen`), and `truncated` says so. Used by one thread at a time."""

    __slots__ = (
        "store",
        "cap",
        "inline_max",
        "seen",
        "kept",
        "_buf",
        "_fd",
        "_temp",
        "_hash",
        "_done",
        "_finalizer",
        "__weakref__",
    )

    def __init__(self, store: BodyStore | None, cap: int = -1, inline_max: int = INLINE_MAX) -> None:
        self.store = store  # None: never spills (inline_max must then hold everything kept)
        self.cap = cap
        self.inline_max = inline_max
        self.seen = 0
        self.kept = 0
        self._buf = bytearray()
        self._fd: int | None = None
        self._temp: str | None = None
        self._hash = hashlib.sha256()
        self._done = False
        self._finalizer: weakref.finalize[..., Spool] | None = None

    @property
    def truncated(self) -> bool:
        return self.seen > self.kept

    @property
    def full(self) -> bool:
        return 0 <= self.cap <= self.kept

    def write(self, data: bytes | bytearray | memoryview) -> None:
        n = len(data)
        if not n or self._done:
            return
        self.seen += n
        if self.cap >= 0:
            room = self.cap - self.kept
            if room <= 0:
                return
            if n > room:
                data, n = memoryview(data)[:room], room
        self.kept += n
        self._hash.update(data)
        if self._fd is not None:
            _write_all(self._fd, data)
            return
        self._buf += data
        if len(self._buf) > self.inline_max and self.store is not None:
            self._spill()

    def _spill(self) -> None:
        assert self.store is not None
        self._temp, self._fd = self.store.new_temp()
        self._finalizer = weakref.finalize(self, _close_and_remove, self._fd, self._temp)
        _write_all(self._fd, self._buf)
        self._buf = bytearray()

    def result(self) -> bytes | BodyFile:
        """What was kept: the bytes (small), or a pending BodyFile for the writer to place."""
        self._done = True
        if self._fd is None:
            return bytes(self._buf)
        assert self._temp is not None and self._finalizer is not None
        self._finalizer.detach()
        os.close(self._fd)
        self._fd = None
        return BodyFile(self._hash.hexdigest(), self.kept, pending=self._temp)

    def discard(self) -> None:
        self._done = True
        self._buf = bytearray()
        if self._finalizer is not None:
            self._finalizer()
        self._fd = None


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _close_and_remove(fd: int, path: str) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
    _remove(path)


def body_file_for(data: bytes) -> BodyFile:
    """A pending BodyFile for bytes already in memory (imports, buffered captures)."""
    return BodyFile(hashlib.sha256(data).hexdigest(), len(data), pending=data)
