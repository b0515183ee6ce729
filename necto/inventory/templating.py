"""Path templating rules: which segments are values (`/users/42` -> `/users/{userId}`) and why.

Typed segments (integers, UUIDs, dates, hex, ...) are recognised from a single sample. Untyped
strings (names, slugs, refs, labels) become parameters only with sibling evidence, weighed in
`necto.inventory.pathtree` with the thresholds of `SiblingRule`. The first segment, version
segments and common words are never templated, so `/users/me` stays beside `/users/{userId}`.
"""

from __future__ import annotations

import datetime
import re
from urllib.parse import unquote

COMMON_WORDS = frozenset(
    """
    me self current mine my search find query login logout signin signout signup register auth
    oauth token refresh callback new edit create update delete remove add list all latest recent
    count stats status health healthz ready readyz live livez ping version info config settings
    profile account admin api rest graphql public private internal static assets batch bulk export
    import upload download default index home feed next previous prev first last top popular
    verify confirm reset forgot password session sessions
    """.split()
)
VERSION_RE = re.compile(r"^v\d+(?:\.\d+)*(?:(?:alpha|beta|rc|preview)\d*)?$", re.IGNORECASE)
INTEGER_RE = re.compile(r"^-?\d+$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?$")
ULID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
OBJECTID_RE = re.compile(r"^[0-9a-f]{24}$", re.IGNORECASE)
HEX_RE = re.compile(r"^[0-9a-f]{8,}$", re.IGNORECASE)
PREFIXED_RE = re.compile(r"^[a-z][a-z0-9]{1,11}_[A-Za-z0-9]{6,}$")
EMAIL_RE = re.compile(r"^[^@\s/]+@[^@\s/]+\.[A-Za-z]{2,}$")
TOKEN_CHARS_RE = re.compile(r"^[A-Za-z0-9_\-.~+=]+$")
WORDLIKE_RE = re.compile(r"^[a-z]+(?:[-_][a-z]+)*$")

KIND_REASONS = {
    "integer": "integer",
    "uuid": "UUID",
    "date": "date (YYYY-MM-DD)",
    "date-time": "date-time",
    "ulid": "ULID",
    "objectid": "ObjectId (24 hex digits)",
    "hex": "hex identifier",
    "prefixed": "prefixed id (like cus_...)",
    "email": "email address",
    "token": "long opaque token",
    "string": "string",
}


def valid_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text[:10])
    except ValueError:
        return False
    return True


def _is_token(seg: str) -> bool:
    if not TOKEN_CHARS_RE.match(seg):
        return False
    digits = sum(c.isdigit() for c in seg)
    letters = sum(c.isalpha() for c in seg)
    return (len(seg) >= 8 and digits >= 3 and letters >= 1) or (len(seg) >= 20 and digits >= 1 and letters >= 1)


def never_templated(seg: str) -> bool:
    """Version segments and common words stay literal whatever the evidence."""
    return not seg or VERSION_RE.match(seg) is not None or seg.lower() in COMMON_WORDS


def segment_kind(raw: str) -> str | None:
    """The type of a path segment that is a value on its own evidence, or None."""
    seg = unquote(raw) if "%" in raw else raw
    if never_templated(seg):
        return None
    if len(seg) < 24 and WORDLIKE_RE.match(seg):
        return None  # plain words (`users`, `rust-lang`) are never typed: the common case, fast
    if INTEGER_RE.match(seg):
        return "integer"
    if UUID_RE.match(seg):
        return "uuid"
    if DATE_RE.match(seg) and valid_date(seg):
        return "date"
    if DATETIME_RE.match(seg) and valid_date(seg):
        return "date-time"
    if ULID_RE.match(seg) and any(c.isdigit() for c in seg) and any(c.isalpha() for c in seg):
        return "ulid"
    if OBJECTID_RE.match(seg):
        return "objectid"
    if HEX_RE.match(seg) and any(c.isdigit() for c in seg) and any(c.isalpha() for c in seg):
        return "hex"
    if PREFIXED_RE.match(seg) and any(c.isdigit() or c.isupper() for c in seg.split("_", 1)[1]):
        return "prefixed"
    if EMAIL_RE.match(seg):
        return "email"
    if _is_token(seg):
        return "token"
    return None


