"""The local upstream: nginx (Debian package) when installed, else an aiohttp server process."""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_lib import procs

SMALL_PATH = "/small.json"
BIG_PATH = "/1mb.bin"
# ~600 bytes, like nginx's default index page that ab/wrk numbers are usually taken against.
SMALL_BODY = (
    b'{"status":"ok","service":"bench-upstream","items":['
    + b",".join(b'{"id":%d,"name":"item-%d","price":%d.99,"tags":["a","b"]}' % (i, i, i) for i in range(9))
    + b"]}\n"
)
BIG_BODY = bytes(range(256)) * 4096  # 1 MiB


@dataclass
class Pki:
    ca_pem: Path
    cert_pem: Path
    key_pem: Path


def make_pki(directory: Path) -> Pki:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Necto Bench Upstream CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    pki.ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key_pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return pki


def find_nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )


NGINX_CONF = """
worker_processes 1;
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp-body;
    proxy_temp_path {d}/tmp-proxy;
    fastcgi_temp_path {d}/tmp-fastcgi;
    uwsgi_temp_path {d}/tmp-uwsgi;
    scgi_temp_path {d}/tmp-scgi;
    types {{ application/json json; application/octet-stream bin; }}
    sendfile on;
    tcp_nopush on;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    server {{ listen 127.0.0.1:{http}; root {d}/www; }}
    server {{
        listen 127.0.0.1:{https} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {d}/www;
    }}
}}
"""


@dataclass
class Upstream:
    kind: str  # "nginx 1.22.1" or "aiohttp 3.x"
    http_port: int
    https_port: int
    pki: Pki
    proc: Any

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def start(work: Path, log: Path) -> Upstream:
    www = work / "www"
    www.mkdir(parents=True, exist_ok=True)
    (www / SMALL_PATH.lstrip("/")).write_bytes(SMALL_BODY)
    (www / BIG_PATH.lstrip("/")).write_bytes(BIG_BODY)
    pki = make_pki(work / "pki")
    hp, sp = procs.free_port(), procs.free_port()
    nginx = find_nginx()
    if nginx:
        conf = work / "nginx.conf"
        conf.write_text(NGINX_CONF.format(d=work, http=hp, https=sp, cert=pki.cert_pem, key=pki.key_pem))
        import subprocess

        version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
        kind = version.split("/")[-1] if "/" in version else "?"
        proc = procs.spawn([nginx, "-p", str(work), "-e", str(work / "nginx-error.log"), "-c", str(conf)], log=log)
        kind = f"nginx {kind} (1 worker)"
    else:
        import aiohttp

        proc = procs.spawn(
            [sys.executable, str(Path(__file__).resolve().parent.parent / "bench"), "_upstream",
             str(hp), str(sp), str(www), str(pki.cert_pem), str(pki.key_pem)],
            log=log,
        )  # fmt: skip
        kind = f"aiohttp {aiohttp.__version__} (1 process)"
    procs.wait_port(hp, proc)
    procs.wait_port(sp, proc)
    return Upstream(kind, hp, sp, pki, proc)


def serve_aiohttp(argv: list[str]) -> int:
    """`bench _upstream HTTP_PORT HTTPS_PORT WWW CERT KEY`: the fallback upstream."""
    import asyncio
    import ssl

    from aiohttp import web

    hp, sp, www, cert, key = int(argv[0]), int(argv[1]), Path(argv[2]), argv[3], argv[4]
    small = (www / SMALL_PATH.lstrip("/")).read_bytes()
    big = (www / BIG_PATH.lstrip("/")).read_bytes()

    async def small_h(request: web.Request) -> web.Response:
        return web.Response(body=small, content_type="application/json")

    async def big_h(request: web.Request) -> web.Response:
        return web.Response(body=big, content_type="application/octet-stream")

    async def run() -> None:
        app = web.Application()
        app.router.add_get(SMALL_PATH, small_h)
        app.router.add_get(BIG_PATH, big_h)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        await web.TCPSite(runner, "127.0.0.1", hp).start()
        await web.TCPSite(runner, "127.0.0.1", sp, ssl_context=ctx).start()
        await asyncio.Event().wait()

    asyncio.run(run())
    return 0
