"""HAR -> Entry rows: streaming, tolerant, atomic.

The file is read incrementally with ijson (C backend when available), so memory depends on the
largest entry, never on the file. Parsing runs in a worker thread one batch at a time; the store
receives each batch through `add_entries` into a hidden staging session that is published only
when the whole file parsed, so a rejected or interrupted import leaves nothing behind.

Passes over the (seekable) file:
  1. header: events up to the start of `log.entries` (version, creator, pages; structure errors);
  2. entries: `ijson.items(..., "log.entries.item")`, converted one by one;
  3. only when `version`/`creator` were not before the entries: a scan for them after it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import codecs
import contextlib
import datetime as dt
import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import ijson

from necto.har.export import (
    derive_mime,
    derive_post_data,
    derive_query,
    derive_redirect,
    derive_request_cookies,
    derive_response_cookies,
    valid_ip,
    valid_token,
)
from necto.har.validate import HarError, Report
from necto.model import NOT_APPLICABLE, Entry, Header, Timings, WsMessage
from necto.store import Store

log = logging.getLogger(__name__)

try:
    import ijson.backends.yajl2_c as _ijson

    IJSON_BACKEND = "yajl2_c"
except ImportError:  # pragma: no cover - pure Python fallback, same results, slower
    _ijson = ijson  # type: ignore[assignment]
    IJSON_BACKEND = ijson.backend

BATCH_ENTRIES = 1000
BATCH_BYTES = 8 * 1024 * 1024
READ_SIZE = 256 * 1024
_JSONP = re.compile(rb"^\s*([A-Za-z_$][\w$.]*)\s*\(")
_DATE = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:[.,](\d+))?\s*(Z|z|[+-]\d{2}:?\d{2})?\s*$"
)
_VERSIONS = {
    "http/1.1": "HTTP/1.1", "1.1": "HTTP/1.1", "http/1.0": "HTTP/1.0", "1.0": "HTTP/1.0",
    "http/0.9": "HTTP/0.9", "h2": "HTTP/2.0", "h2c": "HTTP/2.0", "http/2": "HTTP/2.0",
    "http/2.0": "HTTP/2.0", "2": "HTTP/2.0", "2.0": "HTTP/2.0", "h3": "HTTP/3",
    "http/3": "HTTP/3", "http/3.0": "HTTP/3", "3": "HTTP/3",
}  # fmt: skip
# Fields Necto models; every other `_` field (and comments) is carried in extra["har"].
_MODELLED_ENTRY = {"_error", "_tls", "_webSocketMessages", "_webSocketClose"}


# ---------------------------------------------------------------------------- byte source
class Source:
    """read(n) over a binary file that hands ijson plain UTF-8 JSON: strips a UTF-8 BOM and
    JSONP padding, transcodes UTF-16/32, and reads bytes that are not UTF-8 as Latin-1.
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
            self._warn(f"file is not valid UTF-8 (byte {self.consumed - len(data) + e.start}); read as Latin-1 from there")
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


# ---------------------------------------------------------------------------- coercions
def parse_time(value: Any) -> tuple[float | None, bool]:
    """ISO 8601 -> epoch seconds, exact to the digits given; (None, _) if unparseable.
    The flag says no timezone was given (UTC assumed). Fractions beyond 6 digits are cut."""
    if not isinstance(value, str):
        return None, False
    m = _DATE.match(value)
    if not m:
        return None, False
    y, mo, d, h, mi, s, frac, tz = m.groups()
    try:
        base = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), tzinfo=dt.UTC)
    except ValueError:
        return None, False
    offset = 0
    if tz and tz not in ("Z", "z"):
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    whole = int(base.timestamp()) - offset
    fraction = int(frac[:6]) / 10 ** len(frac[:6]) if frac else 0.0
    return whole + fraction, tz is None


