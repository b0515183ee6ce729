"""Entry <-> row: the one mapping between the model and the `entries` table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from necto.model import BodyFile, Entry, Header, Timings, WsMessage
from necto.vocab import frame_from_json, frame_json

COLUMNS = (
    "id", "session_id", "started", "method", "url", "host", "http_version", "request_headers",
    "request_body_size", "request_truncated", "status", "status_text", "response_http_version",
    "response_headers", "response_body_size", "response_wire_size", "response_truncated",
    "content_type", "blocked", "dns", "connect", "ssl", "send", "wait", "receive", "duration",
    "server_ip", "server_port", "client_ip", "client_port", "connection_id", "tls", "error",
    "extra", "source", "websocket", "request_body", "response_body", "ord",
    "request_body_file", "response_body_file", "request_raw_file", "response_raw_file",
)  # fmt: skip
# Where an entry's bodies may live in the body store (a SHA-256 each; NULL when inline/absent).
FILE_COLUMNS = ("request_body_file", "response_body_file", "request_raw_file", "response_raw_file")
ENTRY_COLUMNS = ", ".join(COLUMNS)
INSERT_ENTRY = f"INSERT INTO entries ({ENTRY_COLUMNS}) VALUES ({', '.join('?' * len(COLUMNS))})"
# Captures: a WebSocket is recorded when it opens and replaced by its final form when it closes.
UPSERT_ENTRY = (
    INSERT_ENTRY + " ON CONFLICT(id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "id")
)
# The same columns qualified for queries that join sessions (alias e).
E_COLUMNS = ", ".join("e." + c for c in COLUMNS)
# The list view never shows bodies or frames: it reads neither (an empty frame list still
# marks a WebSocket).
SUMMARY_COLUMNS = ", ".join(
    {
        "websocket": "CASE WHEN e.websocket IS NULL THEN NULL ELSE X'5B5D' END",
        "request_body": "NULL",
        "response_body": "NULL",
        "ord": "NULL",  # stored after the bodies: reading it would walk their overflow pages
        **{f: "NULL" for f in FILE_COLUMNS},  # the same
    }.get(c, "e." + c)
    for c in COLUMNS
)
_C = {name: i for i, name in enumerate(COLUMNS)}
STARTED = _C["started"]
WEBSOCKET = _C["websocket"]


def in_order_after(alias: str = "") -> tuple[str, str, str]:
    """Where an entry sits in its session: an import's anchor (file order kept by seq), else
    its start. Returns (that order key, a condition "after position (key, seq)" taking (key, key, seq), ORDER BY)
    for reading a session a batch at a time. The `>=` on its own lets SQLite seek in
    entries_by_order to the position instead of scanning the session from its start, which
    made each batch slower than the last."""
    p = f"{alias}." if alias else ""
    key = f"COALESCE({p}ord, {p}started)"
    return key, f"{key} >= ? AND ({key} > ? OR {p}seq > ?)", f"{key}, {p}seq"


def frames_to_blob(messages: list[WsMessage] | None) -> bytes | None:
    if messages is None:
        return None
    return orjson.dumps([frame_json(m.type, m.time, m.opcode, m.data) for m in messages])


def frames_from_blob(raw: bytes | None) -> list[WsMessage] | None:
    if raw is None:
        return None
    return [WsMessage(*frame_from_json(m)) for m in orjson.loads(raw)]


def _headers(raw: bytes) -> list[Header]:
    return [(h[0], h[1]) for h in orjson.loads(raw)]


def _sha(f: BodyFile | None) -> str | None:
    return f.sha256 if f is not None else None


def _file(sha: str | None) -> BodyFile | None:
    return BodyFile(sha, -1) if sha is not None else None


def entry_to_row(e: Entry) -> tuple[Any, ...]:
    """An Entry as a row, in COLUMNS order. A body with a body file is not written inline."""
    t = e.timings
    req_file, resp_file = e.request_body_file, e.response_body_file
    return (
        e.id, e.session_id, e.started, e.method, e.url, e.host, e.http_version,
        orjson.dumps(e.request_headers), e.request_body_size, int(e.request_truncated),
        e.status, e.status_text, e.response_http_version, orjson.dumps(e.response_headers),
        e.response_body_size, e.response_wire_size, int(e.response_truncated), e.content_type,
        t.blocked, t.dns, t.connect, t.ssl, t.send, t.wait, t.receive, t.total,
        e.server_ip, e.server_port, e.client_ip, e.client_port, e.connection_id,
        orjson.dumps(e.tls) if e.tls is not None else None, e.error,
        orjson.dumps(e.extra) if e.extra else None, e.source,
        frames_to_blob(e.websocket), e.request_body if req_file is None else None,
        e.response_body if resp_file is None else None, e.order,
        _sha(req_file), _sha(resp_file), _sha(e.request_raw_file), _sha(e.response_raw_file),
    )  # fmt: skip


def row_to_entry(r: Sequence[Any]) -> Entry:
    """A row in COLUMNS order (extra trailing columns ignored) as an Entry."""
    c = _C
    tls, extra = r[c["tls"]], r[c["extra"]]
    return Entry(
        id=r[c["id"]], session_id=r[c["session_id"]], started=r[c["started"]],
        method=r[c["method"]], url=r[c["url"]], http_version=r[c["http_version"]],
        request_headers=_headers(r[c["request_headers"]]),
        request_body=r[c["request_body"]], request_body_size=r[c["request_body_size"]],
        request_truncated=bool(r[c["request_truncated"]]), status=r[c["status"]],
        status_text=r[c["status_text"]], response_http_version=r[c["response_http_version"]],
        response_headers=_headers(r[c["response_headers"]]),
        response_body=r[c["response_body"]], response_body_size=r[c["response_body_size"]],
        response_wire_size=r[c["response_wire_size"]],
        response_truncated=bool(r[c["response_truncated"]]),
        timings=Timings(*r[c["blocked"] : c["receive"] + 1]),
        server_ip=r[c["server_ip"]], server_port=r[c["server_port"]],
        client_ip=r[c["client_ip"]], client_port=r[c["client_port"]],
        connection_id=r[c["connection_id"]], tls=orjson.loads(tls) if tls is not None else None,
        error=r[c["error"]], websocket=frames_from_blob(r[c["websocket"]]),
        extra=orjson.loads(extra) if extra is not None else {}, source=r[c["source"]],
        order=r[c["ord"]],
        request_body_file=_file(r[c["request_body_file"]]), response_body_file=_file(r[c["response_body_file"]]),
        request_raw_file=_file(r[c["request_raw_file"]]), response_raw_file=_file(r[c["response_raw_file"]]),
    )  # fmt: skip


def rows_to_entries(rows: Sequence[Sequence[Any]]) -> list[Entry]:
    return [row_to_entry(r) for r in rows]
