"""One HAR entry (a parsed dict) -> Entry: keep what is valid HAR exactly, change only what must
change for an export to be valid HAR 1.2 (keeping the file's value under the same name with a
`_` prefix, and saying so), skip what cannot be an entry.

An Entry holds what Necto models. Whatever else the file said, and every value it wrote
differently from what export derives from the Entry, is kept in `Entry.extra["har"]`, so that
exporting an imported entry gives the file back:
  entry, request, response, content, postData, timings: fields laid over what export derives
      (the file's own spelling of values, `_` fields, comments, keys HAR does not define);
  pageref: the page the entry belonged to (export resolves it against the session's pages);
  omit: optional fields export writes by default but the file did not have;
  encoding: {"content"|"postData": "base64"|"text"} where the file chose otherwise than export.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from necto.har.derive import (
    derive_mime,
    derive_post_data,
    derive_query,
    derive_redirect,
    derive_request_cookies,
    derive_response_cookies,
    header_exportable,
    phase_total,
    text_or_base64,
    valid_ip,
)
from necto.har.export import annotations_comment
from necto.har.report import Report
from necto.model import NOT_APPLICABLE, Entry, Header, Timings, WsMessage
from necto.search.filterlang import COLORS as ANNOTATION_COLORS
from necto.urls import unbracketed_ipv6
from necto.vocab import is_token, iso_time

_DATE = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:[.,](\d+))?\s*(Z|z|[+-]\d{2}:?\d{2})?\s*$"
)
# har-schema's date pattern (for cache entries, where the zone is optional)
_SCHEMA_DATE = re.compile(
    r"^(\d{4})(-)?(\d\d)(-)?(\d\d)(T)?(\d\d)(:)?(\d\d)(:)?(\d\d)(\.\d+)?(Z|([+-])(\d\d)(:)?(\d\d))?"
)

_VERSIONS = {
    "http/1.1": "HTTP/1.1", "1.1": "HTTP/1.1", "http/1.0": "HTTP/1.0", "1.0": "HTTP/1.0",
    "http/0.9": "HTTP/0.9", "h2": "HTTP/2.0", "h2c": "HTTP/2.0", "http/2": "HTTP/2.0",
    "http/2.0": "HTTP/2.0", "2": "HTTP/2.0", "2.0": "HTTP/2.0", "h3": "HTTP/3",
    "http/3": "HTTP/3", "http/3.0": "HTTP/3", "3": "HTTP/3",
}  # fmt: skip

# What Necto models (or export derives) per HAR object; any other key is carried verbatim.
_ENTRY_KEYS = frozenset({"pageref", "startedDateTime", "time", "request", "response", "cache", "timings",
                         "serverIPAddress", "connection", "_error", "_tls", "_webSocketMessages",
                         "_webSocketClose"})  # fmt: skip
_REQUEST_KEYS = frozenset({"method", "url", "httpVersion", "cookies", "headers", "queryString", "postData",
                           "headersSize", "bodySize"})  # fmt: skip
_RESPONSE_KEYS = frozenset({"status", "statusText", "httpVersion", "cookies", "headers", "content",
                            "redirectURL", "headersSize", "bodySize", "_error"})  # fmt: skip
_CONTENT_KEYS = frozenset({"size", "compression", "mimeType", "text", "encoding", "_truncated"})
_POSTDATA_KEYS = frozenset({"mimeType", "params", "text", "encoding", "_truncated"})
_TIMING_KEYS = frozenset({"blocked", "dns", "connect", "ssl", "send", "wait", "receive"})
_CACHE_ENTRY_REQUIRED = ("lastAccess", "eTag", "hitCount")

# `time` is "explained" by the phases when it is their sum to within float noise: kept as written.
TIME_EPSILON = 0.001
# Numbers beyond this are not durations or sizes (1e308 bytes, 9.2e18 ms): refused with a warning.
MAX_MAGNITUDE = 1e15
_TOKEN_SAFE = "!#$&'*+-.^_`|~"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+\-.]*:")  # what a HAR url must start with (har-validator: format uri)
_SPACE = re.compile(r"\s")  # token characters `quote` would escape (besides letters and digits)


def parse_time(value: Any) -> tuple[float | None, bool]:
    """ISO 8601 -> epoch seconds, exact to the microsecond; (None, _) if unparseable.
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


def _fraction_digits(value: str) -> int:
    m = _DATE.match(value)
    return len(m.group(7) or "") if m else 0


def norm_version(value: Any) -> str | None:
    """A recognisable HTTP version in Necto's spelling (h2 -> HTTP/2.0), or None."""
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
    """A finite number of sensible magnitude (numbers as strings too); None otherwise."""
    t = type(value)
    if t is int or t is float:
        return float(value) if abs(value) <= MAX_MAGNITUDE else None
    if t is bool:
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) and abs(value) <= MAX_MAGNITUDE else None
    if isinstance(value, str):
        try:
            f = float(value)
        except ValueError:
            return None
        return f if math.isfinite(f) and abs(f) <= MAX_MAGNITUDE else None
    return None


