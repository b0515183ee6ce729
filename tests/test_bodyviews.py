"""Readable bodies through mitmproxy's content views: a real gRPC call over HTTP/2 through the
proxy (grpcio server and client) rendered without a schema and with `.proto` files, GraphQL
operation names in the list and the filter, MsgPack, forms, hex, and the endpoint's errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from helpers import RunningNecto, TestPki, Upstream, api, curl, necto_cli, poll_until, wait_for_entries
from necto.model import Session

grpc = pytest.importorskip("grpc", reason="grpcio is in the test extras (scripts/setup --test)")

PROTO = """
syntax = "proto3";
package demo;
service Greeter { rpc SayHello (HelloRequest) returns (HelloReply); }
message HelloRequest { string name = 1; int32 times = 2; }
message HelloReply { string message = 1; repeated string tags = 2; }
"""


# Protobuf's wire format, by hand (no generated code, no protoc).
def _varint(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        if not n:
            return out + bytes([b])
        out += bytes([b | 0x80])


def _text(field: int, value: str) -> bytes:
    data = value.encode()
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _read_text(message: bytes, field: int) -> str:
    i = 0
    while i < len(message):
        key = message[i]
        i += 1
        if key & 7 == 0:
            while message[i] & 0x80:
                i += 1
            i += 1
            continue
        size = message[i]  # short strings only
        i += 1
        if key >> 3 == field:
            return message[i : i + size].decode()
        i += size
    return ""


@pytest.fixture(scope="module")
def greeter(pki: TestPki) -> Iterator[int]:
    """A gRPC server (TLS, HTTP/2) with demo.Greeter/SayHello, on a free port."""

    def say_hello(request: bytes, context: Any) -> bytes:
        name = _read_text(request, 1)
        return _text(1, f"Hello {name}") + _text(2, "greeting") + _text(2, "demo")

    handler = grpc.method_handlers_generic_handler(
        "demo.Greeter", {"SayHello": grpc.unary_unary_rpc_method_handler(say_hello)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    creds = grpc.ssl_server_credentials([(pki.key_pem.read_bytes(), pki.cert_pem.read_bytes())])
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    yield port
    server.stop(grace=None)


def _call(necto: RunningNecto, port: int, name: str) -> bytes:
    creds = grpc.ssl_channel_credentials(root_certificates=necto.ca_pem.read_bytes())
    options = [("grpc.http_proxy", necto.proxy_url), ("grpc.enable_http_proxy", 1)]
    with grpc.secure_channel(f"localhost:{port}", creds, options=options) as channel:
        say_hello = channel.unary_unary("/demo.Greeter/SayHello")
        return bytes(say_hello(_text(1, name) + _varint(2 << 3) + _varint(3), timeout=20))


async def _view(
    http: aiohttp.ClientSession, necto: RunningNecto, entry_id: str, part: str, view: str = "auto"
) -> tuple[int, Any]:
    return await api(http, "GET", f"{necto.api_url}/api/traffic/{entry_id}/view?part={part}&view={view}")


async def test_a_grpc_call_through_the_proxy_renders_its_fields(
    necto: RunningNecto, greeter: int, http: aiohttp.ClientSession, fresh_session: Session, tmp_path: Path
) -> None:
    reply = await asyncio.to_thread(_call, necto, greeter, "Ada Lovelace")
    assert _read_text(reply, 1) == "Hello Ada Lovelace"
    (entry,) = await wait_for_entries(necto.store, fresh_session.id, 1)
    assert entry.url == f"https://localhost:{greeter}/demo.Greeter/SayHello"
    assert entry.http_version == "HTTP/2.0" and entry.content_type.startswith("application/grpc")

    status, request = await _view(http, necto, entry.id, "request")
    assert status == 200 and request["view"] == "gRPC"
    assert "1: Ada Lovelace" in request["text"] and "2: 3" in request["text"]
    status, response = await _view(http, necto, entry.id, "response", "grpc")
    assert (
        response["view"] == "gRPC" and "1: Hello Ada Lovelace" in response["text"] and "- greeting" in response["text"]
    )
    _, found = await api(
        http, "GET", f"{necto.api_url}/api/traffic?sessionId={fresh_session.id}&filter=is:grpc path:/demo.Greeter/*"
    )
    assert found["count"] == 1

    # with .proto files (--proto-dir): field names
    protos = tmp_path / "protos"
    protos.mkdir()
    (protos / "greet.proto").write_text(PROTO)
    config = necto.app.config
    config.proto_dir = protos
    try:
        _, request = await _view(http, necto, entry.id, "request")
        assert "name: Ada Lovelace" in request["text"] and "times: 3" in request["text"]
        _, response = await _view(http, necto, entry.id, "response")
        assert "message: Hello Ada Lovelace" in response["text"] and "- greeting" in response["text"]
    finally:
        config.proto_dir = None


async def test_graphql_requests_carry_their_operation_name(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession, fresh_session: Session
) -> None:
    body = '{"query":"query GetUser($id: ID!) { user(id: $id) { name } }","variables":{"id":"7"}}'
    await curl(necto, "-H", "Content-Type: application/json", "--data-binary", body, f"{upstream.http_url}/graphql")
    named = '{"operationName":"UpdateCart","query":"mutation UpdateCart {\\n  cart { id }\\n}\\nquery Other { a }"}'
    await curl(necto, "-H", "Content-Type: application/json", "--data-binary", named, f"{upstream.http_url}/graphql")
    await curl(
        necto,
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        '{"query":"{ me { id } }"}',
        f"{upstream.http_url}/graphql",
    )
    await curl(
        necto, "-H", "Content-Type: application/json", "--data-binary", '{"queryX":1}', f"{upstream.http_url}/echo"
    )
    await wait_for_entries(necto.store, fresh_session.id, 4)
    lst = f"{necto.api_url}/api/traffic?sessionId={fresh_session.id}"
    _, found = await api(http, "GET", lst + "&filter=graphql:GetUser")  # a filter indexes what it needs first
    assert [e["graphqlOperation"] for e in found["entries"]] == ["GetUser"]

    async def listed() -> list[Any]:
        _, page = await api(http, "GET", lst)
        return [e["graphqlOperation"] for e in page["entries"]]

    await poll_until(
        lambda: _is(listed, ["GetUser", "UpdateCart", "", None]), "operation names in the list (indexed lazily)"
    )
    _, found = await api(http, "GET", lst + "&filter=is:graphql -graphql:Get*")
    assert [e["graphqlOperation"] for e in found["entries"]] == ["UpdateCart", ""]
    _, detail = await api(http, "GET", f"{necto.api_url}/api/traffic/{found['entries'][0]['id']}")
    assert detail["graphqlOperation"] == "UpdateCart"
    status, view = await _view(http, necto, detail["id"], "request", "graphql")
    assert status == 200 and view["view"] == "GraphQL" and "mutation UpdateCart" in view["text"]


async def _is(get: Any, expected: Any) -> bool:
    return bool(await get() == expected)


async def test_msgpack_forms_hex_and_errors(
    necto: RunningNecto, upstream: Upstream, http: aiohttp.ClientSession, fresh_session: Session, tmp_path: Path
) -> None:
    packed = tmp_path / "body.msgpack"
    packed.write_bytes(
        b"\x82\xa4user\xa3ann\xa5roles\x92\xa5admin\xa3dev"
    )  # {"user": "ann", "roles": ["admin", "dev"]}
    await curl(
        necto, "-H", "Content-Type: application/msgpack", "--data-binary", f"@{packed}", f"{upstream.http_url}/echo"
    )
    await curl(necto, "--data", "user=ann&note=x+y%26z", f"{upstream.http_url}/echo")
    await curl(necto, f"{upstream.http_url}/hello")
    msgpack, form, hello = await wait_for_entries(necto.store, fresh_session.id, 3)

    status, view = await _view(http, necto, msgpack.id, "response")
    assert status == 200 and view["view"] == "MsgPack" and "admin" in view["text"] and "user: ann" in view["text"]
    _, view = await _view(http, necto, form.id, "request", "form")
    assert view["params"] == [{"name": "user", "value": "ann"}, {"name": "note", "value": "x y&z"}]
    _, view = await _view(http, necto, form.id, "request")  # auto: mitmproxy's view, and the table
    assert view["params"] and view["view"] == "URL-encoded"
    _, view = await _view(http, necto, hello.id, "response", "hex")
    assert view["view"] == "Hex Dump" and "68 65 6c 6c" in view["text"]
    _, view = await _view(http, necto, hello.id, "response", "json")
    assert view["text"] == "" and view["description"].startswith("Couldn't parse as JSON")
    assert await _view(http, necto, hello.id, "request") == (400, {"error": "The request has no body"})
    assert (await _view(http, necto, hello.id, "headers"))[0] == 400
    status, body = await _view(http, necto, hello.id, "response", "yaml")
    assert status == 400 and body["error"].startswith("view must be one of: auto, json, xml, html, protobuf, grpc")
    assert await _view(http, necto, "no-such-entry", "response") == (404, {"error": "Traffic entry not found"})


async def test_a_missing_proto_dir_is_refused_at_start(tmp_path: Path) -> None:
    code, _, err = await necto_cli("run", "--data-dir", str(tmp_path), "--proxy-port", "0", "--api-port", "0",
                                   "--proto-dir", str(tmp_path / "nowhere"), timeout=60)  # fmt: skip
    assert code == 2 and b"--proto-dir" in err and b"does not exist" in err
