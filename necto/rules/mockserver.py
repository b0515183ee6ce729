"""`necto mock`: a recording (session or HAR file) served as a standalone HTTP backend, no proxy.

Requests are answered by method + path + query (order ignored) or by path template, the origin
ignored since the client now talks to us; when several recorded hosts share a path, the one
named by the request's Host header wins. Nth call -> Nth recorded response, then the last
repeats; optional recorded timing (wait before the first byte, body paced over the recorded
receive time); a miss is a 404 that says what was asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from multidict import CIMultiDict

from necto.model import Entry
from necto.rules.recorded import Recording, fetch_entry, recorded_hold_ms, response_parts

PACE_SLICES = 20
MOCK_HEADER = "X-Necto-Mock"


def mock_app(
    recording: Recording,
    get_entry: Callable[[str], Awaitable[Entry | None]],
    replay_timing: bool = False,
) -> web.Application:
    async def answer(request: web.Request) -> web.StreamResponse:
        body_in = await request.read()  # drain what the client sent
        del body_in
        url = str(request.url)
        rec = recording.pick(request.method, url, ignore_origin=True, host=request.host)
        entry = await fetch_entry(rec, get_entry) if rec is not None else None
        if entry is None:
            return web.Response(
                body=orjson.dumps({"error": f"No recorded response for {request.method} {request.path_qs}"}),
                status=404, content_type="application/json", headers={MOCK_HEADER: "miss"},
            )  # fmt: skip
        status, reason, headers, body = response_parts(entry)
        out = CIMultiDict(headers)
        out[MOCK_HEADER] = "hit"
        if not replay_timing:
            return web.Response(status=status, reason=reason or None, body=body, headers=out)
        before, receive = recorded_hold_ms(entry)
        await asyncio.sleep(before / 1000.0)
        resp = web.StreamResponse(status=status, reason=reason or None, headers=out)
        resp.content_length = len(body)
        await resp.prepare(request)
        step = max(1, -(-len(body) // PACE_SLICES))
        for i in range(0, len(body), step):
            await resp.write(body[i : i + step])
            if receive > 0 and i + step < len(body):
                await asyncio.sleep(receive / 1000.0 / PACE_SLICES)
        await resp.write_eof()
        return resp

    app = web.Application(client_max_size=1 << 30)
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


async def start_mock_server(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    server = site._server
    assert server is not None
    return runner, int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
