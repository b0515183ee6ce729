"""Entry -> JSON views: NectoProxy's TrafficEntry shape (list summary and full detail).

One module for every place that shows an entry as JSON: the REST API, the live event stream,
the CLI (`necto traffic ... --json`) and replay results.
"""

from __future__ import annotations

import base64
from typing import Any

from necto.model import Entry, Header
from necto.search.graphql import entry_operation
from necto.vocab import frame_json


def graphql_name(e: Entry) -> str | None:
    """The GraphQL operation name: from the list query's facts, else from the request body
    when this entry has it (live entries, one entry in full)."""
    if "graphql" in e.extra:
        return str(e.extra["graphql"])
    return entry_operation(e) if e.request_body else None


def header_map(headers: list[Header]) -> dict[str, str | list[str]]:
    """NectoProxy's Record<string, string | string[]>: repeats become a list."""
    out: dict[str, str | list[str]] = {}
    for name, value in headers:
        key = name.lower()
        if key in out:
            prev = out[key]
            out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[key] = value
    return out


def _b64(body: bytes | None) -> str | None:
    return base64.b64encode(body).decode("ascii") if body is not None else None


def entry_summary(e: Entry) -> dict[str, Any]:
    """What the traffic list needs: no bodies."""
    return {
        "id": e.id,
        "sessionId": e.session_id,
        "timestamp": round(e.started * 1000, 3),
        "method": e.method,
        "url": e.url,
        "protocol": e.protocol,
        "host": e.host,
        "path": e.path,
        "httpVersion": e.http_version,
        "status": e.status,
        "statusText": e.status_text if e.status is not None else None,
        "contentType": e.content_type or None,
        "requestBodySize": e.request_body_size,
        "responseBodySize": e.response_body_size if e.status is not None else None,
        "duration": e.duration,
        "timings": e.timings.as_dict(),  # the list's waterfall column draws the phases
        "remoteAddress": e.server_ip,
        "tlsVersion": (e.tls or {}).get("version"),
        "error": e.error,
        "isComplete": e.status is not None and e.error is None,
        "isTruncated": e.request_truncated or e.response_truncated,
        "source": e.source,
        "kind": e.kind,
        # Rules (necto.rules): NectoProxy's flag, and which rules touched the exchange.
        "isMocked": bool(e.extra.get("isMocked")),
        "appliedRules": e.extra.get("appliedRules") or [],
        # Breakpoints (necto.breakpoints): held on its way; details in the entry's `breakpoint`.
        "isBreakpointed": bool(e.extra.get("isBreakpointed")),
        # Annotations (necto.store.annotations): how many, the newest one's colour and text.
        "annotations": e.extra.get("annotationCount", 0),
        "annotationColor": e.extra.get("annotationColor"),
        "annotationNote": e.extra.get("annotationNote"),
        "graphqlOperation": graphql_name(e),
    }


def connectivity(e: Entry) -> dict[str, Any]:
    """What the proxy noted about how an entry reached (or failed to reach) its server."""
    fields = (e.extra.get("har") or {}).get("entry") or {}
    return {
        "upstreamProxy": fields.get("_upstreamProxy"),
        "dnsMapping": fields.get("_dnsMapping"),
        "tunnel": fields.get("_tunnel"),
        "tlsFailure": fields.get("_tlsFailure"),
        "proxyMode": e.extra.get("proxyMode"),
    }


def entry_detail(e: Entry) -> dict[str, Any]:
    """One entry in full: ordered headers, base64 bodies, every timing and connection fact."""
    out = entry_summary(e)
    out.update(
        {
            "requestHeaders": header_map(e.request_headers),
            "requestHeaderList": [{"name": n, "value": v} for n, v in e.request_headers],
            "requestBody": _b64(e.request_body),
            "requestBodyTruncated": e.request_truncated,
            # Too long to put in JSON: read it from /api/traffic/{id}/body/request.
            "requestBodyOmitted": e.request_body is None and e.request_body_file is not None,
            "responseHttpVersion": e.response_http_version or None,
            "responseHeaders": header_map(e.response_headers) if e.status is not None else None,
            "responseHeaderList": [{"name": n, "value": v} for n, v in e.response_headers],
            "responseBody": _b64(e.response_body),
            "responseBodyTruncated": e.response_truncated,
            "responseBodyOmitted": e.response_body is None and e.response_body_file is not None,
            "responseWireSize": e.response_wire_size,
            "timings": e.timings.as_dict(),
            "serverIp": e.server_ip,
            "serverPort": e.server_port,
            "clientIp": e.client_ip,
            "clientPort": e.client_port,
            "connectionId": e.connection_id,
            "tls": e.tls,
            "connectivity": connectivity(e),
            # Set when rules changed the request (what went upstream, beside what the client
            # sent), changed the response (what the origin answered), or a network profile or
            # rule held or paced the exchange.
            "upstreamRequest": e.extra.get("upstreamRequest"),
            "upstreamResponse": e.extra.get("upstreamResponse"),
            "conditions": e.extra.get("conditions"),
            # Breakpoint hits: how long each held the exchange, who let it go, what was edited;
            # `paused` is the time a response was held (outside the timing phases).
            "breakpoint": e.extra.get("breakpoint"),
            "paused": e.extra.get("paused"),
            # How the bodies were recorded: streamed through (`["response"]`...), event-stream
            # times (`{count, items: [[ms, byte offset]...]}`), decoding stopped at the cap.
            "streamed": e.extra.get("streamed"),
            "events": e.extra.get("events"),
            "decodeStopped": e.extra.get("decodeStopped"),
            "bodyNotRecorded": e.extra.get("bodyNotRecorded"),
            "webSocketMessages": [
                {**frame_json(m.type, m.time, m.opcode, m.data), "encoding": None if m.opcode == 1 else "base64"}
                for m in e.websocket
            ]
            if e.websocket is not None
            else None,
        }
    )
    return out
