"""`necto run`: the proxy and the API/page in one process until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

from necto import __version__
from necto.cli.common import EXIT_OK, EXIT_USAGE, DataDirArg, Handler, config_from_args, parse_size
from necto.config import (
    DEFAULT_API_PORT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_UPLOAD,
    DEFAULT_PROXY_PORT,
    DEFAULT_SHUTDOWN_TIMEOUT,
    DEFAULT_STREAM_ABOVE,
)
from necto.store import Drops

TOKEN_ENV = "NECTO_TOKEN"
DROP_REPORT_EVERY = 10.0  # seconds between "captures could not be stored" lines


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 0 and 65535: {text}")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"seconds must be more than 0 and at most 86400: {text}")
    return value


def count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 10_000_000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 10000000: {text}")
    return value


def register(sub: Any, add_data_dir_arg: DataDirArg) -> dict[str, Handler]:
    run = sub.add_parser("run", help="start the proxy (:8888) and the API/web page (:8889)")
    add_data_dir_arg(run)
    run.add_argument("--proxy-host", default="127.0.0.1", help="proxy listen address (default 127.0.0.1)")
    run.add_argument(
        "--proxy-port", type=port, default=DEFAULT_PROXY_PORT, help="proxy port (default 8888; 0 = any free port)"
    )
    run.add_argument(
        "--api-host", default="127.0.0.1", help="API listen address (default 127.0.0.1; anything else requires a token)"
    )
    run.add_argument("--api-port", type=port, default=DEFAULT_API_PORT, help="API and web page port (default 8889)")
    run.add_argument(
        "--max-body-size",
        type=parse_size,
        default=-1,
        help="keep at most this much of each body, e.g. 10MB (default: all); longer bodies are stored truncated and flagged",
    )
    run.add_argument(
        "--stream-above",
        type=parse_size,
        default=DEFAULT_STREAM_ABOVE,
        metavar="SIZE",
        help="stream request and response bodies longer than this through as they arrive, recording them to the body store as they pass (default 8MB; bodies of unknown length and event streams always stream)",
    )
    run.add_argument(
        "--max-upload-size",
        type=parse_size,
        default=DEFAULT_MAX_UPLOAD,
        help="largest HAR upload the API accepts (default 1GB)",
    )
    run.add_argument(
        "--token",
        default=None,
        help=f"API token (Bearer header or ?token=); generated when the API is not on loopback. Visible in ps: prefer --token-file or ${TOKEN_ENV}",
    )
    run.add_argument(
        "--token-file", type=Path, default=None, metavar="FILE", help="read the API token from FILE (its first line)"
    )
    run.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="extra Host name the API answers to (repeatable)",
    )
    run.add_argument(
        "--upstream-ca", type=Path, default=None, help="PEM file of extra CAs to trust for upstream servers"
    )
    run.add_argument("--ssl-insecure", action="store_true", help="do not verify upstream server certificates")
    run.add_argument(
        "--mode",
        action="append",
        default=None,
        metavar="MODE",
        help="a proxy mode as mitmproxy names it (repeatable): regular (default), socks5, reverse:http://localhost:3000, upstream:http://proxy:3128, transparent, wireguard; append @PORT to choose a mode's port (the first uses --proxy-port)",
    )
    run.add_argument(
        "--upstream-proxy",
        default=None,
        metavar="URL",
        help="send traffic through this proxy for this run: http://[user:pass@]host:port, https://..., socks5://... (the API's /api/upstream-proxy setting is stored instead)",
    )
    run.add_argument(
        "--client-certs",
        type=Path,
        default=None,
        metavar="DIR|FILE",
        help="client certificate (PEM with key) for upstream mTLS, or a directory of <host>.pem files",
    )
    run.add_argument(
        "--connect-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="give up resolving and connecting to an upstream after this long (default 30)",
    )
    run.add_argument(
        "--network",
        metavar="PROFILE",
        default=None,
        help='network conditions for all traffic: a profile name or id ("Slow 3G", preset-4; see necto network list), or off',
    )
    run.add_argument(
        "--breakpoint-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long an exchange held at a breakpoint waits before it goes on by itself (default 300; 0 = wait forever; a breakpoint's own timeout wins)",
    )
    run.add_argument(
        "--breakpoint-timeout-action",
        choices=("continue", "abort"),
        default="continue",
        help="what a held exchange does when its time is up: continue unmodified (default) or abort",
    )
    run.add_argument(
        "--header-timeout",
        type=seconds,
        default=DEFAULT_HEADER_TIMEOUT,
        metavar="SECONDS",
        help=f"close a new connection that has not sent its first request's headers within this (default {DEFAULT_HEADER_TIMEOUT:g})",
    )
    run.add_argument(
        "--idle-timeout",
        type=seconds,
        default=DEFAULT_IDLE_TIMEOUT,
        metavar="SECONDS",
        help=f"close a connection with no request in progress after this (default {DEFAULT_IDLE_TIMEOUT:g})",
    )
    run.add_argument(
        "--max-connections",
        type=count,
        default=DEFAULT_MAX_CONNECTIONS,
        metavar="N",
        help=f"most client connections the proxy holds at once (default {DEFAULT_MAX_CONNECTIONS}, lowered to fit the open-files limit)",
    )
    run.add_argument(
        "--shutdown-timeout",
        type=seconds,
        default=DEFAULT_SHUTDOWN_TIMEOUT,
        metavar="SECONDS",
        help=f"on Ctrl-C / SIGTERM, how long exchanges in flight may take to finish (default {DEFAULT_SHUTDOWN_TIMEOUT:g})",
    )
    run.add_argument(
        "--proto-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="a .proto file, or a directory of them: Protobuf and gRPC bodies are shown with their field names",
    )
    run.add_argument(
        "--no-search-index",
        action="store_true",
        help="do not index bodies for search in the background (a search then indexes what it needs first)",
    )
    run.add_argument("-v", "--verbose", action="store_true", help="log mitmproxy's connection events")
    return {"run": cmd_run}


def _conditions(necto: Any) -> list[str]:
    """Banner lines for what changes traffic: hard to forget a throttle that is on."""
    from necto.cli.network import describe

    book = necto.rules
    lines = []
    if book is not None and book.profile is not None:
        lines.append(f"  Network    {book.profile.name}: {describe(book.profile)} (necto network deactivate)")
    if book is not None and book.rules:
        lines.append(f"  Rules      {len(book.rules.rules)} enabled (necto rules list)")
    breaks = necto.breakpoint_book
    if breaks is not None and breaks.breakpoints:
        lines.append(
            f"  Breakpoints {len(breaks.breakpoints)} enabled (necto breakpoints list; necto breakpoints watch)"
        )
    return lines


async def cmd_run(args: argparse.Namespace) -> int:
    from necto.app import Necto, StartupError
    from necto.certs import ca_info

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    cfg = config_from_args(args)
    cfg.proxy_host, cfg.proxy_port = args.proxy_host, args.proxy_port
    cfg.api_host, cfg.api_port = args.api_host, args.api_port
    cfg.max_body_size, cfg.max_upload_size = args.max_body_size, args.max_upload_size
    cfg.stream_above = args.stream_above
    token, token_source = read_token(args)
    if token_source == "error":
        print(f"necto: {token}", file=sys.stderr)
        return EXIT_USAGE
    cfg.token, cfg.allowed_hosts = token, args.allow_host
    cfg.upstream_ca, cfg.ssl_insecure = args.upstream_ca, args.ssl_insecure
    cfg.modes = args.mode or ["regular"]
    cfg.upstream_proxy, cfg.client_certs = args.upstream_proxy, args.client_certs
    cfg.connect_timeout = args.connect_timeout
    cfg.network = args.network
    if args.breakpoint_timeout < 0:
        print("necto: --breakpoint-timeout must be 0 (wait forever) or more seconds", file=sys.stderr)
        return EXIT_USAGE
    cfg.breakpoint_timeout, cfg.breakpoint_timeout_action = args.breakpoint_timeout, args.breakpoint_timeout_action
    cfg.header_timeout, cfg.idle_timeout = args.header_timeout, args.idle_timeout
    cfg.max_connections, cfg.shutdown_timeout = args.max_connections, args.shutdown_timeout
    cfg.proto_dir, cfg.search_index = args.proto_dir, not args.no_search_index
    necto = Necto(cfg)
    try:
        addrs = await necto.start()
    except StartupError as e:
        print(f"necto: {e}", file=sys.stderr)
        return EXIT_USAGE
    assert necto.ca is not None and necto.store is not None
    session = await necto.store.active_session()
    phost, pport = addrs.proxy
    ahost, aport = addrs.api
    info = ca_info(necto.ca)
    lines = [
        f"Necto {__version__}",
        f"  Proxy      http://{phost}:{pport}",
        *(f"  {mode_line(li.mode, li.description)} {li.host}:{li.port}" for li in addrs.listeners[1:]),
        f"  API + page http://{ahost}:{aport}/",
        f"  Data       {cfg.data_dir}",
        f"  CA         {necto.ca.cert_pem}",
        f"             SHA-256 {info['fingerprint']}",
        f"  Session    {session.name if session else '-'} ({'recording' if necto.store.capture_session_id else 'paused'})",
        *upstream_lines(necto),
        *_conditions(necto),
        "",
        "Try it:",
        f"  curl -x http://{phost}:{pport} --cacert {necto.ca.cert_pem} https://example.com/",
        f"  curl http://{ahost}:{aport}/api/traffic",
        f"Browser: set the HTTP and HTTPS proxy to {phost}:{pport} and trust the CA above",
        f"  (steps per OS: necto ca, or http://{ahost}:{aport}/api/certificates/ca/install).",
        f'  Chromium: chromium --proxy-server=http://{phost}:{pport} --proxy-bypass-list="<-loopback>"',
        "  (without <-loopback> Chromium sends localhost and 127.0.0.1 around the proxy).",
    ]
    if cfg.token and token_source == "generated":
        lines.append(f"API token (Authorization: Bearer ... or ?token=...): {cfg.token}")
    elif cfg.token:
        lines.append(f"API token: the one from {token_source} (Authorization: Bearer ... or ?token=...)")
    lines.append("Stop with Ctrl-C.")
    stop = necto.catch_signals()
    print("\n".join(lines), flush=True)
    drops = necto.store.drops
    reporter = DropReporter(drops)
    unsubscribe = necto.store.subscribe(reporter)
    try:
        await necto.serve_until_signalled(stop)
    finally:
        unsubscribe()
        reporter.close()
    report = necto.shutdown
    summary = f"Necto stopped in {report.seconds:.1f} s"
    if report.cut:
        summary += f"; {report.cut} connection(s) were still exchanging at the --shutdown-timeout and were closed (what they got so far is recorded)"
    if drops.entries or drops.frames:
        print(f"{summary}; {lost_text(drops)} could not be stored (last reason: {drops.reason}).", flush=True)
    else:
        print(summary + "; everything captured is saved.", flush=True)
    return EXIT_OK


def mode_line(mode: str, description: str) -> str:
    """A banner label for a further listener, e.g. "SOCKS5" or "Reverse"."""
    name = mode.split(":", 1)[0]
    label = {"socks5": "SOCKS5", "reverse": "Reverse", "upstream": "Upstream", "transparent": "Transparent",
             "wireguard": "WireGuard", "regular": "Proxy"}.get(name, name)  # fmt: skip
    detail = mode.split(":", 1)[1] if ":" in mode else ""
    return f"{label:<10} {detail}".rstrip() + " on"


def upstream_lines(necto: Any) -> list[str]:
    state = necto.connectivity
    config = state.upstream if state is not None else None
    if config is None or not config.enabled:
        return []
    where = "this run (--upstream-proxy)" if config.source == "cli" else "stored; change it with /api/upstream-proxy"
    return [f"  Upstream   {config.url} ({where}; bypassed: {', '.join(config.bypass_rules) or 'nothing'})"]


def read_token(args: argparse.Namespace) -> tuple[str | None, str]:
    """The token and where it came from: --token, --token-file, $NECTO_TOKEN, else None
    ("generated" later if needed). ("message", "error") when the file cannot be read."""
    if args.token:
        return args.token, "--token"
    if args.token_file is not None:
        try:
            text = args.token_file.expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            return f"cannot read --token-file {args.token_file}: {getattr(e, 'strerror', None) or e}", "error"
        token = text.strip().splitlines()[0].strip() if text.strip() else ""
        if not token:
            return f"--token-file {args.token_file} is empty", "error"
        return token, f"--token-file {args.token_file}"
    if os.environ.get(TOKEN_ENV, "").strip():
        return os.environ[TOKEN_ENV].strip(), f"${TOKEN_ENV}"
    return None, "generated"


def lost_text(d: Drops) -> str:
    return f"{d.entries} captured exchange(s)" + (f" and {d.frames} WebSocket frame(s)" if d.frames else "")


class DropReporter:
    """A store listener: one line on stderr when captures could not be stored, then at most
    one every `every` seconds while it goes on (with the running count)."""

    def __init__(self, drops: Drops, every: float = DROP_REPORT_EVERY) -> None:
        self.drops = drops
        self.every = every
        self.last = float("-inf")
        self.reported = 0
        self._later: asyncio.TimerHandle | None = None

    def __call__(self, kind: str, payload: Any) -> None:
        if kind != "dropped" or self._later is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self.last + self.every - loop.time()
        if wait <= 0:
            self._say()
        else:
            self._later = loop.call_later(wait, self._say)

    def _say(self) -> None:
        self._later = None
        d = self.drops
        if d.entries + d.frames > self.reported:
            self.last = asyncio.get_running_loop().time()
            self.reported = d.entries + d.frames
            print(
                f"necto: {lost_text(d)} could not be stored since start; last reason: {d.reason} (see /api/health)",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self._later is not None:
            self._later.cancel()
            self._say()
