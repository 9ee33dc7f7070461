"""basis_1s, the one-second rollup of basis the charts read, on real DuckDB files.

Two properties. The rollup always equals a recompute from ``basis`` (an independent polars
computation here): after live steps (a second's rows arriving over two steps), after a
restart, after a backfill of a range that cuts seconds, and after a failed commit (rolled
back with the basis rows). And each chart query's ``_1s`` twin returns exactly the rows of
the query over raw ``basis`` for the same parameters, on random data with ties and gaps,
for aligned and unaligned windows and buckets.
"""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from divergence.catalog import Catalog
from divergence.clock import NS_PER_SECOND
from divergence.dashboards import load_dashboards
from divergence.errors import StoreError
from divergence.jobs.basis_job import _commit_step, load_job_state, run_backfill
from divergence.jobs.basis_rollup import refresh_range
from divergence.metrics.fx import FX_COMPOSITE_SCHEMA
from divergence.store.db import Store
from jobs.test_basis_job import FLUSHES, HOUR, SETTINGS, T0, Pipeline

S = NS_PER_SECOND
MEASURES = {
    "px": pl.col("mid_usd") / pl.col("multiplier"),
    "ref": pl.col("ref_mid"),
    "basis": pl.col("basis_bps"),
    "exec": pl.col("exec_basis_bps"),
}
TWINS = ("chart_price", "chart_basis", "chart_underlying_exec_basis")


def expected_rollup(basis: pl.DataFrame) -> pl.DataFrame:
    """basis_1s recomputed from basis rows in polars: per (underlying, venue, second) the
    lowest and highest value of each measure, each with its earliest ts_event."""
    ts = pl.col("ts_event").cast(pl.Int64)
    rows = basis.with_columns(ts_ns=ts, second=ts - ts.mod(S))
    keys = ["underlying", "venue", "second"]
    out = rows.group_by(keys).agg(n=pl.len())
    for name, expr in MEASURES.items():
        points = rows.select(*keys, "ts_ns", value=expr).drop_nulls("value")
        lo = points.sort("value", "ts_ns").group_by(keys, maintain_order=True).first()
        hi = points.sort(pl.col("value"), -pl.col("ts_ns"), descending=True)
        hi = hi.group_by(keys, maintain_order=True).first()
        out = out.join(
            lo.rename({"ts_ns": f"{name}_lo_ns", "value": f"{name}_lo"}), on=keys, how="left"
        ).join(hi.rename({"ts_ns": f"{name}_hi_ns", "value": f"{name}_hi"}), on=keys, how="left")
    return out


def assert_rollup_matches(store: Store) -> pl.DataFrame:
    stored = store.query("SELECT * FROM basis_1s")
    basis = store.query("SELECT * FROM basis")
    keys = ["underlying", "venue", "second"]
    if basis.is_empty():
        assert stored.is_empty()
        return stored
    want = expected_rollup(basis)
    assert_frame_equal(
        stored.sort(keys), want.select(stored.columns).sort(keys), check_dtypes=False
    )
    return stored


async def _rollup(pipeline: Pipeline) -> pl.DataFrame:
    return await pipeline.astore.read(assert_rollup_matches)


