"""Two sessions or HAR files: pair entries by method + URL (query order ignored) + occurrence,
report what is only on one side, what changed, and per-endpoint timing medians.

The CPU-heavy parts (digests, pairing, header and body diffs, medians) run in worker threads:
the proxy shares the event loop."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from necto.compare.entries import (
    PHASES,
    body_of,
    body_sha256,
    body_size,
    diff_entry_bodies,
    diff_headers,
    headers_differ,
    phase,
    response_body_known,
    status_of,
)
from necto.compare.options import CompareOptions
from necto.model import Entry, Header, Timings
from necto.rewrite import host_port, rewrite_url
from necto.vocab import DEFAULT_PORTS

DIGEST_BATCH = 200


def pairing_key(url: str, ignore_host: bool) -> tuple[str, str]:
    """(endpoint, query): scheme/host lower-cased, default port dropped, query params sorted."""
    u = urlsplit(url)
    host, port = host_port(u)
    origin = ""
    if not ignore_host:
        scheme = u.scheme.lower()
        shown = f"[{host}]" if ":" in host else host  # an IPv6 literal
        origin = f"{scheme}://{shown}" + (f":{port}" if port != DEFAULT_PORTS.get(scheme) else "")
    query = urlencode(sorted(parse_qsl(u.query, keep_blank_values=True)))
    return origin + (u.path or "/"), query


@dataclass(slots=True)
class Digest:
    """What a session diff keeps of one entry; the bodies are fetched again only if they differ."""

    id: str
    method: str
    url: str
    endpoint: str  # method + normalized origin/path, no query: the timing table's row
    label: str  # method + this entry's own URL without query, for people
    key: str  # endpoint + sorted query: the pairing key
    status: int
    error: str | None
    response_headers: list[Header]
    body_sha256: str | None  # None: the body was not recorded (unknown, not empty)
    body_size: int
    timings: Timings


def digest(e: Entry, opts: CompareOptions, side_a: bool) -> Digest:
    url = rewrite_url(e.url, opts.rewrites) if side_a and opts.rewrites else e.url
    endpoint, query = pairing_key(url, opts.ignore_host)
    method = e.method.upper()
    return Digest(
        id=e.id,
        method=method,
        url=e.url,
        endpoint=f"{method} {endpoint}",
        label=f"{method} {e.url.split('?', 1)[0].split('#', 1)[0]}",
        key=f"{method} {endpoint}" + (f"?{query}" if query else ""),
        status=status_of(e),
        error=e.error,
        response_headers=e.response_headers,
        body_sha256=body_sha256(body_of(e, "response")) if response_body_known(e) else None,
        body_size=body_size(body_of(e, "response")) or 0,
        timings=e.timings,
    )


async def digest_all(entries: AsyncIterator[Entry], opts: CompareOptions, side_a: bool) -> list[Digest]:
    """Digest a stream of entries in batches, hashing off the event loop."""
    out: list[Digest] = []
    batch: list[Entry] = []

    def run(items: list[Entry]) -> list[Digest]:
        return [digest(e, opts, side_a) for e in items if e.websocket is None]

    async for e in entries:
        batch.append(e)
        if len(batch) >= DIGEST_BATCH:
            out += await asyncio.to_thread(run, batch)
            batch = []
    if batch:
        out += await asyncio.to_thread(run, batch)
    return out


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _phase_medians(ds: list[Digest]) -> dict[str, float | None]:
    out = {}
    for name in (*PHASES, "total"):
        out[name] = _median([v for d in ds if (v := phase(d.timings, name)) is not None])
    return out


def timing_table(a: list[Digest], b: list[Digest], opts: CompareOptions) -> list[dict[str, Any]]:
    """Median total and per-phase time per endpoint, A vs B; flagged past both thresholds."""
    ends: dict[str, tuple[list[Digest], list[Digest]]] = {}
    for d in a:
        ends.setdefault(d.endpoint, ([], []))[0].append(d)
    for d in b:
        ends.setdefault(d.endpoint, ([], []))[1].append(d)
    rows = []
    for da, db in ends.values():
        ma, mb = _phase_medians(da), _phase_medians(db)
        ta, tb = ma["total"], mb["total"]
        delta = round(tb - ta, 3) if ta is not None and tb is not None else None
        pct = round(delta / ta * 100, 1) if delta is not None and ta else None
        flagged = (
            delta is not None and abs(delta) >= opts.threshold_ms and (pct is None or abs(pct) >= opts.threshold_pct)
        )
        rows.append(
            {
                "endpoint": (da or db)[0].label,
                "count": {"a": len(da), "b": len(db)},
                "a": ma,
                "b": mb,
                "delta": delta,
                "deltaPct": pct,
                "flagged": flagged,
            }
        )
    return rows


Fetch = Callable[[Sequence[str]], Awaitable[list[Entry]]]


def _brief(d: Digest, occurrence: int) -> dict[str, Any]:
    return {"id": d.id, "method": d.method, "url": d.url, "status": d.status, "occurrence": occurrence}


Suspects = list[tuple[dict[str, Any], Digest, Digest]]


def _pair(
    a: list[Digest], b: list[Digest], opts: CompareOptions
) -> tuple[list[Any], list[Any], int, list[dict[str, Any]], Suspects]:
    """Pair by key + occurrence; status and header changes now, bodies only where hashes differ."""
    groups_a: dict[str, list[Digest]] = {}
    groups_b: dict[str, list[Digest]] = {}
    for d in a:
        groups_a.setdefault(d.key, []).append(d)
    for d in b:
        groups_b.setdefault(d.key, []).append(d)
    only_a, only_b, pairs = [], [], []
    for key, das in groups_a.items():
        dbs = groups_b.get(key, [])
        for i, da in enumerate(das):
            if i < len(dbs):
                pairs.append((da, dbs[i], i))
            else:
                only_a.append(_brief(da, i))
    for key, dbs in groups_b.items():
        n = len(groups_a.get(key, []))
        only_b += [_brief(db, i) for i, db in enumerate(dbs) if i >= n]

    changes: list[dict[str, Any]] = []
    suspects: Suspects = []
    for da, db, occ in pairs:
        item: dict[str, Any] = {
            "method": da.method, "url": da.url, "urlB": db.url, "occurrence": occ,
            "aId": da.id, "bId": db.id,
        }  # fmt: skip
        if da.status != db.status:
            item["status"] = {"a": da.status, "b": db.status}
            if da.error or db.error:
                item["error"] = {"a": da.error, "b": db.error}
        h = diff_headers(da.response_headers, db.response_headers, opts)
        if headers_differ(h):
            item["headers"] = h
        if da.body_sha256 is not None and db.body_sha256 is not None and da.body_sha256 != db.body_sha256:
            suspects.append((item, da, db))
        changes.append(item)
    return only_a, only_b, len(pairs), changes, suspects


async def diff_sessions(
    a: list[Digest],
    b: list[Digest],
    fetch_a: Fetch,
    fetch_b: Fetch,
    opts: CompareOptions,
    labels: tuple[str, str] = ("A", "B"),
) -> dict[str, Any]:
    """Pair by method + URL (query order-insensitive) + occurrence; report what differs."""
    only_a, only_b, paired, changes, suspects = await asyncio.to_thread(_pair, a, b, opts)
    await _fill_body_diffs(suspects, fetch_a, fetch_b, opts)
    changes = [c for c in changes if {"status", "headers", "body"} & c.keys()]
    timing = await asyncio.to_thread(timing_table, a, b, opts)
    summary = {
        "paired": paired,
        "onlyInA": len(only_a),
        "onlyInB": len(only_b),
        "statusChanges": sum("status" in c for c in changes),
        "headerChanges": sum("headers" in c for c in changes),
        "bodyChanges": sum("body" in c for c in changes),
        "timingFlags": sum(r["flagged"] for r in timing),
    }
    return {
        "identical": not (only_a or only_b or changes or summary["timingFlags"]),
        "a": {"label": labels[0], "count": len(a)},
        "b": {"label": labels[1], "count": len(b)},
        "summary": summary,
        "onlyInA": only_a,
        "onlyInB": only_b,
        "changes": changes,
        "timing": timing,
        "options": {
            "ignoreVolatile": opts.ignore_volatile,
            "ignoreHeaders": sorted(opts.ignore_headers),
            "ignorePaths": opts.ignore_paths,
            "ignoreHost": opts.ignore_host,
            "thresholdMs": opts.threshold_ms,
            "thresholdPct": opts.threshold_pct,
        },
    }


async def _fill_body_diffs(suspects: Suspects, fetch_a: Fetch, fetch_b: Fetch, opts: CompareOptions) -> None:
    """Bodies whose hashes differ are loaded again (a chunk at a time) and diffed off the loop."""
    for i in range(0, len(suspects), DIGEST_BATCH):
        chunk = suspects[i : i + DIGEST_BATCH]
        ea = {e.id: e for e in await fetch_a([da.id for _, da, _ in chunk])}
        eb = {e.id: e for e in await fetch_b([db.id for _, _, db in chunk])}
        await asyncio.to_thread(_diff_bodies, chunk, ea, eb, opts)


def _diff_bodies(chunk: Suspects, ea: dict[str, Entry], eb: dict[str, Entry], opts: CompareOptions) -> None:
    for item, da, db in chunk:
        x, y = ea.get(da.id), eb.get(db.id)
        if x is None or y is None:
            continue
        body = diff_entry_bodies(x, y, "response", opts)
        if body["identical"] is False:
            item["body"] = body


async def compare_sources(
    a: AsyncIterator[Entry],
    b: AsyncIterator[Entry],
    fetch_a: Fetch,
    fetch_b: Fetch,
    opts: CompareOptions,
    labels: tuple[str, str] = ("A", "B"),
) -> dict[str, Any]:
    """Session/HAR diff from two entry streams (store sessions or loaded HAR files)."""
    da = await digest_all(a, opts, side_a=True)
    db = await digest_all(b, opts, side_a=False)
    return await diff_sessions(da, db, fetch_a, fetch_b, opts, labels)


def list_fetcher(entries: Sequence[Entry]) -> Fetch:
    """A fetch for entries already in memory (a loaded HAR file)."""
    by_id = {e.id: e for e in entries}

    async def fetch(ids: Sequence[str]) -> list[Entry]:
        return [by_id[i] for i in ids if i in by_id]

    return fetch


async def iterate(entries: Sequence[Entry]) -> AsyncIterator[Entry]:
    for e in sorted(entries, key=lambda e: e.started):
        yield e
