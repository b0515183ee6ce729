"""Network conditions through the real proxy: NectoProxy's /api/network endpoints and its 11
presets, stored custom profiles, latency, real download bandwidth, upload time, packet loss,
`necto run --network` and `necto network ...`. Timing checks compare with a baseline measured
in the same test and use wide margins."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import orjson
import pytest

from helpers import (
    Counting,
    RunningNecto,
    TestPki,
    api,
    curl_fetch,
    necto_cli,
    necto_process,
    run_cmd,
    stop,
    wait_for_entries,
)
from necto.model import Session

pytestmark = pytest.mark.usefixtures("clean_rules")

# NectoProxy's presets: id, name, down B/s, up B/s, latency, jitter, loss %.
PRESETS = [
    ("preset-0", "No Throttling", 0, 0, 0, 0, 0),
    ("preset-1", "Slow 2G", 35840, 32768, 1400, 400, 1),
    ("preset-2", "Regular 2G", 57344, 19456, 800, 200, 0.5),
    ("preset-3", "Good 2G", 114688, 35840, 650, 150, 0.2),
    ("preset-4", "Slow 3G", 99328, 41984, 400, 100, 0),
    ("preset-5", "Regular 3G", 196608, 96256, 300, 100, 0),
    ("preset-6", "Good 3G", 524288, 196608, 170, 40, 0),
    ("preset-7", "Regular 4G", 1179648, 524288, 50, 10, 0),
    ("preset-8", "DSL", 262144, 131072, 50, 10, 0),
    ("preset-9", "WiFi", 3932160, 1966080, 10, 5, 0),
    ("preset-10", "Offline", 1, 1, 30000, 0, 100),
]


async def test_network_api_presets_and_custom_profiles(necto: RunningNecto, http: aiohttp.ClientSession) -> None:
    base = necto.api_url + "/api/network"
    status, listed = await api(http, "GET", f"{base}/profiles")
    assert status == 200 and listed["activeProfile"] is None
    got = [(p["id"], p["name"], p["downloadBandwidth"], p["uploadBandwidth"], p["latency"], p["latencyJitter"], p["packetLoss"])
           for p in listed["profiles"]]  # fmt: skip
    assert got == PRESETS
    assert all(p["isPreset"] and p["enabled"] is False for p in listed["profiles"])
    assert await api(http, "GET", f"{base}/active") == (200, {"activeProfile": None})
    assert await api(http, "POST", f"{base}/activate/nope") == (404, {"error": "Profile not found"})

    assert await api(http, "POST", f"{base}/profiles", {}) == (400, {"error": "Profile name is required"})
    status, bad = await api(http, "POST", f"{base}/profiles", {"name": "x", "latency": 40000})
    assert (status, bad) == (400, {"error": "latency must be at most 30000"})
    status, bad = await api(http, "POST", f"{base}/profiles", {"name": "x", "packetLoss": "lots"})
    assert (status, bad) == (400, {"error": "packetLoss must be a number"})
    status, custom = await api(http, "POST", f"{base}/profiles", {"name": "Train wifi", "latency": 250})
    assert status == 200  # NectoProxy answers a created profile with 200
    assert custom["isPreset"] is False and custom["enabled"] is False and custom["downloadBandwidth"] == 0
    assert custom["latency"] == 250 and re.fullmatch(r"[0-9a-f-]{36}", custom["id"])

    assert await api(http, "PUT", f"{base}/profiles/preset-4", {"latency": 1}) == (
        404,
        {"error": "Profile not found or is a preset"},
    )
    status, updated = await api(http, "PUT", f"{base}/profiles/{custom['id']}", {"downloadBandwidth": 50000})
    assert status == 200 and updated["downloadBandwidth"] == 50000 and updated["latency"] == 250
    status, active = await api(http, "POST", f"{base}/activate/{custom['id']}")
    assert (
        status == 200 and active["activeProfile"]["id"] == custom["id"] and active["activeProfile"]["enabled"] is True
    )
    status, listed = await api(http, "GET", f"{base}/profiles")
    assert [p["id"] for p in listed["profiles"] if p["enabled"]] == [custom["id"]]
    assert listed["profiles"][-1]["name"] == "Train wifi"

    assert await api(http, "DELETE", f"{base}/profiles/{custom['id']}") == (200, {"success": True})
    assert await api(http, "GET", f"{base}/active") == (200, {"activeProfile": None})  # deleting deactivated it
    assert await api(http, "DELETE", f"{base}/profiles/preset-1") == (
        404,
        {"error": "Profile not found or is a preset"},
    )
    status, active = await api(http, "POST", f"{base}/activate/preset-4")
    assert active["activeProfile"]["name"] == "Slow 3G"
    assert await api(http, "POST", f"{base}/deactivate") == (200, {"activeProfile": None})
    status, ips = await api(http, "GET", f"{base}/local-ips")
    assert status == 200 and all(
        a["family"] == "IPv4" and not a["address"].startswith("127.") for a in ips["addresses"]
    )


async def test_slow_3g_adds_its_latency_on_the_next_request(
    necto: RunningNecto, http: aiohttp.ClientSession, counting: Counting, fresh_session: Session
) -> None:
    url = counting.http_url + "/hello"
    baseline = await curl_fetch(necto, url)
    await api(http, "POST", necto.api_url + "/api/network/activate/preset-4")
    slow = await curl_fetch(necto, url)
    await api(http, "POST", necto.api_url + "/api/network/deactivate")
    fast = await curl_fetch(necto, url)
    assert slow.body == baseline.body == b"upstream /hello"
    # 400 ms +/- 100 ms of latency: at least 300 ms more than without.
    assert slow.seconds >= baseline.seconds + 0.29, (baseline.seconds, slow.seconds)
    assert fast.seconds < slow.seconds - 0.2
    entries = await wait_for_entries(necto.store, fresh_session.id, 3)
    conditioned = entries[1]
    assert conditioned.extra["conditions"]["profile"] == {"id": "preset-4", "name": "Slow 3G"}
    assert 300 <= conditioned.extra["conditions"]["latency"] <= 500
    assert conditioned.timings.wait >= 290  # the latency shows as waiting
    assert "conditions" not in entries[2].extra


async def test_profile_bandwidth_upload_and_packet_loss(
    necto: RunningNecto, http: aiohttp.ClientSession, counting: Counting, fresh_session: Session
) -> None:
    base = necto.api_url + "/api/network"
    big, post = counting.http_url + "/bytes?n=100000", counting.http_url + "/echo/up"
    body = b"u" * 40_000
    baseline = await curl_fetch(necto, big)
    base_up = await curl_fetch(necto, post, "--data-binary", body)
    _, slow = await api(
        http, "POST", f"{base}/profiles", {"name": "Thin pipe", "downloadBandwidth": 50_000, "uploadBandwidth": 20_000}
    )
    await api(http, "POST", f"{base}/activate/{slow['id']}")
    down = await curl_fetch(necto, big)
    up = await curl_fetch(necto, post, "--data-binary", body)
    assert len(down.body) == 100_000 and 1.6 <= down.seconds <= 6 and down.seconds > baseline.seconds + 1.2
    assert orjson.loads(up.body)["body"] == body.decode() and up.seconds > base_up.seconds + 1.4  # 40 KB at 20 KB/s

    _, lossy = await api(http, "POST", f"{base}/profiles", {"name": "Black hole", "packetLoss": 100})
    await api(http, "POST", f"{base}/activate/{lossy['id']}")
    counting.reset()
    r = await curl_fetch(necto, counting.http_url + "/hello")
    assert (r.status, r.body) == (503, b"Request dropped due to packet loss")
    assert counting.hits() == 0
    entries = await wait_for_entries(necto.store, fresh_session.id, 5)
    down_e, up_e, dropped = entries[2], entries[3], entries[4]
    assert down_e.timings.receive >= 1200 and down_e.extra["conditions"]["downloadBytesPerSecond"] == 50_000
    assert up_e.timings.send >= 1500  # the upload time shows as sending
    assert (dropped.status, dropped.error) == (503, "Request dropped due to packet loss")
    status, listed = await api(http, "GET", f"{necto.api_url}/api/traffic?sessionId={fresh_session.id}&statusCodes=503")
    assert [e["error"] for e in listed["entries"]] == ["Request dropped due to packet loss"]


async def test_necto_run_network_and_the_network_cli(tmp_path: Path, pki: TestPki, counting: Counting) -> None:
    home = str(tmp_path / "home")
    code, out, err = await run_cmd(sys.executable, "-m", "necto", "run",
                                   "--data-dir", home, "--proxy-port", "0", "--api-port", "0", "--network", "Slow 4G")  # fmt: skip
    assert code == 2 and b"no network profile named 'Slow 4G'" in err
    async with necto_process(Path(home), pki, "--network", "Slow 3G") as p:
        assert re.search(r"Network\s+Slow 3G: down 97 KiB/s", p.banner), p.banner
        async with aiohttp.ClientSession() as client:
            status, active = await api(client, "GET", p.api_url + "/api/network/active")
            assert active["activeProfile"]["id"] == "preset-4"
            via = SimpleNamespace(proxy_url=p.proxy_url, ca_pem=Path(home) / "certs" / "necto-ca-cert.pem")
            slow = await curl_fetch(via, counting.http_url + "/hello")  # type: ignore[arg-type]
            code, out, _ = await necto_cli("network", "deactivate", "--data-dir", home)
            assert code == 0 and b"off" in out
            fast = await curl_fetch(via, counting.http_url + "/hello")  # type: ignore[arg-type]
            assert slow.seconds >= 0.29 and fast.seconds < slow.seconds - 0.2
            assert await api(client, "GET", p.api_url + "/api/network/active") == (200, {"activeProfile": None})
        await stop(p)
    code, out, _ = await necto_cli("network", "activate", "regular 4g", "--data-dir", home)
    assert code == 0 and b"Regular 4G (preset-7)" in out
    code, out, _ = await necto_cli("network", "list", "--data-dir", home)
    assert re.search(rb"^\*\s+preset-7\s+Regular 4G", out, re.M), out
    code, _, err = await necto_cli("network", "activate", "nope", "--data-dir", home)
    assert code == 1 and b"Profile not found: nope" in err
