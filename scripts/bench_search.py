#!/usr/bin/env python3
"""How fast search answers over a big session (issue 15).

    scripts/bench_search.py                    100,000 entries
    scripts/bench_search.py --entries 20000 --keep

Writes a session of synthetic API traffic (JSON request and response bodies, ~1 KB each, one
needle `order_id=8812` in one request body) straight into a store in a temporary directory,
indexes it as the running Necto's background indexer does, then times the queries a user types:
a body substring through the filter language, NectoProxy's global search (URL, headers and
bodies), a field filter with no text, and a substring that matches nothing. Each query runs 5
times; the median is reported, wall and CPU. Nothing is asserted: the figures go to the README.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
if (VENV / "bin" / "python").exists() and Path(sys.prefix).resolve() != VENV.resolve():
    os.execv(str(VENV / "bin" / "python"), [str(VENV / "bin" / "python"), str(Path(__file__).resolve()), *sys.argv[1:]])
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from necto.model import Entry, Timings  # noqa: E402
from necto.search.filterlang import DEFAULT_SEARCH_PLACES, all_of, parse_filter, search_tree  # noqa: E402
from necto.store import Store, TrafficQuery  # noqa: E402

HOST = "shop.bench.test"
NEEDLE_ORDER = 8812


def traffic(n: int, seed: int = 15) -> list[Entry]:
    rng = random.Random(seed)
    needle_at = n // 2
    out = []
    for k in range(n):
        order = NEEDLE_ORDER if k == needle_at else 100_000 + k
        req = orjson.dumps({"order_id": order, "items": [{"sku": f"SKU-{rng.randrange(10**6)}", "qty": rng.randrange(1, 5)}
                                                         for _ in range(6)], "note": "x" * rng.randrange(50, 300)})  # fmt: skip
        res = orjson.dumps({"ok": True, "id": f"ord_{k:08d}", "total": rng.randrange(100, 99999),
                            "lines": [f"line {i} {rng.random():.6f}" for i in range(12)]})  # fmt: skip
        out.append(Entry(
            session_id="", started=1_700_000_000 + k / 100, method="POST", url=f"https://{HOST}/api/orders?page={k % 50}",
            request_headers=[("Host", HOST), ("Content-Type", "application/json"), ("X-Request-Id", f"req-{k:08x}")],
            request_body=req, request_body_size=len(req), status=500 if k % 97 == 0 else 200,
            response_headers=[("Content-Type", "application/json")], response_body=res, response_body_size=len(res),
            timings=Timings(send=0.1, wait=5.0, receive=0.2),
        ))  # fmt: skip
    return out


async def timed(fn: object, rounds: int = 5) -> tuple[float, float, object]:
    walls, cpus, result = [], [], None
    for _ in range(rounds):
        w, c = time.perf_counter(), time.process_time()
        result = await fn()  # type: ignore[operator]
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus), result


async def run(n: int, keep: bool) -> int:
    work = Path(tempfile.mkdtemp(prefix="necto-bench-search-"))
    try:
        entries = traffic(n)
        store = await Store.open(work / "necto.db")
        try:
            session = await store.create_session("bench search")
            for e in entries:
                e.session_id = session.id
            t0 = time.perf_counter()
            for i in range(0, n, 2000):
                await store.add_entries(entries[i : i + 2000])
            t1, c1 = time.perf_counter(), time.process_time()
            await store.index_now()
            t2, c2 = time.perf_counter(), time.process_time()
            size = sum((work / f).stat().st_size for f in os.listdir(work) if f.startswith("necto.db"))
            print(f"entries                          {n:9d}   (index mode: {store.text_mode})")
            print(f"store (add_entries)              {t1 - t0:9.2f} s")
            print(f"index everything (index_now)     {t2 - t1:9.2f} s wall {c2 - c1:7.2f} s CPU   "
                  f"({n / max(t2 - t1, 1e-9):,.0f} entries/s; database {size / 1e6:,.0f} MB)")  # fmt: skip

            def query(f: str | None = None, text: str | None = None) -> TrafficQuery:
                tree = parse_filter(f) if f else None
                if text:
                    tree = all_of(search_tree(text, list(DEFAULT_SEARCH_PLACES)), tree)
                return TrafficQuery(session_id=session.id, filter=tree, limit=50)

            cases = [
                ('filter body:"order_id":8812', query(f'body:"\\"order_id\\":{NEEDLE_ORDER}"'), 1),
                ("filter plain word 8812", query('order_id":8812'), 1),
                (f"global search q=req-{n // 3:08x}", query(text=f"req-{n // 3:08x}"), 1),
                ("filter status:5xx method:POST", query("status:5xx method:POST"), len(range(0, n, 97))),
                ("filter body:nothing-matches-this", query("body:nothing-matches-this"), 0),
            ]
            for label, q, want in cases:
                wall, cpu, result = await timed(lambda q=q: store.list_entries(q))
                found, total = result  # type: ignore[misc]
                flag = "" if total == want else f"   (!! expected {want})"
                print(f"{label:33s}{wall * 1000:9.1f} ms wall {cpu * 1000:7.1f} ms CPU   total {total}{flag}")
        finally:
            await store.close()
        if keep:
            print(f"kept: {work}")
        return 0
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = ap.parse_args()
    return asyncio.run(run(args.entries, args.keep))


if __name__ == "__main__":
    sys.exit(main())
