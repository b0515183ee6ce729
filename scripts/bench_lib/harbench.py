"""HAR export / import / validate through Necto's API, with the server's peak RSS."""

from __future__ import annotations

import asyncio
import http.client
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_lib import data, procs, proxies

ROOT = Path(__file__).resolve().parent.parent.parent


def available() -> dict[str, bool]:
    """The HAR modules exist and the API serves them (routes are looked up in necto/api/)."""
    har = ROOT / "necto" / "har"
    api = "".join(p.read_text(errors="replace") for p in (ROOT / "necto" / "api").glob("*.py"))
    return {
        "export": (har / "export.py").exists() and "/api/har/export" in api,
        "import": (har / "importer.py").exists() and "/api/har/import" in api,
    }


async def _fill(db: Path, sizes: list[int], gen_seed: int) -> dict[str, Any]:
    """Sessions of generated entries, with the HAR fragments the running Necto's background
    pass would have built while they were captured (timed: `fragments_cpu_s`)."""
    from necto.har.fragments import build
    from necto.store import Store

    store = await Store.open(db)
    store.fragment_builder = build
    out: dict[str, Any] = {}
    try:
        for n in sizes:
            s = await store.create_session(f"bench-{n}")
            gen = data.Generator(gen_seed)
            t = time.perf_counter()
            batch: list[Any] = []
            for e in gen.entries(s.id, n):
                batch.append(e)
                if len(batch) == 2000:
                    await store.add_entries(batch)
                    batch = []
            if batch:
                await store.add_entries(batch)
            out[str(n)] = {"session": s.id, "add_entries_s": round(time.perf_counter() - t, 2)}
            cpu = time.process_time()
            while await store._fragment_batch():
                pass
            out[str(n)]["fragments_cpu_s"] = round(time.process_time() - cpu, 2)
    finally:
        await store.close()
    return out


def generate_sessions(work: Path, sizes: list[int]) -> tuple[Path, dict[str, Any]]:
    d = work / "necto-export"
    d.mkdir(parents=True, exist_ok=True)
    return d, asyncio.run(_fill(d / "necto.db", sizes, gen_seed=4))


def _download(port: int, path: str, dest: Path) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("GET", path)
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"GET {path}: {resp.status} {resp.read()[:300]!r}")
    n = 0
    with open(dest, "wb") as f:
        while chunk := resp.read(1 << 20):
            f.write(chunk)
            n += len(chunk)
    conn.close()
    return n


def run_export(work: Path, up_ca: Path, data_dir: Path, sessions: dict[str, Any], rounds: int,
               log: Callable[[str], None], deadline: float) -> dict[str, Any]:  # fmt: skip
    sizes = list(sessions)
    raw: dict[str, list[dict[str, Any]]] = {n: [] for n in sizes}
    for rnd in range(rounds):
        order = sizes if rnd % 2 == 0 else list(reversed(sizes))
        for n in order:
            if time.monotonic() > deadline and raw[n]:
                continue
            # As after a capture the background pass kept up with: nothing left to index.
            necto = proxies.start_necto(data_dir, up_ca, work / "necto-export.log", "--no-search-index")
            try:
                idle = procs.proc_status(necto.pid).get("VmRSS", 0)
                dest = work / f"export-{n}.har"
                with procs.PeakSampler(necto.pid) as sampler:
                    t = time.perf_counter()
                    size = _download(necto.api_port or 0, f"/api/har/export/{sessions[n]['session']}", dest)
                    secs = time.perf_counter() - t
                hwm = procs.proc_status(necto.pid).get("VmHWM", 0)
            finally:
                necto.stop()
            r = {"bytes": size, "seconds": round(secs, 3), "mb_s": round(size / secs / 1e6, 1),
                 "rss_idle": idle, "peak_rss": max(hwm, sampler.peak)}  # fmt: skip
            raw[n].append(r)
            log(f"  export {n:>7} entries: {size / 1e6:8.1f} MB in {secs:6.2f} s = {r['mb_s']:6.1f} MB/s, "
                f"peak RSS {r['peak_rss'] / 2**20:6.1f} MiB (idle {idle / 2**20:.1f})")  # fmt: skip
    out = {n: _med(rs) for n, rs in raw.items()}
    return {"by_entries": out, "raw": raw}


