"""Answers from a recording (a session or a HAR file): `replay-from` rules and `necto mock`.

Requests are paired with recorded exchanges by method + URL with the query's order ignored, or
(`matchBy: "template"`) by method + host + the inventory's path template, so `/users/7` is
answered by what `/users/42` got. The Nth call of a key gets the Nth recorded response, then
the last one repeats. The index holds only keys and references; a session's bodies are read
from the store when one is served.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from necto.model import Entry
from necto.vocab import DEFAULT_PORTS

# Not replayed: the body is stored decoded, lengths are recomputed, connections are ours.
DROP_HEADERS = frozenset(
    "connection keep-alive proxy-connection transfer-encoding content-encoding content-length te trailer upgrade".split()
)


def origin(url: str) -> tuple[str, str]:
    """(scheme, host[:port]) with default ports left out."""
    u = urlsplit(url)
    scheme = u.scheme.lower()
    host = (u.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = u.port
    except ValueError:
        port = None
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    return scheme, host


def url_key(method: str, url: str, with_origin: bool = True) -> tuple[Any, ...]:
    """Method + URL, query parameters sorted (their order does not matter)."""
    u = urlsplit(url)
    query = tuple(sorted(parse_qsl(u.query, keep_blank_values=True)))
    path = u.path or "/"
    if with_origin:
        return (method.upper(), *origin(url), path, query)
    return (method.upper(), path, query)


def template_regex(template: str) -> re.Pattern[str]:
    parts = [r"[^/]+" if seg.startswith("{") and seg.endswith("}") else re.escape(seg) for seg in template.split("/")]
    return re.compile(r"\A" + "/".join(parts) + r"/?\Z")


@dataclass(slots=True)
class Recorded:
    method: str
    url: str
    ref: Any  # an entry id (session) or the Entry itself (HAR file)


@dataclass
class Recording:
    """Recorded exchanges indexed for answering requests."""

    by: str = "url"  # "url" | "template"
    items: list[Recorded] = field(default_factory=list)
    _by_url: dict[tuple[Any, ...], list[Recorded]] = field(default_factory=dict)
    _by_path: dict[tuple[Any, ...], list[Recorded]] = field(default_factory=dict)  # origin ignored
    # (method, host or "") -> [(template regex, literal segments, key)], most literal first
    _templates: dict[tuple[str, str], list[tuple[re.Pattern[str], int, tuple[Any, ...]]]] = field(default_factory=dict)
    _by_template: dict[tuple[Any, ...], list[Recorded]] = field(default_factory=dict)
    _calls: dict[tuple[Any, ...], int] = field(default_factory=dict)

    @property
    def hosts(self) -> set[str]:
        return {(urlsplit(r.url).hostname or "").lower() for r in self.items}

    def add(self, rec: Recorded) -> None:
        self.items.append(rec)
        self._by_url.setdefault(url_key(rec.method, rec.url), []).append(rec)
        self._by_path.setdefault(url_key(rec.method, rec.url, False), []).append(rec)

    def add_templates(self, endpoints: Iterable[tuple[str, str, str]]) -> None:
        """(host, method, template) from the inventory; files each recorded item under the
        most literal template its path fits."""
        for host, method, template in endpoints:
            literal = sum(1 for s in template.split("/") if s and not s.startswith("{"))
            rx = template_regex(template)
            for scope in (host.lower(), ""):
                self._templates.setdefault((method.upper(), scope), []).append(
                    (rx, literal, (method.upper(), scope, template))
                )
        for lst in self._templates.values():
            lst.sort(key=lambda t: -t[1])
        for rec in self.items:
            host = origin(rec.url)[1]
            path = urlsplit(rec.url).path or "/"
            for scope in (host, ""):
                key = self._template_key(rec.method, scope, path)
                if key is not None:
                    self._by_template.setdefault(key, []).append(rec)

    def _template_key(self, method: str, scope: str, path: str) -> tuple[Any, ...] | None:
        for rx, _, key in self._templates.get((method.upper(), scope), ()):
            if rx.match(path):
                return key
        return None

    def _candidates(
        self, method: str, url: str, ignore_origin: bool, host: str | None
    ) -> tuple[Any, list[Recorded]] | None:
        if self.by == "template":
            u = urlsplit(url)
            scope = "" if ignore_origin else origin(url)[1]
            key = self._template_key(method, scope, u.path or "/")
            if key is None:
                return None
            found = self._by_template.get(key)
        else:
            key = url_key(method, url, not ignore_origin)
            found = (self._by_path if ignore_origin else self._by_url).get(key)
        if not found:
            return None
        if ignore_origin and host:
            # Served on our own port: prefer what was recorded for the Host the client named.
            same = [
                r for r in found if origin(r.url)[1] == host.lower() or (urlsplit(r.url).hostname or "") == host.lower()
            ]
            if same:
                return (key, host.lower()), same
        return key, found

    def pick(self, method: str, url: str, *, ignore_origin: bool = False, host: str | None = None) -> Recorded | None:
        """The recorded exchange for this call of (method, url), counting calls."""
        got = self._candidates(method, url, ignore_origin, host)
        if got is None:
            return None
        key, found = got
        n = self._calls.get(key, 0)
        self._calls[key] = n + 1
        return found[min(n, len(found) - 1)]


def response_parts(e: Entry) -> tuple[int, str, list[tuple[str, str]], bytes]:
    """(status, reason, headers, body) to answer with a recorded exchange."""
    headers = [(n, v) for n, v in e.response_headers if n.lower() not in DROP_HEADERS and not n.startswith(":")]
    return e.status or 200, e.status_text or "", headers, e.response_body or b""


def recorded_hold_ms(e: Entry) -> tuple[float, float]:
    """(ms before the first byte, ms spent receiving) as recorded, for `replayTiming`."""
    t = e.timings
    before = sum(max(0.0, x) for x in (t.blocked, t.dns, t.connect, t.send, t.wait))
    return before, max(0.0, t.receive)


def build_har_recording(path: str, by: str) -> Recording:
    """A HAR file's answered exchanges (blocking: parse in a worker thread). HarError when the
    file is not a HAR."""
    from necto.har import load_entries
    from necto.inventory import InventoryBuilder

    rec = Recording(by=by)
    entries = [e for e in load_entries(path) if e.status is not None and e.websocket is None]
    for e in entries:
        rec.add(Recorded(e.method, e.url, e))
    if by == "template":
        builder = InventoryBuilder(include_static=True)
        builder.add_many(entries)
        rec.add_templates((ep.host, ep.method, ep.template) for ep in builder.finish().endpoints)
    return rec


async def build_session_recording(
    rows: list[tuple[str, str, str, float]],
    by: str,
    entries: Callable[[], Any] | None = None,
) -> Recording:
    """A session's answered exchanges from `Store.recorded_rows`; for templates, `entries()`
    iterates the session's entries (an async iterator) for the inventory."""
    rec = Recording(by=by)
    for rid, method, url, _ in rows:
        rec.add(Recorded(method, url, rid))
    if by == "template" and entries is not None:
        from necto.inventory import build_inventory

        inv = await build_inventory(entries(), include_static=True)
        rec.add_templates((ep.host, ep.method, ep.template) for ep in inv.endpoints)
    return rec


async def fetch_entry(rec: Recorded, get: Callable[[str], Awaitable[Entry | None]]) -> Entry | None:
    if isinstance(rec.ref, Entry):
        return rec.ref
    return await get(rec.ref)
