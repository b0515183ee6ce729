"""Start bare mitmdump and Necto (`necto run`) as separate processes on free loopback ports."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_lib import procs

ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass
class Proxy:
    name: str
    port: int
    proc: Any
    argv: list[str]
    api_port: int | None = None
    data_dir: Path | None = None

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def api(self, path: str, timeout: float = 30) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.api_port}{path}", timeout=timeout) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        procs.kill(self.proc, grace=15.0)


def mitmdump_bin() -> str:
    return str(Path(sys.executable).parent / "mitmdump")


def start_mitmdump(work: Path, upstream_ca: Path) -> Proxy:
    port = procs.free_port()
    conf = work / "mitmdump-conf"
    conf.mkdir(parents=True, exist_ok=True)
    # Default addons and options; only where to listen, where its CA lives, and trusting the
    # upstream's CA (Necto gets the same CA via --upstream-ca). Its per-flow line goes to a file.
    argv = [
        mitmdump_bin(), "--listen-host", "127.0.0.1", "--listen-port", str(port),
        "--set", f"confdir={conf}", "--set", f"ssl_verify_upstream_trusted_ca={upstream_ca}",
    ]  # fmt: skip
    proc = procs.spawn(argv, stdout=open(work / "mitmdump.out", "wb"), stderr=open(work / "mitmdump.err", "wb"))
    procs.wait_port(port, proc, timeout=60)
    return Proxy("mitmdump", port, proc, argv)


def start_necto(data_dir: Path, upstream_ca: Path, log: Path, *extra: str) -> Proxy:
    port, api = procs.free_port(), procs.free_port()
    argv = [
        sys.executable, "-m", "necto", "run", "--data-dir", str(data_dir),
        "--proxy-port", str(port), "--api-port", str(api), "--upstream-ca", str(upstream_ca), *extra,
    ]  # fmt: skip
    proc = procs.spawn(argv, log=log, cwd=str(ROOT))
    procs.wait_port(api, proc, timeout=60)
    procs.wait_port(port, proc, timeout=60)
    p = Proxy("necto", port, proc, argv, api_port=api, data_dir=data_dir)
    p.api("/api/health")
    return p


def wait_recorded(p: Proxy, count: int, timeout: float = 120.0) -> int:
    """Poll the active session's entry count until it reaches `count` (the writer flushed)."""
    deadline = time.monotonic() + timeout
    n = -1
    while time.monotonic() < deadline:
        n = int(p.api("/api/sessions/active").get("trafficCount", 0))
        if n >= count:
            return n
        time.sleep(0.2)
    return n
