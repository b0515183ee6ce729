"""Templating decisions, table-driven and without a network: which path segments become
parameters, which stay literal, and why (issue 20)."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import orjson
import pytest
from inventory_apis import APIS, entries, realistic, score

from necto.inventory import InventoryBuilder, inventory_json, openapi_document
from necto.inventory.model import Inventory, is_static
from necto.inventory.templating import param_name
from necto.model import Entry, Timings

Call = tuple[str, str, int, Any]  # method, path, status, JSON body (None: no body)


def sha(i: int) -> str:
    return hashlib.sha1(str(i).encode()).hexdigest()


def build(calls: list[Call]) -> Inventory:
    b = InventoryBuilder()
    for n, (method, path, status, body) in enumerate(calls):
        b.add(Entry(
            session_id="unit", started=time.time() + n, method=method, url="https://api.test" + path, status=status,
            response_headers=[("Content-Type", "application/json")] if body is not None else [],
            response_body=orjson.dumps(body) if body is not None else None,
            timings=Timings(send=0.1, wait=1.0, receive=0.1),
        ))  # fmt: skip
    return b.finish()


def endpoints(calls: list[Call]) -> set[tuple[str, str]]:
    return {(ep.method, ep.template) for ep in build(calls).endpoints}


def user(login: str) -> dict[str, Any]:
    return {"login": login, "id": len(login) * 7, "type": "User", "followers": 3}


def repo(owner: str, name: str) -> dict[str, Any]:
    return {"id": 1, "name": name, "full_name": f"{owner}/{name}", "owner": user(owner), "private": False}


def pull(n: int) -> dict[str, Any]:
    return {"id": n, "number": n, "state": "open", "title": "t", "head": {"ref": "main", "sha": sha(n)}}


def commit(ref: str) -> dict[str, Any]:
    return {"sha": sha(len(ref)), "commit": {"message": "m", "author": {"name": "a"}}, "parents": []}


CHECKS = {"total_count": 1, "check_runs": [{"id": 1, "status": "completed", "conclusion": "success"}]}
LABEL = {"id": 1, "name": "bug", "color": "d73a4a", "default": True}
HOOK = {"id": 1, "name": "web", "active": True, "config": {"url": "https://ci.test"}}
TEAM = {"id": 1, "slug": "core", "privacy": "closed"}
MEMBER = {"id": 1, "username": "alice", "email": "a@library.test", "status": 1}
PET = {"id": 1, "name": "Rex", "status": "available", "tags": [{"id": 1, "name": "dog"}]}
LIST = {"object": "list", "data": [], "has_more": False, "url": "/v1/x"}
OWNERS = [("torvalds", "linux"), ("facebook", "react"), ("golang", "go"), ("rust-lang", "rust"), ("vercel", "next.js")]
ORGS = ["apache", "mozilla", "github", "python"]

CASES: dict[str, tuple[list[Call], set[tuple[str, str]]]] = {
    # 1. A nested name parameter no longer hides the shape its parents share.
    "owner and repo names": (
        [("GET", f"/repos/{o}/{r}/pulls/{i * 7 + 1}", 200, pull(i)) for i, (o, r) in enumerate(OWNERS)]
        + [("GET", f"/repos/{o}/{r}", 200, repo(o, r)) for o, r in OWNERS[:3]],
        {("GET", "/repos/{repoId}/{id}"), ("GET", "/repos/{repoId}/{id}/pulls/{pullId}")},
    ),
    # 2. Three name levels at once, with a body-less 204 as the only answer.
    "org, team and member names": (
        [
            ("DELETE", f"/orgs/{org}/teams/{team}/memberships/{login}", 204, None)
            for org, team, login in [
                ("apache", "core", "alice"),
                ("mozilla", "infra", "bob"),
                ("github", "docs", "carol"),
                ("python", "triage", "dave"),
                ("apache", "infra", "erin"),
            ]
        ]
        + [
            ("GET", f"/orgs/{org}/teams/{team}", 200, TEAM)
            for org, team in [("apache", "core"), ("github", "web"), ("python", "ops")]
        ],
        {
            ("DELETE", "/orgs/{orgId}/teams/{teamId}/memberships/{membershipId}"),
            ("GET", "/orgs/{orgId}/teams/{teamId}"),
        },
    ),  # fmt: skip
    # 3. Typed ids are not split by the name before them.
    "integer ids under org names": (
        [("GET", f"/orgs/{org}/hooks/{1000 + i}", 200, HOOK) for i, org in enumerate(ORGS)],
        {("GET", "/orgs/{orgId}/hooks/{hookId}")},
    ),
    # 4. An error answer does not break the vote; a literal among the values stays literal.
    "names with an error and a literal": (
        [
            (
                m,
                f"/user/{name}",
                400 if (name, m) == ("dana", "GET") else 200,
                {"code": 400} if (name, m) == ("dana", "GET") else MEMBER,
            )
            for name in ["alice", "bruno", "chidi", "dana", "emeka", "farah", "goran"]
            for m in ("GET", "PUT", "DELETE")
        ]
        + [("POST", "/user/createWithList", 200, {"created": 2}), ("GET", "/user/login", 200, {"token": "x"})],
        {
            ("GET", "/user/{userId}"),
            ("PUT", "/user/{userId}"),
            ("DELETE", "/user/{userId}"),
            ("POST", "/user/createWithList"),
            ("GET", "/user/login"),
        },
    ),  # fmt: skip
    # 6. One parameter, whatever each value looks like (yyx990803 is typed as a token).
    "logins of mixed looks": (
        [
            ("GET", f"/users/{u}/events/public", 200, [{"id": "1", "type": "PushEvent", "actor": user(u)}])
            for u in ["yyx990803", "torvalds", "gaearon", "octocat"]
        ],
        {("GET", "/users/{userId}/events/public")},
    ),
    # 7. Branch refs beside SHAs are one {ref}; label names are values too.
    "refs and labels": (
        [("GET", f"/repos/golang/go/commits/{sha(i)}", 200, commit(sha(i))) for i in range(3)]
        + [
            ("GET", f"/repos/golang/go/commits/{sha(9)}/check-runs", 200, CHECKS),
            ("GET", "/repos/golang/go/commits/develop", 200, commit("develop")),
            ("GET", "/repos/golang/go/commits/master/check-runs", 200, CHECKS),
        ]
        + [
            ("GET", f"/repos/golang/go/labels/{name}", 200, {**LABEL, "name": name})
            for name in ["bug", "P1", "good%20first%20issue"]
        ],
        {
            ("GET", "/repos/golang/go/commits/{ref}"),
            ("GET", "/repos/golang/go/commits/{ref}/check-runs"),
            ("GET", "/repos/golang/go/labels/{labelId}"),
        },
    ),  # fmt: skip
    # Literals beside parameters are never swallowed: common words, and shapes that differ.
    "literals beside parameters": (
        [("GET", f"/users/{u}", 200, user(u)) for u in ["torvalds", "gaearon", "octocat"]]
        + [
            ("GET", "/users/me", 200, user("me")),
            ("GET", "/repos/a/b/issues/7", 200, pull(7)),
            ("GET", "/repos/a/b/issues/9", 200, pull(9)),
            ("GET", "/repos/a/b/issues/comments", 200, [{"id": 1, "body": "hi"}]),
            ("GET", "/v1/customers/cus_NffrFeUfNV2Hib", 200, {"id": "cus_NffrFeUfNV2Hib", "object": "customer"}),
            ("GET", "/v1/customers/search", 200, {"object": "search_result", "data": []}),
            ("GET", "/pet/1", 200, PET),
            ("GET", "/pet/2", 200, PET),
            ("GET", "/pet/findByStatus", 200, [PET]),
            ("GET", "/pet/findByTags", 200, [PET, PET]),
        ],
        {
            ("GET", "/users/{userId}"),
            ("GET", "/users/me"),
            ("GET", "/repos/a/b/issues/{issueId}"),
            ("GET", "/repos/a/b/issues/comments"),
            ("GET", "/v1/customers/{customerId}"),
            ("GET", "/v1/customers/search"),
            ("GET", "/pet/{petId}"),
            ("GET", "/pet/findByStatus"),
            ("GET", "/pet/findByTags"),
        },
    ),  # fmt: skip
    # Resources are not values: empty lists prove nothing, list envelopes under /v1 are resources,
    # and a name seen under several values of a parameter is a sub-resource.
    "resources stay apart": (
        [("GET", f"/api/{r}", 200, []) for r in ["users", "orders", "carts", "items"]]
        + [("GET", f"/v1/{r}", 200, LIST) for r in ["customers", "charges", "invoices", "refunds", "payouts"]]
        + [
            ("GET", f"/users/{u}/{sub}", 200, [user("x")])
            for u in ["torvalds", "gaearon", "octocat"]
            for sub in ["followers", "following", "subscribers"]
        ],
        {
            ("GET", "/api/users"),
            ("GET", "/api/orders"),
            ("GET", "/api/carts"),
            ("GET", "/api/items"),
            ("GET", "/v1/customers"),
            ("GET", "/v1/charges"),
            ("GET", "/v1/invoices"),
            ("GET", "/v1/refunds"),
            ("GET", "/v1/payouts"),
            ("GET", "/users/{userId}/followers"),
            ("GET", "/users/{userId}/following"),
            ("GET", "/users/{userId}/subscribers"),
        },
    ),  # fmt: skip
    "two values are not enough": (
        [("GET", "/files/a.pdf", 200, {"ok": True}), ("GET", "/files/b.txt", 200, {"ok": True})],
        {("GET", "/files/a.pdf"), ("GET", "/files/b.txt")},
    ),
    "a single literal beside typed ids": (
        [("GET", f"/orders/{i}", 200, {"id": i, "total": 5}) for i in (1, 2, 3)]
        + [("GET", "/orders/pending", 200, {"id": 0, "total": 5})],
        {("GET", "/orders/{orderId}"), ("GET", "/orders/pending")},
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_templating_decision(name: str) -> None:
    calls, expected = CASES[name]
    assert endpoints(calls) == expected


@pytest.mark.parametrize(
    ("path", "mime", "status", "static"),
    [
        ("/repos/vercel/next.js", "application/json", 200, False),  # JSON wins over .js
        ("/assets/app.js", "application/javascript", 200, True),
        ("/assets/app.js", "", 200, True),  # no content type: the extension decides
        ("/assets/app.js", "text/plain", 200, True),  # a generic one neither
        ("/assets/missing.js", "text/html", 404, True),  # an error page describes the error
        ("/avatars/torvalds", "image/png", 200, True),  # no extension: the content type
        ("/api/users", "application/json", 200, False),
        ("/report.css", "text/css", 200, True),
        ("/docs/setup.js", "text/html", 200, False),
    ],
)  # fmt: skip
def test_content_type_decides_over_the_extension(path: str, mime: str, status: int, static: bool) -> None:
    assert is_static(path, mime, status) is static


def test_parameter_names() -> None:
    assert param_name("commits", "string", {"hex": 3, "string": 2}) == "ref"
    assert param_name("commits", "hex", {"hex": 3}) == "commitId"
    assert param_name("labels", "string", {"string": 4}) == "labelId"
    assert param_name(None, "string", {"string": 4}) == "id"


def test_unsuccessful_endpoints_are_flagged_and_left_out_of_openapi() -> None:
    inv = build([
        ("GET", "/v1/customers/cus_NffrFeUfNV2Hib", 200, {"id": "cus_NffrFeUfNV2Hib", "object": "customer"}),
        ("GET", "/v1/customer/cus_NffrFeUfNV2Hib", 404, {"error": {"code": "resource_missing"}}),
        ("GET", "/v1/customer/cus_Ab12Cd34Ef56Gh", 404, {"error": {"code": "resource_missing"}}),
    ])  # fmt: skip
    data = inventory_json(inv)
    flags = {ep["pathTemplate"]: ep["observedSuccess"] for ep in data["hosts"][0]["endpoints"]}
    assert flags == {"/v1/customers/{customerId}": True, "/v1/customer/{customerId}": False}
    assert data["unsuccessfulCount"] == 1
    assert list(openapi_document(inv)["paths"]) == ["/v1/customers/{customerId}"]
    assert sorted(openapi_document(inv, include_unsuccessful=True)["paths"]) == [
        "/v1/customer/{customerId}", "/v1/customers/{customerId}",
    ]  # fmt: skip


def test_every_segment_says_which_rule_fired() -> None:
    calls, _ = CASES["owner and repo names"]
    extra = [
        ("GET", f"/repos/{o}/{r}/pulls/comments", 200, [{"id": 1, "body": "nit", "path": "a.c"}]) for o, r in OWNERS[:2]
    ]
    data = inventory_json(build(calls + extra))
    eps = {(ep["method"], ep["pathTemplate"]): ep for ep in data["hosts"][0]["endpoints"]}
    why = eps[("GET", "/repos/{repoId}/{id}/pulls/{pullId}")]["templating"]
    assert [(t["segment"], t.get("param") or t.get("literal"), t["rule"]) for t in why] == [
        (1, "repoId", "siblings"), (2, "id", "siblings"), (3, "pulls", "recurring-name"), (4, "pullId", "typed"),
    ]  # fmt: skip
    owner = why[0]
    assert owner["evidence"]["values"] == 5 and owner["evidence"]["needed"] == 3
    assert owner["evidence"]["matching"] >= 2 and owner["evidence"]["sharedResponses"]
    assert owner["reason"].startswith("5 sibling values share one shape (e.g. ")
    assert "integer" in why[3]["reason"]
    comments = eps[("GET", "/repos/{repoId}/{id}/pulls/comments")]["templating"][3]
    assert (comments["literal"], comments["rule"]) == ("comments", "literal-beats-template")
    me = inventory_json(build(CASES["literals beside parameters"][0]))["hosts"][0]["endpoints"]
    assert next(ep for ep in me if ep["pathTemplate"] == "/users/me")["templating"] == [{
        "segment": 1, "literal": "me", "rule": "common-word",
        "reason": "'me' is a common word (like me, search, login): never a parameter",
    }]  # fmt: skip


@pytest.mark.parametrize("api", list(APIS))
def test_recall_over_random_traffic(api: str) -> None:
    """Many draws of realistic traffic: at least 90% of the operations recovered, never two
    operations in one endpoint."""
    recovered = total = 0
    for seed in range(100, 106):
        calls = realistic(api, seed)
        b = InventoryBuilder()
        b.add_many(entries(f"{api}.test", api, calls))
        got = sorted((ep.method, ep.template) for ep in b.finish().endpoints)
        figures = score(calls, got)
        assert figures["overMerged"] == {}, (seed, figures["overMerged"])
        recovered += figures["recovered"]
        total += figures["operations"]
    assert recovered / total >= 0.9, (recovered, total)
