"""The rule object and its validation: NectoProxy's fields (`match` + kebab-case actions), every
documented config field, and Necto's additions (`replay-from`, body find/replace, JSON edits).

`validate_rule` checks a whole rule (a create, or an update merged over the stored rule) and
returns its normalised stored form; `RuleError` names the field at fault. Nothing here touches
the disk or the network: whether a session or file exists is checked by the callers.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from necto.jsonpath import parse_json_path
from necto.match import MatchError, compile_match
from necto.rules.edits import compile_find
from necto.vocab import is_token

RULE_NOT_FOUND = "Rule not found"
ORDERED_IDS_NOT_ARRAY = "orderedIds must be an array"

TERMINAL = ("mock", "map-local", "block")  # answer the request; evaluation stops
ACTIONS = (
    "mock",
    "map-local",
    "map-remote",
    "modify-request",
    "modify-response",
    "delay",
    "throttle",
    "block",
    "replay-from",  # Necto: answer from a recorded session or HAR file (misses may fall through)
)
# The rules/*.md tutorial pages' spelling; the API (and Necto) take the kebab-case form.
CAMEL_ACTIONS = {"mapLocal": "map-local", "mapRemote": "map-remote", "modifyRequest": "modify-request",
                 "modifyResponse": "modify-response", "replayFrom": "replay-from"}  # fmt: skip
RULE_FIELDS = ("name", "enabled", "priority", "match", "action", "config")
IGNORED_FIELDS = ("id", "createdAt", "updatedAt")
MAX_DELAY_MS = 600_000  # ten minutes
MAX_NAME = 200


class RuleError(ValueError):
    """A rule that cannot be saved; the message names the field."""


@dataclass(slots=True)
class Rule:
    id: str
    name: str
    enabled: bool
    priority: float
    match: dict[str, Any]
    action: str
    config: dict[str, Any] | None
    created_at: int
    updated_at: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "enabled": self.enabled,
            "priority": _number(self.priority),
            "match": self.match,
            "action": self.action,
            "config": self.config,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }

    def fields(self) -> dict[str, Any]:
        """The user-editable fields (what a rules file holds, with the id)."""
        return {"name": self.name, "enabled": self.enabled, "priority": _number(self.priority),
                "match": self.match, "action": self.action, "config": self.config}  # fmt: skip


def _number(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


# ---------------------------------------------------------------------------- small checks
def _num(cfg: dict[str, Any], key: str, *, lo: float = 0, hi: float | None = None, whole: bool = False) -> Any:
    v = cfg.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise RuleError(f"config.{key} must be a number")
    if v < lo:
        raise RuleError(f"config.{key} must be at least {_number(lo)}")
    if hi is not None and v > hi:
        raise RuleError(f"config.{key} must be at most {_number(hi)}")
    if whole and v != int(v):
        raise RuleError(f"config.{key} must be a whole number")
    return v


def _status(cfg: dict[str, Any], key: str) -> None:
    _num(cfg, key, lo=100, hi=599, whole=True)


def _bool(cfg: dict[str, Any], key: str) -> None:
    if key in cfg and cfg[key] is not None and not isinstance(cfg[key], bool):
        raise RuleError(f"config.{key} must be true or false")


def _str(cfg: dict[str, Any], key: str, *, required: bool = False, action: str = "") -> str | None:
    v = cfg.get(key)
    if v is None:
        if required:
            raise RuleError(f"config.{key} is required for {action}")
        return None
    if not isinstance(v, str):
        raise RuleError(f"config.{key} must be a string")
    if required and not v.strip():
        raise RuleError(f"config.{key} is required for {action}")
    return v


def _header_values(cfg: dict[str, Any], key: str) -> None:
    v = cfg.get(key)
    if v is None:
        return
    if not isinstance(v, dict):
        raise RuleError(f"config.{key} must be an object of header name to value")
    for name, value in v.items():
        if not is_token(name):
            raise RuleError(f"config.{key}: not a header name: {name!r}")
        values = value if isinstance(value, list) else [value]
        for one in values:
            if isinstance(one, bool) or not isinstance(one, (str, int, float)):
                raise RuleError(f"config.{key}.{name} must be a string (or a list of strings)")
            if any(c in str(one) for c in "\r\n\x00"):
                raise RuleError(f"config.{key}.{name} must not contain line breaks")


def _name_list(cfg: dict[str, Any], key: str, headers: bool) -> None:
    v = cfg.get(key)
    if v is None:
        return
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise RuleError(f"config.{key} must be a list of names")
    if headers:
        bad = [x for x in v if not is_token(x)]
        if bad:
            raise RuleError(f"config.{key}: not a header name: {bad[0]!r}")


def _query_values(cfg: dict[str, Any], key: str) -> None:
    v = cfg.get(key)
    if v is None:
        return
    if not isinstance(v, dict):
        raise RuleError(f"config.{key} must be an object of parameter name to value")
    for name, value in v.items():
        values = value if isinstance(value, list) else [value]
        if not all(not isinstance(x, (dict, list)) and x is not None for x in values):
            raise RuleError(f"config.{key}.{name} must be a string, number or boolean")


def _body_edits(cfg: dict[str, Any]) -> None:
    """replaceBody, findReplace, setJson, removeJson (and a clear refusal of transformBody)."""
    if cfg.get("transformBody") is not None:
        raise RuleError(
            "config.transformBody: Necto does not run JavaScript inside the proxy; "
            "use replaceBody, findReplace, setJson or removeJson"
        )
    _str(cfg, "replaceBody")
    fr = cfg.get("findReplace")
    if fr is not None:
        if not isinstance(fr, list):
            raise RuleError("config.findReplace must be a list of {find, replace}")
        for i, item in enumerate(fr):
            if not isinstance(item, dict) or not isinstance(item.get("find"), str) or not item["find"]:
                raise RuleError(f"config.findReplace[{i}].find must be a non-empty string")
            if not isinstance(item.get("replace", ""), str):
                raise RuleError(f"config.findReplace[{i}].replace must be a string")
            extra = set(item) - {"find", "replace"}
            if extra:
                raise RuleError(f"config.findReplace[{i}].{sorted(extra)[0]} is not a field (use find, replace)")
            try:
                compile_find(item["find"], "")
            except re.error as e:
                raise RuleError(f"config.findReplace[{i}].find: invalid regular expression: {e}") from None
    sj = cfg.get("setJson")
    if sj is not None:
        if not isinstance(sj, dict) or not sj:
            raise RuleError('config.setJson must be an object of JSON path to value, e.g. {"$.user.name": "x"}')
        for path in sj:
            _json_path(path, "setJson")
    rj = cfg.get("removeJson")
    if rj is not None:
        if not isinstance(rj, list) or not rj or not all(isinstance(p, str) for p in rj):
            raise RuleError('config.removeJson must be a list of JSON paths, e.g. ["$.user.token"]')
        for path in rj:
            _json_path(path, "removeJson")


def _json_path(path: str, key: str) -> None:
    try:
        tokens = parse_json_path(path)
    except ValueError as e:
        raise RuleError(f"config.{key}: {e}") from None
    if not tokens:
        raise RuleError(f"config.{key}: {path!r} names the whole document; use replaceBody")


def _abs_path(cfg: dict[str, Any], key: str, action: str, required: bool) -> None:
    p = _str(cfg, key, required=required, action=action)
    if p is not None and not os.path.isabs(os.path.expanduser(p)):
        raise RuleError(f"config.{key} must be an absolute path")


# ---------------------------------------------------------------------------- per action
CONFIG_FIELDS: dict[str, tuple[str, ...]] = {
    "mock": ("status", "statusText", "headers", "body", "bodyFile", "bodyEncoding", "delay"),
    "map-local": ("localPath", "preserveHost"),
    "map-remote": ("targetUrl", "preservePath", "preserveQuery"),
    "modify-request": ("setHeaders", "removeHeaders", "setQueryParams", "removeQueryParams", "replaceBody",
                       "findReplace", "setJson", "removeJson", "transformBody"),
    "modify-response": ("setStatus", "setHeaders", "removeHeaders", "replaceBody", "findReplace", "setJson",
                        "removeJson", "transformBody"),
    "delay": ("delay", "variance"),
    "throttle": ("bytesPerSecond", "latency"),
    "block": ("status", "body"),
    "replay-from": ("session", "harFile", "matchBy", "onMiss", "replayTiming"),
}  # fmt: skip


def validate_config(action: str, config: Any) -> dict[str, Any] | None:
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise RuleError("config must be an object or null")
    allowed = CONFIG_FIELDS[action]
    unknown = [k for k in config if k not in allowed]
    if unknown:
        raise RuleError(f"config.{unknown[0]} is not a field of {action} (use {', '.join(allowed)})")
    c = config
    if action == "mock":
        _status(c, "status")
        _str(c, "statusText")
        _header_values(c, "headers")
        _str(c, "body")
        _abs_path(c, "bodyFile", action, required=False)
        if c.get("body") is not None and c.get("bodyFile") is not None:
            raise RuleError("config: give body or bodyFile, not both")
        enc = c.get("bodyEncoding")
        if enc is not None and enc not in ("text", "base64"):
            raise RuleError('config.bodyEncoding must be "text" or "base64"')
        if enc == "base64" and c.get("body") is not None:
            try:
                base64.b64decode(c["body"], validate=True)
            except (binascii.Error, ValueError):
                raise RuleError("config.body is not valid base64") from None
        _num(c, "delay", hi=MAX_DELAY_MS)
    elif action == "map-local":
        _abs_path(c, "localPath", action, required=True)
        _bool(c, "preserveHost")
    elif action == "map-remote":
        target = _str(c, "targetUrl", required=True, action=action)
        assert target is not None
        u = urlsplit(target)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise RuleError("config.targetUrl must be an absolute http(s) URL")
        try:
            u.port  # noqa: B018 - a bad port raises here
        except ValueError:
            raise RuleError("config.targetUrl has an invalid port") from None
        _bool(c, "preservePath")
        _bool(c, "preserveQuery")
    elif action in ("modify-request", "modify-response"):
        _header_values(c, "setHeaders")
        _name_list(c, "removeHeaders", headers=True)
        if action == "modify-request":
            _query_values(c, "setQueryParams")
            _name_list(c, "removeQueryParams", headers=False)
        else:
            _status(c, "setStatus")
        _body_edits(c)
        if not any(c.get(k) not in (None, {}, []) for k in allowed):
            raise RuleError(f"config must set at least one of {', '.join(k for k in allowed if k != 'transformBody')}")
    elif action == "delay":
        if c.get("delay") is None:
            raise RuleError("config.delay is required for delay")
        _num(c, "delay", hi=MAX_DELAY_MS)
        _num(c, "variance", hi=MAX_DELAY_MS)
    elif action == "throttle":
        if c.get("bytesPerSecond") is None:
            raise RuleError("config.bytesPerSecond is required for throttle")
        _num(c, "bytesPerSecond", lo=1)
        _num(c, "latency", hi=MAX_DELAY_MS)
    elif action == "block":
        _status(c, "status")
        _str(c, "body")
    elif action == "replay-from":
        session, har = c.get("session"), c.get("harFile")
        if (session is None) == (har is None):
            raise RuleError("config: replay-from needs exactly one of session (id or name) or harFile")
        if session is not None and (not isinstance(session, str) or not session.strip()):
            raise RuleError("config.session must be a session id or name")
        if har is not None:
            _abs_path(c, "harFile", action, required=True)
        if c.get("matchBy", "url") not in ("url", "template"):
            raise RuleError('config.matchBy must be "url" or "template"')
        if c.get("onMiss", "passthrough") not in ("passthrough", "404"):
            raise RuleError('config.onMiss must be "passthrough" or "404"')
        _bool(c, "replayTiming")
    if action == "block" and not config:
        return None
    return dict(config)


def validate_rule(body: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The rule's stored fields from a create (`current` None) or a partial update merged over
    `current`. Raises RuleError naming the first bad field."""
    if "matchPattern" in body:
        raise RuleError("matchPattern: use match (NectoProxy's API form)")
    unknown = [k for k in body if k not in RULE_FIELDS and k not in IGNORED_FIELDS]
    if unknown:
        raise RuleError(f"{unknown[0]} is not a rule field (use {', '.join(RULE_FIELDS)})")
    merged = {**(current or {}), **{k: v for k, v in body.items() if k in RULE_FIELDS}}
    name = merged.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RuleError("Rule name is required")
    if len(name) > MAX_NAME:
        raise RuleError(f"name is longer than {MAX_NAME} characters")
    enabled = merged.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleError("enabled must be true or false")
    priority = merged.get("priority")
    if priority is not None and (
        isinstance(priority, bool) or not isinstance(priority, (int, float)) or not math.isfinite(priority)
    ):
        raise RuleError("priority must be a number")
    action = merged.get("action")
    if action is None:
        raise RuleError("action is required")
    if not isinstance(action, str) or action not in ACTIONS:
        hint = f': use "{CAMEL_ACTIONS[action]}"' if isinstance(action, str) and action in CAMEL_ACTIONS else ""
        raise RuleError(f"Invalid action: {action!r}{hint} (one of {', '.join(ACTIONS)})")
    if "match" not in merged or merged["match"] is None:
        raise RuleError("match is required")
    try:
        spec = compile_match(merged["match"]).spec
    except MatchError as e:
        raise RuleError(str(e)) from None
    config = validate_config(action, merged.get("config"))
    return {
        "name": name.strip(),
        "enabled": enabled,
        "priority": priority,
        "match": spec,
        "action": action,
        "config": config,
    }
