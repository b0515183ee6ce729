"""`necto run`: the proxy and the API/page in one process until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from necto import __version__
from necto.cli.common import EXIT_OK, EXIT_USAGE, DataDirArg, Handler, config_from_args, parse_size
from necto.config import DEFAULT_API_PORT, DEFAULT_MAX_UPLOAD, DEFAULT_PROXY_PORT


def register(sub: Any, add_data_dir_arg: DataDirArg) -> dict[str, Handler]:
    run = sub.add_parser("run", help="start the proxy (:8888) and the API/web page (:8889)")
    add_data_dir_arg(run)
    run.add_argument("--proxy-host", default="127.0.0.1", help="proxy listen address (default 127.0.0.1)")
    run.add_argument("--proxy-port", type=int, default=DEFAULT_PROXY_PORT, help="proxy port (default 8888; 0 = any free port)")
    run.add_argument("--api-host", default="127.0.0.1", help="API listen address (default 127.0.0.1; anything else requires a token)")
    run.add_argument("--api-port", type=int, default=DEFAULT_API_PORT, help="API and web page port (default 8889)")
    run.add_argument("--max-body-size", type=parse_size, default=-1, help="keep at most this much of each body, e.g. 10MB (default: all); longer bodies are stored truncated and flagged")
    run.add_argument("--max-upload-size", type=parse_size, default=DEFAULT_MAX_UPLOAD, help="largest HAR upload the API accepts (default 1GB)")
    run.add_argument("--token", default=None, help="API token (Bearer header or ?token=); generated when the API is not on loopback")
    run.add_argument("--allow-host", action="append", default=[], metavar="NAME", help="extra Host name the API answers to (repeatable)")
    run.add_argument("--upstream-ca", type=Path, default=None, help="PEM file of extra CAs to trust for upstream servers")
    run.add_argument("--ssl-insecure", action="store_true", help="do not verify upstream server certificates")
    run.add_argument("--mode", action="append", default=None, metavar="MODE", help="a proxy mode as mitmproxy names it (repeatable): regular (default), socks5, reverse:http://localhost:3000, upstream:http://proxy:3128, transparent, wireguard; append @PORT to choose a mode's port (the first uses --proxy-port)")
    run.add_argument("--upstream-proxy", default=None, metavar="URL", help="send traffic through this proxy for this run: http://[user:pass@]host:port, https://..., socks5://... (the API's /api/upstream-proxy setting is stored instead)")
    run.add_argument("--client-certs", type=Path, default=None, metavar="DIR|FILE", help="client certificate (PEM with key) for upstream mTLS, or a directory of <host>.pem files")
    run.add_argument("--connect-timeout", type=float, default=30.0, metavar="SECONDS", help="give up resolving and connecting to an upstream after this long (default 30)")
    run.add_argument("--network", metavar="PROFILE", default=None, help='network conditions for all traffic: a profile name or id ("Slow 3G", preset-4; see necto network list), or off')
    run.add_argument("--proto-dir", type=Path, default=None, metavar="DIR", help="a .proto file, or a directory of them: Protobuf and gRPC bodies are shown with their field names")
    run.add_argument("--no-search-index", action="store_true", help="do not index bodies for search in the background (a search then indexes what it needs first)")
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
    cfg.token, cfg.allowed_hosts = args.token, args.allow_host
    cfg.upstream_ca, cfg.ssl_insecure = args.upstream_ca, args.ssl_insecure
    cfg.modes = args.mode or ["regular"]
    cfg.upstream_proxy, cfg.client_certs = args.upstream_proxy, args.client_certs
    cfg.connect_timeout = args.connect_timeout
    cfg.network = args.network
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
    if cfg.token:
        lines.append(f"API token (Authorization: Bearer ... or ?token=...): {cfg.token}")
    lines.append("Stop with Ctrl-C.")
    print("\n".join(lines), flush=True)
    await necto.serve_until_signalled()
    print("Necto stopped; everything captured is saved.", flush=True)
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
