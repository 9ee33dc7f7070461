"""A whole simulated scenario through the real pipeline, shared by the e2e tests."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from divergence.runtime import Runtime
from divergence.settings import Settings, SimSettings
from divergence.sim import scenario

# Through the USDC depeg (18:00-18:40 ET with its repeg), the weekend close and the
# sell-off (20:30-20:45 ET), plus ten minutes.
STOP_AFTER_S = (scenario.SELLOFF_END_NS + 10 * 60 * 10**9 - scenario.START_NS) / 1e9


async def _run_scenario(db: Path, archive: Path) -> None:
    settings = Settings(
        db_path=db,
        archive_dir=archive,
        sim=SimSettings(enabled=True, speed=40.0, tick_ms=20, stop_after_s=STOP_AFTER_S),
    )
    runtime = Runtime(settings)
    await runtime.start()
    assert runtime.sim is not None
    try:
        await asyncio.wait_for(runtime.sim.finished.wait(), timeout=120)
    finally:
        await runtime.stop()


@pytest.fixture(scope="session")
def scenario_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file holding the whole oct10 scenario, run live over local websockets."""
    root = tmp_path_factory.mktemp("scenario")
    db = root / "scenario.duckdb"
    asyncio.run(_run_scenario(db, root / "archive"))
    return db
