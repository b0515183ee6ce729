"""`necto record -- CMD`: real commands (curl, Python's urllib, a shell) through a private Necto
against the real HTTPS upstream; the recorded sessions are read back from the data directory."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import sys
from pathlib import Path

import orjson
import pytest

from helpers import CHROMIUM, CHROMIUM_ARGS, NECTO, TestPki, Upstream, make_pki, missing_tool, run_cmd
from necto.model import Entry
from necto.record import CA_VARS, clean_no_proxy, exit_status, record_env, spki_hash, write_ca_bundle
from necto.store import Store


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data directory for the module: its CA is made once."""
    return tmp_path_factory.mktemp("record-home")


async def record(home: Path, pki: TestPki, *args: str, timeout: float = 90) -> tuple[int, str, str]:
    code, out, err = await run_cmd(
        *NECTO, "record", "--data-dir", str(home), "--upstream-ca", str(pki.ca_pem), *args, timeout=timeout
    )
    return code, out.decode(), err.decode()


async def session_entries(home: Path, name: str) -> list[Entry]:
    store = await Store.open(home / "necto.db")
    try:
        matches = [s for s in await store.list_sessions() if s.name == name]
        assert len(matches) == 1, f"expected one session named {name!r}, found {len(matches)}"
        return [e async for e in store.iter_entries(matches[0].id)]
    finally:
        await store.close()


# ---------------------------------------------------------------------- commands
async def test_record_curl_https_writes_session_and_har(
    home: Path, pki: TestPki, upstream: Upstream, tmp_path: Path
) -> None:
    har = tmp_path / "run.har"
    code, out, err = await record(
        home, pki, "--session", "curl run", "--har", str(har), "--",
        "curl", "-sS", "--fail", f"{upstream.https_url}/api/data", f"{upstream.https_url}/hello",
    )  # fmt: skip
    assert code == 0, err
    assert '"data loaded"' in out and "hello world" in out  # the command's own output passes through
    entries = await session_entries(home, "curl run")
    assert [(e.method, e.url, e.status) for e in entries] == [
        ("GET", f"{upstream.https_url}/api/data", 200),
        ("GET", f"{upstream.https_url}/hello", 200),
    ]
    assert entries[0].tls and entries[0].timings.ssl >= 0  # really intercepted, with timings
    assert "2 exchanges recorded" in err and str(har) in err
    log = orjson.loads(har.read_bytes())["log"]
    assert [e["request"]["url"] for e in log["entries"]] == [e.url for e in entries]
    assert log["entries"][0]["response"]["content"]["text"] == '{"message": "data loaded", "items": [1, 2, 3]}'


async def test_record_python_urllib_passes_exit_code(home: Path, pki: TestPki, upstream: Upstream) -> None:
    script = (
        "import sys, urllib.request\n"
        "body = urllib.request.urlopen(sys.argv[1]).read()\n"
        "print(body.decode())\n"
        "sys.exit(5)\n"
    )
    url = f"{upstream.https_url}/api/data?via=urllib"
    code, out, err = await record(home, pki, "--session", "urllib run", "--", sys.executable, "-c", script, url)
    assert code == 5, err  # the command's exit code, not ours
    assert "data loaded" in out
    [entry] = await session_entries(home, "urllib run")
    assert (entry.url, entry.status) == (url, 200)
    assert entry.response_body == b'{"message": "data loaded", "items": [1, 2, 3]}'


async def test_record_requests_and_aiohttp(home: Path, pki: TestPki, upstream: Upstream) -> None:
    pytest.importorskip("requests")
    script = (
        "import asyncio, sys, aiohttp, requests\n"
        "print(requests.get(sys.argv[1] + '?via=requests').text)\n"
        "async def main():\n"
        "    async with aiohttp.ClientSession(trust_env=True) as s:\n"
        "        async with s.get(sys.argv[1] + '?via=aiohttp') as r:\n"
        "            print(await r.text())\n"
        "asyncio.run(main())\n"
    )
    code, out, err = await record(
        home, pki, "--session", "python clients", "--", sys.executable, "-c", script, f"{upstream.https_url}/hello"
    )
    assert code == 0, err
    assert out.split() == ["hello", "world", "hello", "world"]
    entries = await session_entries(home, "python clients")
    assert sorted((e.url.rsplit("=", 1)[1], e.status) for e in entries) == [("aiohttp", 200), ("requests", 200)]


async def test_record_failing_command_keeps_its_code_and_traffic(home: Path, pki: TestPki, upstream: Upstream) -> None:
    code, _, err = await record(
        home, pki, "--session", "failing run", "--", "curl", "-sS", "--fail", f"{upstream.https_url}/status/503"
    )
    assert code == 22, err  # curl --fail on an HTTP error
    [entry] = await session_entries(home, "failing run")
    assert entry.status == 503


async def test_record_redacted_har(home: Path, pki: TestPki, upstream: Upstream, tmp_path: Path) -> None:
    har = tmp_path / "shared.har"
    body = '{"email": "ann.lee@example.com", "plan": "pro"}'
    code, _, err = await record(
        home, pki, "--session", "redacted", "--har", str(har), "--redact", "--",
        "curl", "-sS", "-H", "Content-Type: application/json", "--data-binary", body, f"{upstream.https_url}/echo",
    )  # fmt: skip
    assert code == 0, err
    text = har.read_text()
    assert "ann.lee@example.com" not in text
    [har_entry] = orjson.loads(text)["log"]["entries"]
    assert orjson.loads(har_entry["response"]["content"]["text"]) == {"email": "[REDACTED:email]", "plan": "pro"}
    [entry] = await session_entries(home, "redacted")
    assert entry.response_body == body.encode()  # the session itself keeps what was sent


