"""A filter tree as SQL over `entries e` (joined with `sessions s` by the caller).

Text terms use the search index (`entry_text`, filled by the store's indexer, see
necto/store/search.py): with FTS5's trigram tokenizer, a substring of 3 or more characters is a
phrase MATCH on the index; shorter ones, regexes, and the plain-table fallback (an SQLite
without FTS5) read the indexed text row by row. Annotations, URLs and the other fields are read
from their own columns and tables. The Python functions named here are registered on the
store's reader connection (`FUNCTIONS`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from necto.search.filterlang import (
    TYPE_ALIASES,
    And,
    Color,
    Flag,
    Glob,
    GraphQL,
    Host,
    Match,
    Method,
    Node,
    Not,
    Number,
    Or,
    Path,
    Status,
    Tag,
    Text,
    Type,
    Url,
)
from necto.search.text import url_path, url_path_query

TEXT_TABLE = "entry_text"
FTS_MIN = 3  # the trigram tokenizer finds substrings of at least 3 characters
SCOPE_COLUMNS = {
    "all": ("line", "req_headers", "res_headers", "req_body", "res_body"),
    "headers": ("req_headers", "res_headers"),
    "req.headers": ("req_headers",),
    "res.headers": ("res_headers",),
    "body": ("req_body", "res_body"),
    "req.body": ("req_body",),
    "res.body": ("res_body",),
    "notes": (),
}
_CMP = {">": ">", ">=": ">=", "<": "<", "<=": "<=", "=": "="}
_EXTRA_TRUE = "COALESCE(json_extract(e.extra, '$.{}'), 0) NOT IN (0, '')"


@dataclass
class Compiled:
    sql: str
    args: list[Any] = field(default_factory=list)
    needs_index: bool = False  # reads the search index: catch it up first


# ---------------------------------------------------------------------------- SQL functions
@functools.lru_cache(maxsize=256)
def _rx(pattern: str, flags: int) -> re.Pattern[str]:
    return re.compile(pattern, flags)


def sql_regexp(pattern: str, flags: int, value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return int(_rx(pattern, flags).search(str(value)) is not None)


def sql_names(pattern: str, flags: int, names: str | None) -> int:
    """Does any of the comma-separated names (a batched GraphQL request) match?"""
    if not names:
        return 0
    rx = _rx(pattern, flags)
    return int(any(rx.search(n.strip()) is not None for n in names.split(",")))


def sql_path(url: str | None) -> str:
    return url_path(url)


def sql_path_query(url: str | None) -> str:
    return url_path_query(url)


# name -> (arity, function): registered on every reader connection
FUNCTIONS: dict[str, tuple[int, Callable[..., Any]]] = {
    "necto_regexp": (3, sql_regexp),
    "necto_names": (3, sql_names),
    "necto_path": (1, sql_path),
    "necto_path_query": (1, sql_path_query),
}


# ---------------------------------------------------------------------------- compiling
def like_pattern(glob: str) -> str:
    """A `*` glob as a LIKE pattern (ESCAPE '\\')."""
    escaped = glob.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def fts_phrase(text: str, columns: tuple[str, ...]) -> str:
    phrase = '"' + text.replace('"', '""') + '"'
    if columns == SCOPE_COLUMNS["all"]:
        return phrase
    return "{" + " ".join(columns) + "} : " + phrase


class _Compiler:
    def __init__(self, fts: bool) -> None:
        self.fts = fts
        self.args: list[Any] = []
        self.needs_index = False

    def arg(self, value: Any) -> str:
        self.args.append(value)
        return "?"

    def regexp(self, rx: re.Pattern[str], value_sql: str) -> str:
        return f"necto_regexp({self.arg(rx.pattern)}, {self.arg(int(rx.flags))}, {value_sql})"

    def match(self, m: Match, value_sql: str) -> str:
        if m.regex is not None:
            return self.regexp(m.regex, value_sql)
        return f"instr(lower({value_sql}), {self.arg(m.text)}) > 0"

    def glob(self, g: Glob, value_sql: str) -> str:
        if g.user_regex:
            return self.regexp(g.regex, value_sql)
        if "*" not in g.pattern:
            return f"lower({value_sql}) = {self.arg(g.pattern)}"
        return f"lower({value_sql}) LIKE {self.arg(like_pattern(g.pattern))} ESCAPE '\\'"

    def notes(self, m: Match) -> str:
        return f"EXISTS (SELECT 1 FROM annotations a WHERE a.traffic_id = e.id AND {self.match(m, 'a.content')})"

    def indexed(self, m: Match) -> bool:
        """Can this match go through the FTS index (a substring the trigrams can find)?"""
        return self.fts and m.regex is None and len(m.text) >= FTS_MIN

    def fts_match(self, text: str, columns: tuple[str, ...]) -> str:
        self.needs_index = True
        return (
            f"e.seq IN (SELECT rowid FROM {TEXT_TABLE} WHERE {TEXT_TABLE} MATCH {self.arg(fts_phrase(text, columns))})"
        )

    def text(self, node: Text) -> str:
        columns = SCOPE_COLUMNS[node.scope]
        terms: list[str] = []
        if columns:
            self.needs_index = True
            m = node.match
            if self.indexed(m):
                terms.append(self.fts_match(m.text, columns))
            else:
                tests = " OR ".join(self.match(m, f"t.{c}") for c in columns)
                terms.append(f"EXISTS (SELECT 1 FROM {TEXT_TABLE} t WHERE t.rowid = e.seq AND ({tests}))")
        if node.scope in ("all", "notes"):
            terms.append(self.notes(node.match))
        return terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"

    def status(self, n: Status) -> str:
        if n.op != ":":
            return f"e.status {_CMP[n.op]} {self.arg(n.value)}"
        terms = []
        if n.codes:
            terms.append(f"COALESCE(e.status, 0) IN ({', '.join(self.arg(c) for c in n.codes)})")
        for cls in n.classes:
            terms.append(f"(e.status >= {self.arg(cls * 100)} AND e.status < {self.arg(cls * 100 + 100)})")
        for a, b in n.ranges:
            terms.append(f"e.status BETWEEN {self.arg(a)} AND {self.arg(b)}")
        return "(" + " OR ".join(terms) + ")"

    def flag(self, name: str) -> str:
        if name == "mocked":
            return _EXTRA_TRUE.format("isMocked")
        if name == "breakpointed":
            return _EXTRA_TRUE.format("isBreakpointed")
        if name == "modified":
            return "COALESCE(json_array_length(e.extra, '$.appliedRules'), 0) > 0"
        if name == "error":
            return "(e.error IS NOT NULL OR e.status IS NULL)"
        if name == "complete":
            return "(e.status IS NOT NULL AND e.error IS NULL)"
        if name == "websocket":
            return "e.websocket IS NOT NULL"
        if name in ("replay", "imported", "captured"):
            return f"e.source = {self.arg({'replay': 'replay', 'imported': 'import', 'captured': 'capture'}[name])}"
        if name == "truncated":
            return "(e.request_truncated != 0 OR e.response_truncated != 0)"
        if name in ("tunnel", "tls-failed"):
            return f"COALESCE(json_extract(e.extra, '$.har.entry._kind'), '') = {self.arg(name)}"
        if name == "annotated":
            return "EXISTS (SELECT 1 FROM annotations a WHERE a.traffic_id = e.id)"
        if name == "graphql":
            self.needs_index = True
            return "EXISTS (SELECT 1 FROM entry_facts f WHERE f.seq = e.seq AND f.graphql IS NOT NULL)"
        if name == "grpc":
            return "lower(e.content_type) LIKE 'application/grpc%'"
        if name == "static":
            return "necto_is_static(e.url, e.content_type, e.status)"  # registered by the store (query.py)
        raise AssertionError(name)

    def any_of(self, items: tuple[Node, ...]) -> list[str]:
        """The SQL of OR-ed items; text terms with one substring in several scopes (the global
        search: headers OR body) become one MATCH over all their columns, one index lookup."""
        columns: dict[str, list[str]] = {}
        order: list[Node | str] = []
        for x in items:
            if isinstance(x, Text) and SCOPE_COLUMNS[x.scope] and x.scope != "all" and self.indexed(x.match):
                if x.match.text not in columns:
                    columns[x.match.text] = []
                    order.append(x.match.text)
                columns[x.match.text] += [c for c in SCOPE_COLUMNS[x.scope] if c not in columns[x.match.text]]
            else:
                order.append(x)
        out = []
        for item in order:  # in order: placeholders are positional
            if isinstance(item, str):
                out.append(self.fts_match(item, tuple(columns[item])))
            else:
                out.append(self.node(item))
        return out

    def node(self, n: Node) -> str:
        if isinstance(n, And):
            return "(" + " AND ".join(self.node(x) for x in sorted(n.items, key=_cost)) + ")"
        if isinstance(n, Or):
            return "(" + " OR ".join(self.any_of(n.items)) + ")"
        if isinstance(n, Not):  # SQL's NULL (a missing status, no extra) counts as false, as in memory
            return f"NOT COALESCE({self.node(n.item)}, 0)"
        if isinstance(n, Text):
            return self.text(n)
        if isinstance(n, Url):
            return self.match(n.match, "e.url")
        if isinstance(n, Method):
            if n.regex is not None:
                return self.regexp(n.regex, "e.method")
            return f"upper(e.method) IN ({', '.join(self.arg(x) for x in n.names)})"
        if isinstance(n, Status):
            return self.status(n)
        if isinstance(n, Host):
            terms = []
            for g in n.globs:
                terms.append(self.glob(g, "e.host"))
                if not g.user_regex and g.pattern.startswith("*."):
                    terms.append(f"lower(e.host) = {self.arg(g.pattern[2:])}")
            return "(" + " OR ".join(terms) + ")"
        if isinstance(n, Path):
            return self.glob(n.glob, "necto_path_query(e.url)" if n.with_query else "necto_path(e.url)")
        if isinstance(n, Type):
            terms = []
            for w in n.words:
                if w in ("ws", "websocket"):
                    terms.append("e.websocket IS NOT NULL")
                else:
                    terms += [f"instr(lower(e.content_type), {self.arg(p)}) > 0" for p in TYPE_ALIASES.get(w, (w,))]
            return "(" + " OR ".join(terms) + ")"
        if isinstance(n, Number):
            column = "e.duration" if n.field == "duration" else "e.response_body_size"
            return f"{column} {_CMP[n.op]} {self.arg(n.value)}"
        if isinstance(n, Flag):
            return self.flag(n.name)
        if isinstance(n, Tag):
            tests = " OR ".join(self.glob(g, "j.value") for g in n.globs)
            return ("EXISTS (SELECT 1 FROM annotations a, json_each(a.tags) j WHERE a.traffic_id = e.id "
                    f"AND ({tests}))")  # fmt: skip
        if isinstance(n, Color):
            return ("EXISTS (SELECT 1 FROM annotations a WHERE a.traffic_id = e.id AND a.color IN "
                    f"({', '.join(self.arg(c) for c in n.colors)}))")  # fmt: skip
        if isinstance(n, GraphQL):
            self.needs_index = True
            tests = " OR ".join(
                f"necto_names({self.arg(g.regex.pattern)}, {self.arg(int(g.regex.flags))}, f.graphql)" for g in n.globs
            )
            return f"EXISTS (SELECT 1 FROM entry_facts f WHERE f.seq = e.seq AND f.graphql IS NOT NULL AND ({tests}))"
        raise AssertionError(n)


def _cost(n: Node) -> int:
    """Cheap column tests first, then Python functions and subqueries, text last."""
    if isinstance(n, (Method, Status, Number, Flag, Type, Url, Host)):
        return 0
    if isinstance(n, (Path, Tag, Color, GraphQL)):
        return 1
    return 2


def compile_sql(node: Node, fts: bool = True) -> Compiled:
    """The WHERE fragment (over `entries e`) for a filter tree."""
    c = _Compiler(fts)
    sql = c.node(node)
    return Compiled(sql, c.args, c.needs_index)
