"""Necto's shared vocabulary: the small facts several modules must answer the same way.

What counts as a static asset, which MIME types are text, what an HTTP token is, the default
ports, how times are written, how a boolean query parameter reads, how a WebSocket frame is
stored and shown, and the error strings users see. Pure functions, no I/O, no Necto imports,
so any module (capture, store, HAR, replay, inventory, API, CLI) may use them.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import re
from collections.abc import Iterable
from typing import Any

# ---------------------------------------------------------------------------- errors users see
SESSION_NOT_FOUND = "Session not found"
ENTRY_NOT_FOUND = "Traffic entry not found"
# Every "tls-failed" entry's error starts so (a client broke off the TLS handshake with Necto).
TLS_FAILED_ERROR = "Client TLS handshake failed"

# Exit codes of every `necto` command.
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

# ---------------------------------------------------------------------------- HTTP
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def is_token(text: str) -> bool:
    """An RFC 9110 token: what a method or a header name must be."""
    return bool(_TOKEN.match(text))


# ---------------------------------------------------------------------------- MIME types
_TEXT_MIME = re.compile(
    r"^(text/|.*(json|xml|javascript|ecmascript|x-www-form-urlencoded|graphql|svg|csv|yaml|html))", re.I
)
_BINARY_MIME = re.compile(
    r"^(image/(?!svg)|audio/|video/|font/|application/(octet-stream|pdf|zip|gzip|wasm|x-protobuf|protobuf|grpc|vnd\.))",
    re.I,
)


def base_mime(content_type: str) -> str:
    """`Text/HTML; charset=utf-8` -> `text/html`."""
    return content_type.split(";", 1)[0].strip().lower()


def is_text_mime(content_type: str) -> bool:
    """Is a body of this type text by its type? (Bytes decide when the type says nothing.)"""
    return bool(_TEXT_MIME.match(base_mime(content_type)))


def is_binary_mime(content_type: str) -> bool:
    return bool(_BINARY_MIME.match(base_mime(content_type)))


def is_text_bytes(body: bytes) -> bool:
    """UTF-8 without NUL bytes."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "\x00" not in text


# ---------------------------------------------------------------------------- static assets
STATIC_EXTENSIONS = frozenset(
    "png jpg jpeg gif webp svg ico bmp avif tif tiff apng woff woff2 ttf otf eot css js mjs cjs map "
    "mp4 webm mp3 ogg wav flac m4a wasm".split()
)
STATIC_MIME_PREFIXES = ("image/", "font/", "video/", "audio/", "application/font", "application/x-font")
STATIC_MIMES = frozenset(
    {"text/css", "application/javascript", "text/javascript", "application/x-javascript",
     "application/ecmascript", "text/ecmascript", "application/vnd.ms-fontobject", "application/wasm",
     "application/json+sourcemap"}
)  # fmt: skip
# Types that say nothing about what the body is: the path's extension decides then.
GENERIC_MIMES = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/unknown", "text/plain"})


def is_static(path: str, content_type: str, status: int | None = None) -> bool:
    """Images, fonts, stylesheets, scripts, source maps and media: browser noise, not API.

    The response's content type decides: an image or a stylesheet is static wherever it lives,
    and a successful JSON (or HTML, XML, ...) answer is not, even at `/repos/vercel/next.js`.
    The file extension decides only without a better signal: no or a generic content type, or
    an error response (whose body describes the error, not the resource)."""
    mime = base_mime(content_type)
    if mime in STATIC_MIMES or mime.startswith(STATIC_MIME_PREFIXES):
        return True
    last = path.split("?", 1)[0].rsplit("/", 1)[-1]
    ext = last.rsplit(".", 1)[-1].lower() if "." in last else ""
    if ext not in STATIC_EXTENSIONS:
        return False
    answered = status is not None and 200 <= status < 300
    return not (answered and mime not in GENERIC_MIMES)


# ---------------------------------------------------------------------------- times
def iso_time(ts: float) -> str:
    """Epoch seconds -> `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, millisecond, what every reader parses)."""
    secs, frac = divmod(round(ts * 1000), 1000)
    return _iso_seconds(secs) + f".{frac:03d}Z"


@functools.lru_cache(maxsize=1024)
def _iso_seconds(secs: int) -> str:
    # Exports are time-ordered: neighbouring entries share their second.
    return dt.datetime.fromtimestamp(secs, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


# ---------------------------------------------------------------------------- booleans
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def parse_bool(value: Any, default: bool | None = None) -> bool | None:
    """A boolean from JSON (true/false) or a query string (true/false/1/0/yes/no/on/off).

    None (absent) gives `default`; anything else that is not a boolean raises ValueError."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in TRUE_WORDS:
            return True
        if low in FALSE_WORDS:
            return False
    raise ValueError("must be true or false")


# ---------------------------------------------------------------------------- WebSocket frames
# Opcodes: 1 text, 2 binary, 8 close, 9 ping, 10 pong.
def frame_json(kind: str, time: float, opcode: int, data: bytes) -> dict[str, Any]:
    """One frame as HAR's `_webSocketMessages` item (Chrome's shape) and the API show it:
    text frames as text, the rest base64."""
    if opcode == 1:
        return {"type": kind, "time": time, "opcode": 1, "data": data.decode("utf-8", "replace")}
    return {"type": kind, "time": time, "opcode": opcode, "data": base64.b64encode(data).decode("ascii")}


def frames_json(frames: Iterable[tuple[str, float, int, bytes]]) -> list[dict[str, Any]]:
    return [frame_json(*f) for f in frames]


def frame_from_json(item: dict[str, Any]) -> tuple[str, float, int, bytes]:
    """The inverse of `frame_json` (also reads the store's older `text`/`hex` form)."""
    opcode = int(item.get("opcode", 1))
    if "text" in item:
        data = str(item["text"]).encode("utf-8", "surrogatepass")
    elif "hex" in item:
        data = bytes.fromhex(item["hex"])
    elif opcode == 1:
        data = str(item.get("data", "")).encode("utf-8", "surrogatepass")
    else:
        data = base64.b64decode(str(item.get("data", "")))
    return str(item.get("type", "receive")), float(item.get("time", 0.0)), opcode, data


# ---------------------------------------------------------------------------- text tables
def format_table(rows: list[list[str]], header: list[str], indent: str = "") -> list[str]:
    """Lines of a plain-text table, columns padded to their widest cell."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return [
        indent + "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]
    ]
