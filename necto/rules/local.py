"""map-local: answer from a file, or from a directory mirroring the URL path, never from outside it.

A file `localPath` answers every matching request. For a directory, the request path after
the rule's literal path prefix (`/static/` for a match of `*/static/*`, none when the pattern
starts with a wildcard path) is looked up below it; a directory answers with its
`index.html`. A `..` segment, a NUL byte, or a path (symlinks resolved) that ends up outside
`localPath` is refused with 403; a missing file is a 404 that says what was looked for.
Content-Type comes from the file's extension.
"""

from __future__ import annotations

import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

MAX_FILE = 1 << 30  # a map-local answer is held in memory; larger files get a clear 500
EXTRA_TYPES = {
    ".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json", ".map": "application/json",
    ".wasm": "application/wasm", ".svg": "image/svg+xml", ".webp": "image/webp", ".avif": "image/avif",
    ".woff": "font/woff", ".woff2": "font/woff2", ".har": "application/json", ".yaml": "application/yaml",
    ".yml": "application/yaml", ".md": "text/markdown", ".ico": "image/x-icon",
}  # fmt: skip
TEXTUAL = (
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "image/svg+xml",
    "application/yaml",
)


@dataclass(slots=True)
class LocalAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def content_type(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    mime = EXTRA_TYPES.get(ext) or mimetypes.guess_type(path)[0] or "application/octet-stream"
    if mime.startswith(TEXTUAL) and "charset" not in mime:
        mime += "; charset=utf-8"
    return mime


def _text(status: int, message: str) -> LocalAnswer:
    return LocalAnswer(status, [("Content-Type", "text/plain; charset=utf-8")], (message + "\n").encode())


def _read(path: str) -> LocalAnswer:
    size = os.path.getsize(path)
    if size > MAX_FILE:
        return _text(500, f"Necto map-local: file too large to serve ({size} bytes, at most {MAX_FILE})")
    with open(path, "rb") as f:
        body = f.read()
    return LocalAnswer(200, [("Content-Type", content_type(path))], body)


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def serve_local(local_path: str, request_path: str, prefix: str | None) -> LocalAnswer:
    """The answer for one request (blocking file I/O: call it in a worker thread)."""
    root = os.path.realpath(os.path.expanduser(local_path))
    if not os.path.exists(root):
        return _text(404, f"Local file not found: {local_path}")
    if os.path.isfile(root):
        return _read(root)
    rel = request_path.split("?", 1)[0].split("#", 1)[0]
    if prefix and prefix != "/" and rel.startswith(prefix):
        rel = rel[len(prefix) :]
    segments = [unquote(s) for s in rel.split("/") if s not in ("", ".")]
    if any(s == ".." or "\x00" in s or "/" in s or "\\" in s for s in segments):
        return _text(403, f"Necto map-local: refused a path outside localPath: {request_path}")
    target = os.path.realpath(os.path.join(root, *segments)) if segments else root
    if not _inside(root, target):
        return _text(403, f"Necto map-local: refused a path outside localPath: {request_path}")
    shown = "/".join(segments) or "."
    if os.path.isdir(target):
        index = os.path.join(target, "index.html")
        if not os.path.isfile(index):
            return _text(404, f"Local file not found: {shown}/index.html (a directory without index.html)")
        target = os.path.realpath(index)
        if not _inside(root, target):
            return _text(403, f"Necto map-local: refused a path outside localPath: {request_path}")
    if not os.path.isfile(target):
        return _text(404, f"Local file not found: {shown}")
    try:
        return _read(target)
    except OSError as e:
        return _text(500, f"Necto map-local: cannot read {shown}: {e.strerror or e}")


def file_body(path: str) -> bytes | None:
    """A mock's `bodyFile` (blocking); None when it does not exist."""
    p = Path(os.path.expanduser(path))
    if not p.is_file():
        return None
    if p.stat().st_size > MAX_FILE:
        raise OSError(f"file too large ({p.stat().st_size} bytes)")
    return p.read_bytes()
