"""Plain helpers the test modules share: paths, the upstream test app, Necto start-up, polling,
subprocesses and the third-party HAR readers. Fixtures live in conftest.py; test modules import
from here (`from helpers import ...`) and never from each other.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import gzip
import ipaddress
import os
import re
import shutil
import signal
import socket
import ssl
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from necto.app import Necto
from necto.config import Config
from necto.model import Entry
from necto.store import Store

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
ARTIFACTS = ROOT / "test-artifacts"
HAR_VALIDATOR = ROOT / ".cache/node/node_modules/har-validator"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]


# ------------------------------------------------------------------ the external HAR corpus
def corpus_location() -> Path:
    """Where the corpus of real HAR files is looked for: $NECTO_HAR_CORPUS, else ../shared."""
    env = os.environ.get("NECTO_HAR_CORPUS")
    return Path(env).expanduser() if env else ROOT.parent / "shared" / "har-corpus"


CORPUS = corpus_location()
HAVE_CORPUS = CORPUS.is_dir()
CORPUS_MISSING = (
    f"HAR corpus not found at {CORPUS}: set NECTO_HAR_CORPUS to a copy of shared/har-corpus "
    "(CI has it beside the project); tests/data/ covers every import rule without it"
)


def missing_tool(what: str) -> None:
    """Skip (or, in CI, fail) a test whose third-party tool is not installed."""
    message = f"{what} is not installed: run scripts/setup-test-tools (and apt-get install chromium)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


# A 1x1 transparent PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
)


# ------------------------------------------------------------------ certificates for upstream
@dataclass
class TestPki:
    __test__ = False  # a fixture type, not a test class
    ca_pem: Path
    cert_pem: Path
    key_pem: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert_pem, self.key_pem)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx


def make_pki(directory: Path) -> TestPki:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Necto Test Upstream CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pki = TestPki(directory / "upstream-ca.pem", directory / "upstream.pem", directory / "upstream-key.pem")
    pki.ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pki


# ------------------------------------------------------------------ the upstream application
HTML_PAGE = b"""<!doctype html><html><head><title>Necto test page</title>
<link rel="stylesheet" href="/style.css"></head>
<body><h1 id="title">Hello from upstream</h1><img src="/image.png" alt="pixel">
<p id="data">loading</p>
<script src="/app.js"></script></body></html>"""
APP_JS = b"""fetch('/api/data').then(r => r.json()).then(d => {
  document.getElementById('data').textContent = d.message;
});"""


def upstream_app() -> web.Application:
    routes = web.RouteTableDef()

    @routes.get("/hello")
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello world")

    @routes.get("/")
    @routes.get("/index.html")
    async def index(request: web.Request) -> web.Response:
        return web.Response(body=HTML_PAGE, content_type="text/html", charset="utf-8")

    @routes.get("/style.css")
    async def style(request: web.Request) -> web.Response:
        return web.Response(text="h1 { color: teal; }", content_type="text/css")

    @routes.get("/app.js")
    async def app_js(request: web.Request) -> web.Response:
        return web.Response(body=APP_JS, content_type="application/javascript")

    @routes.get("/api/data")
    async def data(request: web.Request) -> web.Response:
        return web.json_response({"message": "data loaded", "items": [1, 2, 3]})

    @routes.get("/image.png")
    async def image(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    @routes.get("/delay")
    async def delay(request: web.Request) -> web.Response:
        await asyncio.sleep(int(request.query.get("ms", "200")) / 1000)
        return web.Response(text="late")

    @routes.get("/gzip")
    async def gz(request: web.Request) -> web.Response:
        body = b"compressible " * 200
        return web.Response(
            body=gzip.compress(body),
            headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"},
        )

    @routes.get("/redirect")
    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/hello")

    @routes.get("/cookies")
    async def cookies(request: web.Request) -> web.Response:
        resp = web.Response(text="cookies set")
        resp.set_cookie("session", "abc123", httponly=True, path="/", samesite="Lax")
        resp.set_cookie("theme", "dark", max_age=3600)
        return resp

    @routes.post("/echo")
    @routes.put("/echo")
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.Response(
            body=body, content_type=request.content_type or "application/octet-stream"
        )

    @routes.get("/status/{code}")
    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="status")

    @routes.get("/big")
    async def big(request: web.Request) -> web.Response:
        size = int(request.query.get("bytes", str(1 << 20)))
        return web.Response(body=b"x" * size, content_type="application/octet-stream")

    @routes.get("/ws")
    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for msg in sock:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await sock.send_str("echo: " + msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await sock.send_bytes(msg.data[::-1])
        return sock

    app = web.Application()
    app.add_routes(routes)
    return app


@dataclass
class Upstream:
    http_url: str  # http://127.0.0.1:PORT
    https_url: str  # https://localhost:PORT
    http_port: int
    https_port: int


async def start_upstream(pki: TestPki) -> tuple[web.AppRunner, Upstream]:
    """The upstream app on a plain and a TLS port; stop it with `runner.cleanup()`."""
    runner = web.AppRunner(upstream_app(), access_log=None)
    await runner.setup()
    plain = web.TCPSite(runner, "127.0.0.1", 0)
    secure = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=pki.server_context())
    await plain.start()
    await secure.start()
    hp = plain._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    sp = secure._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, Upstream(f"http://127.0.0.1:{hp}", f"https://localhost:{sp}", hp, sp)


async def h2_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A minimal ASGI app; hypercorn serves it over TLS with ALPN h2."""
    if scope["type"] != "http":
        return
    body = f"h2 says hi to {scope['path']}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


