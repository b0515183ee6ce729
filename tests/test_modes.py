"""Proxy modes as mitmproxy names them (regular, reverse, socks5, upstream), several at once,
client certificates for upstream mTLS, and `necto run` with them: every mode's traffic lands in
the same store, recorded by real clients (curl without any proxy setting for reverse mode,
curl --socks5-hostname for SOCKS5) against real local servers.
"""

from __future__ import annotations

import datetime
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from helpers import (
    NECTO,
    NectoProc,
    RunningNecto,
    TestPki,
    TinyProxy,
    Upstream,
    curl,
    free_port,
    necto_instance,
    necto_process,
    run_cmd,
    stop,
    wait_for_entries,
)
from necto.app import StartupError, mode_specs_for
from necto.capture.upstream import ConfigError, config_from_url


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: ec.EllipticCurvePrivateKey,
          ca: bool) -> x509.Certificate:  # fmt: skip
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def make_client_certs(directory: Path) -> tuple[Path, Path]:
    """A client CA (for the mTLS server) and `<dir>/certs/localhost.pem` (cert + key), the
    per-host file mitmproxy's client_certs directory expects."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Necto Test Client CA")])
    ca = _cert("Necto Test Client CA", ca_key, ca_name, ca_key, True)
    cert = _cert("necto-test-client", key, ca_name, ca_key, False)
    ca_pem = directory / "client-ca.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    certs = directory / "certs"
    certs.mkdir()
    (certs / "localhost.pem").write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_pem, certs


@pytest_asyncio.fixture(scope="module")
async def mtls(tmp_path_factory: pytest.TempPathFactory, pki: TestPki) -> AsyncIterator[tuple[str, Path]]:
    """An HTTPS server that demands a client certificate: its URL and the certificates dir."""
    directory = tmp_path_factory.mktemp("mtls")
    client_ca, certs = make_client_certs(directory)
    ctx = pki.server_context()
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(client_ca)

    async def whoami(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        subject = dict(x[0] for x in peer["subject"]) if peer else {}
        return web.Response(text=f"hello {subject.get('commonName', 'nobody')}")

    app = web.Application()
    app.router.add_get("/whoami", whoami)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"https://localhost:{port}", certs
    await runner.cleanup()


@pytest_asyncio.fixture(scope="module")
async def multi(
    tmp_path_factory: pytest.TempPathFactory, pki: TestPki, upstream: Upstream, mtls: tuple[str, Path]
) -> AsyncIterator[tuple[NectoProc, int, int]]:
    """Necto with three listeners (regular, reverse in front of the test app, SOCKS5) and the
    client certificates directory."""
    reverse_port, socks_port = free_port(), free_port()
    args = [
        "--mode", "regular", "--mode", f"reverse:{upstream.http_url}@{reverse_port}", "--mode", f"socks5@{socks_port}",
        "--client-certs", str(mtls[1]),
    ]  # fmt: skip
    async with necto_instance(tmp_path_factory.mktemp("multi-home"), pki, *args) as n:
        yield n, reverse_port, socks_port


async def test_every_mode_listens_and_lands_in_one_store(multi: tuple[NectoProc, int, int], upstream: Upstream) -> None:
    n, reverse_port, socks_port = multi
    assert f"Reverse    {upstream.http_url} on 127.0.0.1:{reverse_port}" in n.banner
    assert f"SOCKS5 on 127.0.0.1:{socks_port}" in n.banner
    sid = await n.new_session("modes")
    # Reverse mode: a plain client with no proxy setting at all.
    code, out, err = await run_cmd(
        "curl", "-sS", "--noproxy", "*", f"http://127.0.0.1:{reverse_port}/hello?via=reverse"
    )
    assert code == 0 and out == b"hello world", err
    # SOCKS5: names resolved by the proxy (Necto), HTTP and HTTPS.
    socks = ["curl", "-sS", "--socks5-hostname", f"127.0.0.1:{socks_port}", "--cacert", str(n.ca_pem)]
    code, out, err = await run_cmd(*socks, f"{upstream.http_url}/hello?via=socks")
    assert code == 0 and out == b"hello world", err
    code, out, err = await run_cmd(*socks, f"{upstream.https_url}/hello?via=socks-tls")
    assert code == 0 and out == b"hello world", err
    reverse, plain, tls = await wait_for_entries(n.store, sid, 3)
    assert reverse.url == f"{upstream.http_url}/hello?via=reverse" and reverse.status == 200
    assert reverse.extra["proxyMode"] == f"reverse:{upstream.http_url}@{reverse_port}"
    assert plain.url == f"{upstream.http_url}/hello?via=socks" and plain.extra["proxyMode"].startswith("socks5")
    assert tls.url == f"{upstream.https_url}/hello?via=socks-tls" and tls.tls is not None
    for e in (reverse, plain, tls):
        # Each connection is opened when the client connects: its cost is the first exchange's.
        assert e.timings.dns >= 0 and e.timings.connect >= 0, e.timings
        assert e.server_ip == "127.0.0.1"
    assert tls.timings.ssl > 0


async def test_upstream_mtls_works_with_client_certs(
    multi: tuple[NectoProc, int, int], necto: RunningNecto, mtls: tuple[str, Path]
) -> None:
    url = mtls[0]
    n = multi[0]
    sid = await n.new_session("mtls")
    code, out, err = await curl(n, f"{url}/whoami")
    assert code == 0 and out == b"hello necto-test-client", err
    [e] = await wait_for_entries(n.store, sid, 1)
    assert e.status == 200 and e.tls is not None
    # Without client certificates the server refuses the handshake: a Necto page says so.
    code, out, _ = await curl(necto, f"{url}/whoami")
    assert b"generated by Necto" in out and b"hello" not in out


async def test_necto_run_with_modes_upstream_proxy_and_bad_options(
    tmp_path: Path, pki: TestPki, upstream: Upstream
) -> None:
    proxy = await TinyProxy("u", "p w").start()
    socks_port = free_port()
    try:
        async with necto_process(
            tmp_path / "home", pki, "--mode", "regular", "--mode", f"socks5@{socks_port}",
            "--upstream-proxy", f"http://u:p%20w@127.0.0.1:{proxy.port}",
        ) as p:  # fmt: skip
            assert f"SOCKS5 on 127.0.0.1:{socks_port}" in p.banner
            assert f"Upstream   http://127.0.0.1:{proxy.port} (this run (--upstream-proxy)" in p.banner
            assert '--proxy-bypass-list="<-loopback>"' in p.banner
            async with aiohttp.ClientSession() as c:
                async with c.get(f"{p.api_url}/api/upstream-proxy") as r:
                    config = (await r.json())["config"]
                assert config["source"] == "cli" and config["auth"] == {"username": "u", "hasPassword": True}
                # The default bypass list sends 127.0.0.1 and localhost direct; example names go through.
                assert config["bypassRules"] == ["localhost", "127.0.0.1", "*.local"]
            code, out, _ = await run_cmd("curl", "-sS", "-x", p.proxy_url, "http://through.necto-test.invalid/")
            assert [(m, t, a) for m, t, a in proxy.seen] == [
                ("CONNECT", "through.necto-test.invalid:80", proxy.expected)
            ]
            code, out, _ = await run_cmd("curl", "-sS", "-x", p.proxy_url, f"{upstream.http_url}/hello")
            assert out == b"hello world" and len(proxy.seen) == 1
            code, output = await stop(p)
            assert code == 0, output
    finally:
        await proxy.stop()
    # A bad option is one clear line and exit code 2 (the others: test_option_errors).
    code, out, err = await run_cmd(*NECTO, "run", "--data-dir", str(tmp_path / "bad"), "--proxy-port", "0",
                                   "--api-port", "0", "--mode", "bogus", timeout=60)  # fmt: skip
    assert code == 2 and b"invalid --mode 'bogus'" in err and b"Traceback" not in err, err


@pytest.mark.parametrize(
    "url,expected",
    [
        ("http://proxy.corp:3128", ("http", "proxy.corp", 3128, None, None)),
        ("https://u:p%40ss@proxy.corp", ("https", "proxy.corp", 443, "u", "p@ss")),
        ("socks5h://127.0.0.1", ("socks5", "127.0.0.1", 1080, None, None)),
        ("proxy.corp:8000", ("http", "proxy.corp", 8000, None, None)),
        ("http://[::1]:3128", ("http", "::1", 3128, None, None)),
        ("ftp://x:1", "unsupported upstream proxy scheme"),
        ("http://x:99999", "invalid port"),
        ("http://x:1/path", "must be scheme://"),
        ("socks4://x:1", "unsupported upstream proxy scheme"),
    ],
)
def test_upstream_proxy_urls(url: str, expected: tuple[object, ...] | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(ConfigError, match=expected):
            config_from_url(url)
        return
    c = config_from_url(url)
    assert (c.type, c.host, c.port, c.username, c.password) == expected
    assert c.enabled and c.source == "cli" and c.bypass_rules == ["localhost", "127.0.0.1", "*.local"]


def test_option_errors() -> None:
    assert mode_specs_for(["regular", "socks5@1081"], "127.0.0.1", 0) == ["regular@127.0.0.1:0", "socks5@1081"]
    assert mode_specs_for(["reverse:http://localhost:3000"], "::", 8888) == ["reverse:http://localhost:3000@:::8888"]
    for bad in ("bogus", "reverse:", "socks5:extra", "upstream:ftp://x"):
        with pytest.raises(StartupError, match="invalid --mode"):
            mode_specs_for([bad], "127.0.0.1", 0)
