"""Replay a raw-frame archive through the same parsers, writer and basis job as live.

``divergence replay FILE`` builds a runtime without feeds or simulator, feeds every
archived frame through its venue's :class:`~divergence.feeds.pipeline.FramePipeline` (what
the live feeds run: parse, checks, books, dedupe), and lets the writer and the basis job
do the rest. Connection-level feed events (connect, stale, silent) are not in the
archive, which holds frames only; the book and quarantine events are reproduced.
With ``speed`` > 0 the original receive-time gaps are reproduced, divided by ``speed``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from divergence.clock import NS_PER_SECOND
from divergence.errors import ConfigError, VenueRejectedError
from divergence.events import feed_event
from divergence.feeds.pipeline import FramePipeline
from divergence.runtime import Runtime
from divergence.settings import Settings
from divergence.store.archive import read_archive
from divergence.venues.registry import Adapter, load_adapter

log = logging.getLogger(__name__)


@dataclass
class ReplayStats:
    frames: int = 0
    events: int = 0
    quarantined: int = 0
    basis_rows: int = 0


async def run_replay(
    settings: Settings,
    path: Path,
    *,
    speed: float = 0.0,
    progress: Callable[[int], None] | None = None,
) -> ReplayStats:
    """Replay ``path`` into ``settings.db_path``; returns what was processed.

    Call :func:`check_archive` first: it fails fast, before a database is touched.
    """
    replay_settings = settings.model_copy(
        update={"feeds": (), "sim": settings.sim.model_copy(update={"enabled": False})}
    )
    runtime = Runtime(replay_settings)
    await runtime.start()
    stats = ReplayStats()
    pipelines: dict[str, FramePipeline] = {}
    first_recv: int | None = None
    started = time.monotonic()
    try:
        for record in read_archive(path):
            pipeline = pipelines.get(record.venue) or _pipeline(runtime, record.venue, pipelines)
            if speed > 0:
                first_recv = record.ts_recv if first_recv is None else first_recv
                due = (record.ts_recv - first_recv) / NS_PER_SECOND / speed
                delay = due - (time.monotonic() - started)
                if delay > 0:
                    await asyncio.sleep(delay)
            try:
                out = pipeline.process(record.payload(), ts_recv=record.ts_recv)
            except VenueRejectedError as exc:  # recorded as live did; the archive goes on
                rejected = feed_event(
                    record.venue, record.ts_recv, "", "rejected", exc.message, exc.retry_after_s
                )
                await runtime.bus.publish("events", [rejected])
                stats.frames += 1
                continue
            events, rejects = out.events, out.rejects
            if events:
                await runtime.bus.publish("events", events)
            if rejects:
                await runtime.bus.publish("quarantine", rejects)
            stats.frames += 1
            stats.events += len(events)
            stats.quarantined += len(rejects)
            if progress is not None:
                progress(1)
    finally:
        await runtime.stop()
    stats.basis_rows = runtime.basis_job.stats.rows_written
    log.info("replay finished", extra={"path": str(path), "frames": stats.frames})
    return stats


def check_archive(path: Path) -> None:
    if not path.is_file():
        raise ConfigError("archive file not found", key="FILE", source=str(path))


def _pipeline(runtime: Runtime, venue_id: str, cache: dict[str, FramePipeline]) -> FramePipeline:
    venue = runtime.catalog.venues.get(venue_id)
    if venue is None:
        raise ConfigError(
            f"archive has frames from venue {venue_id!r}, which the catalog does not declare",
            key="venue",
            source="catalog",
        )
    adapter: Adapter = load_adapter(venue.adapter)(venue, runtime.catalog)
    cache[venue_id] = FramePipeline(adapter, venue_id)
    return cache[venue_id]
