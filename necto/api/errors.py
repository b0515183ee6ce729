"""Every error leaves the API as JSON `{"error": "..."}` with its status, never HTML."""

from __future__ import annotations

import errno
import logging
import sqlite3
from typing import Any

import orjson
from aiohttp import web

from necto.search.filterlang import FilterError, Node, parse_filter
from necto.vocab import ENTRY_NOT_FOUND, SESSION_NOT_FOUND, parse_bool

log = logging.getLogger(__name__)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS),
        status=status,
        content_type="application/json",
        headers=headers,
    )


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"error": message, **extra}


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def session_not_found(session_id: str | None = None) -> ApiError:
    """404 `Session not found`; `sessionId` says which when a request names several."""
    return ApiError(404, SESSION_NOT_FOUND, **({"sessionId": session_id} if session_id is not None else {}))


def entry_not_found() -> ApiError:
    return ApiError(404, ENTRY_NOT_FOUND)


def flag(value: Any, name: str, default: bool = False) -> bool:
    """A boolean option from JSON or a query string, one rule for every endpoint."""
    try:
        result = parse_bool(value, default)
    except ValueError:
        raise bad_request(f"{name} must be true or false") from None
    assert result is not None
    return result


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high]; absent or empty gives `default`."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise bad_request(f"{name} must be between {low} and {high}")
    return value


def csv_param(value: str | None) -> list[str]:
    """A comma-separated query parameter (`methods=GET,POST`), blanks dropped."""
    return [v.strip() for v in (value or "").split(",") if v.strip()]


INSUFFICIENT_STORAGE = "Insufficient storage"
DATABASE_DAMAGED = "The database is damaged"
DAMAGE: web.AppKey[list[str]] = web.AppKey("necto.damage", list)  # what reading hit, for health


def disk_full(exc: BaseException) -> bool:
    """A full disk (or quota), as SQLite or the OS reports it."""
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def filter_arg(value: Any, name: str = "filter") -> Node | None:
    """The filter language from a query parameter or JSON field; a malformed query is a 400
    naming the offending token (`position`, 0-based, and `token`)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string")
    try:
        return parse_filter(value)
    except FilterError as e:
        raise filter_error(e) from None


def filter_error(e: FilterError) -> ApiError:
    """400 naming the offending token: `error`, `position` (0-based), `token`, `reason`."""
    return ApiError(400, str(e), position=e.position, token=e.token, reason=e.reason)


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as e:
        return json_response(e.body, e.status)
    except (sqlite3.Error, OSError) as e:
        if isinstance(e, sqlite3.DatabaseError) and "malformed" in str(e):
            log.error("%s %s: the database is damaged (%s)", request.method, request.path, e)
            detail = f"{e}: stop Necto and run `necto db check` (then `necto db recover`)"
            request.app[DAMAGE][:] = [detail]  # /api/health says so from now on
            return json_response({"error": DATABASE_DAMAGED, "detail": detail}, 500)
        if not disk_full(e):
            log.exception("unhandled error in %s %s", request.method, request.path)
            return json_response({"error": "Internal server error"}, 500)
        log.warning("%s %s: disk full (%s)", request.method, request.path, e)
        return json_response(
            {"error": INSUFFICIENT_STORAGE, "detail": f"The disk holding Necto's data is full: {e}"}, 507
        )
    except web.HTTPException as e:
        if e.status < 400:
            raise
        message = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}.get(e.status, e.reason)
        return json_response({"error": message}, e.status)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return json_response({"error": "Internal server error"}, 500)


async def read_json(request: web.Request) -> dict[str, Any]:
    """The JSON object body of a request; empty body means {}; anything else is a 400."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request("Invalid JSON body") from None
    if not isinstance(data, dict):
        raise bad_request("JSON body must be an object")
    return data
