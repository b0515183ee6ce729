"""Plain helper functions shared by test modules (fixtures live in conftest.py).

Web tests: launch Debian's Chromium with Playwright and open Necto's page in a fresh context.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("NECTO_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

try:
    from playwright.async_api import Browser, Page, async_playwright
except ImportError:  # pragma: no cover - CI installs it
    async_playwright = None  # type: ignore[assignment]


def require_browser() -> None:
    missing = async_playwright is None or not Path(CHROMIUM).exists()
    if missing:
        reason = "Playwright (pip) and Chromium at /usr/bin/chromium are needed: scripts/setup-test-tools, apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """One headless Chromium (share it per test module: launching costs about a second)."""
    require_browser()
    async with async_playwright() as pw:
        b = await pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        try:
            yield b
        finally:
            await b.close()


async def open_page(
    browser: Browser,
    url: str,
    *,
    width: int = 1400,
    height: int = 850,
    color_scheme: str = "light",
    **context_args: Any,
) -> Page:
    """A fresh context (own localStorage) on the page, ready; close with `page.context.close()`.

    `page.dialogs` collects alert/confirm/prompt messages; `page.answers` is what to type into
    prompt() dialogs, in order; confirm() is accepted."""
    context = await browser.new_context(
        viewport={"width": width, "height": height}, color_scheme=color_scheme, **context_args  # type: ignore[arg-type]
    )
    p = await context.new_page()
    dialogs: list[str] = []
    answers: list[str] = []
    errors: list[str] = []

    async def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        if dialog.type == "prompt" and answers:
            await dialog.accept(answers.pop(0))
        elif dialog.type == "confirm":
            await dialog.accept()
        else:
            await dialog.dismiss()

    p.on("dialog", on_dialog)
    p.on("pageerror", lambda e: errors.append(f"{e}\n{e.stack}"))
    p.dialogs = dialogs  # type: ignore[attr-defined]
    p.answers = answers  # type: ignore[attr-defined]
    p.errors = errors  # type: ignore[attr-defined]
    await p.goto(url)
    await p.wait_for_selector("body[data-ready='1']")
    return p


async def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path


async def copied_by(page: Page, action: Callable[[], Awaitable[object]]) -> str:
    """What `action` put on the clipboard (the clipboard is shared by every page of the
    browser, so it is emptied first), or what the page showed in its copy dialog."""
    await page.evaluate("navigator.clipboard.writeText('')")
    await action()
    deadline = time.monotonic() + 5
    while True:
        if await page.locator("#copy-text").count():
            return await page.locator("#copy-text").inner_text()
        text = await page.evaluate("navigator.clipboard.readText()")
        if text or time.monotonic() > deadline:
            return text
        await asyncio.sleep(0.05)