async def test_record_ctrl_c_goes_to_the_command_first(home: Path, pki: TestPki, upstream: Upstream) -> None:
    """SIGINT to `necto record` reaches CMD, which finishes its own way; what it did is kept."""
    script = (
        "import signal, sys, time, urllib.request\n"
        "signal.signal(signal.SIGINT, lambda *a: sys.exit(7))\n"
        "urllib.request.urlopen(sys.argv[1]).read()\n"
        "print('READY', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = await asyncio.create_subprocess_exec(
        *NECTO, "record", "--data-dir", str(home), "--upstream-ca", str(pki.ca_pem), "--session", "interrupted", "--",
        sys.executable, "-c", script, f"{upstream.https_url}/hello",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
        env={**os.environ, "NO_PROXY": "", "no_proxy": ""},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line.strip() == b"READY"
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 7, err.decode()
    [entry] = await session_entries(home, "interrupted")
    assert (entry.url, entry.status) == (f"{upstream.https_url}/hello", 200)


async def test_record_usage_errors(home: Path, pki: TestPki) -> None:
    code, _, err = await record(home, pki)
    assert code == 2 and "after --" in err
    code, _, err = await record(home, pki, "--", "no-such-command-necto")
    assert code == 127 and "command not found: no-such-command-necto" in err


# ---------------------------------------------------------------------- the environment
@pytest.mark.parametrize(
    "value,expected",
    [
        ("localhost,127.0.0.1,::1,example.org", "example.org"),
        (".localhost, 127.0.0.0/8 ,[::1],intranet.local:8080", "intranet.local:8080"),
        ("*", ""),
        ("10.0.0.0/8,localhost:3000,0.0.0.0", "10.0.0.0/8"),
        ("", ""),
    ],
)
def test_no_proxy_is_cleared_of_loopback(value: str, expected: str) -> None:
    assert clean_no_proxy(value) == expected


def test_exit_status_like_a_shell() -> None:
    assert [exit_status(c) for c in (0, 3, -2, -9)] == [0, 3, 130, 137]


def test_record_env_and_bundle(tmp_path: Path, pki: TestPki) -> None:
    """Every proxy and CA variable is set; the bundle holds the system roots, the user's own
    CA file and Necto's CA, and verifies both a system-rooted and a Necto-signed chain."""
    necto_ca = tmp_path / "necto.pem"
    necto_ca.write_bytes(pki.ca_pem.read_bytes())  # any CA stands in for Necto's here
    (tmp_path / "corp").mkdir()
    own = make_pki(tmp_path / "corp").ca_pem  # a CA the user already trusts through SSL_CERT_FILE
    bundle = tmp_path / "bundle.pem"
    count = write_ca_bundle(bundle, necto_ca, {"SSL_CERT_FILE": str(own)})
    text = bundle.read_bytes()
    assert count > 10  # the system's roots are in
    assert necto_ca.read_bytes().strip() in text and own.read_bytes().strip() in text
    ssl.create_default_context(cafile=str(bundle))  # loads as a CA file
    env = record_env(
        {"NO_PROXY": "localhost,corp.example", "PATH": "/bin"},
        "http://127.0.0.1:1234",
        bundle,
        necto_ca,
        "sid",
        "http://127.0.0.1:1235",
    )
    assert env["HTTPS_PROXY"] == env["http_proxy"] == env["ALL_PROXY"] == "http://127.0.0.1:1234"
    assert env["NO_PROXY"] == "corp.example" and "no_proxy" not in env
    assert all(env[v] == str(bundle) for v in CA_VARS)
    assert env["NECTO_CA_SPKI"] == spki_hash(necto_ca) and len(env["NECTO_CA_SPKI"]) == 44
    assert env["PATH"] == "/bin"


async def test_record_chromium_with_the_documented_flags(
    home: Path, pki: TestPki, upstream: Upstream, tmp_path: Path
) -> None:
    """The README's Chromium line, as CMD: the proxy, loopback not bypassed, Necto's CA key
    trusted by its SPKI hash; the page and the request its script makes are recorded."""
    if not CHROMIUM.exists():
        missing_tool("chromium")
    script = (
        'exec "$0" --headless=new --proxy-server="$NECTO_PROXY" --proxy-bypass-list="<-loopback>" '
        '--ignore-certificate-errors-spki-list="$NECTO_CA_SPKI" --user-data-dir="$1" '
        f'{" ".join(CHROMIUM_ARGS)} --virtual-time-budget=5000 --dump-dom "$2"'
    )
    code, out, err = await record(
        home,
        pki,
        "--session",
        "chromium",
        "--",
        "sh",
        "-c",
        script,
        str(CHROMIUM),
        str(tmp_path / "profile"),
        f"{upstream.https_url}/",
    )
    assert code == 0, err
    assert '<p id="data">data loaded</p>' in out  # the page's fetch('/api/data') went through too
    urls = {e.url for e in await session_entries(home, "chromium") if e.status == 200}
    assert {f"{upstream.https_url}/", f"{upstream.https_url}/api/data", f"{upstream.https_url}/app.js"} <= urls
