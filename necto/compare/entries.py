"""Two entries side by side: request line, headers, status, bodies (JSON by path, text by line,
binary by hash) and per-phase timing deltas. Pure functions over Entry."""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable
from typing import Any

import orjson

from necto.compare.options import CompareOptions
from necto.jsonpath import format_path
from necto.model import BodyFile, Entry, Header, Timings, header_value
from necto.vocab import is_text_mime

PHASES = ("blocked", "dns", "connect", "ssl", "send", "wait", "receive")
MAX_TEXT_DIFF_LINES = 400


def json_changes(a: Any, b: Any, opts: CompareOptions) -> tuple[list[dict[str, Any]], bool]:
    """Structural differences as `{path, type: added|removed|changed, a, b}`; (changes, capped)."""
    out: list[dict[str, Any]] = []

    def walk(x: Any, y: Any, path: list[str | int]) -> None:
        if len(out) >= opts.max_changes or opts.path_ignored(path):
            return
        if isinstance(x, dict) and isinstance(y, dict):
            for k in [*x, *(k for k in y if k not in x)]:
                sub = [*path, k]
                if k not in y:
                    _add(sub, "removed", x[k], None)
                elif k not in x:
                    _add(sub, "added", None, y[k])
                else:
                    walk(x[k], y[k], sub)
        elif isinstance(x, list) and isinstance(y, list):
            for i in range(max(len(x), len(y))):
                sub = [*path, i]
                if i >= len(y):
                    _add(sub, "removed", x[i], None)
                elif i >= len(x):
                    _add(sub, "added", None, y[i])
                else:
                    walk(x[i], y[i], sub)
        elif type(x) is not type(y) or x != y:  # 1 == True in Python; JSON says otherwise
            _add(path, "changed", x, y)

    def _add(path: list[str | int], kind: str, x: Any, y: Any) -> None:
        if len(out) < opts.max_changes and not opts.path_ignored(path):
            out.append({"path": format_path(path), "type": kind, "a": x, "b": y})

    walk(a, b, [])
    return out, len(out) >= opts.max_changes


# A body as compared: its bytes, or its file in the body store when it was too long to read
# whole (WHOLE_BODY_MAX): then its hash and size are compared, not its content.
Body = bytes | BodyFile | None


def body_of(e: Entry, side: str) -> Body:
    if side == "request":
        return e.request_body if e.request_body is not None else e.request_body_file
    return e.response_body if e.response_body is not None else e.response_body_file


def body_known(body: Body, size: int) -> bool:
    """Was the body recorded? A HAR without `content.text` (Firefox images, bodies left out)
    or with `content.size` -1 says nothing about it: unknown, which is not empty."""
    return body is not None or size == 0


def request_body_known(e: Entry) -> bool:
    return body_known(body_of(e, "request"), e.request_body_size if e.request_body_size > 0 else 0)


def response_body_known(e: Entry) -> bool:
    return e.status is None or body_known(body_of(e, "response"), e.response_body_size)


def body_sha256(body: Body) -> str:
    return body.sha256 if isinstance(body, BodyFile) else hashlib.sha256(body or b"").hexdigest()


def body_size(body: Body) -> int | None:
    if isinstance(body, BodyFile):
        return body.size if body.size >= 0 else None
    return len(body or b"")


def body_kind(body: bytes | None, content_type: str) -> str:
    """empty | json | text | binary, by content type first and content second."""
    if not body:
        return "empty"
    ct = content_type.lower()
    if "json" in ct or body.lstrip()[:1] in (b"{", b"["):
        try:
            orjson.loads(body)
            return "json"
        except orjson.JSONDecodeError:
            pass
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "binary"
    if is_text_mime(ct) or b"\x00" not in body:
        return "text"
    return "binary"


def body_facts(body: Body, content_type: str, truncated: bool = False) -> dict[str, Any]:
    kind = "large" if isinstance(body, BodyFile) else body_kind(body, content_type)
    facts = {"kind": kind, "size": body_size(body), "sha256": body_sha256(body)}
    if truncated:
        facts["truncated"] = True
    return facts


