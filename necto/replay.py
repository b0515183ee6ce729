"""Replay recorded requests through Necto's own proxy, so each replay is captured like live traffic.

A replay is an ordinary aiohttp request sent to Necto's proxy (trusting Necto's CA) carrying the
recorder's replay header: the proxy records the exchange into the chosen session under an id we
pick in advance, with real phase timings, and strips the header before it goes upstream. Session
replays run as background asyncio tasks (bounded concurrency, optional original order and
pacing, host rewrite, filters, header drops) with progress and cancel; nothing here blocks the
event loop that also runs the proxy and the API.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from necto.capture.recorder import REPLAY_HEADER, Recorder
from necto.model import BodyFile, Entry, Header, new_id, now_ms
from necto.rewrite import HostRewrite, parse_rewrites, rewrite_url
from necto.search.filterlang import Node, parse_filter
from necto.search.predicate import matches
from necto.store import Store, TrafficQuery
from necto.store.bodyfiles import WHOLE_BODY_MAX
from necto.views import header_map
from necto.vocab import is_static as vocab_is_static
from necto.vocab import is_token

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
MAX_TIMEOUT = 3600.0
MAX_CONCURRENCY = 64
RECORD_WAIT = 5.0  # how long to wait for the proxy's record of a finished replay
MAX_JOBS_KEPT = 50
MAX_FAILURES_KEPT = 20
# Never copied from the original: the client recomputes them (Host from the URL, the length
# from the body), they are per-hop, or (content-encoding) the stored body is already decoded.
RECOMPUTED = frozenset(
    {
        "host", "content-length", "transfer-encoding", "connection", "keep-alive", "te",
        "proxy-connection", "proxy-authorization", "upgrade", "content-encoding", REPLAY_HEADER,
    }
)  # fmt: skip


# ---------------------------------------------------------------------- requests
@dataclass(slots=True)
class ReplayRequest:
    method: str
    url: str
    headers: list[Header]
    body: bytes | None = None
    body_file: BodyFile | None = None  # a body too long to read whole: sent from its file


def validate_request(method: Any, url: Any) -> str | None:
    """The 400 message for a bad method or URL, or None when both are usable."""
    if not isinstance(method, str) or not is_token(method):
        return "Method must be an HTTP token such as GET"
    if not isinstance(url, str):
        return "URL must be a string"
    try:
        u = urlsplit(url)
        u.port  # noqa: B018 - raises ValueError for a port that is not a number or out of range
    except ValueError:
        return "URL must be an absolute http or https URL (it could not be parsed)"
    if u.scheme not in ("http", "https") or not u.hostname:
        return "URL must be an absolute http or https URL"
    return None


def parse_headers(value: Any) -> list[tuple[str, str | None]]:
    """`{name: value|[values]|null}`, `[{name, value}]` or `[[name, value]]`; None drops a header."""
    if value is None:
        return []
    out: list[tuple[str, str | None]] = []
    if isinstance(value, dict):
        for name, v in value.items():
            if isinstance(v, list):
                out += [(name, str(x)) for x in v]
            else:
                out.append((name, None if v is None else str(v)))
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and "name" in item:
                out.append((str(item["name"]), None if item.get("value") is None else str(item["value"])))
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                out.append((str(item[0]), None if item[1] is None else str(item[1])))
            else:
                raise ValueError("headers must be an object or a list of {name, value}")
    else:
        raise ValueError("headers must be an object or a list of {name, value}")
    for name, v in out:
        if not is_token(name) or (v is not None and ("\r" in v or "\n" in v)):
            raise ValueError(f"invalid header: {name!r}")
    return out


def parse_body(value: Any, encoding: Any = None) -> bytes | None:
    """A body given as text, or as base64 with `bodyEncoding: "base64"`."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("body must be a string")
    if encoding == "base64":
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            raise ValueError("body is not valid base64") from None
    if encoding not in (None, "utf8", "utf-8", "text"):
        raise ValueError('bodyEncoding must be "base64" or "utf8"')
    return value.encode("utf-8")


