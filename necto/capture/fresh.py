"""Deciding on a flow with the current rules or breakpoints (what both addons share).

A book (the rules engine's or the breakpoints') knows when another change was stored since it
was loaded (`stale()`); then it is reloaded before the flow is decided on. The common case,
nothing changed, stays synchronous: no task, no await on the proxy's hot path.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from mitmproxy import http


class Book(Protocol):
    def stale(self) -> bool: ...

    async def reload(self) -> None: ...


def when_fresh[T](book: Book, decide: Callable[[http.HTTPFlow], T], flow: http.HTTPFlow) -> T | Awaitable[Any]:
    """`decide(flow)` with `book` current: at once when it is, else after reloading it."""
    if not book.stale():
        return decide(flow)
    return _after_reload(book, decide, flow)


async def _after_reload(book: Book, decide: Callable[[http.HTTPFlow], Any], flow: http.HTTPFlow) -> Any:
    await book.reload()
    result = decide(flow)
    return await result if inspect.isawaitable(result) else result
