"""Where `necto mcp` gets its answers: a running Necto's REST API, or the data directory.

Every tool call first asks the API's /api/health (loopback answers in a millisecond). When
Necto is running, everything goes through the REST API, exactly as a script would use it.
When it is not, read-only tools open the Store over the data directory instead (what the CLI
does), and tools that need the proxy (rules, replay) say that Necto must be started.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from necto.store import Store

log = logging.getLogger("necto.mcp")

HEALTH_TIMEOUT = 2.0
CALL_TIMEOUT = 120.0


class ToolError(Exception):
    """What went wrong, in words an agent can act on (returned as an error result)."""


class Backend:
    def __init__(self, url: str, token: str | None, data_dir: Path) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.data_dir = data_dir
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            # trust_env stays off: the API is reached directly, never through a proxy.
            self._http = aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT))
        return self._http

    async def online(self) -> bool:
        """Is a Necto answering at the URL? (A 401/403 still means it runs: the call will say why.)"""
        try:
            async with self._client().get(
                self.url + "/api/health", timeout=aiohttp.ClientTimeout(total=HEALTH_TIMEOUT)
            ) as r:
                await r.read()
                return r.status < 500
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    async def require_online(self, what: str) -> None:
        if not await self.online():
            raise ToolError(
                f"{what} needs a running Necto, and none answers at {self.url}: start it with `necto run` (or pass --url)"
            )

    # ------------------------------------------------------------ REST calls
    @asynccontextmanager
    async def request(self, method: str, path: str, **kw: Any) -> AsyncIterator[aiohttp.ClientResponse]:
        """One API call; an error status becomes a ToolError carrying the API's own message."""
        try:
            async with self._client().request(method, self.url + path, **kw) as r:
                if r.status >= 400:
                    raise ToolError(await _error_text(r))
                yield r
        except aiohttp.ClientError as e:
            raise ToolError(f"cannot reach Necto at {self.url}: {e}") from None

    async def call(self, method: str, path: str, **kw: Any) -> Any:
        async with self.request(method, path, **kw) as r:
            raw = await r.read()
        try:
            return orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            return raw.decode("utf-8", "replace")

    # ------------------------------------------------------------ the data directory
    @asynccontextmanager
    async def store(self) -> AsyncIterator[Store]:
        db = self.data_dir / "necto.db"
        if not db.is_file():
            raise ToolError(f"Necto is not running at {self.url} and {self.data_dir} holds no recorded traffic")
        store = await Store.open(db)
        try:
            yield store
        finally:
            await store.close()


async def _error_text(r: aiohttp.ClientResponse) -> str:
    raw = await r.read()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    message = body.get("error") if isinstance(body, dict) else None
    if r.status in (401, 403) and not message:
        message = "Necto refused the request: pass its token with --token or NECTO_TOKEN"
    if r.status == 404 and message == "Not found":
        message = f"Necto at this address has no {r.method} {r.url.path} (an older version?)"
    return f"{message or raw[:200].decode('utf-8', 'replace') or r.reason} (HTTP {r.status})"