def merge_headers(
    original: Sequence[Header], overrides: Sequence[tuple[str, str | None]], drop: Sequence[str] = ()
) -> list[Header]:
    """Original headers minus recomputed/dropped ones, with overrides replacing by name."""
    gone = RECOMPUTED | {d.lower() for d in drop} | {n.lower() for n, _ in overrides}
    out = [(n, v) for n, v in original if n.lower() not in gone and not n.startswith(":")]
    out += [(n, v) for n, v in overrides if v is not None and n.lower() not in RECOMPUTED]
    return out


def request_from_entry(
    entry: Entry,
    *,
    method: str | None = None,
    url: str | None = None,
    headers: Sequence[tuple[str, str | None]] = (),
    body: bytes | None = None,
    drop_headers: Sequence[str] = (),
    rewrites: Sequence[HostRewrite] = (),
) -> ReplayRequest:
    """The request to send for `entry`, with overrides merged over it and the host rewritten."""
    target = url or entry.url
    if rewrites:
        target = rewrite_url(target, rewrites)
    body_file = entry.request_body_file if body is None and entry.request_body is None else None
    return ReplayRequest(
        method=method or entry.method,
        url=target,
        headers=merge_headers(entry.request_headers, headers, drop_headers),
        body=body if body is not None else entry.request_body,
        body_file=body_file,
    )


# ---------------------------------------------------------------------- the pipeline
@dataclass
class Pipeline:
    """What a replay needs to go through the running proxy and be recorded."""

    store: Store
    proxy_url: str
    ca_file: Path
    recorder: Recorder
    _ssl: ssl.SSLContext | None = field(default=None, repr=False)

    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context(cafile=str(self.ca_file))
        return self._ssl

    def client(self, limit: int = 8) -> aiohttp.ClientSession:
        """A client that keeps no cookies, adds no headers of its own and follows no redirects."""
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=limit, ssl=self.ssl_context()),
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            auto_decompress=False,
            trust_env=False,
        )


@dataclass(slots=True)
class SendOutcome:
    """What the client saw: a response, or the error that stopped it."""

    status: int | None
    error: str | None
    reached_proxy: bool
    proxy_error: bool = False  # the proxy answered with its own error page (upstream failed)


