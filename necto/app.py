"""One process, one asyncio loop: mitmproxy's Master, the aiohttp API and the store.

`Necto.start()` / `Necto.stop()` are what the CLI and the tests both drive, so the tests run
exactly the code a user runs, on ephemeral ports.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import secrets
import signal
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from mitmproxy import ctx as mitmproxy_ctx
from mitmproxy import exceptions, options
from mitmproxy.addons import core, next_layer, proxyserver, tlsconfig
from mitmproxy.master import Master
from mitmproxy.proxy import mode_specs
from mitmproxy.utils import asyncio_utils

from necto.api import make_app
from necto.api.context import ApiContext
from necto.api.site import API_MAX_CONNECTIONS, GuardedSite
from necto.breakpoints.book import BreakpointBook
from necto.breakpoints.hits import PauseBoard
from necto.capture import errorpage, upstream
from necto.capture.breakpoints import BreakpointsAddon
from necto.capture.connections import ConnectionTracker, Protected
from necto.capture.guard import ClientGuard, Limits, RateLimitedLog
from necto.capture.recorder import Recorder
from necto.capture.rules import RulesAddon
from necto.capture.settings import ConnectivityState
from necto.capture.streaming import Streamer
from necto.capture.upstream import ConfigError, UpstreamConfig, UpstreamRouter, config_from_url
from necto.certs import CaFiles, ensure_ca
from necto.config import Config
from necto.har.fragments import build as build_fragment
from necto.replay import ReplayManager
from necto.rules.book import RuleBook, find_profile
from necto.store import DatabaseProblem, Store
from necto.store.core import private_dir
from necto.uploads import remove_stale_uploads

log = logging.getLogger(__name__)
_RUNNING: weakref.WeakSet[Master] = weakref.WeakSet()  # masters of started, not yet stopped Nectos


class StartupError(Exception):
    """A clear, user-facing reason Necto could not start (exit code 2)."""


@dataclass
class Listener:
    mode: str  # mitmproxy's mode spec, e.g. "regular", "socks5", "reverse:http://localhost:3000"
    description: str
    host: str
    port: int


@dataclass
class Addresses:
    proxy: tuple[str, int]  # the first mode's listener
    api: tuple[str, int]
    listeners: list[Listener] = field(default_factory=list)  # every mode's


def mode_specs_for(modes: list[str], host: str, port: int) -> list[str]:
    """mitmproxy mode specs: the first mode listens on --proxy-host/--proxy-port unless it
    says where (`@port`, `@host:port`); the others on their own port (given, or mitmproxy's
    default for the mode). StartupError for a spec mitmproxy cannot parse."""
    specs = []
    for i, spec in enumerate(modes or ["regular"]):
        try:
            parsed = mode_specs.ProxyMode.parse(spec)
        except ValueError as e:
            raise StartupError(f"invalid --mode {spec!r}: {e}") from None
        if i == 0 and parsed.custom_listen_port is None:
            spec = f"{spec}@{host}:{port}"
        specs.append(spec)
    return specs


# Descriptors kept out of the proxy's share: the store, certificates, logs, threads, and the
# API's own connections (API_MAX_CONNECTIONS), so the page answers when the proxy is saturated.
FD_RESERVE = 64
FD_PER_CLIENT = 2  # a proxied connection holds its client's socket and usually one upstream


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard one; return the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def proxy_connection_cap(requested: int, fd_limit: int) -> int:
    """The proxy's connection cap: what was asked, within what the descriptors allow."""
    budget = (fd_limit - API_MAX_CONNECTIONS - FD_RESERVE) // FD_PER_CLIENT
    return max(8, min(requested, budget))


