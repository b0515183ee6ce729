"""/api/traffic/:id/replay, /api/traffic/replay, /api/sessions/:id/replay and /api/replays.

Every replay goes out through Necto's own proxy and is recorded (see necto.replay). Session
replays answer 202 with a job at once and run in the background.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from necto.api.context import ApiContext, ctx
from necto.api.errors import (
    ApiError,
    bad_request,
    entry_not_found,
    filter_error,
    json_response,
    not_found,
    read_json,
    session_not_found,
)
from necto.compare import replay_comparison
from necto.replay import (
    DEFAULT_TIMEOUT,
    MAX_TIMEOUT,
    Pipeline,
    ReplayOptions,
    ReplayRequest,
    SessionSource,
    merge_headers,
    parse_body,
    parse_headers,
    replay_request,
    request_from_entry,
    result_json,
    validate_request,
)
from necto.search.filterlang import FilterError
from necto.store.bodyfiles import WHOLE_BODY_MAX

routes = web.RouteTableDef()

JOB_NOT_FOUND = "Replay job not found"
METHOD_AND_URL_REQUIRED = "Method and URL are required"


def pipeline(c: ApiContext) -> Pipeline:
    """The live proxy to replay through; 503 while it is not up."""
    recorder = c.recorder()
    host, port = c.proxy_address()
    if recorder is None or not port:
        raise ApiError(503, "The proxy is not running")
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return Pipeline(store=c.store, proxy_url=f"http://{host}:{port}", ca_file=c.ca.cert_pem, recorder=recorder)


def _timeout(body: dict[str, Any]) -> float:
    t = body.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t <= MAX_TIMEOUT:
        raise bad_request(f"timeout must be a number of seconds between 0 and {MAX_TIMEOUT:g}")
    return float(t)


async def _target_session(c: ApiContext, body: dict[str, Any], default: str | None) -> str:
    """Where the replay is recorded: `sessionId` if given, else `default`, else the active one."""
    sid = body.get("sessionId")
    if sid is not None:
        if not isinstance(sid, str) or await c.store.get_session(sid) is None:
            raise session_not_found()
        return sid
    if default is not None and await c.store.get_session(default) is not None:
        return default
    active = await c.store.ensure_active_session()
    return active.id


def _overrides(body: dict[str, Any]) -> dict[str, Any]:
    """Overrides may be top-level or under "overrides"."""
    nested = body.get("overrides")
    if nested is None:
        return body
    if not isinstance(nested, dict):
        raise bad_request("overrides must be an object")
    return {**body, **nested}


@routes.post("/api/traffic/replay")
async def replay_custom(request: web.Request) -> web.Response:
    c = ctx(request)
    body = await read_json(request)
    method, url = body.get("method"), body.get("url")
    if not method or not url:
        raise bad_request(METHOD_AND_URL_REQUIRED)
    problem = validate_request(method, url)
    if problem:
        raise bad_request(problem)
    try:
        headers = merge_headers([], parse_headers(body.get("headers")))
        data = parse_body(body.get("body"), body.get("bodyEncoding"))
    except ValueError as e:
        raise bad_request(str(e)) from None
    timeout = _timeout(body)
    pipe = pipeline(c)
    session_id = await _target_session(c, body, None)
    req = ReplayRequest(method=method.upper(), url=url, headers=headers, body=data)
    entry, error = await replay_request(pipe, req, session_id, timeout)
    return json_response({"result": result_json(entry, error), "entryId": entry.id, "sessionId": session_id})


@routes.post("/api/traffic/{id}/replay")
async def replay_entry(request: web.Request) -> web.Response:
    c = ctx(request)
    body = _overrides(await read_json(request))
    original = await c.store.get_entry(request.match_info["id"], body_limit=WHOLE_BODY_MAX)  # longer: from files
    if original is None:
        raise entry_not_found()
    method, url = body.get("method") or original.method, body.get("url") or original.url
    problem = validate_request(method, url)
    if problem:
        raise bad_request(problem)
    try:
        headers = parse_headers(body.get("headers"))
        data = parse_body(body.get("body"), body.get("bodyEncoding"))
    except ValueError as e:
        raise bad_request(str(e)) from None
    if original.websocket is not None:
        raise bad_request("WebSocket entries cannot be replayed")
    timeout = _timeout(body)
    pipe = pipeline(c)
    session_id = await _target_session(c, body, original.session_id)
    req = request_from_entry(original, method=method.upper(), url=url, headers=headers, body=data)
    entry, error = await replay_request(pipe, req, session_id, timeout)
    out = {
        "result": result_json(entry, error),
        "comparison": replay_comparison(original, entry),
        "originalId": original.id,
        "entryId": entry.id,
        "sessionId": session_id,
    }
    if original.request_truncated and data is None:
        out["warnings"] = ["The original request body was stored truncated; the truncated body was sent"]
    return json_response(out)


@routes.post("/api/sessions/{id}/replay")
async def replay_session(request: web.Request) -> web.Response:
    c = ctx(request)
    body = await read_json(request)
    session = await c.store.get_session(request.match_info["id"])
    if session is None:
        raise session_not_found()
    try:
        opts = ReplayOptions.from_json(body)
    except FilterError as e:
        raise filter_error(e) from None
    except ValueError as e:
        raise bad_request(str(e)) from None
    pipe = pipeline(c)
    job = await c.replays.start(pipe, SessionSource(c.store, session.id), session.name, opts)
    return json_response(job.as_json(), status=202)


@routes.get("/api/replays")
async def list_jobs(request: web.Request) -> web.Response:
    jobs = ctx(request).replays.jobs.values()
    return json_response([j.as_json() for j in jobs])


@routes.get("/api/replays/{jobId}")
async def get_job(request: web.Request) -> web.Response:
    job = ctx(request).replays.get(request.match_info["jobId"])
    if job is None:
        raise not_found(JOB_NOT_FOUND)
    return json_response(job.as_json())


@routes.post("/api/replays/{jobId}/cancel")
@routes.delete("/api/replays/{jobId}")
async def cancel_job(request: web.Request) -> web.Response:
    job = await ctx(request).replays.cancel(request.match_info["jobId"])
    if job is None:
        raise not_found(JOB_NOT_FOUND)
    return json_response(job.as_json())
