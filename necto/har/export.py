"""Entry -> HAR 1.2, streamed: an async generator of bytes chunks, memory flat in session size.

Every rule of "Export rules we follow" in ../shared/har-notes.md lives here or in derive.py,
whose helpers the importer also uses to decide which source values differ from what we would
derive, so that only those are kept in `Entry.extra["har"]` and a re-export is exact.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import re
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Sequence
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
from necto.har.pages import SESSION_PAGE_ID, ExportPlan
from necto.model import Entry, FragmentEntry, HarFragment, header_value
from necto.redact import Redactor, redaction_comment
from necto.vocab import frame_json, iso_time

CREATOR = {"name": "Necto", "version": __version__}


PAGE_ID = SESSION_PAGE_ID


BINARY_EXCLUDED = "Binary content excluded from export (excludeBinary)"


CHUNK_BYTES = 1 << 20


BATCH_ENTRIES = 200


BATCH_BODY_BYTES = 4 * 1024 * 1024
# Bodies in the body store longer than this are not read whole: the export writes them from
# their file a piece at a time, between the parts of their entry (a response body in base64, a
# request body as text when it is UTF-8 without NUL, which a first pass over the file checks).
STREAM_BODY_ABOVE = 16 << 20
# Reads a body of an entry a piece at a time (Store.body_chunks).
BodyReader = Callable[[Entry, str], Awaitable[AsyncIterator[bytes] | None]]
_OPTIONAL_PHASES = ("blocked", "dns", "connect", "ssl")

# What rules, network conditions and breakpoints left on an entry, exported under `_necto`.
# How bodies were recorded (issue 19): streamed through, event times, decoding stopped at the cap.
NECTO_FIELDS = ("appliedRules", "isMocked", "upstreamRequest", "upstreamResponse", "conditions",
                "isBreakpointed", "breakpoint", "paused", "streamed", "events", "decodeStopped",
                "bodyNotRecorded")  # fmt: skip


def _num(x: float) -> float | int:
    """Round to microseconds; whole numbers as ints so JSON stays tidy."""
    r = round(float(x), 3)
    return int(r) if r == int(r) else r


def _exact(x: float) -> float | int:
    """An imported number as the file wrote it (whole numbers as ints)."""
    return int(x) if float(x).is_integer() else x


def har_timings(e: Entry) -> tuple[dict[str, Any], float]:
    """HAR timings and `time`: send/wait/receive >= 0, -1 for phases that do not apply,
    ssl inside connect, `time` the sum of the phases. Captured values are rounded to the
    microsecond; imported ones are written as the file had them."""
    t = e.timings
    num = _exact if e.source == "import" else _num
    blocked = num(t.blocked) if t.blocked >= 0 else -1
    dns = num(t.dns) if t.dns >= 0 else -1
    connect = num(t.connect) if t.connect >= 0 else -1
    ssl = num(t.ssl) if t.ssl >= 0 else -1
    if ssl != -1 and ssl > connect:  # keep ssl inside connect
        connect = ssl
    send, wait, receive = num(max(0.0, t.send)), num(max(0.0, t.wait)), num(max(0.0, t.receive))
    timings = {
        "blocked": blocked,
        "dns": dns,
        "connect": connect,
        "ssl": ssl,
        "send": send,
        "wait": wait,
        "receive": receive,
    }
    total = sum(v for v in (blocked, dns, connect, send, wait, receive) if v >= 0)  # phase_total's order
    return timings, num(total)


def _ws_messages(e: Entry) -> list[dict[str, Any]]:
    return [frame_json(m.type, m.time, m.opcode, m.data) for m in e.websocket or []]


def encode_body(body: bytes, force: str | None) -> tuple[str, str | None]:
    """Body text and encoding: as the imported file had it (`force`), else text or base64."""
    if force == "base64":
        return base64.b64encode(body).decode("ascii"), "base64"
    if force == "text":
        return body.decode("utf-8", "surrogatepass"), None
    return text_or_base64(body)


def _post_data(
    e: Entry, h: dict[str, Any], omit: Sequence[str], mark: str | None = None, mark_base64: bool = False
) -> dict[str, Any] | None:
    pd = derive_post_data(e)
    if pd is None and mark is not None:  # streamed in: no params (see STREAM_BODY_ABOVE)
        pd = {"mimeType": header_value(e.request_headers, "content-type") or "", "text": mark}
        if mark_base64:
            pd["encoding"] = "base64"
    if pd is None:
        return dict(h["postData"]) if "postData" in h else None  # e.g. params only, or empty
    force = (h.get("encoding") or {}).get("postData")
    if force is not None and e.request_body is not None:
        text, enc = encode_body(e.request_body, force)
        pd["text"] = text
        if enc:
            pd["encoding"] = enc
        else:
            pd.pop("encoding", None)
    for key in ("text", "params"):
        if f"postData.{key}" in omit:
            pd.pop(key, None)
    pd.update(h.get("postData", {}))
    if e.request_truncated:
        pd["_truncated"] = True
    return pd


def entry_to_har(
    e: Entry,
    exclude_binary: bool = False,
    plan: ExportPlan | None = None,
    body_mark: str | None = None,
    request_mark: str | None = None,
    request_base64: bool = False,
) -> dict[str, Any]:
    """One Entry as a HAR entry dict; an imported entry comes back as its file had it.

    `body_mark`: the response body is streamed in separately (base64); its `text` is this
    mark, for the writer to replace (BINARY_EXCLUDED: left out by `exclude_binary`).
    `request_mark`: the same for a request body left in its file (`request_base64`: it is
    written in base64, else as text).

    Captured entries get what only capture knows: `compression`, real `headersSize` (HTTP/1.x),
    `_resourceType`. Header names a HAR may not hold go to `_invalidHeaders` on both sides."""
    h: dict[str, Any] = e.extra.get("har") or {}
    hreq, hresp, hcontent = h.get("request", {}), h.get("response", {}), h.get("content", {})
    omit: Sequence[str] = h.get("omit", ())
    captured = e.source != "import"
    sizes: dict[str, int] = e.extra.get("headersSize") or {}

    headers, invalid = harheaders(e.request_headers)
    request: dict[str, Any] = {
        "method": e.method,
        "url": e.url,
        "httpVersion": e.http_version or "HTTP/1.1",
        "cookies": derive_request_cookies(e.request_headers),
        "headers": headers,
        "queryString": derive_query(e.url),
    }
    pd = _post_data(e, h, omit, request_mark, request_base64)
    if pd is not None:
        request["postData"] = pd
    request["headersSize"] = sizes.get("request", -1)
    request["bodySize"] = e.request_body_size if e.request_body_size >= 0 else -1
    request.update(hreq)
    if invalid:  # last, where a re-import's copy of it comes back too
        request["_invalidHeaders"] = invalid

    headers, invalid = harheaders(e.response_headers, response=True)
    if e.status is None:
        response: dict[str, Any] = {
            "status": 0,
            "statusText": "",
            "httpVersion": e.response_http_version or e.http_version or "HTTP/1.1",
            "cookies": [],
            "headers": headers,
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
        if captured and e.response_wire_size >= 0 and size >= e.response_wire_size:
            content["compression"] = size - e.response_wire_size
        if body is None and body_mark == BINARY_EXCLUDED:
            content["comment"] = BINARY_EXCLUDED
        elif body is None and body_mark is not None:
            content["text"], content["encoding"] = body_mark, "base64"
        if body is not None:
            mime = str(hcontent.get("mimeType", content["mimeType"]))
            if exclude_binary and body and is_binary(body, mime):
                content["comment"] = BINARY_EXCLUDED
            else:
                text, enc = encode_body(body, (h.get("encoding") or {}).get("content"))
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
            "headers": headers,
            "content": content,
            "redirectURL": derive_redirect(e),
            "headersSize": sizes.get("response", -1),
            "bodySize": e.response_wire_size if e.response_wire_size >= 0 else -1,
        }
    if e.error is not None and h.get("errorAt") != "entry":
        response["_error"] = e.error
    response.update(hresp)
    if invalid:
        response["_invalidHeaders"] = invalid

    timings, total = har_timings(e)
    for k in _OPTIONAL_PHASES:
        if f"timings.{k}" in omit:
            del timings[k]
    timings.update(h.get("timings", {}))
    pageref, dangling = plan.pageref(e) if plan is not None else (PAGE_ID, None)
    out: dict[str, Any] = {"pageref": pageref} if pageref is not None else {}
    out.update({
        "startedDateTime": iso_time(e.started),
        "time": total,
        "request": request,
        "response": response,
        "cache": {},
        "timings": timings,
    })  # fmt: skip
    if e.server_ip and valid_ip(e.server_ip):
        out["serverIPAddress"] = e.server_ip
    if e.connection_id:
        out["connection"] = e.connection_id
    if captured:
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
    if dangling is not None:
        out["_pageref"] = dangling
    notes = e.extra.get("annotations")
    if notes:
        _write_annotations(out, notes)
    return out


ANNOTATION_FIELDS = ("content", "color", "tags", "createdAt", "updatedAt")


def annotations_comment(notes: Sequence[dict[str, Any]]) -> str:
    """What an entry's HAR `comment` says of its annotations: their texts, a blank line apart."""
    return "\n\n".join(str(a.get("content", "")) for a in notes)