UNKNOWN = {"kind": "unknown", "size": None, "sha256": None}


def diff_body(
    a: Body,
    a_type: str,
    b: Body,
    b_type: str,
    opts: CompareOptions,
    a_truncated: bool = False,
    b_truncated: bool = False,
    known: tuple[bool, bool] = (True, True),
) -> dict[str, Any]:
    """JSON: changes by path; text: a unified line diff; binary: only sizes and hashes. A body
    that was not recorded on either side is `unknown`: `identical` is then None (no verdict).
    A body too long to read whole (kind `large`) is compared by hash and size."""
    if not all(known):
        fa = body_facts(a, a_type, a_truncated) if known[0] else dict(UNKNOWN)
        fb = body_facts(b, b_type, b_truncated) if known[1] else dict(UNKNOWN)
        return {"a": fa, "b": fb, "kind": "unknown", "identical": None}
    fa, fb = body_facts(a, a_type, a_truncated), body_facts(b, b_type, b_truncated)
    if isinstance(a, BodyFile) or isinstance(b, BodyFile):
        return {"a": fa, "b": fb, "kind": "large", "identical": fa["sha256"] == fb["sha256"]}
    out: dict[str, Any] = {"a": fa, "b": fb}
    kind = fa["kind"] if fa["kind"] == fb["kind"] else "mixed"
    out["kind"] = kind
    if kind == "json":
        changes, capped = json_changes(orjson.loads(a or b"null"), orjson.loads(b or b"null"), opts)
        out["changes"] = changes
        if capped:
            out["capped"] = True
        out["identical"] = not changes
    elif kind == "text":
        out["identical"] = fa["sha256"] == fb["sha256"]
        if not out["identical"]:
            lines = list(
                difflib.unified_diff(
                    (a or b"").decode("utf-8").splitlines(),
                    (b or b"").decode("utf-8").splitlines(),
                    "a",
                    "b",
                    lineterm="",
                    n=2,
                )
            )[2:]
            out["lines"] = lines[:MAX_TEXT_DIFF_LINES]
            if len(lines) > MAX_TEXT_DIFF_LINES:
                out["capped"] = True
    else:
        out["identical"] = fa["sha256"] == fb["sha256"]
    return out


def _header_groups(headers: Iterable[Header], opts: CompareOptions) -> dict[str, tuple[str, list[str]]]:
    groups: dict[str, tuple[str, list[str]]] = {}
    for name, value in headers:
        if opts.header_ignored(name):
            continue
        groups.setdefault(name.lower(), (name, []))[1].append(value)
    return groups


