"""`necto mcp`: the official MCP SDK's client starts `necto mcp` over stdio, against a Necto
running in its own process, and then against the data directory with Necto stopped."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from mcp import Client, StdioServerParameters

from helpers import ROOT, TestPki, Upstream, free_port, necto_process, poll_until, run_cmd, stop

NECTOPROXY_TOOLS = {
    "list_traffic", "get_traffic", "search_traffic", "get_traffic_stats", "list_rules",
    "create_rule", "toggle_rule", "delete_rule", "replay_request",
}  # fmt: skip
NECTO_TOOLS = {"list_sessions", "export_har", "import_har", "diff_sessions", "get_inventory", "get_openapi"}
EMAIL = "ann.lee@example.com"


@asynccontextmanager
async def mcp_client(*args: str, mode: str = "auto") -> AsyncIterator[Client]:
    params = StdioServerParameters(command=sys.executable, args=["-m", "necto", "mcp", *args], cwd=str(ROOT))
    async with Client(params, mode=mode, read_timeout_seconds=120) as client:
        yield client


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    """A tool's JSON result; fails the test on an error result."""
    result = await client.call_tool(tool, arguments)
    text = result.content[0].text  # type: ignore[union-attr]
    assert not result.is_error, text
    return orjson.loads(text)


async def call_error(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error, text
    assert text.startswith("Error: ")
    return text


async def curl(proxy: str, home: Path, *args: str) -> bytes:
    code, out, err = await run_cmd(
        "curl", "-sS", "-x", proxy, "--cacert", str(home / "certs" / "necto-ca-cert.pem"), *args
    )
    assert code == 0, err
    return out


async def test_mcp_tools_online_then_offline(pki: TestPki, upstream: Upstream, tmp_path: Path) -> None:
    home = tmp_path / "home"
    planted = uuid.uuid4().hex
    long_text = "line of text\n" * 800  # 10 400 characters
    async with necto_process(home, pki) as proc:
        await curl(proc.proxy_url, home, f"{upstream.https_url}/api/data?planted={planted}")
        body = orjson.dumps({"email": EMAIL, "note": long_text}).decode()
        await curl(
            proc.proxy_url,
            home,
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
            f"{upstream.https_url}/echo",
        )

        async with mcp_client("--url", proc.api_url, "--data-dir", str(home)) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert NECTOPROXY_TOOLS | NECTO_TOOLS <= names

            found = await call(client, "search_traffic", urlContains=f"planted={planted}")
            assert found["matched"] == 1, found
            [hit] = found["entries"]
            assert (
                hit["status"] == 200
                and hit["url"].endswith(f"/api/data?planted={planted}")
                and "requestBody" not in hit
            )
            detail = await call(client, "get_traffic", id=hit["id"])
            assert detail["response"]["body"]["text"] == '{"message": "data loaded", "items": [1, 2, 3]}'
            assert any(h.lower().startswith("content-type: application/json") for h in detail["response"]["headers"])

            [echo] = (await call(client, "search_traffic", urlContains="/echo"))["entries"]
            cut = await call(client, "get_traffic", id=echo["id"], part="response", maxBodyChars=200)
            shown = cut["response"]["body"]
            assert len(shown["text"]) == 200 and "bodyOffset=200" in shown["note"] and "body" not in cut["request"]
            assert EMAIL not in shown["text"] and "[REDACTED:email]" in shown["text"]  # redacted by default
            rest = await call(
                client, "get_traffic", id=echo["id"], part="response", maxBodyChars=200_000, bodyOffset=200
            )
            assert "note" not in rest["response"]["body"] and rest["response"]["body"]["text"].endswith(
                'line of text\\n"}'
            )
            raw = await call(client, "get_traffic", id=echo["id"], part="request", redact=False, maxBodyChars=100)
            assert EMAIL in raw["request"]["body"]["text"]

            listed = await call(client, "list_traffic", limit=1)
            assert listed["total"] == 2 and [e["id"] for e in listed["entries"]] == [echo["id"]]  # newest first
            assert "offset=1" in listed["note"]
            stats = await call(client, "get_traffic_stats")
            assert (
                stats["total"] == 2
                and stats["byStatusClass"]["2xx"] == 2
                and stats["topHosts"] == [{"host": "localhost", "count": 2}]
            )
            [session] = (await call(client, "list_sessions"))["sessions"]
            assert session["trafficCount"] == 2 and session["isActive"]

            har_path = tmp_path / "out.har"
            exported = await call(client, "export_har", path=str(har_path))
            assert exported["redacted"] is True and exported["bytes"] == har_path.stat().st_size
            har_text = har_path.read_text()
            assert EMAIL not in har_text and len(orjson.loads(har_text)["log"]["entries"]) == 2
            assert "exists: pass overwrite=true" in await call_error(client, "export_har", path=str(har_path))

            imported = await call(client, "import_har", path=str(har_path), sessionName="round trip")
            assert imported["imported"] == 2 and imported["sessionName"] == "round trip"
            diff = await call(client, "diff_sessions", a=session["id"], b="round trip")
            assert diff["summary"]["paired"] == 2 and diff["onlyInA"] == [] and diff["onlyInB"] == []

            inventory = await call(client, "get_inventory")
            endpoints = {e["endpoint"] for h in inventory["hosts"] for e in h["endpoints"]}
            assert endpoints == {"GET /api/data", "POST /echo"}
            one = await call(client, "get_inventory", endpoint="POST /echo")
            assert {s["kind"] for s in one["sensitive"]} == {"email"}
            openapi = await call(client, "get_openapi", format="json")
            assert "/api/data" in orjson.loads(openapi["document"])["paths"]

            assert "mock rules need a mock object" in await call_error(
                client, "create_rule", name="m", action="mock", match={"path": "/x"}
            )
            assert "Traffic entry not found" in await call_error(client, "get_traffic", id="no-such-entry")
            assert "Session not found: nope" in await call_error(client, "list_traffic", sessionId="nope")
            assert "limit must be between 1 and 1000" in await call_error(client, "list_traffic", limit=0)
        code, _ = await stop(proc)
        assert code == 0

    # Necto stopped: the read-only tools read the data directory (and an older client's handshake works).
    nobody = f"http://127.0.0.1:{free_port()}"
    async with mcp_client("--url", nobody, "--data-dir", str(home), mode="legacy") as client:
        assert NECTOPROXY_TOOLS | NECTO_TOOLS <= {t.name for t in (await client.list_tools()).tools}
        found = await call(client, "search_traffic", urlContains=f"planted={planted}", sessionId=session["id"])
        assert [e["id"] for e in found["entries"]] == [hit["id"]]
        detail = await call(client, "get_traffic", id=echo["id"], part="response", maxBodyChars=50_000)
        assert (
            "[REDACTED:email]" in detail["response"]["body"]["text"] and EMAIL not in detail["response"]["body"]["text"]
        )
        names = {s["name"] for s in (await call(client, "list_sessions"))["sessions"]}
        assert "round trip" in names
        inventory = await call(client, "get_inventory", sessionId="round trip")
        assert {e["endpoint"] for h in inventory["hosts"] for e in h["endpoints"]} == {"GET /api/data", "POST /echo"}
        message = await call_error(client, "create_rule", name="m", action="block", match={"path": "/x"})
        assert "needs a running Necto" in message and nobody in message
        assert "needs a running Necto" in await call_error(client, "replay_request", id=hit["id"])


async def test_mcp_mock_rule_takes_effect(pki: TestPki, upstream: Upstream, tmp_path: Path) -> None:
    home = tmp_path / "home"
    url = f"{upstream.https_url}/api/data"
    async with necto_process(home, pki) as proc, mcp_client("--url", proc.api_url) as client:
        created = await call(
            client, "create_rule", name="mock data", action="mock", match={"path": "/api/data", "method": "GET"},
            mock={"status": 418, "headers": {"Content-Type": "text/plain"}, "body": "mocked by rule"},
        )  # fmt: skip
        rule_id = created["rule"]["id"]
        assert await curl(proc.proxy_url, home, url) == b"mocked by rule"
        assert [r["id"] for r in (await call(client, "list_rules"))["rules"]] == [rule_id]
        assert (await call(client, "toggle_rule", id=rule_id))["rule"]["enabled"] is False
        assert b"data loaded" in await curl(proc.proxy_url, home, url)
        await call(client, "delete_rule", id=rule_id)
        assert (await call(client, "list_rules"))["rules"] == []

        async def mocked_entry_found() -> bool:  # captures are committed within ~100 ms
            found = await call(client, "search_traffic", urlContains="/api/data", statusMin=418, statusMax=418)
            return bool(found["matched"] == 1)

        await poll_until(mocked_entry_found, "the mocked exchange in search_traffic")


def test_diff_results_are_cut_and_redacted() -> None:
    from necto.mcp.present import diff_view
    from necto.redact import Redactor

    change = {
        "method": "GET", "url": "https://api.test/u?api_key=SECRETSECRET", "status": {"a": 200, "b": 200},
        "body": {"kind": "json", "changes": [{"path": "$.contact", "a": "desk", "b": EMAIL}]},
    }  # fmt: skip
    d = {
        "identical": False, "a": {"label": "a", "count": 3}, "b": {"label": "b", "count": 3},
        "summary": {"paired": 3}, "onlyInA": [], "onlyInB": [], "changes": [change] * 3, "timing": [],
    }  # fmt: skip
    view = diff_view(d, 2, Redactor())
    assert len(view["changes"]) == 2 and view["notes"] == ["changes: first 2 of 3 shown (raise maxItems for more)"]
    text = orjson.dumps(view).decode()
    assert EMAIL not in text and "SECRETSECRET" not in text and "[REDACTED:email]" in text
    assert EMAIL in orjson.dumps(diff_view(d, 2, None)).decode()
