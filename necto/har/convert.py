"""One HAR entry (a parsed dict) -> Entry: coerce what can be coerced, warn, or skip.

Values that differ from what export would derive from the Entry are kept in
`Entry.extra["har"]`, so that exporting an imported entry gives the same HAR.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from necto.har.derive import (
    derive_mime,
    derive_post_data,
    derive_query,
    derive_redirect,
    derive_request_cookies,
    derive_response_cookies,
    valid_ip,
)
from necto.har.report import Report
from necto.model import NOT_APPLICABLE, Entry, Header, Timings, WsMessage
from necto.vocab import is_token

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


class SkipEntry(Exception):
    pass


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
        elif not is_token(name) and not (not response and name.startswith(":") and is_token(name[1:])):
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
    """One HAR entry -> Entry, coercing what can be coerced (with warnings). Raises SkipEntry."""
    c = _Ctx(report, index, f"log.entries[{index}]")
    if not isinstance(raw, dict):
        raise SkipEntry("entry is not an object")
    req = raw.get("request")
    if not isinstance(req, dict):
        raise SkipEntry("entry has no request")
    url, method = req.get("url"), req.get("method")
    if not isinstance(url, str) or not url.strip():
        raise SkipEntry("request has no url")
    if not isinstance(method, str):
        raise SkipEntry("request has no method")
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
            given_mime = content.get("mimeType")
            if given_mime is None:
                c.warn("response.content.mimeType", "missing")
            elif given_mime != derive_mime(e):
                hcontent["mimeType"] = given_mime if isinstance(given_mime, str) else str(given_mime)
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