def _not_number(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value!r} is out of range"
    return f"{value!r} is not a number"


def _tidy(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


def _rest(obj: dict[str, Any], known: frozenset[str], c: _Ctx | None = None, sub: str = "") -> dict[str, Any]:
    """What export would not write from the model: `_` fields, comments, keys HAR lacks.
    A `comment` must be a string (said and stringified when it is not)."""
    out = {k: v for k, v in obj.items() if k not in known}
    if "comment" in out and not isinstance(out["comment"], str):
        if c is not None:
            c.warn(f"{sub}.comment" if sub else "comment", f"{out['comment']!r} is not a string; stringified")
        out["comment"] = str(out["comment"])
    return out


@dataclass
class _Ctx:
    report: Report
    index: int
    path: str

    def warn(self, sub: str, message: str) -> None:
        self.report.warn(f"{self.path}.{sub}" if sub else self.path, message, self.index)


class SkipEntry(Exception):
    pass


# ---------------------------------------------------------------------------- headers, cookies
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
    side = "response" if response else "request"
    out: list[Header] = []
    for j, h in enumerate(items):
        if h.__class__ is dict:  # the common case first: nothing to say about it
            name, val = h.get("name"), h.get("value")
            if name.__class__ is str and val.__class__ is str and "\n" not in val and header_exportable(name, response):
                out.append((name, val))
                continue
        if isinstance(h, dict) and "name" in h:
            name, val = h.get("name"), h.get("value")
        elif isinstance(h, (list, tuple)) and len(h) == 2:
            name, val = h
        else:
            c.warn(f"{sub}[{j}]", "not a {name, value} header; ignored")
            continue
        if type(name) is not str or type(val) is not str:
            if name is not None and not isinstance(name, str) or val is not None and not isinstance(val, str):
                c.warn(f"{sub}[{j}]", "name or value is not a string; stringified")
            name = "" if name is None else str(name)
            val = "" if val is None else str(val)
        if not header_exportable(name, response):
            kind = "response pseudo-header" if response and name.startswith(":") else "invalid header name"
            c.warn(f"{sub}[{j}]", f"{kind} {name!r} (not exported in headers: kept in {side}._invalidHeaders)")
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
            if flag in ck and ck[flag] is None:
                c.warn(f"{sub}[{j}].{flag}", f"null; left out (kept in _{flag})")
                ck[f"_{flag}"] = ck.pop(flag)
            elif flag in ck and not isinstance(ck[flag], bool):
                c.warn(f"{sub}[{j}].{flag}", f"{ck[flag]!r} is not a boolean; coerced")
                ck[flag] = str(ck[flag]).strip().lower() in ("true", "1", "yes")
        if "expires" in ck and ck["expires"] is not None and parse_time(ck["expires"])[0] is None:
            c.warn(f"{sub}[{j}].expires", f"unparseable date {ck['expires']!r}; set to null")
            ck["expires"] = None
        if "expires" in ck and ck["expires"] is not None and parse_time(ck["expires"])[1]:
            c.warn(f"{sub}[{j}].expires", f"{ck['expires']!r} has no timezone; set to null (kept in _expires)")
            ck["_expires"], ck["expires"] = ck["expires"], None
        _name_value(c, ck, f"{sub}[{j}]", ("path", "domain", "comment"))
        out.append(ck)
    return out


def _name_value(
    c: _Ctx,
    obj: dict[str, Any],
    sub: str,
    optional: tuple[str, ...] = ("comment",),
    required: tuple[str, ...] = ("name", "value"),
) -> None:
    """A cookie, query parameter or postData param: the `required` fields present, and these
    and the `optional` ones strings."""
    for key in (*required, *optional):
        v = obj.get(key)
        if key not in obj:
            if key in required:
                c.warn(f"{sub}.{key}", 'missing; "" used')
                obj[key] = ""
        elif not isinstance(v, str):
            c.warn(f"{sub}.{key}", f"{v!r} is not a string; stringified")
            obj[key] = "" if v is None else str(v)


def _size(c: _Ctx, obj: dict[str, Any], key: str, sub: str) -> int | None:
    """An integer size, -1 when unknown; None when absent."""
    if key not in obj:
        return None
    v = obj[key]
    n = _number(v)
    if n is None:
        c.warn(f"{sub}.{key}", f"{_not_number(v)}; -1 used")
        return -1
    if not isinstance(v, int) or isinstance(v, bool):
        c.warn(f"{sub}.{key}", f"{v!r} is not an integer; coerced")
    return int(n) if n >= 0 else -1


# ---------------------------------------------------------------------------- bodies
def _body(
    c: _Ctx, obj: dict[str, Any], sub: str, over: dict[str, Any], har: dict[str, Any], which: str
) -> bytes | None:
    """The body bytes of a content or postData object. How the file wrote them (base64 or
    text) is remembered where export would choose otherwise."""
    text = obj.get("text")
    if text is None:
        return None
    if not isinstance(text, str):
        c.warn(f"{sub}.text", f"wrong type ({type(text).__name__}); stringified")
        text = str(text)
    enc = obj.get("encoding")
    if enc in (None, ""):
        if enc == "":
            over["encoding"] = ""
        body = text.encode("utf-8", "surrogatepass")
        if text_or_base64(body)[1] is not None:
            har.setdefault("encoding", {})[which] = "text"
        return body
    if isinstance(enc, str) and enc.lower() == "base64":
        try:
            body = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            try:
                body = base64.b64decode(text + "=" * (-len(text) % 4), validate=False)
            except (binascii.Error, ValueError):
                c.warn(
                    f"{sub}.encoding",
                    f"base64 text does not decode; body kept as text (kept in {sub.rsplit('.', 1)[-1]}._encoding)",
                )
                over["_encoding"] = enc
                return text.encode("utf-8", "surrogatepass")
        if base64.b64encode(body).decode("ascii") != text:
            c.warn(f"{sub}.text", "base64 text is not in canonical form (padding, line breaks); written canonically")
        if enc != "base64":
            over["encoding"] = enc
        if text_or_base64(body)[1] is None:
            har.setdefault("encoding", {})[which] = "base64"
        return body
    c.warn(
        f"{sub}.encoding",
        f"unsupported encoding {enc!r}; body kept as text (kept in {sub.rsplit('.', 1)[-1]}._encoding)",
    )
    over["_encoding"] = enc
    return text.encode("utf-8", "surrogatepass")


def _compression(c: _Ctx, content: dict[str, Any], over: dict[str, Any]) -> None:
    """`content.compression` as the file gave it; never negative (the original kept)."""
    if "compression" not in content:
        return
    v = content["compression"]
    n = _number(v)
    if n is None or n < 0:
        what = _not_number(v) if n is None else f"{v!r} is negative"
        c.warn("response.content.compression", f"{what}; left out (kept in content._compression)")
        over["_compression"] = v
        return
    if not isinstance(v, int) or isinstance(v, bool):
        c.warn("response.content.compression", f"{v!r} is not an integer; coerced")
        over["compression"] = int(n)
        return
    over["compression"] = v


# ---------------------------------------------------------------------------- timings
def _timings(c: _Ctx, raw: dict[str, Any], har: dict[str, Any], hentry: dict[str, Any]) -> Timings:
    """Phases as the file gave them, changed only to be valid HAR 1.2 (the rule is in the
    README, "Timings of imported entries"): ssl inside connect, send/wait/receive >= 0, `time`
    the sum of the phases; `time` is never changed when the phases explain it."""
    t = raw.get("timings")
    ht: dict[str, Any] = {}
    omit: list[str] = []
    if not isinstance(t, dict):
        c.warn("timings", "missing or not an object; phases unknown")
        if t is not None:
            hentry["_timings"] = t
        t = {}
    else:
        ht.update(_rest(t, _TIMING_KEYS, c, "timings"))
    vals: dict[str, float] = {}
    for k in ("blocked", "dns", "connect", "ssl"):
        if k not in t:
            vals[k] = NOT_APPLICABLE
            omit.append(k)
            continue
        v = t[k]
        n = _number(v)
        if n is None:
            c.warn(f"timings.{k}", f"{_not_number(v)}; -1 used")
            ht[f"_{k}"] = v
            n = NOT_APPLICABLE
        elif isinstance(v, str):
            c.warn(f"timings.{k}", f"{v!r} is not a number; coerced")
        elif n < 0 and n != NOT_APPLICABLE:
            c.warn(f"timings.{k}", f"{n:g} is negative; -1 (does not apply) used")
            ht[f"_{k}"] = v
            n = NOT_APPLICABLE
        vals[k] = n
    missing = []
    for k in ("send", "wait", "receive"):
        v = t.get(k)
        n = _number(v)
        if v is None:
            missing.append(k)
            n = 0.0
        elif n is None:
            c.warn(f"timings.{k}", f"{_not_number(v)}; 0 used")
            ht[f"_{k}"] = v
            n = 0.0
        elif isinstance(v, str):
            c.warn(f"timings.{k}", f"{v!r} is not a number; coerced")
        if n < 0:
            c.warn(f"timings.{k}", f"{n:g} is negative (HAR requires >= 0); 0 used")
            ht[f"_{k}"] = v
            n = 0.0
        vals[k] = n
    raw_time = raw.get("time")
    total = _number(raw_time)
    if missing:
        c.warn(
            "timings",
            f"missing {', '.join(missing)}; 0 used"
            + (", the rest of `time` as wait" if "wait" in missing and total else ""),
        )
    _ssl_rule(c, vals, total, t, ht, omit)
    timings = Timings(**vals)
    if total is not None and "wait" in missing:
        timings.wait = round(max(0.0, total - phase_total(timings)), 6)
    sigma = phase_total(timings)
    if total is None:
        c.warn("time", ("missing" if raw_time is None else _not_number(raw_time)) + "; the sum of the timings used")
        if raw_time is not None:
            hentry["_time"] = raw_time
    elif abs(total - sigma) <= TIME_EPSILON:
        if isinstance(raw_time, str):
            c.warn("time", f"{raw_time!r} is not a number; coerced")
        elif raw_time != _tidy(sigma):
            hentry["time"] = raw_time  # the phases explain it: as written
    else:
        c.warn(
            "time",
            f"{total:g} is not the sum of the timings ({_tidy(round(sigma, 6)):g}); the sum is used (kept in _time)",
        )
        hentry["_time"] = raw_time
    if ht:
        har["timings"] = ht
    if omit:
        har.setdefault("omit", []).extend(f"timings.{k}" for k in omit)
    return timings


def _ssl_rule(
    c: _Ctx, vals: dict[str, float], total: float | None, t: dict[str, Any], ht: dict[str, Any], omit: list[str]
) -> None:
    """Chromium and Playwright write `ssl` outside `connect`; HAR 1.2 puts it inside. Decided
    per entry from both facts: if `time` is the sum with ssl counted on its own, ssl was outside
    (connect += ssl, time kept); if `time` is the sum without it, ssl was inside (time kept; an
    ssl > connect is lowered to connect); if `time` says neither, ssl > connect means outside."""
    ssl, connect = vals["ssl"], vals["connect"]
    if ssl <= TIME_EPSILON:
        return
    base = sum(vals[k] for k in ("blocked", "dns", "connect", "send", "wait", "receive") if vals[k] >= 0)
    inside = total is not None and abs(total - base) <= TIME_EPSILON
    outside = total is not None and not inside and abs(total - base - ssl) <= TIME_EPSILON
    was = max(connect, 0.0)
    if outside or (not inside and ssl > was):
        new = round(was + ssl, 6)
        why = f"`time` {total:g} counts ssl {ssl:g} on its own" if outside else f"ssl {ssl:g} > connect {connect:g}"
        c.warn(
            "timings.ssl",
            f"ssl was outside connect ({why}): connect {connect:g} -> {_tidy(new):g} so that "
            "ssl is inside it as HAR 1.2 says (kept in timings._connect)" + ("; time kept" if outside else ""),
        )
        ht["_connect"] = t.get("connect", -1)
        vals["connect"] = new
        if "connect" in omit:
            omit.remove("connect")
    elif ssl > was:
        c.warn(
            "timings.ssl",
            f"ssl ({ssl:g}) > connect ({connect:g}) but `time` counts it inside connect: "
            f"ssl lowered to {was:g} (kept in timings._ssl); time kept",
        )
        ht["_ssl"] = t.get("ssl")
        vals["ssl"] = was


# ---------------------------------------------------------------------------- cache
def _valid_cache_entry(v: Any) -> bool:
    """har-schema's beforeRequest/afterRequest: lastAccess and expires dates, eTag, integer hitCount."""
    if not isinstance(v, dict) or not all(k in v for k in _CACHE_ENTRY_REQUIRED):
        return False
    if not isinstance(v["eTag"], str) or not isinstance(v["hitCount"], int) or isinstance(v["hitCount"], bool):
        return False
    for k in ("lastAccess", "expires"):
        if k in v and not (isinstance(v[k], str) and _SCHEMA_DATE.match(v[k])):
            return False
    return "comment" not in v or isinstance(v["comment"], str)


def _cache(c: _Ctx, raw: dict[str, Any], hentry: dict[str, Any]) -> None:
    """`cache` as given when it is valid HAR; an invalid beforeRequest/afterRequest moves to
    `cache._beforeRequest`/`_afterRequest` (har-validator rejects the file otherwise)."""
    if "cache" not in raw:
        c.warn("cache", "missing; {} used")
        return
    cache = raw["cache"]
    if not isinstance(cache, dict):
        c.warn("cache", f"wrong type ({type(cache).__name__}); {{}} used (kept in _cache)")
        hentry["_cache"] = cache
        return
    if not cache:
        return
    out: dict[str, Any] = {}
    for k, v in cache.items():
        if k in ("beforeRequest", "afterRequest") and v is not None and not _valid_cache_entry(v):
            c.warn(
                "cache",
                f"{k} is not a valid HAR cache entry (it needs lastAccess, eTag and an integer "
                f"hitCount, and dates); moved to cache._{k}",
            )
            out[f"_{k}"] = v
        else:
            out[k] = v
    if "comment" in out and not isinstance(out["comment"], str):
        c.warn("cache.comment", f"{out['comment']!r} is not a string; stringified")
        out["comment"] = str(out["comment"])
    hentry["cache"] = out


# ---------------------------------------------------------------------------- versions
def _version(c: _Ctx, obj: dict[str, Any], sub: str, over: dict[str, Any], failed: bool, fallback: str) -> str | None:
    """The version Necto models (None when unrecognised). The file's spelling is kept when it
    names a version (`h2`, `1.1`), and "" on an exchange that got no response; anything else is
    replaced (kept in `_httpVersion`) with a warning naming the replacement."""
    v = obj.get("httpVersion")
    n = norm_version(v)
    if n is not None:
        if v != n:
            over["httpVersion"] = v
        return n
    if v == "" and failed:
        over["httpVersion"] = ""
        return None
    if v is None:
        c.warn(f"{sub}.httpVersion", f"missing; {fallback}")
        return None
    over["_httpVersion"] = v
    c.warn(f"{sub}.httpVersion", f"unrecognised {v!r}; {fallback} (kept in {sub}._httpVersion)")
    return None


# ---------------------------------------------------------------------------- the entry
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
    har: dict[str, Any] = {}
    hentry: dict[str, Any] = _rest(raw, _ENTRY_KEYS, c)
    hreq: dict[str, Any] = _rest(req, _REQUEST_KEYS, c, "request")

    # ---- method and URL
    m = method.strip()
    if not m:
        c.warn("request.method", "empty; GET assumed (kept in request._method)")
        hreq["_method"], m = method, "GET"
    elif not is_token(m):
        escaped = quote(m, safe=_TOKEN_SAFE)
        c.warn("request.method", f"{m!r} is not an HTTP token; written as {escaped!r} (kept in request._method)")
        hreq["_method"], m = method, escaped
    elif m != method:
        c.warn("request.method", "surrounding whitespace removed (kept in request._method)")
        hreq["_method"] = method
    u = url.strip()
    if u != url:
        c.warn("request.url", "surrounding whitespace removed (kept in request._url)")
        hreq["_url"] = url
    if not _SCHEME.match(u):
        raise SkipEntry("request url is not absolute (HAR needs a scheme, e.g. https://)")
    if _SPACE.search(u):
        c.warn("request.url", "whitespace in the URL percent-encoded (kept in request._url)")
        hreq.setdefault("_url", url)
        u = _SPACE.sub(lambda m: quote(m.group()), u)
    bracketed = unbracketed_ipv6(u)
    if bracketed is not None:
        c.warn("request.url", f"IPv6 host without brackets; written as {bracketed!r} (kept in request._url)")
        hreq.setdefault("_url", url)
        u = bracketed

    # ---- date
    when = raw.get("startedDateTime")
    started, naive = parse_time(when)
    if started is None:
        what = "missing" if "startedDateTime" not in raw else f"unparseable ({when!r})"
        c.warn("startedDateTime", f"{what}; import time used")
        started = now
        if when is not None:
            hentry["_startedDateTime"] = when
    elif naive:
        c.warn("startedDateTime", "no timezone; UTC assumed (kept in _startedDateTime)")
        hentry["_startedDateTime"] = when
    else:
        assert isinstance(when, str)
        digits = _fraction_digits(when)
        if digits > 6:
            c.warn("startedDateTime", f"fraction of {digits} digits, finer than Necto keeps (microseconds): "
                                      "written to the millisecond (kept in _startedDateTime)")  # fmt: skip
            hentry["_startedDateTime"] = when
        elif when != iso_time(started):
            hentry["startedDateTime"] = when

    # ---- response state (decides what a missing version means)
    resp = raw.get("response")
    if resp is not None and not isinstance(resp, dict):
        c.warn("response", f"wrong type ({type(resp).__name__}); treated as no response")
        hentry["_response"] = resp
        resp = None
    status: int | None = None
    hresp: dict[str, Any] = {}
    if resp is not None:
        hresp = _rest(resp, _RESPONSE_KEYS, c, "response")
        status = _status(c, resp, hresp)
    failed = status is None

    # ---- request
    resp_version = None
    if resp is not None:
        resp_version = norm_version(resp.get("httpVersion"))
    req_version = _version(c, req, "request", hreq, failed, "response's used" if resp_version else "HTTP/1.1 used")
    e = Entry(
        session_id=session_id,
        started=started,
        method=m,
        url=u,
        http_version=req_version or resp_version or "HTTP/1.1",
        source="import",
    )
    e.request_headers = _headers(c, req.get("headers"), "request.headers", response=False)
    _post_data(c, req, e, har, hreq)
    bsize = _size(c, req, "bodySize", "request")
    if bsize is None:
        c.warn("request.bodySize", "missing; body length used")
    e.request_body_size = bsize if bsize is not None else len(e.request_body or b"")
    if req.get("cookies") is None:
        c.warn("request.cookies", ("null" if "cookies" in req else "missing") + "; read from the Cookie header")
    cookies = _cookies(c, req.get("cookies"), "request.cookies")
    if cookies is not None and cookies != derive_request_cookies(e.request_headers):
        hreq["cookies"] = cookies
    qs = req.get("queryString")
    if isinstance(qs, list):
        qs = _params(c, qs, "request.queryString")
        if qs != derive_query(e.url):
            hreq["queryString"] = qs
    elif qs is None:
        c.warn("request.queryString", "missing; read from the URL")
    else:
        c.warn(
            "request.queryString", f"wrong type ({type(qs).__name__}); read from the URL (kept in request._queryString)"
        )
        hreq["_queryString"] = qs
    hsize = _size(c, req, "headersSize", "request")
    if hsize is None:
        c.warn("request.headersSize", "missing; -1 used")
    elif hsize != -1:
        hreq["headersSize"] = hsize

    # ---- response
    hcontent: dict[str, Any] = {}
    if resp is None:
        if "response" not in raw:
            c.warn("response", "missing; imported as a request without response")
    else:
        hcontent = _response(c, resp, e, status, req_version, resp_version, hresp, har)
    if _error(raw, resp, e, hentry, hresp):
        har["errorAt"] = "entry"
    if hreq:
        har["request"] = hreq
    if hresp:
        har["response"] = hresp
    if hcontent:
        har["content"] = hcontent

    # ---- timings, connection, the rest
    e.timings = _timings(c, raw, har, hentry)
    ip = raw.get("serverIPAddress")
    if ip is not None:
        sip = str(ip).strip().strip("[]")
        if sip and valid_ip(sip):
            e.server_ip = sip
            if sip != ip:
                c.warn("serverIPAddress", f"{ip!r} written as {sip!r} (kept in _serverIPAddress)")
                hentry["_serverIPAddress"] = ip
        else:
            c.warn("serverIPAddress", f"{ip!r} is not an IP address; left out (kept in _serverIPAddress)")
            hentry["_serverIPAddress"] = ip
    conn = raw.get("connection")
    if conn is not None:
        if not isinstance(conn, str):
            c.warn("connection", f"{conn!r} is not a string; written as one")
        e.connection_id = str(conn)
        if conn == "":
            hentry["connection"] = ""
    tls = raw.get("_tls")
    if isinstance(tls, dict):
        e.tls = tls
    elif "_tls" in raw:
        hentry["_tls"] = tls
    ws = raw.get("_webSocketMessages")
    if isinstance(ws, list):
        e.websocket = _ws(c, ws)
    elif "_webSocketMessages" in raw:
        hentry["_webSocketMessages"] = ws
    if "_webSocketClose" in raw:
        e.extra["websocketClose"] = raw["_webSocketClose"]
    pageref = raw.get("pageref")
    if isinstance(pageref, str):
        har["pageref"] = pageref
    elif pageref is not None:
        c.warn("pageref", f"{pageref!r} is not a page id; left out (kept in _pageref)")
        hentry["_pageref"] = pageref
    _cache(c, raw, hentry)
    _annotations(c, hentry, e)
    if hentry:
        har["entry"] = hentry
    if har:
        e.extra["har"] = har
    return e


def _params(c: _Ctx, items: list[Any], sub: str, need_value: bool = True) -> list[dict[str, Any]]:
    """queryString / postData.params as valid HAR: objects with string names and values."""
    out = []
    for j, p in enumerate(items):
        if not isinstance(p, dict):
            c.warn(f"{sub}[{j}]", f"wrong type ({type(p).__name__}); left out")
            continue
        p = dict(p)
        if need_value:
            _name_value(c, p, f"{sub}[{j}]")
        else:
            _name_value(c, p, f"{sub}[{j}]", ("value", "fileName", "contentType", "comment"), ("name",))
        out.append(p)
    return out


def _status(c: _Ctx, resp: dict[str, Any], hresp: dict[str, Any]) -> int | None:
    """The status code, or None when the response is no response (status 0, -1, not a code)."""
    v = resp.get("status")
    n = _number(v)
    if n is not None and n.is_integer() and 0 <= n <= 999:
        if not isinstance(v, int) or isinstance(v, bool):
            c.warn("response.status", f"{v!r} is not an integer; coerced")
        return int(n) or None
    if n is not None and n < 0 and n.is_integer():
        c.warn("response.status", f"{n:g}: no response (written as 0, kept in response._status)")
    else:
        c.warn(
            "response.status",
            f"{v!r} is not a status code; treated as no response (written as 0, kept in response._status)",
        )
    hresp["_status"] = v
    return None


def _post_data(c: _Ctx, req: dict[str, Any], e: Entry, har: dict[str, Any], hreq: dict[str, Any]) -> None:
    pd = req.get("postData")
    if pd is None:
        return
    if not isinstance(pd, dict):
        c.warn("request.postData", f"wrong type ({type(pd).__name__}); ignored (kept in request._postData)")
        hreq["_postData"] = pd
        return
    over: dict[str, Any] = {}
    pd = dict(pd)
    if "mimeType" in pd and not isinstance(pd["mimeType"], str):
        c.warn("request.postData.mimeType", f"{pd['mimeType']!r} is not a string; stringified")
        pd["mimeType"] = "" if pd["mimeType"] is None else str(pd["mimeType"])
    if "params" in pd:
        if isinstance(pd["params"], list):
            pd["params"] = _params(c, pd["params"], "request.postData.params", need_value=False)
        else:
            c.warn(
                "request.postData.params",
                f"wrong type ({type(pd['params']).__name__}); left out (kept in postData._params)",
            )
            pd["_params"] = pd.pop("params")
    if "comment" in pd and not isinstance(pd["comment"], str):
        c.warn("request.postData.comment", f"{pd['comment']!r} is not a string; stringified")
        pd["comment"] = str(pd["comment"])
    e.request_body = _body(c, pd, "request.postData", over, har, "postData")
    e.request_truncated = bool(pd.get("_truncated"))
    params = pd.get("params")
    if e.request_body is None and isinstance(params, list) and params:
        mime = str(pd.get("mimeType") or "")
        if mime.lower().startswith("application/x-www-form-urlencoded") and all(isinstance(p, dict) for p in params):
            e.request_body = urlencode([(str(p.get("name", "")), str(p.get("value", ""))) for p in params]).encode()
    derived = derive_post_data(e)
    if derived:
        over.update({k: pd[k] for k in ("mimeType", "params") if k in pd and pd[k] != derived.get(k)})
        over.update(_rest(pd, _POSTDATA_KEYS))
        if "text" not in pd:
            har.setdefault("omit", []).append("postData.text")
        if "params" in derived and "params" not in pd:
            har.setdefault("omit", []).append("postData.params")
        if "mimeType" not in pd:
            c.warn("request.postData.mimeType", "missing; the Content-Type header used")
    else:  # no body to derive from (empty text, or params only): the object as written
        over = {k: v for k, v in pd.items() if k != "_truncated"}
        if "text" in over and not isinstance(over["text"], str):
            over["text"] = str(over["text"])  # (said by _body)
        if "encoding" in over and not isinstance(over["encoding"], str):
            over["_encoding"] = over.pop("encoding")
        if "mimeType" not in over:
            c.warn("request.postData.mimeType", 'missing; "" used')
            over["mimeType"] = ""
    if over:
        har["postData"] = over


def _response(
    c: _Ctx,
    resp: dict[str, Any],
    e: Entry,
    status: int | None,
    req_version: str | None,
    resp_version: str | None,
    hresp: dict[str, Any],
    har: dict[str, Any],
) -> dict[str, Any]:
    """Fill the response side of `e`; returns the content overrides."""
    failed = status is None
    e.status = status
    _version(c, resp, "response", hresp, failed, "the request's used")
    e.response_http_version = (resp_version or req_version or "") if not failed else (resp_version or "")
    if not failed and not e.response_http_version:
        e.response_http_version = e.http_version
    e.response_headers = _headers(c, resp.get("headers"), "response.headers", response=True)
    st = resp.get("statusText")
    if st is None:
        if not failed:
            c.warn("response.statusText", "missing; empty used")
    elif failed:
        if not isinstance(st, str):
            c.warn("response.statusText", f"{st!r} is not a string; stringified")
            st = str(st)
        if st != "":
            hresp["statusText"] = st
    else:
        if not isinstance(st, str):
            c.warn("response.statusText", f"{st!r} is not a string; stringified")
        e.status_text = st if isinstance(st, str) else str(st)
    content = resp.get("content")
    hcontent: dict[str, Any] = {}
    if not isinstance(content, dict):
        c.warn("response.content", "missing or not an object; no body")
        if content is not None:
            hresp["_content"] = content
        content = {}
    hcontent.update(_rest(content, _CONTENT_KEYS, c, "response.content"))
    if failed:
        # nothing was received: keep what the file says about it as written
        hcontent.update({k: content[k] for k in ("mimeType", "text", "encoding") if k in content})
        for k in ("text", "encoding"):
            if k in hcontent and not isinstance(hcontent[k], str):
                c.warn(
                    f"response.content.{k}",
                    f"wrong type ({type(hcontent[k]).__name__}); left out (kept in content._{k})",
                )
                hcontent[f"_{k}"] = hcontent.pop(k)
        size = _size(c, content, "size", "response.content")
        if size is not None:
            hcontent["size"] = size
        _compression(c, content, hcontent)
        for k, default in (("size", 0), ("mimeType", "")):
            if k not in content:
                c.warn(f"response.content.{k}", f"missing; {default!r} used")
        if "mimeType" in hcontent and not isinstance(hcontent["mimeType"], str):
            c.warn("response.content.mimeType", f"{hcontent['mimeType']!r} is not a string; stringified")
            hcontent["mimeType"] = str(hcontent["mimeType"])
        for k in ("headersSize", "bodySize"):
            n = _size(c, resp, k, "response")
            if n is not None and n != -1:
                hresp[k] = n
        cookies = _cookies(c, resp.get("cookies"), "response.cookies")
        if cookies:
            hresp["cookies"] = cookies
        redirect = resp.get("redirectURL")
        if isinstance(redirect, str) and redirect:
            hresp["redirectURL"] = redirect
        return hcontent
    e.response_body = _body(c, content, "response.content", hcontent, har, "content")
    e.response_truncated = bool(content.get("_truncated"))
    size = _size(c, content, "size", "response.content")
    if size is None:
        c.warn(
            "response.content.size", "missing; " + ("body length used" if e.response_body is not None else "-1 used")
        )
        size = len(e.response_body) if e.response_body is not None else -1
    e.response_body_size = size
    wire = _size(c, resp, "bodySize", "response")
    if wire is None:
        c.warn("response.bodySize", "missing; -1 used")
    e.response_wire_size = wire if wire is not None else -1
    _compression(c, content, hcontent)
    given_mime = content.get("mimeType")
    if given_mime is None:
        c.warn("response.content.mimeType", "missing")
    elif given_mime != derive_mime(e):
        if not isinstance(given_mime, str):
            c.warn("response.content.mimeType", f"{given_mime!r} is not a string; stringified")
        hcontent["mimeType"] = given_mime if isinstance(given_mime, str) else str(given_mime)
    if resp.get("cookies") is None:
        c.warn("response.cookies", ("null" if "cookies" in resp else "missing") + "; read from the Set-Cookie headers")
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
    return hcontent


def _error(
    raw: dict[str, Any], resp: dict[str, Any] | None, e: Entry, hentry: dict[str, Any], hresp: dict[str, Any]
) -> bool:
    """`_error` (Chrome: why there is no response) is modelled; where the file put it, and a
    value that is not a string, are kept as written. True when it was only on the entry."""
    at_response = resp.get("_error") if resp is not None else None
    at_entry = raw.get("_error")
    error = at_response if at_response is not None else at_entry
    e.error = None if error is None else str(error)
    if resp is not None and "_error" in resp and (at_response is None or not isinstance(at_response, str)):
        hresp["_error"] = at_response
    if "_error" in raw:
        hentry["_error"] = at_entry
    return at_response is None and at_entry is not None


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


MAX_ANNOTATIONS = 100
MAX_NOTE = 100_000


def _annotations(c: _Ctx, hentry: dict[str, Any], e: Entry) -> None:
    """A Necto export's `_necto.annotations` become the entry's annotations again (the importer
    stores them; `comment` said the same, so its share of it is not kept twice)."""
    ext = hentry.get("_necto")
    if not isinstance(ext, dict) or "annotations" not in ext:
        return
    rest = {k: v for k, v in ext.items() if k != "annotations"}
    if rest:
        hentry["_necto"] = rest
    else:
        del hentry["_necto"]
    items = ext["annotations"]
    if not isinstance(items, list):
        c.warn("_necto.annotations", f"not a list ({type(items).__name__}); left out")
        return
    notes: list[dict[str, Any]] = []
    for j, a in enumerate(items[:MAX_ANNOTATIONS]):
        where = f"_necto.annotations[{j}]"
        content = a.get("content") if isinstance(a, dict) else None
        if not isinstance(content, str) or not content:
            c.warn(where, "no content; left out")
            continue
        assert isinstance(a, dict)
        color = a.get("color")
        if color not in ANNOTATION_COLORS:
            c.warn(f"{where}.color", f"{color!r} is not a colour; yellow used")
            color = "yellow"
        tags = a.get("tags")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            if tags is not None:
                c.warn(f"{where}.tags", "not a list of strings; left out")
            tags = []
        stamps = [a.get(k) if isinstance(a.get(k), int) and not isinstance(a.get(k), bool) else None
                  for k in ("createdAt", "updatedAt")]  # fmt: skip
        created = stamps[0] if stamps[0] is not None else int(e.started * 1000)
        notes.append({"content": content[:MAX_NOTE], "color": color, "tags": [t[:100] for t in tags[:50]],
                      "createdAt": created, "updatedAt": stamps[1] if stamps[1] is not None else created})  # fmt: skip
    if len(items) > MAX_ANNOTATIONS:
        c.warn("_necto.annotations", f"{len(items)} annotations; the first {MAX_ANNOTATIONS} kept")
    if not notes:
        return
    e.extra["annotations"] = notes
    text = annotations_comment(notes)
    comment = hentry.get("comment")
    if comment == text:
        del hentry["comment"]
    elif isinstance(comment, str) and comment.endswith("\n\n" + text):
        hentry["comment"] = comment[: -len(text) - 2]
