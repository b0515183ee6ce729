"""Rules without the proxy: body edits (find/replace, JSON paths), map-local path safety, the
evaluation order and host index of a rule set, recorded-response pairing, and profile checks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from necto.jsonpath import parse_json_path
from necto.match import SimpleRequest
from necto.network import PRESETS, ProfileError, validate_profile
from necto.rules.edits import compile_edits, edit_json
from necto.rules.engine import RuleSet, compile_rule
from necto.rules.local import serve_local
from necto.rules.model import Rule, validate_rule
from necto.rules.recorded import Recorded, Recording, url_key

DOC = {"user": {"name": "ana", "token": "t", "tags": ["a", "b"]}, "items": [{"id": 1, "t": 1}, {"id": 2, "t": 2}]}

JSON_EDITS: list[tuple[dict[str, Any], list[str], dict[str, Any]]] = [
    ({"$.user.name": "bo"}, [], {**DOC, "user": {**DOC["user"], "name": "bo"}}),
    ({"$.user.address.city": "Oslo"}, [], {**DOC, "user": {**DOC["user"], "address": {"city": "Oslo"}}}),
    ({"$.items[1].id": 9}, [], {**DOC, "items": [{"id": 1, "t": 1}, {"id": 9, "t": 2}]}),
    ({"$.items[*].t": 0}, [], {**DOC, "items": [{"id": 1, "t": 0}, {"id": 2, "t": 0}]}),
    ({"$.user.tags[2]": "c"}, [], {**DOC, "user": {**DOC["user"], "tags": ["a", "b", "c"]}}),
    ({}, ["$.user.token"], {**DOC, "user": {"name": "ana", "tags": ["a", "b"]}}),
    ({}, ["$..t"], {"user": {"name": "ana", "token": "t", "tags": ["a", "b"]}, "items": [{"id": 1}, {"id": 2}]}),
    ({}, ["$.user.tags[0]"], {**DOC, "user": {**DOC["user"], "tags": ["b"]}}),
    ({}, ["$.items[*]"], {**DOC, "items": []}),
    ({}, ["$.nothing.here"], DOC),
]


@pytest.mark.parametrize("sets,removes,expected", JSON_EDITS, ids=[str(e[:2]) for e in JSON_EDITS])
def test_json_edits(sets: dict[str, Any], removes: list[str], expected: dict[str, Any]) -> None:
    out = edit_json(
        orjson.dumps(DOC), [(parse_json_path(p), v) for p, v in sets.items()], [parse_json_path(p) for p in removes]
    )
    assert orjson.loads(out) == expected


def test_json_edits_leave_non_json_alone() -> None:
    assert edit_json(b"<html>", [(parse_json_path("$.a"), 1)], []) == b"<html>"


FIND_REPLACE = [
    ("hello world", "world", "there", "hello there"),  # literal
    ("a.b.c", ".", "-", "a-b-c"),  # literal dots are not regex
    ("ana@example.com, bo@example.com", r"/(\w+)@example\.com/", "$1@test", "ana@test, bo@test"),
    ("Price: 10", r"/\d+/", "[$&]", "Price: [10]"),
    ("cost", "/c.st/", "$$5", "$5"),
    ("AbC", "/abc/i", "x", "x"),
]


@pytest.mark.parametrize("text,find,replace,expected", FIND_REPLACE, ids=[f[1] for f in FIND_REPLACE])
def test_find_replace(text: str, find: str, replace: str, expected: str) -> None:
    edits = compile_edits({"findReplace": [{"find": find, "replace": replace}]})
    assert edits.apply_body(text.encode()) == expected.encode()


def test_body_edits_run_in_documented_order() -> None:
    edits = compile_edits({"replaceBody": '{"a": "x"}', "findReplace": [{"find": "x", "replace": "y"}], "setJson": {"$.b": 1},
                           "removeJson": ["$.a"]})  # fmt: skip
    assert orjson.loads(edits.apply_body(b"ignored")) == {"b": 1}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("A")
    (root / "sub" / "index.html").write_text("<p>")
    (tmp_path / "outside.txt").write_text("secret")
    os.symlink(tmp_path / "outside.txt", root / "link.txt")
    os.symlink(tmp_path, root / "up")
    return root


LOCAL = [
    ("/a.txt", None, 200, b"A"),
    ("/mnt/a.txt", "/mnt/", 200, b"A"),
    ("/sub/", None, 200, b"<p>"),
    ("/a.txt?x=1", None, 200, b"A"),
    ("/missing", None, 404, b"Local file not found: missing\n"),
    ("/../outside.txt", None, 403, None),
    ("/%2E%2E/outside.txt", None, 403, None),
    ("/sub/%2e%2e/%2e%2e/outside.txt", None, 403, None),
    ("/link.txt", None, 403, None),
    ("/up/outside.txt", None, 403, None),
    ("/a.txt%00.png", None, 403, None),
]


@pytest.mark.parametrize("path,prefix,status,body", LOCAL, ids=[f"{p[0]} {p[1]}" for p in LOCAL])
def test_map_local_paths(site: Path, path: str, prefix: str | None, status: int, body: bytes | None) -> None:
    got = serve_local(str(site), path, prefix)
    assert got.status == status
    if body is not None:
        assert got.body == body
    else:
        assert b"secret" not in got.body


def _rule(name: str, action: str, match: dict[str, Any], config: dict[str, Any] | None = None, i: int = 0) -> Any:
    fields = validate_rule({"name": name, "match": match, "action": action, "config": config})
    return compile_rule(Rule(name, name, True, i, fields["match"], action, fields["config"], 0, 0), i)


def test_rule_set_order_and_host_index() -> None:
    rules = RuleSet([
        _rule("tag", "modify-request", {"host": "api.example.com"}, {"setHeaders": {"x": "1"}}, 0),
        _rule("slow", "delay", {"host": "*.example.com"}, {"delay": 5}, 1),
        _rule("mock", "mock", {"path": "/v1/*"}, {"body": "m"}, 2),
        _rule("never", "mock", {"path": "/v1/*"}, {"body": "n"}, 3),
        *[_rule(f"other{i}", "block", {"host": f"h{i}.other.test"}, None, 10 + i) for i in range(100)],
    ])  # fmt: skip
    req = SimpleRequest("GET", "https://api.example.com/v1/users")
    assert [r.rule.name for r in rules.matching(req)] == ["tag", "slow", "mock"]  # stops at the first terminal
    assert [r.rule.name for r in rules.candidates("elsewhere.test")] == ["mock", "never"]  # 100 others never looked at
    assert rules.may_redirect("h7.other.test") and rules.may_redirect(
        "any.host"
    )  # the path rules could answer anything
    only_hosts = RuleSet([_rule("b", "block", {"host": "ads.test"}), _rule("t", "throttle", {}, {"bytesPerSecond": 1})])
    assert only_hosts.may_redirect("ads.test") and not only_hosts.may_redirect("api.example.com")


def test_validation_keeps_what_was_given_and_fills_defaults_when_compiled() -> None:
    fields = validate_rule(
        {"name": " x ", "match": {"method": ["get"]}, "action": "map-remote", "config": {"targetUrl": "https://h/"}}
    )
    assert fields == {"name": "x", "enabled": True, "priority": None, "match": {"method": ["get"]}, "action": "map-remote",
                      "config": {"targetUrl": "https://h/"}}  # fmt: skip
    compiled = _rule("x", "map-remote", {}, {"targetUrl": "https://h/"})
    assert compiled.config["preservePath"] is True and compiled.config["preserveQuery"] is True
    assert _rule("b", "block", {}).config == {"status": 403, "body": "Blocked by Necto"}


def test_recording_pairs_calls_by_url_ignoring_query_order() -> None:
    rec = Recording()
    for i, url in enumerate(["http://h/a?x=1&y=2", "http://h/a?y=2&x=1", "http://h/b", "http://other:8080/b"]):
        rec.add(Recorded("GET", url, i))
    assert url_key("get", "http://H:80/a?y=2&x=1") == url_key("GET", "http://h/a?x=1&y=2")
    assert [rec.pick("GET", "http://h/a?y=2&x=1").ref for _ in range(3)] == [0, 1, 1]  # type: ignore[union-attr]
    assert rec.pick("POST", "http://h/a?x=1&y=2") is None
    assert rec.pick("GET", "http://h/b").ref == 2  # type: ignore[union-attr]
    # Served on our own port, the origin is ignored and the Host header picks among hosts.
    assert rec.pick("GET", "http://127.0.0.1:9/b", ignore_origin=True, host="other:8080").ref == 3  # type: ignore[union-attr]


PROFILE_ERRORS = [
    ({}, "Profile name is required"),
    ({"name": "  "}, "Profile name is required"),
    ({"name": "x", "latency": -1}, "latency must not be negative"),
    ({"name": "x", "latencyJitter": 6000}, "latencyJitter must be at most 5000"),
    ({"name": "x", "packetLoss": 101}, "packetLoss must be at most 100"),
    ({"name": "x", "downloadBandwidth": 1.5}, "downloadBandwidth must be a whole number"),
    ({"name": "x", "uploadBandwidth": True}, "uploadBandwidth must be a number"),
]


@pytest.mark.parametrize("body,message", PROFILE_ERRORS, ids=[m for _, m in PROFILE_ERRORS])
def test_profile_validation(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ProfileError) as info:
        validate_profile(body)
    assert str(info.value).startswith(message)


def test_presets_are_nectoproxys_eleven() -> None:
    assert [p.id for p in PRESETS] == [f"preset-{i}" for i in range(11)]
    assert validate_profile({"name": "n"})["latency"] == 0


MCP = [
    ({"name": "m", "action": "mock", "match": {"path": "/x"}, "mock": {"status": 503, "body": "down"}},
     {"action": "mock", "config": {"status": 503, "body": "down"}}),
    ({"name": "b", "action": "block", "match": {"host": "ads.test"}}, {"action": "block", "config": None}),
    ({"name": "r", "action": "modify-request", "match": {}, "setRequestHeaders": {"X-A": "1"}, "removeRequestHeaders": ["Cookie"]},
     {"action": "modify-request", "config": {"setHeaders": {"X-A": "1"}, "removeHeaders": ["Cookie"]}}),
    ({"name": "s", "action": "modify-response", "match": {"method": ["GET"]}, "setResponseStatus": 500, "replaceResponseBody": "x"},
     {"action": "modify-response", "config": {"setStatus": 500, "replaceBody": "x"}}),
]  # fmt: skip


@pytest.mark.parametrize("args,expected", MCP, ids=[a["action"] for a, _ in MCP])
def test_mcp_create_rule_parameters_become_rules(args: dict[str, Any], expected: dict[str, Any]) -> None:
    from necto.rules.mcp import rule_from_tool_args

    fields = rule_from_tool_args(args)
    assert {k: fields[k] for k in expected} == expected and fields["enabled"] is True


MCP_ERRORS = [
    ({"name": "m", "action": "mock", "match": {}}, "mock rules need a mock object"),
    ({"name": "r", "action": "modify-request", "match": {}}, "modify-request rules need setRequestHeaders"),
    ({"name": "r", "action": "modify-response", "match": {}}, "modify-response rules need setResponseStatus"),
    (
        {"name": "d", "action": "delay", "match": {}},
        "action must be one of mock, block, modify-request, modify-response",
    ),
    ({"name": "h", "action": "block", "match": {"headers": {"a": "b"}}}, "match.headers is not a match field here"),
    ({"action": "block", "match": {}}, "Rule name is required"),
]


@pytest.mark.parametrize("args,message", MCP_ERRORS, ids=[m for _, m in MCP_ERRORS])
def test_mcp_create_rule_errors(args: dict[str, Any], message: str) -> None:
    from necto.rules.mcp import rule_from_tool_args
    from necto.rules.model import RuleError

    with pytest.raises(RuleError) as info:
        rule_from_tool_args(args)
    assert str(info.value).startswith(message)
