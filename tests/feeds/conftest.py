"""A real simulator on 127.0.0.1 and a bus collector for the feed tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from divergence.bus import InProcessBus
from divergence.catalog import Catalog
from divergence.settings import SimSettings
from divergence.sim.server import SimServer


class Collector:
    """Everything published on ``events`` and ``quarantine``, awaitable by condition."""

    def __init__(self, bus: InProcessBus) -> None:
        self.events: list[Any] = []
        self.records: list[Any] = []
        self._subs = [bus.subscribe("events"), bus.subscribe("quarantine")]
        self._changed = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._pump(self._subs[0], self.events)),
            asyncio.create_task(self._pump(self._subs[1], self.records)),
        ]

    async def _pump(self, sub: Any, into: list[Any]) -> None:
        async for items in sub:
            into.extend(items)
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait(self, predicate: Callable[[Collector], bool]) -> None:
        """Wait (at most 10 s) until ``predicate(self)`` holds."""
        async with asyncio.timeout(10):
            while not predicate(self):
                await self._changed.wait()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
async def bus() -> InProcessBus:
    return InProcessBus()


@pytest.fixture
async def collector(bus: InProcessBus) -> AsyncIterator[Collector]:
    c = Collector(bus)
    yield c
    await c.close()


@pytest.fixture
def sim_settings() -> SimSettings:
    return SimSettings(speed=50, tick_ms=20, seed=21)


@pytest.fixture
async def sim(sim_settings: SimSettings, catalog: Catalog) -> AsyncIterator[SimServer]:
    server = SimServer(sim_settings, catalog)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def background() -> AsyncIterator[Any]:
    """``start(coro)`` runs a task for the test and cancels it afterwards."""
    tasks: list[asyncio.Task[Any]] = []

    def start(coro: Any) -> asyncio.Task[Any]:
        tasks.append(asyncio.create_task(coro))
        return tasks[-1]

    yield start
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
