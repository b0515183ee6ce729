"""Rules files: the rule set as JSON or YAML a team can commit, review and import.

```yaml
version: 1
rules:
  - id: 6c0e...            # optional; an import updates the rule with this id, else creates one
    name: Mock users
    enabled: true
    priority: 0
    match: {host: api.example.com, path: /users}
    action: mock
    config: {status: 200, body: '[]', headers: {Content-Type: application/json}}
```

A bare list of rules is accepted too. Relative `localPath`, `bodyFile` and `harFile` values are
resolved against the file's directory when importing from a file. Every rule is validated
before anything is saved; the error names the rule and the field.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import yaml

from necto.rules.model import Rule, RuleError, validate_rule

RULES_FILE_VERSION = 1
MAX_RULES_FILE = 16 << 20
PATH_FIELDS = ("localPath", "bodyFile", "harFile")


def dump_rules(rules: list[Rule], fmt: str = "json") -> bytes:
    """Rules in evaluation order, without timestamps (so a committed file only changes when the
    rules do)."""
    doc = {"version": RULES_FILE_VERSION, "rules": [{"id": r.id, **r.fields()} for r in rules]}
    if fmt == "yaml":
        return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120).encode("utf-8")
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"


def _no_aliases(text: str) -> None:
    """YAML aliases can make a few bytes expand into billions of nodes: rules files need none."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise RuleError("rules file: YAML aliases (*name) are not supported")


def load_rules_file(path: Path) -> Any:
    """The parsed document of a .json / .yaml / .yml rules file (JSON is also tried first for
    any other name). RuleError says what is wrong."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise RuleError(f"cannot read {path}: {e.strerror or e}") from None
    if size > MAX_RULES_FILE:
        raise RuleError(f"{path}: larger than {MAX_RULES_FILE >> 20} MiB; not a rules file")
    raw = path.read_bytes()
    if path.suffix.lower() in (".yaml", ".yml"):
        return _yaml(raw, path)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        if path.suffix.lower() == ".json":
            raise RuleError(f"{path}: not valid JSON: {e}") from None
        return _yaml(raw, path)


def _yaml(raw: bytes, path: Path) -> Any:
    try:
        text = raw.decode("utf-8")
        _no_aliases(text)
        return yaml.safe_load(text)
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        raise RuleError(f"{path}: not valid YAML: {' '.join(str(e).split())}") from None


def parse_rules_document(doc: Any, base_dir: Path | None = None) -> list[tuple[str | None, dict[str, Any]]]:
    """(id or None, validated fields) for every rule of a rules document."""
    if isinstance(doc, dict):
        version = doc.get("version", RULES_FILE_VERSION)
        if version != RULES_FILE_VERSION:
            raise RuleError(f"rules file version {version!r} is not supported (this Necto reads {RULES_FILE_VERSION})")
        items = doc.get("rules")
    else:
        items = doc
    if not isinstance(items, list):
        raise RuleError('a rules file holds {"version": 1, "rules": [...]} or a list of rules')
    out: list[tuple[str | None, dict[str, Any]]] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        label = f"rules[{i}]"
        if not isinstance(item, dict):
            raise RuleError(f"{label} must be an object")
        if isinstance(item.get("name"), str):
            label += f" ({item['name']})"
        rid = item.get("id")
        if rid is not None and (not isinstance(rid, str) or not rid.strip()):
            raise RuleError(f"{label}: id must be a string")
        if rid in seen:
            raise RuleError(f"{label}: duplicate id {rid}")
        if rid is not None:
            seen.add(rid)
        item = dict(item)
        if base_dir is not None and isinstance(item.get("config"), dict):
            item["config"] = _resolve_paths(item["config"], base_dir)
        try:
            out.append((rid, validate_rule(item)))
        except RuleError as e:
            raise RuleError(f"{label}: {e}") from None
    return out


def _resolve_paths(config: dict[str, Any], base: Path) -> dict[str, Any]:
    config = dict(config)
    for key in PATH_FIELDS:
        value = config.get(key)
        if isinstance(value, str) and value and not os.path.isabs(os.path.expanduser(value)):
            config[key] = str((base / value).resolve())
    return config
