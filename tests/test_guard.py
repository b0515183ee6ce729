"""The proxy never reaches Necto's own API (or its own proxy ports), whatever spelling of an
address of this machine is used and whichever way the request comes: absolute-form, CONNECT,
a DNS mapping, the upstream and reverse modes, a replay. One normalisation decides
(necto.addresses); its forms are tested as a table, then the paths end to end with a proxy
listening on every interface, as the README suggests for phones.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from helpers import NectoProc, TestPki, free_port, necto_instance, run_cmd, wait_for_entries
from necto.addresses import is_loopback, is_this_host, normalize_host, parse_ip
from necto.capture.connections import REFUSED_OWN_API, REFUSED_OWN_PROXY

LOCAL = frozenset({ipaddress.ip_address("192.0.2.7"), ipaddress.ip_address("fd00::7")})


@pytest.mark.parametrize(
    "host,canonical,this_host",
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.2", "127.0.0.2", True),
        ("[::1]", "::1", True),
        ("::ffff:127.0.0.1", "127.0.0.1", True),  # IPv4-mapped
        ("[::ffff:7f00:1]", "127.0.0.1", True),  # mapped, hex
        ("[::FFFF:127.0.0.1]", "127.0.0.1", True),
        ("::127.0.0.1", "127.0.0.1", True),  # IPv4-compatible (deprecated)
        ("::7f00:1", "127.0.0.1", True),
        ("::ffff:0:127.0.0.1", "127.0.0.1", True),  # IPv4-translated
        ("2002:7f00:1::1", "127.0.0.1", True),  # 6to4
        ("64:ff9b::7f00:1", "127.0.0.1", True),  # NAT64
        ("0.0.0.0", "0.0.0.0", True),
        ("0", "0.0.0.0", True),
        ("::", "::", True),
        ("[::]", "::", True),
        ("0.1.2.3", "0.1.2.3", True),  # "this network"
        ("2130706433", "127.0.0.1", True),  # decimal
        ("0x7f000001", "127.0.0.1", True),  # hex
        ("0177.0.0.1", "127.0.0.1", True),  # octal
        ("0x7f.1", "127.0.0.1", True),
        ("127.1", "127.0.0.1", True),  # short
        ("127.0.1", "127.0.0.1", True),
        ("127.0.0.1.", "127.0.0.1", True),  # trailing dot
        ("[fe80::1%eth0]", "fe80::1", False),  # zone dropped
        ("192.0.2.7", "192.0.2.7", True),  # an interface address of this machine
        ("::ffff:192.0.2.7", "192.0.2.7", True),
        ("3221225991", "192.0.2.7", True),
        ("[fd00::7]", "fd00::7", True),
        ("192.0.2.8", "192.0.2.8", False),
        ("8.8.8.8", "8.8.8.8", False),
        ("::ffff:8.8.8.8", "8.8.8.8", False),
        ("2001:db8::1", "2001:db8::1", False),
        ("example.com", None, False),
        ("Example.COM.", None, False),
        ("1e100.net", None, False),
        ("256.1.1.1", None, False),
        ("08.0.0.1", None, False),  # not octal: a name (which will not resolve)
        ("1.2.3.4.5", None, False),
        ("0x", "0.0.0.0", True),
    ],
)
def test_address_forms(host: str, canonical: str | None, this_host: bool) -> None:
    ip = parse_ip(host)
    assert (str(ip) if ip is not None else None) == canonical
    assert (ip is not None and is_this_host(ip, LOCAL)) is this_host
    if canonical is None:
        assert normalize_host(host) == host.lower().rstrip(".")


@pytest.mark.parametrize(
    "host,loopback",
    [("localhost", True), ("LOCALHOST.", True), ("app.localhost", True), ("[::ffff:127.0.0.1]", True),
     ("2130706433", True), ("127.1", True), ("0.0.0.0", False), ("example.com", False), ("[::1]", True)],
)  # fmt: skip
def test_loopback_names(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


# ------------------------------------------------------------------ end to end
@pytest_asyncio.fixture(scope="module")
async def lan(tmp_path_factory: pytest.TempPathFactory, pki: TestPki) -> AsyncIterator[NectoProc]:
    """Necto with its proxy on every interface (`--proxy-host 0.0.0.0`), as for a phone. The
    clients here use the loopback address of that listener (no traffic leaves this machine)."""
    async with necto_instance(tmp_path_factory.mktemp("lan-home"), pki, "--proxy-host", "0.0.0.0") as n:
        assert "Proxy      http://0.0.0.0:" in n.banner
        yield n


async def raw(proxy_url: str, request: bytes) -> bytes:
    import asyncio

    host, port = proxy_url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 15)  # every answer here closes the connection
    finally:
        writer.close()


ABSOLUTE_FORMS = [
    "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::127.0.0.1]", "[2002:7f00:1::]", "[::1]", "[::]",
    "127.0.0.1", "127.1", "2130706433", "0x7f.1", "0177.0.0.1", "0.0.0.0", "0", "localhost.", "LocalHost",
]  # fmt: skip


async def test_lan_proxy_never_reaches_the_api_by_any_address(lan: NectoProc) -> None:
    api_port = int(lan.api_url.rsplit(":", 1)[1])
    sid = await lan.new_session("guard")
    for i, host in enumerate(ABSOLUTE_FORMS):
        body = b'{"name": "via proxy %d"}' % i
        answer = await raw(
            lan.proxy_url,
            f"POST http://{host}:{api_port}/api/sessions HTTP/1.1\r\nHost: localhost:{api_port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body,
        )
        assert answer.startswith(b"HTTP/1.1 502"), (host, answer[:200])
        assert REFUSED_OWN_API.encode() in answer and b"generated by Necto" in answer, host
    for host in ("[::ffff:127.0.0.1]", "2130706433", "[::1]"):
        answer = await raw(
            lan.proxy_url, f"CONNECT {host}:{api_port} HTTP/1.1\r\nHost: {host}:{api_port}\r\n\r\n".encode()
        )
        assert answer.startswith(b"HTTP/1.1 502") and b"x-necto-error: own-port" in answer.lower(), (host, answer)
    # The proxy's own port loops: refused the same way.
    proxy_port = int(lan.proxy_url.rsplit(":", 1)[1])
    answer = await raw(
        lan.proxy_url,
        f"GET http://[::ffff:127.0.0.1]:{proxy_port}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
    )
    assert answer.startswith(b"HTTP/1.1 502") and REFUSED_OWN_PROXY.encode() in answer

    assert not [s for s in await lan.store.list_sessions() if s.name.startswith("via proxy")]
    entries = await wait_for_entries(lan.store, sid, len(ABSOLUTE_FORMS) + 4)
    assert [e.status for e in entries] == [None] * len(entries)
    assert all(e.error in (REFUSED_OWN_API, REFUSED_OWN_PROXY) for e in entries), [e.error for e in entries]
    for e in entries:
        assert e.timings.connect == -1 and (e.timings.send, e.timings.wait) == (0, 0)


async def test_dns_mapping_and_replay_cannot_reach_the_api(lan: NectoProc) -> None:
    api_port = int(lan.api_url.rsplit(":", 1)[1])
    sid = await lan.new_session("guard paths")
    async with aiohttp.ClientSession() as c:
        async with c.post(
            f"{lan.api_url}/api/dns", json={"domain": "loop.test.invalid", "targetIp": "::ffff:127.0.0.1"}
        ) as r:
            mapping = await r.json()
            assert r.status == 201 and mapping["targetIp"] == "127.0.0.1"
        try:
            code, out, _ = await run_cmd(
                "curl", "-sS", "-x", lan.proxy_url, f"http://loop.test.invalid:{api_port}/api/sessions"
            )
            assert REFUSED_OWN_API.encode() in out
        finally:
            await c.delete(f"{lan.api_url}/api/dns/{mapping['id']}")
        async with c.post(
            f"{lan.api_url}/api/traffic/replay",
            json={"method": "GET", "url": f"http://[::ffff:7f00:1]:{api_port}/api/sessions"},
        ) as r:
            replay = await r.json()
            assert r.status == 200, replay
            assert replay["result"]["status"] == 0 and REFUSED_OWN_API in replay["result"]["error"], replay
    entries = await wait_for_entries(lan.store, sid, 2)
    assert all(e.error == REFUSED_OWN_API for e in entries), [e.error for e in entries]


async def test_upstream_and_reverse_modes_cannot_reach_the_api(tmp_path: Path, pki: TestPki) -> None:
    api_port, upstream_port, reverse_port = free_port(), free_port(), free_port()
    modes = [
        "--api-port", str(api_port), "--mode", "regular",
        "--mode", f"upstream:http://127.0.0.1:{free_port()}@{upstream_port}",
        "--mode", f"reverse:http://[::ffff:127.0.0.1]:{api_port}@{reverse_port}",
    ]  # fmt: skip
    async with necto_instance(tmp_path / "home", pki, *modes) as n:
        sid = await n.new_session("modes guard")
        answer = await raw(
            f"http://127.0.0.1:{upstream_port}",
            f"GET http://[::ffff:127.0.0.1]:{api_port}/api/sessions HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode(),
        )
        assert answer.startswith(b"HTTP/1.1 502") and REFUSED_OWN_API.encode() in answer
        answer = await raw(
            f"http://127.0.0.1:{upstream_port}", f"CONNECT 2130706433:{api_port} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        )
        assert answer.startswith(b"HTTP/1.1 502") and b"x-necto-error: own-port" in answer.lower()
        code, out, _ = await run_cmd("curl", "-sS", "--noproxy", "*", f"http://127.0.0.1:{reverse_port}/api/sessions")
        assert b'"isActive"' not in out  # the API's session list never comes back
        entries = await wait_for_entries(n.store, sid, 3)
        assert sorted(e.error or "" for e in entries) == [REFUSED_OWN_API] * 3, [e.error for e in entries]
