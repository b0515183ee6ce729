"""Content-Encoding decoded a piece at a time, never past a cap.

mitmproxy's `get_content()` decodes a whole body in memory: a 1 MB gzip bomb becomes a
gigabyte (and stays in mitmproxy's one-entry decode cache). Here the encoded bytes (in memory
or a spooled file) are fed to the decoder in `READ_CHUNK` pieces and its output is taken at
most `OUT_CHUNK` at a time into a `Spool`, which keeps the first `cap` bytes and moves them to
a file past `memory_max`. Decoding stops as soon as the output passes the cap: the entry then
keeps the decoded prefix (flagged truncated) and the encoded bytes as they travelled.

Same outcomes as mitmproxy otherwise: gzip (and zlib) auto-detected, deflate with or without
its zlib header, br, zstd (several frames), identity; an unknown or undecodable encoding keeps
the body as it travelled.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

import brotli

from necto.model import BodyFile
from necto.store.bodies import BodyStore, Spool

if sys.version_info >= (3, 14):
    from compression import zstd
else:  # pragma: no cover
    from backports import zstd  # mitmproxy's dependency

READ_CHUNK = 256 * 1024
OUT_CHUNK = 1 << 20
# Without --max-body-size, decoding stops here: what was decoded so far and the encoded bytes
# are kept (a 1 MB gzip bomb would otherwise write gigabytes).
DECODE_LIMIT = 256 << 20
# Decoded bodies up to this stay in memory (as bytes in the Entry); longer ones go to a file.
MEMORY_MAX = 16 << 20
KNOWN = ("gzip", "deflate", "deflateraw", "br", "zstd")
IDENTITY = ("", "identity", "none")


class _Decoder(Protocol):
    def step(self, data: bytes, limit: int) -> bytes:
        """Feed `data` (b"" to drain) and return at most `limit` bytes of output."""

    @property
    def hungry(self) -> bool:
        """True when all input fed so far has been turned into output."""


class _Zlib:
    def __init__(self, wbits: int) -> None:
        self.d = zlib.decompressobj(wbits)

    def step(self, data: bytes, limit: int) -> bytes:
        if self.d.eof:
            return b""  # like mitmproxy: the first gzip member only
        return self.d.decompress(self.d.unconsumed_tail + data if self.d.unconsumed_tail else data, limit)

    @property
    def hungry(self) -> bool:
        return self.d.eof or not self.d.unconsumed_tail


class _Deflate:
    """zlib-wrapped or raw deflate, decided by the first two bytes (as mitmproxy's fallback)."""

    def __init__(self) -> None:
        self.inner: _Zlib | None = None

    def step(self, data: bytes, limit: int) -> bytes:
        if self.inner is None:
            if not data:
                return b""
            zlib_header = len(data) >= 2 and data[0] & 0x0F == 8 and ((data[0] << 8) | data[1]) % 31 == 0
            self.inner = _Zlib(15 if zlib_header else -15)
        return self.inner.step(data, limit)

    @property
    def hungry(self) -> bool:
        return self.inner is None or self.inner.hungry


class _Brotli:
    def __init__(self) -> None:
        self.d = brotli.Decompressor()

    def step(self, data: bytes, limit: int) -> bytes:
        if self.d.is_finished():
            return b""
        if data and not self.d.can_accept_more_data():
            raise ValueError("brotli: input given while output is pending")
        return bytes(self.d.process(data, output_buffer_limit=limit))

    @property
    def hungry(self) -> bool:
        return self.d.is_finished() or self.d.can_accept_more_data()


class _Zstd:
    def __init__(self) -> None:
        self.d = zstd.ZstdDecompressor()

    def step(self, data: bytes, limit: int) -> bytes:
        if self.d.eof:
            rest = self.d.unused_data + data
            if not rest:
                return b""
            self.d = zstd.ZstdDecompressor()  # the next frame
            data = rest
        return bytes(self.d.decompress(data, max_length=limit))

    @property
    def hungry(self) -> bool:
        return (self.d.eof and not self.d.unused_data) or self.d.needs_input


def _decoder(encoding: str) -> _Decoder | None:
    if encoding == "gzip":
        return _Zlib(47)  # gzip or zlib, auto-detected (mitmproxy's choice)
    if encoding in ("deflate", "deflateraw"):
        return _Deflate()
    if encoding == "br":
        return _Brotli()
    if encoding == "zstd":
        return _Zstd()
    return None


@dataclass
class Decoded:
    body: bytes | BodyFile | None  # decoded (or as it travelled, when it could not be decoded)
    size: int  # decoded length: all of it, or what was decoded before the cap stopped it
    truncated: bool  # `body` is shorter than the decoded body
    raw: bytes | BodyFile | None = None  # the encoded bytes, kept when decoding was cut short
    cut: bool = False  # decoding stopped at the cap
    encoding: str = ""


def _pieces(src: bytes | BinaryIO) -> Iterator[bytes]:
    if isinstance(src, bytes):
        view = memoryview(src)
        for i in range(0, len(src), READ_CHUNK):
            yield bytes(view[i : i + READ_CHUNK])
        return
    while chunk := src.read(READ_CHUNK):
        yield chunk


def _run(dec: _Decoder, src: bytes | BinaryIO, spool: Spool, stop_after: int) -> bool:
    """Decode `src` into `spool`; True if it stopped because more than `stop_after` bytes came
    out (the rest of the input is left alone)."""
    for piece in _pieces(src):
        data = piece
        while True:
            out = dec.step(data, OUT_CHUNK)
            data = b""
            spool.write(out)
            if 0 <= stop_after < spool.seen:
                return True
            if dec.hungry:
                break
    while out := dec.step(b"", OUT_CHUNK):
        spool.write(out)
        if 0 <= stop_after < spool.seen:
            return True
    return False


def decode_body(
    raw: bytes | BodyFile | None,
    encoding: str | None,
    store: BodyStore | None,
    cap: int,
    wire_size: int | None = None,
    memory_max: int = MEMORY_MAX,
) -> Decoded:
    """The body to store for `raw` (what travelled, kept whole or up to the cap already) sent
    with `Content-Encoding: encoding`. `cap` is --max-body-size (-1: none, then DECODE_LIMIT
    bounds the decoding). `wire_size` is how many bytes travelled (when more than `raw` holds).
    Without a body store (mitmdump before its store opened) the decoded body stays in memory."""
    if raw is None:
        return Decoded(None, -1, False)
    raw_len = len(raw) if isinstance(raw, bytes) else raw.size
    wire = wire_size if wire_size is not None else raw_len
    enc = (encoding or "").strip().lower()
    if enc in IDENTITY or enc not in KNOWN:
        return _as_travelled(raw, wire, cap, store)
    limit = cap if cap >= 0 else DECODE_LIMIT
    spool = Spool(store, cap=limit, inline_max=memory_max if store is not None else limit)
    dec = _decoder(enc)
    assert dec is not None
    try:
        if isinstance(raw, bytes):
            cut = _run(dec, raw, spool, limit)
        else:
            with _open_raw(store, raw) as f:
                cut = _run(dec, f, spool, limit)
    except (ValueError, zlib.error, brotli.error, zstd.ZstdError, EOFError):
        spool.discard()  # not what the header says: keep it as it travelled (as mitmproxy does)
        return _as_travelled(raw, wire, cap, store)
    except BaseException:
        spool.discard()
        raise
    body = spool.result()
    truncated = spool.truncated or wire > raw_len
    if cut:
        return Decoded(body, spool.seen, True, raw=raw, cut=True, encoding=enc)
    if isinstance(raw, BodyFile) and store is not None:
        store.discard(raw)  # decoded whole: the encoded copy is not kept
    return Decoded(body, spool.seen, truncated, encoding=enc)


def _as_travelled(raw: bytes | BodyFile, wire: int, cap: int, store: BodyStore | None) -> Decoded:
    if isinstance(raw, bytes):
        if 0 <= cap < len(raw):
            return Decoded(raw[:cap], wire, True)
        return Decoded(raw, wire, wire > len(raw))
    return Decoded(raw, wire, wire > raw.size)


def _open_raw(store: BodyStore | None, raw: BodyFile) -> BinaryIO:
    if isinstance(raw.pending, str):
        return open(raw.pending, "rb")
    assert store is not None
    return store.open(raw)
