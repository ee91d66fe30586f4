"""A real browser for the explorer tests: Debian's headless Chromium driven by Playwright.

Playwright's own browser download does not work here (no internet); the tests launch the system
chromium through `executable_path`. Without it they are skipped, except under CI=true, where a
missing browser is a failure: CI must run them. Screenshots go to `test-artifacts/` (gitignored);
their paths are listed at the end of the pytest run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
_saved: list[Path] = []


def chromium_path() -> str | None:
    """Debian's chromium (or ACTIVATIONS_TEST_CHROMIUM), None when it is not installed."""
    candidates = [os.environ.get("ACTIVATIONS_TEST_CHROMIUM", ""), "/usr/bin/chromium", shutil.which("chromium") or ""]
    return next((path for path in candidates if path and os.access(path, os.X_OK)), None)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module.

    Playwright's sync API keeps an asyncio loop marked as running in this thread while it is open:
    closed with the module, it does not leak into later tests that call asyncio.run.
    """
    executable = chromium_path()
    if executable is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no chromium: install Debian's chromium (apt-get install chromium)")
        pytest.skip("no chromium (install Debian's chromium to run the browser tests)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def save_screenshot(page: Any, name: str) -> Path:
    """A full-page screenshot in test-artifacts/, listed in the run's summary."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.evaluate("window.scrollTo(0, 0)")  # the sticky plot at its place in the layout, not where a test scrolled
    page.screenshot(path=str(path), full_page=True)
    _saved.append(path)
    return path


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _saved:
        terminalreporter.write_sep("-", "explorer screenshots")
        for path in _saved:
            terminalreporter.write_line(str(path))
