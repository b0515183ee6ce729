"""Plain helpers the test modules share: paths, the upstream test app, Necto start-up, polling,
subprocesses, the third-party HAR readers and Chromium for the page. Fixtures live in conftest.py; test modules import
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
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

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
CHROMIUM = Path(os.environ.get("NECTO_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


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
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
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
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
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
        return web.Response(body=body, content_type=request.content_type or "application/octet-stream")

    @routes.get("/status/{code}")
    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="status")

    @routes.get("/big")
    async def big(request: web.Request) -> web.Response:
        size = int(request.query.get("bytes", str(1 << 20)))
        return web.Response(body=b"x" * size, content_type="application/octet-stream")

    @routes.get("/orders/{id}")
    async def order(request: web.Request) -> web.Response:
        """A JSON order, Content-Encoding as `?enc=` says (gzip, br, identity): bodies to search."""
        oid = request.match_info["id"]
        body = orjson.dumps(
            {"ref": f"order_id={oid}", "items": [{"sku": f"sku-{oid}-{i}", "qty": i} for i in range(20)]}
        )
        enc = request.query.get("enc", "identity")
        headers = {"Content-Type": "application/json"}
        if enc == "gzip":
            body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
        elif enc == "br":
            import brotli

            body, headers["Content-Encoding"] = brotli.compress(body), "br"
        return web.Response(body=body, headers=headers)

    @routes.post("/graphql")
    async def graphql(request: web.Request) -> web.Response:
        query = await request.json()
        return web.json_response({"data": {"echo": query.get("operationName") or "anonymous"}})

    @routes.get("/latin")
    async def latin(request: web.Request) -> web.Response:
        return web.Response(
            body="<p>Grüße aus Köln</p>".encode("latin-1"), headers={"Content-Type": "text/html; charset=iso-8859-1"}
        )

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


async def wait_for_entries(store: Store, session_id: str, count: int, timeout: float = 10.0) -> list[Any]:
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


async def curl(necto: RunningNecto | NectoProc, *args: str) -> tuple[int, bytes, bytes]:
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
    await curl(
        necto,
        "-X",
        "POST",
        "--data-binary",
        FORM,
        "-H",
        "Content-Type: application/x-www-form-urlencoded",
        f"{http_url}/echo",
    )
    await curl(
        necto, "-X", "POST", "--data-binary", JSON_BODY, "-H", "Content-Type: application/json", f"{http_url}/echo"
    )
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
    data_dir: Path,
    pki: TestPki,
    *extra: str,
    trust_upstream: bool = True,
    env: dict[str, str] | None = None,
    prefix: tuple[str, ...] = (),
) -> AsyncIterator[Proc]:
    """`necto run` in its own process on free ports (trusting the test upstream's CA unless told
    not to); `env` adds variables, `prefix` wraps the command (e.g. `prlimit --nofile=...`)."""
    trust = ["--upstream-ca", str(pki.ca_pem)] if trust_upstream else []
    proc = await asyncio.create_subprocess_exec(
        *prefix,
        *NECTO,
        "run",
        "--data-dir",
        str(data_dir),
        "--proxy-port",
        "0",
        "--api-port",
        "0",
        *trust,
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
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


@dataclass
class NectoProc:
    """A Necto in its own process, with a store on its data directory for the test to read.

    mitmproxy keeps its running master in process-wide globals, so one process runs one proxy:
    a test that needs a Necto configured differently from the shared `necto` fixture starts
    it this way."""

    proc: Proc
    store: Store
    data_dir: Path

    @property
    def proxy_url(self) -> str:
        return self.proc.proxy_url.replace("://0.0.0.0:", "://127.0.0.1:")

    @property
    def api_url(self) -> str:
        return self.proc.api_url

    @property
    def banner(self) -> str:
        return self.proc.banner

    @property
    def ca_pem(self) -> Path:
        return self.data_dir / "certs" / "necto-ca-cert.pem"

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Call the API; (status, JSON answer)."""
        async with aiohttp.ClientSession() as c:
            async with c.request(method, f"{self.api_url}{path}", json=body) as r:
                return r.status, await r.json()

    async def new_session(self, name: str) -> str:
        """A new active session (through the API, so the proxy records into it at once)."""
        status, session = await self.api("POST", "/api/sessions", {"name": name, "activate": True})
        assert status == 201, session
        return str(session["id"])


@asynccontextmanager
async def necto_instance(
    data_dir: Path, pki: TestPki, *extra: str, trust_upstream: bool = True
) -> AsyncIterator[NectoProc]:
    async with necto_process(data_dir, pki, *extra, trust_upstream=trust_upstream) as p:
        store = await Store.open(data_dir / "necto.db")
        try:
            yield NectoProc(p, store, data_dir)
        finally:
            await store.close()


async def stop(p: Proc) -> tuple[int, str]:
    p.proc.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(p.proc.communicate(), 30)
    assert p.proc.returncode is not None
    return p.proc.returncode, (out + err).decode()


