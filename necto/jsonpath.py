"""JSON paths as users write them to ignore parts of a body: `$.a.b[0]`, `$.items[*].ts`,
`$..ts` (any depth), `$["odd key"]`; parsed once, matched against concrete paths, and concrete
paths formatted back for people."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson

_STEP = re.compile(r'\.\.|\.(\*|[^.\[\]]+)|\[(\*|\d+|"(?:[^"\\]|\\.)*")\]')


def parse_json_path(text: str) -> list[Any]:
    """`$.a.b[0]`, `$.items[*].ts`, `$..ts` -> tokens; ValueError for anything else."""
    t = text.strip()
    if not t.startswith("$"):
        t = "$." + t if not t.startswith("[") else "$" + t
    pos = 1
    tokens: list[tuple[Any, ...]] = []
    while pos < len(t):
        m = _STEP.match(t, pos)
        if not m:
            raise ValueError(f"invalid JSON path: {text}")
        if m.group(0) == "..":
            tokens.append(("deep",))
            nxt = re.match(r"(\*|[^.\[\]]+)", t[m.end() :])
            if nxt:  # `$..key` is "key at any depth"
                tokens.append(("key", nxt.group(1)) if nxt.group(1) != "*" else ("any",))
                pos = m.end() + nxt.end()
                continue
        elif m.group(1) is not None:
            tokens.append(("any",) if m.group(1) == "*" else ("key", m.group(1)))
        else:
            g = m.group(2)
            if g == "*":
                tokens.append(("any",))
            elif g.isdigit():
                tokens.append(("index", int(g)))
            else:
                tokens.append(("key", orjson.loads(g)))
        pos = m.end()
    return tokens


def path_matches(pattern: list[Any], path: Sequence[str | int]) -> bool:
    """Does a concrete path start with (fall under) the pattern?"""
    if not pattern:
        return True
    head, rest = pattern[0], pattern[1:]
    if head[0] == "deep":
        return any(path_matches(rest, path[i:]) for i in range(len(path) + 1))
    if not path:
        return False
    seg = path[0]
    if head[0] == "any" or (head[0] == "key" and seg == head[1]) or (head[0] == "index" and seg == head[1]):
        return path_matches(rest, path[1:])
    return False


_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")


def format_path(path: Sequence[str | int]) -> str:
    out = "$"
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif _IDENT.match(seg):
            out += "." + seg
        else:
            out += "[" + orjson.dumps(seg).decode() + "]"
    return out
