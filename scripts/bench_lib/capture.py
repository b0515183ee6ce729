"""Capture throughput/latency (mitmdump vs Necto vs direct) and Necto's memory under capture."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_lib import client, procs, proxies
from bench_lib.upstream import BIG_PATH, SMALL_PATH, Upstream

# name -> (description, https, keepalive, concurrency, path)
SCENARIOS: dict[str, tuple[str, bool, bool, int, str]] = {
    "http-keepalive-seq": ("HTTP keep-alive, 1 client, sequential", False, True, 1, SMALL_PATH),
    "http-newconn-c20": ("HTTP new connection per request, 20 concurrent", False, False, 20, SMALL_PATH),
    "https-keepalive-seq": ("HTTPS (CONNECT) keep-alive, 1 client, sequential", True, True, 1, SMALL_PATH),
    # As a browser opening a site: every request a new CONNECT and a full TLS handshake.
    "https-newconn-c20": (
        "HTTPS new connection (CONNECT + TLS handshake) per request, 20 concurrent",
        True,
        False,
        20,
        SMALL_PATH,
    ),
    "http-1mb-seq": ("HTTP keep-alive, 1 MB response body, sequential", False, True, 1, BIG_PATH),
}
TARGETS = ("mitmdump", "necto", "direct")


def run_capture(
    up: Upstream, work: Path, rounds: int, duration: float, warmup: float, use_wrk: bool,
    log: Callable[[str], None], profile: Path | None = None,
) -> dict[str, Any]:  # fmt: skip
    mitm = proxies.start_mitmdump(work, up.pki.ca_pem)
    necto = proxies.start_necto(work / "necto-capture", up.pki.ca_pem, work / "necto-capture.log")
    by: dict[str, Any] = {"mitmdump": mitm, "necto": necto, "direct": None}
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {s: {t: [] for t in TARGETS} for s in SCENARIOS}
    try:
        for rnd in range(rounds):
            # Alternate: mitmdump first on even rounds, Necto first on odd ones.
            order = ["mitmdump", "necto"] if rnd % 2 == 0 else ["necto", "mitmdump"]
            order.append("direct")
            for scen, (_, https, keep, conc, path) in SCENARIOS.items():
                for target in order:
                    p = by[target]
                    port = up.https_port if https else up.http_port
                    load = client.Load(
                        proxy_port=p.port if p else None, target_port=port, path=path, https=https,
                        keepalive=keep, concurrency=conc, duration=duration, warmup=warmup,
                    )  # fmt: skip
                    cpu0 = procs.cpu_seconds(p.pid) if p else 0.0
                    busy0 = procs.machine_busy()
                    try:
                        r = client.run(load, work, use_wrk)
                    except RuntimeError as e:
                        r = {"error": str(e), "rps": 0.0, "p50_ms": 0.0, "p99_ms": 0.0, "requests": 0}
                    if p:
                        cpu = procs.cpu_seconds(p.pid) - cpu0
                        # the proxy's CPU use over warmup + measurement, in cores (1.0 = one busy core)
                        r["proxy_cpu_util"] = round(cpu / (duration + warmup), 2)
                    # cores busy machine-wide during the run: > ~1.9 of 2 means the proxy competed
                    # for CPU with something (the load generator, nginx, other users of the box)
                    r["machine_busy_cores"] = procs.busy_since(busy0)
                    if p and r.get("proxy_cpu_util"):
                        r["req_per_cpu_s"] = round(r["rps"] / r["proxy_cpu_util"], 1)
                    raw[scen][target].append(r)
                    log(f"  round {rnd + 1}/{rounds} {scen:22s} {target:9s} {r['rps']:9.1f} req/s  "
                        f"p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms"
                        + (f"  cpu {r.get('proxy_cpu_util', 0):.2f}" if p else "")
                        + f"  busy {r.get('machine_busy_cores', 0):.2f}"
                        + (f"  ERRORS {r.get('errors')}" if r.get("errors") else "")
                        + (f"  {r['error']}" if "error" in r else ""))  # fmt: skip
        if profile is not None:
            _profile(up, work, necto, duration, profile, log)
        recorded = proxies.wait_recorded(necto, 1, timeout=5)
        cache = leaf_cache(necto.port, up.https_port)
        log(f"  leaf certificate cache: {cache}")
    finally:
        mitm.stop()
        necto.stop()
    return {"scenarios": _summarise(raw), "raw": raw, "necto_entries_recorded": recorded, "leaf_cache": cache,
            "mitmdump_argv": mitm.argv[1:], "necto_argv": necto.argv[1:]}  # fmt: skip


def leaf_cache(proxy_port: int, target_port: int) -> dict[str, Any]:
    """Two fresh TLS handshakes through the proxy to the same host: the second must get the same
    leaf certificate (cached), not a newly generated one."""
    import socket
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    leaves: list[bytes] = []
    for _ in range(2):
        with socket.create_connection(("127.0.0.1", proxy_port), timeout=10) as raw:
            raw.sendall(f"CONNECT 127.0.0.1:{target_port} HTTP/1.1\r\nHost: 127.0.0.1:{target_port}\r\n\r\n".encode())
            head = b""
            while b"\r\n\r\n" not in head:
                data = raw.recv(4096)
                if not data:
                    return {"error": "proxy closed the tunnel"}
                head += data
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                leaves.append(tls.getpeercert(binary_form=True) or b"")
    return {"handshakes": 2, "same_leaf": leaves[0] == leaves[1] and bool(leaves[0])}


def _summarise(raw: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for scen, targets in raw.items():
        s: dict[str, Any] = {"description": SCENARIOS[scen][0]}
        for t, runs in targets.items():
            good = [r for r in runs if "error" not in r]
            if not good:
                s[t] = None
                continue
            s[t] = {
                "rps": round(statistics.median(r["rps"] for r in good), 1),
                "p50_ms": round(statistics.median(r["p50_ms"] for r in good), 3),
                "p99_ms": round(statistics.median(r["p99_ms"] for r in good), 3),
                "rounds": len(good),
                "errors": sum(r.get("errors", 0) for r in good),
                "client": good[0].get("client"),
            }
            if "proxy_cpu_util" in good[0]:
                s[t]["proxy_cpu_util"] = round(statistics.median(r["proxy_cpu_util"] for r in good), 2)
            if all("req_per_cpu_s" in r for r in good):
                s[t]["req_per_cpu_s"] = round(statistics.median(r["req_per_cpu_s"] for r in good), 1)
            s[t]["machine_busy_cores"] = round(statistics.median(r.get("machine_busy_cores", 0) for r in good), 2)
        m, n, d = s.get("mitmdump"), s.get("necto"), s.get("direct")
        if m and n and m["rps"]:
            s["ratio_rps"] = round(n["rps"] / m["rps"], 2)
            if m.get("req_per_cpu_s") and n.get("req_per_cpu_s"):
                s["ratio_per_cpu"] = round(n["req_per_cpu_s"] / m["req_per_cpu_s"], 2)
            if d:
                s["added_p50_ms"] = {
                    "mitmdump": round(m["p50_ms"] - d["p50_ms"], 3),
                    "necto": round(n["p50_ms"] - d["p50_ms"], 3),
                }
        out[scen] = s
    return out


def _profile(up: Upstream, work: Path, necto: proxies.Proxy, duration: float, out: Path,
             log: Callable[[str], None]) -> None:  # fmt: skip
    """py-spy the Necto process under the new-connection load (if py-spy is installed)."""
    import shutil

    spy = shutil.which("py-spy") or str(Path(__import__("sys").executable).parent / "py-spy")
    if not Path(spy).exists():
        log("  (py-spy not installed: no profile)")
        return
    for scen in ("http-newconn-c20", "http-keepalive-seq"):
        _, https, keep, conc, path = SCENARIOS[scen]
        target = out.with_name(f"{out.stem}-{scen}.txt")
        secs = max(3, int(duration * 2))
        prof = procs.spawn([spy, "record", "-p", str(necto.pid), "-d", str(secs), "-r", "200",
                            "-f", "raw", "-o", str(target), "--nonblocking"], log=work / "py-spy.log")  # fmt: skip
        time.sleep(0.5)
        load = client.Load(proxy_port=necto.port, target_port=up.http_port, path=path, https=https,
                           keepalive=keep, concurrency=conc, duration=secs, warmup=0.2)  # fmt: skip
        try:
            client.run(load, work, use_wrk=True)
        except RuntimeError:
            pass
        try:
            prof.wait(secs + 30)
        except Exception:
            pass
        procs.kill(prof)
        log(f"  profile ({scen}): {target}")


def run_memory(up: Upstream, work: Path, small: int, large: int, log: Callable[[str], None],
               limit: float = 300.0) -> dict[str, Any]:  # fmt: skip
    """RSS of a fresh Necto after `small` and after `large` captured requests (sending stops
    after `limit` seconds on a slow or busy machine; the count reached is reported)."""
    necto = proxies.start_necto(work / "necto-memory", up.pki.ca_pem, work / "necto-memory.log")
    out: dict[str, Any] = {"requests_small": small, "requests_large": large}
    try:
        out["rss_idle"] = procs.proc_status(necto.pid).get("VmRSS", 0)

        def send(n: int) -> dict[str, Any]:
            load = client.Load(proxy_port=necto.port, target_port=up.http_port, path=SMALL_PATH,
                               keepalive=True, concurrency=20, count=n, duration=limit)  # fmt: skip
            return client.run(load, work, use_wrk=False)

        t = time.monotonic()
        r1 = send(small)
        n1 = proxies.wait_recorded(necto, small)
        time.sleep(1.0)
        out["rss_small"] = procs.proc_status(necto.pid).get("VmRSS", 0)
        log(f"  {n1} recorded: RSS {out['rss_small'] / 2**20:.1f} MiB ({r1['rps']:.0f} req/s, 20 keep-alive clients)")
        r2 = send(large - small)
        n2 = proxies.wait_recorded(necto, small + r2["requests"], timeout=120)
        time.sleep(1.0)
        st = procs.proc_status(necto.pid)
        out.update(rss_large=st.get("VmRSS", 0), hwm=st.get("VmHWM", 0), recorded=n2,
                   rps=r2["rps"], errors=r1["errors"] + r2["errors"], seconds=round(time.monotonic() - t, 1))  # fmt: skip
        out["growth"] = out["rss_large"] - out["rss_small"]
        out["requests_target"], out["requests_large"] = large, n2
        log(f"  {n2} recorded: RSS {out['rss_large'] / 2**20:.1f} MiB, peak {out['hwm'] / 2**20:.1f} MiB "
            f"({r2['rps']:.0f} req/s)")  # fmt: skip
    finally:
        necto.stop()
    return out
