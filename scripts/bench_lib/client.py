"""Load generators, each run in its own process: wrk (HTTP, when installed) or an asyncio client.

Both report {requests, errors, seconds, rps, p50_ms, p99_ms}. Through a proxy, plain HTTP uses
absolute-form request lines; HTTPS opens a CONNECT tunnel and TLS inside it (the client does not
verify the proxy's certificate: that is the client's cost, not the proxy's).
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_lib import procs

BENCH = str(Path(__file__).resolve().parent.parent / "bench")


@dataclass
class Load:
    """What to send: through `proxy_port` (None = straight to the upstream)."""

    proxy_port: int | None
    target_port: int  # upstream port
    path: str
    https: bool = False
    keepalive: bool = True
    concurrency: int = 1
    duration: float = 5.0
    warmup: float = 1.0
    count: int = 0  # >0: send exactly this many requests instead (duration ignored)


def wrk_path() -> str | None:
    return shutil.which("wrk")


WRK_LUA = """
wrk.method = "GET"
wrk.path = "{path}"
wrk.headers["Host"] = "127.0.0.1:{port}"
wrk.headers["User-Agent"] = "necto-bench"
{close}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{{"requests":%d,"duration_us":%d,"errors":%d,"status_errors":%d,"p50_us":%d,"p99_us":%d}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


def run(load: Load, work: Path, use_wrk: bool) -> dict[str, Any]:
    """Run one measurement in a separate process and return its figures."""
    if use_wrk and not load.https and load.count == 0 and wrk_path():
        return _run_wrk(load, work)
    argv = [
        sys.executable, BENCH, "_client",
        str(load.proxy_port or 0), str(load.target_port), load.path, str(int(load.https)),
        str(int(load.keepalive)), str(load.concurrency), str(load.duration), str(load.warmup), str(load.count),
    ]  # fmt: skip
    timeout = load.duration + load.warmup + 60
    result = procs.run_json(argv, timeout)
    result["client"] = "python-asyncio"
    return result


def _run_wrk(load: Load, work: Path) -> dict[str, Any]:
    if load.proxy_port:
        path, connect = f"http://127.0.0.1:{load.target_port}{load.path}", load.proxy_port
    else:
        path, connect = load.path, load.target_port
    script = work / f"wrk-{load.concurrency}-{int(load.keepalive)}.lua"
    script.write_text(
        WRK_LUA.format(
            path=path,
            port=load.target_port,
            close="" if load.keepalive else 'wrk.headers["Connection"] = "close"',
        )
    )
    base = [wrk_path() or "wrk", "-t1", f"-c{load.concurrency}", "--timeout", "10s", "-s", str(script)]
    url = f"http://127.0.0.1:{connect}/"
    if load.warmup > 0:
        procs.run_json([*base, f"-d{max(1, round(load.warmup))}s", url], load.warmup + 30)
    r = procs.run_json([*base, f"-d{max(1, round(load.duration))}s", url], load.duration + 30)
    seconds = r["duration_us"] / 1e6
    ok = r["requests"] - r["status_errors"]
    return {
        "requests": r["requests"],
        "errors": r["errors"] + r["status_errors"],
        "seconds": round(seconds, 3),
        "rps": round(ok / seconds, 1) if seconds else 0.0,
        "p50_ms": round(r["p50_us"] / 1000, 3),
        "p99_ms": round(r["p99_us"] / 1000, 3),
        "client": "wrk -t1",
    }


# ---------------------------------------------------------------------- the asyncio client
def client_main(argv: list[str]) -> int:
    import orjson

    load = Load(
        proxy_port=int(argv[0]) or None, target_port=int(argv[1]), path=argv[2], https=argv[3] == "1",
        keepalive=argv[4] == "1", concurrency=int(argv[5]), duration=float(argv[6]),
        warmup=float(argv[7]), count=int(argv[8]),
    )  # fmt: skip
    result = asyncio.run(_client(load))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


class _Conn:
    def __init__(self, load: Load, tls: ssl.SSLContext | None) -> None:
        self.load, self.tls = load, tls
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        host = f"127.0.0.1:{load.target_port}"
        close = b"" if load.keepalive else b"Connection: close\r\n"
        target = (f"http://{host}{load.path}" if load.proxy_port and not load.https else load.path).encode()
        self.request = (
            b"GET " + target + b" HTTP/1.1\r\nHost: " + host.encode()
            + b"\r\nUser-Agent: necto-bench\r\nAccept: */*\r\n" + close + b"\r\n"
        )  # fmt: skip

    async def open(self) -> None:
        load = self.load
        port = load.proxy_port or load.target_port
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        if load.https:
            if load.proxy_port:
                writer.write(
                    f"CONNECT 127.0.0.1:{load.target_port} HTTP/1.1\r\n"
                    f"Host: 127.0.0.1:{load.target_port}\r\n\r\n".encode()
                )
                head = await reader.readuntil(b"\r\n\r\n")
                if b" 200" not in head.split(b"\r\n", 1)[0]:
                    raise OSError(f"CONNECT refused: {head[:80]!r}")
            await writer.start_tls(self.tls, server_hostname="localhost")  # type: ignore[arg-type]
        self.reader, self.writer = reader, writer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.transport.abort()
        self.reader = self.writer = None

    async def exchange(self) -> None:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, _, rest = head.partition(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length = -1
        keep = self.load.keepalive
        for line in rest.split(b"\r\n"):
            name, _, value = line.partition(b":")
            lname = name.strip().lower()
            if lname == b"content-length":
                length = int(value)
            elif lname == b"connection" and value.strip().lower() == b"close":
                keep = False
        if length < 0:
            raise OSError("response without Content-Length")
        await self.reader.readexactly(length)
        if not keep:
            self.close()
        if status != 200:
            raise OSError(f"status {status}")


async def _client(load: Load) -> dict[str, Any]:
    tls = None
    if load.https:
        tls = ssl.create_default_context()
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
        tls.set_alpn_protocols(["http/1.1"])
    lat: list[float] = []
    errors = 0
    clock = time.perf_counter
    start = clock()
    t0 = start + (load.warmup if load.count == 0 else 0.0)
    t1 = t0 + load.duration if load.count == 0 else float("inf")
    remaining = [load.count]
    tmax = start + load.duration if load.count else float("inf")  # count mode: duration bounds it
    done = [0]

    async def worker() -> None:
        nonlocal errors
        conn = _Conn(load, tls)
        while True:
            if load.count:
                if remaining[0] <= 0 or clock() >= tmax:
                    break
                remaining[0] -= 1
            elif clock() >= t1:
                break
            a = clock()
            try:
                await conn.exchange()
            except (OSError, asyncio.IncompleteReadError, ValueError, ssl.SSLError):
                conn.close()
                if a >= t0:
                    errors += 1
                await asyncio.sleep(0.01)
                continue
            b = clock()
            if a >= t0 and b <= t1:
                lat.append(b - a)
            done[0] += 1
        conn.close()

    await asyncio.gather(*(worker() for _ in range(load.concurrency)))
    end = clock()
    seconds = (end - start) if load.count else load.duration
    lat.sort()

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(len(lat) * p))] * 1000, 3) if lat else 0.0

    return {
        "requests": len(lat),
        "errors": errors,
        "seconds": round(seconds, 3),
        "rps": round(len(lat) / seconds, 1) if seconds else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }
