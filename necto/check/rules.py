"""What `necto check` fails the build on: a small YAML file over sensible defaults.

    # necto-check.yaml
    rules:                       # finding kind -> fail | warn | note | ignore
      latency-regression: fail
      field-added: ignore
    latency: {thresholdMs: 200, thresholdPct: 50, minSamples: 3}
    ignore:
      endpoints: ["GET */health", "* /internal/*"]   # globs on "METHOD host/path" or "METHOD /path"
      fields: ["$..updatedAt", "$.meta"]             # JSON paths (and everything under them)
    match: {ignoreHost: true, rewrite: ["https://api.example.com=http://127.0.0.1:8000"]}
    includeStatic: false

Every key is optional; an unknown key or a bad value is an error that names it (exit 2).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from necto.jsonpath import parse_json_path, path_matches
from necto.rewrite import HostRewrite, parse_rewrites

LEVELS = ("fail", "warn", "note", "ignore")
# Finding kinds and what they do unless the rules file says otherwise.
DEFAULT_LEVELS: dict[str, str] = {
    "endpoint-removed": "fail",
    "endpoint-added": "note",
    "status-changed": "fail",
    "field-removed": "fail",
    "field-retyped": "fail",
    "field-added": "note",
    "auth-added": "fail",
    "auth-removed": "warn",
    "sensitive-added": "fail",
    "latency-regression": "warn",
}
MAX_RULES_FILE = 1 << 20
DEFAULT_RULES_FILE = "necto-check.yaml"


class RulesError(ValueError):
    """The rules file is not usable; the message names the key."""


@dataclass
class CheckRules:
    levels: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_LEVELS))
    latency_ms: float = 100.0  # a p95 regression counts past both thresholds
    latency_pct: float = 50.0
    min_samples: int = 1  # requests each side must have for a latency verdict
    ignore_endpoints: list[str] = field(default_factory=list)
    ignore_fields: list[str] = field(default_factory=list)
    ignore_host: bool = False
    rewrites: list[HostRewrite] = field(default_factory=list)
    rewrite_text: list[str] = field(default_factory=list)
    include_static: bool = False
    source: str | None = None  # the file the rules came from

    def __post_init__(self) -> None:
        self._field_patterns = [parse_json_path(p) for p in self.ignore_fields]

    def level(self, kind: str) -> str:
        return self.levels.get(kind, "note")

    def endpoint_ignored(self, method: str, host: str, path: str) -> bool:
        names = (f"{method} {host}{path}", f"{method} {path}")
        return any(fnmatch.fnmatchcase(n, pattern) for pattern in self.ignore_endpoints for n in names)

    def field_ignored(self, path: str) -> bool:
        if not self._field_patterns:
            return False
        try:
            tokens = [t[1] if t[0] in ("key", "index") else "*" for t in parse_json_path(path.replace("[*]", "[0]"))]
        except ValueError:
            return False
        return any(path_matches(p, tokens) for p in self._field_patterns)

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "levels": self.levels,
            "latency": {
                "thresholdMs": self.latency_ms,
                "thresholdPct": self.latency_pct,
                "minSamples": self.min_samples,
            },
            "ignore": {"endpoints": self.ignore_endpoints, "fields": self.ignore_fields},
            "match": {"ignoreHost": self.ignore_host, "rewrite": self.rewrite_text},
            "includeStatic": self.include_static,
        }


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise RulesError(f"{where} must be a list of strings")


def _number(value: Any, where: str, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != value:
        raise RulesError(f"{where} must be a non-negative number")
    if integer and int(value) != value:
        raise RulesError(f"{where} must be a whole number")
    return float(value)


def _mapping(value: Any, where: str, keys: tuple[str, ...]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RulesError(f"{where} must be a mapping")
    unknown = [k for k in value if k not in keys]
    if unknown:
        raise RulesError(f"{where}.{unknown[0]} is not a known key (known: {', '.join(keys)})")
    return value


def rules_from_data(data: Any, source: str | None = None) -> CheckRules:
    """CheckRules from parsed YAML/JSON; RulesError names the first bad key."""
    top = _mapping(data, "rules file", ("rules", "latency", "ignore", "match", "includeStatic"))
    rules = CheckRules(source=source)
    for kind, level in _mapping(top.get("rules"), "rules", tuple(DEFAULT_LEVELS)).items():
        if level not in LEVELS:
            raise RulesError(f"rules.{kind} must be one of {', '.join(LEVELS)}")
        rules.levels[kind] = level
    lat = _mapping(top.get("latency"), "latency", ("thresholdMs", "thresholdPct", "minSamples"))
    if "thresholdMs" in lat:
        rules.latency_ms = _number(lat["thresholdMs"], "latency.thresholdMs")
    if "thresholdPct" in lat:
        rules.latency_pct = _number(lat["thresholdPct"], "latency.thresholdPct")
    if "minSamples" in lat:
        rules.min_samples = max(1, int(_number(lat["minSamples"], "latency.minSamples", integer=True)))
    ign = _mapping(top.get("ignore"), "ignore", ("endpoints", "fields"))
    rules.ignore_endpoints = _strings(ign.get("endpoints"), "ignore.endpoints")
    rules.ignore_fields = _strings(ign.get("fields"), "ignore.fields")
    for p in rules.ignore_fields:
        try:
            parse_json_path(p)
        except ValueError as e:
            raise RulesError(f"ignore.fields: {e}") from None
    rules.__post_init__()
    match = _mapping(top.get("match"), "match", ("ignoreHost", "rewrite"))
    if "ignoreHost" in match:
        if not isinstance(match["ignoreHost"], bool):
            raise RulesError("match.ignoreHost must be true or false")
        rules.ignore_host = match["ignoreHost"]
    add_rewrites(rules, _strings(match.get("rewrite"), "match.rewrite"), "match.rewrite")
    if "includeStatic" in top:
        if not isinstance(top["includeStatic"], bool):
            raise RulesError("includeStatic must be true or false")
        rules.include_static = top["includeStatic"]
    return rules


def add_rewrites(rules: CheckRules, items: list[str], where: str = "--rewrite") -> None:
    """`FROM=TO` origin pairs: the baseline's FROM origin is compared with the current TO."""
    for item in items:
        src, sep, dst = item.partition("=")
        if not sep:
            raise RulesError(f"{where} must be FROM=TO: {item}")
        try:
            rules.rewrites += parse_rewrites({"from": src, "to": dst})
        except ValueError as e:
            raise RulesError(f"{where}: {e}") from None
        rules.rewrite_text.append(item)


def load_rules(path: Path | None) -> CheckRules:
    """The rules in `path`; without one, necto-check.yaml in the working directory if it
    exists, else the defaults."""
    if path is None:
        default = Path(DEFAULT_RULES_FILE)
        if not default.is_file():
            return CheckRules()
        path = default
    try:
        if path.stat().st_size > MAX_RULES_FILE:
            raise RulesError(f"{path}: a rules file is at most 1 MB")
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise RulesError(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise RulesError(f"{path}: not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise RulesError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from None
    try:
        return rules_from_data(data if data is not None else {}, str(path))
    except RulesError as e:
        raise RulesError(f"{path}: {e}") from None
