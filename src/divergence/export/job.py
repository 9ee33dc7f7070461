"""The export job of ``divergence serve``, and the one-shot export of the CLI.

The job refreshes every ``export.interval_s``. A refresh checks every date of every
table at start-up and then every ``export.full_scan_interval_s``; in between it checks
only each table's last ``export.recent_days`` exported dates and any newer ones, which
is where the writer and the jobs' windowed recomputations change rows. DuckDB reads run
on the store's reader thread, Parquet writes in a worker thread: the event loop never
blocks. Cancelling the job lets the partition in flight finish, then saves the manifest.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from pathlib import Path

from divergence.export.config import ExportSettings
from divergence.export.files import prepare_root
from divergence.export.manifest import load_manifest
from divergence.export.refresh import TableReport, latest_day, refresh_table
from divergence.export.tables import ExportTable, load_tables
from divergence.store.db import AsyncStore

log = logging.getLogger(__name__)


class ExportJob:
    """Keeps ``root`` a hive-partitioned Parquet copy of the export tables."""

    def __init__(self, store: AsyncStore, settings: ExportSettings, *, root: Path) -> None:
        self.store = store
        self.settings = settings
        self.root = root
        self.tables: list[ExportTable] = load_tables(settings.tables)
        self.manifest = load_manifest(root)
        self.refreshes = 0
        self.last_reports: list[TableReport] = []
        self._last_full: float | None = None
        self._stopping = False

    async def run(self) -> None:
        """Refresh now, then every ``interval_s``, until cancelled."""
        await asyncio.to_thread(prepare_root, self.root)
        while True:
            task = asyncio.create_task(self.refresh())
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                self._stopping = True
                await task
                raise
            except Exception:
                log.exception("export refresh failed")
            await asyncio.sleep(self.settings.interval_s)

    async def refresh(self, *, full: bool | None = None) -> list[TableReport]:
        """One refresh of every table; ``full`` forces (or skips) checking every date."""
        now = time.monotonic()
        if full is None:
            full = self._last_full is None or (
                now - self._last_full >= self.settings.full_scan_interval_s
            )
        reports = []
        for table in self.tables:
            if self._stopping:
                break
            reports.append(
                await refresh_table(
                    self.store,
                    table,
                    root=self.root,
                    manifest=self.manifest,
                    since=None if full else self._since(table.name),
                    stopping=lambda: self._stopping,
                )
            )
        if full:
            self._last_full = now
        self.refreshes += 1
        self.last_reports = reports
        return reports

    def stats_dict(self) -> dict[str, object]:
        return {
            "refreshes": self.refreshes,
            "root": str(self.root),
            "written": {r.table: len(r.written) for r in self.last_reports if r.written},
        }

    def _since(self, table: str) -> dt.date | None:
        last = latest_day(self.manifest, table)
        if last is None:
            return None
        return last - dt.timedelta(days=self.settings.recent_days - 1)


async def run_export(
    store: AsyncStore, settings: ExportSettings, *, root: Path
) -> list[TableReport]:
    """One full refresh (``divergence export``): every date of every table is checked."""
    job = ExportJob(store, settings, root=root)
    await asyncio.to_thread(prepare_root, root)
    return await job.refresh(full=True)
