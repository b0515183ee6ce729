"""Realistic generated traffic: Entries (headers plus 1-10 KB JSON bodies) and HAR files of them."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from necto.model import Entry, Timings

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi".split()


def _body(rng: random.Random, size: int) -> bytes:
    items = []
    total = 20
    i = 0
    while total < size:
        item = {
            "id": rng.randrange(10**9),
            "name": " ".join(rng.choice(WORDS) for _ in range(3)),
            "price": round(rng.random() * 1000, 2),
            "active": rng.random() < 0.5,
            "tags": [rng.choice(WORDS) for _ in range(3)],
            "updatedAt": f"2026-11-{rng.randrange(1, 29):02d}T12:{rng.randrange(60):02d}:00Z",
        }
        items.append(item)
        total += len(orjson.dumps(item)) + 1
        i += 1
    return orjson.dumps({"page": 1, "count": i, "items": items})


class Generator:
    """Deterministic entries; bodies come from a pool (varied per entry by a unique prefix)."""

    def __init__(self, seed: int = 4) -> None:
        rng = random.Random(seed)
        self.rng = rng
        self.bodies = [_body(rng, rng.randrange(1000, 10_000)) for _ in range(256)]
        self.posts = [_body(rng, rng.randrange(200, 2000)) for _ in range(32)]
        self.t0 = time.time() - 86400

    def entries(self, session_id: str, count: int, start: int = 0) -> Iterator[Entry]:
        rng = self.rng
        for i in range(start, start + count):
            host = f"api{i % 7}.example.com"
            post = i % 5 == 0
            body = b'{"requestId":%d,"data":' % i + self.bodies[rng.randrange(256)] + b"}"
            req_body = self.posts[i % 32] if post else None
            first = i % 10 == 0
            req_headers = [
                ("Host", host), ("User-Agent", UA), ("Accept", "application/json, text/plain, */*"),
                ("Accept-Language", "en-US,en;q=0.9"), ("Accept-Encoding", "gzip, deflate, br"),
                ("Referer", f"https://app.example.com/items?page={i % 50}"),
                ("Cookie", f"session={i:032x}; theme=dark; consent=yes"),
                ("X-Request-Id", f"{i:08x}-bench"),
            ]  # fmt: skip
            if post:
                req_headers += [("Content-Type", "application/json"), ("Content-Length", str(len(req_body or b"")))]
            resp_headers = [
                ("Date", "Mon, 23 Nov 2026 12:00:00 GMT"), ("Content-Type", "application/json; charset=utf-8"),
                ("Content-Length", str(len(body))), ("Connection", "keep-alive"), ("Server", "nginx"),
                ("Cache-Control", "no-cache, no-store, must-revalidate"), ("ETag", f'W/"{i:x}-{len(body):x}"'),
                ("X-Request-Id", f"{i:08x}-bench"), ("Strict-Transport-Security", "max-age=63072000"),
                ("Vary", "Accept-Encoding, Origin"),
            ]  # fmt: skip
            wait = round(5 + rng.random() * 80, 3)
            yield Entry(
                session_id=session_id,
                started=self.t0 + i * 0.01,
                method="POST" if post else "GET",
                url=f"https://{host}/v1/items/{i}?page={i % 50}&sort=name",
                http_version="HTTP/1.1",
                request_headers=req_headers,
                request_body=req_body,
                request_body_size=len(req_body or b""),
                status=200, status_text="OK", response_http_version="HTTP/1.1",
                response_headers=resp_headers, response_body=body,
                response_body_size=len(body), response_wire_size=len(body),
                timings=Timings(
                    blocked=0.2 if first else -1, dns=1.1 if first else -1, connect=12.5 if first else -1,
                    ssl=8.0 if first else -1, send=0.05, wait=wait, receive=round(rng.random() * 3, 3),
                ),
                server_ip=f"203.0.113.{i % 7 + 1}", server_port=443, client_ip="127.0.0.1",
                client_port=40000 + i % 20000, connection_id=f"conn-{i // 10}",
                tls={"version": "TLSv1.3", "cipher": "TLS_AES_128_GCM_SHA256", "alpn": "http/1.1", "sni": host},
                source="capture",
            )  # fmt: skip


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def har_entry(e: Entry) -> dict[str, Any]:
    """A HAR 1.2 entry for an Entry (our own, independent of necto.har, for generating inputs)."""
    t = e.timings
    req: dict[str, Any] = {
        "method": e.method, "url": e.url, "httpVersion": e.http_version, "cookies": [],
        "headers": [{"name": n, "value": v} for n, v in e.request_headers],
        "queryString": [{"name": "page", "value": str(e.url.rsplit("page=", 1)[-1].split("&")[0])},
                        {"name": "sort", "value": "name"}],
        "headersSize": -1, "bodySize": e.request_body_size,
    }  # fmt: skip
    if e.request_body is not None:
        req["postData"] = {"mimeType": "application/json", "text": e.request_body.decode()}
    body = e.response_body or b""
    return {
        "startedDateTime": _iso(e.started),
        "time": t.total,
        "request": req,
        "response": {
            "status": e.status, "statusText": e.status_text, "httpVersion": e.response_http_version,
            "cookies": [], "headers": [{"name": n, "value": v} for n, v in e.response_headers],
            "content": {"size": len(body), "mimeType": "application/json; charset=utf-8", "text": body.decode()},
            "redirectURL": "", "headersSize": -1, "bodySize": e.response_wire_size,
        },
        "cache": {},
        "timings": {"blocked": t.blocked, "dns": t.dns, "connect": t.connect, "ssl": t.ssl,
                    "send": t.send, "wait": t.wait, "receive": t.receive},
        "serverIPAddress": e.server_ip,
        "connection": e.connection_id,
    }  # fmt: skip


HAR_HEAD = b'{"log":{"version":"1.2","creator":{"name":"necto-bench","version":"1"},"pages":[],"entries":['
HAR_TAIL = b"]}}"


def write_har(path: Path, target_bytes: int, gen: Generator) -> tuple[int, int]:
    """Write a HAR of about `target_bytes`; return (bytes, entries)."""
    n = 0
    size = len(HAR_HEAD)
    with open(path, "wb", buffering=1 << 20) as f:
        f.write(HAR_HEAD)
        while size < target_bytes:
            for e in gen.entries("x", 1000, start=n):
                chunk = (b"," if n else b"") + orjson.dumps(har_entry(e))
                f.write(chunk)
                size += len(chunk)
                n += 1
                if size >= target_bytes:
                    break
        f.write(HAR_TAIL)
        size += len(HAR_TAIL)
    return size, n