# -- maintenance ---------------------------------------------------------------------------
async def test_rollup_follows_live_steps_restart_and_backfill(
    tmp_path: Path, catalog: Catalog
) -> None:
    path = tmp_path / "live.duckdb"
    first = await Pipeline.open(path, catalog)
    try:
        for flush in FLUSHES[:3]:
            await first.feed(flush)
            await first.job.step()
            await _rollup(first)
        # the late quote of T0 + 300 ms joined the second T0 after T0 + 100 ms had been
        # rolled up in an earlier step: the second holds both rows
        rolled = await _rollup(first)
        second_t0 = rolled.filter((pl.col("second") == T0) & (pl.col("venue") == "simx-a")).row(
            0, named=True
        )
        assert second_t0["n"] == 2
        assert (second_t0["px_lo_ns"], second_t0["px_hi_ns"]) == (
            T0 + 300_000_000,
            T0 + 100_000_000,
        )
    finally:
        await first.close()
    again = await Pipeline.open(path, catalog)  # restart: state and rollup from the file
    try:
        for flush in FLUSHES[3:]:
            await again.feed(flush)
            await again.job.step()
            await _rollup(again)
        before = await _rollup(again)
        # a backfill whose range cuts seconds at both ends recomputes whole seconds
        start, end = T0 + 250_000_000, T0 + 4_200_000_000
        await again.astore.write(
            lambda s: run_backfill(s, catalog, SETTINGS, start_ns=start, end_ns=end)
        )
        after = await _rollup(again)
        # and a backfill of a range with no rows left deletes the seconds it emptied
        for table in ("quotes", "pool_states"):
            sql = f"DELETE FROM {table} WHERE ts_event > make_timestamp_ns($t)"
            await again.astore.write(lambda s, sql=sql: s.execute(sql, {"t": T0 + HOUR}))
        await again.astore.write(
            lambda s: run_backfill(s, catalog, SETTINGS, start_ns=T0 + HOUR, end_ns=T0 + 3 * HOUR)
        )
        emptied = await again.astore.query("SELECT * FROM basis_1s")
    finally:
        await again.close()
    keys = ["underlying", "venue", "second"]
    assert_frame_equal(before.sort(keys), after.sort(keys))
    assert emptied["second"].max() < T0 + HOUR
    assert before["second"].max() >= T0 + 2 * HOUR


async def test_failed_commit_rolls_back_basis_and_rollup_together(
    tmp_path: Path, catalog: Catalog
) -> None:
    live = await Pipeline.open(tmp_path / "live.duckdb", catalog)
    try:
        for flush in FLUSHES[:2]:
            await live.feed(flush)
            await live.job.step()
        basis = await live.basis()
        rollup = await live.astore.query("SELECT * FROM basis_1s")
        state = await live.astore.read(load_job_state)
        extra = basis.with_columns(pl.col("ts_event") + pl.duration(seconds=30))
        broken = pl.DataFrame({"no_such_column": [1]})  # fx_composite rejects it, after
        # basis and basis_1s were written in the same transaction
        assert set(broken.columns).isdisjoint(FX_COMPOSITE_SCHEMA)
        with pytest.raises(StoreError, match="append to fx_composite failed"):
            await live.astore.write(lambda s: _commit_step(s, extra, broken, state))
        assert_frame_equal(await live.basis(), basis)
        assert_frame_equal(await live.astore.query("SELECT * FROM basis_1s"), rollup)
        await live.astore.read(assert_rollup_matches)
    finally:
        await live.close()


# -- the chart queries' twins --------------------------------------------------------------
BASE = 1_760_083_200 * S  # a whole second
SPAN_S = 400


def random_basis(rng: random.Random) -> pl.DataFrame:
    """Three venues over SPAN_S seconds: bursts and empty stretches, values from a few
    levels (ties, also at equal timestamps), NULL measures (gaps), repeated timestamps."""
    rows = []
    seq = 0
    for second in range(SPAN_S):
        if second % 37 in range(5, 12):  # a gap of several seconds
            continue
        for venue in ("simx-a", "simx-b", "simdex"):
            for _ in range(rng.choice((0, 1, 2, 5, 9))):
                ts = BASE + second * S + rng.choice((0, rng.randrange(S), S - 1))
                for _ in range(rng.choice((1, 1, 2))):  # sometimes the same instant twice
                    seq += 1

                    def level(p_null: float, *values: float) -> float | None:
                        return None if rng.random() < p_null else rng.choice(values)

                    rows.append(
                        {
                            "ts_event": ts,
                            "venue": venue,
                            "source_seq": seq,
                            "multiplier": rng.choice((1.0, 1.0033)),
                            "mid_usd": level(0.1, 245.0, 245.5, 246.0),
                            "ref_mid": level(0.1, 244.9, 245.0, 245.1),
                            "basis_bps": level(0.15, -3.0, 0.0, 2.5),
                            "exec_basis_bps": level(0.3, -1.0, 0.0),
                        }
                    )
    frame = pl.DataFrame(rows)
    stamp = pl.col("ts_event").cast(pl.Datetime("ns"))
    return frame.with_columns(
        ts_event=stamp,
        ts_recv=stamp,
        ts_ingest=stamp,
        instrument_id=pl.lit("AAPLx@") + pl.col("venue"),
        underlying=pl.lit("AAPL"),
        source_kind=pl.lit("quote"),
        quote_currency=pl.lit("USD"),
        fx_state=pl.lit("par"),
        session=pl.lit("regular"),
        ref_state=pl.lit("live"),
    )