async def send(
    pipe: Pipeline,
    client: aiohttp.ClientSession,
    req: ReplayRequest,
    session_id: str,
    entry_id: str,
    timeout: float,
) -> SendOutcome:
    """Send one request through the proxy, tagged to be recorded as `entry_id` in `session_id`."""
    name, value = pipe.recorder.replay_header(session_id, entry_id)
    headers = [*req.headers, (name, value)]
    data: bytes | AsyncIterator[bytes] | None = req.body if req.body else None
    if data is None and req.body_file is not None:
        data = await pipe.store.file_chunks(req.body_file)  # a piece at a time, never whole
        if data is not None and req.body_file.size >= 0:
            headers.append(("Content-Length", str(req.body_file.size)))
    try:
        async with client.request(
            req.method,
            req.url,
            headers=headers,
            data=data,
            proxy=pipe.proxy_url,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            await resp.read()
            made_by_proxy = resp.headers.get("Server", "").startswith("mitmproxy") and resp.status >= 500
            return SendOutcome(resp.status, None, True, made_by_proxy)
    except TimeoutError:
        return SendOutcome(None, f"Timed out after {timeout:g} s", True)
    except aiohttp.ClientProxyConnectionError as e:
        return SendOutcome(None, f"Cannot reach Necto's proxy: {e}", False)
    except (aiohttp.ClientError, OSError, ValueError) as e:
        return SendOutcome(None, str(e) or type(e).__name__, True)


async def wait_recorded(store: Store, entry_id: str, timeout: float = RECORD_WAIT) -> Entry | None:
    """Poll (flushing the writer) until the proxy's record of a replay is stored."""
    deadline = time.monotonic() + timeout
    while True:
        await store.flush()
        entry = await store.get_entry(entry_id, body_limit=WHOLE_BODY_MAX)  # compared, never sent
        if entry is not None or time.monotonic() > deadline:
            return entry
        await asyncio.sleep(0.02)


def failed_entry(req: ReplayRequest, session_id: str, entry_id: str, error: str) -> Entry:
    """What is stored when the proxy never saw the request (so it could not record it)."""
    return Entry(
        session_id=session_id,
        started=time.time(),
        method=req.method,
        url=req.url,
        request_headers=list(req.headers),
        request_body=req.body,
        request_body_size=req.body_file.size if req.body_file is not None else len(req.body or b""),
        request_body_file=req.body_file,
        error=error,
        source="replay",
        id=entry_id,
    )


async def replay_request(
    pipe: Pipeline, req: ReplayRequest, session_id: str, timeout: float = DEFAULT_TIMEOUT
) -> tuple[Entry, str | None]:
    """Replay one request; returns the recorded entry and the client-side error, if any."""
    entry_id = new_id()
    async with pipe.client(limit=1) as client:
        outcome = await send(pipe, client, req, session_id, entry_id, timeout)
    entry = await wait_recorded(pipe.store, entry_id, RECORD_WAIT if outcome.reached_proxy else 0)
    if entry is None:
        # Not recorded: the proxy was unreachable, or it had not finished in time. A late record
        # would collide with ours, so the stand-in gets its own id.
        entry = failed_entry(req, session_id, entry_id if not outcome.reached_proxy else new_id(),
                             outcome.error or "The proxy did not record the replay")  # fmt: skip
        await pipe.store.add_entries([entry])
    return entry, outcome.error or entry.error


def result_json(entry: Entry, client_error: str | None) -> dict[str, Any]:
    """The `result` of a replay: the response as recorded (status 0 when none came back)."""
    out: dict[str, Any] = {
        "status": entry.status if entry.status is not None else 0,
        "statusText": entry.status_text if entry.status is not None else "",
        "headers": header_map(entry.response_headers),
        "body": base64.b64encode(entry.response_body or b"").decode("ascii"),
        "duration": entry.duration,
    }
    error = client_error or entry.error
    if error:
        out["error"] = error
    return out


# ---------------------------------------------------------------------- session replays
@dataclass
class ReplayOptions:
    concurrency: int = 4
    keep_order: bool = False  # one at a time, in the original order
    pacing: bool = False  # start each request at its original offset (divided by `speed`)
    speed: float = 1.0
    rewrites: list[HostRewrite] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)  # only these original hosts ("*.x" allowed)
    methods: list[str] = field(default_factory=list)
    skip_static: bool = False
    drop_headers: list[str] = field(default_factory=list)
    timeout: float = DEFAULT_TIMEOUT
    name: str | None = None  # of the new session; default "Replay of <source>"
    filter: Node | None = None  # the filter language: only the entries it selects

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReplayOptions:
        """Options from an API body; ValueError carries the 400 message."""
        o = cls()
        o.concurrency = _int(data.get("concurrency", o.concurrency), "concurrency", 1, MAX_CONCURRENCY)
        o.keep_order = _bool(data.get("keepOrder", False), "keepOrder")
        o.pacing = _bool(data.get("pacing", False), "pacing")
        o.speed = _num(data.get("speed", 1.0), "speed", 0.01, 1000)
        o.timeout = _num(data.get("timeout", DEFAULT_TIMEOUT), "timeout", 0.001, MAX_TIMEOUT)
        if data.get("hostRewrite") is not None:
            o.rewrites = parse_rewrites(data["hostRewrite"])
        o.hosts = [h.lower() for h in _strings(data.get("hosts"), "hosts")]
        o.methods = [m.upper() for m in _strings(data.get("methods"), "methods")]
        o.skip_static = _bool(data.get("skipStatic", False), "skipStatic")
        o.drop_headers = [h.lower() for h in _strings(data.get("dropHeaders"), "dropHeaders")]
        name = data.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ValueError("name must be a non-empty string")
        o.name = name.strip() if name else None
        selection = data.get("filter")
        if selection is not None and not isinstance(selection, str):
            raise ValueError("filter must be a string")
        o.filter = parse_filter(selection)  # FilterError (a ValueError) names the bad token
        return o

    def query(self, session_id: str) -> TrafficQuery:
        """The same selection as `selects`, for counting in SQL."""
        return TrafficQuery(
            session_id=session_id, methods=list(self.methods), host_patterns=list(self.hosts),
            skip_static=self.skip_static, replayable=True, filter=self.filter,
        )  # fmt: skip

    def selects(self, e: Entry) -> bool:
        """Is this entry replayed? (WebSockets and non-HTTP URLs never are.)"""
        if e.websocket is not None or e.scheme not in ("http", "https") or e.method.upper() == "CONNECT":
            return False
        if self.methods and e.method.upper() not in self.methods:
            return False
        if self.hosts and not any(host_matches(e.host.lower(), h) for h in self.hosts):
            return False
        if self.skip_static and is_static(e):
            return False
        return matches(self.filter, e)


