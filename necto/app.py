"""One process, one asyncio loop: mitmproxy's Master, the aiohttp API and the store.

`Necto.start()` / `Necto.stop()` are what the CLI and the tests both drive, so the tests run
exactly the code a user runs, on ephemeral ports.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from mitmproxy import options
from mitmproxy.addons import core, next_layer, proxyserver, tlsconfig
from mitmproxy.master import Master

from necto.api import make_app
from necto.api.context import ApiContext
from necto.capture.connections import ConnectionTracker
from necto.capture.recorder import Recorder
from necto.certs import CaFiles, ensure_ca
from necto.config import Config
from necto.replay import ReplayManager
from necto.store import Store

log = logging.getLogger(__name__)


class StartupError(Exception):
    """A clear, user-facing reason Necto could not start (exit code 2)."""


@dataclass
class Addresses:
    proxy: tuple[str, int]
    api: tuple[str, int]


class _ListenErrors(logging.Handler):
    """Collects what mitmproxy logs while bringing its listener up (it does not raise)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class Necto:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.store: Store | None = None
        self.master: Master | None = None
        self.ca: CaFiles | None = None
        self._runner: web.AppRunner | None = None
        self._proxyserver: proxyserver.Proxyserver | None = None
        self.recorder: Recorder | None = None
        self.addresses: Addresses | None = None
        self._task_factory: Any = False  # the loop's own, restored on stop
        self.replays = ReplayManager()  # session replays run through this Necto's proxy

    # ------------------------------------------------------------------ start
    async def start(self) -> Addresses:
        cfg = self.config
        if not cfg.api_is_loopback and not cfg.token:
            cfg.token = secrets.token_urlsafe(24)
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        # What mitmproxy's Master.run() would do, since we drive the Master ourselves: eager
        # tasks (a measured win for mitmproxy's many short-lived tasks).
        loop = asyncio.get_running_loop()
        self._task_factory = loop.get_task_factory()
        loop.set_task_factory(asyncio.eager_task_factory)
        self.ca = ensure_ca(cfg.certs_dir)
        self.store = await Store.open(cfg.db_path)
        try:
            api_addr = await self._start_api()
            proxy_addr = await self._start_proxy(api_addr)
        except BaseException:
            await self.stop()
            raise
        self.addresses = Addresses(proxy=proxy_addr, api=api_addr)
        return self.addresses

    async def _start_api(self) -> tuple[str, int]:
        assert self.store is not None and self.ca is not None
        context = ApiContext(
            store=self.store,
            config=self.config,
            ca=self.ca,
            proxy_address=lambda: self.addresses.proxy if self.addresses else ("", 0),
            api_port=lambda: self.addresses.api[1] if self.addresses else self.config.api_port,
            recorder=lambda: self.recorder,
            replays=self.replays,
        )
        self._runner = web.AppRunner(make_app(context), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.api_host, self.config.api_port)
        try:
            await site.start()
        except OSError as e:
            raise StartupError(
                f"cannot listen for the API on {self.config.api_host}:{self.config.api_port}: "
                f"{e.strerror or e}. Is another Necto running? Choose another port with --api-port."
            ) from None
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        host, port = server.sockets[0].getsockname()[:2]  # type: ignore[attr-defined]
        return str(host), int(port)

    async def _start_proxy(self, api_addr: tuple[str, int]) -> tuple[str, int]:
        assert self.store is not None and self.ca is not None
        cfg = self.config
        opts = options.Options()
        self.master = Master(opts, event_loop=asyncio.get_running_loop())
        tracker = ConnectionTracker(protected=lambda: [(cfg.api_host, api_addr[1])])
        self.recorder = recorder = Recorder(
            sink=self.store.record,
            target=lambda: cfg.capture_session or (self.store.capture_session_id if self.store else None),
            tracker=tracker,
            max_body_size=cfg.max_body_size,
        )
        self._proxyserver = proxyserver.Proxyserver()
        # Only what Necto uses: every addon runs on every flow event.
        self.master.addons.add(
            core.Core(),
            self._proxyserver,
            next_layer.NextLayer(),
            tlsconfig.TlsConfig(),
            tracker,
            recorder,
        )
        updates: dict[str, object] = {
            "confdir": str(cfg.certs_dir),
            "listen_host": cfg.proxy_host,
            "listen_port": cfg.proxy_port,
            "ssl_insecure": cfg.ssl_insecure,
        }
        if cfg.upstream_ca is not None:
            updates["ssl_verify_upstream_trusted_ca"] = str(cfg.upstream_ca)
        opts.update(**updates)

        catcher = _ListenErrors()
        logging.getLogger("mitmproxy").addHandler(catcher)
        try:
            ok = await self._proxyserver.setup_servers()
        finally:
            logging.getLogger("mitmproxy").removeHandler(catcher)
        addrs = self._proxyserver.listen_addrs()
        if not ok or not addrs:
            detail = "; ".join(catcher.messages) or "unknown error"
            raise StartupError(
                f"cannot listen for the proxy on {cfg.proxy_host}:{cfg.proxy_port}: {detail}. "
                "Choose another port with --proxy-port."
            )
        await self.master.running()
        host, port = addrs[0][:2]
        return str(host), int(port)

    # ------------------------------------------------------------------ stop
    async def stop(self) -> None:
        """Close both listeners, then write every pending capture and close the store."""
        # Replays go through the proxy: end them before it closes.
        await self.replays.cancel_all()
        if self._proxyserver is not None:
            # Master.run() returning would not close the listener; emptying the modes does.
            await self._proxyserver.servers.update([])
            self._proxyserver = None
        if self.master is not None:
            await self.master.done()
            self.master = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.store is not None:
            await self.store.close()
            self.store = None
        if self._task_factory is not False:
            asyncio.get_running_loop().set_task_factory(self._task_factory)
            self._task_factory = False

    async def serve_until_signalled(self) -> None:
        """Run until SIGINT/SIGTERM, then stop cleanly (nothing captured is lost)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await self.stop()
