"""`necto breakpoints ...`: the breakpoints of the data directory (with or without a running
Necto, which applies a change to its next request), and `watch`, a terminal prompt for the
exchanges a running Necto holds: continue, abort, or edit them in $EDITOR as HTTP messages."""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import orjson

from necto.breakpoints import message
from necto.breakpoints.model import (
    ABORT_MODES,
    CONDITION_FIELDS,
    TYPES,
    Breakpoint,
    BreakpointError,
    validate_breakpoint,
)
from necto.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, DataDirArg, Handler, err, open_store, print_json, table
from necto.store import Store

DEFAULT_URL = "http://127.0.0.1:8889"
EVENT_KINDS = "breakpoint:hit,breakpoint:resumed,breakpoint:timeout"


def register(sub: Any, add_data_dir_arg: DataDirArg) -> dict[str, Handler]:
    bps = sub.add_parser("breakpoints", help="list, add, enable, disable, delete breakpoints; watch held exchanges")
    add_data_dir_arg(bps)
    bsub = bps.add_subparsers(dest="verb", metavar="ACTION", required=True)

    ls = bsub.add_parser("list", help="list breakpoints")
    add_data_dir_arg(ls, leaf=True)
    ls.add_argument("--json", action="store_true", help="print JSON")

    add = bsub.add_parser("add", help="add a breakpoint")
    add_data_dir_arg(add, leaf=True)
    add.add_argument("name", help="the breakpoint's name")
    add.add_argument("--type", choices=TYPES, default="request", help="pause requests (default), responses or both")
    add.add_argument("--match", metavar="JSON", help='the whole match object, e.g. \'{"host": "api.example.com"}\'')
    for field in ("url", "host", "path"):
        add.add_argument(f"--{field}", help=f"match.{field} (glob, or /regex/flags)")
    add.add_argument("--method", action="append", help="match.method (repeatable)")
    add.add_argument("--condition", action="append", default=[], metavar="'FIELD OPERATOR VALUE'",
                     help=f"e.g. 'status greaterThan 399', 'header:X-Debug equals 1' (fields: {', '.join(CONDITION_FIELDS)}; repeatable)")  # fmt: skip
    add.add_argument("--any", action="store_true", help="pause when any condition holds (default: all)")
    add.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="go on by itself after this long (0 = never; default: necto run's --breakpoint-timeout)",
    )
    add.add_argument("--timeout-action", choices=("continue", "abort"), help="what happens then (default: necto run's)")
    add.add_argument(
        "--abort", choices=ABORT_MODES, default="499", help="an abort answers 499 (default) or resets the connection"
    )
    add.add_argument("--disabled", action="store_true", help="save it disabled")
    add.add_argument("--json", action="store_true", help="print the saved breakpoint as JSON")

    for name, text in (
        ("enable", "enable breakpoints"),
        ("disable", "disable breakpoints"),
        ("delete", "delete breakpoints"),
    ):
        p = bsub.add_parser(name, help=text)
        add_data_dir_arg(p, leaf=True)
        p.add_argument("breakpoints", nargs="+", metavar="BREAKPOINT", help="breakpoint id or name")

    w = bsub.add_parser("watch", help="show each held exchange and continue, abort or edit it in $EDITOR")
    add_data_dir_arg(w, leaf=True)
    w.add_argument("--url", default=None, help=f"the running Necto's API (env NECTO_API_URL, default {DEFAULT_URL})")
    w.add_argument("--token", default=None, help="its API token, if it needs one (env NECTO_TOKEN)")
    return {"breakpoints": cmd_breakpoints}


# ---------------------------------------------------------------------------- definitions
def condition(text: str) -> dict[str, str]:
    """'status greaterThan 399' / 'header:X-Debug equals 1' as a condition object."""
    parts = text.split(None, 2)
    if len(parts) < 3:
        raise BreakpointError(f"--condition {text!r}: write FIELD OPERATOR VALUE, e.g. 'status greaterThan 399'")
    fld, op, value = parts
    out = {"field": fld, "operator": op, "value": value}
    if fld.lower().startswith("header:"):
        out["field"], out["headerName"] = "header", fld.split(":", 1)[1]
    return out


def _match(args: argparse.Namespace) -> dict[str, Any]:
    match: dict[str, Any] = {}
    if args.match is not None:
        try:
            match = orjson.loads(args.match)
        except orjson.JSONDecodeError as e:
            raise BreakpointError(f"--match: not JSON: {e}") from None
        if not isinstance(match, dict):
            raise BreakpointError("--match must be a JSON object")
    match.update({k: getattr(args, k) for k in ("url", "host", "path") if getattr(args, k) is not None})
    if args.method:
        match["method"] = args.method[0] if len(args.method) == 1 else args.method
    return match


