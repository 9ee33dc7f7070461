"""The generic websocket feed session: one venue's socket, kept healthy. Venue-agnostic.

SESSION_API_V2. What one :class:`FeedSession` does, for any adapter:

- **connect and subscribe**: the adapter's ``subscribe_messages()`` (already chunked to the
  venue's topic limit) after every connect, so a reconnect resubscribes everything;
- **ping**: the adapter's application ping every ``ping_interval_s`` (the transport's
  own keepalive runs underneath, in ``websockets``);
- **reconnect** with capped exponential backoff and jitter (:func:`backoff_delay`);
- **per frame**: stamp ``ts_recv``, archive the raw frame *first* (hostile ones too), run
  the :class:`~divergence.feeds.pipeline.FramePipeline` (parse, checks, books, dedupe),
  publish events (feed events included) and quarantine records on the bus, and resync any
  book that became INVALID by sending the adapter's ``resync_messages(stream)``;
- **silent socket**: no frame at all (data, heartbeat or ping reply) for
  ``silence_timeout_s`` -> a ``silent`` feed event, close, reconnect;
- **stale streams** (separate from the socket): each stream learns its inter-message gap;
  silence beyond ``clamp(stale_factor x learned gap, session floor, stale_max_s)`` marks
  it ``stale`` (a feed event), and the stream is resubscribed; its next message records
  ``fresh`` with the stale duration;
- **backpressure**: publishing waits when the writer's bounded queue is full (nothing is
  dropped, memory stays bounded, and the socket's own buffer pushes back on the venue);
  a wait longer than ``queue_warn_ms`` is recorded as a ``backpressure`` feed event.

Every connect, disconnect, gap, checksum mismatch, resync, stale period and quarantine
becomes a :class:`~divergence.events.FeedEvent` on the ``events`` topic, which the writer
stores in ``feed_events``; :class:`FeedStats` is the live view for ``/api/feeds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from divergence.bus import Bus
from divergence.catalog import Venue
from divergence.clock import NS_PER_SECOND, WALL_CLOCK, FeedClock, now_ns
from divergence.errors import VenueRejectedError
from divergence.events import Event, FeedEvent, FeedEventKind, feed_event
from divergence.feeds.books import BookStatus
from divergence.feeds.health import FeedStats, StreamStats
from divergence.feeds.pipeline import FramePipeline, PipelineOutput
from divergence.sessions import default_calendar, session_at
from divergence.settings import VenueSettings
from divergence.store.archive import ArchiveWriter
from divergence.venues.contract import DEFAULT_STALE_MIN_S, split_stream, stream_of
from divergence.venues.registry import Adapter

log = logging.getLogger(__name__)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_WARN_EVERY_S = 10.0
"""At most one backpressure feed event per this many seconds."""


def backoff_delay(attempt: int, *, initial: float, maximum: float, rng: random.Random) -> float:
    """Seconds to wait before reconnect ``attempt`` (0-based): capped exponential, jittered.

    The ceiling doubles from ``initial`` up to ``maximum``; the delay is drawn uniformly
    from the upper half of it ("equal jitter"), so it is never zero and feeds that
    dropped together do not reconnect in lockstep.
    """
    ceiling = min(maximum, initial * float(1 << min(attempt, 62)))
    return ceiling / 2 + rng.uniform(0.0, ceiling / 2)


_MIN_WATCHDOG_TICK_S = 0.02
"""The watchdog's shortest wall-clock sleep (a fast simulator clock asks for less)."""
_RESOLUTION_STEPS = 3
"""A stream is never stale before this many steps of a stepping feed clock (the sim)."""


class SilentSocket(Exception):
    """No frame at all arrived for ``silence_timeout_s`` on an open socket."""


