"""The filter language, table-driven: what each query parses to, where a malformed one fails,
and that the SQL (through the store and its search index, FTS5 and the plain fallback) and the
in-memory test select exactly the same entries of a fixed set."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from necto.model import Entry, Timings, WsMessage
from necto.search import filterlang
from necto.search.filterlang import FilterError, parse_filter
from necto.search.predicate import matches
from necto.store import Store, TrafficQuery
from necto.store import search as search_store

T0 = time.time() - 3600


# ---------------------------------------------------------------------------- the entries
def _entries(session_id: str) -> dict[str, Entry]:
    def e(label: str, i: int, method: str, url: str, **kw: object) -> tuple[str, Entry]:
        entry = Entry(session_id=session_id, started=T0 + i, method=method, url=url, **kw)  # type: ignore[arg-type]
        if entry.response_body is not None and entry.response_body_size < 0:
            entry.response_body_size = len(entry.response_body)
        return label, entry

    json_ct = [("Content-Type", "application/json")]
    return dict([
        e("order", 0, "POST", "https://api.example.com/orders?x=1",
          request_headers=[*json_ct, ("X-Request-Id", "abc123")], request_body=b'{"order_id":8812}',
          status=201, status_text="Created", response_headers=[("content-type", "application/json; charset=utf-8")],
          response_body='{"ok":"Grüße"}'.encode(), timings=Timings(send=1, wait=120, receive=1)),
        e("png", 1, "GET", "https://cdn.other.org/img/a.png", status=500,
          response_headers=[("content-type", "image/png")], response_body=b"\x89PNG\r\n order_id \x00",
          response_body_size=2 * 1024 * 1024, timings=Timings(send=1, wait=800, receive=10)),
        e("gql", 2, "POST", "https://api.example.com/graphql", request_headers=json_ct,
          request_body=b'{"query":"query GetUser($id: ID!) { user(id: $id) { name } }","variables":{"id":"7"}}',
          status=200, response_headers=json_ct, response_body=b'{"data":{"user":{"name":"Ann"}}}'),
        e("ws", 3, "GET", "wss://chat.example.com/ws", status=101,
          websocket=[WsMessage("send", T0 + 3.1, 1, b"hello needle-ws"), WsMessage("receive", T0 + 3.2, 1, b"welcome")]),
        e("failed", 4, "GET", "http://down.example.net/x", error="connection refused"),
        e("mock", 5, "GET", "https://api.example.com/mocked", status=404, response_headers=[("content-type", "text/plain")],
          response_body=b"not here", extra={"isMocked": True, "appliedRules": [{"id": "r1", "name": "m", "action": "mock"}]}),
        e("latin", 6, "GET", "http://old.example.org/page", status=302,
          response_headers=[("content-type", "text/html; charset=iso-8859-1")], response_body="Grüße aus Köln".encode("latin-1")),
        e("replayed", 7, "DELETE", "https://api.example.com/orders/8812", status=204, source="replay"),
    ])  # fmt: skip


NOTES = {
    "order": ("flaky test", "red", ["bug", "checkout"]),
    "png": ("slow image", "blue", ["perf"]),
}
ALL = {"order", "png", "gql", "ws", "failed", "mock", "latin", "replayed"}

CASES: list[tuple[str, set[str]]] = [
    ("order_id", {"order"}),  # the PNG holds the bytes too, but binary bodies are not searched
    ('"order_id":8812', {"order"}),
    ('"ORDER_ID\\":8812"', {"order"}),
    ("body:8812", {"order"}),
    ("body:88", {"order"}),  # shorter than a trigram: read row by row
    ("req.body:8812", {"order"}),
    ("res.body:8812", set()),
    ("res.body:grüße", {"order", "latin"}),  # UTF-8 and ISO-8859-1 bodies alike
    ("köln", {"latin"}),
    ("needle-ws", {"ws"}),
    ("req.body:needle-ws", {"ws"}),
    ("res.body:welcome", {"ws"}),
    ("header:x-request-id", {"order"}),
    ('req.header:"x-request-id: abc123"', {"order"}),
    ("res.header:abc123", set()),
    ("status:5xx", {"png"}),
    ("status:0", {"failed"}),
    ("status>=400", {"png", "mock"}),
    ("status:200-299", {"order", "gql", "replayed"}),
    ("status:201,404", {"order", "mock"}),
    ("-status:5xx", ALL - {"png"}),
    ("method:post", {"order", "gql"}),
    ("method:/^(POST|DELETE)$/", {"order", "gql", "replayed"}),
    ("host:*.example.com", {"order", "gql", "ws", "mock", "replayed"}),
    ("host:api.example.com", {"order", "gql", "mock", "replayed"}),
    ("host:/^cdn\\./", {"png"}),
    ("path:/img/*", {"png"}),
    ("path:/orders", {"order"}),
    ("path:/orders*", {"order", "replayed"}),
    ("path:/orders?x=*", {"order"}),
    ("url:graphql", {"gql"}),
    ("url:/\\.png$/", {"png"}),
    ("type:json", {"order", "gql"}),
    ("type:img", {"png"}),
    ("type:ws", {"ws"}),
    ("type:doc,text", {"latin", "mock"}),
    ("duration>500", {"png"}),
    ("duration<=122ms", ALL - {"png"}),
    ("size>1MB", {"png"}),
    ("size>=8 OR size<0", ALL),
    ("is:mocked", {"mock"}),
    ("is:modified", {"mock"}),
    ("is:error", {"failed"}),
    ("is:complete", ALL - {"failed"}),
    ("is:websocket", {"ws"}),
    ("is:replay", {"replayed"}),
    ("is:captured", ALL - {"replayed"}),
    ("is:annotated", {"order", "png"}),
    ("is:graphql", {"gql"}),
    ("is:static", {"png"}),
    ("note:flaky", {"order"}),
    ('note:"SLOW image"', {"png"}),
    ("note:/^slow/", {"png"}),
    ("flaky", {"order"}),  # plain words read notes too
    ("tag:bug", {"order"}),
    ("tag:chec*", {"order"}),
    ("tag:perf,bug", {"order", "png"}),
    ("color:red", {"order"}),
    ("color:blue,red", {"order", "png"}),
    ("-is:annotated", ALL - {"order", "png"}),
    ("graphql:GetUser", {"gql"}),
    ("graphql:get*", {"gql"}),
    ("graphql:Other", set()),
    ("status:5xx OR is:error", {"png", "failed"}),
    ("(method:post -path:/graphql) OR is:websocket", {"order", "ws"}),
    ('/order_id"?:\\s*88\\d\\d/', {"order"}),
    ("/ORDER_ID/", set()),  # a regex is case-sensitive...
    ("/ORDER_ID/i", {"order"}),  # ...unless it says i
    ("api example", {"order", "gql", "mock", "replayed"}),  # every word, anywhere
    ("-api", ALL - {"order", "gql", "mock", "replayed"}),
]

ERRORS: list[tuple[str, int, str, str]] = [
    # query, position, token, part of the reason
    ('body:"order_id', 5, '"order_id', "unclosed quote"),
    ("stauts:404", 0, "stauts:404", "did you mean status"),
    ("foo:bar", 0, "foo:bar", "unknown field"),
    ("method:GET (a b", 11, "(", "unclosed parenthesis"),
    ("a) b", 1, ")", "unmatched"),
    ("OR a", 0, "OR", "before it"),
    ("a OR", 2, "OR", "after it"),
    ("status:abc", 0, "status:abc", "not a status"),
    ("color:pink", 0, "color:pink", "not a colour"),
    ("is:nothing", 0, "is:nothing", "unknown is:"),
    ("duration:500", 0, "duration:500", "needs a comparison"),
    ("size>lots", 0, "size>lots", "size must be"),
    ("method:", 0, "method:", "needs a value"),
    ("x /ab[c/", 2, "/ab[c/", "invalid regular expression"),
    ("()", 0, "()", "empty parentheses"),
    ("a -", 2, "-", "nothing to negate"),
    ("path:/a/(", 8, "(", "unclosed parenthesis"),
]


@pytest.mark.parametrize("query,position,token,reason", ERRORS)
def test_a_malformed_query_names_the_token(query: str, position: int, token: str, reason: str) -> None:
    with pytest.raises(FilterError) as err:
        parse_filter(query)
    e = err.value
    assert (e.position, e.token) == (position, token), str(e)
    assert reason in e.reason
    assert e.as_json()["error"].startswith("Invalid filter: ")


@pytest.mark.parametrize(
    "query,expected",
    [
        ("", None),
        ("   ", None),
        ("https://x.example/a?b=1", "Text"),  # URLs and host:port are words, not fields
        ("localhost:3000", "Text"),
        ("/api/", "Text"),  # no regex syntax: the text /api/ (necto.match's rule)
        ("/api\\/v\\d/", "Text"),
        ("path:/api/*", "Path"),
        ("duration:>2s", "Number"),
        ("-x", "Not"),
        ("a b OR c", "Or"),
    ],
)
def test_what_queries_parse_to(query: str, expected: str | None) -> None:
    node = parse_filter(query)
    assert (type(node).__name__ if node is not None else None) == expected


def test_bounds() -> None:
    with pytest.raises(FilterError, match="longer than"):
        parse_filter("a" * (filterlang.MAX_QUERY + 1))
    with pytest.raises(FilterError, match="more than"):
        parse_filter(" ".join(["x"] * (filterlang.MAX_TERMS + 1)))
    with pytest.raises(FilterError, match="nested deeper"):
        parse_filter("(" * (filterlang.MAX_DEPTH + 1) + "x" + ")" * (filterlang.MAX_DEPTH + 1))


# ---------------------------------------------------------------------------- SQL vs memory
async def _filled(path: Path) -> tuple[Store, dict[str, Entry], dict[str, str]]:
    store = await Store.open(path)
    session = await store.create_session("filters", activate=True)
    entries = _entries(session.id)
    await store.add_entries(list(entries.values()))
    for label, (content, color, tags) in NOTES.items():
        note = await store.create_annotation(entries[label].id, content, color, tags)
        assert note is not None
        entries[label].extra["annotations"] = [note]  # as a Necto HAR brings them to the memory test
    return store, entries, {e.id: label for label, e in entries.items()}


@pytest_asyncio.fixture(scope="module", params=["fts5", "plain"])
async def filled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Store, dict[str, Entry], dict[str, str]]]:
    if request.param == "plain":
        mp = pytest.MonkeyPatch()  # an SQLite without FTS5's trigram tokenizer
        mp.setattr(search_store, "fts5_trigram", lambda: False)
    elif not search_store.fts5_trigram():
        pytest.skip("this SQLite has no FTS5 trigram tokenizer")
    store, entries, labels = await _filled(tmp_path_factory.mktemp(request.param) / "necto.db")
    assert store.text_mode == request.param
    yield store, entries, labels
    await store.close()
    if request.param == "plain":
        mp.undo()


@pytest.mark.parametrize("query,expected", CASES)
async def test_sql_and_memory_select_the_same_entries(
    filled: tuple[Store, dict[str, Entry], dict[str, str]], query: str, expected: set[str]
) -> None:
    store, entries, labels = filled
    node = parse_filter(query)
    found, count = await store.list_entries(TrafficQuery(session_id=next(iter(entries.values())).session_id,
                                                         filter=node, limit=100))  # fmt: skip
    assert {labels[e.id] for e in found} == expected, f"SQL ({store.text_mode})"
    assert count == len(expected)
    assert {label for label, e in entries.items() if matches(node, e)} == expected, "in memory"


async def test_search_covers_entries_captured_after_the_index_last_ran(tmp_path: Path) -> None:
    """No indexer runs here (as in a CLI command): a query indexes what it needs first."""
    store, entries, labels = await _filled(tmp_path / "necto.db")
    try:
        status = await store.index_status()
        assert status["pending"] == len(entries) and not status["running"]
        found, _ = await store.list_entries(TrafficQuery(filter=parse_filter("body:8812")))
        assert [labels[e.id] for e in found] == ["order"]
        assert (await store.index_status())["pending"] == 0
        # an entry written afterwards is found by the next query
        later = Entry(session_id=entries["order"].session_id, started=T0 + 50, method="POST", url="https://x.test/late",
                      request_headers=[("content-type", "application/json")], request_body=b'{"late":"zebra-42"}')  # fmt: skip
        await store.add_entries([later])
        found, _ = await store.list_entries(TrafficQuery(filter=parse_filter("zebra-42")))
        assert [e.id for e in found] == [later.id]
    finally:
        await store.close()
