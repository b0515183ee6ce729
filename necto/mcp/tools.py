"""The tools `necto mcp` offers: NectoProxy's nine (same names and parameters, api-notes §9) and
Necto's own (sessions, HAR export/import, diff, inventory, OpenAPI).

Each tool validates its arguments, asks the Backend (REST API, or the data directory when
Necto is not running and the tool only reads), and returns a compact JSON-able result.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from necto.compare import CompareOptions, compare_sources, parse_json_path
from necto.har.export import entry_to_har
from necto.har.importer import SessionNotFound, import_har
from necto.har.report import HarError
from necto.har.store_export import store_export
from necto.inventory import build_inventory, inventory_json, openapi_document, openapi_yaml
from necto.mcp.backend import Backend, ToolError
from necto.mcp.present import (
    DEFAULT_BODY_CHARS,
    MAX_BODY_CHARS,
    diff_view,
    entry_view,
    inventory_view,
    redact_har_entry,
    session_view,
    summary,
    traffic_stats,
)
from necto.redact import Redactor
from necto.rules.mcp import rule_from_tool_args
from necto.rules.model import RuleError
from necto.store import Store, TrafficQuery
from necto.store.bodyfiles import WHOLE_BODY_MAX
from necto.views import entry_summary

Args = dict[str, Any]
SCAN_LIMIT = 1000  # search_traffic looks at this many of the latest entries (as NectoProxy does)


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    schema: dict[str, Any]
    run: Callable[[Backend, Args], Awaitable[Any]]
    read_only: bool = True


# ---------------------------------------------------------------------------- arguments
def _int(args: Args, name: str, default: int | None, lo: int, hi: int) -> int | None:
    value = args.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise ToolError(f"{name} must be an integer")
    if not lo <= value <= hi:
        raise ToolError(f"{name} must be between {lo} and {hi}")
    return int(value)


def _str(args: Args, name: str, required: bool = False) -> str | None:
    value = args.get(name)
    if value is None or value == "":
        if required:
            raise ToolError(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise ToolError(f"{name} must be a string")
    return value


def _bool(args: Args, name: str, default: bool) -> bool:
    value = args.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ToolError(f"{name} must be true or false")
    return value


def _strings(args: Args, name: str) -> list[str]:
    value = args.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ToolError(f"{name} must be a list of strings")
    return value


def _object(args: Args, name: str) -> dict[str, Any] | None:
    value = args.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ToolError(f"{name} must be an object")
    return value


def _path(args: Args, name: str = "path") -> Path:
    text = _str(args, name, required=True)
    assert text is not None
    return Path(text).expanduser().resolve()


# Schema pieces.
S_SESSION = {"type": "string", "description": "session id or name (default: the active session)"}
S_REDACT = {
    "type": "boolean",
    "default": True,
    "description": "mask credentials, cookies and personal data (default true)",
}
S_BODY_CHARS = {
    "type": "integer",
    "minimum": 0,
    "maximum": MAX_BODY_CHARS,
    "default": DEFAULT_BODY_CHARS,
    "description": "body characters to show",
}


def _schema(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    return out


# ---------------------------------------------------------------------------- sessions and lists
async def _session(b: Backend, key: str | None, online: bool, store: Store | None = None) -> dict[str, Any]:
    """A session by id or name (the active one without a key), as the API shows it."""
    if online:
        if key is None:
            return dict(await b.call("GET", "/api/sessions/active"))
        try:
            return dict(await b.call("GET", f"/api/sessions/{quote(key, safe='')}"))
        except ToolError:
            for s in await b.call("GET", "/api/sessions"):
                if s["name"] == key:
                    return dict(s)
            raise ToolError(f"Session not found: {key} (list_sessions shows them)") from None
    assert store is not None
    found = await store.find_session(key) if key is not None else await store.active_session()
    if found is None:
        raise ToolError(f"Session not found: {key} (list_sessions shows them)" if key else "No active session")
    return found.as_json()


async def _entries(
    b: Backend,
    session_key: str | None,
    *,
    limit: int,
    offset: int = 0,
    methods: list[str] | None = None,
    statuses: list[str] | None = None,
    hosts: list[str] | None = None,
    search: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """(session, summaries newest first, total matching) from the API or the store."""
    if await b.online():
        session = await _session(b, session_key, True)
        params = {
            "sessionId": session["id"],
            "limit": str(limit),
            "offset": str(offset),
            "sortField": "timestamp",
            "sortDirection": "desc",
        }
        for name, values in (("methods", methods), ("statusCodes", statuses), ("hosts", hosts)):
            if values:
                params[name] = ",".join(values)
        if search:
            params["search"] = search
        page = await b.call("GET", "/api/traffic", params=params)
        return session, page["entries"], page["count"]
    async with b.store() as store:
        session = await _session(b, session_key, False, store)
        q = TrafficQuery(
            session_id=session["id"],
            search=search,
            methods=methods or [],
            hosts=hosts or [],
            limit=limit,
            offset=offset,
            sort_direction="desc",
        )
        for code in statuses or []:
            q.add_status(code)
        found, count = await store.list_entries(q)
        return session, [entry_summary(e) for e in found], count


def _brief_session(s: dict[str, Any]) -> dict[str, Any]:
    return {"id": s["id"], "name": s["name"]}


async def list_sessions(b: Backend, args: Args) -> Any:
    if await b.online():
        sessions = await b.call("GET", "/api/sessions")
    else:
        async with b.store() as store:
            sessions = [s.as_json() for s in await store.list_sessions()]
    return {"sessions": [session_view(s) for s in sessions]}


async def list_traffic(b: Backend, args: Args) -> Any:
    limit = _int(args, "limit", 50, 1, 1000)
    offset = _int(args, "offset", 0, 0, 1 << 40)
    status = _int(args, "status", None, 0, 999)
    method, host = _str(args, "method"), _str(args, "host")
    assert limit is not None and offset is not None
    session, entries, count = await _entries(
        b, _str(args, "sessionId"), limit=limit, offset=offset, methods=[method] if method else None,
        statuses=[str(status)] if status is not None else None, hosts=[host] if host else None,
    )  # fmt: skip
    redactor = Redactor() if _bool(args, "redact", True) else None
    out = {
        "session": _brief_session(session),
        "total": count,
        "offset": offset,
        "entries": [summary(e, redactor) for e in entries],
    }
    if offset + len(entries) < count:
        out["note"] = (
            f"newest first; {count - offset - len(entries)} more: call list_traffic with offset={offset + len(entries)}"
        )
    return out


async def search_traffic(b: Backend, args: Args) -> Any:
    limit = _int(args, "limit", 50, 1, 1000)
    lo, hi = _int(args, "statusMin", None, 0, 999), _int(args, "statusMax", None, 0, 999)
    url_part, host, ctype, method = (
        _str(args, "urlContains"),
        _str(args, "host"),
        _str(args, "contentType"),
        _str(args, "method"),
    )
    assert limit is not None
    session, scanned, _ = await _entries(
        b, _str(args, "sessionId"), limit=SCAN_LIMIT, methods=[method] if method else None, search=url_part
    )

    def keep(e: dict[str, Any]) -> bool:
        status = e.get("status")
        if url_part and url_part.lower() not in e["url"].lower():
            return False
        if host and host.lower() not in (e.get("host") or "").lower():
            return False
        if ctype and ctype.lower() not in (e.get("contentType") or "").lower():
            return False
        if lo is not None and (status is None or status < lo):
            return False
        return not (hi is not None and (status is None or status > hi))

    matched = [e for e in scanned if keep(e)]
    redactor = Redactor() if _bool(args, "redact", True) else None
    out = {
        "session": _brief_session(session),
        "scanned": len(scanned),
        "matched": len(matched),
        "entries": [summary(e, redactor) for e in matched[:limit]],
    }
    if len(matched) > limit:
        out["note"] = f"first {limit} of {len(matched)} matches shown (newest first); raise limit for more"
    return out


async def get_traffic_stats(b: Backend, args: Args) -> Any:
    sample = _int(args, "sampleLimit", 1000, 1, 10_000)
    assert sample is not None
    session, entries, count = await _entries(b, _str(args, "sessionId"), limit=sample)
    return {"session": _brief_session(session), **traffic_stats(entries, count)}


# ---------------------------------------------------------------------------- one entry
async def _har_entry(b: Backend, entry_id: str, redact: bool) -> dict[str, Any]:
    if await b.online():
        try:
            har = await b.call("POST", "/api/har/export", json={"entryIds": [entry_id], "redact": redact})
        except ToolError as e:
            if "No valid entries found" in str(e):
                raise ToolError(f"Traffic entry not found: {entry_id}") from None
            raise
        return dict(har["log"]["entries"][0])
    async with b.store() as store:
        found = await store.get_entry(entry_id)
    if found is None:
        raise ToolError(f"Traffic entry not found: {entry_id}")
    har = entry_to_har(found)
    return redact_har_entry(har) if redact else har


async def get_traffic(b: Backend, args: Args) -> Any:
    entry_id = _str(args, "id", required=True)
    part = _str(args, "part") or "both"
    if part not in ("both", "request", "response"):
        raise ToolError("part must be both, request or response")
    limit = _int(args, "maxBodyChars", DEFAULT_BODY_CHARS, 0, MAX_BODY_CHARS)
    offset = _int(args, "bodyOffset", 0, 0, 1 << 40)
    assert entry_id is not None and limit is not None and offset is not None
    har = await _har_entry(b, entry_id, _bool(args, "redact", True))
    return entry_view(entry_id, har, part, offset, limit)


async def replay_request(b: Backend, args: Args) -> Any:
    entry_id = _str(args, "id", required=True)
    body: dict[str, Any] = {}
    for name in ("method", "url", "body"):
        if _str(args, name) is not None:
            body[name] = args[name]
    headers = _object(args, "headers")
    if headers is not None:
        body["headers"] = headers
    limit = _int(args, "maxBodyChars", DEFAULT_BODY_CHARS, 0, MAX_BODY_CHARS)
    assert entry_id is not None and limit is not None
    await b.require_online("replay_request")
    data = await b.call("POST", f"/api/traffic/{quote(entry_id, safe='')}/replay", json=body)
    result, comparison = data["result"], data.get("comparison") or {}
    ctype = next((str(v) for k, v in (result.get("headers") or {}).items() if k.lower() == "content-type"), "")
    har = {
        "request": {"method": body.get("method", ""), "url": body.get("url", ""), "headers": []},
        "response": {
            "status": result.get("status"), "statusText": result.get("statusText"),
            "headers": [{"name": k, "value": v if isinstance(v, str) else ", ".join(v)} for k, v in (result.get("headers") or {}).items()],
            "content": {"mimeType": ctype, "text": result.get("body"), "encoding": "base64"} if result.get("body") else {},
        },
    }  # fmt: skip
    if _bool(args, "redact", True):
        redact_har_entry(har)
    view = entry_view(str(data.get("entryId")), har, "response", 0, limit)
    out = {
        "entryId": data.get("entryId"),
        "originalId": data.get("originalId"),
        "status": result.get("status"),
        "statusText": result.get("statusText"),
        "durationMs": result.get("duration"),
        "error": result.get("error"),
        "response": view["response"],
        "comparison": {
            "identical": comparison.get("identical"),
            "changes": [
                {k: (str(v)[:120] if k in ("original", "replayed") else v) for k, v in c.items()}
                for c in comparison.get("changes", [])[:20]
            ],
            "originalDurationMs": comparison.get("originalDuration"),
        },
        "note": "the replay is recorded as a new entry: get_traffic with entryId shows it in full",
    }
    return {k: v for k, v in out.items() if v is not None}


# ---------------------------------------------------------------------------- rules
def rule_body(args: Args) -> dict[str, Any]:
    """NectoProxy's create_rule parameters -> the body of POST /api/rules (api-notes §1, §9).
    One translation for Necto: `necto.rules.mcp`."""
    try:
        body = rule_from_tool_args(args)
    except RuleError as e:
        raise ToolError(str(e)) from None
    return {k: v for k, v in body.items() if v is not None or k == "config"}


def _rule_view(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r.get(k) for k in ("id", "name", "enabled", "priority", "action", "match", "config")}


async def list_rules(b: Backend, args: Args) -> Any:
    await b.require_online("list_rules")
    data = await b.call("GET", "/api/rules")
    return {"rules": [_rule_view(r) for r in data["rules"]]}


async def create_rule(b: Backend, args: Args) -> Any:
    body = rule_body(args)
    await b.require_online("create_rule")
    return {
        "rule": _rule_view(await b.call("POST", "/api/rules", json=body)),
        "note": "active for the next matching request",
    }


async def toggle_rule(b: Backend, args: Args) -> Any:
    rule_id = _str(args, "id", required=True)
    assert rule_id is not None
    await b.require_online("toggle_rule")
    return {"rule": _rule_view(await b.call("PATCH", f"/api/rules/{quote(rule_id, safe='')}/toggle"))}


async def delete_rule(b: Backend, args: Args) -> Any:
    rule_id = _str(args, "id", required=True)
    assert rule_id is not None
    await b.require_online("delete_rule")
    await b.call("DELETE", f"/api/rules/{quote(rule_id, safe='')}")
    return {"success": True, "deleted": rule_id}


# ---------------------------------------------------------------------------- HAR files
def _writable(path: Path, overwrite: bool) -> None:
    if not path.parent.is_dir():
        raise ToolError(f"cannot write {path}: no such directory")
    if path.exists() and not overwrite:
        raise ToolError(f"{path} exists: pass overwrite=true to replace it")


async def export_har_file(b: Backend, args: Args) -> Any:
    path = _path(args)
    redact, exclude = _bool(args, "redact", True), _bool(args, "excludeBinary", False)
    ids = _strings(args, "entryIds")
    _writable(path, _bool(args, "overwrite", False))
    tmp = path.with_name(path.name + ".tmp")
    written = 0
    try:
        with open(tmp, "wb") as f:
            if await b.online():
                if ids:
                    req = b.request(
                        "POST", "/api/har/export", json={"entryIds": ids, "redact": redact, "excludeBinary": exclude}
                    )
                    label = f"{len(ids)} selected entries"
                else:
                    session = await _session(b, _str(args, "sessionId"), True)
                    params = {"redact": str(redact).lower(), "excludeBinary": str(exclude).lower()}
                    req = b.request("GET", f"/api/har/export/{session['id']}", params=params)
                    label = f'session "{session["name"]}" ({session["trafficCount"]} entries)'
                async with req as r:
                    async for chunk in r.content.iter_chunked(1 << 20):
                        await asyncio.to_thread(f.write, chunk)
                        written += len(chunk)
            else:
                async with b.store() as store:
                    if ids:
                        export = await store_export(store, entry_ids=ids, title="Necto Export",
                                                    exclude_binary=exclude, redact=redact)  # fmt: skip
                        if export is None:
                            raise ToolError("No valid entries found")
                    else:
                        found = await _session(b, _str(args, "sessionId"), False, store)
                        export = await store_export(store, session_id=found["id"], title=found["name"],
                                                    exclude_binary=exclude, redact=redact)  # fmt: skip
                        assert export is not None
                        label = f'session "{found["name"]}" ({found["trafficCount"]} entries)'
                    async for chunk in export.chunks():
                        await asyncio.to_thread(f.write, chunk)
                        written += len(chunk)
                    if ids:
                        label = f"{export.count} selected entries"
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {"path": str(path), "bytes": written, "exported": label, "redacted": redact}


async def import_har_file(b: Backend, args: Args) -> Any:
    path = _path(args)
    if not path.is_file():
        raise ToolError(f"No such file: {path}")
    name, session_id = _str(args, "sessionName"), _str(args, "sessionId")
    if await b.online():
        form = aiohttp.FormData()
        if session_id:
            form.add_field("sessionId", session_id)
        if name:
            form.add_field("sessionName", name)
        with open(path, "rb") as f:
            form.add_field("file", f, filename=path.name, content_type="application/json")
            result = await b.call("POST", "/api/har/import", data=form)
    else:
        async with b.store() as store:
            try:
                res = await import_har(
                    store,
                    lambda: open(path, "rb"),
                    session_name=name or f"Imported: {path.stem}",
                    session_id=session_id,
                )
            except SessionNotFound:
                raise ToolError("Session not found") from None
            except HarError as e:
                raise ToolError(e.import_message + (f": {e.detail}" if e.detail else "")) from None
            result = res.as_json()
    warnings = result.get("warnings") or []
    out = {
        k: result.get(k)
        for k in ("imported", "total", "sessionId", "sessionName", "skippedCount", "warningCount")
        if result.get(k) is not None
    }
    if warnings:
        out["warnings"] = warnings[:10]
    if result.get("skipped"):
        out["skipped"] = result["skipped"][:10]
    return out


# ---------------------------------------------------------------------------- diff, inventory, OpenAPI
async def diff_sessions(b: Backend, args: Args) -> Any:
    a_key, b_key = _str(args, "a", required=True), _str(args, "b", required=True)
    limit = _int(args, "maxItems", 20, 1, 1000)
    assert a_key is not None and b_key is not None and limit is not None
    ignore_paths = _strings(args, "ignorePaths")
    for p in ignore_paths:
        try:
            parse_json_path(p)
        except ValueError as e:
            raise ToolError(str(e)) from None
    headers, ignore_host = _strings(args, "ignoreHeaders"), _bool(args, "ignoreHost", False)
    threshold_ms, threshold_pct = _int(args, "thresholdMs", 100, 0, 1 << 31), _int(args, "thresholdPct", 50, 0, 1 << 31)
    assert threshold_ms is not None and threshold_pct is not None
    if await b.online():
        sa, sb = await _session(b, a_key, True), await _session(b, b_key, True)
        options = {
            "ignoreHeaders": headers,
            "ignorePaths": ignore_paths,
            "ignoreHost": ignore_host,
            "thresholdMs": threshold_ms,
            "thresholdPct": threshold_pct,
        }
        d = await b.call("POST", "/api/compare/sessions", json={"a": sa["id"], "b": sb["id"], **options})
    else:
        async with b.store() as store:
            sa, sb = await _session(b, a_key, False, store), await _session(b, b_key, False, store)
            opts = CompareOptions(
                ignore_headers=frozenset(h.lower() for h in headers), ignore_paths=ignore_paths,
                ignore_host=ignore_host, threshold_ms=float(threshold_ms), threshold_pct=float(threshold_pct),
            )  # fmt: skip
            d = await compare_sources(
                store.iter_entries(sa["id"], body_limit=WHOLE_BODY_MAX),
                store.iter_entries(sb["id"], body_limit=WHOLE_BODY_MAX),
                functools.partial(store.get_entries, body_limit=WHOLE_BODY_MAX),
                functools.partial(store.get_entries, body_limit=WHOLE_BODY_MAX),
                opts,
                (sa["name"], sb["name"]),
            )
    return diff_view(d, limit, Redactor() if _bool(args, "redact", True) else None)


async def _inventory_data(b: Backend, args: Args) -> tuple[dict[str, Any], Any]:
    """(session, inventory JSON online | Inventory offline)."""
    include_static = _bool(args, "includeStatic", False)
    if await b.online():
        session = await _session(b, _str(args, "sessionId"), True)
        return session, None
    async with b.store() as store:
        session = await _session(b, _str(args, "sessionId"), False, store)
        inv = await build_inventory(
            store.iter_entries(session["id"], body_limit=WHOLE_BODY_MAX),
            include_static=include_static,
            source={"kind": "session", "id": session["id"], "name": session["name"]},
        )
    return session, inv


async def get_inventory(b: Backend, args: Args) -> Any:
    session, inv = await _inventory_data(b, args)
    if inv is None:
        params = {"includeStatic": str(_bool(args, "includeStatic", False)).lower()}
        data = await b.call("GET", f"/api/sessions/{session['id']}/inventory", params=params)
    else:
        data = await asyncio.to_thread(inventory_json, inv)
    try:
        return {"session": _brief_session(session), **inventory_view(data, _str(args, "endpoint"))}
    except LookupError as e:
        raise ToolError(str(e)) from None


async def get_openapi(b: Backend, args: Args) -> Any:
    fmt = _str(args, "format") or "yaml"
    if fmt not in ("json", "yaml"):
        raise ToolError("format must be json or yaml")
    host, unsuccessful = _str(args, "host"), _bool(args, "includeUnsuccessful", False)
    limit = _int(args, "maxChars", 20_000, 0, 1 << 30)
    target = _path(args) if _str(args, "path") else None
    if target is not None:
        _writable(target, _bool(args, "overwrite", False))
    assert limit is not None
    session, inv = await _inventory_data(b, args)
    if inv is None:
        params = {"includeUnsuccessful": str(unsuccessful).lower(), **({"host": host} if host else {})}
        doc = await b.call("GET", f"/api/sessions/{session['id']}/openapi.{fmt}", params=params)
        text = doc if isinstance(doc, str) else orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()
    else:
        if host is not None and host not in inv.hosts():
            raise ToolError(f"No traffic for host {host}")
        document = await asyncio.to_thread(lambda: openapi_document(inv, host=host, include_unsuccessful=unsuccessful))
        text = (
            await asyncio.to_thread(openapi_yaml, document)
            if fmt == "yaml"
            else orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()
        )
    if target is not None:
        await asyncio.to_thread(target.write_text, text, "utf-8")
        return {"session": _brief_session(session), "path": str(target), "bytes": len(text.encode()), "format": fmt}
    out: dict[str, Any] = {"session": _brief_session(session), "format": fmt, "document": text[:limit]}
    if len(text) > limit:
        out["note"] = f"first {limit} of {len(text)} characters; pass path=FILE to write it whole, or raise maxChars"
    return out


# ---------------------------------------------------------------------------- the table
S_MATCH = {
    "type": "object",
    "description": "all present fields must match; * globs, /regex/ between slashes",
    "properties": {
        "url": {"type": "string"},
        "method": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "host": {"type": "string", "description": "exact or *.example.com"},
        "path": {"type": "string"},
        "bodyContains": {"type": "string"},
    },
}
S_HEADERS = {"type": "object", "additionalProperties": {"type": "string"}}

TOOLS: list[Tool] = [
    Tool("list_traffic", "List recorded HTTP exchanges, newest first, as one-line summaries (no bodies).", _schema({
        "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50},
        "offset": {"type": "integer", "minimum": 0, "default": 0},
        "method": {"type": "string", "description": "e.g. POST"},
        "status": {"type": "integer", "description": "exact status code; 0 = no response"},
        "host": {"type": "string", "description": "exact host name"},
        "sessionId": S_SESSION,
        "redact": {**S_REDACT, "description": "mask credentials and personal data in URLs (default true)"},
    }), list_traffic),
    Tool("get_traffic", "One exchange in full: request line, headers, timings and bodies decoded to text (cut at maxBodyChars, with a note on how to read further). Secrets are masked unless redact=false.", _schema({
        "id": {"type": "string", "description": "entry id (from list_traffic or search_traffic)"},
        "part": {"type": "string", "enum": ["both", "request", "response"], "default": "both"},
        "maxBodyChars": S_BODY_CHARS,
        "bodyOffset": {"type": "integer", "minimum": 0, "default": 0, "description": "start of the body slice"},
        "redact": S_REDACT,
    }, ["id"]), get_traffic),
    Tool("search_traffic", "Find exchanges among the latest 1000 by URL substring, method, host, status range or response content type.", _schema({
        "urlContains": {"type": "string"},
        "method": {"type": "string"},
        "host": {"type": "string", "description": "host substring"},
        "statusMin": {"type": "integer"},
        "statusMax": {"type": "integer"},
        "contentType": {"type": "string", "description": "response content-type substring, e.g. json"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50},
        "sessionId": S_SESSION,
        "redact": {**S_REDACT, "description": "mask credentials and personal data in URLs (default true)"},
    }), search_traffic),
    Tool("get_traffic_stats", "Counts by status class, errors, average duration and the top hosts over the latest entries.", _schema({
        "sampleLimit": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000},
        "sessionId": S_SESSION,
    }), get_traffic_stats),
    Tool("list_rules", "List Necto's rules (mock, block, modify, ...), in evaluation order.", _schema({}), list_rules),
    Tool("create_rule", "Create a rule that mocks, blocks or modifies matching requests or responses; it applies to the next matching request through the proxy.", _schema({
        "name": {"type": "string"},
        "action": {"type": "string", "enum": ["mock", "block", "modify-request", "modify-response"]},
        "enabled": {"type": "boolean", "default": True},
        "priority": {"type": "integer", "description": "lower runs first"},
        "match": S_MATCH,
        "mock": {"type": "object", "properties": {
            "status": {"type": "integer"}, "statusText": {"type": "string"}, "headers": S_HEADERS, "body": {"type": "string"},
        }, "required": ["status"]},
        "setRequestHeaders": S_HEADERS,
        "removeRequestHeaders": {"type": "array", "items": {"type": "string"}},
        "setResponseStatus": {"type": "integer"},
        "setResponseHeaders": S_HEADERS,
        "removeResponseHeaders": {"type": "array", "items": {"type": "string"}},
        "replaceResponseBody": {"type": "string"},
    }, ["name", "action", "match"]), create_rule, read_only=False),
    Tool("toggle_rule", "Enable or disable a rule.", _schema({"id": {"type": "string"}}, ["id"]), toggle_rule, read_only=False),
    Tool("delete_rule", "Delete a rule.", _schema({"id": {"type": "string"}}, ["id"]), delete_rule, read_only=False),
    Tool("replay_request", "Send a recorded request again through Necto (optionally changed) and compare the answer with the original; the replay is recorded.", _schema({
        "id": {"type": "string"},
        "method": {"type": "string"},
        "url": {"type": "string"},
        "headers": {**S_HEADERS, "description": "merged over the original headers"},
        "body": {"type": "string"},
        "maxBodyChars": S_BODY_CHARS,
        "redact": S_REDACT,
    }, ["id"]), replay_request, read_only=False),
    Tool("list_sessions", "List recording sessions (id, name, entry count; which one is active).", _schema({}), list_sessions),
    Tool("export_har", "Write a session (or some entries) as a HAR 1.2 file; redacted unless redact=false.", _schema({
        "path": {"type": "string", "description": "file to write"},
        "sessionId": S_SESSION,
        "entryIds": {"type": "array", "items": {"type": "string"}, "description": "export only these entries, in this order"},
        "redact": S_REDACT,
        "excludeBinary": {"type": "boolean", "default": False},
        "overwrite": {"type": "boolean", "default": False},
    }, ["path"]), export_har_file, read_only=False),
    Tool("import_har", "Import a HAR file (Chrome, Firefox, Charles, ...) into a new session, or into sessionId.", _schema({
        "path": {"type": "string"},
        "sessionName": {"type": "string"},
        "sessionId": {"type": "string"},
    }, ["path"]), import_har_file, read_only=False),
    Tool("diff_sessions", "Compare two sessions: requests only in one, status/header/body changes of paired requests, slower endpoints.", _schema({
        "a": {"type": "string", "description": "session id or name"},
        "b": {"type": "string", "description": "session id or name"},
        "ignoreHeaders": {"type": "array", "items": {"type": "string"}},
        "ignorePaths": {"type": "array", "items": {"type": "string"}, "description": "JSON paths, e.g. $..updatedAt"},
        "ignoreHost": {"type": "boolean", "default": False},
        "thresholdMs": {"type": "integer", "default": 100},
        "thresholdPct": {"type": "integer", "default": 50},
        "maxItems": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20},
        "redact": {**S_REDACT, "description": "mask credentials and personal data in URLs and body values (default true)"},
    }, ["a", "b"]), diff_sessions),
    Tool("get_inventory", "The API inventory of a session: endpoints with counts, statuses, p95, auth and sensitive data; endpoint='GET /path/{id}' gives one in full.", _schema({
        "sessionId": S_SESSION,
        "includeStatic": {"type": "boolean", "default": False},
        "endpoint": {"type": "string"},
    }), get_inventory),
    Tool("get_openapi", "OpenAPI 3.1 for a session's traffic, as text (cut at maxChars) or written to path.", _schema({
        "sessionId": S_SESSION,
        "host": {"type": "string"},
        "includeUnsuccessful": {"type": "boolean", "default": False},
        "format": {"type": "string", "enum": ["yaml", "json"], "default": "yaml"},
        "path": {"type": "string", "description": "write the document here instead"},
        "overwrite": {"type": "boolean", "default": False},
        "maxChars": {"type": "integer", "minimum": 0, "default": 20000},
    }), get_openapi, read_only=False),
]  # fmt: skip
TOOLS_BY_NAME = {t.name: t for t in TOOLS}


def encode(result: Any) -> str:
    return orjson.dumps(result, option=orjson.OPT_NON_STR_KEYS).decode()
