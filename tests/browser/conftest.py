"""Browser fixtures: Debian's chromium driven by Playwright (never a downloaded browser).

A missing chromium skips these tests with the reason, unless ``DIVERGENCE_REQUIRE_BROWSER=1``
(CI) turns it into a failure. The server side reuses the service tests' harness.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))

from harness import RunningServer, make_runtime, running_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One chromium per module: Playwright's sync API holds an event loop while it runs,
    which must be gone before pytest-asyncio runs the async tests of other folders."""
    if not CHROMIUM.exists():
        reason = f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("DIVERGENCE_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + "; DIVERGENCE_REQUIRE_BROWSER=1 requires it")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(make_runtime(tmp_path)) as running:
        yield running