async def wait_for_port(port: int, timeout: float = 30.0) -> None:
    """Poll until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing listens on port {port} after {timeout} s") from None
            await asyncio.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------ Necto itself
@dataclass
class RunningNecto:
    app: Necto
    proxy_url: str
    api_url: str
    ca_pem: Path
    data_dir: Path

    @property
    def store(self) -> Store:
        assert self.app.store is not None
        return self.app.store

    def client_ssl(self) -> ssl.SSLContext:
        """A client context that trusts Necto's CA (as a user's curl --cacert would)."""
        return ssl.create_default_context(cafile=str(self.ca_pem))


def necto_config(data_dir: Path, pki: TestPki, **overrides: Any) -> Config:
    cfg = Config(data_dir=data_dir, proxy_port=0, api_port=0, upstream_ca=pki.ca_pem)
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


async def start_necto(cfg: Config) -> RunningNecto:
    app = Necto(cfg)
    addrs = await app.start()
    assert app.ca is not None
    return RunningNecto(
        app=app,
        proxy_url=f"http://{addrs.proxy[0]}:{addrs.proxy[1]}",
        api_url=f"http://{addrs.api[0]}:{addrs.api[1]}",
        ca_pem=app.ca.cert_pem,
        data_dir=cfg.data_dir,
    )


async def wait_for_entries(
    store: Store, session_id: str, count: int, timeout: float = 10.0
) -> list[Any]:
    """Poll (no fixed sleeps) until the session holds `count` entries; return them in order."""
    deadline = time.monotonic() + timeout
    while True:
        await store.flush()
        entries = [e async for e in store.iter_entries(session_id)]
        if len(entries) >= count or time.monotonic() > deadline:
            assert len(entries) >= count, f"expected {count} entries, found {len(entries)}"
            return entries
        await asyncio.sleep(0.02)


async def run_cmd(*argv: str, stdin: bytes | None = None, timeout: float = 60) -> tuple[int, bytes, bytes]:
    """Run a real program (curl, node, ...) without blocking the shared loop."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NO_PROXY": "", "no_proxy": ""},
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    assert proc.returncode is not None
    return proc.returncode, out, err


async def curl(necto: RunningNecto, *args: str) -> tuple[int, bytes, bytes]:
    """curl through the proxy, trusting Necto's CA, as the README tells users to."""
    return await run_cmd("curl", "-sS", "-x", necto.proxy_url, "--cacert", str(necto.ca_pem), *args)


async def necto_cli(*args: str, stdin: bytes | None = None, timeout: float = 120) -> tuple[int, bytes, bytes]:
    """Run the `necto` command line with the interpreter running the tests."""
    return await run_cmd(sys.executable, "-m", "necto", *args, stdin=stdin, timeout=timeout)


