"""/api/certificates: the CA for clients to trust, and how to trust it."""

from __future__ import annotations

from aiohttp import web

from necto.api.context import ctx
from necto.api.errors import json_response
from necto.certs import ca_info, install_steps

routes = web.RouteTableDef()


@routes.get("/api/certificates/ca")
async def ca_pem(request: web.Request) -> web.Response:
    return web.Response(
        body=ctx(request).ca.cert_pem.read_bytes(),
        content_type="application/x-pem-file",
        headers={"Content-Disposition": 'inline; filename="necto-ca-cert.pem"'},
    )


@routes.get("/api/certificates/download")
async def ca_download(request: web.Request) -> web.Response:
    return web.Response(
        body=ctx(request).ca.cert_pem.read_bytes(),
        content_type="application/x-x509-ca-cert",
        headers={"Content-Disposition": 'attachment; filename="necto-ca-cert.crt"'},
    )


@routes.get("/api/certificates/ca/info")
async def ca_details(request: web.Request) -> web.Response:
    return json_response(ca_info(ctx(request).ca))


@routes.get("/api/certificates/ca/install")
async def ca_install(request: web.Request) -> web.Response:
    c = ctx(request)
    host, port = c.proxy_address()
    return json_response(install_steps(c.ca, f"{host}:{port}"))
