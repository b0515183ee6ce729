"""NectoProxy's MCP `create_rule` tool parameters (api-notes §9) -> a rule, for the MCP server.

The tool takes flat parameters: `name`, `action` (mock, block, modify-request or
modify-response), `enabled?`, `priority?`, `match {url?, method?, host?, path?, bodyContains?}`,
`mock {status, statusText?, headers?, body?}`, `setRequestHeaders`, `removeRequestHeaders`,
`setResponseStatus`, `setResponseHeaders`, `removeResponseHeaders`, `replaceResponseBody`.
"""

from __future__ import annotations

from typing import Any

from necto.rules.model import RuleError, validate_rule

MCP_ACTIONS = ("mock", "block", "modify-request", "modify-response")
MCP_MATCH_FIELDS = ("url", "method", "host", "path", "bodyContains")


def rule_from_tool_args(args: dict[str, Any]) -> dict[str, Any]:
    """The validated rule fields for `POST /api/rules`; RuleError says what is wrong."""
    action = args.get("action")
    if action not in MCP_ACTIONS:
        raise RuleError(f"action must be one of {', '.join(MCP_ACTIONS)}")
    match = args.get("match") or {}
    if not isinstance(match, dict):
        raise RuleError("match must be an object")
    extra = [k for k in match if k not in MCP_MATCH_FIELDS]
    if extra:
        raise RuleError(f"match.{extra[0]} is not a match field here (use {', '.join(MCP_MATCH_FIELDS)})")
    config: dict[str, Any] | None
    if action == "mock":
        mock = args.get("mock")
        if not isinstance(mock, dict) or "status" not in mock:
            raise RuleError("mock rules need a mock object with a status")
        config = {k: mock[k] for k in ("status", "statusText", "headers", "body") if mock.get(k) is not None}
    elif action == "block":
        config = None
    elif action == "modify-request":
        config = {"setHeaders": args.get("setRequestHeaders"), "removeHeaders": args.get("removeRequestHeaders")}
        if not any(config.values()):
            raise RuleError("modify-request rules need setRequestHeaders or removeRequestHeaders")
    else:
        config = {
            "setStatus": args.get("setResponseStatus"),
            "setHeaders": args.get("setResponseHeaders"),
            "removeHeaders": args.get("removeResponseHeaders"),
            "replaceBody": args.get("replaceResponseBody"),
        }
        if all(v is None for v in config.values()):
            raise RuleError(
                "modify-response rules need setResponseStatus, setResponseHeaders, removeResponseHeaders "
                "or replaceResponseBody"
            )
    if config is not None:
        config = {k: v for k, v in config.items() if v is not None}
    body: dict[str, Any] = {"name": args.get("name"), "match": match, "action": action, "config": config}
    for key in ("enabled", "priority"):
        if args.get(key) is not None:
            body[key] = args[key]
    return validate_rule(body)
