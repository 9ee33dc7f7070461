"""The runtime: one process owns the database and runs every stage on one asyncio loop.

Data flow (docs/architecture.md)::

    venue sockets -> FeedSession (archive raw frame, parse, check) -> bus "events"/"quarantine"
        -> EventWriter (batched appends, venue_clock) -> bus "flushed"
        -> BasisJob (incremental, exactly-once) -> basis table, bus "basis" -> live dashboard
        -> MetricsJob (windowed recompute behind the basis watermark) -> metric tables
        -> AlertsJob (alert engine at each second of the basis watermark) -> webhook outbox

``Runtime`` builds these from :class:`~divergence.settings.Settings`, starts them in
order (consumers before producers) and stops them in reverse, so that every frame
received before ``stop()`` is written and reflected in ``basis`` (and in the metric
tables as far as their lookahead allows).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import polars as pl

from divergence.bus import InProcessBus
from divergence.catalog import Catalog, load_catalog
from divergence.clock import WALL_CLOCK, FeedClock, now_ns
from divergence.content import default_catalog_path
from divergence.errors import ConfigError
from divergence.events import Event, FeedEvent
from divergence.export.config import export_root
from divergence.export.job import ExportJob
from divergence.feeds.discovery import discover_listings
from divergence.feeds.report import feed_report
from divergence.feeds.session import FeedSession
from divergence.jobs.alerts_job import AlertsJob
from divergence.jobs.basis_job import BasisJob
from divergence.jobs.depth_job import DepthJob, params_from_settings
from divergence.jobs.metrics_job import MetricsJob
from divergence.sessions import default_calendar
from divergence.settings import Settings, VenueSettings
from divergence.sim.clock import SimFeedClock
from divergence.sim.server import SimServer
from divergence.store.archive import ArchiveWriter
from divergence.store.db import AsyncStore, Store
from divergence.store.frames import TS
from divergence.store.writer import EventWriter
from divergence.venues.registry import load_adapter
from divergence.webhooks.manager import WebhookService

log = logging.getLogger(__name__)


class Runtime:
    """Every long-running part of a divergence process, wired from one Settings object."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalog: Catalog = load_catalog(settings.catalog_path or default_catalog_path())
        settings.db_path.parent.mkdir(parents=True, exist_ok=True)
        store = Store(settings.db_path, threads=settings.duckdb_threads)
        store.migrate()
        sync_catalog_tables(store, self.catalog)
        self.store = AsyncStore(store)
        self.bus = InProcessBus()
        self.writer = EventWriter(self.store, self.bus, settings.writer)
        self.basis_job = BasisJob(self.store, self.bus, self.catalog, settings.basis)
        self.metrics_job = MetricsJob(
            self.store, self.bus, self.catalog, settings.metrics, basis=settings.basis
        )
        self.depth_job = DepthJob(
            self.store,
            self.bus,
            self.catalog,
            params_from_settings(settings.depth),
            basis=settings.basis,
        )
        self.webhooks = WebhookService(self.store, settings.webhooks)
        # -- alerts (issue #6): rules load and check here, so a bad file stops start-up
        self.alerts_job = AlertsJob(
            self.store, settings.alerts, notifier=self.webhooks, bus=self.bus
        )
        # -- Parquet export (issue #7): hive-partitioned copy of the tables, refreshed
        self.export_job = ExportJob(
            self.store, settings.export, root=export_root(settings.export, settings.db_path)
        )
        self.sim: SimServer | None = None
        self.sim_clock: SimFeedClock | None = None
        self.archive: ArchiveWriter | None = None
        self.feeds: list[FeedSession] = []
        self._stages: list[asyncio.Task[None]] = []
        self._producers: list[asyncio.Task[None]] = []

    def feed_venues(self) -> list[str]:
        """The venues to stream: ``settings.feeds``, or every sim venue when the sim runs."""
        for venue_id in self.settings.venues:
            if venue_id not in self.catalog.venues:
                raise ConfigError(
                    f"unknown venue {venue_id!r} (known: {', '.join(self.catalog.venues)})",
                    key=f"venues.{venue_id}",
                    source="settings",
                )
        if self.settings.feeds:
            unknown = [v for v in self.settings.feeds if v not in self.catalog.venues]
            if unknown:
                raise ConfigError(
                    f"unknown venue {unknown[0]!r} (known: {', '.join(self.catalog.venues)})",
                    key="feeds",
                    source="settings",
                )
            return list(self.settings.feeds)
        if self.settings.sim.enabled:
            return [v.id for v in self.catalog.venue if v.adapter == "sim"]
        return []

    async def start(self) -> None:
        """Start consumers first (writer, basis and metrics jobs), then the simulator and
        the feeds."""
        self._stages = [
            asyncio.create_task(self.writer.run(), name="writer"),
            asyncio.create_task(self.basis_job.run(), name="basis-job"),
        ]
        if self.settings.metrics.enabled:
            self._stages.append(asyncio.create_task(self.metrics_job.run(), name="metrics-job"))
        if self.settings.depth.enabled:
            self._stages.append(asyncio.create_task(self.depth_job.run(), name="depth-job"))
        if self.settings.alerts.enabled:  # alerts (issue #6): after the metrics job
            self._stages.append(asyncio.create_task(self.alerts_job.run(), name="alerts-job"))
        self._stages.append(asyncio.create_task(self.webhooks.run(), name="webhooks"))
        if self.settings.export.enabled:  # Parquet export (issue #7)
            self._stages.append(asyncio.create_task(self.export_job.run(), name="export-job"))
        await self.writer.ready.wait()
        venues = self.feed_venues()
        if not venues:
            return
        self.archive = ArchiveWriter(self.settings.archive_dir)
        if self.settings.sim.enabled:
            self.sim = SimServer(self.settings.sim, self.catalog)
            self.sim_clock = SimFeedClock(self.sim)
            await self.sim.start()
        for venue_id in venues:
            self.feeds.append(self._feed_for(venue_id))
        self._producers = [
            asyncio.create_task(feed.run(), name=f"feed-{feed.venue.id}") for feed in self.feeds
        ]
        self._producers.append(asyncio.create_task(self._discover(), name="discovery"))
        self._producers.append(asyncio.create_task(self._watch_drops(), name="drop-watch"))
        if self.sim is not None:
            await self.sim.wait_subscribed(venues, timeout=10.0)
            self._producers.append(asyncio.create_task(self.sim.run(), name="simulator"))
        for task in self._stages + self._producers:
            task.add_done_callback(_report_failure)
        log.info("runtime started", extra={"feeds": ",".join(venues)})

    def _feed_for(self, venue_id: str) -> FeedSession:
        venue = self.catalog.venues[venue_id]
        adapter = load_adapter(venue.adapter)(venue, self.catalog)
        venue_settings = self.settings.venues.get(venue_id, VenueSettings())
        configure = getattr(adapter, "configure", None)
        if configure is not None:
            # Adapters that need credentials or a feed choice take them from settings and
            # raise a ConfigError naming venues.<id>.<key> when one is missing.
            configure(venue_settings)
        if venue.adapter == "sim":
            if self.sim is None:
                raise ConfigError(
                    f"venue {venue_id!r} needs the simulator; set sim.enabled = true",
                    key="feeds",
                    source="settings",
                )
            url = self.sim.url_for(venue_id)
        else:
            url = venue_settings.url or adapter.spec.url
        if not url:
            raise ConfigError(
                f"adapter {venue.adapter!r} has no default endpoint; set the websocket URL",
                key=f"venues.{venue_id}.url",
                source="settings",
            )
        # A simulated venue's health runs on the simulated market's clock (FeedClock).
        sim_clock = self.sim_clock if venue.adapter == "sim" else None
        clock: FeedClock = WALL_CLOCK if sim_clock is None else sim_clock
        feed = FeedSession(venue, adapter, url, self.bus, self.archive, venue_settings, clock=clock)
        if sim_clock is not None:
            sim_clock.attach(feed)
        return feed

    async def stop(self) -> None:
        """Stop producers, then flush the writer and bring ``basis`` up to date."""
        for task in self._producers:
            task.cancel()
        await _settle(self._producers)
        if self.sim is not None:
            await self.sim.stop()
        if self.archive is not None:
            self.archive.close()
        for task in self._stages:
            task.cancel()
        await _settle(self._stages)  # the writer flushes everything on cancellation
        await self.basis_job.step()
        if self.settings.metrics.enabled:
            await self.metrics_job.step()  # after the basis job: it reads the basis table
        if self.settings.depth.enabled:
            await self.depth_job.step()
        if self.settings.alerts.enabled:  # alerts (issue #6): one last step, after both
            await self.alerts_job.step()
        await self.store.write(lambda s: s.checkpoint())
        self.store.close()
        log.info("runtime stopped")

    async def _discover(self) -> None:
        """Fetch every feed's REST instrument list into ``venue_listings``, concurrently and
        beside the feeds (best effort: a slow or dead REST API never delays streaming)."""
        fetches = []
        for feed in self.feeds:
            venue_settings = self.settings.venues.get(feed.venue.id, VenueSettings())
            if venue_settings.discover:
                fetches.append(
                    discover_listings(
                        feed.venue, feed.adapter, self.catalog, rest_url=venue_settings.rest_url
                    )
                )
        frames = [frame for frame in await asyncio.gather(*fetches) if frame is not None]
        if frames:
            rows = pl.concat(frames)
            await self.store.write(lambda s: s.append("venue_listings", rows))

    async def _watch_drops(self) -> None:
        """Turn drops of ``drop_oldest`` subscribers (live views) into ``dropped`` feed events."""
        seen: dict[int, int] = {}
        while True:
            await asyncio.sleep(5.0)
            events: list[Event] = []
            for sub in self.bus.subscriptions():
                before = seen.get(id(sub), 0)
                if sub.dropped > before:
                    ts = now_ns()
                    events.append(
                        FeedEvent(
                            ts_event=ts,
                            ts_recv=ts,
                            venue="divergence",
                            stream=f"bus:{sub.topic}",
                            event="dropped",
                            detail=f"a slow {sub.topic!r} subscriber lost its oldest items",
                            value=float(sub.dropped - before),
                        )
                    )
                    seen[id(sub)] = sub.dropped
            if events:
                await self.bus.publish("events", events)

    def feeds_report(self) -> list[dict[str, Any]]:
        """Each feed and each of its streams, with ages in seconds, for ``/api/feeds``."""
        return [feed_report(feed, feed.clock.now_ns()) for feed in self.feeds]

    def health(self) -> dict[str, Any]:
        return {
            "feeds": {feed.venue.id: feed.stats.as_dict() for feed in self.feeds},
            "writer": {
                "flushes": self.writer.stats.flushes,
                "last_seq": self.writer.stats.last_seq,
                "rows_written": dict(self.writer.stats.rows_written),
            },
            "basis_job": self.basis_job.stats_dict(),
            "metrics_job": self.metrics_job.stats_dict(),
            "depth_job": self.depth_job.stats_dict(),
            "webhooks": self.webhooks.stats(),
            "alerts_job": self.alerts_job.stats_dict(),
            "export_job": self.export_job.stats_dict(),
            "simulator": None if self.sim is None else {"clock_ns": self.sim.clock_ns},
        }


def sync_catalog_tables(store: Store, catalog: Catalog) -> None:
    """Rewrite the catalog's tables (``instruments``, ``multipliers``, ``splits``) and the
    ``market_calendar`` (every start)."""
    store.replace("instruments", catalog.instruments_frame())
    store.replace(
        "multipliers", catalog.multipliers_frame().with_columns(pl.col("effective_from").cast(TS))
    )
    store.replace("splits", catalog.splits_frame())
    calendar = default_calendar()
    store.replace(
        "market_calendar",
        calendar.frame(calendar.start_ns, calendar.end_ns).with_columns(
            pl.col("ts_start").cast(TS), pl.col("ts_end").cast(TS)
        ),
    )


def _report_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error(
            "stage stopped with an error",
            exc_info=task.exception(),
            extra={"stage": task.get_name()},
        )


async def _settle(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            try:
                await task
            except Exception:
                log.exception("stage failed while stopping", extra={"stage": task.get_name()})
