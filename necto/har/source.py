"""The bytes of a HAR file as plain UTF-8 JSON for the parser: BOM, JSONP padding, UTF-16/32
and stray Latin-1 handled while streaming."""

from __future__ import annotations

import codecs
import re
from typing import IO

from necto.har.guard import Guard
from necto.har.report import Report

READ_SIZE = 256 * 1024
_JSONP = re.compile(rb"^\s*([A-Za-z_$][\w$.]*)\s*\(")


class Source:
    """read(n) over a binary file that hands ijson plain UTF-8 JSON: strips a UTF-8 BOM and
    JSONP padding, transcodes UTF-16/32, and reads bytes that are not UTF-8 as Latin-1.
    What it hands on has passed the Guard (nesting depth, token sizes, 64-bit integers).
    Counts raw bytes consumed, for progress."""

    HOLD = 64  # bytes held back so JSONP's closing ");" can be removed at EOF

    def __init__(self, raw: IO[bytes], report: Report | None = None) -> None:
        self.raw = raw
        self.report = report
        self.consumed = 0
        self._head: bytes | None = b""  # None once the start was sniffed
        self._tail = b""
        self._eof = False
        self._decoder: codecs.IncrementalDecoder | None = None
        self._pending = b""  # an incomplete UTF-8 sequence at a chunk edge
        self._latin1 = False
        self.jsonp = False
        self.guard = Guard(self._warn if report is not None else None)

    def _warn(self, message: str) -> None:
        if self.report is not None:
            self.report.warn("", message)

    def _transcode(self, data: bytes, final: bool) -> bytes:
        if self._decoder is not None:
            return self._decoder.decode(data, final).encode("utf-8")
        if self._latin1:
            return data.decode("latin-1").encode("utf-8")
        data = self._pending + data
        try:
            _, used = codecs.utf_8_decode(data, "strict", final)
        except UnicodeDecodeError as e:
            self._latin1 = True
            self._pending = b""
            self._warn(
                f"file is not valid UTF-8 (byte {self.consumed - len(data) + e.start}); read as Latin-1 from there"
            )
            return data[: e.start] + data[e.start :].decode("latin-1").encode("utf-8")
        self._pending = data[used:]
        return data[:used]

    def _sniff(self, data: bytes) -> bytes:
        if data.startswith(codecs.BOM_UTF8):
            self._warn("UTF-8 byte order mark removed (Playwright cannot read files that have one)")
            data = data[3:]
        elif data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
            self._warn("UTF-32 file transcoded to UTF-8")
            self._decoder = codecs.getincrementaldecoder("utf-32")()
        elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            self._warn("UTF-16 file transcoded to UTF-8")
            self._decoder = codecs.getincrementaldecoder("utf-16")()
        return data

    def read(self, n: int = READ_SIZE) -> bytes:
        if n == 0:  # ijson probes the type of what read() returns with read(0)
            return b""
        while not self._eof:
            piece = self._piece(n)
            out = self.guard.feed(piece, self._eof)
            if out or self._eof:
                return out
        return b""

    def _piece(self, n: int) -> bytes:
        """The next piece of plain UTF-8 JSON (sets `_eof` with the last one)."""
        while not self._eof:
            chunk = self.raw.read(max(n, READ_SIZE))
            self.consumed += len(chunk)
            final = not chunk
            if self._head is not None:
                self._head += chunk
                if len(self._head) < 512 and not final:
                    continue
                chunk, self._head = self._sniff(self._head), None
                data = self._transcode(chunk, final)
                m = _JSONP.match(data)
                if m:
                    self.jsonp = True
                    self._warn(f"JSONP padding {m.group(1).decode()}(...) removed")
                    data = data[m.end() :]
            else:
                data = self._transcode(chunk, final)
            data = self._tail + data
            if final:
                self._eof = True
                data = data.rstrip()
                if self.jsonp:
                    data = data.rstrip(b";").rstrip()
                    if data.endswith(b")"):
                        data = data[:-1]
                return data
            self._tail = data[-self.HOLD :]
            out = data[: -self.HOLD]
            if out:
                return out
        return b""
