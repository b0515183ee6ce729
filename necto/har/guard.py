"""Bounds on the JSON text the parser is fed, checked before it sees (and allocates for) it.

ijson keeps one prefix string per open level, so its memory grows with the square of the
nesting depth: a 100 KB file of `[` took 24 GB. A HAR needs fewer than ten levels (JSON bodies
travel as strings), so the text is refused past `MAX_DEPTH`. Strings longer than `MAX_STRING`
(an entry that size cannot be held in memory next to its row) and numbers longer than
`MAX_NUMBER` characters are refused too; integers outside the 64-bit range, which the parser
rejects as a whole, are clamped with a warning.

The scan is exact about strings and escapes and costs a few C-level passes per chunk (replace,
translate, count); only chunks holding a run of 19 digits get a closer look for integers.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

from necto.har.report import HarError

MAX_DEPTH = 64
MAX_STRING = 256 << 20
MAX_NUMBER = 1000
INT64 = (-(1 << 63) + 1, (1 << 63) - 1)  # yajl reads neither -2^63 nor anything beyond

# First pass: keep quotes, brackets, backslashes and what a backslash can escape (the escape
# letters as "x"), so each escape stays a pair; after the escapes are gone, drop "x" and "\\".
_ESCAPABLE = b"/bfnrtu"
_KEEP_TABLE = bytes.maketrans(_ESCAPABLE, b"x" * len(_ESCAPABLE))
_KEEP_DELETE = bytes(c for c in range(256) if c not in b'"\\[]{}' + _ESCAPABLE)
# Digits as "0", to find runs of 19 (integers that may not fit 64 bits) with one `find`.
_DIGITS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_RUN = b"0" * 19
_DELTA = [0] * 256
for _c in b"[{":
    _DELTA[_c] = 1
for _c in b"]}":
    _DELTA[_c] = -1
_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_NUMBER_CHARS = b"-+.0123456789eE"


_TOKEN = re.compile(rb'\\.|["\[\]{}]', re.S)


def _too_deep_at(data: bytes, depth: int, in_string: bool, escape: bool) -> int:
    """Where in `data` the nesting first goes past MAX_DEPTH (the slow, exact walk: only
    done to say where a file was refused)."""
    for m in _TOKEN.finditer(data, 1 if escape else 0):
        c = m.group()
        if c == b'"':
            in_string = not in_string
        elif in_string or len(c) == 2:
            continue
        elif c in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                return m.start()
        else:
            depth -= 1
    return len(data)


class Guard:
    """Checks the JSON text in the order the parser will read it (one Guard per pass).

    `feed(data, final)` returns what may be handed to the parser now: a number cut at the end
    of a chunk is held back until it is complete. `warn(message)` reports clamped numbers."""

    def __init__(self, warn: Callable[[str], None] | None = None) -> None:
        self.warn = warn
        self.depth = 0
        self.in_string = False
        self.escape = False  # the next byte is escaped (a backslash ended the last chunk)
        self.string_run = 0  # length so far of the string the last chunk ended in
        self.offset = 0  # bytes passed on so far
        self.held = b""

    def feed(self, data: bytes, final: bool) -> bytes:
        data, self.held = self.held + data, b""
        if not data:
            return data
        start_in, start_escape = self.in_string, self.escape
        self._structure(data)
        keep = len(data)
        if not final and not self.in_string:
            keep = len(data.rstrip(_NUMBER_CHARS))
            if len(data) - keep > MAX_NUMBER:
                raise self._error(f"a number longer than {MAX_NUMBER} characters at byte {self.offset + keep}")
            self.held = data[keep:]
        zeros = data.translate(_DIGITS_ZERO)
        if zeros.find(_RUN, 0, keep) >= 0:
            data = self._clamp_integers(data, zeros, keep, start_in, start_escape)
            keep = len(data) - len(self.held)
        out = data[:keep]
        self.offset += len(out)
        return out

    # ------------------------------------------------------------------ the fast, exact scan
    def _structure(self, data: bytes) -> None:
        start_depth, start_in, start_escape = self.depth, self.in_string, self.escape
        x = data[1:] if self.escape else data
        t = x.translate(_KEEP_TABLE, _KEEP_DELETE)
        if b"\\" in t:
            if b"\\\\" in t:
                t = t.replace(b"\\\\", b"")
            t = t.replace(b'\\"', b"")
            self.escape = t.endswith(b"\\")
        else:
            self.escape = False
        t = t.translate(None, b"x\\")
        quotes = t.count(b'"')
        end_in = (self.in_string + quotes) % 2 == 1
        if quotes == 0:
            if self.in_string:
                self.string_run += len(x)
        else:  # a string ends (or starts) here: its length counts from this chunk (an upper bound)
            self.string_run = len(x) if end_in else 0
        self._check_string()
        if self.in_string:
            t = b'"' + t  # the string this chunk starts in, opened
        # Two quotes with nothing between them change no bracket's inside/outside: drop them,
        # which leaves quotes only around strings that hold brackets (few, in a HAR).
        if b'""' in t:
            t = t.replace(b'""', b"")
        brackets = b"".join(t.split(b'"')[::2]) if b'"' in t else t
        if brackets:
            opens = brackets.count(b"[") + brackets.count(b"{")
            if self.depth + opens > MAX_DEPTH:
                peak = max(itertools.accumulate(map(_DELTA.__getitem__, brackets), initial=self.depth))
                if peak > MAX_DEPTH:
                    at = self.offset + _too_deep_at(data, start_depth, start_in, start_escape)
                    raise self._error(
                        f"the JSON nests deeper than {MAX_DEPTH} levels at byte {at}; a HAR needs about 10"
                    )
            self.depth += 2 * opens - len(brackets)
        self.in_string = end_in

    def _check_string(self) -> None:
        if self.string_run > MAX_STRING:
            raise self._error(
                f"a string longer than {MAX_STRING >> 20} MiB (ending after byte {self.offset}): "
                "a body that large cannot be imported"
            )

    # ------------------------------------------------------------------ integers beyond 64 bits
    def _clamp_integers(self, data: bytes, zeros: bytes, keep: int, in_string: bool, escape: bool) -> bytes:
        """Rewrite integers outside the 64-bit range (not digits inside strings) to the nearest
        bound: the parser would reject the whole file for one of them."""
        plain: bytes | None = None  # `data` with escapes neutralised, same length (made if needed)
        out: list[bytes] = []
        done = counted = 0
        quotes = int(in_string)
        at = zeros.find(_RUN, 0, keep)
        while at >= 0:
            start = end = at
            while end < keep and zeros[end] == 0x30:
                end += 1
            at = zeros.find(_RUN, end, keep)
            if start < done or (start and data[start - 1] == 0x2E):  # "."
                continue  # the fraction of a double, or a number already rewritten
            if start and data[start - 1] == 0x2D:  # "-"
                start -= 1
            j = start - 1
            while j >= 0 and start - j < 40 and data[j] in b" \t\r\n":
                j -= 1
            if j >= 0 and data[j] not in b":,[":
                continue  # not where a JSON value starts: digits inside a string
            if plain is None:
                plain = (b"_" + data[1:]) if escape else data
                plain = plain.replace(b"\\\\", b"__").replace(b'\\"', b"__")
            quotes += plain.count(b'"', counted, start)
            counted = start
            if quotes % 2:
                continue  # inside a string after all
            token = _NUMBER.match(data, start)
            if token is None or token.end() > keep:
                continue
            text = token.group()
            if b"." in text or b"e" in text or b"E" in text:
                continue  # a double: the parser reads it (an overflow is a clear parse error)
            digits = text.lstrip(b"-")
            if len(digits) <= 19 and INT64[0] <= int(text) <= INT64[1]:  # (int() of 4300+ digits refuses)
                continue
            clamped = INT64[0] if text.startswith(b"-") else INT64[1]
            if self.warn is not None:
                shown = text[:24].decode() + ("..." if len(text) > 24 else "")
                self.warn(
                    f"integer {shown} at byte {self.offset + start} is outside the 64-bit range; read as {clamped}"
                )
            out += [data[done:start], str(clamped).encode()]
            done = token.end()
        if not out:
            return data
        out.append(data[done:])
        return b"".join(out)

    def _error(self, detail: str) -> HarError:
        return HarError("json", detail)
