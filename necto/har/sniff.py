"""What a file that is not a HAR is, in words a user can act on (the `detail` of an error):
empty, an image or an archive, HTML, JSON with an error at byte N, or cut off."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO

import orjson

from necto.har.report import HarError

# Beyond this size the parser's own message is used (locating the error would read it all).
LOCATE_MAX_BYTES = 64 << 20

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"RIFF", "a RIFF file (WebP image, WAV audio or AVI video)"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (unzip it and import the .har inside)"),
    (b"\x1f\x8b", "a gzip-compressed file (decompress it first)"),
    (b"BZh", "a bzip2-compressed file (decompress it first)"),
    (b"\xfd7zXZ\x00", "an xz-compressed file (decompress it first)"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "a program (ELF executable)"),
)


def what_it_is(head: bytes) -> str | None:
    """A file type recognised from its first bytes, or None when it may be JSON text."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    low = text[:64].lower()
    if low.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "an HTML page"
    if low.startswith(b"<?xml"):
        return "an XML document"
    if low.startswith(b"<"):
        return "markup (it starts with '<')"
    if b"\x00" in head[:512] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "binary data"
    return None


def explain_json_error(
    open_file: Callable[[], IO[bytes]], parser_message: str, read: Callable[[IO[bytes]], bytes]
) -> str:
    """The `detail` for a file the JSON parser rejected. `read` turns the raw file into the
    text the parser saw (BOM, JSONP, UTF-16, guard), so positions match what it read."""
    with open_file() as f:
        head = f.read(4096)
        f.seek(0, 2)
        size = f.tell()
    if size == 0:
        return "the file is empty (0 bytes)"
    kind = what_it_is(head)
    if kind is not None:
        return f"the file is {kind}, not a HAR (JSON) file"
    if not head.strip():
        if size <= len(head):
            return "the file contains only whitespace"
    if size > LOCATE_MAX_BYTES:
        return f"not valid JSON: {parser_message}"
    try:
        with open_file() as f:
            text = read(f)
    except HarError as e:
        return e.detail
    if not text.strip():
        return "the file contains no JSON"
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError as e:
        at = _byte_offset(text, e.pos)
        if e.msg in ("unexpected end of data", "EOF while parsing") or at >= len(text.rstrip()):
            return f"the JSON ends early at byte {at} of {len(text)}: the file looks cut off"
        near = text[max(0, at - 20) : at + 20].decode("utf-8", "replace")
        return f"not JSON at byte {at}: {e.msg} (near {near!r})"
    return f"not valid JSON: {parser_message}"


def _byte_offset(text: bytes, char_pos: int) -> int:
    """orjson reports positions in characters; users count bytes."""
    try:
        return len(text.decode("utf-8")[:char_pos].encode("utf-8"))
    except UnicodeDecodeError:
        return char_pos
