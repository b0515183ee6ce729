"""The connectivity settings a running Necto applies: DNS mappings (in the resolver), SSL
passthrough (mitmproxy's `ignore_hosts`, with `show_ignored_hosts` so each passed-through
tunnel is still recorded) and the upstream proxy (the router).

Loaded from the store at start and again after every change made through the API, before the
API answers: a change applies to the next connection at once.
"""

from __future__ import annotations

from typing import Any

from necto.capture.connections import ConnectionTracker, DnsMapping
from necto.capture.patterns import DomainPatterns, domain_regex
from necto.capture.upstream import UpstreamConfig, UpstreamRouter
from necto.store import Store


def ignore_pattern(domain: str) -> str:
    """mitmproxy's ignore_hosts entry for a passthrough domain (it matches "host:port")."""
    return rf"^(?:{domain_regex(domain)}):\d+$"


class ConnectivityState:
    def __init__(
        self,
        store: Store,
        tracker: ConnectionTracker,
        router: UpstreamRouter,
        options: Any,
        cli_upstream: UpstreamConfig | None = None,
    ) -> None:
        self.store = store
        self.tracker = tracker
        self.router = router
        self.options = options
        self.cli_upstream = cli_upstream  # --upstream-proxy: this run only, until the API changes it
        self.passthrough = DomainPatterns([])

    async def load(self) -> None:
        mappings = await self.store.list_dns_mappings()
        self.tracker.set_dns_mappings(
            [DnsMapping(m["id"], m["domain"], m["targetIp"]) for m in mappings if m["enabled"]]
        )
        domains = [d["domain"] for d in await self.store.list_passthrough() if d["enabled"]]
        self.passthrough = DomainPatterns([(d, d) for d in domains])
        self.options.update(ignore_hosts=[ignore_pattern(d) for d in domains])
        stored = await self.store.get_upstream_proxy()
        if self.cli_upstream is not None:
            self.router.config = self.cli_upstream
        else:
            self.router.config = UpstreamConfig.from_stored(stored) if stored else None

    def is_passthrough(self, host: str) -> bool:
        return self.passthrough.lookup(host) is not None

    @property
    def upstream(self) -> UpstreamConfig | None:
        return self.router.config

    async def set_upstream(self, config: UpstreamConfig | None) -> None:
        """Store the upstream proxy (None removes it) and use it from the next connection on."""
        if config is not None:
            config.source = "api"
        await self.store.set_upstream_proxy(config.stored() if config else None)
        self.cli_upstream = None
        await self.load()