class FeedSession:
    """One venue's websocket, kept open and healthy until cancelled."""

    def __init__(
        self,
        venue: Venue,
        adapter: Adapter,
        url: str,
        bus: Bus,
        archive: ArchiveWriter | None,
        settings: VenueSettings | None = None,
        *,
        rng: random.Random | None = None,
        clock: FeedClock = WALL_CLOCK,
    ) -> None:
        self.venue = venue
        self.clock = clock
        self.adapter = adapter
        self.url = url
        self.bus = bus
        self.archive = archive
        self.settings = settings or VenueSettings()
        self.pipeline = FramePipeline(adapter, venue.id)
        self.stats = FeedStats(streams={s: StreamStats() for s in adapter.streams()})
        self.ping_interval_s = self.settings.ping_interval_s or adapter.spec.ping_interval_s
        self._rng = rng or random.Random()
        self._changed = asyncio.Event()
        self._extra = {"venue": venue.id}
        self._ws: ClientConnection | None = None
        self._connected_ns = 0
        self._last_warn = 0.0

    # ---------------------------------------------------------------- public
    async def run(self) -> None:
        """Stream until cancelled; no frame and no connection error ends the loop."""
        # The watchdog labels silence by market session; building the calendar takes about a
        # second, which must not happen on the event loop inside a stale check.
        await asyncio.to_thread(default_calendar)
        attempt = 0
        while True:
            events_before = self.stats.events
            retry_after = 0.0
            try:
                await self._connection()
            except asyncio.CancelledError:
                raise
            except VenueRejectedError as exc:
                await self._rejected(exc)
                if exc.fatal:
                    return
                retry_after = exc.retry_after_s
            except (OSError, TimeoutError, WebSocketException, SilentSocket) as exc:
                await self._lost(exc)
            except Exception as exc:  # a bug must not end the feed either
                log.exception("feed failed unexpectedly", extra=self._extra)
                await self._lost(exc)
            attempt = 0 if self.stats.events > events_before else attempt + 1
            delay = backoff_delay(
                attempt,
                initial=self.settings.backoff_initial_s,
                maximum=self.settings.backoff_max_s,
                rng=self._rng,
            )
            delay = max(delay, retry_after)
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

    def book_status(self, symbol: str) -> BookStatus | None:
        return self.pipeline.books.status(symbol)

    # ------------------------------------------------------------ connection
    async def _connection(self) -> None:
        try:
            ws = await connect(
                self.url,
                max_size=self.settings.max_frame_bytes,
                proxy=None if urlsplit(self.url).hostname in LOOPBACK_HOSTS else True,
                open_timeout=10,
            )
        except (OSError, TimeoutError, WebSocketException):
            self.stats.connect_failures += 1
            raise
        try:
            await self._opened(ws)
            helpers = [asyncio.create_task(self._watchdog(ws))]
            if self.adapter.spec.ping_message and self.ping_interval_s:
                helpers.append(asyncio.create_task(self._pinger(ws, self.ping_interval_s)))
            try:
                await self._read(ws)
            finally:
                for task in helpers:
                    task.cancel()
                for task in helpers:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
        finally:
            self._ws = None
            with contextlib.suppress(Exception):
                await asyncio.shield(ws.close())
            ws.transport.abort()

    async def _opened(self, ws: ClientConnection) -> None:
        ts = self.clock.now_ns()
        resets = self.pipeline.connection_reset(ts, "new connection")
        for message in self.adapter.subscribe_messages():
            await ws.send(message)
        self._ws = ws
        self._connected_ns = ts
        stats = self.stats
        outage = (ts - stats.down_since_ns) / NS_PER_SECOND if stats.down_since_ns else 0.0
        detail = self.url
        if stats.down_since_ns:
            detail += f"; down {outage:.3f} s, {stats.connect_failures} failed attempts"
        stats.state, stats.down_since_ns = "up", None
        stats.connects += 1
        for stream in stats.streams.values():
            stream.state = "waiting"
            stream.stale_since_ns = None
        await self._publish([*resets, self._event(ts, "", "connect", detail, outage)])
        log.info("feed connected", extra={**self._extra, "url": self.url})

    async def _read(self, ws: ClientConnection) -> None:
        timeout = self.settings.silence_timeout_s
        while True:
            try:
                async with asyncio.timeout(timeout):
                    frame = await ws.recv()
            except TimeoutError:
                self.stats.silent_restarts += 1
                await self._publish(
                    [
                        self._event(
                            self.clock.now_ns(), "", "silent", f"no frame for {timeout} s", timeout
                        )
                    ]
                )
                raise SilentSocket(f"no frame for {timeout} s") from None
            await self._handle(frame)

    async def _pinger(self, ws: ClientConnection, interval: float) -> None:
        message = self.adapter.spec.ping_message
        assert message is not None
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(ConnectionClosed):
                await ws.send(message)

    # ----------------------------------------------------------------- frames
    async def _handle(self, frame: str | bytes) -> None:
        ts_recv = now_ns()
        if self.archive is not None:
            self.archive.write(ts_recv=ts_recv, venue=self.venue.id, frame=frame)
        out = self.pipeline.process(frame, ts_recv=ts_recv)
        extra = self._track(self.clock.now_ns(), out)
        if extra:
            out.events.extend(extra)
        if out.events:
            await self._publish(out.events)
        if out.rejects:
            await self.bus.publish("quarantine", out.rejects)
            self._log_rejects(out)
        for stream in out.resync:
            await self._resync(stream, "book invalid")
        self._notify()

    def _track(self, ts_recv: int, out: PipelineOutput) -> list[Event]:
        """Update counters and stream states (``ts_recv`` on the feed clock); returns
        ``fresh`` events to publish."""
        stats = self.stats
        stats.frames += 1
        stats.last_frame_ns = ts_recv
        stats.quarantined += len(out.rejects)
        for record in out.rejects:
            stats.quarantine_reasons[record.reason] = (
                stats.quarantine_reasons.get(record.reason, 0) + 1
            )
        seen: set[str] = set()
        fresh: list[Event] = []
        for event in out.events:
            if isinstance(event, FeedEvent):
                self._count_feed_event(event)
                continue
            stats.events += 1
            stats.last_event_ts = max(event.ts_event, stats.last_event_ts or 0)
            stream = stream_of(event)
            if stream is None or stream in seen:
                continue
            seen.add(stream)
            fresh.extend(self._message(stream, ts_recv))
        return fresh

    def _message(self, stream: str, ts_recv: int) -> list[Event]:
        state = self.stats.streams.get(stream)
        if state is None:  # a stream the adapter did not declare: watch it anyway
            state = self.stats.streams[stream] = StreamStats()
        was_stale_since = state.stale_since_ns if state.state == "stale" else None
        state.observe(ts_recv, self.clock.rate())
        events: list[Event] = []
        if was_stale_since is not None:
            seconds = (ts_recv - was_stale_since) / NS_PER_SECOND
            events.append(
                self._event(ts_recv, stream, "fresh", f"stale for {seconds:.3f} s", seconds)
            )
        channel, symbol = split_stream(stream)
        invalid = channel == "book" and self.book_status(symbol) is not BookStatus.VALID
        state.state = "invalid" if invalid else "live"
        return events

    def _count_feed_event(self, event: FeedEvent) -> None:
        stats = self.stats
        if event.event == "gap":
            stats.gaps += 1
        elif event.event == "checksum_mismatch":
            stats.checksum_mismatches += 1
        elif event.event == "resync":
            stats.resyncs += 1
        if event.event in ("book_invalid", "resync") and event.stream in stats.streams:
            stream = stats.streams[event.stream]
            stream.state = "invalid" if event.event == "book_invalid" else "live"

    # ---------------------------------------------------------------- watchdog
    async def _watchdog(self, ws: ClientConnection) -> None:
        """Check every stream's silence against its threshold, at least four times per
        shortest floor of feed-clock time (wall time divided by the clock's rate)."""
        floors = [self._floor(name) for name in self.stats.streams] or [DEFAULT_STALE_MIN_S]
        tick = min(1.0, min(floors) / 4)
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(_MIN_WATCHDOG_TICK_S, tick / max(self.clock.rate(), 1e-9)))
            now = self.clock.now_ns()
            session = session_at(now)
            for name, stream in self.stats.streams.items():
                stream.sample_rate(loop.time())
                if stream.state == "stale":
                    continue
                last = stream.last_recv_ns or self._connected_ns
                silent_s = (now - last) / NS_PER_SECOND
                limit = max(
                    stream.threshold_s(
                        self.settings, session, self._floor(name), self.clock.rate()
                    ),
                    _RESOLUTION_STEPS * self.clock.resolution_s(),
                )
                if silent_s <= limit:
                    continue
                stream.state = "stale"
                stream.stale_since_ns = last
                stream.stale_periods += 1
                self.stats.stale_periods += 1
                detail = f"silent {silent_s:.3f} s > {limit:.3f} s ({session} session)"
                await self._publish([self._event(now, name, "stale", detail, silent_s)])
                log.warning("stream stale", extra={**self._extra, "stream": name})
                if self.settings.resubscribe_stale:
                    await self._resync(name, "stale")
                self._notify()

    def _floor(self, stream: str) -> float:
        channel, _ = split_stream(stream)
        return self.settings.stale_min_s or self.adapter.spec.stale_min_s.get(
            channel, DEFAULT_STALE_MIN_S
        )

    async def _resync(self, stream: str, why: str) -> None:
        ws = self._ws
        if ws is None:
            return
        messages = self.adapter.resync_messages(stream)
        log.info("resubscribing stream", extra={**self._extra, "stream": stream, "why": why})
        with contextlib.suppress(ConnectionClosed):
            for message in messages:
                await ws.send(message)

    # ------------------------------------------------------------------ output
    async def _publish(self, events: list[Event]) -> None:
        started = time.monotonic()
        await self.bus.publish("events", events)
        waited = time.monotonic() - started
        if waited * 1000 < self.settings.queue_warn_ms:
            return
        self.stats.backpressure_s += waited
        if started - self._last_warn >= _WARN_EVERY_S:
            self._last_warn = started
            detail = f"publish waited {waited:.3f} s for the writer's queue"
            log.warning("backpressure", extra={**self._extra, "waited_s": round(waited, 3)})
            await self.bus.publish(
                "events", [self._event(self.clock.now_ns(), "", "backpressure", detail, waited)]
            )

    async def _lost(self, exc: BaseException) -> None:
        stats = self.stats
        was_up = stats.connected
        stats.state = "down"
        stats.last_error = _describe(exc)
        self._ws = None
        ts = self.clock.now_ns()
        if was_up:
            stats.disconnects += 1
            stats.down_since_ns = ts
            stats.connect_failures = 0
            await self._publish([self._event(ts, "", "disconnect", stats.last_error)])
            log.warning("feed disconnected", extra={**self._extra, "error": stats.last_error})
        elif stats.down_since_ns is None:
            stats.down_since_ns = ts
        self._notify()

    async def _rejected(self, exc: VenueRejectedError) -> None:
        """The venue refused the session: record it; a fatal refusal ends the feed."""
        await self._lost(exc)
        ts = self.clock.now_ns()
        what = "stopped" if exc.fatal else f"next attempt in >= {exc.retry_after_s:g} s"
        detail = f"{exc.message}; {what}"
        await self._publish([self._event(ts, "", "rejected", detail, exc.retry_after_s)])
        log.error("venue rejected the session", extra={**self._extra, "error": detail})
        if exc.fatal:
            self.stats.state = "rejected"
            self._notify()

    def _log_rejects(self, out: PipelineOutput) -> None:
        for record in out.rejects:
            log.warning(
                "frame quarantined",
                extra={**self._extra, "reason": record.reason, "detail": record.detail[:200]},
            )

    def _event(
        self, ts: int, stream: str, kind: FeedEventKind, detail: str, value: float = 0.0
    ) -> FeedEvent:
        return feed_event(self.venue.id, ts, stream, kind, detail, value)

    def _notify(self) -> None:
        """Wake every :meth:`wait_for` (they re-check their predicate)."""
        self._changed.set()
        self._changed = asyncio.Event()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionClosed) and exc.rcvd is not None:
        frame = exc.rcvd
        return f"{type(exc).__name__}: close {frame.code} {frame.reason}"[:500]
    if isinstance(exc, ConnectionClosed) and exc.sent is not None:
        frame = exc.sent
        return f"{type(exc).__name__}: we closed {frame.code} {frame.reason}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]