def _one(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values


def diff_headers(a: Iterable[Header], b: Iterable[Header], opts: CompareOptions) -> dict[str, list[dict[str, Any]]]:
    """Added / removed / changed header names (case-insensitive; repeats compared as a list)."""
    ga, gb = _header_groups(a, opts), _header_groups(b, opts)
    out: dict[str, list[dict[str, Any]]] = {"added": [], "removed": [], "changed": []}
    for key, (name, values) in ga.items():
        if key not in gb:
            out["removed"].append({"name": name, "value": _one(values)})
        elif gb[key][1] != values:
            out["changed"].append({"name": name, "a": _one(values), "b": _one(gb[key][1])})
    for key, (name, values) in gb.items():
        if key not in ga:
            out["added"].append({"name": name, "value": _one(values)})
    return out


def headers_differ(d: dict[str, list[Any]]) -> bool:
    return bool(d["added"] or d["removed"] or d["changed"])


def phase(t: Timings, name: str) -> float | None:
    v = t.total if name == "total" else getattr(t, name)
    return None if v < 0 else v


def timing_deltas(a: Timings, b: Timings) -> dict[str, dict[str, float | None]]:
    out = {}
    for name in (*PHASES, "total"):
        va, vb = phase(a, name), phase(b, name)
        delta = round(vb - va, 3) if va is not None and vb is not None else None
        out[name] = {"a": va, "b": vb, "delta": delta}
    return out


def status_of(e: Entry) -> int:
    return e.status if e.status is not None else 0


def diff_entry_bodies(a: Entry, b: Entry, side: str, opts: CompareOptions) -> dict[str, Any]:
    """`diff_body` of one side ("request" or "response") of two entries."""
    if side == "request":
        types = (
            header_value(a.request_headers, "content-type") or "",
            header_value(b.request_headers, "content-type") or "",
        )
        return diff_body(body_of(a, side), types[0], body_of(b, side), types[1], opts,
                         a.request_truncated, b.request_truncated, (request_body_known(a), request_body_known(b)))  # fmt: skip
    return diff_body(body_of(a, side), a.content_type, body_of(b, side), b.content_type, opts,
                     a.response_truncated, b.response_truncated, (response_body_known(a), response_body_known(b)))  # fmt: skip


def compare_entries(a: Entry, b: Entry, opts: CompareOptions | None = None) -> dict[str, Any]:
    """Everything a side-by-side view needs: request line, headers, status, bodies, timings."""
    opts = opts or CompareOptions()
    line_changed = [
        f
        for f, x, y in (
            ("method", a.method, b.method),
            ("url", a.url, b.url),
            ("httpVersion", a.http_version, b.http_version),
        )
        if x != y
    ]
    req_h = diff_headers(a.request_headers, b.request_headers, opts)
    resp_h = diff_headers(a.response_headers, b.response_headers, opts)
    req_b = diff_entry_bodies(a, b, "request", opts)
    resp_b = diff_entry_bodies(a, b, "response", opts)
    status_changed = status_of(a) != status_of(b)
    identical = not (
        line_changed or headers_differ(req_h) or headers_differ(resp_h) or status_changed
        or req_b["identical"] is False or resp_b["identical"] is False
    )  # fmt: skip
    return {
        "identical": identical,
        "a": {"id": a.id, "sessionId": a.session_id, "error": a.error},
        "b": {"id": b.id, "sessionId": b.session_id, "error": b.error},
        "requestLine": {
            "a": {"method": a.method, "url": a.url, "httpVersion": a.http_version},
            "b": {"method": b.method, "url": b.url, "httpVersion": b.http_version},
            "changed": line_changed,
        },
        "requestHeaders": req_h,
        "requestBody": req_b,
        "status": {"a": status_of(a), "b": status_of(b), "changed": status_changed},
        "responseHeaders": resp_h,
        "responseBody": resp_b,
        "timings": timing_deltas(a.timings, b.timings),
    }


def replay_comparison(original: Entry, replayed: Entry, opts: CompareOptions | None = None) -> dict[str, Any]:
    """The short form a replay answers with: a flat list of what changed in the response."""
    opts = opts or CompareOptions()
    changes: list[dict[str, Any]] = []
    if status_of(original) != status_of(replayed):
        changes.append(
            {"type": "status", "field": "status", "original": status_of(original), "replayed": status_of(replayed)}
        )
    h = diff_headers(original.response_headers, replayed.response_headers, opts)
    for x in h["removed"]:
        changes.append({"type": "header", "field": x["name"].lower(), "original": x["value"], "replayed": None})
    for x in h["added"]:
        changes.append({"type": "header", "field": x["name"].lower(), "original": None, "replayed": x["value"]})
    for x in h["changed"]:
        changes.append({"type": "header", "field": x["name"].lower(), "original": x["a"], "replayed": x["b"]})
    body = diff_entry_bodies(original, replayed, "response", opts)
    if body["identical"] is not None and body["a"]["size"] != body["b"]["size"]:
        changes.append(
            {"type": "body_size", "field": "size", "original": body["a"]["size"], "replayed": body["b"]["size"]}
        )
    if body["identical"] is False:
        if body["kind"] == "json":
            for c in body["changes"]:
                changes.append({"type": "body", "field": c["path"], "original": c["a"], "replayed": c["b"]})
        else:
            changes.append(
                {"type": "body", "field": "sha256", "original": body["a"]["sha256"], "replayed": body["b"]["sha256"]}
            )
    return {
        "identical": not changes,
        "changes": changes,
        "originalDuration": original.duration,
        "replayDuration": replayed.duration,
    }  # fmt: skip
