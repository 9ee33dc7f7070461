"""The export job as ``divergence serve`` runs it: periodic, and stoppable."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from export_seed import BASIS_SQL

from divergence.clock import parse_time_param
from divergence.export.config import ExportSettings
from divergence.export.job import ExportJob
from divergence.store.db import AsyncStore


async def wait_for(condition: object, message: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, message
        await asyncio.sleep(0.02)


async def test_export_job_picks_up_new_rows_each_interval(
    seeded: AsyncStore, tmp_path: Path
) -> None:
    root = tmp_path / "export"
    settings = ExportSettings(tables=["basis"], interval_s=0.05)
    job = ExportJob(seeded, settings, root=root)
    task = asyncio.create_task(job.run())
    new_day = root / "basis" / "date=2025-10-11" / "underlying=MSFT" / "data.parquet"
    try:
        await wait_for(lambda: job.refreshes >= 1, "no first refresh")
        t0 = parse_time_param("2025-10-11T14:00:00Z", name="t0")
        await seeded.write(
            lambda s: s.execute(BASIS_SQL, {"t0": t0, "u": "MSFT", "n": 3, "px": 500.0})
        )
        await wait_for(new_day.is_file, "the new date was not exported")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    manifest = json.loads((root / "_manifest.json").read_text())
    assert manifest["tables"]["basis"]["date=2025-10-11/underlying=MSFT"]["rows"] == 6
    assert not list(root.rglob(".*.tmp"))


async def test_export_job_runs_in_the_runtime_when_enabled(tmp_path: Path) -> None:
    from divergence.runtime import Runtime
    from divergence.settings import Settings

    settings = Settings(
        db_path=tmp_path / "rt.duckdb",
        archive_dir=tmp_path / "archive",
        export={"tables": ["basis", "alerts"], "interval_s": 3600},
        metrics={"enabled": False},
        depth={"enabled": False},
        alerts={"enabled": False},
    )
    runtime = Runtime(settings)
    await runtime.start()
    try:
        await wait_for(lambda: runtime.export_job.refreshes >= 1, "no refresh in the runtime")
    finally:
        await runtime.stop()
    manifest = json.loads((tmp_path / "export" / "_manifest.json").read_text())
    assert manifest == {"version": 1, "tables": {"alerts": {}, "basis": {}}}
    assert runtime.health()["export_job"]["refreshes"] == 1
