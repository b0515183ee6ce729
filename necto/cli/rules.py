"""`necto rules ...`: the rules of the data directory, with or without a running Necto (which
applies a change to its next request)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson
import yaml

from necto.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, DataDirArg, Handler, err, open_store, print_json, table
from necto.rules.fileformat import dump_rules, load_rules_file, parse_rules_document
from necto.rules.model import ACTIONS, Rule, RuleError, validate_rule
from necto.rules.sources import check_sources
from necto.store import Store


def register(sub: Any, add_data_dir_arg: DataDirArg) -> dict[str, Handler]:
    rules = sub.add_parser("rules", help="list, add, edit, enable, disable, delete, reorder, export, import rules")
    add_data_dir_arg(rules)
    rsub = rules.add_subparsers(dest="verb", metavar="ACTION", required=True)

    ls = rsub.add_parser("list", help="list rules in evaluation order")
    add_data_dir_arg(ls, leaf=True)
    ls.add_argument("--json", action="store_true", help="print JSON")

    for name, text in (("add", "add a rule"), ("edit", "change a rule (only what is given)")):
        p = rsub.add_parser(name, help=text)
        add_data_dir_arg(p, leaf=True)
        if name == "edit":
            p.add_argument("rule", help="rule id or name")
            p.add_argument("--name", help="new name")
        else:
            p.add_argument("name", nargs="?", help="the rule's name (or give --file)")
            p.add_argument("--file", type=Path, help="a JSON or YAML file holding one rule object")
        p.add_argument("--action", choices=ACTIONS, help="what the rule does")
        p.add_argument("--match", metavar="JSON", help='the whole match object, e.g. \'{"host": "api.example.com"}\'')
        for field in ("url", "host", "path"):
            p.add_argument(f"--{field}", help=f"match.{field} (glob, or /regex/flags)")
        p.add_argument("--method", action="append", help="match.method (repeatable)")
        p.add_argument("--config", metavar="JSON", help="the action's config, JSON or YAML, e.g. '{\"status\": 503}'")
        p.add_argument("--priority", type=float, help="lower runs first (default: after the last rule)")
        state = p.add_mutually_exclusive_group()
        state.add_argument("--disabled", dest="enabled", action="store_false", default=None, help="save it disabled")
        state.add_argument("--enabled", dest="enabled", action="store_true", help="save it enabled")
        p.add_argument("--json", action="store_true", help="print the saved rule as JSON")

    for name, text in (("enable", "enable rules"), ("disable", "disable rules"), ("delete", "delete rules")):
        p = rsub.add_parser(name, help=text)
        add_data_dir_arg(p, leaf=True)
        p.add_argument("rules", nargs="+", metavar="RULE", help="rule id or name")

    ro = rsub.add_parser("reorder", help="set the evaluation order (rules not named follow)")
    add_data_dir_arg(ro, leaf=True)
    ro.add_argument("rules", nargs="+", metavar="RULE", help="rule ids or names, first = evaluated first")

    ex = rsub.add_parser("export", help="write the rules as a JSON or YAML file a team can commit")
    add_data_dir_arg(ex, leaf=True)
    ex.add_argument("-o", "--output", type=Path, help="file to write (default: stdout); .yaml/.yml writes YAML")
    ex.add_argument("--format", choices=("json", "yaml"), help="default: from the file name, else JSON")

    im = rsub.add_parser("import", help="save the rules of a JSON or YAML file (all or nothing)")
    add_data_dir_arg(im, leaf=True)
    im.add_argument("file", type=Path)
    im.add_argument("--replace", action="store_true", help="delete every rule that is not in the file")
    im.add_argument("--dry-run", action="store_true", help="only check the file")
    return {"rules": cmd_rules}


def _parse_value(text: str, what: str) -> Any:
    """JSON, else YAML (friendlier to type on a command line)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise RuleError(f"{what}: not JSON or YAML: {' '.join(str(e).split())}") from None


async def find_rule(store: Store, key: str) -> Rule:
    """A rule by id, else by exact name; RuleError when none or several."""
    rule = await store.get_rule(key)
    if rule is not None:
        return rule
    named = [r for r in await store.list_rules() if r.name == key]
    if not named:
        raise RuleError(f"Rule not found: {key}")
    if len(named) > 1:
        raise RuleError(f"several rules are named {key!r}; use an id ({', '.join(r.id for r in named)})")
    return named[0]


def _body(args: argparse.Namespace) -> dict[str, Any]:
    """The rule fields the options give."""
    body: dict[str, Any] = {}
    if getattr(args, "file", None) is not None:
        doc = load_rules_file(args.file)
        if not isinstance(doc, dict):
            raise RuleError(f"{args.file}: a rule file holds one rule object")
        body.update(doc)
    if getattr(args, "name", None):
        body["name"] = args.name
    if args.action:
        body["action"] = args.action
    if args.config is not None:
        body["config"] = _parse_value(args.config, "--config")
    if args.priority is not None:
        body["priority"] = args.priority
    if args.enabled is not None:
        body["enabled"] = args.enabled
    return body


