"""The traffic list's filters, sort and paging, and their SQL.

NectoProxy's list parameters (`search`, `methods`, `statusCodes`, `hosts`) and the filter
language (`filter`, necto.search) end up in one WHERE clause; `search` is itself a small filter
tree, so it means the same wherever it is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from necto.search.filterlang import Match, Method, Node, Or, Url, all_of
from necto.search.sqlfilter import compile_sql
from necto.vocab import is_static

SORT_COLUMNS = {
    "timestamp": "started",
    "duration": "duration",
    "size": "response_body_size",
    "status": "status",
    "host": "host",
    "method": "method",
    "url": "url",
}
MAX_STATUS = 999
IS_STATIC_SQL = "necto_is_static"  # SQL function registered on every reader connection


def sql_is_static(url: str | None, content_type: str | None, status: int | None) -> int:
    return int(is_static(urlsplit(url or "").path, content_type or "", status))


def search_node(text: str) -> Node:
    """NectoProxy's `search`: a substring of the URL or the method, case-insensitive."""
    return Or((Url(Match(text=text.lower())), Method(regex=re.compile(re.escape(text), re.I))))


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(slots=True)
class TrafficQuery:
    """Filters, sort and paging for the traffic list (NectoProxy's query parameters)."""

    session_id: str | None = None
    search: str | None = None
    methods: list[str] = field(default_factory=list)
    status_codes: list[int] = field(default_factory=list)  # 0 = no response / failed
    status_classes: list[int] = field(default_factory=list)  # 2 for "2xx"
    hosts: list[str] = field(default_factory=list)
    host_patterns: list[str] = field(default_factory=list)  # "api.x" or "*.x" (it and subdomains)
    skip_static: bool = False  # leave out images, fonts, CSS, scripts, media (vocab.is_static)
    replayable: bool = False  # only HTTP(S) exchanges: no WebSocket, no CONNECT
    filter: Node | None = None  # the filter language (necto.search.parse_filter)
    sort_field: str = "timestamp"
    sort_direction: str = "asc"
    limit: int = 100
    offset: int = 0

    def add_status(self, code: str) -> None:
        """Filter by "404" (exact; "0" = no response) or "4xx" (class); ValueError otherwise."""
        if len(code) == 3 and code[0] in "12345" and code[1:].lower() == "xx":
            self.status_classes.append(int(code[0]))
        elif code.isdigit() and len(code) <= 3 and int(code) <= MAX_STATUS:
            self.status_codes.append(int(code))
        else:
            raise ValueError(f"Invalid status code: {code[:20]} (use e.g. 404, 4xx or 0 for no response)")

    def tree(self) -> Node | None:
        """`search` and `filter` as one filter tree (None: neither)."""
        return all_of(search_node(self.search) if self.search else None, self.filter)

    def needs_index(self) -> bool:
        """Does the WHERE clause read the search index (so it must be caught up first)?"""
        tree = self.tree()
        return tree is not None and compile_sql(tree).needs_index

    def where(self, fts: bool = True) -> tuple[str, list[Any]]:
        """The WHERE clause (over `entries e JOIN sessions s`) and its arguments; `fts`: the
        search index is an FTS5 table (else a plain one)."""
        where: list[str] = ["s.state = 'ready'"]
        args: list[Any] = []
        if self.session_id:
            where.append("e.session_id = ?")
            args.append(self.session_id)
        if self.methods:
            where.append(f"upper(e.method) IN ({', '.join('?' * len(self.methods))})")
            args += [m.upper() for m in self.methods]
        status_terms = []
        if self.status_codes:
            status_terms.append(f"COALESCE(e.status, 0) IN ({', '.join('?' * len(self.status_codes))})")
            args += self.status_codes
        for cls in self.status_classes:
            status_terms.append("(e.status >= ? AND e.status < ?)")
            args += [cls * 100, cls * 100 + 100]
        if status_terms:
            where.append("(" + " OR ".join(status_terms) + ")")
        if self.hosts:
            where.append(f"lower(e.host) IN ({', '.join('?' * len(self.hosts))})")
            args += [h.lower() for h in self.hosts]
        if self.host_patterns:
            terms = []
            for pattern in self.host_patterns:
                p = pattern.lower()
                if p.startswith("*."):
                    terms.append("(lower(e.host) = ? OR lower(e.host) LIKE ? ESCAPE '\\')")
                    args += [p[2:], "%" + _like_escape(p[1:])]
                else:
                    terms.append("lower(e.host) = ?")
                    args.append(p)
            where.append("(" + " OR ".join(terms) + ")")
        if self.skip_static:
            where.append(f"NOT {IS_STATIC_SQL}(e.url, e.content_type, e.status)")
        if self.replayable:
            where.append(
                "e.websocket IS NULL AND upper(e.method) != 'CONNECT' "
                "AND (lower(substr(e.url, 1, 7)) = 'http://' OR lower(substr(e.url, 1, 8)) = 'https://')"
            )
        tree = self.tree()
        if tree is not None:  # last: the filter's text terms are its costly part
            compiled = compile_sql(tree, fts)
            where.append(compiled.sql)
            args += compiled.args
        return " AND ".join(where), args

    def order(self) -> str:
        column = SORT_COLUMNS.get(self.sort_field, "started")
        direction = "DESC" if self.sort_direction.lower() == "desc" else "ASC"
        return f"e.{column} {direction}, e.seq {direction}"
