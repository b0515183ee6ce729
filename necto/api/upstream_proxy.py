"""/api/upstream-proxy: the proxy Necto itself goes through (NectoProxy's paths and errors).

Unlike NectoProxy's in-memory setting, the configuration is stored and survives restarts.
Credentials are never echoed back: answers carry the username and `hasPassword`. A PUT that
names the same username without a password keeps the stored password.
"""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web

from necto.api.connectivity import state
from necto.api.errors import bad_request, json_response, read_json
from necto.capture.upstream import ConfigError, UpstreamConfig, config_from_json

routes = web.RouteTableDef()


def _answer(config: UpstreamConfig | None) -> web.Response:
    return json_response({"config": config.public() if config else None})


@routes.get("/api/upstream-proxy")
async def get_config(request: web.Request) -> web.Response:
    return _answer(state(request).upstream)


@routes.put("/api/upstream-proxy")
async def put_config(request: web.Request) -> web.Response:
    body = await read_json(request)
    s = state(request)
    try:
        config = config_from_json(body, s.upstream)
    except ConfigError as e:
        raise bad_request(str(e)) from None
    if config.host and await s.router.own(config.host, config.port):
        raise bad_request("The upstream proxy cannot be Necto's own API or proxy port")
    await s.set_upstream(config)
    return _answer(s.upstream)


@routes.post("/api/upstream-proxy/enable")
async def enable(request: web.Request) -> web.Response:
    s = state(request)
    config = s.upstream
    if config is None:
        raise bad_request("No proxy configured")
    if not config.host:
        raise bad_request("Host is required when proxy is enabled")
    await s.set_upstream(replace(config, enabled=True))
    return _answer(s.upstream)


@routes.post("/api/upstream-proxy/disable")
async def disable(request: web.Request) -> web.Response:
    s = state(request)
    config = s.upstream
    if config is not None:
        await s.set_upstream(replace(config, enabled=False))
    return _answer(s.upstream)


@routes.delete("/api/upstream-proxy")
async def delete_config(request: web.Request) -> web.Response:
    await state(request).set_upstream(None)
    return json_response({"config": None})
