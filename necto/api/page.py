"""The web page: static assets shipped inside the package, served with a strict CSP.

Nothing is built or fetched at run time. The CSP forbids inline script and any other origin,
a second wall behind the page's rule of rendering captured content as text only.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

routes = web.RouteTableDef()

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
ASSETS = resources.files("necto") / "web"


def _asset(name: str) -> web.Response:
    if "/" in name or name.startswith(".") or not name:
        raise web.HTTPNotFound()
    resource = ASSETS / name
    if not resource.is_file():
        raise web.HTTPNotFound()
    suffix = "." + name.rsplit(".", 1)[-1]
    return web.Response(
        body=resource.read_bytes(),
        content_type=TYPES.get(suffix, "application/octet-stream"),
        charset="utf-8" if suffix in (".html", ".js", ".css", ".svg") else None,
        headers={
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        },
    )


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    return _asset("index.html")


@routes.get("/favicon.ico")
async def favicon(request: web.Request) -> web.Response:
    """Browsers ask for it on every load even with a declared icon: answer, never 404."""
    return _asset("favicon.svg")


@routes.get("/static/{name}")
async def static(request: web.Request) -> web.Response:
    return _asset(request.match_info["name"])
