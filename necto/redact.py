"""Redaction of HAR entries for sharing ("review HAR files before sharing").

Pure functions over HAR 1.2 dicts, so export can apply them entry by entry while it streams:

    redactor = Redactor()
    for har_entry in entries:            # dicts in the HAR 1.2 entry shape
        redactor.redact_entry(har_entry)  # in place; counts by kind
    log["comment"] = redaction_comment(redactor.counts, log.get("comment"))

Masked: Authorization, Proxy-Authorization, Cookie and Set-Cookie values, API-key-like headers
and query parameters, credential-named fields (password, token, ...), JWTs, and every kind in
`necto.inventory.sensitive` wherever it appears (URLs, headers, JSON values, form fields, text,
WebSocket messages, `_` extension fields). A credential found in one place is also replaced
wherever else it reappears, later entries included. The result is still a valid HAR: only string
values change, URLs stay percent-encoded, and `content.size` follows the new text.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import orjson

from necto.inventory.auth import API_KEY_HEADER_RE, API_KEY_QUERY_RE, decode_jwt
from necto.inventory.sensitive import is_secret_key, mask, redact_json, redact_text
from necto.vocab import is_text_mime

MIN_KNOWN = 6  # shorter credentials are not chased through other text (too many false hits)
URL_HEADERS = frozenset({"referer", "location", "content-location", "origin", "link"})
# `name=value` or `name: value` in free text; the value is masked when the name says credential.
_ASSIGNMENT = re.compile(r"(?<![\w-])(?P<key>[A-Za-z_][\w-]{1,40})(?P<sep>=|:(?!//)[ \t]*)(?P<value>[^\s&;,'\"<>]{4,})")
KEEP_FIELDS = frozenset(
    {"startedDateTime", "serverIPAddress", "connection", "pageref", "httpVersion", "method",
     "mimeType", "encoding", "status", "statusText", "time", "url", "redirectURL"}
)  # fmt: skip


def redaction_comment(counts: dict[str, int], existing: str | None = None) -> str:
    """`log.comment` text saying which kinds were redacted and how many."""
    if counts:
        parts = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        text = f"Redacted by Necto for sharing: {parts}."
    else:
        text = "Redacted by Necto for sharing: nothing sensitive was found."
    return f"{existing}\n{text}" if existing else text


class Redactor:
    """Redacts HAR entries one at a time; `counts` adds up what was masked, by kind."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._known: set[str] = set()
        self._known_re: re.Pattern[str] | None = None

    # ------------------------------------------------------------ bookkeeping
    def _count(self, kind: str, n: int = 1) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + n

    @contextlib.contextmanager
    def _uncounted(self) -> Iterator[None]:
        """Mask without counting: for HAR fields that repeat another field's values."""
        saved = dict(self.counts)
        try:
            yield
        finally:
            self.counts = saved

    def _remember(self, secret: str) -> None:
        secret = secret.strip()
        if len(secret) >= MIN_KNOWN and secret not in self._known:
            self._known.add(secret)
            for variant in (quote(secret, safe=""), quote(secret)):
                self._known.add(variant)
            alternatives = sorted(self._known, key=len, reverse=True)
            self._known_re = re.compile("|".join(re.escape(s) for s in alternatives))

    def _chase(self, text: str) -> str:
        """Replace credentials already seen elsewhere."""
        if self._known_re is None or not text:
            return text
        new, n = self._known_re.subn(mask("secret"), text)
        if n:
            self._count("secret", n)
        return new

    def text(self, value: str) -> str:
        return redact_text(self._chase(self._assignments(value)), self.counts)

    def _assignments(self, text: str) -> str:
        """`api_key=...`, `token: ...` and URLs written in free text (titles, notes, logs)."""
        if "=" not in text and ":" not in text:
            return text

        def sub(m: re.Match[str]) -> str:
            key, value = m["key"], m["value"]
            if API_KEY_QUERY_RE.match(key):
                return f"{key}{m['sep']}{self._credential('api_key', value)}"
            if is_secret_key(key):
                return f"{key}{m['sep']}{self._credential('secret', value)}"
            return m.group(0)

        return _ASSIGNMENT.sub(sub, text)

    # ------------------------------------------------------------ pieces
    def _credential(self, kind: str, value: str) -> str:
        self._remember(value)
        self._count(kind)
        return mask(kind)

    def authorization(self, value: str) -> str:
        scheme, sep, credential = value.strip().partition(" ")
        if not sep:
            kind = "jwt" if decode_jwt(scheme) else "authorization"
            return self._credential(kind, scheme)
        kind = "jwt" if decode_jwt(credential.strip()) else "authorization"
        if scheme.lower() == "basic":
            try:
                user_pass = base64.b64decode(credential.strip(), validate=True).decode("utf-8", "replace")
                self._remember(user_pass.partition(":")[2])
            except (binascii.Error, ValueError):
                pass
        return f"{scheme} {self._credential(kind, credential.strip())}"

    def cookie_header(self, value: str) -> str:
        parts = []
        for part in value.split(";"):
            name, sep, val = part.strip().partition("=")
            parts.append(f"{name}={self._credential('cookie', val)}" if sep else part.strip())
        return "; ".join(p for p in parts if p)

    def set_cookie(self, value: str) -> str:
        first, sep, attributes = value.partition(";")
        name, eq, val = first.partition("=")
        if not eq:
            return value
        return f"{name.strip()}={self._credential('cookie', val.strip())}{sep}{attributes}"

    def param_value(self, name: str, value: str) -> str:
        """A query, form or postData parameter: credentials by name, else content detection."""
        if API_KEY_QUERY_RE.match(name) or is_secret_key(name):
            if not value:
                return value
            return self._credential("api_key" if API_KEY_QUERY_RE.match(name) else "secret", value)
        return self.text(value)

    def url(self, url: str) -> str:
        """Mask credential query values and sensitive path segments, keeping the URL valid."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return self.text(url)
        if parts.scheme not in ("http", "https", "ws", "wss"):
            return url
        segments = []
        for seg in parts.path.split("/"):
            plain = unquote(seg)
            redacted = self.text(plain)
            segments.append(seg if redacted == plain else quote(redacted, safe=""))
        query = parts.query
        if query:
            pairs = []
            for piece in query.split("&"):
                name, eq, value = piece.partition("=")
                plain = unquote(value.replace("+", " "))
                redacted = self.param_value(unquote(name), plain) if eq else plain
                pairs.append(f"{name}={quote(redacted, safe='') if redacted != plain else value}" if eq else piece)
            query = "&".join(pairs)
        netloc = parts.netloc
        if "@" in netloc:  # user:password@host
            userinfo, _, hostport = netloc.rpartition("@")
            self._credential("authorization", unquote(userinfo))
            netloc = f"{quote(mask('authorization'), safe='')}@{hostport}"
        return urlunsplit(
            (parts.scheme, netloc, "/".join(segments), query, self.text(parts.fragment) if parts.fragment else "")
        )

    def header(self, h: dict[str, Any], side: str) -> None:
        name, value = str(h.get("name", "")), h.get("value")
        if not isinstance(value, str) or not value:
            return
        low = name.lower()
        if low in ("authorization", "proxy-authorization"):
            h["value"] = self.authorization(value)
        elif low == "cookie":
            h["value"] = self.cookie_header(value)
        elif low == "set-cookie":
            h["value"] = "\n".join(self.set_cookie(line) for line in value.split("\n"))
        elif API_KEY_HEADER_RE.match(low) or is_secret_key(name):
            h["value"] = self._credential("api_key", value)
        elif low in URL_HEADERS and "://" in value:
            h["value"] = self.url(value)
        elif not low.startswith(":") and low != "host":
            h["value"] = self.text(value)

    def body_text(self, text: str, mime: str) -> str:
        m = mime.split(";", 1)[0].strip().lower()
        if "json" in m or (not m and text.lstrip()[:1] in ("{", "[")):
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError:
                return self.text(text)
            redacted = redact_json(self._chase_json(value), self.counts)
            if redacted == value:
                return text
            return orjson.dumps(redacted).decode()
        if m == "application/x-www-form-urlencoded":
            pairs = parse_qsl(text, keep_blank_values=True)
            if pairs:
                new = [(k, self.param_value(k, v)) for k, v in pairs]
                return text if new == pairs else urlencode(new)
        return self.text(text)

    def _chase_json(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._chase_json(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._chase_json(v) for v in value]
        if isinstance(value, str):
            return self._chase(value)
        return value

    def content(self, content: dict[str, Any]) -> None:
        """`response.content`: decode base64 when the body is text, redact, keep the encoding."""
        text = content.get("text")
        if not isinstance(text, str) or not text:
            return
        mime = str(content.get("mimeType") or "")
        if content.get("encoding") == "base64":
            try:
                raw = base64.b64decode(text, validate=False)
            except (binascii.Error, ValueError):
                content["text"] = self.text(text)
                return
            try:
                decoded = raw.decode("utf-8")
            except UnicodeDecodeError:
                new_raw = self._chase_bytes(raw)
                if new_raw != raw:
                    content["text"] = base64.b64encode(new_raw).decode("ascii")
                return
            if not is_text_mime(mime) and not decoded.isprintable() and "\n" not in decoded:
                return
            new = self.body_text(decoded, mime)
            if new != decoded:
                content["text"] = base64.b64encode(new.encode()).decode("ascii")
                content["size"] = len(new.encode())
            return
        new = self.body_text(text, mime)
        if new != text:
            content["text"] = new
            if isinstance(content.get("size"), int) and content["size"] >= 0:
                content["size"] = len(new.encode())

    def _chase_bytes(self, raw: bytes) -> bytes:
        """Binary bodies keep their length: known credentials become X's of the same size."""
        for secret in sorted(self._known, key=len, reverse=True):
            b = secret.encode()
            if b in raw:
                self._count("secret", raw.count(b))
                raw = raw.replace(b, b"X" * len(b))
        return raw

    def post_data(self, post: dict[str, Any]) -> None:
        mime = str(post.get("mimeType") or "")
        params = post.get("params")
        text = post.get("text")
        with self._uncounted() if isinstance(text, str) and text else contextlib.nullcontext():
            for p in params if isinstance(params, list) else []:
                if isinstance(p, dict) and isinstance(p.get("value"), str):
                    p["value"] = self.param_value(str(p.get("name", "")), p["value"])
        if isinstance(text, str) and text:
            if post.get("encoding") == "base64":
                holder = {"text": text, "encoding": "base64", "mimeType": mime}
                self.content(holder)
                post["text"] = holder["text"]
            else:
                post["text"] = self.body_text(text, mime)

    def extensions(self, value: Any, key: str = "") -> Any:
        """`_` fields and comments: whatever they hold, chase credentials and sensitive text."""
        if isinstance(value, dict):
            return {k: self.extensions(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.extensions(v, key) for v in value]
        if isinstance(value, str) and key not in KEEP_FIELDS:
            return self.text(value)
        return value

    # ------------------------------------------------------------ whole entry
    def redact_entry(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Redact one HAR 1.2 entry dict in place (and return it)."""
        req: dict[str, Any] = entry["request"] if isinstance(entry.get("request"), dict) else {}
        resp: dict[str, Any] = entry["response"] if isinstance(entry.get("response"), dict) else {}
        # Credentials first, everywhere they are named, so later text can chase them.
        with self._uncounted():  # the URL holds the same values and is counted
            for q in req.get("queryString") or []:
                if isinstance(q, dict) and isinstance(q.get("value"), str):
                    q["value"] = self.param_value(str(q.get("name", "")), q["value"])
        if isinstance(req.get("url"), str):
            req["url"] = self.url(req["url"])
        for side, msg in (("request", req), ("response", resp)):
            for h in msg.get("headers") or []:
                if isinstance(h, dict):
                    self.header(h, side)
            with self._uncounted():  # mirrors of the Cookie / Set-Cookie headers
                for c in msg.get("cookies") or []:
                    if isinstance(c, dict) and isinstance(c.get("value"), str) and c["value"]:
                        c["value"] = self._credential("cookie", c["value"])
        if isinstance(req.get("postData"), dict):
            self.post_data(req["postData"])
        if isinstance(resp.get("content"), dict):
            self.content(resp["content"])
        if isinstance(resp.get("redirectURL"), str) and resp["redirectURL"]:
            resp["redirectURL"] = (
                self.url(resp["redirectURL"]) if "://" in resp["redirectURL"] else self.text(resp["redirectURL"])
            )
        for msg in entry.get("_webSocketMessages") or []:
            if isinstance(msg, dict) and isinstance(msg.get("data"), str) and msg.get("opcode", 1) == 1:
                msg["data"] = self.body_text(msg["data"], "")
        for container in (entry, req, resp):
            for key in list(container):
                if (key.startswith("_") and key != "_webSocketMessages") or key == "comment":
                    container[key] = self.extensions(container[key], key)
        return entry

    def redact_page(self, page: dict[str, Any]) -> dict[str, Any]:
        """Page titles are often the page's URL."""
        if isinstance(page.get("title"), str):
            page["title"] = self.url(page["title"]) if "://" in page["title"] else self.text(page["title"])
        return page