def _write_annotations(out: dict[str, Any], notes: Sequence[dict[str, Any]]) -> None:
    """Annotations as the entry's `comment` (after the file's own, for an imported entry) and
    in full under `_necto.annotations`, which an import reads back."""
    text = annotations_comment(notes)
    own = out.get("comment")
    out["comment"] = f"{own}\n\n{text}" if isinstance(own, str) and own else text
    extension = dict(out.get("_necto") or {})
    extension["annotations"] = [{k: a[k] for k in ANNOTATION_FIELDS if k in a} for a in notes]
    out["_necto"] = extension


def marked_body(mark: str) -> bytes:
    """What `entry_to_har(..., body_mark=mark)` writes in place of the response body."""
    return b'"text":' + orjson.dumps(mark) + b',"encoding":"base64"'


_EXCLUDED_JSON = b'"comment":' + orjson.dumps(BINARY_EXCLUDED)


def render_fragment(
    f: HarFragment, body: bytes | None, pageref: str | None, dangling: str | None, exclude_binary: bool
) -> bytes:
    """The entry as `entry_to_har` + `orjson.dumps` would write it, given its response body."""
    data = f.data
    if f.cut >= 0 and body is None:  # its file went missing: written as if it had none
        data = data[: f.cut - 1] + data[f.cut :]
    elif f.cut >= 0:
        if exclude_binary and body and is_binary(body, f.mime):
            middle = _EXCLUDED_JSON
        else:
            text, enc = encode_body(body or b"", f.force)
            middle = b'"text":' + orjson.dumps(text) + (b',"encoding":"base64"' if enc else b"")
        data = data[: f.cut] + middle + data[f.cut :]
    if pageref is not None:
        data = b'{"pageref":' + orjson.dumps(pageref) + b"," + data[1:]
    if dangling is not None:
        data = data[:-1] + b',"_pageref":' + orjson.dumps(dangling) + b"}"
    return data


