"""The shared matcher (necto/match.py), table-driven: globs, regex literals, hosts, methods,
headers, body, the errors that name the field, and the host index that keeps rules cheap."""

from __future__ import annotations

from typing import Any

import pytest

from necto.match import MatchError, SimpleRequest, compile_match, host_could_match, regex_literal

GET_USERS = SimpleRequest("GET", "https://api.example.com/v1/users?page=2&sort=name", [("Accept", "application/json")])
POST_LOGIN = SimpleRequest(
    "post", "http://127.0.0.1:8080/auth/login", [("Content-Type", "application/json; charset=utf-8"), ("X-Env", "staging")],
    b'{"user": "ana", "mutation CreateUser": 1}',
)  # fmt: skip
DEEP = SimpleRequest("GET", "https://a.b.cdn.example.com/static/app.js")
BARE = SimpleRequest("GET", "https://example.com/")

MATCHES: list[tuple[str, dict[str, Any], SimpleRequest, bool]] = [
    ("empty match matches everything", {}, GET_USERS, True),
    ("url glob", {"url": "*/v1/users*"}, GET_USERS, True),
    ("url glob is anchored", {"url": "*/v1/users"}, GET_USERS, False),
    ("url glob is case-insensitive", {"url": "HTTPS://API.EXAMPLE.COM/*"}, GET_USERS, True),
    ("url ? is one character", {"url": "https://api.example.com/v?/users*"}, GET_USERS, True),
    ("url star alone", {"url": "*"}, POST_LOGIN, True),
    ("url regex literal searches", {"url": r"/users\?page=\d/"}, GET_USERS, True),
    ("url regex with flags", {"url": r"/API\.EXAMPLE/i"}, GET_USERS, True),
    ("url regex without i is case-sensitive", {"url": r"/API\.EXAMPLE/"}, GET_USERS, False),
    ("regex: prefix", {"url": r"regex:v\d+/users$"}, SimpleRequest("GET", "http://h/v2/users"), True),
    ("method string, any case", {"method": "get"}, GET_USERS, True),
    ("method list", {"method": ["PUT", "POST"]}, POST_LOGIN, True),
    ("method mismatch", {"method": "POST"}, GET_USERS, False),
    ("method star", {"method": "*"}, POST_LOGIN, True),
    ("host exact", {"host": "api.example.com"}, GET_USERS, True),
    ("host exact is case-insensitive", {"host": "API.Example.com"}, GET_USERS, True),
    ("host wildcard", {"host": "*.example.com"}, GET_USERS, True),
    ("host wildcard, any depth", {"host": "*.example.com"}, DEEP, True),
    ("host wildcard does not match the bare domain", {"host": "*.example.com"}, BARE, False),
    (
        "host wildcard needs a dot boundary",
        {"host": "*.example.com"},
        SimpleRequest("GET", "https://badexample.com/"),
        False,
    ),
    ("host with port", {"host": "127.0.0.1:8080"}, POST_LOGIN, True),
    ("host with another port", {"host": "127.0.0.1:9090"}, POST_LOGIN, False),
    (
        "host inner star is one label",
        {"host": "api-*.example.com"},
        SimpleRequest("GET", "http://api-eu.example.com/"),
        True,
    ),
    (
        "host inner star stays in its label",
        {"host": "api-*.example.com"},
        SimpleRequest("GET", "http://api-eu.x.example.com/"),
        False,
    ),
    ("host regex", {"host": r"/^api\./"}, GET_USERS, True),
    ("path glob ignores the query", {"path": "/v1/users"}, GET_USERS, True),
    ("path glob with star", {"path": "/v1/*"}, GET_USERS, True),
    ("path literal that looks like a regex literal stays a glob", {"path": "/auth/"}, POST_LOGIN, False),
    (
        "path /users/a is a glob (a is no flag)",
        {"path": "/users/a"},
        SimpleRequest("GET", "http://h/v2/users/a"),
        False,
    ),
    ("/users/i is a regex with a flag", {"path": "/USERS/i"}, SimpleRequest("GET", "http://h/v2/users/x"), True),
    ("path regex from the docs", {"path": r"/\/v[0-9]+\/users/"}, GET_USERS, True),
    ("header value glob", {"headers": {"content-type": "application/json*"}}, POST_LOGIN, True),
    ("header name case-insensitive", {"headers": {"X-ENV": "staging"}}, POST_LOGIN, True),
    ("header star means present", {"headers": {"x-env": "*"}}, POST_LOGIN, True),
    ("header absent", {"headers": {"x-env": "*"}}, GET_USERS, False),
    ("header regex", {"headers": {"x-env": "/^stag/"}}, POST_LOGIN, True),
    ("bodyContains", {"bodyContains": "mutation CreateUser"}, POST_LOGIN, True),
    ("bodyContains is case-sensitive", {"bodyContains": "MUTATION"}, POST_LOGIN, False),
    ("bodyContains without a body does not match", {"bodyContains": "x"}, GET_USERS, False),
    (
        "all fields AND-ed",
        {
            "url": "*/auth/*",
            "method": "POST",
            "host": "127.0.0.1",
            "headers": {"x-env": "staging"},
            "bodyContains": "ana",
        },
        POST_LOGIN,
        True,
    ),  # fmt: skip
    ("one field failing fails the match", {"url": "*/auth/*", "method": "GET"}, POST_LOGIN, False),
]