def value_kind(value: str) -> str:
    """The type of a query/header/path value, for parameter schemas."""
    if value in ("true", "false"):
        return "boolean"
    if INTEGER_RE.match(value) and len(value.lstrip("-")) <= 18:
        return "integer"
    if re.match(r"^-?\d+\.\d+$", value):
        return "number"
    if UUID_RE.match(value):
        return "uuid"
    if DATE_RE.match(value) and valid_date(value):
        return "date"
    if DATETIME_RE.match(value) and valid_date(value):
        return "date-time"
    if EMAIL_RE.match(value):
        return "email"
    return "string"


def split_path(path: str) -> list[str]:
    """Path segments without the query; a trailing slash does not make a new endpoint."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    return [s for s in path.strip("/").split("/")] if path.strip("/") else []


# ---------------------------------------------------------------- sibling evidence
class SiblingRule:
    """When literal siblings under one parent are values of one parameter.

    Siblings vote with their responses: two values of one parameter answer the same methods at
    the same sub-paths with 2xx responses of one shape (see `pathtree.Shape`); error responses
    carry no shape and neither help nor hurt. A sibling group becomes a parameter when enough of
    it agrees (`VALUE_MIN` values; plain lowercase words need `words_needed`, because `/api/users`,
    `/api/orders` are resources, not values), when at least `MATCH_SHARE` of the folded siblings
    (and at least two) have a matching 2xx response, and when it is most of the candidates.
    Literals beside typed values (`develop`, `master` beside commit SHAs) join them when at least
    `TYPED_PEERS_MIN` of them answer like the typed values do. Under a parameter (`/repos/{owner}/
    linux`), a name seen under several values of that parameter is a sub-resource (`pulls`), and
    values must share sub-paths, not only a response at their own path.
    """

    VALUE_MIN = 3
    WORD_MIN = 5  # plain words under a singular literal (`/user/alice`)
    WORD_MIN_COLLECTION = 3  # plain words under a plural literal (`/labels/bug`, `/teams/core`)
    WORD_MIN_NAMESPACE = 10  # plain words under a version or common word (`/v1/customers`)
    TYPED_PEERS_MIN = 2
    MATCH_SHARE = 0.5
    SHAPE_OVERLAP = 0.5  # share of JSON field paths two response shapes must have in common

    @staticmethod
    def word_like(seg: str) -> bool:
        return WORDLIKE_RE.match(unquote(seg)) is not None

    @classmethod
    def words_needed(cls, parent: str | None) -> int:
        """Plain-word siblings needed under a literal parent (None: the parent is a parameter)."""
        if parent is None:
            return cls.VALUE_MIN
        seg = unquote(parent)
        if never_templated(seg):
            return cls.WORD_MIN_NAMESPACE
        return cls.WORD_MIN_COLLECTION if singular(seg) != seg else cls.WORD_MIN


# ---------------------------------------------------------------- parameter names
IRREGULAR_PLURALS = {"people": "person", "children": "child", "men": "man", "women": "woman", "indices": "index"}


def singular(word: str) -> str:
    low = word.lower()
    if low in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[low]
    if low.endswith("ies") and len(low) > 4:
        return word[:-3] + "y"
    if re.search(r"(ss|x|ch|sh)es$", low):
        return word[:-2]
    if low.endswith("s") and not re.search(r"(ss|us|is)$", low) and len(low) > 3:
        return word[:-1]
    return word


def camel(text: str) -> str:
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", text) if p]
    if not parts:
        return ""
    head = parts[0][0].lower() + parts[0][1:]
    name = head + "".join(p[0].upper() + p[1:] for p in parts[1:])
    return name if name[0].isalpha() else "p" + name


KIND_SUFFIX = {"date": "Date", "date-time": "Time", "email": "Email"}
KIND_ALONE = {"date": "date", "date-time": "time", "email": "email"}


REF_KINDS = frozenset({"hex", "objectid"})


def param_name(parent: str | None, kind: str, kinds: dict[str, int] | None = None) -> str:
    """`users` + integer -> `userId`; `reports` + date -> `reportDate`; no parent -> `id`.

    Hex ids beside plain names (`a1b2c3d4...` and `develop` under `commits`) are git refs: `ref`.
    """
    if kinds and "string" in kinds and REF_KINDS & set(kinds):
        return "ref"
    base = camel(singular(unquote(parent))) if parent else ""
    if not base:
        return KIND_ALONE.get(kind, "id")
    return base + KIND_SUFFIX.get(kind, "Id")