def norm_version(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    v = value.strip()
    if v.startswith(("HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/3", "HTTP/0.9")) and len(v) <= 8:
        return v
    low = v.lower()
    if low in _VERSIONS:
        return _VERSIONS[low]
    if low.startswith("spdy/"):
        return "HTTP/2.0"
    if low.startswith("h3-"):
        return "HTTP/3"
    return None


def _number(value: Any) -> float | None:
    t = type(value)
    if t is int or t is float:
        return float(value) if math.isfinite(value) else None
    if t is bool:
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            f = float(value)
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def _customs(obj: dict[str, Any], skip: set[str] = frozenset()) -> dict[str, Any]:  # type: ignore[assignment]
    """`_` fields and comments: carried unmodelled so they come back out on export."""
    return {k: v for k, v in obj.items() if (k[:1] == "_" or k == "comment") and k not in skip}


@dataclass
class _Ctx:
    report: Report
    index: int
    path: str

    def warn(self, sub: str, message: str) -> None:
        self.report.warn(f"{self.path}.{sub}" if sub else self.path, message, self.index)


class _Skip(Exception):
    pass


# ---------------------------------------------------------------------------- conversion
def _headers(c: _Ctx, value: Any, sub: str, response: bool) -> list[Header]:
    if value is None:
        c.warn(sub, "missing; treated as empty")
        return []
    items: list[Any]
    if isinstance(value, dict):
        c.warn(sub, "an object instead of a list; read as name/value pairs")
        items = [{"name": k, "value": v} for k, v in value.items()]
    elif isinstance(value, list):
        items = value
    else:
        c.warn(sub, f"wrong type ({type(value).__name__}); ignored")
        return []
    out: list[Header] = []
    for j, h in enumerate(items):
        if isinstance(h, dict) and "name" in h:
            name, val = h.get("name"), h.get("value")
        elif isinstance(h, (list, tuple)) and len(h) == 2:
            name, val = h
        else:
            c.warn(f"{sub}[{j}]", "not a {name, value} header; ignored")
            continue
        name = "" if name is None else str(name)
        val = "" if val is None else (val if isinstance(val, str) else str(val))
        if response and name.startswith(":"):
            c.warn(f"{sub}[{j}]", f"response pseudo-header {name!r} (not exported)")
        elif not valid_token(name) and not (not response and name.startswith(":") and valid_token(name[1:])):
            c.warn(f"{sub}[{j}]", f"invalid header name {name!r}" + (" (not exported)" if response else ""))
        if "\n" in val:
            c.warn(f"{sub}[{j}]", f"value of {name!r} contains newlines; split into one header per line")
            out.extend((name, part.strip("\r")) for part in val.split("\n"))
        else:
            out.append((name, val))
    return out


def _cookies(c: _Ctx, value: Any, sub: str) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if isinstance(value, dict):
        c.warn(sub, "an object instead of a list; coerced")
        value = [value] if "name" in value else [{"name": k, "value": v} for k, v in value.items()]
    if not isinstance(value, list):
        c.warn(sub, f"wrong type ({type(value).__name__}); ignored")
        return None
    out = []
    for j, ck in enumerate(value):
        if not isinstance(ck, dict):
            c.warn(f"{sub}[{j}]", "not a cookie object; ignored")
            continue
        ck = dict(ck)
        for flag in ("httpOnly", "secure"):
            if flag in ck and not isinstance(ck[flag], bool) and ck[flag] is not None:
                c.warn(f"{sub}[{j}].{flag}", f"{ck[flag]!r} is not a boolean; coerced")
                ck[flag] = str(ck[flag]).strip().lower() in ("true", "1", "yes")
        if "expires" in ck and ck["expires"] is not None and parse_time(ck["expires"])[0] is None:
            c.warn(f"{sub}[{j}].expires", f"unparseable date {ck['expires']!r}; set to null")
            ck["expires"] = None
        out.append(ck)
    return out


def _size(c: _Ctx, obj: dict[str, Any], key: str, sub: str) -> int | None:
    """An integer size, -1 when unknown; None when absent."""
    if key not in obj:
        return None
    v = obj[key]
    n = _number(v)
    if n is None or not isinstance(v, int) or isinstance(v, bool):
        if n is None:
            c.warn(f"{sub}.{key}", f"{v!r} is not a number; -1 used")
            return -1
        c.warn(f"{sub}.{key}", f"{v!r} is not an integer; coerced")
    return int(n) if n >= 0 else -1


def _body(c: _Ctx, obj: dict[str, Any], sub: str) -> bytes | None:
    text = obj.get("text")
    if text is None:
        return None
    if not isinstance(text, str):
        c.warn(f"{sub}.text", f"wrong type ({type(text).__name__}); stringified")
        text = str(text)
    enc = obj.get("encoding")
    if enc in (None, ""):
        return text.encode("utf-8", "surrogatepass")
    if isinstance(enc, str) and enc.lower() == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            try:
                return base64.b64decode(text + "=" * (-len(text) % 4), validate=False)
            except (binascii.Error, ValueError):
                c.warn(f"{sub}.encoding", "base64 text does not decode; body kept as text")
                return text.encode("utf-8", "surrogatepass")
    c.warn(f"{sub}.encoding", f"unsupported encoding {enc!r}; body kept as text")
    return text.encode("utf-8", "surrogatepass")


def _timings(c: _Ctx, raw: dict[str, Any], extra: dict[str, Any]) -> Timings:
    t = raw.get("timings")
    if not isinstance(t, dict):
        c.warn("timings", "missing or not an object; phases unknown")
        t = {}
    vals: dict[str, float] = {}
    for k in ("blocked", "dns", "connect", "ssl"):
        n = _number(t.get(k))
        if k in t and t[k] is not None and (n is None or isinstance(t[k], str)):
            c.warn(f"timings.{k}", f"{t[k]!r} is not a number; coerced")
        vals[k] = n if n is not None and n >= 0 else NOT_APPLICABLE
    missing = []
    for k in ("send", "wait", "receive"):
        n = _number(t.get(k))
        if n is None:
            missing.append(k)
            vals[k] = 0.0
        elif n < 0:
            c.warn(f"timings.{k}", f"{n:g} is negative (HAR requires >= 0); 0 used")
            vals[k] = 0.0
        else:
            vals[k] = n
    total = _number(raw.get("time"))
    if missing:
        c.warn("timings", f"missing {', '.join(missing)}; 0 used" + (", the rest of `time` as wait" if "wait" in missing and total else ""))
    if vals["ssl"] >= 0 and vals["ssl"] > max(vals["connect"], 0):
        c.warn("timings.ssl", f"ssl ({vals['ssl']:g}) > connect ({vals['connect']:g}): ssl was outside connect; added to it")
        vals["connect"] = max(vals["connect"], 0) + vals["ssl"]
    timings = Timings(**vals)
    if total is not None and "wait" in missing:
        timings.wait = round(max(0.0, total - timings.total), 3)
    if total is None:
        c.warn("time", "missing or not a number; the sum of the timings used")
    elif abs(total - timings.total) > 1.0:
        c.warn("time", f"{total:g} is not the sum of the timings ({timings.total:g}); the sum is used")
    custom = _customs(t)
    if custom:
        extra["timings"] = custom
    return timings


def convert_entry(raw: Any, index: int, session_id: str, report: Report, now: float) -> Entry:
    """One HAR entry -> Entry, coercing what can be coerced (with warnings). Raises _Skip."""
    c = _Ctx(report, index, f"log.entries[{index}]")
    if not isinstance(raw, dict):
        raise _Skip("entry is not an object")
    req = raw.get("request")
    if not isinstance(req, dict):
        raise _Skip("entry has no request")
    url, method = req.get("url"), req.get("method")
    if not isinstance(url, str) or not url.strip():
        raise _Skip("request has no url")
    if not isinstance(method, str):
        raise _Skip("request has no method")
    url = url.strip()
    if not method.strip():
        c.warn("request.method", "empty; GET assumed")
        method = "GET"
    if "://" not in url and not url.startswith(("data:", "blob:", "about:")):
        c.warn("request.url", "not an absolute URL")
    har: dict[str, dict[str, Any]] = {}

    started, naive = parse_time(raw.get("startedDateTime"))
    if started is None:
        what = "missing" if "startedDateTime" not in raw else f"unparseable ({raw.get('startedDateTime')!r})"
        c.warn("startedDateTime", f"{what}; import time used")
        started = now
    elif naive:
        c.warn("startedDateTime", "no timezone; UTC assumed")

    # ---- request
    req_version = norm_version(req.get("httpVersion"))
    resp = raw.get("response")
    if resp is not None and not isinstance(resp, dict):
        c.warn("response", f"wrong type ({type(resp).__name__}); treated as no response")
        resp = None
    failed = resp is None or _number(resp.get("status")) in (None, 0) or (_number(resp.get("status")) or 0) < 0
    resp_version = norm_version(resp.get("httpVersion")) if resp is not None else None
    if req_version is None:
        v = req.get("httpVersion")
        if v not in (None, "") or not failed:
            c.warn("request.httpVersion", f"unrecognised {v!r}; " + ("response's used" if resp_version else "HTTP/1.1 used"))
        req_version = resp_version or "HTTP/1.1"
    e = Entry(
        session_id=session_id,
        started=started,
        method=method.strip(),
        url=url,
        http_version=req_version,
        source="import",
    )
    e.request_headers = _headers(c, req.get("headers"), "request.headers", response=False)
    hreq: dict[str, Any] = _customs(req)
    pd = req.get("postData")
    if pd is not None and not isinstance(pd, dict):
        c.warn("request.postData", f"wrong type ({type(pd).__name__}); ignored")
        pd = None
    if pd is not None:
        e.request_body = _body(c, pd, "request.postData")
        e.request_truncated = bool(pd.get("_truncated"))
        params = pd.get("params")
        if e.request_body is None and isinstance(params, list) and params:
            mime = str(pd.get("mimeType") or "")
            if mime.lower().startswith("application/x-www-form-urlencoded") and all(isinstance(p, dict) for p in params):
                from urllib.parse import urlencode

                e.request_body = urlencode([(str(p.get("name", "")), str(p.get("value", ""))) for p in params]).encode()
        derived = derive_post_data(e) or {}
        if derived:
            over = {k: pd[k] for k in ("mimeType", "params") if k in pd and pd[k] != derived.get(k)}
            over.update(_customs(pd, {"_truncated"}))
        else:
            over = {k: v for k, v in pd.items() if k != "_truncated"} if (pd.get("text") or pd.get("params")) else {}
        if over:
            har["postData"] = over
    bsize = _size(c, req, "bodySize", "request")
    if bsize is None:
        c.warn("request.bodySize", "missing; body length used")
    e.request_body_size = bsize if bsize is not None else len(e.request_body or b"")
    cookies = _cookies(c, req.get("cookies"), "request.cookies")
    if cookies is not None and cookies != derive_request_cookies(e.request_headers):
        hreq["cookies"] = cookies
    qs = req.get("queryString")
    if isinstance(qs, list) and qs != derive_query(e.url):
        hreq["queryString"] = qs
    hsize = _size(c, req, "headersSize", "request")
    if hsize is None:
        c.warn("request.headersSize", "missing; -1 used")
    elif hsize != -1:
        hreq["headersSize"] = hsize
    if hreq:
        har["request"] = hreq

    # ---- response
    hresp: dict[str, Any] = {}
    hcontent: dict[str, Any] = {}
    if resp is None:
        if "response" not in raw:
            c.warn("response", "missing; imported as a request without response")
    else:
        hresp = _customs(resp, {"_error"})
        status_raw = resp.get("status")
        status = _number(status_raw)
        if status is None or isinstance(status_raw, str) or (status is not None and status != int(status)):
            c.warn("response.status", f"{status_raw!r} is not an integer; coerced")
        content = resp.get("content")
        if failed:
            if status is not None and status < 0:
                c.warn("response.status", f"{status:g}: no response")
            if isinstance(content, dict):
                hcontent = _customs(content)
        else:
            assert status is not None
            e.status = int(status)
            st = resp.get("statusText")
            if st is None:
                c.warn("response.statusText", "missing; empty used")
            e.status_text = "" if st is None else str(st)
            if resp_version is None:
                v = resp.get("httpVersion")
                c.warn("response.httpVersion", f"unrecognised {v!r}; the request's used")
            e.response_http_version = resp_version or req_version
            e.response_headers = _headers(c, resp.get("headers"), "response.headers", response=True)
            if not isinstance(content, dict):
                c.warn("response.content", "missing or not an object; no body")
                content = {}
            e.response_body = _body(c, content, "response.content")
            e.response_truncated = bool(content.get("_truncated"))
            size = _size(c, content, "size", "response.content")
            if size is None:
                c.warn("response.content.size", "missing; " + ("body length used" if e.response_body is not None else "-1 used"))
                size = len(e.response_body) if e.response_body is not None else -1
            e.response_body_size = size
            wire = _size(c, resp, "bodySize", "response")
            if wire is None:
                c.warn("response.bodySize", "missing; -1 used")
            e.response_wire_size = wire if wire is not None else -1
            hcontent = _customs(content, {"_truncated"})
            mime = content.get("mimeType")
            if mime is None:
                c.warn("response.content.mimeType", "missing")
            elif mime != derive_mime(e):
                hcontent["mimeType"] = mime if isinstance(mime, str) else str(mime)
            cookies = _cookies(c, resp.get("cookies"), "response.cookies")
            if cookies is not None and cookies != derive_response_cookies(e.response_headers):
                hresp["cookies"] = cookies
            redirect = resp.get("redirectURL")
            if redirect is None:
                c.warn("response.redirectURL", "null or missing; empty string used" if "redirectURL" in resp else "missing")
                redirect = ""
            if not isinstance(redirect, str):
                c.warn("response.redirectURL", "not a string; stringified")
                redirect = str(redirect)
            if redirect != derive_redirect(e):
                hresp["redirectURL"] = redirect
            hsize = _size(c, resp, "headersSize", "response")
            if hsize is None:
                c.warn("response.headersSize", "missing; -1 used")
            elif hsize != -1:
                hresp["headersSize"] = hsize
    error = (resp or {}).get("_error") if resp is not None else None
    error = error if error is not None else raw.get("_error")
    e.error = None if error is None else str(error)
    if hresp:
        har["response"] = hresp
    if hcontent:
        har["content"] = hcontent

    # ---- timings and connection
    e.timings = _timings(c, raw, har)
    ip = raw.get("serverIPAddress")
    if ip is not None:
        sip = str(ip).strip().strip("[]")
        if sip and valid_ip(sip):
            e.server_ip = sip
        else:
            c.warn("serverIPAddress", f"{ip!r} is not an IP address; left out")
    conn = raw.get("connection")
    if conn not in (None, ""):
        e.connection_id = str(conn)
    tls = raw.get("_tls")
    if isinstance(tls, dict):
        e.tls = tls
    ws = raw.get("_webSocketMessages")
    if isinstance(ws, list):
        e.websocket = _ws(c, ws)
    close = raw.get("_webSocketClose")
    if close is not None:
        e.extra["websocketClose"] = close
    hentry = _customs(raw, _MODELLED_ENTRY)
    cache = raw.get("cache")
    if cache not in (None, {}):
        hentry["cache"] = cache
    if hentry:
        har["entry"] = hentry
    if har:
        e.extra["har"] = har
    return e


def _ws(c: _Ctx, items: list[Any]) -> list[WsMessage]:
    out = []
    for j, m in enumerate(items):
        if not isinstance(m, dict):
            c.warn(f"_webSocketMessages[{j}]", "not an object; ignored")
            continue
        opcode = int(_number(m.get("opcode")) or 1)
        data = m.get("data")
        data = "" if data is None else str(data)
        if opcode == 1:
            payload = data.encode("utf-8", "surrogatepass")
        else:
            try:
                payload = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                payload = data.encode("utf-8", "surrogatepass")
        kind = m.get("type")
        if kind not in ("send", "receive"):
            c.warn(f"_webSocketMessages[{j}].type", f"{kind!r} is not send/receive; receive used")
            kind = "receive"
        out.append(WsMessage(kind, _number(m.get("time")) or 0.0, opcode, payload))
    return out


# ---------------------------------------------------------------------------- the reader
class HarReader:
    """Parses a HAR file into batches of Entry (a blocking generator: run it in a thread).

    `open_file` opens the file afresh; it is called once per pass. `report` collects the
    header facts, warnings and skips; `HarError` rejects the whole file."""

    def __init__(
        self,
        open_file: Callable[[], IO[bytes]],
        session_id: str,
        *,
        progress: Callable[[int], None] | None = None,
        now: float | None = None,
    ) -> None:
        self.open_file = open_file
        self.session_id = session_id
        self.report = Report()
        self.progress = progress
        self.now = now if now is not None else time.time()
        self.cancelled = False

    # -- pass 1 and 3
    def _scan(self, after_entries: bool) -> dict[str, Any]:
        """Build the small `log` members (everything but entries) from parse events.

        Before the entries (pass 1) it stops at `log.entries`; after them (pass 3) it skips
        the entries cheaply and collects what follows."""
        meta: dict[str, Any] = {}
        state: dict[str, Any] = {"log": None, "entries": None}
        key: str | None = None
        builder: Any = None
        depth = 0
        first = True
        with self.open_file() as raw:
            try:
                for prefix, event, value in _ijson.parse(Source(raw), use_float=True):
                    if first:
                        first = False
                        if event != "start_map":
                            raise HarError("log", "the top level is not an object")
                    if builder is not None:
                        builder.event(event, value)
                        if event in ("start_map", "start_array"):
                            depth += 1
                        elif event in ("end_map", "end_array"):
                            depth -= 1
                        if depth == 0:
                            meta[key] = builder.value  # type: ignore[index]
                            builder = None
                        continue
                    if prefix == "" and event == "map_key" and value == "log":
                        state["log"] = "pending"
                        continue
                    if prefix == "log":
                        if state["log"] == "pending":
                            state["log"] = "object" if event == "start_map" else "invalid"
                        elif event == "map_key":
                            key = value
                        continue
                    if key is None or not prefix.startswith("log."):
                        continue
                    if prefix == "log.entries":
                        if state["entries"] is None:
                            state["entries"] = "array" if event == "start_array" else "invalid"
                            if not after_entries and state["entries"] == "array":
                                return {"__meta__": meta, "__stopped__": True}
                        continue
                    if prefix.startswith("log.entries."):
                        continue
                    if prefix == f"log.{key}" and builder is None and key not in meta:
                        builder = ijson.common.ObjectBuilder()
                        builder.event(event, value)
                        depth = 1 if event in ("start_map", "start_array") else 0
                        if depth == 0:
                            meta[key] = builder.value
                            builder = None
            except ijson.JSONError as e:
                raise HarError("json", _short(e)) from None
        if first:
            raise HarError("json", "the file is empty")
        if state["log"] != "object":
            raise HarError("log")
        if state["entries"] != "array":
            raise HarError("entries")
        return {"__meta__": meta, "__stopped__": False}

    def _apply_meta(self, meta: dict[str, Any], final: bool) -> None:
        r = self.report
        version = meta.get("version")
        if isinstance(version, str) and version.strip():
            r.version = version.strip()
        elif version is not None:
            r.warn("log.version", f"{version!r} is not a string; coerced")
            r.version = str(version)
        elif final:
            r.warn("log.version", 'missing; "1.2" assumed')
        creator = meta.get("creator")
        if isinstance(creator, dict):
            name, ver = creator.get("name"), creator.get("version")
            if not isinstance(name, str) or not isinstance(ver, str):
                r.warn("log.creator", "name and version should be strings; coerced")
            r.creator = {"name": "Unknown" if name is None else str(name), "version": "" if ver is None else str(ver)}
        elif creator is not None:
            r.warn("log.creator", f"wrong type ({type(creator).__name__}); \"Unknown\" used")
        elif final:
            r.warn("log.creator", 'missing; "Unknown" used')
        if final and "pages" in meta:
            pages = meta["pages"]
            if pages is None:
                r.warn("log.pages", "null; treated as no pages")
            elif not isinstance(pages, list):
                r.warn("log.pages", f"wrong type ({type(pages).__name__}); ignored")
            else:
                for j, p in enumerate(pages):
                    if not isinstance(p, dict):
                        r.warn(f"log.pages[{j}]", "not an object")
                        continue
                    t, naive = parse_time(p.get("startedDateTime"))
                    if t is None:
                        r.warn(f"log.pages[{j}].startedDateTime", "missing or unparseable")
                    elif naive:
                        r.warn(f"log.pages[{j}].startedDateTime", "no timezone; UTC assumed")

    # -- pass 2
    def batches(self, max_entries: int = BATCH_ENTRIES, max_bytes: int = BATCH_BYTES) -> Iterator[list[Entry]]:
        head = self._scan(after_entries=False)
        meta = head["__meta__"]
        complete = "version" in meta and "creator" in meta
        batch: list[Entry] = []
        size = 0
        index = -1
        with self.open_file() as raw:
            src = Source(raw, self.report)
            try:
                for index, item in enumerate(_ijson.items(src, "log.entries.item", use_float=True)):
                    if self.cancelled:
                        raise HarError("json", "cancelled")
                    try:
                        entry = convert_entry(item, index, self.session_id, self.report, self.now)
                    except _Skip as s:
                        self.report.skip(index, str(s))
                        continue
                    except Exception as ex:  # a shape no rule foresaw: skip it, never fail the file
                        log.debug("entry %d skipped", index, exc_info=True)
                        self.report.skip(index, f"could not read entry: {ex}")
                        continue
                    batch.append(entry)
                    size += len(entry.request_body or b"") + len(entry.response_body or b"") + 512
                    if len(batch) >= max_entries or size >= max_bytes:
                        if self.progress:
                            self.progress(src.consumed)
                        self.report.imported += len(batch)
                        yield batch
                        batch, size = [], 0
            except ijson.JSONError as e:
                raise HarError("json", _short(e)) from None
            self.report.total = index + 1
            if self.progress:
                self.progress(src.consumed)
        if not complete:
            meta = {**self._scan(after_entries=True)["__meta__"], **meta}
        self._apply_meta(meta, final=True)
        if self.report.total == 0:
            self.report.warn("log.entries", "empty: the file contains no traffic")
        self.report.imported += len(batch)
        if batch:
            yield batch


def _short(e: Exception) -> str:
    text = str(e)
    if isinstance(e.args[0] if e.args else None, bytes):
        text = e.args[0].decode("utf-8", "replace")
    return " ".join(text.split())[:300]


# ---------------------------------------------------------------------------- atomic import
class SessionNotFound(Exception):
    pass


@dataclass
class ImportResult:
    session_id: str
    session_name: str
    report: Report

    def as_json(self) -> dict[str, Any]:
        r = self.report
        out: dict[str, Any] = {
            "success": True,
            "imported": r.imported,
            "total": r.total,
            "sessionId": self.session_id,
            "sessionName": self.session_name,
            "skipped": r.skipped,
            "skippedCount": r.skipped_count,
            "warnings": r.warnings_json(),
            "warningCount": r.warning_count,
        }
        return out


async def import_har(
    store: Store,
    open_file: Callable[[], IO[bytes]],
    *,
    session_name: str,
    session_id: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import a HAR file into a new session (or `session_id`), all or nothing.

    Entries go into a hidden staging session batch by batch and are published in one
    transaction at the end; any failure (HarError, cancellation, crash) drops the staging."""
    target = None
    if session_id is not None:
        target = await store.get_session(session_id)
        if target is None:
            raise SessionNotFound(session_id)
    staging = await store.create_staging_session(session_name if target is None else f"import into {target.name}")
    reader = HarReader(open_file, staging, progress=progress)
    gen = reader.batches()
    pending: asyncio.Future[list[Entry] | None] | None = None
    try:
        # Parse the next batch in its thread while this one is written (SQLite frees the GIL).
        pending = asyncio.ensure_future(asyncio.to_thread(next, gen, None))
        while True:
            batch = await pending
            pending = None
            if batch is None:
                break
            pending = asyncio.ensure_future(asyncio.to_thread(next, gen, None))
            await store.add_entries(batch)
        try:
            final = await store.commit_staging(staging, into=session_id)
        except KeyError:
            raise SessionNotFound(session_id or "") from None
    except BaseException:
        reader.cancelled = True
        if pending is not None:
            with contextlib.suppress(BaseException):
                await asyncio.shield(pending)
        try:
            gen.close()
        except ValueError:  # still running in its thread: it stops at the next entry
            pass
        await asyncio.shield(store.drop_staging(staging))
        raise
    name = target.name if target is not None else session_name
    return ImportResult(final, name, reader.report)


def load_entries(path: str | Path, session_id: str = "") -> Iterator[Entry]:
    """Every importable entry of a HAR file, streamed (blocking; for replay, diff and tools).
    Raises HarError when the file as a whole is not a HAR."""
    reader = HarReader(lambda: open(path, "rb"), session_id)
    for batch in reader.batches():
        yield from batch
