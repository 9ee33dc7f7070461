"""The export's partition tree, its round trip through DuckDB and polars, and refreshes
that rewrite only what changed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest
from export_seed import DAYS, UNDERLYINGS, day_start_ns
from polars.testing import assert_frame_equal

from divergence.export.config import ExportSettings
from divergence.export.job import ExportJob, run_export
from divergence.store.db import AsyncStore

ROUND_TRIP = ("basis", "quotes", "fx_rates", "alerts", "daily_premium")


def files_of(root: Path) -> dict[str, tuple[int, int]]:
    """Every partition file below ``root``: relative path -> (inode, mtime ns)."""
    return {
        str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in root.rglob("*.parquet")
    }


def glob_of(root: Path, table: str) -> str:
    return str(root / table / "**" / "*.parquet")


async def test_export_partition_tree_is_date_then_underlying(
    seeded: AsyncStore, tmp_path: Path
) -> None:
    root = tmp_path / "export"
    await run_export(seeded, ExportSettings(), root=root)
    both = [f"date={d}/underlying={u}/data.parquet" for d in DAYS for u in UNDERLYINGS]
    expected = {f"basis/{p}" for p in both} | {f"quotes/{p}" for p in both}
    expected |= {"quotes/date=2025-10-09/underlying=_none/data.parquet"}
    expected |= {f"{t}/date={d}/data.parquet" for t in ("fx_rates", "alerts") for d in DAYS}
    expected |= {
        "daily_premium/date=2025-10-09/underlying=AAPL/data.parquet",
        "daily_premium/date=2025-10-10/underlying=TSLA/data.parquet",
    }
    assert set(files_of(root)) == expected
    assert sorted(p.name for p in root.iterdir() if p.is_file()) == ["_manifest.json"]


@pytest.mark.parametrize("table", ROUND_TRIP)
async def test_export_reads_back_exact_rows_and_types_in_duckdb(
    seeded: AsyncStore, tmp_path: Path, table: str
) -> None:
    root = tmp_path / "export"
    await run_export(seeded, ExportSettings(tables=[table]), root=root)
    source = seeded.store.cursor()
    columns = [row[0] for row in source.sql(f"DESCRIBE {table}").fetchall()]
    select = ", ".join(f'"{c}"' for c in columns)
    with duckdb.connect() as con:
        parquet = f"read_parquet('{glob_of(root, table)}', hive_partitioning = true)"
        got = con.sql(f"SELECT {select} FROM {parquet} ORDER BY ALL").fetchall()
        got_types = con.sql(f"DESCRIBE SELECT {select} FROM {parquet}").fetchall()
    want = source.sql(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
    want_types = source.sql(f"DESCRIBE SELECT * FROM {table}").fetchall()
    assert got == want
    assert [r[:2] for r in got_types] == [r[:2] for r in want_types]


async def test_export_keys_match_table_columns_in_duckdb(
    seeded: AsyncStore, tmp_path: Path
) -> None:
    root = tmp_path / "export"
    await run_export(seeded, ExportSettings(tables=["basis"]), root=root)
    with duckdb.connect() as con:
        keys = con.sql(
            f"SELECT DISTINCT date, underlying, CAST(ts_event AS DATE) "
            f"FROM read_parquet('{glob_of(root, 'basis')}', hive_partitioning = true) "
            "ORDER BY ALL"
        ).fetchall()
    want = [
        (dt.date.fromisoformat(d), u, dt.date.fromisoformat(d)) for d in DAYS for u in UNDERLYINGS
    ]
    assert keys == want


@pytest.mark.parametrize("table", ("basis", "quotes"))
async def test_export_reads_back_exact_rows_in_polars(
    seeded: AsyncStore, tmp_path: Path, table: str
) -> None:
    root = tmp_path / "export"
    await run_export(seeded, ExportSettings(tables=[table]), root=root)
    want = seeded.store.query(f"SELECT * FROM {table}")
    got = pl.scan_parquet(glob_of(root, table), hive_partitioning=True).collect()
    assert got.schema["date"] == pl.Date
    got = got.select(want.columns)
    order = ["ts_event", "instrument_id", *(["venue"] if table == "basis" else [])]
    assert_frame_equal(got.sort(order), want.sort(order))
    assert want.schema["ts_event"] == pl.Datetime("ns")


async def test_export_second_run_without_change_rewrites_nothing(
    seeded: AsyncStore, tmp_path: Path
) -> None:
    root = tmp_path / "export"
    first = await run_export(seeded, ExportSettings(), root=root)
    before = files_of(root)
    second = await run_export(seeded, ExportSettings(), root=root)
    assert sum(len(r.written) for r in first) == len(before)
    assert [r.written for r in second if r.written] == []
    assert files_of(root) == before


async def test_export_recompute_rewrites_only_its_partition(
    seeded: AsyncStore, tmp_path: Path
) -> None:
    root = tmp_path / "export"
    await run_export(seeded, ExportSettings(), root=root)
    before = files_of(root)
    # a job's windowed recompute: DELETE a window, INSERT it again with other values
    window = {"a": day_start_ns(DAYS[1]), "b": day_start_ns(DAYS[1]) + 10 * 1_000_000_007}
    await seeded.write(
        lambda s: s.execute(
            "UPDATE basis SET basis_bps = basis_bps + 100 WHERE underlying = 'TSLA' "
            "AND ts_event >= make_timestamp_ns($a) AND ts_event < make_timestamp_ns($b)",
            window,
        )
    )
    await seeded.write(
        lambda s: s.execute(
            "DELETE FROM basis WHERE underlying = 'TSLA' AND venue = 'simdex' "
            "AND ts_event >= make_timestamp_ns($a) AND ts_event < make_timestamp_ns($b)",
            window,
        )
    )
    reports = await run_export(seeded, ExportSettings(), root=root)
    changed = "basis/date=2025-10-10/underlying=TSLA/data.parquet"
    assert [(r.table, r.written) for r in reports if r.written] == [
        ("basis", ["date=2025-10-10/underlying=TSLA"])
    ]
    after = files_of(root)
    assert {k for k in after if after[k] != before[k]} == {changed}
    got = pl.read_parquet(root / changed).sort("ts_event", "venue")
    want = seeded.store.query(
        "SELECT * EXCLUDE (underlying) FROM basis WHERE underlying = 'TSLA' "
        "AND CAST(ts_event AS DATE) = DATE '2025-10-10'"
    ).sort("ts_event", "venue")
    assert_frame_equal(got, want)
    assert got.height == 70  # 80 rows, 10 of one venue deleted


async def test_export_emptied_partition_keeps_an_empty_file(
    seeded: AsyncStore, tmp_path: Path
) -> None:
    root = tmp_path / "export"
    await run_export(seeded, ExportSettings(tables=["daily_premium"]), root=root)
    await seeded.write(lambda s: s.execute("DELETE FROM daily_premium WHERE underlying = 'TSLA'"))
    reports = await run_export(seeded, ExportSettings(tables=["daily_premium"]), root=root)
    assert reports[0].written == ["date=2025-10-10/underlying=TSLA"]
    emptied = pl.read_parquet(root / "daily_premium/date=2025-10-10/underlying=TSLA/data.parquet")
    assert emptied.height == 0
    assert emptied.schema["close_ts"] == pl.Datetime("ns")
    again = await run_export(seeded, ExportSettings(tables=["daily_premium"]), root=root)
    assert again[0].written == []


async def test_export_job_checks_only_recent_dates_between_full_scans(
    seeded: AsyncStore, tmp_path: Path
) -> None:
    root = tmp_path / "export"
    job = ExportJob(seeded, ExportSettings(tables=["basis"], recent_days=1), root=root)
    first = await job.refresh()
    assert len(first[0].written) == 4
    await seeded.write(lambda s: s.execute("UPDATE basis SET basis_bps = -basis_bps"))
    recent = await job.refresh()  # not yet a full scan: only the last date is checked
    assert recent[0].written == [f"date={DAYS[1]}/underlying={u}" for u in UNDERLYINGS]
    full = await job.refresh(full=True)
    assert full[0].written == [f"date={DAYS[0]}/underlying={u}" for u in UNDERLYINGS]
