"""The generic websocket feed session: connect, subscribe, read, reconnect. Venue-agnostic.

For every frame: stamp ``ts_recv``, archive the raw frame *first* (hostile ones too),
run :func:`~divergence.feeds.process.process_frame`, publish ``events`` and
``quarantine`` on the bus, update :class:`FeedStats`. On a disconnect, an error or a
socket that stays silent for ``silence_timeout_s``, it logs, counts and reconnects with
capped exponential backoff with jitter, then resubscribes. Venue specifics live in the
adapter only; this module never names a venue.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from divergence.bus import Bus
from divergence.catalog import Venue
from divergence.clock import now_ns
from divergence.events import Event
from divergence.feeds.process import process_frame
from divergence.quarantine import QuarantineRecord
from divergence.store.archive import ArchiveWriter
from divergence.venues.registry import Adapter

log = logging.getLogger(__name__)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class FeedStats:
    """Counters of one feed, as shown by ``/health``."""

    connected: bool = False
    connects: int = 0
    frames: int = 0
    events: int = 0
    quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    reconnects: int = 0
    last_frame_ns: int | None = None
    last_event_ts: int | None = None
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def backoff_delay(attempt: int, *, initial: float, maximum: float, rng: random.Random) -> float:
    """Seconds to wait before reconnect ``attempt`` (0-based): capped exponential, jittered.

    The ceiling doubles from ``initial`` up to ``maximum``; the delay is drawn uniformly
    from the upper half of it ("equal jitter"), so it is never zero and feeds that
    dropped together do not reconnect in lockstep.
    """
    ceiling = min(maximum, initial * float(1 << min(attempt, 62)))
    return ceiling / 2 + rng.uniform(0.0, ceiling / 2)


class FeedSession:
    """One venue's websocket, kept open until cancelled."""

    def __init__(
        self,
        venue: Venue,
        adapter: Adapter,
        url: str,
        bus: Bus,
        archive: ArchiveWriter | None,
        *,
        backoff_initial_s: float = 0.25,
        backoff_max_s: float = 30.0,
        silence_timeout_s: float | None = 60.0,
        max_frame_bytes: int = 4 * 2**20,
        rng: random.Random | None = None,
    ) -> None:
        self.venue = venue
        self.adapter = adapter
        self.url = url
        self.bus = bus
        self.archive = archive
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.silence_timeout_s = silence_timeout_s
        self.max_frame_bytes = max_frame_bytes
        self.stats = FeedStats()
        self._rng = rng or random.Random()
        self._changed = asyncio.Event()
        self._extra = {"venue": venue.id}

    async def run(self) -> None:
        """Stream until cancelled; no frame and no connection error ends the loop."""
        attempt = 0
        while True:
            events_before = self.stats.events
            try:
                await self._connection()
            except (OSError, TimeoutError, WebSocketException) as exc:
                self._lost(exc)
            except Exception as exc:  # a bug must not end the feed either
                log.exception("feed failed unexpectedly", extra=self._extra)
                self._lost(exc)
            attempt = 0 if self.stats.events > events_before else attempt + 1
            delay = backoff_delay(
                attempt, initial=self.backoff_initial_s, maximum=self.backoff_max_s, rng=self._rng
            )
            log.info("reconnecting", extra={**self._extra, "delay_s": round(delay, 3)})
            await asyncio.sleep(delay)
            self.stats.reconnects += 1
            self._notify()

    async def wait_for(self, predicate: Callable[[FeedStats], bool], *, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until ``predicate(stats)`` holds; TimeoutError (with the stats) otherwise."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate(self.stats):
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"condition not met within {timeout} s: {self.stats}") from None

    async def _connection(self) -> None:
        async with connect(
            self.url,
            max_size=self.max_frame_bytes,
            proxy=None if urlsplit(self.url).hostname in LOOPBACK_HOSTS else True,
            open_timeout=10,
        ) as ws:
            for message in self.adapter.subscribe_messages():
                await ws.send(message)
            self.stats.connected = True
            self.stats.connects += 1
            self._notify()
            log.info("feed connected", extra={**self._extra, "url": self.url})
            await self._read(ws)

    async def _read(self, ws: ClientConnection) -> None:
        while True:
            if self.silence_timeout_s is None:
                frame = await ws.recv()
            else:
                try:
                    async with asyncio.timeout(self.silence_timeout_s):
                        frame = await ws.recv()
                except TimeoutError:
                    raise TimeoutError(f"no frame for {self.silence_timeout_s} s") from None
            await self._handle(frame)

    async def _handle(self, frame: str | bytes) -> None:
        ts_recv = now_ns()
        if self.archive is not None:
            self.archive.write(ts_recv=ts_recv, venue=self.venue.id, frame=frame)
        events, rejects = process_frame(
            self.adapter, venue=self.venue.id, frame=frame, ts_recv=ts_recv
        )
        if events:
            await self.bus.publish("events", events)
        if rejects:
            await self.bus.publish("quarantine", rejects)
            self._log_rejects(rejects)
        self._count(ts_recv, events, rejects)

    def _count(self, ts_recv: int, events: list[Event], rejects: list[QuarantineRecord]) -> None:
        stats = self.stats
        stats.frames += 1
        stats.last_frame_ns = ts_recv
        stats.events += len(events)
        if events:
            latest = max(e.ts_event for e in events)
            stats.last_event_ts = max(latest, stats.last_event_ts or latest)
        stats.quarantined += len(rejects)
        for record in rejects:
            stats.quarantine_reasons[record.reason] = (
                stats.quarantine_reasons.get(record.reason, 0) + 1
            )
        self._notify()

    def _log_rejects(self, rejects: list[QuarantineRecord]) -> None:
        for record in rejects:
            log.warning(
                "frame quarantined",
                extra={**self._extra, "reason": record.reason, "detail": record.detail[:200]},
            )

    def _lost(self, exc: BaseException) -> None:
        self.stats.connected = False
        self.stats.last_error = f"{type(exc).__name__}: {exc}"[:500]
        self._notify()
        log.warning("feed disconnected", extra={**self._extra, "error": self.stats.last_error})

    def _notify(self) -> None:
        """Wake every :meth:`wait_for` (they re-check their predicate)."""
        self._changed.set()
        self._changed = asyncio.Event()
