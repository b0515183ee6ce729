"""Runtime settings, shared by the CLI, the app and the tests."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from necto.addresses import is_loopback

DEFAULT_PROXY_PORT = 8888
DEFAULT_API_PORT = 8889
DEFAULT_MAX_UPLOAD = 1 << 30  # 1 GiB
DEFAULT_HEADER_TIMEOUT = 30.0  # seconds for a new connection to send its first request's headers
DEFAULT_IDLE_TIMEOUT = 60.0  # seconds a connection may sit with no request in progress
DEFAULT_MAX_CONNECTIONS = 10_000  # proxy client connections (lowered to fit the descriptor limit)
DEFAULT_SHUTDOWN_TIMEOUT = 5.0  # seconds exchanges in flight get to finish on Ctrl-C / SIGTERM
DEFAULT_STREAM_ABOVE = 8 << 20  # bodies with a Content-Length above this stream through (8 MiB)


def default_data_dir() -> Path:
    return Path(os.environ.get("NECTO_HOME") or Path.home() / ".necto")


def is_loopback_host(host: str) -> bool:
    """`localhost` or any spelling of a loopback address (see necto.addresses)."""
    return is_loopback(host)


@dataclass
class Config:
    data_dir: Path = field(default_factory=default_data_dir)
    proxy_host: str = "127.0.0.1"
    proxy_port: int = DEFAULT_PROXY_PORT
    api_host: str = "127.0.0.1"
    api_port: int = DEFAULT_API_PORT
    max_body_size: int = -1  # bytes kept per body; -1 keeps everything
    stream_above: int = DEFAULT_STREAM_ABOVE  # stream bodies longer than this (-1: only unknown lengths)
    max_upload_size: int = DEFAULT_MAX_UPLOAD
    token: str | None = None  # required (generated if unset) when the API is not on loopback
    allowed_hosts: list[str] = field(default_factory=list)  # extra Host names the API answers
    upstream_ca: Path | None = None  # extra CA to trust for upstream servers
    ssl_insecure: bool = False  # do not verify upstream certificates
    modes: list[str] = field(default_factory=lambda: ["regular"])  # mitmproxy mode specs; the first on proxy_port
    upstream_proxy: str | None = None  # --upstream-proxy URL: for this run, over the stored setting
    client_certs: Path | None = None  # client certificate file, or a directory of <host>.pem
    connect_timeout: float = 30.0  # seconds to resolve and connect to an upstream
    network: str | None = None  # a network profile (name or id) to activate at start; "off" clears it
    capture_session: str | None = None  # record into this session, not the active one (`necto record`)
    breakpoint_timeout: float = 300.0  # seconds a held exchange waits before it goes on (0 = forever)
    breakpoint_timeout_action: str = "continue"  # or "abort", when that time is up
    breakpoints: bool = True  # hold exchanges at stored breakpoints (the private Nectos of record and replay do not)
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
    proto_dir: Path | None = None  # .proto file or directory: field names for Protobuf/gRPC bodies
    search_index: bool = True  # index bodies for search in the background

    @property
    def db_path(self) -> Path:
        return self.data_dir / "necto.db"

    @property
    def certs_dir(self) -> Path:
        return self.data_dir / "certs"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def api_is_loopback(self) -> bool:
        return is_loopback_host(self.api_host)
