"""What the HTTP handlers share: the store, the settings, the CA and the live addresses."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from necto.breakpoints.hits import PauseBoard
from necto.capture.recorder import Recorder
from necto.capture.settings import ConnectivityState
from necto.certs import CaFiles
from necto.config import Config
from necto.replay import ReplayManager
from necto.rules.book import RuleBook
from necto.store import Store

if TYPE_CHECKING:
    from necto.api.site import GuardedSite
    from necto.capture.guard import ClientGuard


@dataclass
class ApiContext:
    store: Store
    config: Config
    ca: CaFiles
    proxy_address: Callable[[], tuple[str, int]]
    api_port: Callable[[], int]
    recorder: Callable[[], Recorder | None] = lambda: None  # for replays through the proxy
    connectivity: Callable[[], ConnectivityState | None] = lambda: None  # DNS, passthrough, upstream
    replays: ReplayManager = field(default_factory=ReplayManager)
    rules: Callable[[], RuleBook | None] = lambda: None  # what the proxy applies (load errors)
    breakpoints: PauseBoard = field(default_factory=PauseBoard)  # exchanges held at breakpoints
    started_at: float = field(default_factory=time.time)
    # Connection limits, for the middleware and /api/health.
    api_waiting: set[object] = field(default_factory=set)  # API connections yet to send a request
    guard: Callable[[], ClientGuard | None] = lambda: None
    api_site: Callable[[], GuardedSite | None] = lambda: None


CTX = web.AppKey("necto", ApiContext)


def ctx(request: web.Request) -> ApiContext:
    return request.app[CTX]