async def find_breakpoint(store: Store, key: str) -> Breakpoint:
    """A breakpoint by id, else by exact name; BreakpointError when none or several."""
    bp = await store.get_breakpoint(key)
    if bp is not None:
        return bp
    named = [b for b in await store.list_breakpoints() if b.name == key]
    if not named:
        raise BreakpointError(f"Breakpoint not found: {key}")
    if len(named) > 1:
        raise BreakpointError(f"several breakpoints are named {key!r}; use an id ({', '.join(b.id for b in named)})")
    return named[0]


def _rows(bps: list[Breakpoint]) -> list[list[str]]:
    rows = []
    for b in bps:
        what = (
            " ".join(f"{k}={v if isinstance(v, str) else orjson.dumps(v).decode()}" for k, v in b.match.items())
            or "(all)"
        )
        if b.conditions:
            joined = f" {b.condition_logic} ".join(
                f"{c['field']}{':' + c['headerName'] if 'headerName' in c else ''} {c['operator']} {c['value']}"
                for c in b.conditions
            )
            what += f" when {joined}"
        rows.append([b.id, "on" if b.enabled else "off", b.type, b.name, what])
    return rows


async def cmd_breakpoints(args: argparse.Namespace) -> int:
    if args.verb == "watch":
        return await cmd_watch(args)
    try:
        async with open_store(args) as store:
            return await _run(store, args)
    except BreakpointError as e:
        err(str(e))
        return EXIT_FAIL


async def _run(store: Store, args: argparse.Namespace) -> int:
    verb = args.verb
    if verb == "list":
        bps = await store.list_breakpoints()
        if args.json:
            print_json({"breakpoints": [b.as_json() for b in bps]})
        elif not bps:
            print("no breakpoints (add one: necto breakpoints add NAME --path /api/x --method POST)")
        else:
            table(_rows(bps), ["ID", "STATE", "TYPE", "NAME", "MATCH"])
        return EXIT_OK
    if verb == "add":
        body: dict[str, Any] = {
            "name": args.name, "type": args.type, "match": _match(args), "enabled": not args.disabled,
            "conditions": [condition(c) for c in args.condition], "conditionLogic": "or" if args.any else "and",
            "timeoutAction": args.timeout_action, "abort": args.abort,
        }  # fmt: skip
        if args.timeout is not None:
            if args.timeout < 0:
                raise BreakpointError("--timeout must be 0 (never) or more seconds")
            body["timeout"] = int(args.timeout * 1000)
        bp = await store.create_breakpoint(validate_breakpoint(body))
        if args.json:
            print_json(bp.as_json())
        else:
            print(f"added {bp.id}  {bp.name}  ({bp.type}, {'enabled' if bp.enabled else 'disabled'})")
        return EXIT_OK
    targets = [await find_breakpoint(store, key) for key in args.breakpoints]  # all found before any change
    for b in targets:
        if verb == "delete":
            await store.delete_breakpoint(b.id)
            print(f"deleted {b.id}  {b.name}")
        else:
            await store.toggle_breakpoint(b.id, verb == "enable")
            print(f"{verb}d {b.id}  {b.name}")
    return EXIT_OK


# ---------------------------------------------------------------------------- watch
def _settle(fut: asyncio.Future[str], line: str) -> None:
    if not fut.done():
        fut.set_result(line)