def host_matches(host: str, pattern: str) -> bool:
    """`api.example.com` exactly, or `*.example.com` for it and any subdomain."""
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) or host == pattern[2:]
    return host == pattern


def is_static(e: Entry) -> bool:
    """Images, fonts, styles, scripts and media: what a browser HAR is mostly made of."""
    return vocab_is_static(urlsplit(e.url).path, e.content_type, e.status)


def _int(v: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ValueError(f"{name} must be an integer between {lo} and {hi}")
    return v


def _num(v: Any, name: str, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise ValueError(f"{name} must be a number between {lo:g} and {hi:g}")
    return float(v)


def _bool(v: Any, name: str) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"{name} must be a boolean")
    return v


def _strings(v: Any, name: str) -> list[str]:
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise ValueError(f"{name} must be a list of strings")
    return v


class EntrySource(Protocol):
    """What a session replay reads: the entries `opts` selects, counted first (for progress),
    then read in order."""

    async def count(self, opts: ReplayOptions) -> int: ...

    def entries(self, opts: ReplayOptions) -> AsyncIterator[Entry]: ...


@dataclass
class ReplayJob:
    id: str
    source: str  # what was replayed, for people
    session_id: str  # the new session the replays are recorded into
    session_name: str
    status: str = "pending"  # pending | counting | running | cancelling | completed | cancelled | failed
    total: int = 0
    done: int = 0  # finished, successfully or not
    failed: int = 0  # no response (network error, timeout, upstream unreachable)
    created_at: int = field(default_factory=now_ms)
    finished_at: int | None = None
    error: str | None = None
    failures: list[dict[str, str]] = field(default_factory=list)
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "cancelled", "failed")

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "source": self.source,
            "sessionId": self.session_id,
            "sessionName": self.session_name,
            "total": self.total,
            "done": self.done,
            "failed": self.failed,
            "createdAt": self.created_at,
            "finishedAt": self.finished_at,
            "error": self.error,
            "failures": self.failures,
        }


async def run_job(job: ReplayJob, pipe: Pipeline, source: EntrySource, opts: ReplayOptions) -> None:
    """Count, then replay everything selected; on cancel, stop and keep what was replayed."""
    in_flight: set[asyncio.Task[None]] = set()
    try:
        job.status = "counting"
        job.total = await source.count(opts)
        job.status = "running"
        concurrency = 1 if opts.keep_order else opts.concurrency
        slots = asyncio.Semaphore(concurrency)
        async with pipe.client(limit=concurrency) as client:
            first: float | None = None
            t0 = time.monotonic()
            async for entry in source.entries(opts):
                if opts.pacing:
                    first = entry.started if first is None else first
                    delay = t0 + (entry.started - first) / opts.speed - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await slots.acquire()
                task = asyncio.create_task(_replay_one(job, pipe, client, entry, opts))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                task.add_done_callback(lambda _: slots.release())
            if in_flight:
                await asyncio.gather(*in_flight)
        await pipe.store.flush()
        job.status = "completed"
    except asyncio.CancelledError:
        job.status = "cancelling"
        for t in list(in_flight):
            t.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        job.status = "failed" if job.error else "cancelled"
        raise
    except Exception as e:
        log.exception("replay job %s failed", job.id)
        job.status, job.error = "failed", str(e) or type(e).__name__
    finally:
        job.finished_at = now_ms()