@pytest.mark.parametrize("what,spec,req,expected", MATCHES, ids=[m[0] for m in MATCHES])
def test_match(what: str, spec: dict[str, Any], req: SimpleRequest, expected: bool) -> None:
    assert compile_match(spec).matches(req) is expected


ERRORS: list[tuple[dict[str, Any] | Any, str]] = [
    ("not an object", "match must be an object"),
    ({"matchPattern": {}}, "match.matchPattern is not a match field"),
    ({"url": 3}, "match.url must be a string"),
    ({"url": "/([a-/"}, "match.url: invalid regular expression"),
    ({"path": "/(unclosed\\d/"}, "match.path: invalid regular expression"),
    ({"method": []}, "match.method must be a method name or a non-empty list"),
    ({"method": "GE T"}, "match.method: not an HTTP method"),
    ({"host": ""}, "match.host must be a non-empty string"),
    ({"host": "a/b"}, "match.host: not a host name or pattern"),
    ({"host": "h:99999x"}, "match.host: not a port"),
    ({"headers": ["a"]}, "match.headers must be an object"),
    ({"headers": {"bad name": "x"}}, "match.headers: not a header name"),
    ({"headers": {"x": "/[/"}}, "match.headers.x: invalid regular expression"),
    ({"bodyContains": ""}, "match.bodyContains must be a non-empty string"),
    ({"url": "*" * 5000}, "match.url is longer than"),
]


@pytest.mark.parametrize("spec,message", ERRORS, ids=[e[1] for e in ERRORS])
def test_errors_name_the_field(spec: Any, message: str) -> None:
    with pytest.raises(MatchError) as info:
        compile_match(spec)
    assert str(info.value).startswith(message)


LITERALS = [
    ("/api\\/v\\d+/", ("api\\/v\\d+", "")),
    ("/x+/gi", ("x+", "gi")),
    ("/api/", None),  # no regex syntax: a path
    ("/users/i", ("users", "i")),  # a flag makes it a regex
    ("/users/a", None),  # a is not a flag
    ("/a/b/c/", None),  # an unescaped slash inside: a path
    ("/x+/q", None),  # q is not a flag
    ("regex:a.b", ("a.b", "")),
    ("*.js", None),
]


@pytest.mark.parametrize("text,expected", LITERALS, ids=[t for t, _ in LITERALS])
def test_regex_literal_detection(text: str, expected: tuple[str, str] | None) -> None:
    assert regex_literal(text) == expected


INDEX = [
    ({"host": "api.example.com"}, frozenset({"api.example.com"}), None),
    ({"url": "https://api.example.com:8443/v1/*"}, frozenset({"api.example.com"}), None),
    ({"url": "*://api.example.com/*"}, None, None),  # the scheme is open: anything before :// could be there
    ({"url": "https://*.example.com/*"}, None, None),
    ({"host": "*.example.com"}, None, "example.com"),
    ({"path": "/v1/*"}, None, None),
]


@pytest.mark.parametrize("spec,hosts,suffix", INDEX, ids=[str(i[0]) for i in INDEX])
def test_host_index_is_conservative(spec: dict[str, Any], hosts: frozenset[str] | None, suffix: str | None) -> None:
    cm = compile_match(spec)
    assert (cm.hosts, cm.host_suffix) == (hosts, suffix)
    # Whatever the index says, it never rules out a host the full match accepts.
    for url in (
        "https://api.example.com/v1/x",
        "https://x.example.com/v1/y",
        "http://evil.test/?u=https://api.example.com/",
    ):
        req = SimpleRequest("GET", url)
        if cm.matches(req):
            assert host_could_match(cm, req.host), url


def test_path_prefix_for_map_local_mounts() -> None:
    assert compile_match({"url": "*/static/*"}).path_prefix == "/static/"
    assert compile_match({"path": "/assets/img/*"}).path_prefix == "/assets/img/"
    assert compile_match({"url": "https://cdn.example.com/lib/*"}).path_prefix == "/lib/"
    assert compile_match({"host": "cdn.example.com"}).path_prefix is None


def test_spec_is_normalised_and_kept() -> None:
    spec = {"url": "*/x", "method": ["GET", "POST"], "headers": {"X-A": "1"}}
    assert compile_match(spec).spec == spec
