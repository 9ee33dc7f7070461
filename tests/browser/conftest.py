"""Browser fixtures: Debian's chromium driven by Playwright (never a downloaded browser).

A missing chromium skips these tests with the reason, unless ``DIVERGENCE_REQUIRE_BROWSER=1``
(CI) turns it into a failure. Two servers:

- ``server``: the service tests' harness (a seeded DuckDB file behind a stand-in runtime,
  bus frames published by the test);
- ``demo``: a running demo service, module-scoped: ``create_app(settings)`` owning a real
  :class:`~divergence.runtime.Runtime` with the built-in simulator (``sim.speed = 4``,
  dev mode), served by uvicorn on 127.0.0.1 in a thread, exactly what
  ``divergence serve --sim`` runs.

Screenshots go to ``$DIVERGENCE_ARTIFACTS`` or ``test-artifacts/`` at the repo root.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))

from harness import RunningServer, make_runtime, running_server, wait_until

from divergence.auth.config import ServiceSettings
from divergence.service.app import create_app
from divergence.settings import Settings, SimSettings

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEMO_SPEED = 2.0


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
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


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (gitignored)."""
    folder = Path(os.environ.get("DIVERGENCE_ARTIFACTS") or ROOT / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class DemoServer:
    """The demo service: its app (runtime and hub on ``app.state``) and URL."""

    app: FastAPI
    port: int
    loop: asyncio.AbstractEventLoop

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(self.url + path, params=params, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = httpx.post(self.url + path, json=body, timeout=30)
        assert response.status_code < 300, response.text
        return response.json()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    root = tmp_path_factory.mktemp("demo")
    settings = Settings(
        db_path=root / "demo.duckdb",
        archive_dir=root / "archive",
        sim=SimSettings(enabled=True, speed=DEMO_SPEED, tick_ms=50),
        service=ServiceSettings(dev_mode=True),
    )
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), "the demo did not start", 60)
        assert server.started, "the demo service failed to start"
        port = server.servers[0].sockets[0].getsockname()[1]
        running = DemoServer(app=app, port=port, loop=loop)
        # the market exists: an alert episode of an underlying is in the table
        poll(lambda: _alert_rows(running), "no alert with an underlying in 180 s", 180)
        yield running
    finally:
        server.should_exit = True
        thread.join(timeout=90)
        if not thread.is_alive():
            loop.close()


def poll(condition: Any, message: str, timeout: float, every: float = 0.5) -> None:
    """Check ``condition`` every ``every`` seconds until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(every)


def _alert_rows(demo: DemoServer) -> bool:
    try:
        body = httpx.get(demo.url + "/api/charts/alerts", timeout=30).json()
    except httpx.HTTPError:
        return False
    table = body.get("panels", [{}])[0].get("table", {})
    column = table.get("columns", []).index("underlying") if table.get("columns") else None
    return column is not None and any(row[column] for row in table["rows"])
