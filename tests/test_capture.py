"""Capture through the real proxy: HTTP/1.1, HTTP/2, HTTPS, WebSocket, failures, timings."""

from __future__ import annotations

import asyncio

import aiohttp

from conftest import RunningNecto, Upstream, curl, wait_for_entries
from necto.model import Session


async def test_http_get_recorded_with_body_and_headers(
    necto: RunningNecto, upstream: Upstream, fresh_session: Session
) -> None:
    code, out, err = await curl(necto, f"{upstream.http_url}/hello", "-H", "X-Test: one", "-H", "X-Test: two")
    assert code == 0, err
    assert out == b"hello world"
    [entry] = await wait_for_entries(necto.store, fresh_session.id, 1)
    assert entry.method == "GET"
    assert entry.url == f"{upstream.http_url}/hello"
    assert entry.status == 200 and entry.status_text == "OK"
    assert entry.http_version == "HTTP/1.1"
    assert entry.response_body == b"hello world"
    assert [v for n, v in entry.request_headers if n.lower() == "x-test"] == ["one", "two"]
    assert entry.server_ip == "127.0.0.1" and entry.server_port == upstream.http_port
    assert entry.client_ip == "127.0.0.1"