@pytest.fixture(scope="module")
def chart_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(tmp_path_factory.mktemp("rollup") / "charts.duckdb")
    store.migrate()
    store.append("basis", random_basis(random.Random(11)))
    with store.transaction():
        refresh_range(store, BASE, BASE + SPAN_S * S)
    assert_rollup_matches(store)
    return store


def windows() -> list[tuple[int, int, int]]:
    """(start, end, bucket_ns): aligned and unaligned windows and buckets, from 1 s up."""
    rng = random.Random(5)
    chosen = [
        (BASE, BASE + SPAN_S * S, 1 * S),
        (BASE, BASE + SPAN_S * S, 7 * S),
        (BASE + 3 * S, BASE + 200 * S + 123, 5 * S),  # end cuts a second
        (BASE + 123_456_789, BASE + 390 * S - 5, 3 * S),  # start cuts a second
        (BASE + 10 * S, BASE + 300 * S, 2_500_000_000),  # boundaries inside seconds
        (BASE - 50 * S, BASE + 500 * S, 1_000_000_001),
        (BASE + 100 * S, BASE + 101 * S, 1 * S),  # one bucket, one second
    ]
    for _ in range(12):
        start = BASE + rng.randrange(-5 * S, 200 * S)
        end = start + rng.randrange(2 * S, 300 * S)
        chosen.append((start, end, rng.choice((S, 2 * S, rng.randrange(S, 40 * S)))))
    return chosen


def _params(query: str, start: int, end: int, bucket: int, venue: str | None) -> dict[str, object]:
    given = {"underlying": "AAPL", "venue": venue, "start": start, "end": end, "bucket_ns": bucket}
    return {k: given[k] for k in load_dashboards()["underlying"].params[query]}


@pytest.mark.parametrize("query", TWINS)
def test_twin_returns_the_raw_rows(chart_store: Store, query: str) -> None:
    raw, twin = chart_store.sql_text(query), chart_store.sql_text(f"{query}_1s")
    compared = 0
    for venue in (None, "simx-b"):
        for start, end, bucket in windows():
            params = _params(query, start, end, bucket, venue)
            want = chart_store.query(raw, params)
            assert_frame_equal(chart_store.query(twin, params), want)
            compared += want.height
    assert compared > 10_000


@pytest.mark.parametrize("query", TWINS)
def test_twin_reads_the_rollup_and_falls_back_when_it_is_short(tmp_path: Path, query: str) -> None:
    store = Store(tmp_path / "short.duckdb")
    store.migrate()
    store.append("basis", random_basis(random.Random(3)))
    with store.transaction():
        refresh_range(store, BASE, BASE + SPAN_S * S)
    params = _params(query, BASE, BASE + SPAN_S * S, 4 * S, None)
    raw, twin = store.sql_text(query), store.sql_text(f"{query}_1s")
    want = store.query(raw, params)
    # a planted value in the rollup shows in the twin's rows: it reads basis_1s
    store.execute("UPDATE basis_1s SET px_lo = -12345, basis_lo = -12345, exec_lo = -12345")
    planted = store.query(twin, params)
    assert planted["value"].min() == -12345.0
    # rows basis_1s does not count (written around the rollup): the twin reads basis
    store.append("basis", random_basis(random.Random(4)).head(1))
    fallback = store.query(twin, params)
    assert_frame_equal(fallback, store.query(raw, params))
    assert fallback["value"].min() == want["value"].min()
    assert not fallback["value"].is_in([-12345.0]).any()


def test_migration_rolls_up_the_stored_basis(tmp_path: Path) -> None:
    store = Store(tmp_path / "upgrade.duckdb")
    store.migrate()
    store.append("basis", random_basis(random.Random(8)))  # stored before basis_1s existed
    store.execute("DROP TABLE basis_1s")
    store.execute("DELETE FROM schema_migrations WHERE version = 64")
    assert store.migrate() == ["0064_basis_1s.sql"]
    assert assert_rollup_matches(store).height > 500
