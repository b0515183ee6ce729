"""Compact views for an agent's context: summaries without bodies, bodies decoded to text and
cut at a limit with a note saying how to fetch the rest, secrets masked unless asked otherwise.

Redaction is necto.redact's (the HAR export's), applied to HAR-shaped entries; nothing here
decides on its own what is sensitive.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from necto.redact import Redactor
from necto.vocab import is_binary_mime, is_text_bytes, iso_time

DEFAULT_BODY_CHARS = 4000
MAX_BODY_CHARS = 200_000
MAX_URL_CHARS = 300
MAX_HEADER_CHARS = 500
MAX_WS_MESSAGES = 20


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary(e: dict[str, Any], redactor: Redactor | None) -> dict[str, Any]:
    """A list entry (the API's summary shape) in a few fields; None values left out."""
    url = redactor.url(e["url"]) if redactor is not None else e["url"]
    out = {
        "id": e["id"],
        "time": iso_time(e["timestamp"] / 1000) if e.get("timestamp") is not None else None,
        "method": e["method"],
        "url": _short(url, MAX_URL_CHARS),
        "status": e.get("status"),
        "durationMs": round(e["duration"], 1) if e.get("duration") is not None else None,
        "size": e.get("responseBodySize"),
        "type": e.get("contentType"),
        "error": e.get("error"),
    }
    return {k: v for k, v in out.items() if v is not None}


def _headers(items: list[dict[str, Any]]) -> list[str]:
    return [_short(f"{h['name']}: {h['value']}", MAX_HEADER_CHARS) for h in items]


def body_view(
    text: str | None, encoding: str | None, mime: str, size: int | None, offset: int, limit: int, hint: str
) -> dict[str, Any] | None:
    """A body as text when it is text (base64 decoded), else base64; one slice of it."""
    if text is None:
        return None
    binary = False
    if encoding == "base64":
        try:
            raw = base64.b64decode(text, validate=False)
        except (binascii.Error, ValueError):
            raw = b""
        if is_text_bytes(raw) and not is_binary_mime(mime):
            text = raw.decode("utf-8")
        else:
            binary = True
    out: dict[str, Any] = {"mimeType": mime or None, "size": size if size is not None and size >= 0 else len(text)}
    if binary:
        out["encoding"] = "base64"
    end = min(len(text), offset + limit)
    out["text"] = text[offset:end]
    if offset > 0 or end < len(text):
        out["shown"] = f"characters {offset}-{end} of {len(text)}"
        if end < len(text):
            out["note"] = f"truncated; {hint} bodyOffset={end} for more"
    return out


def entry_view(entry_id: str, har: dict[str, Any], part: str, offset: int, limit: int) -> dict[str, Any]:
    """One exchange from its HAR entry (already redacted when asked): request line, headers,
    timings, and the bodies asked for, decoded and cut to `limit` characters from `offset`."""
    req, resp = har["request"], har["response"]
    out: dict[str, Any] = {
        "id": entry_id,
        "startedDateTime": har.get("startedDateTime"),
        "timeMs": har.get("time"),
        "method": req["method"],
        "url": req["url"],
        "httpVersion": req.get("httpVersion"),
        "status": resp.get("status") or None,
        "statusText": resp.get("statusText") or None,
        "error": resp.get("_error"),
        "serverIPAddress": har.get("serverIPAddress"),
        "timings": har.get("timings"),
    }
    request: dict[str, Any] = {"headers": _headers(req.get("headers", []))}
    response: dict[str, Any] = {"headers": _headers(resp.get("headers", []))}

    def hint(which: str) -> str:
        return f"call get_traffic with id='{entry_id}', part='{which}',"

    if part in ("both", "request"):
        post = req.get("postData")
        if post is not None:
            body = body_view(
                post.get("text"),
                post.get("encoding"),
                post.get("mimeType", ""),
                req.get("bodySize"),
                offset,
                limit,
                hint("request"),
            )
            if body is None and post.get("params"):
                body = {"params": post["params"][:100]}
            request["body"] = body
    if part in ("both", "response"):
        content = resp.get("content") or {}
        body = body_view(
            content.get("text"),
            content.get("encoding"),
            content.get("mimeType", ""),
            content.get("size"),
            offset,
            limit,
            hint("response"),
        )
        if body is not None:
            response["body"] = body
        elif content.get("comment"):
            response["body"] = {"note": content["comment"]}
    out["request"], out["response"] = request, response
    frames = har.get("_webSocketMessages")
    if frames:
        shown = [{**f, "data": _short(str(f.get("data", "")), 500)} for f in frames[:MAX_WS_MESSAGES]]
        out["webSocketMessages"] = shown
        if len(frames) > MAX_WS_MESSAGES:
            out["webSocketNote"] = f"first {MAX_WS_MESSAGES} of {len(frames)} messages shown (export_har has them all)"
    return {k: v for k, v in out.items() if v is not None}


def redact_har_entry(har: dict[str, Any]) -> dict[str, Any]:
    return Redactor().redact_entry(har)


def session_view(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": s["id"],
        "name": s["name"],
        "isActive": s.get("isActive"),
        "isRecording": s.get("isRecording"),
        "trafficCount": s.get("trafficCount"),
        "createdAt": iso_time(s["createdAt"] / 1000) if s.get("createdAt") else None,
    }


def traffic_stats(entries: list[dict[str, Any]], total: int, top: int = 20) -> dict[str, Any]:
    """NectoProxy's get_traffic_stats shape over a sample of (summary) entries."""
    classes = {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0, "pending": 0, "other": 0}
    hosts: dict[str, int] = {}
    durations: list[float] = []
    errors = 0
    for e in entries:
        status = e.get("status")
        if status is None:
            classes["pending"] += 1
        elif 200 <= status < 600:
            classes[f"{status // 100}xx" if status >= 200 else "other"] += 1
        else:
            classes["other"] += 1
        if e.get("error"):
            errors += 1
        if e.get("duration") is not None:
            durations.append(float(e["duration"]))
        hosts[e.get("host") or ""] = hosts.get(e.get("host") or "", 0) + 1
    ranked = sorted(hosts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return {
        "total": total,
        "sampled": len(entries),
        "byStatusClass": classes,
        "errorCount": errors,
        "avgDurationMs": round(sum(durations) / len(durations), 1) if durations else None,
        "topHosts": [{"host": h, "count": n} for h, n in ranked],
    }


def diff_view(d: dict[str, Any], limit: int, redactor: Redactor | None) -> dict[str, Any]:
    """A session diff with each list cut to `limit` items (the counts stay whole), URLs and
    body values redacted when a redactor is given."""
    url = redactor.url if redactor is not None else (lambda u: u)
    value = (lambda v: redactor.text(_short(str(v), 120))) if redactor is not None else (lambda v: _short(str(v), 120))

    def cut(items: list[Any], name: str, notes: list[str]) -> list[Any]:
        if len(items) > limit:
            notes.append(f"{name}: first {limit} of {len(items)} shown (raise maxItems for more)")
        return items[:limit]

    notes: list[str] = []
    changes = []
    for c in cut(d["changes"], "changes", notes):
        item = {k: c[k] for k in ("method", "status", "error") if k in c}
        item["url"] = url(c["url"])
        if "headers" in c:
            item["headers"] = {k: [h["name"] for h in v] for k, v in c["headers"].items() if v}
        body = c.get("body")
        if body:
            item["body"] = {"kind": body["kind"], "changes": [
                {"path": ch["path"], "a": value(ch.get("a")), "b": value(ch.get("b"))}
                for ch in body.get("changes", [])[:20]
            ]} if body["kind"] == "json" else {"kind": body["kind"], "sizeA": body["a"]["size"], "sizeB": body["b"]["size"]}  # fmt: skip
        changes.append(item)
    out = {
        "identical": d["identical"],
        "a": d["a"],
        "b": d["b"],
        "summary": d["summary"],
        "onlyInA": [
            {"method": i["method"], "url": url(i["url"]), "status": i["status"]}
            for i in cut(d["onlyInA"], "onlyInA", notes)
        ],
        "onlyInB": [
            {"method": i["method"], "url": url(i["url"]), "status": i["status"]}
            for i in cut(d["onlyInB"], "onlyInB", notes)
        ],
        "changes": changes,
        "slower": [
            {
                "endpoint": r["endpoint"],
                "medianMsA": r["a"]["total"],
                "medianMsB": r["b"]["total"],
                "deltaMs": r["delta"],
            }
            for r in d["timing"]
            if r["flagged"]
        ][:limit],
    }
    if notes:
        out["notes"] = notes
    return out


def inventory_view(inv: dict[str, Any], endpoint: str | None) -> dict[str, Any]:
    """Endpoints in one line each; `endpoint` ("GET /path/{id}") gives that one in full."""
    if endpoint:
        method, _, path = endpoint.strip().partition(" ")
        for h in inv["hosts"]:
            for ep in h["endpoints"]:
                if ep["method"] == method.upper() and ep["pathTemplate"] == path.strip():
                    return {"host": h["host"], **ep}
        raise LookupError(f"no endpoint {endpoint!r} in this inventory (list them without `endpoint`)")
    hosts = []
    for h in inv["hosts"]:
        eps = []
        for ep in h["endpoints"]:
            line = {
                "endpoint": f"{ep['method']} {ep['pathTemplate']}",
                "count": ep["count"],
                "status": ep["statusCodes"],
                "p95Ms": ep["latency"]["p95"],
                "auth": sorted({a["type"] for a in ep["auth"]}),
            }
            kinds = sorted({s["kind"] for s in ep["sensitive"]})
            if kinds:
                line["sensitive"] = kinds
            if not ep.get("observedSuccess", True):
                line["note"] = "no 2xx seen"
            eps.append(line)
        hosts.append({"host": h["host"], "schemes": h["schemes"], "endpoints": eps})
    return {
        "endpointCount": inv["endpointCount"],
        "entries": inv["entries"],
        "hosts": hosts,
        "note": "call get_inventory with endpoint='METHOD /path' for params, auth, sensitive data and fields of one endpoint",
    }
