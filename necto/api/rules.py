"""/api/rules: NectoProxy's rules API (shapes, status codes and error strings), plus export and
import of a whole rule set (`GET /api/rules/export`, `POST /api/rules/import`).

Every write is validated in full before anything is stored (a bad rule is a 400 naming the
field and leaves nothing behind); the proxy applies the change to the next request.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from necto.api.context import ctx
from necto.api.errors import bad_request, json_response, not_found, read_json
from necto.rules.fileformat import RULES_FILE_VERSION, dump_rules, parse_rules_document
from necto.rules.model import ORDERED_IDS_NOT_ARRAY, RULE_NOT_FOUND, Rule, RuleError, validate_rule
from necto.rules.sources import check_sources

routes = web.RouteTableDef()


def _rule_json(request: web.Request, rule: Rule) -> dict[str, Any]:
    out = rule.as_json()
    book = ctx(request).rules()
    if book is not None and rule.id in book.errors:
        out["loadError"] = book.errors[rule.id]  # saved, but the proxy cannot apply it
    return out


async def _validated(request: web.Request, body: dict[str, Any], current: Rule | None = None) -> dict[str, Any]:
    try:
        fields = validate_rule(body, current.fields() if current else None)
        await check_sources(ctx(request).store, fields)
    except RuleError as e:
        raise bad_request(str(e)) from None
    return fields


@routes.get("/api/rules")
async def list_rules(request: web.Request) -> web.Response:
    rules = await ctx(request).store.list_rules()
    return json_response({"rules": [_rule_json(request, r) for r in rules]})


@routes.get("/api/rules/enabled")
async def enabled_rules(request: web.Request) -> web.Response:
    rules = await ctx(request).store.list_rules(enabled_only=True)
    return json_response({"rules": [_rule_json(request, r) for r in rules]})


@routes.get("/api/rules/export")
async def export_rules(request: web.Request) -> web.Response:
    """The rule set as a file a team can commit (`?format=yaml` for YAML)."""
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "yaml"):
        raise bad_request('format must be "json" or "yaml"')
    rules = await ctx(request).store.list_rules()
    data = dump_rules(rules, fmt)
    return web.Response(
        body=data,
        content_type="application/yaml" if fmt == "yaml" else "application/json",
        headers={"Content-Disposition": f'attachment; filename="necto-rules.{fmt}"'},
    )


@routes.post("/api/rules/import")
async def import_rules(request: web.Request) -> web.Response:
    """`{"rules": [...], "replace"?: bool}` (or a whole exported document): all or nothing."""
    body = await read_json(request)
    replace = body.pop("replace", False)
    if not isinstance(replace, bool):
        raise bad_request("replace must be true or false")
    body.setdefault("version", RULES_FILE_VERSION)
    store = ctx(request).store
    try:
        items = parse_rules_document(body)
        for _, fields in items:
            await check_sources(store, fields)
    except RuleError as e:
        raise bad_request(str(e)) from None
    counts = await store.import_rules(items, replace=replace)
    rules = await store.list_rules()
    return json_response({**counts, "rules": [_rule_json(request, r) for r in rules]})


@routes.post("/api/rules/reorder")
async def reorder_rules(request: web.Request) -> web.Response:
    body = await read_json(request)
    ids = body.get("orderedIds")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise bad_request(ORDERED_IDS_NOT_ARRAY)
    try:
        rules = await ctx(request).store.reorder_rules(ids)
    except KeyError as e:
        raise bad_request(f"orderedIds: {RULE_NOT_FOUND}: {e.args[0]}") from None
    return json_response({"rules": [_rule_json(request, r) for r in rules]})


@routes.get("/api/rules/{id}")
async def get_rule(request: web.Request) -> web.Response:
    rule = await ctx(request).store.get_rule(request.match_info["id"])
    if rule is None:
        raise not_found(RULE_NOT_FOUND)
    return json_response(_rule_json(request, rule))


@routes.post("/api/rules")
async def create_rule(request: web.Request) -> web.Response:
    body = await read_json(request)
    fields = await _validated(request, body)
    rule = await ctx(request).store.create_rule(fields)
    return json_response(_rule_json(request, rule), status=201)


@routes.put("/api/rules/{id}")
async def update_rule(request: web.Request) -> web.Response:
    store = ctx(request).store
    current = await store.get_rule(request.match_info["id"])
    if current is None:
        raise not_found(RULE_NOT_FOUND)
    body = await read_json(request)
    fields = await _validated(request, body, current)
    rule = await store.update_rule(current.id, fields)
    if rule is None:  # deleted meanwhile
        raise not_found(RULE_NOT_FOUND)
    return json_response(_rule_json(request, rule))


@routes.patch("/api/rules/{id}/toggle")
async def toggle_rule(request: web.Request) -> web.Response:
    rule = await ctx(request).store.toggle_rule(request.match_info["id"])
    if rule is None:
        raise not_found(RULE_NOT_FOUND)
    return json_response(_rule_json(request, rule))


@routes.delete("/api/rules/{id}")
async def delete_rule(request: web.Request) -> web.Response:
    if not await ctx(request).store.delete_rule(request.match_info["id"]):
        raise not_found(RULE_NOT_FOUND)
    return json_response({"success": True})