@dataclass
class ShutdownReport:
    """How a stop went: for `necto run`'s last line and the tests."""

    seconds: float = 0.0
    cut: int = 0  # connections closed with an exchange still in flight (shutdown timeout)


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
        self.connectivity: ConnectivityState | None = None
        self.rules: RuleBook | None = None  # the rules and network profile the proxy applies
        self.addresses: Addresses | None = None
        self._protected = Protected()
        self._task_factory: Any = False  # the loop's own, restored on stop
        self.replays = ReplayManager()  # session replays run through this Necto's proxy
        # Exchanges held at breakpoints (the API lists and resumes them, the proxy holds them).
        self.breakpoints = PauseBoard(
            timeout_ms=int(config.breakpoint_timeout * 1000), timeout_action=config.breakpoint_timeout_action
        )
        self.breakpoint_book: BreakpointBook | None = None  # the breakpoints the proxy applies
        self._exception_handler: Any = False  # the loop's own, restored on stop
        self.guard: ClientGuard | None = None
        self.api_site: GuardedSite | None = None
        self.api_waiting: set[object] = set()  # API connections yet to send a request
        self.shutdown = ShutdownReport()
        self._fd_log = RateLimitedLog(log)
        self.fd_limit = 0

    # ------------------------------------------------------------------ start
    async def start(self) -> Addresses:
        cfg = self.config
        if not cfg.api_is_loopback and not cfg.token:
            cfg.token = secrets.token_urlsafe(24)
        if cfg.proto_dir is not None and not cfg.proto_dir.exists():
            raise StartupError(f"--proto-dir: {cfg.proto_dir} does not exist")
        try:
            private_dir(cfg.data_dir)  # captured cookies and tokens: 0700, fixed if it was not
        except OSError as e:
            raise StartupError(f"cannot use the data directory {cfg.data_dir}: {e.strerror or e}") from None
        remove_stale_uploads(cfg.tmp_dir)
        self.fd_limit = raise_fd_limit()
        # What mitmproxy's Master.run() would do, since we drive the Master ourselves: eager
        # tasks (a measured win for mitmproxy's many short-lived tasks).
        loop = asyncio.get_running_loop()
        self._task_factory = loop.get_task_factory()
        loop.set_task_factory(asyncio.eager_task_factory)
        self._exception_handler = loop.get_exception_handler()
        loop.set_exception_handler(self._loop_exception)
        try:
            self.ca = ensure_ca(cfg.certs_dir)
            try:
                self.store = await Store.open(cfg.db_path)
            except DatabaseProblem as e:
                raise StartupError(str(e)) from None
            self.store.fragment_builder = build_fragment  # exports read what the background pass built
            self.store.start_indexer(search=cfg.search_index)
            await self._apply_network_option()
            api_addr = await self._start_api()
            self._protected.api.add(api_addr[1])
            listeners = await self._start_proxy()
        except BaseException:
            await self.stop()
            raise
        first = listeners[0]
        self.addresses = Addresses(proxy=(first.host, first.port), api=api_addr, listeners=listeners)
        return self.addresses

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Out of descriptors, asyncio logs every failed accept with a traceback: one line a
        minute instead (the connection caps keep Necto below the limit; this is the backstop)."""
        message = str(context.get("message", ""))
        if message.startswith("socket.accept() out of system resource"):
            self._fd_log(f"out of file descriptors (limit {self.fd_limit}): new connections wait")
            return
        if self._exception_handler:
            self._exception_handler(loop, context)
        else:
            loop.default_exception_handler(context)

    async def _start_api(self) -> tuple[str, int]:
        assert self.store is not None and self.ca is not None
        context = ApiContext(
            store=self.store,
            config=self.config,
            ca=self.ca,
            proxy_address=lambda: self.addresses.proxy if self.addresses else ("", 0),
            api_port=lambda: self.addresses.api[1] if self.addresses else self.config.api_port,
            recorder=lambda: self.recorder,
            connectivity=lambda: self.connectivity,
            replays=self.replays,
            rules=lambda: self.rules,
            breakpoints=self.breakpoints,
            api_waiting=self.api_waiting,
            guard=lambda: self.guard,
            api_site=lambda: self.api_site,
        )
        self._runner = web.AppRunner(
            make_app(context),
            access_log=None,
            handle_signals=False,
            keepalive_timeout=self.config.idle_timeout,
            shutdown_timeout=self.config.shutdown_timeout,
        )
        await self._runner.setup()
        site = self.api_site = GuardedSite(
            self._runner,
            self.config.api_host,
            self.config.api_port,
            waiting=self.api_waiting,
            header_timeout=self.config.header_timeout,
        )
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

    def _upstream_from_cli(self) -> UpstreamConfig | None:
        url = self.config.upstream_proxy
        if not url:
            return None
        try:
            return config_from_url(url)
        except ConfigError as e:
            raise StartupError(f"--upstream-proxy: {e}") from None

    async def _start_proxy(self) -> list[Listener]:
        assert self.store is not None and self.ca is not None
        cfg = self.config
        specs = mode_specs_for(cfg.modes, cfg.proxy_host, cfg.proxy_port)
        cli_upstream = self._upstream_from_cli()
        if cfg.client_certs is not None and not cfg.client_certs.exists():
            raise StartupError(f"--client-certs: {cfg.client_certs} does not exist")
        opts = options.Options()
        if getattr(mitmproxy_ctx, "master", None) in _RUNNING:
            # mitmproxy keeps its master in process-wide globals: new connections of every
            # listener in this process are handed to the newest master.
            log.warning("another Necto runs in this process: mitmproxy serves one proxy per process")
        self.master = Master(opts, event_loop=asyncio.get_running_loop())
        _RUNNING.add(self.master)
        tracker = ConnectionTracker(protected=lambda: self._protected, connect_timeout=cfg.connect_timeout)
        router = UpstreamRouter(tracker)
        self.connectivity = ConnectivityState(self.store, tracker, router, opts, cli_upstream)
        self.recorder = recorder = Recorder(
            sink=self.store.record,
            target=lambda: cfg.capture_session or (self.store.capture_session_id if self.store else None),
            tracker=tracker,
            max_body_size=cfg.max_body_size,
            passthrough=self.connectivity.is_passthrough,
            bodies=self.store.bodies,
        )
        self._proxyserver = server = proxyserver.Proxyserver()
        limits = Limits(
            max_connections=proxy_connection_cap(cfg.max_connections, self.fd_limit),
            header_timeout=cfg.header_timeout,
            idle_timeout=cfg.idle_timeout,
        )
        self.guard = ClientGuard(limits, handlers=lambda: server.connections)
        self.rules = RuleBook(self.store)
        await self.rules.reload()
        self.breakpoint_book = BreakpointBook(self.store)
        await self.breakpoint_book.reload()
        # Only what Necto uses: every addon runs on every flow event. The router comes before
        # NextLayer: it places the upstream proxy's tunnel under CONNECTs it routes. Rules come
        # before the recorder, which then sees each flow as the client got it. Breakpoints come
        # after the rules: they show what goes upstream and what the client will get.
        rules = RulesAddon(self.rules, self._proxyserver)
        breakpoints = [BreakpointsAddon(self.breakpoint_book, self.breakpoints)] if cfg.breakpoints else []
        # Streaming decides after rules and breakpoints said what they need whole.
        streamer = Streamer(
            self.store.bodies, cfg.stream_above, cap=lambda: recorder.max_body_size,
            keep_request=[rules.wants_request, *(b.wants_request for b in breakpoints)],
        )  # fmt: skip
        self.master.addons.add(
            core.Core(),
            self._proxyserver,
            router,
            next_layer.NextLayer(),
            tlsconfig.TlsConfig(),
            self.guard,
            tracker,
            rules,
            *breakpoints,
            streamer,
            recorder,
        )
        updates: dict[str, object] = {
            "confdir": str(cfg.certs_dir),
            "listen_host": cfg.proxy_host,
            "mode": specs,
            "ssl_insecure": cfg.ssl_insecure,
            # Passed-through hosts still get a (byte-counting) flow, so each tunnel is recorded.
            "show_ignored_hosts": True,
        }
        if cfg.upstream_ca is not None:
            updates["ssl_verify_upstream_trusted_ca"] = str(cfg.upstream_ca)
        if cfg.client_certs is not None:
            updates["client_certs"] = str(cfg.client_certs)
        try:
            opts.update(**updates)
        except exceptions.OptionsError as e:
            raise StartupError(str(e)) from None
        errorpage.install()
        upstream.attach(router, opts)
        await self.connectivity.load()

        catcher = _ListenErrors()
        logging.getLogger("mitmproxy").addHandler(catcher)
        try:
            ok = await self._proxyserver.setup_servers()
        finally:
            logging.getLogger("mitmproxy").removeHandler(catcher)
        listeners = [
            Listener(server.mode.full_spec.rsplit("@", 1)[0] if server.mode.custom_listen_port is not None else server.mode.full_spec,
                     server.mode.description, str(addr[0]), int(addr[1]))
            for server in self._proxyserver.servers
            for addr in server.listen_addrs[:1]
        ]  # fmt: skip
        if not ok or not listeners:
            detail = "; ".join(catcher.messages) or "unknown error"
            raise StartupError(
                f"cannot listen for the proxy on {cfg.proxy_host}:{cfg.proxy_port}: {detail}. "
                "Choose another port with --proxy-port (or another @port for --mode)."
            )
        self._protected.proxy.update(
            int(addr[1]) for server in self._proxyserver.servers for addr in server.listen_addrs
        )
        await self.master.running()
        return listeners

    async def _apply_network_option(self) -> None:
        """`necto run --network NAME|ID|off`: make that profile the active one (stored, so the
        API, the page and `necto network` agree on what is active)."""
        name = self.config.network
        if name is None:
            return
        assert self.store is not None
        if name.strip().lower() in ("off", "none", ""):
            await self.store.set_active_profile(None)
            return
        found = await find_profile(self.store, name)
        if found is None:
            raise StartupError(f"no network profile named {name!r} (see: necto network list)")
        await self.store.set_active_profile(found.id)

    # ------------------------------------------------------------------ stop
    async def stop(self) -> None:
        """Stop accepting, let exchanges in flight finish (at most `shutdown_timeout`), then
        write every capture and close the store: whatever a client got an answer to is kept."""
        started = time.monotonic()
        # Held exchanges continue (unmodified) and are answered before the listener closes, so
        # no client hangs; nothing new pauses from here on.
        if self._proxyserver is not None:
            await self.breakpoints.shutdown()
        # Replays go through the proxy: end them before it closes.
        await self.replays.cancel_all()
        if self.api_site is not None and self.api_site._server is not None:
            self.api_site._server.close()  # no new API connections; open ones end below
        if self._proxyserver is not None:
            # Master.run() returning would not close the listener; emptying the modes does.
            await self._proxyserver.servers.update([])
            if self.guard is not None:
                self.shutdown.cut = await self.guard.drain(self.config.shutdown_timeout)
            await self._connections_gone()
            self._proxyserver = None
        if self.recorder is not None:
            await self.recorder.drain()  # entries still being built aside reach the store
        if self.master is not None:
            _RUNNING.discard(self.master)
            upstream.detach(self.master.options)
            await self.master.done()
            self.master = None
        self.connectivity = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self.api_site = None
        if self.store is not None:
            await self.store.close()
            self.store = None
        loop = asyncio.get_running_loop()
        if self._task_factory is not False:
            loop.set_task_factory(self._task_factory)
            self._task_factory = False
        if self._exception_handler is not False:
            loop.set_exception_handler(self._exception_handler)
            self._exception_handler = False
        self.shutdown.seconds = time.monotonic() - started

    async def _connections_gone(self, timeout: float = 2.0) -> None:
        """Wait for mitmproxy's connection handlers and the hooks they started (a closing
        WebSocket's end, a flow's error) to finish, so their captures reach the store."""
        assert self._proxyserver is not None
        deadline = time.monotonic() + timeout
        while self._proxyserver.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        current = asyncio.current_task()
        hooks = [t for t in list(asyncio_utils._KEEP_ALIVE) if not t.done() and t is not current]
        if hooks:
            await asyncio.wait(hooks, timeout=max(0.1, deadline - time.monotonic()))

    def catch_signals(self) -> asyncio.Event:
        """From now on SIGINT/SIGTERM ask for a clean stop (the returned event is set). Called
        before "Stop with Ctrl-C." is printed: a signal sent on seeing it must find our handler,
        not Python's KeyboardInterrupt. A second signal while stopping cuts the wait for
        exchanges in flight short (captures are still written)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if stop.is_set() and self.guard is not None:
                self.guard.hurry()
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        return stop

    async def serve_until_signalled(self, stop: asyncio.Event) -> None:
        """Run until `stop` (set by `catch_signals`), then stop cleanly: nothing captured is
        lost."""
        loop = asyncio.get_running_loop()
        stopped = False
        try:
            await stop.wait()
            await self.stop()
            stopped = True
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            if not stopped:
                await self.stop()  # after an error: still write what was captured
