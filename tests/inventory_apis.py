"""Three made-up APIs for the inventory tests, their traffic, and how to score an inventory.

Shapes, not copies: `hub` nests names the way a code-hosting API does (owner/repo, org/team/
member, integer and SHA ids, branch refs, labels, literals like `/users/me` and
`/pulls/comments` beside parameters, JSON at `/repos/vercel/next.js`), `pay` uses prefixed ids
under `/v1` (`/customers/search` beside `/customers/{id}`), `library` has singular collections
with camelCase finders beside integer ids and plain-word member names. Every operation knows
the path template the inventory must find for it (`template`), so a test can compare an
inventory with the truth, and its responses are built from the values in the path, with
optional fields and empty lists, as real ones are.

`realistic(seed)` calls each operation 3-8 times with values drawn at random; `crawler()` calls
every operation once for each of 12 objects. Both add typos that only ever answer 404 and
static assets (one without an extension, one that is missing).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from aiohttp import web

Params = dict[str, str]
Reply = tuple[int, Any]  # (status, JSON value | str (text/plain) | None (no body))

# ---------------------------------------------------------------- value pools (12 objects each)
REPOS = [
    ("torvalds", "linux"), ("facebook", "react"), ("microsoft", "vscode"), ("golang", "go"),
    ("rust-lang", "rust"), ("vercel", "next.js"), ("kubernetes", "kubernetes"), ("python", "cpython"),
    ("nodejs", "node"), ("apache", "kafka"), ("django", "django"), ("rails", "rails"),
]  # fmt: skip
LOGINS = [
    "torvalds", "gaearon", "yyx990803", "octocat", "sindresorhus", "tj",
    "mojombo", "defunkt", "dhh", "kentcdodds", "addyosmani", "jane-doe",
]  # fmt: skip
ORGS = [
    "apache", "rust-lang", "github", "mozilla", "google", "microsoft",
    "facebook", "golang", "nodejs", "python", "kubernetes", "vercel",
]  # fmt: skip
TEAMS = [
    "core",
    "infra",
    "security",
    "docs",
    "release-managers",
    "triage",
    "web",
    "compiler",
    "ops",
    "design",
    "qa",
    "mobile",
]
LABELS = [
    "bug", "enhancement", "documentation", "good first issue", "P1", "help wanted",
    "wontfix", "question", "duplicate", "needs-triage", "performance", "P2",
]  # fmt: skip
BRANCHES = [
    "main",
    "master",
    "develop",
    "release-1.2",
    "gh-pages",
    "canary",
    "stable",
    "feature-auth",
    "hotfix-login",
    "staging",
    "beta",
    "trunk",
]
MEMBERS = ["alice", "bruno", "chidi", "dana", "emeka", "farah", "goran", "hana", "ivo", "jun", "kofi", "lena"]
BAD_MEMBER = "dana"  # GET /member/dana answers 400: no success shape for that value
GHOST_LOGIN = "ghost-user-404"  # a login that does not exist: 404


def _alnum(seed: str, n: int) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    chars = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789"
    out = "".join(chars[b % len(chars)] for b in digest)
    while len(out) < n:
        out += out
    return out[: n - 1] + str(digest[0] % 10)  # at least one digit


def sha(i: int) -> str:
    return hashlib.sha1(f"commit-{i}".encode()).hexdigest()


def stripe_id(prefix: str, i: int) -> str:
    return f"{prefix}_{_alnum(f'{prefix}{i}', 14 if prefix == 'cus' else 24)}"


def _r(*key: Any) -> random.Random:
    """Per-object randomness: the same object always has the same optional fields."""
    return random.Random("/".join(map(str, key)))


def _n(*key: Any) -> int:
    return int(hashlib.md5("/".join(map(str, key)).encode()).hexdigest()[:8], 16)


# ---------------------------------------------------------------- hub (code hosting)
def h_user_mini(login: str) -> dict[str, Any]:
    return {"login": login, "id": _n("u", login) % 10**8, "type": "User", "site_admin": False}


def h_user(login: str) -> dict[str, Any]:
    r = _r("user", login)
    out = {**h_user_mini(login), "avatar_url": f"https://avatars.hub.test/{login}", "public_repos": r.randint(0, 300),
           "followers": r.randint(0, 90000), "created_at": "2011-01-25T18:44:36Z"}  # fmt: skip
    for k, v in (
        ("name", login.title()),
        ("company", "@acme"),
        ("blog", f"https://{login}.dev"),
        ("location", "Earth"),
    ):
        if r.random() < 0.7:
            out[k] = v
    return out


def h_repo(owner: str, name: str) -> dict[str, Any]:
    r = _r("repo", owner, name)
    out: dict[str, Any] = {
        "id": _n("r", owner, name) % 10**9, "name": name, "full_name": f"{owner}/{name}", "owner": h_user_mini(owner),
        "private": False, "fork": False, "stargazers_count": r.randint(10, 200000), "default_branch": "main",
        "open_issues_count": r.randint(0, 5000),
    }  # fmt: skip
    if r.random() < 0.8:
        out["description"] = f"The {name} project"
    if r.random() < 0.6:
        out["topics"] = ["oss", name.split(".")[0]]
    out["language"] = r.choice(["C", "Go", "Rust", "TypeScript", None])
    return out


def h_pull(p: Params, n: int) -> dict[str, Any]:
    r = _r("pull", p["owner"], p["repo"], n)
    out = {"id": _n("p", n), "number": n, "state": r.choice(["open", "closed"]), "title": f"Fix #{n}",
           "user": h_user_mini(r.choice(LOGINS)), "head": {"ref": r.choice(BRANCHES), "sha": sha(n)},
           "base": {"ref": "main", "sha": sha(n + 1)}, "merged": r.random() < 0.5, "created_at": "2024-05-01T10:00:00Z"}  # fmt: skip
    if r.random() < 0.3:
        out["draft"] = True
    return out


def h_label(name: str) -> dict[str, Any]:
    r = _r("label", name)
    out = {
        "id": _n("l", name),
        "name": name,
        "color": f"{r.randrange(16**6):06x}",
        "default": name in ("bug", "enhancement"),
    }
    if r.random() < 0.6:
        out["description"] = f"{name} issues"
    return out


def h_issue(p: Params, n: int) -> dict[str, Any]:
    r = _r("issue", p["owner"], p["repo"], n)
    out = {"id": _n("i", n), "number": n, "state": r.choice(["open", "closed"]), "title": f"Issue {n}",
           "user": h_user_mini(r.choice(LOGINS)), "labels": [h_label(r.choice(LABELS)) for _ in range(r.randint(0, 2))],
           "comments": r.randint(0, 40), "created_at": "2024-03-01T08:00:00Z"}  # fmt: skip
    if r.random() < 0.7:
        out["body"] = "Steps to reproduce: ..."
    return out


def h_comment(seed: Any) -> dict[str, Any]:
    r = _r("comment", seed)
    return {"id": _n("c", seed), "body": "LGTM" if r.random() < 0.5 else "Could you add a test?",
            "user": h_user_mini(r.choice(LOGINS)), "created_at": "2024-05-02T11:00:00Z",
            "html_url": f"https://hub.test/c/{_n('c', seed)}"}  # fmt: skip


def h_review_comment(seed: Any) -> dict[str, Any]:
    r = _r("review", seed)
    return {"id": _n("rc", seed), "body": "nit", "path": "src/main.c", "line": r.randint(1, 900),
            "commit_id": sha(r.randint(0, 99)), "user": h_user_mini(r.choice(LOGINS)), "created_at": "2024-05-02T12:00:00Z"}  # fmt: skip


def h_commit(ref: str) -> dict[str, Any]:
    r = _r("commit", ref)
    out = {"sha": ref if len(ref) == 40 else sha(_n(ref) % 1000), "commit": {"message": "Merge branch", "author": {
        "name": "Dev", "email": "dev@hub.test", "date": "2024-05-03T09:00:00Z"}},
        "author": h_user_mini(r.choice(LOGINS)), "parents": [{"sha": sha(_n(ref, 1) % 1000)}]}  # fmt: skip
    if r.random() < 0.5:
        out["stats"] = {"additions": r.randint(0, 500), "deletions": r.randint(0, 500)}
    return out


def h_list(seed: Any, make: Callable[[Any], dict[str, Any]], most: int = 4) -> list[dict[str, Any]]:
    r = _r("list", seed)
    return [make((seed, i)) for i in range(r.randint(0, most))]


def hub_ops() -> list[Op]:
    def user(p: Params, b: Any) -> Reply:
        if p["username"] == GHOST_LOGIN:
            return 404, {"message": "Not Found", "documentation_url": "https://docs.hub.test"}
        return 200, h_user(p["username"])

    def issue_create(p: Params, b: Any) -> Reply:
        if not isinstance(b, dict) or not b.get("title"):
            return 422, {"message": "Validation Failed", "errors": [{"field": "title", "code": "missing_field"}]}
        return 201, h_issue(p, 4242)

    repo_pair = ("owner", "repo")
    O = Op  # noqa: E741
    return [
        O("GET", "/user", "/user", lambda p, b: (200, h_user("octocat"))),
        O("GET", "/user/repos", "/user/repos", lambda p, b: (200, [h_repo("octocat", n) for n in ("hello", "spoon")])),
        O("GET", "/users/me", "/users/me", lambda p, b: (200, h_user("octocat"))),
        O("GET", "/users/{username}", "/users/{userId}", user),
        O("GET", "/users/{username}/repos", "/users/{userId}/repos",
          lambda p, b: (200, h_list(p["username"], lambda s: h_repo(p["username"], f"proj{s[1]}")))),
        O("GET", "/users/{username}/events/public", "/users/{userId}/events/public",
          lambda p, b: (200, h_list(("ev", p["username"]), lambda s: {"id": str(_n(s)), "type": "PushEvent",
                        "actor": h_user_mini(p["username"]), "repo": {"id": 1, "name": "x/y"}, "created_at": "2024-01-01T00:00:00Z"}))),
        O("GET", "/users/{username}/followers", "/users/{userId}/followers",
          lambda p, b: (200, [h_user_mini(x) for x in LOGINS[: _n(p["username"]) % 5]])),
        O("GET", "/repos/{owner}/{repo}", "/repos/{repoId}/{id}", lambda p, b: (200, h_repo(p["owner"], p["repo"])), pair=repo_pair),
        O("PATCH", "/repos/{owner}/{repo}", "/repos/{repoId}/{id}", lambda p, b: (200, h_repo(p["owner"], p["repo"])),
          pair=repo_pair, body=lambda r: {"description": "updated", "has_wiki": r.random() < 0.5}),
        O("GET", "/repos/{owner}/{repo}/pulls", "/repos/{repoId}/{id}/pulls",
          lambda p, b: (200, h_list(("pulls", p["repo"]), lambda s: h_pull(p, _n(s) % 5000))), pair=repo_pair,
          query=lambda r: {"state": r.choice(["open", "closed", "all"])}),
        O("GET", "/repos/{owner}/{repo}/pulls/comments", "/repos/{repoId}/{id}/pulls/comments",
          lambda p, b: (200, [h_review_comment((p["repo"], i)) for i in range(1 + _n(p["repo"]) % 3)]), pair=repo_pair),
        O("GET", "/repos/{owner}/{repo}/pulls/{pull_number}", "/repos/{repoId}/{id}/pulls/{pullId}",
          lambda p, b: (200, h_pull(p, int(p["pull_number"]))), pair=repo_pair),
        O("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files", "/repos/{repoId}/{id}/pulls/{pullId}/files",
          lambda p, b: (200, [{"filename": f"src/f{i}.c", "status": "modified", "additions": i, "deletions": 1}
                              for i in range(1 + int(p["pull_number"]) % 3)]), pair=repo_pair),
        O("GET", "/repos/{owner}/{repo}/issues", "/repos/{repoId}/{id}/issues",
          lambda p, b: (200, h_list(("issues", p["repo"]), lambda s: h_issue(p, _n(s) % 9000))), pair=repo_pair),
        O("POST", "/repos/{owner}/{repo}/issues", "/repos/{repoId}/{id}/issues", issue_create, pair=repo_pair,
          body=lambda r: {"title": "Crash on start", "body": "..."} if r.random() < 0.8 else {"body": "no title"}),
        O("GET", "/repos/{owner}/{repo}/issues/comments", "/repos/{repoId}/{id}/issues/comments",
          lambda p, b: (200, [h_comment((p["repo"], "all", i)) for i in range(1 + _n(p["repo"]) % 3)]), pair=repo_pair),
        O("GET", "/repos/{owner}/{repo}/issues/{issue_number}", "/repos/{repoId}/{id}/issues/{issueId}",
          lambda p, b: (200, h_issue(p, int(p["issue_number"]))), pair=repo_pair),
        O("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments", "/repos/{repoId}/{id}/issues/{issueId}/comments",
          lambda p, b: (200, h_list(("ic", p["repo"], p["issue_number"]), h_comment)), pair=repo_pair),
        O("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", "/repos/{repoId}/{id}/issues/{issueId}/comments",
          lambda p, b: (201, h_comment(("new", p["issue_number"]))), pair=repo_pair, body=lambda r: {"body": "Me too"}),
        O("GET", "/repos/{owner}/{repo}/issues/{issue_number}/labels", "/repos/{repoId}/{id}/issues/{issueId}/labels",
          lambda p, b: (200, [h_label(LABELS[_n(p["issue_number"]) % 12])]), pair=repo_pair),
        O("GET", "/repos/{owner}/{repo}/commits", "/repos/{repoId}/{id}/commits",
          lambda p, b: (200, [h_commit(sha(_n(p["repo"], i) % 1000)) for i in range(3)]), pair=repo_pair),
        O("GET", "/repos/{owner}/{repo}/commits/{ref}", "/repos/{repoId}/{id}/commits/{ref}",
          lambda p, b: (200, h_commit(p["ref"])), pair=repo_pair),
        O("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs", "/repos/{repoId}/{id}/commits/{ref}/check-runs",
          lambda p, b: (200, {"total_count": 1, "check_runs": [{"id": _n(p["ref"]), "name": "ci", "status": "completed",
                              "conclusion": "success", "head_sha": h_commit(p["ref"])["sha"]}]}), pair=repo_pair),
        O("GET", "/repos/{owner}/{repo}/branches/{branch}", "/repos/{repoId}/{id}/branches/{branchId}",
          lambda p, b: (200, {"name": p["branch"], "commit": {"sha": sha(_n(p["branch"]) % 1000), "url": "https://hub.test/c"},
                              "protected": p["branch"] in ("main", "master")}), pair=repo_pair),
        O("GET", "/repos/{owner}/{repo}/labels", "/repos/{repoId}/{id}/labels",
          lambda p, b: (200, [h_label(x) for x in LABELS[: 1 + _n(p["repo"]) % 6]]), pair=repo_pair),
        O("GET", "/repos/{owner}/{repo}/labels/{name}", "/repos/{repoId}/{id}/labels/{labelId}",
          lambda p, b: (200, h_label(p["name"])), pair=repo_pair),
        O("PATCH", "/repos/{owner}/{repo}/labels/{name}", "/repos/{repoId}/{id}/labels/{labelId}",
          lambda p, b: (200, {**h_label(p["name"]), "color": "ededed"}), pair=repo_pair, body=lambda r: {"color": "ededed"}),
        O("DELETE", "/repos/{owner}/{repo}/labels/{name}", "/repos/{repoId}/{id}/labels/{labelId}",
          lambda p, b: (204, None), pair=repo_pair),
        O("GET", "/orgs/{org}", "/orgs/{orgId}",
          lambda p, b: (200, {"login": p["org"], "id": _n(p["org"]) % 10**7, "public_repos": _n(p["org"]) % 300,
                              "created_at": "2010-01-01T00:00:00Z", **({"description": "We build"} if _n(p["org"]) % 2 else {})})),
        O("GET", "/orgs/{org}/repos", "/orgs/{orgId}/repos",
          lambda p, b: (200, [h_repo(p["org"], f"tool{i}") for i in range(_n(p["org"], "r") % 4)])),
        O("GET", "/orgs/{org}/members", "/orgs/{orgId}/members",
          lambda p, b: (200, [h_user_mini(x) for x in LOGINS[: 1 + _n(p["org"]) % 6]])),
        O("GET", "/orgs/{org}/hooks", "/orgs/{orgId}/hooks",
          lambda p, b: (200, [{"id": 100 + i, "name": "web", "active": True} for i in range(_n(p["org"], "h") % 3)])),
        O("GET", "/orgs/{org}/hooks/{hook_id}", "/orgs/{orgId}/hooks/{hookId}",
          lambda p, b: (200, {"id": int(p["hook_id"]), "name": "web", "active": True, "events": ["push"],
                              "config": {"url": "https://ci.test/hook", "content_type": "json"}})),
        O("GET", "/orgs/{org}/teams", "/orgs/{orgId}/teams",
          lambda p, b: (200, [{"id": _n(t), "slug": t, "name": t.title()} for t in TEAMS[: _n(p["org"], "t") % 4]])),
        O("GET", "/orgs/{org}/teams/{team_slug}", "/orgs/{orgId}/teams/{teamId}",
          lambda p, b: (200, {"id": _n(p["team_slug"]), "slug": p["team_slug"], "name": p["team_slug"].title(),
                              "privacy": "closed", "permission": "pull", "members_count": _n(p["team_slug"]) % 40})),
        O("GET", "/orgs/{org}/teams/{team_slug}/members", "/orgs/{orgId}/teams/{teamId}/members",
          lambda p, b: (200, [h_user_mini(x) for x in LOGINS[: 1 + _n(p["team_slug"]) % 4]])),
        O("PUT", "/orgs/{org}/teams/{team_slug}/memberships/{username}", "/orgs/{orgId}/teams/{teamId}/memberships/{membershipId}",
          lambda p, b: (200, {"state": "active", "role": (b or {}).get("role", "member"), "url": "https://hub.test/m"}),
          body=lambda r: {"role": r.choice(["member", "maintainer"])}),
        O("DELETE", "/orgs/{org}/teams/{team_slug}/memberships/{username}", "/orgs/{orgId}/teams/{teamId}/memberships/{membershipId}",
          lambda p, b: (204, None)),
        O("GET", "/search/repositories", "/search/repositories",
          lambda p, b: (200, {"total_count": 2, "incomplete_results": False, "items": [h_repo(*REPOS[0]), h_repo(*REPOS[1])]}),
          query=lambda r: {"q": r.choice(["kernel", "web framework", "language:go"])}),
    ]  # fmt: skip


# ---------------------------------------------------------------- pay (prefixed ids)
def p_customer(cid: str) -> dict[str, Any]:
    r = _r("cus", cid)
    out = {"id": cid, "object": "customer", "email": f"{cid[-5:].lower()}@pay.test", "created": 1700000000 + _n(cid) % 10**6,
           "livemode": False, "metadata": {}, "balance": r.randint(0, 5000), "currency": "usd"}  # fmt: skip
    if r.random() < 0.6:
        out["name"] = "Jenny Rosen"
    return out


def p_list(url: str, data: list[Any]) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": False, "url": url}


def p_charge(cid: str) -> dict[str, Any]:
    r = _r("ch", cid)
    return {"id": cid, "object": "charge", "amount": r.randint(100, 99999), "currency": "usd", "captured": r.random() < 0.5,
            "status": "succeeded", "paid": True, "refunded": False, "customer": stripe_id("cus", r.randint(0, 11)),
            "created": 1700000000, "receipt_url": f"https://pay.test/r/{cid}"}  # fmt: skip


def p_invoice(iid: str) -> dict[str, Any]:
    r = _r("in", iid)
    return {"id": iid, "object": "invoice", "amount_due": r.randint(0, 9999), "currency": "usd", "status": "open",
            "customer": stripe_id("cus", r.randint(0, 11)), "period_end": 1700100000,
            "lines": p_list(f"/v1/invoices/{iid}/lines", [{"id": "il_1", "amount": 500}])}  # fmt: skip


def p_intent(pid: str) -> dict[str, Any]:
    return {"id": pid, "object": "payment_intent", "amount": 2000, "currency": "usd", "status": "requires_confirmation",
            "created": 1700000000, "payment_method_types": ["card"]}  # fmt: skip


def pay_ops() -> list[Op]:
    def charge(p: Params, b: Any) -> Reply:
        if p["charge"].endswith("0"):
            return 404, {
                "error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such charge"}
            }
        return 200, p_charge(p["charge"])

    def capture(p: Params, b: Any) -> Reply:
        if _n(p["charge"]) % 4 == 0:
            return 402, {"error": {"type": "card_error", "code": "card_declined", "message": "Your card was declined."}}
        return 200, {**p_charge(p["charge"]), "captured": True}

    O = Op  # noqa: E741
    return [
        O("GET", "/v1/balance", "/v1/balance",
          lambda p, b: (200, {"object": "balance", "available": [{"amount": 1000, "currency": "usd"}], "pending": []})),
        O("GET", "/v1/customers", "/v1/customers",
          lambda p, b: (200, p_list("/v1/customers", [p_customer(stripe_id("cus", i)) for i in range(3)])),
          query=lambda r: {"limit": str(r.choice([3, 10, 100]))}),
        O("POST", "/v1/customers", "/v1/customers", lambda p, b: (200, p_customer(stripe_id("cus", 99))),
          body=lambda r: {"email": "new@pay.test", "name": "New Customer"}),
        O("GET", "/v1/customers/search", "/v1/customers/search",
          lambda p, b: (200, {"object": "search_result", "data": [p_customer(stripe_id("cus", 1))], "has_more": False,
                              "next_page": None, "url": "/v1/customers/search"}),
          query=lambda r: {"query": f"email:'{r.choice(['a', 'b', 'c'])}@pay.test'"}),
        O("GET", "/v1/customers/{customer}", "/v1/customers/{customerId}", lambda p, b: (200, p_customer(p["customer"]))),
        O("POST", "/v1/customers/{customer}", "/v1/customers/{customerId}", lambda p, b: (200, p_customer(p["customer"])),
          body=lambda r: {"metadata": {"plan": r.choice(["pro", "free"])}}),
        O("DELETE", "/v1/customers/{customer}", "/v1/customers/{customerId}",
          lambda p, b: (200, {"id": p["customer"], "object": "customer", "deleted": True})),
        O("GET", "/v1/customers/{customer}/payment_methods", "/v1/customers/{customerId}/payment_methods",
          lambda p, b: (200, p_list("/v1/payment_methods", [{"id": stripe_id("pm", _n(p["customer"]) % 50), "object": "payment_method",
                        "type": "card", "card": {"brand": "visa", "last4": "4242", "exp_month": 8, "exp_year": 2030}}]))),
        O("GET", "/v1/charges", "/v1/charges",
          lambda p, b: (200, p_list("/v1/charges", [p_charge(stripe_id("ch", i)) for i in range(2)]))),
        O("GET", "/v1/charges/{charge}", "/v1/charges/{chargeId}", charge),
        O("POST", "/v1/charges/{charge}/capture", "/v1/charges/{chargeId}/capture", capture, body=lambda r: {"amount": 500}),
        O("GET", "/v1/invoices/upcoming", "/v1/invoices/upcoming",
          lambda p, b: (200, {**p_invoice("upcoming"), "id": None}), query=lambda r: {"customer": stripe_id("cus", r.randrange(12))}),
        O("GET", "/v1/invoices/{invoice}", "/v1/invoices/{invoiceId}", lambda p, b: (200, p_invoice(p["invoice"]))),
        O("POST", "/v1/invoices/{invoice}/pay", "/v1/invoices/{invoiceId}/pay",
          lambda p, b: (200, {**p_invoice(p["invoice"]), "status": "paid"})),
        O("GET", "/v1/payment_intents/{intent}", "/v1/payment_intents/{paymentIntentId}", lambda p, b: (200, p_intent(p["intent"]))),
        O("POST", "/v1/payment_intents/{intent}/confirm", "/v1/payment_intents/{paymentIntentId}/confirm",
          lambda p, b: (200, {**p_intent(p["intent"]), "status": "succeeded"})),
    ]  # fmt: skip


# ---------------------------------------------------------------- library (singular collections)
def l_book(i: int) -> dict[str, Any]:
    r = _r("book", i)
    out = {"id": i, "title": f"Book {i}", "author": r.choice(["Le Guin", "Okri", "Achebe"]), "genre": r.choice(["sf", "poetry"]),
           "status": r.choice(["available", "on_loan"]), "tags": [{"id": 1, "name": "classic"}] if r.random() < 0.5 else []}  # fmt: skip
    if r.random() < 0.7:
        out["isbn"] = f"978-{i:010d}"
    return out


def l_member(name: str) -> dict[str, Any]:
    r = _r("member", name)
    out = {"id": _n(name) % 10**5, "username": name, "firstName": name.title(), "lastName": "Reader",
           "email": f"{name}@library.test", "status": 1}  # fmt: skip
    if r.random() < 0.5:
        out["phone"] = "+44 20 7946 0" + str(_n(name) % 1000).zfill(3)
    return out


def library_ops() -> list[Op]:
    def member(p: Params, b: Any) -> Reply:
        if p["member"] == BAD_MEMBER:
            return 400, {"code": 400, "type": "error", "message": "Invalid member name supplied"}
        return 200, l_member(p["member"])

    O = Op  # noqa: E741
    return [
        O("POST", "/book", "/book", lambda p, b: (200, l_book(9000)), body=lambda r: {"title": "New", "author": "Anon"}),
        O("PUT", "/book", "/book", lambda p, b: (200, l_book(9001)), body=lambda r: {"id": 9001, "title": "Renamed"}),
        O("GET", "/book/findByAuthor", "/book/findByAuthor", lambda p, b: (200, [l_book(i) for i in range(1, 3)]),
          query=lambda r: {"author": r.choice(["Le Guin", "Okri"])}),
        O("GET", "/book/findByGenre", "/book/findByGenre", lambda p, b: (200, [l_book(i) for i in range(3, 6)]),
          query=lambda r: {"genre": r.choice(["sf", "poetry"])}),
        O("GET", "/book/{book_id}", "/book/{bookId}", lambda p, b: (200, l_book(int(p["book_id"])))),
        O("DELETE", "/book/{book_id}", "/book/{bookId}", lambda p, b: (200, {"code": 200, "type": "unknown", "message": p["book_id"]})),
        O("POST", "/book/{book_id}/uploadCover", "/book/{bookId}/uploadCover",
          lambda p, b: (200, {"code": 200, "type": "unknown", "message": "cover stored"}), body=lambda r: {"file": "cover.png"}),
        O("GET", "/shelf/inventory", "/shelf/inventory", lambda p, b: (200, {"available": 120, "on_loan": 31, "lost": 2})),
        O("POST", "/shelf/loan", "/shelf/loan", lambda p, b: (200, {"id": 7, "bookId": 3, "due": "2026-12-01", "status": "placed"}),
          body=lambda r: {"bookId": r.randint(1, 50), "member": r.choice(MEMBERS)}),
        O("GET", "/shelf/loan/{loan_id}", "/shelf/loan/{loanId}",
          lambda p, b: (200, {"id": int(p["loan_id"]), "bookId": 3, "due": "2026-12-01", "status": "placed", "complete": False})),
        O("DELETE", "/shelf/loan/{loan_id}", "/shelf/loan/{loanId}", lambda p, b: (204, None)),
        O("POST", "/member", "/member", lambda p, b: (200, l_member("newbie")), body=lambda r: {"username": "newbie"}),
        O("POST", "/member/createWithList", "/member/createWithList", lambda p, b: (200, {"created": 2}),
          body=lambda r: [{"username": "x1"}, {"username": "x2"}]),
        O("GET", "/member/login", "/member/login", lambda p, b: (200, "logged in user session:1234567"),
          query=lambda r: {"username": r.choice(MEMBERS), "password": "hunter2"}),
        O("GET", "/member/logout", "/member/logout", lambda p, b: (200, {"code": 200, "type": "unknown", "message": "ok"})),
        O("GET", "/member/{member}", "/member/{memberId}", member),
        O("PUT", "/member/{member}", "/member/{memberId}", lambda p, b: (200, l_member(p["member"])),
          body=lambda r: {"firstName": "Renamed"}),
        O("DELETE", "/member/{member}", "/member/{memberId}", lambda p, b: (200, {"code": 200, "type": "unknown", "message": "deleted"})),
    ]  # fmt: skip


# ---------------------------------------------------------------- operations and calls
@dataclass
class Op:
    method: str
    route: str  # aiohttp route pattern
    template: str  # the path template the inventory must show
    respond: Callable[[Params, Any], Reply]
    pair: tuple[str, str] | None = None  # two parameters drawn together (owner + repo)
    body: Callable[[random.Random], Any] | None = None
    query: Callable[[random.Random], dict[str, str]] | None = None
    api: str = ""

    @property
    def names(self) -> list[str]:
        return [s[1:-1] for s in self.route.split("/") if s.startswith("{")]


@dataclass
class Call:
    api: str
    op: str  # "METHOD template" of the operation the call belongs to
    method: str
    path: str  # as sent, percent-encoded
    params: Params  # decoded
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    success: bool = True  # whether the operation ever answers 2xx (typos do not)

    @property
    def target(self) -> str:
        return self.path + ("?" + urlencode(self.query) if self.query else "")


APIS: dict[str, list[Op]] = {"hub": hub_ops(), "pay": pay_ops(), "library": library_ops()}
for _api, _ops in APIS.items():
    for _op in _ops:
        _op.api = _api

# Typos that only ever answer 404, and what the inventory must call them.
TYPOS = {
    "hub": ("GET", "/orgs/{org}/team", "/orgs/{orgId}/team"),
    "pay": ("GET", "/v1/customer/{customer}", "/v1/customer/{customerId}"),
}
STATIC = {
    "hub": [("/assets/app.js", "application/javascript", b"console.log(1)"), ("/assets/site.css", "text/css", b"body{}"),
            ("/favicon.ico", "image/x-icon", b"\x00\x00\x01\x00"), ("/avatars/torvalds", "image/png", b"\x89PNG\r\n\x1a\n"),
            ("/assets/missing.js", None, None)],
    "library": [("/images/cover-3.jpg", "image/jpeg", b"\xff\xd8\xff\xe0")],
}  # fmt: skip


def expected_endpoints(api: str) -> set[tuple[str, str]]:
    """Every (method, template) the inventory must list for an API: operations and typos."""
    out = {(op.method, op.template) for op in APIS[api]}
    if api in TYPOS:
        method, _, template = TYPOS[api]
        out.add((method, template))
    return out


def expected_openapi_paths(api: str) -> dict[str, set[str]]:
    """Path -> methods in the OpenAPI: the operations; typos never answered 2xx and stay out."""
    out: dict[str, set[str]] = {}
    for op in APIS[api]:
        out.setdefault(op.template, set()).add(op.method.lower())
    return out


def _values(name: str, pick: Callable[[list[Any]], Any], rng: random.Random, i: int | None) -> str:
    if name == "username":
        return pick(LOGINS)
    if name == "org":
        return pick(ORGS)
    if name == "team_slug":
        return pick(TEAMS)
    if name == "name":
        return pick(LABELS)
    if name == "member":
        return pick(MEMBERS)
    if name == "branch":
        return pick(BRANCHES)
    if name == "ref":  # a commit SHA or a branch
        k = i if i is not None else rng.randrange(1000)
        return sha(k) if k % 2 == 0 else pick(BRANCHES)
    if name in ("customer", "charge", "invoice", "intent"):
        prefix = {"customer": "cus", "charge": "ch", "invoice": "in", "intent": "pi"}[name]
        return stripe_id(prefix, i if i is not None else rng.randrange(500))
    if name in ("pull_number", "issue_number", "book_id", "loan_id"):
        return str(i * 37 + 1 if i is not None else rng.randint(1, 40000))
    if name == "hook_id":
        return str(10_000_000 + (i if i is not None else rng.randrange(10**6)))
    raise KeyError(name)


def make_call(op: Op, rng: random.Random, i: int | None = None) -> Call:
    def pick(pool: list[Any]) -> Any:
        return pool[i % len(pool)] if i is not None else rng.choice(pool)

    params: Params = {}
    if op.pair:
        owner, repo = pick(REPOS)
        params.update({op.pair[0]: owner, op.pair[1]: repo})
    for name in op.names:
        if name not in params:
            params[name] = _values(name, pick, rng, i)
    path = fill(op.route, params)
    return Call(op.api, f"{op.method} {op.template}", op.method, path, params,
                op.query(rng) if op.query else {}, op.body(rng) if op.body else None)  # fmt: skip


def fill(route: str, params: Params) -> str:
    return "/".join(quote(params[s[1:-1]], safe="") if s.startswith("{") else s for s in route.split("/"))


def _extras(api: str, calls: list[Call], rng: random.Random) -> list[Call]:
    """Typos (made with a value the client uses elsewhere) and static assets."""
    out: list[Call] = []
    if api in TYPOS:
        method, route, template = TYPOS[api]
        name = route.split("{")[1].split("}")[0]
        used = [c.params[name] for c in calls if name in c.params]
        for value in sorted(set(used))[:2]:
            params = {name: value}
            out.append(Call(api, f"{method} {template}", method, fill(route, params), params, success=False))
    if api == "hub":  # a login that does not exist: part of GET /users/{username}
        op = next(o for o in APIS["hub"] if o.route == "/users/{username}")
        out.append(Call(api, f"{op.method} {op.template}", "GET", f"/users/{GHOST_LOGIN}", {"username": GHOST_LOGIN}))
    if api == "library":  # the member whose GET answers 400
        op = next(o for o in APIS["library"] if o.route == "/member/{member}" and o.method == "GET")
        out.append(Call(api, f"{op.method} {op.template}", "GET", f"/member/{BAD_MEMBER}", {"member": BAD_MEMBER}))
    for path, _ctype, _body in STATIC.get(api, []):
        out.append(Call(api, "static", "GET", path, {}))
    return out


def realistic(api: str, seed: int) -> list[Call]:
    """Each operation 3-8 times with values drawn at random, interleaved."""
    rng = random.Random(f"{api}:{seed}")
    calls = [make_call(op, rng) for op in APIS[api] for _ in range(rng.randint(3, 8))]
    calls += _extras(api, calls, rng)
    rng.shuffle(calls)
    return calls


def crawler(api: str) -> list[Call]:
    """Every operation once for each of 12 objects, operation by operation."""
    rng = random.Random(f"crawl:{api}")
    calls = [make_call(op, rng, i) for op in APIS[api] for i in range(12)]
    return calls + _extras(api, calls, rng)


# ---------------------------------------------------------------- serving
def respond(api: str, call: Call) -> tuple[int, str | None, bytes | None]:
    """(status, content type, body) the server answers to a call."""
    for path, ctype, body in STATIC.get(api, []):
        if call.path == path:
            return (200, ctype, body) if ctype else (404, "text/plain", b"404: Not Found")
    op = next((o for o in APIS[api] if f"{o.method} {o.template}" == call.op), None)
    if op is None:
        return 404, "text/plain", b"404: Not Found"
    status, value = op.respond(call.params, call.body)
    if value is None:
        return status, None, None
    if isinstance(value, str):
        return status, "text/plain", value.encode()
    return status, "application/json", orjson.dumps(value)


def app(api: str) -> web.Application:
    """The API as an aiohttp server; literal routes are registered before parameter routes."""
    application = web.Application()
    ops = sorted(APIS[api], key=lambda o: [s.startswith("{") for s in o.route.split("/")])

    def handler(op: Op) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            body = await request.json() if request.can_read_body else None
            call = Call(
                api, f"{op.method} {op.template}", op.method, request.raw_path, dict(request.match_info), body=body
            )
            status, ctype, payload = respond(api, call)
            return (
                web.Response(status=status, body=payload, content_type=ctype) if ctype else web.Response(status=status)
            )

        return handle

    for op in ops:
        application.router.add_route(op.method, op.route, handler(op))
    for path, ctype, body in STATIC.get(api, []):
        if ctype:
            application.router.add_get(path, lambda r, c=ctype, b=body: web.Response(body=b, content_type=c))
    return application


# ---------------------------------------------------------------- scoring
def land(templates: list[str], path: str) -> str | None:
    """The template a concrete path falls into, literal segments first (as the inventory does)."""
    segs = [s for s in path.split("?")[0].strip("/").split("/") if s]
    tries = [t for t in templates if len([s for s in t.strip("/").split("/") if s]) == len(segs)]

    def fits(t: str) -> tuple[int, ...] | None:
        score = []
        for a, b in zip([s for s in t.strip("/").split("/") if s], segs, strict=True):
            if a.startswith("{"):
                score.append(1)
            elif a == b:
                score.append(0)
            else:
                return None
        return tuple(score)

    ranked = sorted((s, t) for t in tries if (s := fits(t)) is not None)
    return ranked[0][1] if ranked else None


def shape_of(template: str) -> str:
    return "/".join("{}" if s.startswith("{") else s for s in template.split("/"))


def score(calls: list[Call], endpoints: list[tuple[str, str]]) -> dict[str, Any]:
    """Recall of operations (every call in one endpoint of the right shape, shared with no other
    operation) and over-merges (endpoints holding calls of two or more operations)."""
    by_method: dict[str, list[str]] = {}
    for method, template in endpoints:
        by_method.setdefault(method, []).append(template)
    holders: dict[tuple[str, str], set[str]] = {}
    landed: dict[str, set[tuple[str, str] | None]] = {}
    for c in calls:
        if c.op == "static":
            continue
        t = land(by_method.get(c.method, []), c.path)
        key = (c.method, t) if t is not None else None
        if c.success:
            landed.setdefault(c.op, set()).add(key)
        if key is not None:
            holders.setdefault(key, set()).add(c.op)
    over = {f"{m} {t}": sorted(ops) for (m, t), ops in holders.items() if len(ops) > 1}
    recovered = []
    for op, keys in landed.items():
        method, template = op.split(" ", 1)
        if len(keys) == 1 and None not in keys:
            (key,) = keys
            if key is not None and shape_of(key[1]) == shape_of(template) and len(holders[key]) == 1:
                recovered.append(op)
    return {"operations": len(landed), "recovered": len(recovered), "overMerged": over,
            "missed": sorted(set(landed) - set(recovered))}  # fmt: skip


def entries(host: str, api: str, calls: list[Call]) -> list[Any]:
    """The calls as recorded entries, without a network: for fast table-driven checks."""
    from necto.model import Entry, Timings

    out = []
    for n, c in enumerate(calls):
        status, ctype, payload = respond(api, c)
        req_headers = [("Host", host), ("User-Agent", "inventory-test")]
        body = None
        if c.body is not None:
            body = orjson.dumps(c.body)
            req_headers.append(("Content-Type", "application/json"))
        out.append(Entry(
            session_id="offline", started=1_700_000_000 + n, method=c.method, url=f"http://{host}{c.target}",
            request_headers=req_headers, request_body=body, status=status,
            response_headers=[("Content-Type", ctype)] if ctype else [], response_body=payload,
            timings=Timings(send=0.1, wait=2.0, receive=0.1),
        ))  # fmt: skip
    return out
