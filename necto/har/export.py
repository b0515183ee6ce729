"""Entry -> HAR 1.2, streamed: an async generator of bytes chunks, memory flat in session size.

Every rule of "Export rules we follow" in ../shared/har-notes.md lives here or in derive.py,
whose helpers the importer also uses to decide which source values differ from what we would
derive, so that only those are kept in `Entry.extra["har"]` and a re-export is exact.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any

import orjson

from necto import __version__
from necto.har.derive import (
    derive_mime,
    derive_post_data,
    derive_query,
    derive_redirect,
    derive_request_cookies,
    derive_resource_type,
    derive_response_cookies,
    harheaders,
    is_binary,
    text_or_base64,
    valid_ip,
)
from necto.model import Entry
from necto.redact import Redactor, redaction_comment
from necto.vocab import frame_json, iso_time

CREATOR = {"name": "Necto", "version": __version__}


PAGE_ID = "page_1"


BINARY_EXCLUDED = "Binary content excluded from export (excludeBinary)"


CHUNK_BYTES = 256 * 1024


BATCH_ENTRIES = 200


BATCH_BODY_BYTES = 4 * 1024 * 1024

# What rules, network conditions and breakpoints left on an entry, exported under `_necto`.
NECTO_FIELDS = ("appliedRules", "isMocked", "upstreamRequest", "upstreamResponse", "conditions",
                "isBreakpointed", "breakpoint", "paused")  # fmt: skip


def _num(x: float) -> float | int:
    """Round to microseconds; whole numbers as ints so JSON stays tidy."""
    r = round(float(x), 3)
    return int(r) if r == int(r) else r


def har_timings(e: Entry) -> tuple[dict[str, Any], float]:
    """HAR timings and `time`: send/wait/receive >= 0, -1 for phases that do not apply,
    ssl inside connect, `time` the sum of the phases."""
    t = e.timings
    blocked = _num(t.blocked) if t.blocked >= 0 else -1
    dns = _num(t.dns) if t.dns >= 0 else -1
    connect = _num(t.connect) if t.connect >= 0 else -1
    ssl = _num(t.ssl) if t.ssl >= 0 else -1
    if ssl != -1 and ssl > connect:  # keep ssl inside connect
        connect = ssl
    send, wait, receive = _num(max(0.0, t.send)), _num(max(0.0, t.wait)), _num(max(0.0, t.receive))
    timings = {"blocked": blocked, "dns": dns, "connect": connect, "ssl": ssl, "send": send, "wait": wait, "receive": receive}
    total = send + wait + receive + sum(v for v in (blocked, dns, connect) if v >= 0)
    return timings, _num(total)


def _ws_messages(e: Entry) -> list[dict[str, Any]]:
    return [frame_json(m.type, m.time, m.opcode, m.data) for m in e.websocket or []]


def entry_to_har(e: Entry, exclude_binary: bool = False) -> dict[str, Any]:
    """One Entry as a HAR entry dict; imported overrides and `_` fields come back out."""
    h: dict[str, dict[str, Any]] = e.extra.get("har") or {}
    hreq, hresp, hcontent = h.get("request", {}), h.get("response", {}), h.get("content", {})

    request: dict[str, Any] = {
        "method": e.method,
        "url": e.url,
        "httpVersion": e.http_version or "HTTP/1.1",
        "cookies": derive_request_cookies(e.request_headers),
        "headers": harheaders(e.request_headers),
        "queryString": derive_query(e.url),
    }
    pd = derive_post_data(e)
    if pd is not None:
        pd.update(h.get("postData", {}))
        if e.request_truncated:
            pd["_truncated"] = True
        request["postData"] = pd
    elif "postData" in h:  # e.g. params with no text (hand-written HARs)
        request["postData"] = dict(h["postData"])
    request["headersSize"] = -1
    request["bodySize"] = e.request_body_size if e.request_body_size >= 0 else -1
    request.update(hreq)

    if e.status is None:
        response: dict[str, Any] = {
            "status": 0,
            "statusText": "",
            "httpVersion": e.http_version or "HTTP/1.1",
            "cookies": [],
            "headers": [],
            "content": {"size": 0, "mimeType": ""},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        }
        response["content"].update(hcontent)
    else:
        body = e.response_body
        size = e.response_body_size
        if size < 0 and body is not None and not e.response_truncated:
            size = len(body)
        content: dict[str, Any] = {"size": size, "mimeType": derive_mime(e)}
        if e.response_wire_size >= 0 and size >= 0:
            content["compression"] = size - e.response_wire_size
        if body is not None:
            mime = str(hcontent.get("mimeType", content["mimeType"]))
            if exclude_binary and body and is_binary(body, mime):
                content["comment"] = BINARY_EXCLUDED
            else:
                text, enc = text_or_base64(body)
                content["text"] = text
                if enc:
                    content["encoding"] = enc
        if e.response_truncated:
            content["_truncated"] = True
        content.update(hcontent)
        response = {
            "status": e.status,
            "statusText": e.status_text,
            "httpVersion": e.response_http_version or e.http_version or "HTTP/1.1",
            "cookies": derive_response_cookies(e.response_headers),
            "headers": harheaders(e.response_headers, response=True),
            "content": content,
            "redirectURL": derive_redirect(e),
            "headersSize": -1,
            "bodySize": e.response_wire_size if e.response_wire_size >= 0 else -1,
        }
    if e.error is not None:
        response["_error"] = e.error
    response.update(hresp)

    timings, total = har_timings(e)
    timings.update(h.get("timings", {}))
    out: dict[str, Any] = {
        "pageref": PAGE_ID,
        "startedDateTime": iso_time(e.started),
        "time": total,
        "request": request,
        "response": response,
        "cache": {},
        "timings": timings,
    }
    if e.server_ip and valid_ip(e.server_ip):
        out["serverIPAddress"] = e.server_ip
    if e.connection_id:
        out["connection"] = e.connection_id
    out["_resourceType"] = derive_resource_type(e)
    if e.tls:
        out["_tls"] = e.tls
    if e.websocket is not None:
        out["_webSocketMessages"] = _ws_messages(e)
    close = e.extra.get("websocketClose")
    if close is not None:
        out["_webSocketClose"] = close
    necto = {k: e.extra[k] for k in NECTO_FIELDS if e.extra.get(k)}
    if necto:
        out["_necto"] = necto
    out.update(h.get("entry", {}))
    return out


def _dump_batch(
    entries: list[Entry], exclude_binary: bool, first: bool, redactor: Redactor | None = None
) -> bytes:
    hars = (entry_to_har(e, exclude_binary) for e in entries)
    if redactor is not None:
        hars = (redactor.redact_entry(h) for h in hars)
    parts = [orjson.dumps(h) for h in hars]
    joined = b",".join(parts)
    return joined if first else b"," + joined


def _header(started: float, title: str, redactor: Redactor | None = None) -> bytes:
    page = {
        "startedDateTime": iso_time(started),
        "id": PAGE_ID,
        "title": title,
        "pageTimings": {"onContentLoad": -1, "onLoad": -1},
    }
    if redactor is not None:
        redactor.redact_page(page)
    log = {"version": "1.2", "creator": CREATOR, "pages": [page]}
    head = orjson.dumps({"log": log})
    return head[:-2] + b',"entries":['  # drop the closing "}}" and open the entries array


def _body_len(e: Entry) -> int:
    return len(e.response_body or b"") + len(e.request_body or b"")


async def export_har(
    entries: AsyncIterable[Entry] | Iterable[Entry],
    *,
    title: str = "Necto Export",
    exclude_binary: bool = False,
    redact: bool = False,
) -> AsyncIterator[bytes]:
    """Stream a HAR document. Entries are serialised in small batches in a worker thread,
    so neither memory nor the event loop depend on how many there are.

    With `redact`, one Redactor sees every entry in order (it remembers credentials to mask
    where they reappear) and `log.comment`, written last, says what was masked."""
    redactor = Redactor() if redact else None
    it = _aiter(entries)
    first_entry = await anext(it, None)
    started = first_entry.started if first_entry is not None else time.time()
    yield _header(started, title, redactor)
    batch: list[Entry] = [first_entry] if first_entry is not None else []
    size = _body_len(first_entry) if first_entry is not None else 0
    first = True
    pending = bytearray()

    async def flush() -> bytes:
        nonlocal first
        data = await asyncio.to_thread(_dump_batch, batch, exclude_binary, first, redactor)
        first = False
        return data

    async for e in it:
        batch.append(e)
        size += _body_len(e)
        if len(batch) >= BATCH_ENTRIES or size >= BATCH_BODY_BYTES:
            pending += await flush()
            batch, size = [], 0
            if len(pending) >= CHUNK_BYTES:
                yield bytes(pending)
                pending.clear()
    if batch:
        pending += await flush()
    if redactor is not None:
        pending += b'],"comment":' + orjson.dumps(redaction_comment(redactor.counts)) + b"}}"
    else:
        pending += b"]}}"
    yield bytes(pending)


async def _aiter(entries: AsyncIterable[Entry] | Iterable[Entry]) -> AsyncIterator[Entry]:
    if isinstance(entries, AsyncIterable):
        async for e in entries:
            yield e
    else:
        for e in entries:
            yield e


def safe_filename(name: str, epoch_ms: int) -> str:
    """`<Name>_<epoch ms>.har` with only [A-Za-z0-9._-]: no quotes, slashes, control
    characters or anything that could break out of the Content-Disposition header."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "Necto_Export"
    return f"{safe[:100]}_{epoch_ms}.har"