def _entry_json(e: Entry | FragmentEntry, exclude_binary: bool, plan: ExportPlan | None) -> bytes:
    if isinstance(e, FragmentEntry):
        ref, dangling = plan.pageref_of(e.fragment.page) if plan is not None else (PAGE_ID, None)
        return render_fragment(e.fragment, e.body, ref, dangling, exclude_binary)
    return orjson.dumps(entry_to_har(e, exclude_binary, plan))


def _dump_batch(
    entries: list[Entry | FragmentEntry],
    exclude_binary: bool,
    first: bool,
    redactor: Redactor | None,
    plan: ExportPlan | None,
) -> bytes:
    if redactor is not None:
        assert all(isinstance(e, Entry) for e in entries), "a redacted export reads entries in full"
        parts = [orjson.dumps(redactor.redact_entry(entry_to_har(e, exclude_binary, plan))) for e in entries]  # type: ignore[arg-type]
    else:
        parts = [_entry_json(e, exclude_binary, plan) for e in entries]
    joined = b",".join(parts)
    return joined if first else b"," + joined


def _header(plan: ExportPlan, redactor: Redactor | None = None) -> bytes:
    """Everything of `log` before its entries: version, creator, browser, pages, `_` fields,
    comment. (A redacted export writes `comment` after the entries, saying what it masked.)"""
    pages = [dict(p) for p in plan.pages]
    extra = {k: v for k, v in plan.log.items() if k != "comment" or redactor is None}
    if redactor is not None:
        pages = [redactor.redact_page(p) for p in pages]
        extra = {k: redactor.extensions(v, k) for k, v in extra.items()}
    log: dict[str, Any] = {"version": "1.2", "creator": CREATOR}
    if "browser" in extra:
        log["browser"] = extra.pop("browser")
    log["pages"] = pages
    log.update(extra)
    head = orjson.dumps({"log": log})
    return head[:-2] + b',"entries":['  # drop the closing "}}" and open the entries array


