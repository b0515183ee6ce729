"""`necto mcp [--url http://127.0.0.1:8889] [--token T]`: an MCP server on stdin/stdout.

An MCP client (an AI coding agent) starts it as a subprocess; it talks to a running Necto's
REST API, or reads the data directory when Necto is not running.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from necto.cli.common import EXIT_OK, DataDirArg, Handler, config_from_args
from necto.config import DEFAULT_API_PORT


def register(sub: Any, add_data_dir_arg: DataDirArg) -> dict[str, Handler]:
    p = sub.add_parser(
        "mcp",
        help="MCP server on stdio for AI agents (traffic, search, rules, replay, HAR, diff, inventory)",
        description="Serve Necto's tools to an MCP client over stdin/stdout. Talks to the running Necto at --url; "
        "when none answers, the read-only tools read the data directory.",
    )
    add_data_dir_arg(p)
    p.add_argument(
        "-u",
        "--url",
        default=None,
        help=f"Necto's API (env NECTO_API_URL, default http://127.0.0.1:{DEFAULT_API_PORT})",
    )
    p.add_argument(
        "-t", "--token", default=None, help="API token if Necto requires one (env NECTO_TOKEN; loopback needs none)"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    return {"mcp": cmd_mcp}


async def cmd_mcp(args: argparse.Namespace) -> int:
    from necto.mcp.backend import Backend
    from necto.mcp.server import serve_stdio

    logging.basicConfig(stream=sys.stderr, level=logging.INFO if args.verbose else logging.WARNING)
    url = args.url or os.environ.get("NECTO_API_URL") or f"http://127.0.0.1:{DEFAULT_API_PORT}"
    token = args.token or os.environ.get("NECTO_TOKEN") or None
    await serve_stdio(Backend(url, token, config_from_args(args).data_dir))
    return EXIT_OK