# ------------------------------------------------------------------ proxies for Necto to go through
class TinyServer:
    """A loopback server on a free port that closes its clients when stopped (the proxies
    below); subclasses give `_handle`."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0
        self.clients: set[asyncio.StreamWriter] = set()

    async def start(self, tls: ssl.SSLContext | None = None) -> Self:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in list(self.clients):
            w.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class TinyProxy(TinyServer):
    """An HTTP CONNECT proxy (optionally with Basic auth, optionally behind TLS) that notes
    every request line it gets and pipes tunnels through."""

    def __init__(self, user: str | None = None, password: str | None = None) -> None:
        super().__init__()
        self.seen: list[tuple[str, str, str | None]] = []  # method, target, Proxy-Authorization
        self.expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode() if user else None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.clients.add(writer)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            line, *lines = head.split("\r\n")
            method, target, _ = line.split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines if h)}
            self.seen.append((method, target, headers.get("proxy-authorization")))
            if self.expected and headers.get("proxy-authorization") != self.expected:
                writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                return
            if method != "CONNECT":
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            host, _, port = target.rpartition(":")
            up_r, up_w = await asyncio.open_connection(host.strip("[]"), int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await _pipe(reader, writer, up_r, up_w)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self.clients.discard(writer)
            writer.close()


class TinySocks5(TinyServer):
    """A SOCKS5 server with username/password authentication (RFC 1928/1929)."""

    def __init__(self, user: str, password: str) -> None:
        super().__init__()
        self.user, self.password = user.encode(), password.encode()
        self.seen: list[str] = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.clients.add(writer)
        try:
            _, n = await reader.readexactly(2)
            methods = await reader.readexactly(n)
            if 2 not in methods:
                writer.write(b"\x05\xff")
                return
            writer.write(b"\x05\x02")
            _, ulen = await reader.readexactly(2)
            user = await reader.readexactly(ulen)
            password = await reader.readexactly((await reader.readexactly(1))[0])
            if (user, password) != (self.user, self.password):
                writer.write(b"\x01\x01")
                return
            writer.write(b"\x01\x00")
            _, cmd, _, atyp = await reader.readexactly(4)
            if atyp == 3:
                host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            else:
                host = socket.inet_ntop(
                    socket.AF_INET if atyp == 1 else socket.AF_INET6, await reader.readexactly(4 if atyp == 1 else 16)
                )
            port = int.from_bytes(await reader.readexactly(2), "big")
            self.seen.append(f"{host}:{port}")
            try:
                up_r, up_w = await asyncio.open_connection(host, port)
            except OSError:
                writer.write(b"\x05\x05\x00\x01" + bytes(6))
                return
            writer.write(b"\x05\x00\x00\x01" + bytes(6))
            await _pipe(reader, writer, up_r, up_w)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self.clients.discard(writer)
            writer.close()


async def _pipe(
    r1: asyncio.StreamReader, w1: asyncio.StreamWriter, r2: asyncio.StreamReader, w2: asyncio.StreamWriter
) -> None:
    async def copy(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        except OSError:
            pass
        finally:
            w.close()

    await asyncio.gather(copy(r1, w2), copy(r2, w1))


# ------------------------------------------------------------------ an upstream that counts hits
@dataclass
class Counting:
    """A local origin that records every request it receives (rules tests: was it reached?)."""

    http_url: str = ""
    https_url: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)  # method, path, query, headers, body

    def hits(self, path: str | None = None) -> int:
        return sum(1 for r in self.seen if path is None or r["path"] == path)

    def last(self, path: str) -> dict[str, Any]:
        return [r for r in self.seen if r["path"] == path][-1]

    def reset(self) -> None:
        self.seen.clear()


def counting_app(state: Counting) -> web.Application:
    counters: dict[str, int] = {}

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        state.seen.append({
            "method": request.method, "path": request.path, "query": request.query_string,
            "headers": {k.lower(): v for k, v in request.headers.items()}, "body": body,
        })  # fmt: skip
        return await handler(request)

    async def echo(request: web.Request) -> web.Response:
        r = state.seen[-1]
        return web.json_response({**r, "body": r["body"].decode("utf-8", "replace")})

    async def data(request: web.Request) -> web.Response:
        return web.json_response(
            {"message": "hello", "token": "secret-token", "items": [1, 2, 3]}, headers={"X-Origin": "yes"}
        )

    async def nbytes(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * int(request.query.get("n", "1000")), content_type="application/octet-stream")

    async def counter(request: web.Request) -> web.Response:
        key = request.path
        counters[key] = counters.get(key, 0) + 1
        return web.Response(text=f"call {counters[key]}")

    async def user(request: web.Request) -> web.Response:
        return web.json_response({"id": request.match_info["id"], "name": "user " + request.match_info["id"]})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(int(request.query.get("ms", "500")) / 1000)
        return web.Response(text="slow done")

    async def other(request: web.Request) -> web.Response:
        return web.Response(text=f"upstream {request.path}")

    app = web.Application(middlewares=[record])
    app.router.add_route("*", "/echo/{tail:.*}", echo)
    app.router.add_get("/json", data)
    app.router.add_get("/bytes", nbytes)
    app.router.add_get("/counter/{tail:.*}", counter)
    app.router.add_get("/users/{id}", user)
    app.router.add_get("/slow", slow)
    app.router.add_route("*", "/{tail:.*}", other)
    return app


async def start_counting_upstream(pki: TestPki) -> tuple[web.AppRunner, Counting]:
    state = Counting()
    runner = web.AppRunner(counting_app(state), access_log=None)
    await runner.setup()
    plain = web.TCPSite(runner, "127.0.0.1", 0)
    secure = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=pki.server_context())
    await plain.start()
    await secure.start()
    state.http_url = f"http://127.0.0.1:{plain._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    state.https_url = f"https://localhost:{secure._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    return runner, state


async def api(http: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    """One JSON API call: (status, parsed body)."""
    async with http.request(method, url, json=body) as r:
        return r.status, await r.json(content_type=None)


@dataclass
class Fetched:
    status: int
    headers: dict[str, str]  # lower-case names, last value wins
    body: bytes
    seconds: float  # curl's time_total


async def curl_fetch(necto: RunningNecto, url: str, *args: str) -> Fetched:
    """A request through the proxy with curl: status, headers, body bytes and curl's own timing."""
    code, out, err = await curl(
        necto, "-i", "--suppress-connect-headers", "--path-as-is", "-w", "\n%{time_total}", *args, url
    )
    assert code == 0, err.decode()
    raw, _, secs = out.rpartition(b"\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Fetched(int(lines[0].split()[1]), headers, body, float(secs))


# ------------------------------------------------------------------ Chromium for the page
try:
    from playwright.async_api import Browser, Page, async_playwright
except ImportError:  # pragma: no cover - CI installs it
    async_playwright = None  # type: ignore[assignment]


def require_browser() -> None:
    missing = async_playwright is None or not CHROMIUM.exists()
    if missing:
        reason = "Playwright (pip) and Chromium at /usr/bin/chromium are needed: scripts/setup-test-tools, apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """One headless Chromium (share it per test module: launching costs about a second)."""
    require_browser()
    async with async_playwright() as pw:
        b = await pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        try:
            yield b
        finally:
            await b.close()


async def open_page(
    browser: Browser,
    url: str,
    *,
    width: int = 1400,
    height: int = 850,
    color_scheme: str = "light",
    **context_args: Any,
) -> Page:
    """A fresh context (own localStorage) on the page, ready; close with `page.context.close()`.

    `page.dialogs` collects alert/confirm/prompt messages; `page.answers` is what to type into
    prompt() dialogs, in order; confirm() is accepted."""
    context = await browser.new_context(
        viewport={"width": width, "height": height},
        color_scheme=color_scheme,
        **context_args,  # type: ignore[arg-type]
    )
    p = await context.new_page()
    dialogs: list[str] = []
    answers: list[str] = []
    errors: list[str] = []

    async def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        if dialog.type == "prompt" and answers:
            await dialog.accept(answers.pop(0))
        elif dialog.type == "confirm":
            await dialog.accept()
        else:
            await dialog.dismiss()

    p.on("dialog", on_dialog)
    p.on("pageerror", lambda e: errors.append(f"{e}\n{e.stack}"))
    p.dialogs = dialogs  # type: ignore[attr-defined]
    p.answers = answers  # type: ignore[attr-defined]
    p.errors = errors  # type: ignore[attr-defined]
    await p.goto(url)
    await p.wait_for_selector("body[data-ready='1']")
    return p


async def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path


async def copied_by(page: Page, action: Callable[[], Awaitable[object]]) -> str:
    """What `action` put on the clipboard (the clipboard is shared by every page of the
    browser, so it is emptied first), or what the page showed in its copy dialog."""
    await page.evaluate("navigator.clipboard.writeText('')")
    await action()
    deadline = time.monotonic() + 5
    while True:
        if await page.locator("#copy-text").count():
            return await page.locator("#copy-text").inner_text()
        text = await page.evaluate("navigator.clipboard.readText()")
        if text or time.monotonic() > deadline:
            return text
        await asyncio.sleep(0.05)


# ------------------------------------------------------------------ comparing HAR documents
MISSING = object()


def read_har_text(raw: bytes) -> Any:
    """A HAR file as JSON, decoded here independently of Necto (BOM, UTF-16, Latin-1, JSONP);
    None when it is not JSON."""
    import codecs
    import json

    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = raw.decode("utf-16")
    else:
        raw = raw.removeprefix(codecs.BOM_UTF8)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    m = re.fullmatch(r"\s*[A-Za-z_$][\w$.]*\s*\((.*)\)\s*;?\s*", text, re.S)
    try:
        return json.loads(m.group(1) if m else text)
    except ValueError:
        return None


def har_differences(a: Any, b: Any, path: str) -> list[tuple[str, Any, Any]]:
    """Where two JSON values differ: (path, a, b) with MISSING for an absent key. Numbers
    compare as JSON does (3 == 3.0); booleans are not numbers."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in {**a, **b} for d in har_differences(a.get(k, MISSING), b.get(k, MISSING), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in har_differences(x, y, f"{path}[{i}]")]
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return [] if a == b else [(path, a, b)]
    if a == b and type(a) is type(b):
        return []
    return [(path, a, b)]