def _body_len(e: Entry | FragmentEntry) -> int:
    if isinstance(e, FragmentEntry):
        return len(e.body or b"") + len(e.fragment.data)
    return len(e.response_body or b"") + len(e.request_body or b"")


def _sides_in_files(e: Entry | FragmentEntry) -> list[str]:
    """The sides of this entry whose body was left in the body store (see STREAM_BODY_ABOVE)."""
    if not isinstance(e, Entry):
        return []
    sides = []
    if e.request_body is None and e.request_body_file is not None:
        sides.append("request")
    if e.status is not None and e.response_body is None and e.response_body_file is not None:
        sides.append("response")
    return sides


def _looks_binary(sample: bytes, mime: str) -> bool:
    """`is_binary` on the first piece of a body (a UTF-8 character cut at its end is not binary)."""
    return all(is_binary(sample[: len(sample) - cut], mime) for cut in range(min(4, len(sample))))


async def _is_text(chunks: AsyncIterator[bytes]) -> bool:
    """`text_or_base64`'s choice for a body read a piece at a time: UTF-8 without NUL."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        async for chunk in chunks:
            if "\x00" in decoder.decode(chunk):
                return False
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
    return True


_TEXT_SLICE = 1 << 16  # bytes decoded and dumped at a time: both reserve many times a piece's size


async def _as_text(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """UTF-8 pieces as the inside of a JSON string (a character cut between pieces is joined)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    async for chunk in chunks:
        yield b"".join(
            orjson.dumps(decoder.decode(chunk[i : i + _TEXT_SLICE]))[1:-1] for i in range(0, len(chunk), _TEXT_SLICE)
        )
    yield orjson.dumps(decoder.decode(b"", final=True))[1:-1]


async def _as_base64(chunks: AsyncIterator[bytes], carry: bytes = b"") -> AsyncIterator[bytes]:
    async for chunk in chunks:
        carry += chunk
        whole = len(carry) - len(carry) % 3
        yield base64.b64encode(carry[:whole])
        carry = carry[whole:]
    yield base64.b64encode(carry)


async def _streamed_entry(
    e: Entry, sides: list[str], read_body: BodyReader, lead: bytes, exclude_binary: bool, plan: ExportPlan | None
) -> AsyncIterator[bytes]:
    """One entry whose bodies in `sides` are read from their files a piece at a time, written
    where its entry's JSON has their marks; memory stays at one piece. A body whose file is
    missing is written as if there were none."""
    streams: list[tuple[str, AsyncIterator[bytes]]] = []  # (mark, JSON string pieces), in entry order
    opened: list[AsyncIterator[bytes]] = []  # the files' pieces, closed whatever happens
    request_mark, request_base64, body_mark = None, False, None
    try:
        if "request" in sides and (chunks := await read_body(e, "request")) is not None:
            force = ((e.extra.get("har") or {}).get("encoding") or {}).get("postData")
            if force != "base64":  # a first pass over the file: text or base64, as for a short body
                request_base64 = not await _is_text(chunks)
                chunks = await read_body(e, "request")
            else:
                request_base64 = True
            if chunks is not None:
                opened.append(chunks)
                request_mark = f"necto-body-{secrets.token_hex(16)}"
                streams.append((request_mark, _as_base64(chunks) if request_base64 else _as_text(chunks)))
        if "response" in sides and (chunks := await read_body(e, "response")) is not None:
            opened.append(chunks)
            first = await anext(chunks, b"")
            mime = str(((e.extra.get("har") or {}).get("content") or {}).get("mimeType", derive_mime(e)))
            if exclude_binary and first and _looks_binary(first, mime):
                body_mark = BINARY_EXCLUDED
            else:
                body_mark = f"necto-body-{secrets.token_hex(16)}"
                streams.append((body_mark, _as_base64(chunks, first)))
        data = orjson.dumps(
            await asyncio.to_thread(entry_to_har, e, exclude_binary, plan, body_mark, request_mark, request_base64)
        )
        out = lead
        for mark, pieces in streams:
            head, found, data = data.partition(f'"{mark}"'.encode())
            assert found, "the body's mark is in its entry"
            yield out + head + b'"'
            async for piece in pieces:
                yield piece
            out = b'"'
        yield out + data
    finally:
        for chunks in opened:
            await chunks.aclose()  # type: ignore[attr-defined]