def _match(args: argparse.Namespace, current: dict[str, Any] | None) -> dict[str, Any] | None:
    """--match replaces the match object; --url/--host/--path/--method set single fields."""
    match = dict(current) if current is not None else None
    if args.match is not None:
        match = _parse_value(args.match, "--match")
        if not isinstance(match, dict):
            raise RuleError("--match must be an object")
    fields = {k: getattr(args, k) for k in ("url", "host", "path") if getattr(args, k) is not None}
    if args.method:
        fields["method"] = args.method[0] if len(args.method) == 1 else args.method
    if fields:
        match = {**(match or {}), **fields}
    return match


def _rule_rows(rules: list[Rule]) -> list[list[str]]:
    rows = []
    for i, r in enumerate(rules, 1):
        what = (
            " ".join(f"{k}={v if isinstance(v, str) else orjson.dumps(v).decode()}" for k, v in r.match.items())
            or "(all)"
        )
        rows.append([str(i), r.id, "on" if r.enabled else "off", str(r.as_json()["priority"]), r.action, r.name, what])
    return rows


def _print_rule(rule: Rule, as_json: bool, verb: str) -> None:
    if as_json:
        print_json(rule.as_json())
    else:
        print(f"{verb} {rule.id}  {rule.name}  ({rule.action}, {'enabled' if rule.enabled else 'disabled'})")


async def cmd_rules(args: argparse.Namespace) -> int:
    try:
        async with open_store(args) as store:
            return await _run(store, args)
    except RuleError as e:
        err(str(e))
        return EXIT_FAIL


async def _run(store: Store, args: argparse.Namespace) -> int:
    action = args.verb
    if action == "list":
        rules = await store.list_rules()
        if args.json:
            print_json({"rules": [r.as_json() for r in rules]})
        elif not rules:
            print("no rules (add one: necto rules add NAME --action mock --path /api/x --config '{\"status\": 503}')")
        else:
            table(_rule_rows(rules), ["#", "ID", "STATE", "PRIORITY", "ACTION", "NAME", "MATCH"])
        return EXIT_OK
    if action == "add":
        body = _body(args)
        match = _match(args, body.get("match"))
        if match is not None:
            body["match"] = match
        if "match" not in body:
            body["match"] = {}
        if not body.get("name"):
            err("give the rule a name (necto rules add NAME ...) or a --file")
            return EXIT_USAGE
        fields = validate_rule(body)
        await check_sources(store, fields)
        _print_rule(await store.create_rule(fields), args.json, "added")
        return EXIT_OK
    if action == "edit":
        current = await find_rule(store, args.rule)
        body = _body(args)
        match = _match(args, current.match)
        if match is not None and match != current.match:
            body["match"] = match
        fields = validate_rule(body, current.fields())
        await check_sources(store, fields)
        rule = await store.update_rule(current.id, fields)
        assert rule is not None
        _print_rule(rule, args.json, "saved")
        return EXIT_OK
    if action in ("enable", "disable", "delete"):
        targets = [await find_rule(store, key) for key in args.rules]  # all found before any change
        for r in targets:
            if action == "delete":
                await store.delete_rule(r.id)
                print(f"deleted {r.id}  {r.name}")
            else:
                await store.toggle_rule(r.id, action == "enable")
                print(f"{action}d {r.id}  {r.name}")
        return EXIT_OK
    if action == "reorder":
        ids = [(await find_rule(store, key)).id for key in args.rules]
        table(_rule_rows(await store.reorder_rules(ids)), ["#", "ID", "STATE", "PRIORITY", "ACTION", "NAME", "MATCH"])
        return EXIT_OK
    if action == "export":
        fmt = args.format or ("yaml" if args.output and args.output.suffix.lower() in (".yaml", ".yml") else "json")
        data = dump_rules(await store.list_rules(), fmt)
        if args.output is None:
            sys.stdout.buffer.write(data)
        else:
            args.output.write_bytes(data)
            print(f"wrote {args.output}", file=sys.stderr)
        return EXIT_OK
    assert action == "import"
    items = parse_rules_document(load_rules_file(args.file), base_dir=args.file.resolve().parent)
    for _, fields in items:
        await check_sources(store, fields)
    if args.dry_run:
        print(f"{args.file}: {len(items)} valid rules")
        return EXIT_OK
    counts = await store.import_rules(items, replace=args.replace)
    print(
        f"imported {args.file}: {counts['created']} created, {counts['updated']} updated, {counts['deleted']} deleted"
    )
    return EXIT_OK
