"""Page loads a user feels: headless Chromium loads a local page with ~200 subresources
directly, through bare mitmdump and through Necto, in alternating rounds.

The page server (hypercorn, its own process: `scripts/bench _pageserver`) serves one ASGI app on
plain HTTP/1.1 and on HTTPS with HTTP/2 (ALPN h2). The page has 60 scripts, 60 stylesheets,
60 images and, once loaded, 20 XHR JSON requests; a load ends when the load event has fired and
every XHR has answered. Each load is a new browser context (empty cache, new connections).
Reported: median load time per target and protocol, and what each proxy adds over direct.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_lib import procs, proxies
from bench_lib.upstream import Upstream

BENCH = str(Path(__file__).resolve().parent.parent / "bench")
CHROMIUM = "/usr/bin/chromium"
N_JS, N_CSS, N_IMG, N_XHR = 60, 60, 60, 20
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cf"
    "c0f01f0005000201e2272fd00000000049454e44ae426082"
)


def page_html() -> bytes:
    parts = ["<!doctype html><html><head><title>bench page</title>"]
    parts += [f'<link rel="stylesheet" href="/r/c{i}.css">' for i in range(N_CSS)]
    parts += [f'<script src="/r/s{i}.js"></script>' for i in range(N_JS)]
    parts.append("</head><body><h1>bench</h1>")
    parts += [f'<img src="/r/i{i}.png" width="1" height="1">' for i in range(N_IMG)]
    parts.append(
        "<script>window.__xhr = 0; addEventListener('load', () => { for (let i = 0; i < " + str(N_XHR) + "; i++)"
        " fetch('/r/x' + i + '.json').then(r => r.json()).then(() => window.__xhr++); });</script>"
    )
    parts.append("</body></html>")
    return "".join(parts).encode()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The page and its subresources (small bodies, like a real page's many small files)."""
    if scope["type"] != "http":
        return
    path: str = scope["path"]
    if path == "/page.html":
        body, ctype = page_html(), "text/html; charset=utf-8"
    elif path.endswith(".js"):
        body, ctype = (b"// %s\n" % path.encode()) + b"var x%d = 1;\n" % len(path) * 40, "application/javascript"
    elif path.endswith(".css"):
        body, ctype = b"h1 { color: #123456; }\n" * 40, "text/css"
    elif path.endswith(".png"):
        body, ctype = PNG, "image/png"
    elif path.endswith(".json"):
        body, ctype = b'{"ok": true, "path": "%s"}' % path.encode(), "application/json"
    else:
        body, ctype = b"not found", "text/plain"
    status = 404 if body == b"not found" else 200
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


def serve(argv: list[str]) -> int:
    """`scripts/bench _pageserver PLAIN_PORT TLS_PORT CERT KEY`: serve until killed."""
    import asyncio

    from hypercorn.asyncio import serve as hyper_serve
    from hypercorn.config import Config

    plain, tls, cert, key = int(argv[0]), int(argv[1]), argv[2], argv[3]
    cfg = Config()
    cfg.bind = [f"127.0.0.1:{tls}"]
    cfg.insecure_bind = [f"127.0.0.1:{plain}"]
    cfg.certfile, cfg.keyfile = cert, key
    cfg.alpn_protocols = ["h2", "http/1.1"]
    cfg.accesslog = cfg.errorlog = None
    asyncio.run(hyper_serve(app, cfg))  # type: ignore[arg-type]
    return 0


def available() -> str | None:
    """None when the part can run, else why not."""
    try:
        import hypercorn  # noqa: F401
        import playwright  # noqa: F401
    except ImportError as e:
        return f"{e.name} is not installed (scripts/setup --test && scripts/setup-test-tools)"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM}"
    return None


def run_pageload(up: Upstream, work: Path, rounds: int, log: Callable[[str], None]) -> dict[str, Any]:
    why = available()
    if why is not None:
        return {"status": f"not available: {why}"}
    from playwright.sync_api import sync_playwright

    plain, tls = procs.free_port(), procs.free_port()
    server = procs.spawn([sys.executable, BENCH, "_pageserver", str(plain), str(tls), str(up.pki.cert_pem),
                          str(up.pki.key_pem)], log=work / "pageserver.log")  # fmt: skip
    mitm = necto = None
    urls = {"http1": f"http://127.0.0.1:{plain}/page.html", "https-h2": f"https://localhost:{tls}/page.html"}
    times: dict[str, dict[str, list[float]]] = {p: {t: [] for t in ("direct", "mitmdump", "necto")} for p in urls}
    try:
        procs.wait_port(plain, server, timeout=30)
        procs.wait_port(tls, server, timeout=30)
        mitm = proxies.start_mitmdump(work, up.pki.ca_pem)
        necto = proxies.start_necto(work / "necto-pageload", up.pki.ca_pem, work / "necto-pageload.log")
        ports = {"direct": None, "mitmdump": mitm.port, "necto": necto.port}
        with sync_playwright() as pw:
            browsers = {}
            for target, port in ports.items():
                args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                        "--disable-component-update", "--disable-sync", "--proxy-bypass-list=<-loopback>"]  # fmt: skip
                if port is not None:
                    args.append(f"--proxy-server=http://127.0.0.1:{port}")
                browsers[target] = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
            try:
                for b in browsers.values():  # warm up: each proxy's certificate, Chromium's caches
                    for url in urls.values():
                        _load(b, url)
                for rnd in range(rounds):
                    order = list(ports) if rnd % 2 == 0 else list(reversed(list(ports)))
                    for proto, url in urls.items():
                        for target in order:
                            ms = _load(browsers[target], url)
                            times[proto][target].append(ms)
                            log(f"  round {rnd + 1}/{rounds} {proto:8s} {target:9s} {ms:8.1f} ms")
            finally:
                for b in browsers.values():
                    b.close()
    finally:
        for p in (mitm, necto):
            if p is not None:
                p.stop()
        procs.kill(server)
    out: dict[str, Any] = {"subresources": N_JS + N_CSS + N_IMG + N_XHR, "rounds": rounds, "by_protocol": {}}
    for proto, by in times.items():
        med = {t: round(statistics.median(v), 1) for t, v in by.items() if v}
        row: dict[str, Any] = {"median_ms": med}
        if {"direct", "mitmdump", "necto"} <= med.keys():
            added_m, added_n = med["mitmdump"] - med["direct"], med["necto"] - med["direct"]
            row["added_ms"] = {"mitmdump": round(added_m, 1), "necto": round(added_n, 1)}
            row["added_ratio"] = round(added_n / added_m, 2) if added_m > 0 else None
        out["by_protocol"][proto] = row
    return out


def _load(browser: Any, url: str) -> float:
    """One page load in a fresh context: ms until the load event and every XHR are done."""
    ctx = browser.new_context(ignore_https_errors=True)
    try:
        page = ctx.new_page()
        t = time.perf_counter()
        page.goto(url, wait_until="load", timeout=60_000)
        page.wait_for_function(f"window.__xhr === {N_XHR}", timeout=60_000, polling=5)
        return (time.perf_counter() - t) * 1000
    finally:
        ctx.close()
