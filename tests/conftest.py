"""Shared fixtures: real upstream servers and one real Necto, on ephemeral loopback ports.

Everything is session-scoped and runs in one event loop, so the whole suite pays for one
start-up. Tests isolate themselves with `fresh_session` (a new active session each). Plain
helpers live in helpers.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from helpers import (
    CORPUS_MISSING,
    HAVE_CORPUS,
    Counting,
    RunningNecto,
    TestPki,
    Upstream,
    chromium,
    free_port,
    h2_app,
    make_pki,
    necto_config,
    open_page,
    start_counting_upstream,
    start_necto,
    start_upstream,
    wait_for_port,
)
from necto.model import Session


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "corpus: needs the external HAR corpus (../shared/har-corpus or $NECTO_HAR_CORPUS)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if HAVE_CORPUS:
        return
    skip = pytest.mark.skip(reason=CORPUS_MISSING)
    for item in items:
        if "corpus" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config: pytest.Config) -> str:
    return "HAR corpus: " + ("found" if HAVE_CORPUS else CORPUS_MISSING)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not HAVE_CORPUS:
        terminalreporter.write_line(f"note: corpus tests skipped: {CORPUS_MISSING}")


# ------------------------------------------------------------------ certificates for upstream
@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest_asyncio.fixture(scope="session")
async def upstream(pki: TestPki) -> AsyncIterator[Upstream]:
    runner, up = await start_upstream(pki)
    yield up
    await runner.cleanup()


@pytest_asyncio.fixture(scope="session")
async def h2_upstream(pki: TestPki) -> AsyncIterator[str]:
    """An HTTPS server that speaks HTTP/2 (hypercorn), as https://localhost:PORT."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config as HyperConfig

    port = free_port()
    cfg = HyperConfig()
    cfg.bind = [f"127.0.0.1:{port}"]
    cfg.certfile, cfg.keyfile = str(pki.cert_pem), str(pki.key_pem)
    cfg.alpn_protocols = ["h2", "http/1.1"]
    cfg.accesslog = cfg.errorlog = None
    stop = asyncio.Event()
    task = asyncio.create_task(serve(h2_app, cfg, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    await wait_for_port(port)
    yield f"https://localhost:{port}"
    stop.set()
    await task


@pytest_asyncio.fixture(scope="session")
async def necto(tmp_path_factory: pytest.TempPathFactory, pki: TestPki) -> AsyncIterator[RunningNecto]:
    running = await start_necto(necto_config(tmp_path_factory.mktemp("necto-home"), pki))
    yield running
    await running.app.stop()


@pytest_asyncio.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain client for talking to the API directly (no proxy)."""
    async with aiohttp.ClientSession() as s:
        yield s


@pytest_asyncio.fixture
async def fresh_session(necto: RunningNecto, request: pytest.FixtureRequest) -> Session:
    """A new, active, recording session named after the test."""
    return await necto.store.create_session(request.node.name[:80], activate=True)


# ------------------------------------------------------------------ rules and network conditions
@pytest_asyncio.fixture(scope="session")
async def counting(pki: TestPki) -> AsyncIterator[Counting]:
    """An origin that records every request it gets (was it reached? with what?)."""
    runner, state = await start_counting_upstream(pki)
    yield state
    await runner.cleanup()


@pytest_asyncio.fixture
async def clean_rules(necto: RunningNecto, counting: Counting) -> AsyncIterator[None]:
    """No rules and no network profile before and after the test (the Necto is shared)."""

    async def clear() -> None:
        for rule in await necto.store.list_rules():
            await necto.store.delete_rule(rule.id)
        await necto.store.set_active_profile(None)

    await clear()
    counting.reset()
    yield
    await clear()


# ------------------------------------------------------------------ breakpoints
@pytest_asyncio.fixture
async def clean_breakpoints(necto: RunningNecto, counting: Counting) -> AsyncIterator[None]:
    """No breakpoints and nothing held before and after the test (the Necto is shared)."""

    async def clear() -> None:
        necto.app.breakpoints.resume_all()
        for bp in await necto.store.list_breakpoints():
            await necto.store.delete_breakpoint(bp.id)

    await clear()
    counting.reset()
    yield
    await clear()


@pytest_asyncio.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """One headless Chromium for the whole run (skips, or fails in CI, where it is missing)."""
    async with chromium() as b:
        yield b


@pytest_asyncio.fixture
async def page(browser: Any, necto: RunningNecto, fresh_session: Session) -> AsyncIterator[Any]:
    """The page on a fresh active session, clipboard allowed; a script error fails the test."""
    p = await open_page(browser, necto.api_url + "/", permissions=["clipboard-read", "clipboard-write"])
    yield p
    assert p.errors == [], p.errors
    await p.context.close()
