"""Every `necto.*` module imports on its own in a fresh interpreter (an import cycle hides
behind the order in which the app happens to import things), and the code passes ruff and mypy."""

from __future__ import annotations

import asyncio
import shutil
import sys

import pytest

from helpers import ROOT, run_cmd

MODULES = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for p in (ROOT / "necto").rglob("*.py")
    if p.name != "__main__.py"
)


async def test_every_module_imports_alone() -> None:
    slots = asyncio.Semaphore(4)

    async def one(module: str) -> str | None:
        async with slots:
            code, _, err = await run_cmd(sys.executable, "-c", f"import {module}")
        return None if code == 0 else f"{module}: {err.decode().strip().splitlines()[-1:]}"

    failures = [f for f in await asyncio.gather(*(one(m) for m in MODULES)) if f]
    assert len(MODULES) > 40
    assert failures == []


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(ROOT / ".venv" / "bin")) or shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return path


async def test_ruff_lint_passes() -> None:
    code, out, err = await run_cmd(_tool("ruff"), "check", *(str(ROOT / d) for d in ("necto", "tests", "scripts")))
    assert code == 0, (out + err).decode()


async def test_ruff_format_is_applied() -> None:
    code, out, err = await run_cmd(
        _tool("ruff"), "format", "--check", *(str(ROOT / d) for d in ("necto", "tests", "scripts"))
    )
    assert code == 0, "run: ruff format necto tests scripts\n" + (out + err).decode()


async def test_mypy_passes() -> None:
    code, out, err = await run_cmd(
        sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), timeout=300
    )
    assert code == 0, (out + err).decode()[-4000:]
