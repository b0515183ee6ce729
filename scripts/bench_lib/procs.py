"""Child processes in their own process groups, always killed; /proc readings; free ports."""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_children: list[subprocess.Popen[Any]] = []


def spawn(argv: Sequence[str], log: Path | None = None, **kw: Any) -> subprocess.Popen[Any]:
    out: Any = open(log, "ab") if log is not None else subprocess.DEVNULL
    kw.setdefault("stdout", out)
    kw.setdefault("stderr", subprocess.STDOUT if log is not None else subprocess.DEVNULL)
    kw.setdefault("stdin", subprocess.DEVNULL)
    proc = subprocess.Popen(list(argv), start_new_session=True, **kw)
    _children.append(proc)
    return proc


def kill(proc: subprocess.Popen[Any] | None, grace: float = 5.0) -> None:
    """SIGTERM the child's whole process group, SIGKILL it after `grace` seconds."""
    if proc is None:
        return
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        pgid = None
    if proc.poll() is None and pgid is not None:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    if pgid is not None:
        try:  # whatever is left in the group, including grandchildren
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(2)
    except subprocess.TimeoutExpired:
        pass
    if proc in _children:
        _children.remove(proc)


def kill_all() -> None:
    for proc in list(reversed(_children)):
        kill(proc, grace=3.0)


def _on_signal(signum: int, frame: Any) -> None:
    kill_all()
    sys.exit(128 + signum)


def install_cleanup() -> None:
    atexit.register(kill_all)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)


def run_json(argv: Sequence[str], timeout: float) -> dict[str, Any]:
    """Run a child (own group) that prints one JSON object last; kill it on timeout."""
    import orjson

    proc = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(proc, grace=1.0)
        raise RuntimeError(f"timed out after {timeout:.0f}s: {' '.join(argv[:3])} ...") from None
    finally:
        kill(proc, grace=1.0)
    lines = [ln for ln in out.decode(errors="replace").splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(argv[:3])} ... exited {proc.returncode}: {err.decode(errors='replace')[-800:]}")
    return orjson.loads(lines[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[Any] | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"process {proc.args[0] if isinstance(proc.args, list) else proc.args} exited {proc.returncode} before listening"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM in bytes."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (its threads included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PeakSampler:
    """Samples VmRSS of a process in a thread (VmHWM is also read; this is a cross-check)."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        import threading

        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, proc_status(self.pid).get("VmRSS", 0))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, proc_status(self.pid).get("VmRSS", 0))


def reset_hwm(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def machine_busy() -> tuple[float, float]:
    """(busy CPU seconds of the whole machine, monotonic time) from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    busy = sum(values[:8]) - idle
    return busy / os.sysconf("SC_CLK_TCK"), time.monotonic()


def busy_since(start: tuple[float, float]) -> float:
    """Average number of busy cores, machine-wide, since `machine_busy()` returned `start`."""
    busy, now = machine_busy()
    return round((busy - start[0]) / max(1e-6, now - start[1]), 2)
