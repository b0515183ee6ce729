"""/api/network: NectoProxy's network-conditioning API. Presets `preset-0` ... `preset-10`, custom
profiles (stored, unlike NectoProxy's in-memory ones) and one active profile for all traffic."""

from __future__ import annotations

import socket
from typing import Any

from aiohttp import web

from necto.api.context import ctx
from necto.api.errors import bad_request, json_response, not_found, read_json
from necto.network import (
    PRESET_BY_ID,
    PROFILE_NOT_FOUND,
    PROFILE_NOT_FOUND_OR_PRESET,
    ProfileError,
    profile_from_fields,
    validate_profile,
)
from necto.rules.book import all_profiles, resolve_profile

routes = web.RouteTableDef()


async def _active(request: web.Request) -> dict[str, Any] | None:
    store = ctx(request).store
    profile = await resolve_profile(store, await store.active_profile_id())
    return profile.as_json(enabled=True) if profile is not None else None


@routes.get("/api/network/profiles")
async def list_profiles(request: web.Request) -> web.Response:
    store = ctx(request).store
    active_id = await store.active_profile_id()
    profiles = [p.as_json(enabled=p.id == active_id) for p in await all_profiles(store)]
    return json_response({"profiles": profiles, "activeProfile": await _active(request)})


@routes.get("/api/network/active")
async def active_profile(request: web.Request) -> web.Response:
    return json_response({"activeProfile": await _active(request)})


@routes.post("/api/network/activate/{id}")
async def activate(request: web.Request) -> web.Response:
    store = ctx(request).store
    pid = request.match_info["id"]
    if pid not in PRESET_BY_ID and await store.get_profile(pid) is None:
        raise not_found(PROFILE_NOT_FOUND)
    await store.set_active_profile(pid)
    return json_response({"activeProfile": await _active(request)})


@routes.post("/api/network/deactivate")
async def deactivate(request: web.Request) -> web.Response:
    await ctx(request).store.set_active_profile(None)
    return json_response({"activeProfile": None})


@routes.post("/api/network/profiles")
async def create_profile(request: web.Request) -> web.Response:
    body = await read_json(request)
    try:
        fields = validate_profile(body)
    except ProfileError as e:
        raise bad_request(str(e)) from None
    pid = await ctx(request).store.create_profile(fields)
    return json_response(profile_from_fields(pid, fields).as_json())  # 200, as NectoProxy answers


@routes.put("/api/network/profiles/{id}")
async def update_profile(request: web.Request) -> web.Response:
    store = ctx(request).store
    pid = request.match_info["id"]
    current = await store.get_profile(pid)
    if current is None:
        raise not_found(PROFILE_NOT_FOUND_OR_PRESET)
    body = await read_json(request)
    try:
        fields = validate_profile(body, current)
    except ProfileError as e:
        raise bad_request(str(e)) from None
    if not await store.update_profile(pid, fields):
        raise not_found(PROFILE_NOT_FOUND_OR_PRESET)
    return json_response(profile_from_fields(pid, fields).as_json(enabled=await store.active_profile_id() == pid))


@routes.delete("/api/network/profiles/{id}")
async def delete_profile(request: web.Request) -> web.Response:
    if not await ctx(request).store.delete_profile(request.match_info["id"]):
        raise not_found(PROFILE_NOT_FOUND_OR_PRESET)
    return json_response({"success": True})


def _local_ipv4() -> list[dict[str, str]]:
    """Non-loopback IPv4 addresses of this machine (what a phone on the LAN can use)."""
    found: dict[str, str] = {}
    try:
        import fcntl
        import struct

        for _, name in socket.if_nameindex():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))  # SIOCGIFADDR
                except OSError:
                    continue
                addr = socket.inet_ntoa(packed[20:24])
                if not addr.startswith("127."):
                    found.setdefault(addr, name)
    except (ImportError, OSError, AttributeError):
        pass
    if not found:
        try:
            for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
                addr = str(info[4][0])
                if not addr.startswith("127."):
                    found.setdefault(addr, "host")
        except OSError:
            pass
    return [{"name": name, "address": addr, "family": "IPv4"} for addr, name in found.items()]


@routes.get("/api/network/local-ips")
async def local_ips(request: web.Request) -> web.Response:
    return json_response({"addresses": _local_ipv4()})
