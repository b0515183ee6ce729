"""How a request authenticates: none, basic, bearer, JWT (issuer and scopes decoded), API key by
header or query name, or a session cookie. Only names and JWT claims that describe access are
kept, never the secret itself."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

import orjson

from necto.model import Header

API_KEY_HEADER_RE = re.compile(
    r"^(?:x-)?(?:api[-_]?key|api[-_]?token|auth[-_]?token|access[-_]?token|token|key|secret"
    r"|functions-key|goog-api-key|amz-security-token|private-token|ocp-apim-subscription-key"
    r"|client[-_]?secret|app[-_]?key|subscription[-_]?key)$",
    re.IGNORECASE,
)
API_KEY_QUERY_RE = re.compile(
    r"^(?:api[-_]?key|apikey|api[-_]?token|access[-_]?token|auth[-_]?token|auth|token|key|app[-_]?key"
    r"|client[-_]?secret|subscription[-_]?key|sig|signature)$",
    re.IGNORECASE,
)
SESSION_COOKIE_RE = re.compile(r"sess|sid$|^sid|auth|token|jwt|login|remember|identity", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class AuthInfo:
    """One way a request proved who it was; `scopes` and `audience` come from a JWT."""

    type: str  # basic | bearer | jwt | apiKey | cookie | other
    location: str | None = None  # header | query | cookie
    name: str | None = None  # header, query parameter or cookie name
    scheme: str | None = None  # Authorization scheme (Basic, Bearer, Digest, ...)
    issuer: str | None = None
    audience: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    algorithm: str | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.type, self.location, self.name, self.scheme, self.issuer)


def _b64url_json(part: str) -> Any:
    padded = part + "=" * (-len(part) % 4)
    return orjson.loads(base64.urlsafe_b64decode(padded))


def decode_jwt(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(header, claims) of a JWT, unverified; None when it is not one."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].startswith("eyJ"):
        return None
    try:
        header, claims = _b64url_json(parts[0]), _b64url_json(parts[1])
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return header, claims


def _scopes(claims: dict[str, Any]) -> tuple[str, ...]:
    found: list[str] = []
    for name in ("scope", "scp", "scopes", "permissions"):
        value = claims.get(name)
        if isinstance(value, str):
            found += value.split()
        elif isinstance(value, list):
            found += [str(v) for v in value]
    return tuple(sorted(set(found)))


def jwt_auth(token: str, location: str, name: str, scheme: str | None) -> AuthInfo | None:
    decoded = decode_jwt(token)
    if decoded is None:
        return None
    header, claims = decoded
    aud = claims.get("aud")
    audience = tuple(aud) if isinstance(aud, list) else ((str(aud),) if aud else ())
    iss = claims.get("iss")
    return AuthInfo(
        "jwt", location, name, scheme,
        issuer=str(iss) if iss is not None else None,
        audience=tuple(str(a) for a in audience),
        scopes=_scopes(claims),
        algorithm=str(header.get("alg")) if header.get("alg") else None,
    )  # fmt: skip


def authorization_auth(value: str, header: str) -> AuthInfo:
    scheme, _, credential = value.strip().partition(" ")
    credential = credential.strip()
    low = scheme.lower()
    if low == "basic":
        return AuthInfo("basic", "header", header, "Basic")
    if low == "bearer":
        return jwt_auth(credential, "header", header, "Bearer") or AuthInfo("bearer", "header", header, "Bearer")
    if not credential:  # a bare token without a scheme
        return jwt_auth(scheme, "header", header, None) or AuthInfo("bearer", "header", header, None)
    return AuthInfo("other", "header", header, scheme)


def detect_auth(headers: list[Header], query: list[tuple[str, str]]) -> list[AuthInfo]:
    """Every credential the request carries (an empty list means none)."""
    found: list[AuthInfo] = []
    for name, value in headers:
        low = name.lower()
        if low in ("authorization", "proxy-authorization") and value.strip():
            found.append(authorization_auth(value, name))
        elif API_KEY_HEADER_RE.match(low) and value.strip():
            found.append(jwt_auth(value.strip(), "header", name, None) or AuthInfo("apiKey", "header", name))
        elif low == "cookie":
            for cookie in cookie_names(value):
                if SESSION_COOKIE_RE.search(cookie):
                    found.append(AuthInfo("cookie", "cookie", cookie))
    for name, value in query:
        if API_KEY_QUERY_RE.match(name) and value:
            found.append(jwt_auth(value, "query", name, None) or AuthInfo("apiKey", "query", name))
    return list(dict.fromkeys(found))


def cookie_names(header_value: str) -> list[str]:
    """Names in a Cookie header, tolerant of values SimpleCookie would reject."""
    names = []
    for part in header_value.split(";"):
        name, sep, _ = part.strip().partition("=")
        if sep and name:
            names.append(name.strip())
    return names
