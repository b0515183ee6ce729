"""/api/har: export (streamed), import and validate (multipart, streamed to a temp file).

Shapes, status codes and error strings follow ../shared/spec/nectoproxy-har-api.md. Uploads are
never held in memory: the `file` part is copied to a temporary file chunk by chunk (and cut off
with a 413 past `--max-upload-size`), then parsed from disk in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePath

from aiohttp import BodyPartReader, web
from aiohttp.client_exceptions import ClientPayloadError
from aiohttp.http_exceptions import HttpProcessingError

from necto.api.context import ctx
from necto.api.errors import (
    ApiError,
    bad_request,
    filter_arg,
    flag,
    int_param,
    json_response,
    not_found,
    read_json,
    session_not_found,
)
from necto.har.export import safe_filename
from necto.har.importer import SessionNotFound, import_har
from necto.har.report import HarError
from necto.har.store_export import StoreExport, store_export
from necto.har.validate import validate_har
from necto.model import now_ms
from necto.uploads import new_upload_file

routes = web.RouteTableDef()

DEFAULT_EXPORT_NAME = "Necto Export"
COPY_CHUNK = 1 << 20


async def _stream(request: web.Request, export: StoreExport) -> web.StreamResponse:
    resp = web.StreamResponse(
        headers={
            "Content-Type": "application/json",
            "Content-Disposition": f'attachment; filename="{safe_filename(export.title, now_ms())}"',
        }
    )
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    async for chunk in export.chunks():
        await resp.write(chunk)
    await resp.write_eof()
    return resp


@routes.get("/api/har/export/{sessionId}")
async def export_session(request: web.Request) -> web.StreamResponse:
    store = ctx(request).store
    session = await store.get_session(request.match_info["sessionId"])
    if session is None:
        raise session_not_found()
    await store.flush()  # include what the proxy captured a moment ago
    exclude = flag(request.query.get("excludeBinary"), "excludeBinary")
    redact = flag(request.query.get("redact"), "redact")
    selection = filter_arg(request.query.get("filter") or None)
    export = await store_export(store, session_id=session.id, selection=selection, title=session.name,
                                exclude_binary=exclude, redact=redact)  # fmt: skip
    assert export is not None
    return await _stream(request, export)


@routes.post("/api/har/export")
async def export_selected(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    ids = body.get("entryIds")
    if not isinstance(ids, list) or not ids:
        raise bad_request("No entry IDs provided")
    if not all(isinstance(i, str) for i in ids):
        raise bad_request("entryIds must be an array of strings")
    name = body.get("sessionName")
    title = name.strip() if isinstance(name, str) and name.strip() else DEFAULT_EXPORT_NAME
    exclude = flag(request.query.get("excludeBinary", body.get("excludeBinary")), "excludeBinary")
    redact = flag(request.query.get("redact", body.get("redact")), "redact")
    store = ctx(request).store
    await store.flush()
    export = await store_export(store, entry_ids=ids, title=title, exclude_binary=exclude, redact=redact)
    if export is None:
        raise not_found("No valid entries found")
    return await _stream(request, export)


# ---------------------------------------------------------------------------- uploads
@dataclass
class Upload:
    path: Path | None
    filename: str
    fields: dict[str, str]


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"File too large: the upload limit is {limit} bytes (--max-upload-size)")


@asynccontextmanager
async def receive_upload(request: web.Request) -> AsyncIterator[Upload]:
    """Read a multipart form: text fields into memory, `file` to a temp file (deleted after)."""
    c = ctx(request)
    limit = c.config.max_upload_size
    ctype = request.content_type.lower()
    if ctype != "multipart/form-data":
        if ctype == "application/json":
            raise bad_request("HAR upload must use multipart/form-data (a `file` field), not JSON")
        raise bad_request("No file provided")
    if limit >= 0 and request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise _too_large(limit)
    tmpdir = c.config.tmp_dir
    upload = Upload(None, "", {})
    try:
        try:
            await _read_form(request, upload, tmpdir, limit)
        except _MALFORMED as e:
            raise bad_request(f"Malformed multipart/form-data body: {_reason(e)}") from None
        if upload.path is None:
            raise bad_request("No file provided")
        yield upload
    finally:
        if upload.path is not None:
            with suppress(OSError):
                upload.path.unlink()


# What aiohttp raises for a body that is not the multipart it says (no opening or closing
# boundary, a part cut off, bad part headers).
_MALFORMED = (
    ValueError,
    AssertionError,
    RuntimeError,
    HttpProcessingError,
    ClientPayloadError,
    UnicodeDecodeError,
    LookupError,
)


def _reason(e: BaseException) -> str:
    text = " ".join(str(e).split())[:200]
    return text or type(e).__name__


async def _read_form(request: web.Request, upload: Upload, tmpdir: Path, limit: int) -> None:
    reader = await request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "file" and upload.path is None:
            upload.filename = part.filename or "upload.har"
            fd, upload.path = new_upload_file(tmpdir)
            await _copy_part(part, fd, limit)
        elif part.name in ("sessionId", "sessionName") and part.name not in upload.fields:
            text = (await part.read(decode=True))[:4096].decode("utf-8", "replace").strip()
            upload.fields[part.name] = text
        else:
            await part.release()


async def _copy_part(part: BodyPartReader, fd: int, limit: int) -> None:
    """Copy one form part to `fd`, a megabyte at a time, writes off the event loop."""
    written = 0
    buf = bytearray()
    with os.fdopen(fd, "wb") as f:
        while True:
            chunk = await part.read_chunk(256 * 1024)
            if not chunk:
                break
            written += len(chunk)
            if limit >= 0 and written > limit:
                raise _too_large(limit)
            buf += chunk
            if len(buf) >= COPY_CHUNK:
                await asyncio.to_thread(f.write, bytes(buf))
                buf.clear()
        if buf:
            await asyncio.to_thread(f.write, bytes(buf))


def _stem(filename: str) -> str:
    name = PurePath(filename.replace("\\", "/")).name
    for suffix in (".har", ".json", ".harp"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or name
    return name or "upload"


@routes.post("/api/har/import")
async def import_file(request: web.Request) -> web.Response:
    c = ctx(request)
    async with receive_upload(request) as up:
        assert up.path is not None
        session_id = up.fields.get("sessionId") or None
        name = up.fields.get("sessionName") or f"Imported: {_stem(up.filename)}"
        path = up.path
        try:
            result = await import_har(
                c.store, lambda: open(path, "rb"), session_name=name, session_id=session_id,
                file_name=PurePath(up.filename.replace("\\", "/")).name,
            )  # fmt: skip
        except SessionNotFound:
            raise session_not_found() from None
        except HarError as e:
            body = e.body()
            raise ApiError(400, body.pop("error"), **body) from None
    return json_response(result.as_json())


@routes.post("/api/har/validate")
async def validate_file(request: web.Request) -> web.Response:
    async with receive_upload(request) as up:
        assert up.path is not None
        path = up.path
        try:
            report = await asyncio.to_thread(validate_har, lambda: open(path, "rb"))
        except HarError as e:
            return json_response(e.body(validate=True), 400)
    return json_response(report.validation_json())


MAX_WARNINGS_PAGE = 1000


@routes.get("/api/har/imports/{importId}")
async def get_import(request: web.Request) -> web.Response:
    found = await ctx(request).store.get_import(request.match_info["importId"])
    if found is None:
        raise not_found("Import not found")
    return json_response(found)


@routes.get("/api/har/imports/{importId}/warnings")
async def import_warnings(request: web.Request) -> web.Response:
    """Every warning of an import (or, with `skipped=true`, every skipped entry), paged."""
    store = ctx(request).store
    found = await store.get_import(request.match_info["importId"])
    if found is None:
        raise not_found("Import not found")
    offset = int_param(request, "offset", 0, 0, 1 << 62)
    limit = int_param(request, "limit", 100, 1, MAX_WARNINGS_PAGE)
    skipped = flag(request.query.get("skipped"), "skipped")
    items = await store.import_warnings(found["id"], offset, limit, skipped)
    total = found["skippedCount"] if skipped else found["warningCount"]
    key = "skipped" if skipped else "warnings"
    return json_response({"importId": found["id"], "sessionId": found["sessionId"], "total": total,
                          "offset": offset, "limit": limit, key: items})  # fmt: skip
