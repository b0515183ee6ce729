"""Orchestration, time budget, table and JSON output."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
RESULTS = ROOT / "bench-results"

# NectoProxy's figures from issue 4, measured on this machine against the same nginx.
NECTOPROXY = {"http-newconn-c20": 592.0, "http-keepalive-seq": 661.0}
MITMDUMP_THEN = {"http-newconn-c20": 156.0, "http-keepalive-seq": 230.0}
PARTS = ("capture", "rules", "memory", "pageload", "export", "import", "reference")


def _mib(b: int | float | None) -> str:
    return "-" if not b else f"{b / 2**20:.1f}"


def main(argv: list[str]) -> int:
    # Internal entry points, each run as its own process by the orchestrator.
    if argv and argv[0] == "_client":
        from bench_lib.client import client_main

        return client_main(argv[1:])
    if argv and argv[0] == "_pageserver":
        from bench_lib.pageload import serve

        return serve(argv[1:])
    if argv and argv[0] == "_upstream":
        from bench_lib.upstream import serve_aiohttp

        return serve_aiohttp(argv[1:])

    ap = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smoke run, < 2 minutes, small sizes, 1 round")
    ap.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts ({','.join(PARTS)})")
    ap.add_argument("--rounds", type=int, default=None, help="capture rounds (default 3; quick 1)")
    ap.add_argument("--duration", type=float, default=None, help="seconds per capture measurement (default 5)")
    ap.add_argument("--no-wrk", action="store_true", help="use the asyncio client even when wrk is installed")
    ap.add_argument("--profile", action="store_true", help="py-spy Necto under load (raw stacks to bench-results/)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (HAR files, databases)")
    args = ap.parse_args(argv)
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    unknown = parts - set(PARTS)
    if unknown:
        ap.error(f"unknown part(s): {', '.join(sorted(unknown))}")

    from bench_lib import procs

    procs.install_cleanup()
    quick = args.quick
    cfg = {
        "quick": quick,
        "rounds": args.rounds or (1 if quick else 3),
        "duration": args.duration or (1.0 if quick else 5.0),
        "warmup": 0.0 if quick else 1.0,
        "memory": (1000, 5000) if quick else (1000, 100_000),
        "export_sizes": [1000, 5000] if quick else [10_000, 100_000],
        "export_rounds": 1 if quick else 3,
        "import_sizes": {"5MB": 5 * 10**6, "25MB": 25 * 10**6} if quick else {"25MB": 25 * 10**6, "1GB": 10**9},
        "import_rounds": 1 if quick else 3,
        "reference_entries": 5000 if quick else 100_000,
        "budget_s": 110 if quick else 14 * 60,
    }
    start = time.monotonic()
    deadline = start + cfg["budget_s"]
    stamp = datetime.now(UTC)
    RESULTS.mkdir(exist_ok=True)
    name = f"bench-{stamp:%Y%m%d-%H%M%S}{'-quick' if quick else ''}"
    work = Path(tempfile.mkdtemp(prefix="necto-bench-"))
    lines: list[str] = []

    def log(msg: str) -> None:
        print(msg, flush=True)

    import mitmproxy.version

    from bench_lib import capture, client, harbench, upstream

    use_wrk = not args.no_wrk and client.wrk_path() is not None
    result: dict[str, Any] = {
        "date": stamp.isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "mitmproxy": mitmproxy.version.VERSION,
        },  # fmt: skip
        "config": {k: v for k, v in cfg.items()},
        "load_generator": (
            "wrk -t1 for HTTP scenarios, python-asyncio client (own process) for HTTPS and counted runs"
            if use_wrk
            else "python-asyncio client (own process)"
        ),  # fmt: skip
        "errors": {},
    }
    up = None
    try:
        up = upstream.start(work / "upstream", work / "upstream.log")
        result["upstream"] = up.kind
        log(f"Necto benchmark ({'quick' if quick else 'full'}), work dir {work}")
        log(f"upstream: {up.kind}; load: {result['load_generator']}")

        def part(label: str, fn: Any) -> None:
            if label not in parts:
                return
            if time.monotonic() > deadline:
                result["errors"][label] = "skipped: time budget used up"
                log(f"[{label}] skipped: time budget used up")
                return
            log(f"[{label}] {time.monotonic() - start:5.0f} s")
            try:
                result[label] = fn()
            except Exception as e:  # report and go on with the other parts
                result["errors"][label] = f"{type(e).__name__}: {e}"
                log(f"[{label}] FAILED: {e}")
                traceback.print_exc()

        prof = RESULTS / f"{name}-profile.txt" if args.profile else None
        part("capture", lambda: capture.run_capture(
            up, work, cfg["rounds"], cfg["duration"], cfg["warmup"], use_wrk, log, prof))  # fmt: skip
        part("rules", lambda: _rules().run_rules(up, work, cfg["rounds"], cfg["duration"], cfg["warmup"], use_wrk, log))
        part("memory", lambda: capture.run_memory(up, work, *cfg["memory"], log, limit=60 if quick else 240))
        part("pageload", lambda: _pageload().run_pageload(up, work, 2 if quick else 5, log))

        avail = harbench.available()
        result["har_available"] = avail
        export_dir: Path | None = None
        sessions: dict[str, Any] = {}

        def do_export() -> dict[str, Any]:
            nonlocal export_dir, sessions
            if not avail["export"]:
                return {
                    "status": "not available (necto/har/export.py or its API route GET /api/har/export/{id} does not exist yet)"
                }
            t = time.perf_counter()
            export_dir, filled = harbench.generate_sessions(work, cfg["export_sizes"])
            sessions = {str(k): v for k, v in filled.items()}
            log(f"  generated sessions {list(sessions)} with add_entries in {time.perf_counter() - t:.1f} s; "
                f"HAR fragments built in {', '.join(str(v['fragments_cpu_s']) for v in filled.values())} CPU-s")  # fmt: skip
            out = harbench.run_export(work, up.pki.ca_pem, export_dir, sessions, cfg["export_rounds"], log,
                                      deadline - 300 if not quick else deadline - 40)  # fmt: skip
            out["generated"] = filled
            return out

        part("export", do_export)
        if export_dir is not None:
            shutil.rmtree(export_dir, ignore_errors=True)

        har_files: dict[str, Path] = {}

        def do_import() -> dict[str, Any]:
            from bench_lib import data

            gen = data.Generator(7)
            for label, size in cfg["import_sizes"].items():
                path = work / f"import-{label}.har"
                t = time.perf_counter()
                nbytes, n = data.write_har(path, size, gen)
                har_files[label] = path
                log(f"  generated {path.name}: {nbytes / 1e6:.1f} MB, {n} entries in {time.perf_counter() - t:.1f} s")
            out = harbench.run_import(work, up.pki.ca_pem, har_files, cfg["import_rounds"], avail["import"], log,
                                      deadline - (150 if not quick else 25), slow_after=40 if not quick else 5)  # fmt: skip
            if not avail["import"]:
                out["status"] = (
                    "import not available (necto/har/importer.py or its API route POST /api/har/import does not exist yet)"
                )
            return out

        if avail["import"] or avail["export"]:
            part("import", do_import)
        elif "import" in parts:
            result["import"] = {
                "status": "not available (necto/har/importer.py or its API route POST /api/har/import does not exist yet)"
            }

        def do_reference() -> dict[str, Any]:
            from bench_lib import data, reference

            small = next(iter(har_files.values()), None)
            if small is None:  # import part skipped: a 25 MB HAR just for the ijson line
                small = work / "reference-ijson.har"
                data.write_har(small, 25 * 10**6, data.Generator(7))
            return reference.run(work, cfg["reference_entries"], small)

        part("reference", do_reference)
    except Exception as e:
        result["errors"]["setup"] = f"{type(e).__name__}: {e}"
        traceback.print_exc()
    finally:
        if up is not None:
            procs.kill(up.proc)
        procs.kill_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    result["elapsed_s"] = round(time.monotonic() - start, 1)
    result["targets"] = targets(result)
    table = render(result)
    lines.append(table)
    import orjson

    (RESULTS / f"{name}.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    (RESULTS / f"{name}.txt").write_text(table + "\n")
    shutil.copyfile(RESULTS / f"{name}.json", RESULTS / f"latest{'-quick' if quick else ''}.json")
    shutil.copyfile(RESULTS / f"{name}.txt", RESULTS / f"latest{'-quick' if quick else ''}.txt")
    print("\n" + table)
    print(f"\nwritten: {RESULTS / (name + '.txt')} and .json")
    return 0 if not result["errors"] else 1


def _pageload() -> Any:
    from bench_lib import pageload

    return pageload


def _rules() -> Any:
    from bench_lib import rules

    return rules


# ---------------------------------------------------------------------- targets and table
def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(name: str, met: bool | None, detail: str) -> None:
        out.append({"target": name, "met": met, "detail": detail})

    cap = (r.get("capture") or {}).get("scenarios") or {}
    for scen, s in cap.items():
        ratio = s.get("ratio_rps")
        add(
            f"capture {scen}: necto >= 1.5x mitmdump",
            None if ratio is None else ratio >= 1.5,
            f"{ratio}x req/s ({s.get('ratio_per_cpu')}x per proxy CPU-second)",
        )
    cache = (r.get("capture") or {}).get("leaf_cache")
    if cache:
        add("HTTPS: the second handshake for a host reuses the leaf certificate", cache.get("same_leaf"), str(cache))
    s = cap.get("http-keepalive-seq")
    if s and s.get("necto") and s.get("mitmdump"):
        n, m = s["necto"]["p50_ms"], s["mitmdump"]["p50_ms"]
        add("p50 latency (keep-alive seq) below mitmdump's", n < m, f"necto {n} ms vs mitmdump {m} ms")
    for scen, s in ((r.get("rules") or {}).get("scenarios") or {}).items():
        ratio = s.get("ratio")
        add(
            f"rules {scen}: 100 non-matching rules within 10% of none",
            None if ratio is None else ratio >= 0.9,
            f"{ratio}x req/s ({(s.get('100 rules') or {}).get('rps')} vs {(s.get('none') or {}).get('rps')}), "
            f"{s.get('ratio_per_cpu')}x per proxy CPU-second",
        )
    for proto, row in ((r.get("pageload") or {}).get("by_protocol") or {}).items():
        ratio = row.get("added_ratio")
        add(
            f"page load {proto}: Necto adds <= 0.7x what mitmdump adds",
            None if ratio is None else ratio <= 0.7,
            f"{ratio}x (added ms {row.get('added_ms')}, medians {row.get('median_ms')})",
        )
    mem = r.get("memory")
    if mem and "growth" in mem:
        g = mem["growth"]
        add(f"RSS after {mem['requests_large']} within 50 MB of after {mem['requests_small']}",
            g <= 50 * 10**6, f"+{g / 2**20:.1f} MiB")  # fmt: skip
    ex = (r.get("export") or {}).get("by_entries")
    if ex:
        sizes = sorted(ex, key=int)
        big = ex[sizes[-1]]
        add("export >= 100 MB/s", big["mb_s"] >= 100, f"{big['mb_s']} MB/s at {sizes[-1]} entries")
        small = ex[sizes[0]]
        ratio = big["peak_rss"] / small["peak_rss"] if small["peak_rss"] else 0
        add("export peak RSS independent of size (within 20%)", ratio <= 1.2,
            f"{_mib(small['peak_rss'])} -> {_mib(big['peak_rss'])} MiB ({ratio:.2f}x)")  # fmt: skip
    imp = r.get("import") or {}
    big_label = "1GB" if "1GB" in imp else ("25MB" if "25MB" in imp else None)
    if big_label and "import" in imp[big_label]:
        i = imp[big_label]["import"]
        add(f"import {big_label}: peak RSS < 300 MB", i["peak_rss"] < 300 * 10**6, f"{_mib(i['peak_rss'])} MiB")
        add(f"import {big_label}: >= 50 MB/s", i["mb_s"] >= 50, f"{i['mb_s']} MB/s")
    return out


def render(r: dict[str, Any]) -> str:
    L: list[str] = []
    m = r["machine"]
    L.append(
        f"Necto benchmark {r['date']}  ({'quick' if r['config']['quick'] else 'full'} run, {r.get('elapsed_s')} s)"
    )
    L.append(f"machine: {m['cores']} cores, {m['platform']}, Python {m['python']}, mitmproxy {m['mitmproxy']}")
    L.append(f"upstream: {r.get('upstream', '?')}; load: {r['load_generator']}")
    cap = r.get("capture")
    if cap:
        c = r["config"]
        L.append("")
        L.append(f"Capture: median of {c['rounds']} alternating rounds, {c['duration']:g} s each "
                 f"(mitmdump = default addons, no scripts; necto = recording into SQLite)")  # fmt: skip
        hdr = (
            f"{'scenario':20s} {'mitmdump':>8s} {'necto':>7s} {'ratio':>6s}  {'p50 ms mitm/necto/direct':>24s}  "
            f"{'p99 ms mitm/necto':>17s}  {'cpu m/n':>9s}  {'req/cpu-s m/n':>13s} {'ratio':>6s}  {'busy':>4s}"
        )
        L.append(hdr)
        L.append("-" * len(hdr))
        for scen, s in cap["scenarios"].items():
            mm, nn, dd = s.get("mitmdump") or {}, s.get("necto") or {}, s.get("direct") or {}

            def f(d: dict[str, Any], k: str, fmt: str = "{:.1f}") -> str:
                return fmt.format(d[k]) if d.get(k) is not None else "-"

            busy = max((mm.get("machine_busy_cores") or 0), (nn.get("machine_busy_cores") or 0))
            L.append(
                f"{scen:20s} {f(mm, 'rps'):>8s} {f(nn, 'rps'):>7s} {str(s.get('ratio_rps', '-')) + 'x':>6s}  "
                f"{f(mm, 'p50_ms', '{:.2f}') + '/' + f(nn, 'p50_ms', '{:.2f}') + '/' + f(dd, 'p50_ms', '{:.2f}'):>24s}  "
                f"{f(mm, 'p99_ms', '{:.2f}') + '/' + f(nn, 'p99_ms', '{:.2f}'):>17s}  "
                f"{f(mm, 'proxy_cpu_util', '{:.2f}') + '/' + f(nn, 'proxy_cpu_util', '{:.2f}'):>9s}  "
                f"{f(mm, 'req_per_cpu_s', '{:.0f}') + '/' + f(nn, 'req_per_cpu_s', '{:.0f}'):>13s} "
                f"{str(s.get('ratio_per_cpu', '-')) + 'x':>6s}  {busy:4.2f}"
            )
        L.append("req/s (median); ratio = necto / mitmdump; direct = client straight to the upstream;")
        L.append("cpu = cores the proxy process used; req/cpu-s = requests per CPU-second of the proxy (robust to")
        L.append("CPU contention); busy = cores busy machine-wide (of 2) -- near 2.0 the proxy competed for CPU")
        for scen, np_rps in NECTOPROXY.items():
            s = cap["scenarios"].get(scen) or {}
            if s.get("necto"):
                L.append(f"vs NectoProxy ({scen}): necto {s['necto']['rps']:.0f} req/s = "
                         f"{s['necto']['rps'] / np_rps:.2f}x NectoProxy's {np_rps:.0f} (issue 4; its mitmdump then: "
                         f"{MITMDUMP_THEN[scen]:.0f}, mitmdump now: {(s.get('mitmdump') or {}).get('rps', 0):.0f})")  # fmt: skip
    pl = r.get("pageload")
    if pl and pl.get("by_protocol"):
        L.append("")
        L.append(f"Page load (headless Chromium, {pl['subresources']} subresources, new context per load, "
                 f"median of {pl['rounds']} alternating rounds)")  # fmt: skip
        L.append(
            f"{'protocol':10s} {'direct ms':>10s} {'mitmdump ms':>12s} {'necto ms':>9s}  {'added m/n ms':>14s}  {'n/m':>5s}"
        )
        for proto, row in pl["by_protocol"].items():
            med, add_ = row.get("median_ms", {}), row.get("added_ms") or {}
            L.append(
                f"{proto:10s} {med.get('direct', '-'):>10} {med.get('mitmdump', '-'):>12} {med.get('necto', '-'):>9}  "
                f"{str(add_.get('mitmdump', '-')) + '/' + str(add_.get('necto', '-')):>14s}  {str(row.get('added_ratio', '-')):>5s}"
            )
    elif pl:
        L.append("")
        L.append(f"Page load: {pl.get('status')}")
    rl = r.get("rules")
    if rl:
        L.append("")
        L.append(f"Rules: Necto with {rl.get('enabled_rules')} enabled rules that never match vs none "
                 f"(medians of alternating rounds; {rl.get('entries_touched_by_rules')} entries touched by a rule)")  # fmt: skip
        for scen, s in rl["scenarios"].items():
            a, b = s.get("none") or {}, s.get("100 rules") or {}
            L.append(f"  {scen:20s} none {a.get('rps', 0):8.1f} req/s (p50 {a.get('p50_ms', 0):.2f} ms, "
                     f"{a.get('req_per_cpu_s', 0):.0f} req/cpu-s)   100 rules {b.get('rps', 0):8.1f} req/s "
                     f"(p50 {b.get('p50_ms', 0):.2f} ms, {b.get('req_per_cpu_s', 0):.0f} req/cpu-s)   "
                     f"ratio {s.get('ratio')}x, per CPU {s.get('ratio_per_cpu')}x")  # fmt: skip
        ev = rl.get("evaluation_us") or {}
        L.append(f"  deciding one request in the rules addon: {ev.get('none')} us with no rules, "
                 f"{ev.get('100 rules')} us with the 100 rules")  # fmt: skip
    mem = r.get("memory")
    if mem:
        L.append("")
        L.append(f"Memory under capture (fresh Necto, 20 keep-alive clients): idle {_mib(mem.get('rss_idle'))} MiB, "
                 f"after {mem['requests_small']}: {_mib(mem.get('rss_small'))} MiB, after {mem['requests_large']}: "
                 f"{_mib(mem.get('rss_large'))} MiB (growth {_mib(mem.get('growth'))} MiB, peak {_mib(mem.get('hwm'))} MiB, "
                 f"{mem.get('recorded')} stored, {mem.get('rps')} req/s)")  # fmt: skip
    ex = r.get("export")
    if ex:
        L.append("")
        if "by_entries" in ex:
            L.append("HAR export via GET /api/har/export/{id} to a file (fresh Necto each; peak = server VmHWM;")
            L.append("  HAR fragments built beforehand, as the background pass does after capture)")
            gen = ex.get("generated") or {}
            for n, e in sorted(ex["by_entries"].items(), key=lambda kv: int(kv[0])):
                built = (gen.get(n) or gen.get(int(n)) or {}).get("fragments_cpu_s")
                L.append(f"  {int(n):>7} entries  {e['bytes'] / 1e6:8.1f} MB  {e['mb_s']:7.1f} MB/s  "
                         f"{e['seconds']:6.2f} s  peak RSS {_mib(e['peak_rss'])} MiB (idle {_mib(e['rss_idle'])})  "
                         f"[{e['rounds']} rounds; fragments {built} CPU-s]")  # fmt: skip
        else:
            L.append(f"HAR export: {ex.get('status')}")
    imp = r.get("import")
    if imp:
        L.append("")
        L.append("HAR import / validate via POST multipart (fresh Necto each; peak = server VmHWM)")
        if imp.get("status"):
            L.append(f"  {imp['status']}")
        for label, d in imp.items():
            if not isinstance(d, dict):
                continue
            for kind, e in d.items():
                if not isinstance(e, dict):
                    L.append(f"  {kind} {label}: {e}")
                    continue
                L.append(f"  {kind:8s} {label:>5s}  {e['bytes'] / 1e6:8.1f} MB  {e['mb_s']:7.1f} MB/s  "
                         f"{e['seconds']:7.2f} s  peak RSS {_mib(e['peak_rss'])} MiB  [{e['rounds']} rounds]")  # fmt: skip
    ref = r.get("reference")
    if ref:
        L.append("")
        L.append(f"Reference (same {ref['entries']} entries, {ref['har_bytes'] / 1e6:.1f} MB as HAR, in this process):")
        L.append(f"  orjson dumps {ref['orjson_dumps_mb_s']} MB/s, loads {ref['orjson_loads_mb_s']} MB/s (in memory)")
        if "ijson_items_mb_s" in ref:
            L.append(f"  ijson ({ref['ijson_backend']}) items(log.entries.item) {ref['ijson_items_mb_s']} MB/s")
        L.append(f"  raw SQLite insert {ref['sqlite_insert_rows_s']} rows/s = {ref['sqlite_insert_har_mb_s']} MB/s of HAR; "
                 f"select {ref['sqlite_select_rows_s']} rows/s = {ref['sqlite_select_har_mb_s']} MB/s of HAR")  # fmt: skip
    if r.get("targets"):
        L.append("")
        L.append("Targets (issue 4):")
        for t in r["targets"]:
            mark = "n/a " if t["met"] is None else ("MET " if t["met"] else "MISS")
            L.append(f"  [{mark}] {t['target']}: {t['detail']}")
    if r.get("errors"):
        L.append("")
        for k, v in r["errors"].items():
            L.append(f"  {k}: {v}")
    return "\n".join(L)