async def _replay_one(
    job: ReplayJob, pipe: Pipeline, client: aiohttp.ClientSession, entry: Entry, opts: ReplayOptions
) -> None:
    req = request_from_entry(entry, drop_headers=opts.drop_headers, rewrites=opts.rewrites)
    problem = validate_request(req.method, req.url)
    if problem:
        # A recorded method like `GET;touch /tmp/x` (sent raw to the proxy) is never sent on.
        job.done += 1
        job.failed += 1
        if len(job.failures) < MAX_FAILURES_KEPT:
            job.failures.append({"method": req.method, "url": req.url, "error": f"not replayed: {problem}"})
        return
    entry_id = new_id()
    outcome = await send(pipe, client, req, job.session_id, entry_id, opts.timeout)
    if not outcome.reached_proxy:
        # No proxy, no recording: stop rather than fail every remaining request (Necto stopping).
        job.error = outcome.error
        if job.task is not None:
            job.task.cancel()
        return
    job.done += 1
    if outcome.error or outcome.proxy_error:
        job.failed += 1
        if len(job.failures) < MAX_FAILURES_KEPT:
            error = outcome.error
            if error is None:  # the proxy's error page: its record says what went wrong
                recorded = await wait_recorded(pipe.store, entry_id, 2.0)
                error = (recorded.error if recorded else None) or f"proxy answered {outcome.status}"
            job.failures.append({"method": req.method, "url": req.url, "error": error})


class ReplayManager:
    """The running and recent session replays of one running Necto (it owns one)."""

    def __init__(self) -> None:
        self.jobs: dict[str, ReplayJob] = {}

    async def start(self, pipe: Pipeline, source: EntrySource, label: str, opts: ReplayOptions) -> ReplayJob:
        name = opts.name or f"Replay of {label}"
        session = await pipe.store.create_session(name)
        job = ReplayJob(id=new_id(), source=label, session_id=session.id, session_name=name)
        job.task = asyncio.create_task(run_job(job, pipe, source, opts), name=f"necto-replay-{job.id}")
        job.task.add_done_callback(_quiet)
        self.jobs[job.id] = job
        self._prune()
        return job

    def get(self, job_id: str) -> ReplayJob | None:
        return self.jobs.get(job_id)

    async def cancel(self, job_id: str) -> ReplayJob | None:
        """Stop a job and wait until its in-flight requests have settled."""
        job = self.jobs.get(job_id)
        if job is None:
            return None
        if job.task is not None and not job.task.done():
            job.task.cancel()
            await asyncio.gather(job.task, return_exceptions=True)
        return job

    async def cancel_all(self) -> None:
        for job_id in list(self.jobs):
            await self.cancel(job_id)

    def _prune(self) -> None:
        finished = [j for j in self.jobs.values() if j.finished]
        for j in finished[: max(0, len(self.jobs) - MAX_JOBS_KEPT)]:
            del self.jobs[j.id]


def _quiet(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("replay task ended with %r", task.exception())


@dataclass
class SessionSource:
    """A stored session: counted in SQL, read a batch at a time."""

    store: Store
    session_id: str

    async def count(self, opts: ReplayOptions) -> int:
        return await self.store.count_entries(opts.query(self.session_id))

    def entries(self, opts: ReplayOptions) -> AsyncIterator[Entry]:
        """The selected entries, chosen in SQL (the filter's annotations and text terms need
        the store), in the session's order."""
        return self.store.iter_matching(opts.query(self.session_id), body_limit=WHOLE_BODY_MAX)


@dataclass
class ListSource:
    """Entries already in memory (a HAR file), in time order."""

    items: Sequence[Entry]

    def __post_init__(self) -> None:
        self.items = sorted(self.items, key=lambda e: e.started)

    async def count(self, opts: ReplayOptions) -> int:
        return sum(1 for e in self.items if opts.selects(e))

    async def entries(self, opts: ReplayOptions) -> AsyncIterator[Entry]:
        for e in self.items:
            if opts.selects(e):
                yield e
