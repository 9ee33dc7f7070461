"""The batch writer: events from the bus to DuckDB, flushed on size or age.

There are no per-row INSERTs. Each flush converts the buffered events to one polars
frame per table and appends it, advances ``venue_clock`` and commits, all in one
transaction; then it publishes the highest ``ingest_seq`` on the ``flushed`` topic so
jobs can react to new data instead of polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from divergence.bus import Bus, Subscription
from divergence.clock import now_ns
from divergence.events import Event, FeedEvent, Heartbeat
from divergence.quarantine import QuarantineRecord
from divergence.settings import WriterSettings
from divergence.store.db import AsyncStore, Store
from divergence.store.frames import TABLE_OF, TS, frame_for, quarantine_frame

log = logging.getLogger(__name__)


COMMIT_LOG_KEPT = 100_000


@dataclass
class WriterStats:
    rows_written: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    flushes: int = 0
    last_seq: int = 0
    commit_log: deque[tuple[int, int]] = field(
        default_factory=lambda: deque(maxlen=COMMIT_LOG_KEPT)
    )
    """(highest ingest_seq, commit time ns) of recent flushes: commit latency per row."""


class EventWriter:
    """Consumes ``events`` and ``quarantine`` from the bus; owns the ingest_seq counter."""

    def __init__(self, store: AsyncStore, bus: Bus, settings: WriterSettings) -> None:
        self._store = store
        self._bus = bus
        self._settings = settings
        self._events: Subscription = bus.subscribe("events", maxsize=settings.queue_max)
        self._quarantine: Subscription = bus.subscribe("quarantine", maxsize=settings.queue_max)
        self._buffer: list[Event] = []
        self._rejects: list[QuarantineRecord] = []
        self._first_buffered = 0.0
        self._has_data = asyncio.Event()
        self._full = asyncio.Event()
        self.stats = WriterStats()
        self.ready = asyncio.Event()

    async def run(self) -> None:
        """Run until cancelled; on cancellation, drain the queues and flush what is left."""
        seq_text = self._store.store.sql_text("max_ingest_seq")
        start = await self._store.read(lambda s: s.query(seq_text))
        self.stats.last_seq = int(start["max_seq"][0])
        self.ready.set()
        pumps = [
            asyncio.create_task(self._pump(self._events, "_buffer")),
            asyncio.create_task(self._pump(self._quarantine, "_rejects")),
        ]
        inflight: asyncio.Task[int] | None = None
        try:
            while True:
                await self._wait_for_flush()
                # A flush runs as its own task: cancelling the writer must not abandon a
                # commit that is still running on the DuckDB thread.
                inflight = asyncio.create_task(self.flush())
                await asyncio.shield(inflight)
        except asyncio.CancelledError:
            for task in pumps:
                task.cancel()
            if inflight is not None:
                await inflight
            self._drain()
            await self.flush()
            raise

    async def _pump(self, sub: Subscription, buffer: str) -> None:
        async for items in sub:
            if not self._pending():
                self._first_buffered = time.monotonic()
                self._has_data.set()
            target: list[Any] = getattr(self, buffer)
            target.extend(items)
            if self._pending() >= self._settings.flush_rows:
                self._full.set()

    def _pending(self) -> int:
        return len(self._buffer) + len(self._rejects)

    def _drain(self) -> None:
        for sub, buffer in ((self._events, "_buffer"), (self._quarantine, "_rejects")):
            while not sub.queue.empty():
                getattr(self, buffer).extend(sub.queue.get_nowait())

    async def _wait_for_flush(self) -> None:
        await self._has_data.wait()
        remaining = self._settings.flush_ms / 1000 - (time.monotonic() - self._first_buffered)
        if remaining > 0 and self._pending() < self._settings.flush_rows:
            self._full.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), remaining)

    async def flush(self) -> int:
        """Write everything buffered now; returns the highest ingest_seq committed."""
        events, rejects = self._buffer, self._rejects
        if not events and not rejects:
            return self.stats.last_seq
        self._buffer, self._rejects = [], []
        self._has_data.clear()
        first = self.stats.last_seq + 1
        tables, clock, last = build_batch(events, rejects, first_seq=first, ts_ingest=now_ns())
        upsert = self._store.store.sql_text("upsert_venue_clock")
        await self._store.write(lambda s: _commit(s, tables, clock, upsert))
        self.stats.last_seq = last
        self.stats.flushes += 1
        self.stats.commit_log.append((last, now_ns()))
        for table, frame in tables.items():
            self.stats.rows_written[table] += frame.height
        await self._bus.publish("flushed", last)
        return last


def build_batch(
    events: list[Event], rejects: list[QuarantineRecord], *, first_seq: int, ts_ingest: int
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame, int]:
    """Group a batch by table, number it, and compute each venue's clock advance (pure)."""
    groups: dict[type, list[Event]] = defaultdict(list)
    clock: dict[str, tuple[int, int]] = {}
    for event in events:
        if not isinstance(event, Heartbeat):
            groups[type(event)].append(event)
        if isinstance(event, FeedEvent):  # local time, not the venue's clock
            continue
        ts_event, ts_recv = clock.get(event.venue, (event.ts_event, event.ts_recv))
        clock[event.venue] = (max(ts_event, event.ts_event), max(ts_recv, event.ts_recv))
    tables: dict[str, pl.DataFrame] = {}
    seq = first_seq
    for kind, batch in groups.items():
        tables[TABLE_OF[kind]] = frame_for(kind, batch, ts_ingest=ts_ingest, first_seq=seq)
        seq += len(batch)
    if rejects:
        tables["quarantine"] = quarantine_frame(rejects, ts_ingest=ts_ingest, first_seq=seq)
        seq += len(rejects)
    last = seq - 1
    clock_frame = pl.DataFrame(
        {
            "venue": list(clock),
            "ts_event_max": [v[0] for v in clock.values()],
            "ts_recv_max": [v[1] for v in clock.values()],
            "ingest_seq": [last] * len(clock),
        },
        schema={
            "venue": pl.String,
            "ts_event_max": pl.Int64,
            "ts_recv_max": pl.Int64,
            "ingest_seq": pl.Int64,
        },
    ).with_columns(pl.col("ts_event_max").cast(TS), pl.col("ts_recv_max").cast(TS))
    return tables, clock_frame, last


def _commit(
    store: Store, tables: dict[str, pl.DataFrame], clock: pl.DataFrame, upsert: str
) -> None:
    cur = store.cursor()
    cur.execute("BEGIN")
    try:
        for table, frame in tables.items():
            store.append(table, frame)
        if clock.height:
            cur.register("_clock", clock.to_arrow())
            cur.execute(upsert)
            cur.unregister("_clock")
        cur.execute("COMMIT")
    except Exception:
        cur.execute("ROLLBACK")
        raise
