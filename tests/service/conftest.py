"""Service fixtures: a seeded DuckDB file behind a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from harness import RunningServer, StandInRuntime, make_runtime, running_server


@pytest.fixture
def runtime(tmp_path: Path) -> StandInRuntime:
    return make_runtime(tmp_path)


@pytest.fixture
def server(runtime: StandInRuntime) -> Iterator[RunningServer]:
    with running_server(runtime) as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http