async def export_har(
    entries: AsyncIterable[Entry | FragmentEntry] | Iterable[Entry | FragmentEntry],
    *,
    title: str = "Necto Export",
    exclude_binary: bool = False,
    redact: bool = False,
    plan: ExportPlan | None = None,
    read_body: BodyReader | None = None,
) -> AsyncIterator[bytes]:
    """Stream a HAR document. Entries are serialised in small batches in a worker thread,
    so neither memory nor the event loop depend on how many there are.

    Entries whose response body was left in the body store (`iter_entries(...,
    response_limit=STREAM_BODY_ABOVE)`) get it from `read_body` a piece at a time, so memory
    does not depend on body sizes either (a redacted export reads such a body whole: the
    redactor needs it).

    Entries may come as FragmentEntry (Store.iter_export): their HAR was serialised once
    already, and only the body and page reference are written in (not with `redact`).

    `plan` gives the pages, each entry's page and the log fields (`plan_for_session`,
    `plan_for_entries`); without one, a single page titled `title` starting with the first entry.

    With `redact`, one Redactor sees every entry in order (it remembers credentials to mask
    where they reappear) and `log.comment`, written last, says what was masked."""
    redactor = Redactor() if redact else None
    it = _aiter(entries)
    first_entry = await anext(it, None)
    head = plan
    if head is None:  # every entry on one page
        head = ExportPlan(own_page=PAGE_ID)
        started = first_entry.started if first_entry is not None else time.time()
        head.pages.append({"startedDateTime": iso_time(started), "id": PAGE_ID, "title": title,
                           "pageTimings": {"onContentLoad": -1, "onLoad": -1}})  # fmt: skip
    yield _header(head, redactor)
    batch: list[Entry | FragmentEntry] = []
    size = 0
    first = True
    pending = _Pending()

    async def flush() -> bytes:
        nonlocal first
        data = await asyncio.to_thread(_dump_batch, batch, exclude_binary, first, redactor, plan)
        first = False
        return data

    async def every() -> AsyncIterator[Entry | FragmentEntry]:
        if first_entry is not None:
            yield first_entry
        async for e in it:
            yield e

    async for e in every():
        sides = _sides_in_files(e) if read_body is not None else []
        if sides and redactor is not None:  # the redactor reads the whole entry
            assert isinstance(e, Entry) and read_body is not None
            for side in sides:
                if (chunks := await read_body(e, side)) is not None:
                    setattr(e, f"{side}_body", b"".join([c async for c in chunks]))
        elif sides:
            assert isinstance(e, Entry) and read_body is not None
            if batch:
                pending.add(await flush())
                batch, size = [], 0
            async for piece in _streamed_entry(e, sides, read_body, b"" if first else b",", exclude_binary, plan):
                pending.add(piece)
                if pending.size >= CHUNK_BYTES:
                    yield pending.take()
            first = False
            continue
        batch.append(e)
        size += _body_len(e)
        if len(batch) >= BATCH_ENTRIES or size >= BATCH_BODY_BYTES:
            pending.add(await flush())
            batch, size = [], 0
            if pending.size >= CHUNK_BYTES:
                yield pending.take()
    if batch:
        pending.add(await flush())
    if redactor is not None:
        comment = head.log.get("comment")
        existing = redactor.text(comment) if isinstance(comment, str) else None
        pending.add(b'],"comment":' + orjson.dumps(redaction_comment(redactor.counts, existing)) + b"}}")
    else:
        pending.add(b"]}}")
    yield pending.take()


class _Pending:
    """Output waiting to be sent: pieces joined only when sent (one piece is sent as it is)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> None:
        self.parts.append(data)
        self.size += len(data)

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts, self.size = [], 0
        return data


async def _aiter[T](entries: AsyncIterable[T] | Iterable[T]) -> AsyncIterator[T]:
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
