"""Readers querying the export while it refreshes see one whole version of each partition.

The readers are the ones docs/sql-cookbook.md shows: DuckDB's ``read_parquet`` and polars
over a pyarrow dataset. DuckDB takes a file's size when it lists the files; when the
file is replaced before DuckDB opens it, the query stops with "Prefetch registered for
bytes outside file" (never a mix of versions): the cookbook says to run it again, and
the test counts those apart. (polars' own ``scan_parquet`` fails the same way, but with
the message a truncated file gives, so the cookbook shows the pyarrow dataset.)
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
from export_seed import BASIS_SQL, DAYS, day_start_ns

from divergence.export.config import ExportSettings
from divergence.export.job import run_export
from divergence.store.db import AsyncStore, Store

EXTRA_ROWS = 10_000  # per venue: a partition big enough that writing it takes a while
SETTINGS = ExportSettings(tables=["basis"])
RESIZED = "Prefetch registered for bytes outside file"


class Reader(threading.Thread):
    """Sums the export in a loop, alternately with DuckDB and polars, until stopped."""

    def __init__(self, root: Path) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.pattern = str(root / "**" / "*.parquet")
        self.stop = threading.Event()
        self.seen: list[tuple[int, int]] = []
        self.resized = 0  # DuckDB queries stopped by a file replaced after listing
        self.errors: list[BaseException] = []

    def run(self) -> None:
        with duckdb.connect() as con:
            for turn in itertools.count():
                if self.stop.is_set():
                    return
                try:
                    self.seen.append(self._duckdb(con) if turn % 2 else self._polars())
                except duckdb.Error as exc:
                    if RESIZED not in str(exc):
                        self.errors.append(exc)
                    self.resized += 1
                except BaseException as exc:  # every other failure is reported by the test
                    self.errors.append(exc)

    def _duckdb(self, con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
        row = con.execute(
            f"SELECT count(*), sum(source_seq) FROM read_parquet('{self.pattern}', "
            "hive_partitioning = true)"
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def _polars(self) -> tuple[int, int]:
        keys = pa.schema([("date", pa.date32()), ("underlying", pa.string())])
        dataset = ds.dataset(
            self.root, format="parquet", partitioning=ds.partitioning(keys, flavor="hive")
        )
        frame = (
            pl.scan_pyarrow_dataset(dataset).select(pl.len(), pl.col("source_seq").sum()).collect()
        )
        return int(frame.item(0, 0)), int(frame.item(0, 1))


def toggle_extra(store: Store, *, present: bool) -> None:
    """Add or remove the extra rows of (second date, AAPL): a recompute of that window."""
    if present:
        t0 = day_start_ns(DAYS[1]) + 3 * 3600 * 10**9
        store.execute(BASIS_SQL, {"t0": t0, "u": "AAPL", "n": EXTRA_ROWS, "px": 250.0})
    else:
        store.execute(
            "DELETE FROM basis WHERE underlying = 'AAPL' "
            "AND ts_event >= TIMESTAMP_NS '2025-10-10 16:00:00'"
        )


async def totals(store: AsyncStore) -> tuple[int, int]:
    frame = await store.query("SELECT count(*) AS n, sum(source_seq) AS s FROM basis")
    return int(frame.item(0, 0)), int(frame.item(0, 1))


async def wait_seen(reader: Reader, version: tuple[int, int], after: int) -> None:
    deadline = time.monotonic() + 30
    while version not in reader.seen[after:]:
        assert not reader.errors, reader.errors[0]
        assert time.monotonic() < deadline, f"the reader never saw {version}"
        await asyncio.sleep(0.01)


async def test_export_readers_never_see_a_partial_or_doubled_partition(
    seeded: AsyncStore, tmp_path: Path
) -> None:
    root = tmp_path / "export"
    small = await totals(seeded)
    await seeded.write(lambda s: toggle_extra(s, present=True))
    big = await totals(seeded)
    await run_export(seeded, SETTINGS, root=root)
    reader = Reader(root / "basis")
    reader.start()
    try:
        await wait_seen(reader, big, 0)
        for i in range(4):
            present = i % 2 == 1
            await seeded.write(lambda s, p=present: toggle_extra(s, present=p))  # type: ignore[misc]
            mark = len(reader.seen)
            reports = await run_export(seeded, SETTINGS, root=root)
            assert reports[0].written == ["date=2025-10-10/underlying=AAPL"]
            await wait_seen(reader, big if present else small, mark)
    finally:
        reader.stop.set()
        reader.join(timeout=30)
    assert reader.errors == []
    assert set(reader.seen) == {small, big}
    assert reader.resized <= 4  # at most the one query in flight at each of the 4 swaps