def _med(rs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "bytes": rs[0]["bytes"],
        "mb_s": round(statistics.median(r["mb_s"] for r in rs), 1),
        "seconds": round(statistics.median(r["seconds"] for r in rs), 2),
        "peak_rss": int(statistics.median(r["peak_rss"] for r in rs)),
        "rss_idle": int(statistics.median(r["rss_idle"] for r in rs)),
        "rounds": len(rs),
        **({"entries": rs[0]["entries"]} if "entries" in rs[0] else {}),
    }


async def _upload(port: int, path: str, file: Path) -> tuple[int, bytes]:
    import aiohttp

    form = aiohttp.FormData()
    with open(file, "rb") as f:
        form.add_field("file", f, filename=file.name, content_type="application/json")
        timeout = aiohttp.ClientTimeout(total=1800)
        async with aiohttp.ClientSession(timeout=timeout) as s:
            async with s.post(f"http://127.0.0.1:{port}{path}", data=form) as resp:
                return resp.status, await resp.read()


def run_import(work: Path, up_ca: Path, files: dict[str, Path], rounds: int, do_import: bool,
               log: Callable[[str], None], deadline: float, slow_after: float) -> dict[str, Any]:  # fmt: skip
    """Import (and validate) each file into a fresh Necto; a round slower than `slow_after`
    seconds is not repeated (the run must stay bounded)."""
    import orjson

    out: dict[str, Any] = {}
    for label, file in files.items():
        size = file.stat().st_size
        res: dict[str, list[dict[str, Any]]] = {"import": [], "validate": []}
        for rnd in range(rounds):
            if rnd and time.monotonic() > deadline:
                break
            d = work / f"necto-import-{label}"
            shutil.rmtree(d, ignore_errors=True)
            necto = proxies.start_necto(d, up_ca, work / "necto-import.log")
            try:
                for kind in ("validate", "import") if do_import else ("validate",):
                    if kind == "validate" and rnd and res["validate"] and res["validate"][0]["seconds"] > slow_after:
                        continue
                    reset = procs.reset_hwm(necto.pid)
                    with procs.PeakSampler(necto.pid) as sampler:
                        t = time.perf_counter()
                        status, body = asyncio.run(_upload(necto.api_port or 0, f"/api/har/{kind}", file))
                        secs = time.perf_counter() - t
                    hwm = procs.proc_status(necto.pid).get("VmHWM", 0) if reset else 0
                    if status in (404, 405) and kind == "validate":
                        res["validate_status"] = [{"status": "not available (no POST /api/har/validate)"}]  # type: ignore[list-item]
                        continue
                    if status >= 300:
                        raise RuntimeError(f"POST /api/har/{kind} {label}: {status} {body[:300]!r}")
                    info: dict[str, Any] = {}
                    try:
                        info = orjson.loads(body)
                    except orjson.JSONDecodeError:
                        pass
                    entries = info.get("entryCount", info.get("entries", info.get("imported")))
                    r = {"bytes": size, "seconds": round(secs, 3), "mb_s": round(size / secs / 1e6, 1),
                         "peak_rss": max(hwm, sampler.peak), "rss_idle": 0,
                         "entries": entries if isinstance(entries, int) else None}  # fmt: skip
                    res[kind].append(r)
                    log(f"  {kind:8s} {label:>6}: {size / 1e6:8.1f} MB in {secs:6.2f} s = {r['mb_s']:6.1f} MB/s, "
                        f"peak RSS {r['peak_rss'] / 2**20:6.1f} MiB  {str(body[:120], 'utf-8', 'replace')}")  # fmt: skip
            finally:
                necto.stop()
                shutil.rmtree(d, ignore_errors=True)
            if res["import"] and res["import"][-1]["seconds"] > slow_after:
                break
        out[label] = {k: (_med(v) if k != "validate_status" else v[0]["status"]) for k, v in res.items() if v}
    return out