class LineReader:
    """stdin lines without blocking the loop, one read at a time (never while $EDITOR runs).
    The reading thread is a daemon: a pending read never keeps the process alive."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.pending: asyncio.Future[str] | None = None

    def next(self) -> asyncio.Future[str]:
        if self.pending is None:
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[str] = loop.create_future()

            def read() -> None:
                try:
                    line = self.stream.readline()
                except (OSError, ValueError):
                    line = ""
                loop.call_soon_threadsafe(_settle, fut, line)

            threading.Thread(target=read, name="necto-watch-stdin", daemon=True).start()
            self.pending = fut
        return self.pending

    def take(self) -> str:
        assert self.pending is not None and self.pending.done()
        line, self.pending = self.pending.result(), None
        return line


HELP = "[c]ontinue  [e]dit  [m]ock  [a]bort (499)  [r]eset  [s]kip to the next  [q]uit (held ones stay held)"


class Watcher:
    def __init__(self, http: aiohttp.ClientSession, url: str, editor: str, out: TextIO = sys.stdout) -> None:
        self.http, self.url, self.editor, self.out = http, url, editor, out
        self.hits: dict[str, dict[str, Any]] = {}  # held, in arrival order
        self.gone: dict[str, str] = {}  # hit id -> what happened to it elsewhere
        self.changed = asyncio.Event()
        self.closed: str | None = None  # why the event stream ended
        self.drafts: dict[str, str] = {}  # edited text that could not be sent, per hit

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    # ------------------------------------------------------------------ talking to Necto
    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(method, self.url + path, json=body) as r:
            raw = await r.read()
            try:
                return r.status, orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                return r.status, {"error": raw[:200].decode("utf-8", "replace")}

    async def refresh(self) -> None:
        status, body = await self.call("GET", "/api/breakpoints/paused")
        if status == 200:
            for hit in body["paused"]:
                self.hits.setdefault(hit["id"], hit)
            current = {h["id"] for h in body["paused"]}
            for hid in [h for h in self.hits if h not in current]:
                del self.hits[hid]
            self.changed.set()

    async def follow(self, connected: asyncio.Event) -> None:
        """Read the event stream until it ends (Necto stopped)."""
        try:
            async with self.http.get(
                self.url + "/api/events?kinds=" + EVENT_KINDS, timeout=aiohttp.ClientTimeout(total=None)
            ) as r:
                if r.status != 200:
                    self.closed = f"the event stream answered {r.status}: {(await r.text())[:200]}"
                    return
                connected.set()
                kind = None
                async for raw in r.content:
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: ") and kind is not None:
                        if kind == "reset":  # fell behind: read the list again
                            await self.refresh()
                        else:
                            self._event(kind, orjson.loads(line[6:]))
                        kind = None
            self.closed = "Necto stopped"
        except (aiohttp.ClientError, OSError) as e:
            self.closed = f"lost Necto at {self.url}: {e}"
        finally:
            connected.set()
            self.changed.set()

    def _event(self, kind: str, payload: dict[str, Any]) -> None:
        if kind == "breakpoint:hit":
            self.hits[payload["id"]] = payload
        elif kind in ("breakpoint:resumed", "breakpoint:timeout"):
            if self.hits.pop(payload["id"], None) is not None:
                what = "timed out" if kind == "breakpoint:timeout" else "was let go elsewhere"
                self.gone[payload["id"]] = f"{what} ({payload.get('action')})"
        self.changed.set()

    # ------------------------------------------------------------------ the prompt
    def show(self, hit: dict[str, Any]) -> None:
        held = f"{hit['type']}  {hit['method']} {hit['url']}"
        if hit["type"] == "response":
            held += f"  -> {hit['status']} {hit.get('statusText') or ''}".rstrip()
        expires = hit.get("expiresAt")
        left = (
            f"goes on by itself in {max(0, int(expires / 1000 - time.time()))} s ({hit['timeoutAction']})"
            if expires
            else "waits until you decide"
        )
        waiting = len(self.hits) - 1
        self.say(f"\nHELD {held}")
        self.say(
            f'  breakpoint "{hit["breakpointName"]}", hit {hit["id"][:8]}, {left}'
            + (f"; {waiting} more waiting" if waiting else "")
        )
        self.say("  " + HELP)
        self.out.write("> ")
        self.out.flush()

    async def run(self, reader: LineReader) -> int:
        connected = asyncio.Event()
        follower = asyncio.create_task(self.follow(connected))
        await connected.wait()
        if self.closed:
            err(self.closed)
            return EXIT_FAIL
        await self.refresh()
        self.say(f"Watching {self.url} for held exchanges. {HELP}")
        shown: str | None = None
        idle_said = False
        try:
            while True:
                for hid, what in list(self.gone.items()):
                    if hid == shown:
                        self.say(f"\n(hit {hid[:8]} {what})")
                        shown = None
                self.gone.clear()
                if self.closed:
                    self.say(self.closed + ".")
                    return EXIT_OK if self.closed == "Necto stopped" else EXIT_FAIL
                hit = next(iter(self.hits.values()), None)
                if hit is not None and hit["id"] != shown:
                    self.show(hit)
                    shown, idle_said = hit["id"], False
                elif hit is None and not idle_said:
                    self.say("Nothing is held; waiting.")
                    shown, idle_said = None, True
                self.changed.clear()
                line_fut = reader.next()
                changed: asyncio.Future[Any] = asyncio.ensure_future(self.changed.wait())
                waits: set[asyncio.Future[Any]] = {line_fut, changed}
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
                if not line_fut.done():
                    continue
                line = reader.take()
                if line == "":  # end of input
                    return EXIT_OK
                cmd = line.strip().lower()
                if cmd in ("q", "quit", "exit"):
                    return EXIT_OK
                if hit is None:
                    if cmd:
                        self.say("Nothing is held right now.")
                    continue
                if await self.act(hit, cmd):
                    self.hits.pop(hit["id"], None)
                shown = None
        finally:
            follower.cancel()

    async def act(self, hit: dict[str, Any], cmd: str) -> bool:
        """Do what the person typed; True when the hit was let go."""
        if cmd in ("c", "continue"):
            return await self.resume(hit, {"action": "continue"}, "continued")
        if cmd in ("a", "abort"):
            return await self.resume(hit, {"action": "abort", "abort": "499"}, "aborted (499)")
        if cmd in ("r", "reset"):
            return await self.resume(hit, {"action": "abort", "abort": "reset"}, "aborted (connection reset)")
        if cmd in ("s", "skip"):
            if len(self.hits) > 1:
                self.hits[hit["id"]] = self.hits.pop(hit["id"])  # to the end of the queue
            return False
        if cmd in ("e", "edit", "m", "mock"):
            mock = cmd.startswith("m")
            status, full = await self.call("GET", f"/api/breakpoints/paused/{hit['id']}")
            if status != 200:
                self.say(f"(hit {hit['id'][:8]} has already gone on)")
                return True
            if mock:
                text = message.render_mock(full)
            else:
                text = message.render_response(full) if full["type"] == "response" else message.render_request(full)
            key = f"{'mock' if mock else 'edit'}:{hit['id']}"
            edited = await self.edit(self.drafts.get(key, text))
            if edited is None:
                return False
            if edited == text and not mock:
                return await self.resume(hit, {"action": "continue"}, "continued (unchanged)")
            build: Callable[[dict[str, Any], str], dict[str, Any]]
            if mock:
                build = message.mock_resume
            else:
                build = message.response_resume if full["type"] == "response" else message.request_resume
            try:
                body = build(full, edited)
            except message.MessageError as e:
                self.drafts[key] = edited
                self.say(f"Not sent: {e}. Type e (or m) to fix it.")
                return False
            self.drafts.pop(key, None)
            return await self.resume(hit, body, "mocked" if mock else "continued with your edits")
        self.say(HELP)
        return False

    async def edit(self, text: str) -> str | None:
        """Open $EDITOR on the text; the edited text, or None when the editor failed."""
        with tempfile.TemporaryDirectory(prefix="necto-watch-") as d:
            path = Path(d) / "exchange.http"
            path.write_text(text, encoding="utf-8", errors="surrogateescape")
            os.chmod(path, 0o600)
            try:
                proc = await asyncio.create_subprocess_exec(*shlex.split(self.editor), str(path))
                code = await proc.wait()
            except OSError as e:
                self.say(f"Cannot run the editor {self.editor!r}: {e}. Set $EDITOR (or $VISUAL).")
                return None
            if code != 0:
                self.say(f"The editor exited with {code}: nothing sent.")
                return None
            return path.read_text(encoding="utf-8", errors="surrogateescape")

    async def resume(self, hit: dict[str, Any], body: dict[str, Any], done: str) -> bool:
        status, answer = await self.call("POST", f"/api/breakpoints/paused/{hit['id']}/resume", body)
        if status == 200:
            self.say(f"{done}: {hit['method']} {hit['url']}")
            return True
        if status == 404:
            self.say(f"(hit {hit['id'][:8]} has already gone on)")
            return True
        self.say(f"Necto refused it: {(answer or {}).get('error')} (HTTP {status})")
        return False


async def cmd_watch(args: argparse.Namespace, stdin: TextIO | None = None) -> int:
    url = (args.url or os.environ.get("NECTO_API_URL") or DEFAULT_URL).rstrip("/")
    token = args.token or os.environ.get("NECTO_TOKEN")
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession(headers=headers) as http:
        try:
            async with http.get(url + "/api/health", timeout=aiohttp.ClientTimeout(total=5)) as r:
                if r.status >= 400:
                    err(f"Necto at {url} answered {r.status}: pass its token with --token or NECTO_TOKEN")
                    return EXIT_USAGE
        except (aiohttp.ClientError, OSError, TimeoutError):
            err(f"no Necto answers at {url}: start it with `necto run` (or pass --url)")
            return EXIT_FAIL
        return await Watcher(http, url, editor).run(LineReader(stdin or sys.stdin))
