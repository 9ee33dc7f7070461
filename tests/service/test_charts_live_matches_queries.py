"""Pure chart code: live series agree with the chart queries; thinning keeps its bound."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest
from harness import at, basis_frame, basis_row, seed, seeded_rows
from polars.testing import assert_frame_equal

from divergence.dashboards import load_dashboards
from divergence.service.charts import (
    bucket_ns_for,
    compute_live_series,
    compute_thinned,
    render_delta,
    with_ts_ns,
)
from divergence.store.db import Store


@pytest.mark.parametrize(
    ("live", "query"), [("price_per_share", "chart_price"), ("basis_bps", "chart_basis")]
)
def test_charts_live_series_match_chart_queries(store: Store, live: str, query: str) -> None:
    """The initial chart (SQL) and the live deltas (polars) compute the same points."""
    rows = seeded_rows()
    rows[4] = {**rows[4], "basis_bps": None, "ref_state": "stale"}  # a gap in the basis
    store.append("basis", basis_frame(rows).with_columns(ts_ingest=pl.col("ts_recv")))
    params = {
        "underlying": "AAPL",
        "venue": None,
        "start": at(0),
        "end": at(10_000),
        "bucket_ns": 1,
    }
    from_sql = store.query(store.sql_text(query), params)
    from_live = compute_live_series(with_ts_ns(basis_frame(rows)), live)  # type: ignore[arg-type]
    assert_frame_equal(
        from_sql.sort("series", "ts_ns"), from_live.sort("series", "ts_ns"), check_exact=False
    )


def test_charts_thinned_keeps_bound_extremes_and_last() -> None:
    rng = random.Random(11)
    n = 20_000
    values = [rng.gauss(0, 1) for _ in range(n)]
    series = pl.DataFrame(
        {
            "series": ["a"] * n + ["b"] * 3,
            "ts_ns": [*range(0, n * 1_000, 1_000), 5, 6, 7],
            "value": [*values, 1.0, 2.0, 3.0],
        }
    )
    thinned = compute_thinned(series, max_points=101)
    a = thinned.filter(pl.col("series") == "a")
    assert a.height <= 101 + 1
    assert a["value"].min() == min(values) and a["value"].max() == max(values)
    assert a["ts_ns"][-1] == (n - 1) * 1_000 and a["value"][-1] == values[-1]
    assert a["ts_ns"].is_sorted()
    # a series within the bound is untouched
    assert thinned.filter(pl.col("series") == "b")["value"].to_list() == [1.0, 2.0, 3.0]


def test_charts_bucket_width_covers_window() -> None:
    assert bucket_ns_for(0, 1_000, 10) == 100
    assert bucket_ns_for(0, 1_001, 10) == 101  # ceil: never more than `width` buckets
    assert bucket_ns_for(5, 5, 10) == 1


def test_charts_render_delta_accepts_integer_timestamps() -> None:
    frame = basis_frame([basis_row("simx-a", 0, 250.0)])
    as_int = frame.with_columns(pl.col("ts_event").dt.epoch("ns"))
    for shaped in (frame, as_int):
        delta = render_delta("AAPL", with_ts_ns(shaped), max_points=10)
        assert delta["series"]["basis_bps"] == {"simx-a": {"x": [at(0) // 1_000_000], "y": [10.0]}}


def test_charts_every_spec_query_runs_on_seeded_store(store: Store, tmp_path: Path) -> None:
    """Every query of every spec runs with its parameters (``$venue`` NULL and set); the
    basis-table queries of the underlying view find the seeded rows."""
    seed(store)
    seeded = {"chart_price", "chart_basis", "chart_extent", "chart_sessions", "chart_status"}
    for dash in load_dashboards().values():
        for venue in (None, "simx-a"):
            given = {
                "underlying": "AAPL",
                "venue": venue,
                "start": at(0),
                "end": at(2401),
                "bucket_ns": 60 * 10**9,
            }
            for name, params in dash.params.items():
                frame = store.query(store.sql_text(name), {k: given[k] for k in params})
                if name in seeded:
                    assert frame.height > 0, name