async def har_validator_errors(path: Path) -> str | None:
    """None when har-validator (npm) accepts the file, else what it complained about."""
    node = shutil.which("node")
    if node is None or not (HAR_VALIDATOR / "package.json").is_file():
        missing_tool("har-validator (npm)")
    script = (
        f"const v = require({str(HAR_VALIDATOR)!r});"
        f"const har = JSON.parse(require('fs').readFileSync({str(path)!r}, 'utf8'));"
        "v.har(har).then(() => console.log('VALID'))"
        ".catch(e => { console.log(JSON.stringify(e.errors || e.message)); process.exit(1); });"
    )
    code, out, err = await run_cmd(node, "-e", script)  # type: ignore[arg-type]
    return None if code == 0 and out.strip() == b"VALID" else out.decode() + err.decode()


def b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


# ------------------------------------------------------------------ standard captured traffic
FORM = "name=necto&lang=py+thon&empty="
JSON_BODY = '{"name": "necto", "n": 1}'


@dataclass
class Captured:
    session_id: str
    session_name: str
    entries: list[Entry]
    base: str  # the plain-HTTP origin the traffic went to


async def capture_standard_traffic(necto: RunningNecto, http_url: str, https_url: str, name: str) -> Captured:
    """An HTML page and its assets, a JSON XHR, an image, a urlencoded POST, a JSON POST, a
    redirect, a gzip response, cookies, a WebSocket and a failed request, through the proxy."""
    session = await necto.store.create_session(name, activate=True)
    for path in ("/", "/style.css", "/app.js", "/image.png", "/api/data"):
        code, _, err = await curl(necto, f"{http_url}{path}")
        assert code == 0, err
    await curl(necto, "-X", "POST", "--data-binary", FORM, "-H", "Content-Type: application/x-www-form-urlencoded", f"{http_url}/echo")
    await curl(necto, "-X", "POST", "--data-binary", JSON_BODY, "-H", "Content-Type: application/json", f"{http_url}/echo")
    await curl(necto, f"{http_url}/redirect")
    await curl(necto, f"{http_url}/gzip", "-H", "Accept-Encoding: gzip")
    await curl(necto, f"{https_url}/cookies", "-H", "Cookie: a=1; b=two")
    async with aiohttp.ClientSession() as client:
        async with client.ws_connect(
            https_url.replace("https", "wss") + "/ws", proxy=necto.proxy_url, ssl=necto.client_ssl()
        ) as ws:
            await ws.send_str("ping")
            assert await ws.receive_str() == "echo: ping"
            await ws.send_bytes(b"\x01\x02\x03")
            assert await ws.receive_bytes() == b"\x03\x02\x01"
    await curl(necto, "http://127.0.0.1:1/unreachable")
    entries = await wait_for_entries(necto.store, session.id, 12)
    return Captured(session.id, name, entries, http_url)


async def poll_until(check: Any, what: str, timeout: float = 10.0) -> None:
    """Poll `check()` (sync or async) until true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.02)


# ------------------------------------------------------------------ Necto as its own process
NECTO = [sys.executable, "-m", "necto"]


class Proc:
    def __init__(self, proc: asyncio.subprocess.Process, banner: str) -> None:
        self.proc = proc
        self.banner = banner
        m = re.search(r"Proxy\s+(http://\S+)", banner)
        a = re.search(r"API \+ page\s+(http://\S+?)/?\n", banner)
        self.proxy_url = m.group(1) if m else ""
        self.api_url = a.group(1) if a else ""


@asynccontextmanager
async def necto_process(
    data_dir: Path, pki: TestPki, *extra: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> AsyncIterator[Proc]:
    """`necto run` in its own process on free ports; `env` adds variables, `prefix` wraps the
    command (e.g. `prlimit --nofile=...`)."""
    proc = await asyncio.create_subprocess_exec(
        *prefix, *NECTO, "run", "--data-dir", str(data_dir), "--proxy-port", "0", "--api-port", "0",
        "--upstream-ca", str(pki.ca_pem), *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    banner = ""
    try:
        while "Stop with Ctrl-C." not in banner:
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            if not line:
                err = await proc.stderr.read() if proc.stderr else b""
                raise AssertionError(f"necto exited early: {banner}\n{err.decode()}")
            banner += line.decode()
        yield Proc(proc, banner)
    finally:
        if proc.returncode is None:
            proc.kill()
            # Read what is left: with a full pipe asyncio never sees the process end.
            await asyncio.wait_for(proc.communicate(), 30)


async def stop(p: Proc) -> tuple[int, str]:
    p.proc.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(p.proc.communicate(), 30)
    assert p.proc.returncode is not None
    return p.proc.returncode, (out + err).decode()
