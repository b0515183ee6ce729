"""Rules cost (issue 13): capture throughput with 100 enabled rules that never match vs none.

Two Necto processes, one whose data directory holds 100 enabled rules imported with
`necto rules import` (a realistic mix: 60 pinned to other hosts, 20 for wildcard domains,
10 path-only and 10 regex-URL rules that every request is tested against), the other none.
They are measured in alternating rounds, medians reported; target: within 10%.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench_lib import client, procs, proxies
from bench_lib.upstream import SMALL_PATH, Upstream

SCENARIOS: dict[str, tuple[str, bool, int]] = {
    # name -> (description, keepalive, concurrency)
    "http-keepalive-seq": ("HTTP keep-alive, 1 client, sequential", True, 1),
    "http-newconn-c20": ("HTTP new connection per request, 20 concurrent", False, 20),
}


def hundred_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for i in range(40):
        action = ("mock", "block", "modify-response", "delay")[i % 4]
        config = {"mock": {"body": "x"}, "block": None, "modify-response": {"setHeaders": {"X-A": "1"}},
                  "delay": {"delay": 100}}[action]  # fmt: skip
        rules.append({"name": f"host {i}", "match": {"host": f"api{i}.example.com", "method": "GET"}, "action": action,
                      "config": config})  # fmt: skip
    for i in range(20):
        rules.append({"name": f"url {i}", "match": {"url": f"https://cdn{i}.example.net/assets/*"}, "action": "map-remote",
                      "config": {"targetUrl": f"https://mirror{i}.example.net"}})  # fmt: skip
    for i in range(20):
        rules.append({"name": f"domain {i}", "match": {"host": f"*.tracker{i}.test"}, "action": "block"})
    for i in range(10):
        rules.append({"name": f"path {i}", "match": {"path": f"/never/{i}/*", "headers": {"x-debug": "on"}},
                      "action": "mock", "config": {"status": 503}})  # fmt: skip
    for i in range(10):
        rules.append({"name": f"regex {i}", "match": {"url": rf"/api\.service{i}\.internal\/v\d+/"},
                      "action": "modify-request", "config": {"setHeaders": {"X-B": "2"}}})  # fmt: skip
    return rules


def run_rules(up: Upstream, work: Path, rounds: int, duration: float, warmup: float, use_wrk: bool,
              log: Callable[[str], None]) -> dict[str, Any]:  # fmt: skip
    with_dir = work / "necto-rules-100"
    rules_file = work / "rules-100.json"
    rules_file.write_bytes(orjson.dumps({"version": 1, "rules": hundred_rules()}))
    subprocess.run([sys.executable, "-m", "necto", "rules", "import", str(rules_file), "--data-dir", str(with_dir)],
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    none = proxies.start_necto(work / "necto-rules-0", up.pki.ca_pem, work / "necto-rules-0.log")
    hundred = proxies.start_necto(with_dir, up.pki.ca_pem, work / "necto-rules-100.log")
    by = {"none": none, "100 rules": hundred}
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {s: {k: [] for k in by} for s in SCENARIOS}
    try:
        enabled = len(hundred.api("/api/rules/enabled")["rules"])
        for rnd in range(rounds):
            order = list(by) if rnd % 2 == 0 else list(reversed(by))
            for scen, (_, keep, conc) in SCENARIOS.items():
                for name in order:
                    p = by[name]
                    load = client.Load(proxy_port=p.port, target_port=up.http_port, path=SMALL_PATH, keepalive=keep,
                                       concurrency=conc, duration=duration, warmup=warmup)  # fmt: skip
                    cpu0 = procs.cpu_seconds(p.pid)
                    try:
                        r = client.run(load, work, use_wrk)
                    except RuntimeError as e:
                        r = {"error": str(e), "rps": 0.0, "p50_ms": 0.0}
                    util = (procs.cpu_seconds(p.pid) - cpu0) / (duration + warmup)
                    # requests per CPU-second of the proxy: robust when other work competes for the cores
                    r["req_per_cpu_s"] = round(r["rps"] / util, 1) if util > 0 else 0.0
                    raw[scen][name].append(r)
                    log(
                        f"  round {rnd + 1}/{rounds} {scen:22s} {name:9s} {r['rps']:9.1f} req/s  p50 {r['p50_ms']:7.2f} ms  "
                        f"{r['req_per_cpu_s']:7.0f} req/cpu-s"
                    )
        matched = sum(
            1 for e in hundred.api("/api/traffic?limit=200")["entries"] if e.get("appliedRules")
        )  # fmt: skip
    finally:
        none.stop()
        hundred.stop()
    out: dict[str, Any] = {"enabled_rules": enabled, "entries_touched_by_rules": matched, "scenarios": {}}
    for scen, runs in raw.items():
        s: dict[str, Any] = {"description": SCENARIOS[scen][0]}
        for name, rs in runs.items():
            good = [r for r in rs if "error" not in r]
            s[name] = {"rps": round(statistics.median(r["rps"] for r in good), 1),
                       "p50_ms": round(statistics.median(r["p50_ms"] for r in good), 3),
                       "req_per_cpu_s": round(statistics.median(r["req_per_cpu_s"] for r in good), 1)} if good else None  # fmt: skip
        a, b = s.get("none"), s.get("100 rules")
        if a and b and a["rps"]:
            s["ratio"] = round(b["rps"] / a["rps"], 3)
            s["ratio_per_cpu"] = round(b["req_per_cpu_s"] / a["req_per_cpu_s"], 3) if a["req_per_cpu_s"] else None
        out["scenarios"][scen] = s
    out["evaluation_us"] = micro()
    return out


def micro(n: int = 20000) -> dict[str, float]:
    """Microseconds the rules addon spends deciding one request (in this process): no rules
    (the fast path) vs the 100 rules above, for a request none of them matches."""
    import time

    from mitmproxy.test import tflow

    from necto.capture.rules import FlowRequest
    from necto.rules.engine import RuleSet, compile_rule
    from necto.rules.model import Rule, validate_rule

    compiled = []
    for i, body in enumerate(hundred_rules()):
        f = validate_rule(body)
        compiled.append(compile_rule(Rule(str(i), f["name"], True, i, f["match"], f["action"], f["config"], 0, 0), i))
    full, empty = RuleSet(compiled), RuleSet()
    flow = tflow.tflow()
    flow.request.url = "http://127.0.0.1:8080/small.json?x=1"
    out = {}
    for label, rs in (("none", empty), ("100 rules", full)):
        t = time.perf_counter()
        for _ in range(n):
            if rs:
                rs.matching(FlowRequest(flow.request))
        out[label] = round((time.perf_counter() - t) / n * 1e6, 2)
    return out
