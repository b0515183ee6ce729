"""Sensitive values in traffic: what they are and where they sit.

Shared by the inventory (which reports kinds and where-paths such as
`response.body $.users[*].email`) and by redaction (which masks the same spans), so the two can
never disagree about what counts as sensitive.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# Keys whose values are secrets whatever they look like.
SECRET_KEY_RE = re.compile(
    r"(?:^|[-_.])(?:pass(?:word|wd)?|pwd|secret|client[-_]?secret|api[-_]?key|apikey|access[-_]?key"
    r"|secret[-_]?key|private[-_]?key|token|access[-_]?token|refresh[-_]?token|id[-_]?token"
    r"|auth[-_]?token|session[-_]?token|authorization|credentials?|otp|pin|cvv|cvc)(?:$|[-_.])",
    re.IGNORECASE,
)
# Keys that look secret-ish but hold public facts.
NOT_SECRET_KEYS = frozenset({"token_type", "tokentype", "expires_in", "password_hint", "token_expires"})


@dataclass(frozen=True, slots=True)
class Span:
    kind: str
    start: int
    end: int


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum every payment card number passes."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_ok(text: str) -> bool:
    digits = re.sub(r"[ -]", "", text)
    if not 13 <= len(digits) <= 19 or len(set(digits)) < 2:
        return False
    return digits[0] in "23456" and luhn_ok(digits)


_DATE_LIKE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4}")


def _phone_ok(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    return 8 <= len(digits) <= 15 and not _DATE_LIKE.fullmatch(text)


def _private_ip_ok(text: str) -> bool:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    if ip.version == 4:
        return ip in _PRIVATE_V4[0] or ip in _PRIVATE_V4[1] or ip in _PRIVATE_V4[2]
    return ip in ipaddress.ip_network("fc00::/7")


_PRIVATE_V4 = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
)


def _ssn_ok(text: str) -> bool:
    area, group, serial = text.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


# (kind, pattern, validator). Order matters: earlier kinds win overlapping spans.
DETECTORS: list[tuple[str, re.Pattern[str], Callable[[str], bool] | None]] = [
    (
        "private_key",
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
        None,
    ),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), None),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"), None),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), None),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b"), None),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"), None),
    ("stripe_key", re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b"), None),
    ("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"), None),
    ("credit_card", re.compile(r"(?<![\d.-])(?:\d[ -]?){12,18}\d(?![\d.-])"), _card_ok),
    ("ssn", re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])"), _ssn_ok),
    (
        "phone",
        re.compile(
            r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}(?![\w-])|(?<![\w+])\+\d{8,15}\b"
        ),
        _phone_ok,
    ),
    ("private_ip", re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])"), _private_ip_ok),
]


def find_spans(text: str) -> list[Span]:
    """Every sensitive span in a string, non-overlapping, in order."""
    spans: list[Span] = []
    for kind, pattern, ok in DETECTORS:
        if kind == "phone" and not _may_be_phone(text):
            continue
        for m in pattern.finditer(text):
            if ok is not None and not ok(m.group()):
                continue
            if kind == "phone" and not _phone_shaped(m.group()):
                continue
            if any(m.start() < s.end and s.start < m.end() for s in spans):
                continue
            spans.append(Span(kind, m.start(), m.end()))
    spans.sort(key=lambda s: s.start)
    return spans


def _may_be_phone(text: str) -> bool:
    return any(c in text for c in "+( ") or "-" in text


def _phone_shaped(value: str) -> bool:
    """A phone number is written like one: a leading + or separators; bare digit runs are ids."""
    if value.startswith("+"):
        return True
    groups = re.split(r"[ .()-]+", value.strip("()"))
    return len([g for g in groups if g]) >= 3 or "(" in value


def kinds_in(text: str) -> set[str]:
    return {s.kind for s in find_spans(text)}


def is_secret_key(name: str) -> bool:
    """A field, query parameter or form key whose value is a credential by its name."""
    low = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    return low not in NOT_SECRET_KEYS and bool(SECRET_KEY_RE.search(low))


def mask(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def redact_text(text: str, counts: dict[str, int] | None = None) -> str:
    """The string with each sensitive span replaced by its mask."""
    spans = find_spans(text)
    if not spans:
        return text
    out, pos = [], 0
    for s in spans:
        out.append(text[pos : s.start])
        out.append(mask(s.kind))
        pos = s.end
        if counts is not None:
            counts[s.kind] = counts.get(s.kind, 0) + 1
    out.append(text[pos:])
    return "".join(out)


# ---------------------------------------------------------------- JSON walking
def json_path_key(path: str, key: str) -> str:
    if re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$-]*", key):
        return f"{path}.{key}"
    return f"{path}[{key!r}]"


def walk_json(value: Any, path: str = "$") -> Iterator[tuple[str, str | None, Any]]:
    """(where-path, key, leaf) for every scalar; arrays collapse to [*] so paths stay bounded."""
    stack: list[tuple[Any, str, str | None]] = [(value, path, None)]
    while stack:
        v, p, key = stack.pop()
        if isinstance(v, dict):
            for k, child in reversed(list(v.items())):
                stack.append((child, json_path_key(p, str(k)), str(k)))
        elif isinstance(v, list):
            for child in reversed(v[:1000]):
                stack.append((child, p + "[*]", key))
        else:
            yield p, key, v


def value_kinds(key: str | None, value: Any) -> set[str]:
    """Kinds of sensitive data in one scalar, including credentials named by their key."""
    kinds: set[str] = set()
    if key is not None and is_secret_key(key) and value not in (None, "", True, False):
        kinds.add("secret")
    if isinstance(value, str):
        kinds |= kinds_in(value)
    elif isinstance(value, int) and not isinstance(value, bool) and 13 <= len(str(abs(value))) <= 19:
        if _card_ok(str(value)):
            kinds.add("credit_card")
    return kinds


def redact_json(value: Any, counts: dict[str, int] | None = None, key: str | None = None) -> Any:
    """A copy of a JSON value with credentials (by key name) and sensitive strings masked."""
    if isinstance(value, dict):
        return {k: redact_json(v, counts, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_json(v, counts, key) for v in value]
    if key is not None and is_secret_key(key) and value not in (None, "", True, False):
        if isinstance(value, (str, int, float)):
            specific = find_spans(value) if isinstance(value, str) else []
            whole = len(specific) == 1 and specific[0].end - specific[0].start == len(str(value))
            kind = specific[0].kind if whole else "secret"
            if counts is not None:
                counts[kind] = counts.get(kind, 0) + 1
            return mask(kind)
    if isinstance(value, str):
        return redact_text(value, counts)
    if isinstance(value, int) and not isinstance(value, bool) and "credit_card" in value_kinds(None, value):
        if counts is not None:
            counts["credit_card"] = counts.get("credit_card", 0) + 1
        return mask("credit_card")
    return value
