"""A real FeedSession against a venue's local protocol server, for the fault tests.

Importable from every venue test folder (``pythonpath = ["tests"]`` in pyproject):
``from venues.feed_harness import FAST, FeedHarness, running_feed``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from divergence.bus import InProcessBus, Subscription
from divergence.catalog import Venue
from divergence.events import Event, FeedEvent
from divergence.feeds.books import BookStatus
from divergence.feeds.health import FeedStats
from divergence.feeds.session import FeedSession
from divergence.settings import VenueSettings
from divergence.venues.registry import Adapter

FAST = {
    "silence_timeout_s": 1.0,
    "stale_min_s": 0.5,
    "backoff_initial_s": 0.05,
    "backoff_max_s": 0.2,
}
"""Settings that make faults show within a second or two."""


@dataclass
class FeedHarness:
    server: Any
    session: FeedSession
    sub: Subscription
    symbols: tuple[str, ...]
    seen: list[Event] = field(default_factory=list)

    def drain(self) -> list[Event]:
        while not self.sub.queue.empty():
            self.seen.extend(self.sub.queue.get_nowait())
        return self.seen

    def feed(self, kind: str, stream: str | None = None) -> list[FeedEvent]:
        return [
            e
            for e in self.drain()
            if isinstance(e, FeedEvent)
            and e.event == kind
            and (stream is None or e.stream == stream)
        ]

    def books_valid(self) -> bool:
        return all(self.session.book_status(s) is BookStatus.VALID for s in self.symbols)

    async def until(self, predicate: Callable[[FeedStats], bool], timeout: float = 10) -> None:  # noqa: ASYNC109
        await self.session.wait_for(predicate, timeout=timeout)


@contextlib.asynccontextmanager
async def running_feed(
    server: Any,
    venue: Venue,
    adapter: Adapter,
    settings: VenueSettings,
    symbols: tuple[str, ...],
) -> AsyncIterator[FeedHarness]:
    """Start ``server`` streaming and a session on it; yields once every book is VALID."""
    await server.start()
    server.start_streaming()
    bus = InProcessBus()
    sub = bus.subscribe("events", maxsize=100_000)
    session = FeedSession(venue, adapter, server.url, bus, None, settings=settings)
    task = asyncio.create_task(session.run())
    harness = FeedHarness(server, session, sub, symbols)
    try:
        await harness.until(lambda st: st.connects >= 1 and harness.books_valid())
        yield harness
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await server.stop()
