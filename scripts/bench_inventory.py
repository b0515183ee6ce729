#!/usr/bin/env python3
"""How long the API inventory takes for a big session (issue 20).

    scripts/bench_inventory.py                 100,000 entries
    scripts/bench_inventory.py --entries 20000 --keep

Writes a session of synthetic API traffic straight into a store in a temporary directory
(code-hosting-like nested names: thousands of logins, hundreds of owner/repo pairs, integer
and SHA ids, branch refs, labels; prefixed ids under /v1; static assets and 404 typos), then
times `build_inventory` over `store.iter_entries` as `GET /api/sessions/:id/inventory` does,
and, separately, the templating step (`InventoryBuilder.finish`) on entries already in memory,
and a worst case for templating: deep paths whose siblings never share a shape (every sibling
group is compared, rejected, and its subtrees decided again, until the work budget is spent).
Prints wall and CPU seconds (the machine may be shared) and the endpoints; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import resource
import shutil
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

from necto.inventory import InventoryBuilder, build_inventory  # noqa: E402
from necto.model import Entry, Timings  # noqa: E402
from necto.store import Store  # noqa: E402

HOST = "api.hub.test"
WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike oscar papa quebec romeo".split()


def _sha(i: int) -> str:
    return hashlib.sha1(str(i).encode()).hexdigest()


def _login(i: int) -> str:
    return f"{WORDS[i % len(WORDS)]}-{WORDS[(i // len(WORDS)) % len(WORDS)]}{i // 289 or ''}"


def traffic(n: int, seed: int = 20) -> list[Entry]:
    """n entries of varied API traffic; bodies are small JSON objects shaped per operation."""
    rng = random.Random(seed)
    logins = [_login(i) for i in range(4000)]
    repos = [(logins[i], f"{WORDS[i % 17]}-{i}") for i in range(0, 1200, 3)]
    labels = ["bug", "enhancement", "documentation", "good%20first%20issue", "P1", "P2", "wontfix", "question"]
    branches = ["main", "develop", "release-1.2", "staging", "hotfix-login", "canary"]

    def repo_path() -> str:
        owner, name = rng.choice(repos)
        return f"/repos/{owner}/{name}"

    ops = [
        ("GET", lambda: f"/users/{rng.choice(logins)}", lambda: {"login": "x", "id": 1, "followers": 3}),
        ("GET", lambda: f"/users/{rng.choice(logins)}/repos", lambda: [{"id": 1, "name": "r", "private": False}]),
        ("GET", lambda: repo_path(), lambda: {"id": 1, "name": "r", "full_name": "o/r", "owner": {"login": "o"}}),
        ("GET", lambda: f"{repo_path()}/pulls/{rng.randint(1, 90000)}", lambda: {"id": 1, "number": 2, "state": "open", "head": {"sha": "x"}}),
        ("GET", lambda: f"{repo_path()}/pulls/comments", lambda: [{"id": 1, "body": "nit", "path": "a.c", "line": 3}]),
        ("GET", lambda: f"{repo_path()}/issues/{rng.randint(1, 90000)}", lambda: {"id": 1, "number": 2, "title": "t", "labels": []}),
        ("POST", lambda: f"{repo_path()}/issues/{rng.randint(1, 90000)}/comments", lambda: {"id": 1, "body": "b", "user": {"login": "u"}}),
        ("GET", lambda: f"{repo_path()}/commits/{_sha(rng.randrange(10**6)) if rng.random() < 0.7 else rng.choice(branches)}",
         lambda: {"sha": "s", "commit": {"message": "m"}, "parents": []}),
        ("GET", lambda: f"{repo_path()}/labels/{rng.choice(labels)}", lambda: {"id": 1, "name": "n", "color": "fff"}),
        ("GET", lambda: f"/orgs/{rng.choice(logins[:300])}/teams/{rng.choice(WORDS)}", lambda: {"id": 1, "slug": "s", "privacy": "closed"}),
        ("DELETE", lambda: f"/orgs/{rng.choice(logins[:300])}/teams/{rng.choice(WORDS)}/memberships/{rng.choice(logins)}", lambda: None),
        ("GET", lambda: f"/v1/customers/cus_{hashlib.md5(str(rng.randrange(10**5)).encode()).hexdigest()[:14]}",
         lambda: {"id": "cus_x", "object": "customer", "email": "a@b.test"}),
        ("GET", lambda: "/v1/customers/search", lambda: {"object": "search_result", "data": []}),
    ]  # fmt: skip
    out: list[Entry] = []
    for k in range(n):
        r = rng.random()
        if r < 0.05:  # static assets
            path, status, ctype, body = f"/assets/app.{k % 50}.js", 200, "application/javascript", b"x()"
            method = "GET"
        elif r < 0.07:  # typos and probes: 404 only
            path, status, ctype, body = (
                f"/orgs/{rng.choice(logins[:300])}/team",
                404,
                "application/json",
                b'{"message":"Not Found"}',
            )
            method = "GET"
        else:
            method, make_path, make_body = rng.choice(ops)
            path = make_path()
            value = make_body()
            status = 204 if value is None else (404 if rng.random() < 0.03 else 200)
            ctype, body = ("application/json", orjson.dumps(value)) if value is not None else (None, None)
        out.append(Entry(
            session_id="", started=1_700_000_000 + k / 100, method=method, url=f"https://{HOST}{path}",
            request_headers=[("Host", HOST), ("Authorization", "Bearer abc.def.ghi")], status=status,
            response_headers=[("Content-Type", ctype)] if ctype else [], response_body=body,
            timings=Timings(send=0.1, wait=5.0, receive=0.2),
        ))  # fmt: skip
    return out


def deep_traffic(n: int, depth: int) -> list[Entry]:
    """Paths `depth` levels deep, four value-like names per level, each answering its own JSON."""
    rng = random.Random(7)
    out = []
    for k in range(n):
        path = "/root/" + "/".join(f"n{rng.randrange(4)}.x" for _ in range(depth))
        body = orjson.dumps({f"k{rng.randrange(50)}": 1, f"j{rng.randrange(50)}": 2})
        out.append(Entry(session_id="", started=k, method="GET", url=f"https://{HOST}{path}", status=200,
                         response_headers=[("Content-Type", "application/json")], response_body=body))  # fmt: skip
    return out


async def run(n: int, keep: bool) -> int:
    work = Path(tempfile.mkdtemp(prefix="necto-bench-inventory-"))
    try:
        t0 = time.perf_counter()
        entries = traffic(n)
        t1 = time.perf_counter()
        store = await Store.open(work / "necto.db")
        try:
            session = await store.create_session("bench inventory")
            for e in entries:
                e.session_id = session.id
            for i in range(0, n, 2000):
                await store.add_entries(entries[i : i + 2000])
            t2, c2 = time.perf_counter(), time.process_time()
            inv = await build_inventory(store.iter_entries(session.id), source={"kind": "session", "id": session.id})
            t3, c3 = time.perf_counter(), time.process_time()
        finally:
            await store.close()
        builder = InventoryBuilder()
        t4, c4 = time.perf_counter(), time.process_time()
        builder.add_many(entries)
        t5, c5 = time.perf_counter(), time.process_time()
        again = builder.finish()
        t6, c6 = time.perf_counter(), time.process_time()
        deep = InventoryBuilder()
        deep.add_many(deep_traffic(2000, 30))
        c7 = time.process_time()
        worst = deep.finish()
        c8 = time.process_time()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"entries                         {n:>9,}")
        print(f"generate                        {t1 - t0:9.2f} s")
        print(f"store (add_entries)             {t2 - t1:9.2f} s")
        print(
            f"build_inventory from the store  {t3 - t2:9.2f} s  ({c3 - c2:.2f} s CPU)  <- GET /api/sessions/:id/inventory"
        )
        print(f"  in memory: add                {t5 - t4:9.2f} s  ({c5 - c4:.2f} s CPU)")
        print(f"  in memory: finish (templating){t6 - t5:9.2f} s  ({c6 - c5:.2f} s CPU)")
        print(f"worst case: 2,000 deep unlike paths, finish {c8 - c7:.2f} s CPU ({len(worst.endpoints)} endpoints)")
        print(f"endpoints                       {len(inv.endpoints):>9,}  (skipped {inv.skipped})")
        print(f"peak RSS                        {rss:9.0f} MiB")
        assert len(again.endpoints) == len(inv.endpoints)
        for ep in inv.endpoints[:40]:
            print(f"  {ep.method:<6} {ep.template}  x{ep.stats.count}{'' if ep.observed_success else '  (no 2xx)'}")
        if keep:
            print(f"kept {work}")
        return 0
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(
        prog="scripts/bench_inventory.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--keep", action="store_true", help="keep the temporary store")
    args = ap.parse_args()
    return asyncio.run(run(args.entries, args.keep))


if __name__ == "__main__":
    sys.exit(main())
