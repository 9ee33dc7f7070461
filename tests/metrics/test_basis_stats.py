"""compute_basis_stats: window z-score, finite-window EWMA, durations beyond ±X.

Hand-computed values carry their arithmetic in comments; floats are compared with a
relative tolerance of 1e-12.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from divergence.clock import NS_PER_SECOND, ns_from_datetime
from divergence.errors import ConfigError
from divergence.metrics.basis import BASIS_SCHEMA
from divergence.metrics.basis_stats import (
    BASIS_STATS_LOOKBACK_NS,
    BASIS_STATS_SCHEMA,
    BasisStatsParams,
    band_name,
    basis_stats_schema,
    compute_basis_stats,
)

T0 = ns_from_datetime(datetime(2025, 10, 10, 14, 0, tzinfo=UTC))
S = NS_PER_SECOND
TIGHT: dict[str, Any] = {"rel_tol": 1e-12, "abs_tol": 1e-12}


def basis_rows(rows: list[dict[str, Any]]) -> pl.LazyFrame:
    """BASIS_SCHEMA rows from dicts with ``t`` (seconds after T0) and a few columns."""
    filled = []
    for seq, row in enumerate(rows):
        instrument = row.get("instrument_id", "AAPLx@simx-a")
        filled.append(
            {
                "ts_event": T0 + round(row["t"] * S),
                "instrument_id": instrument,
                "venue": instrument.split("@")[1],
                "underlying": instrument.split("x@")[0],
                "basis_bps": row.get("b"),
                "ref_state": row.get("state", "live"),
                "ref_kind": row.get("kind", "nbbo"),
                "session": row.get("session", "regular"),
                "source_seq": row.get("seq", seq + 1),
            }
        )
    frame = pl.DataFrame(filled, schema_overrides={"basis_bps": pl.Float64})
    return frame.lazy().select(
        pl.col(name).cast(dtype) if name in frame.columns else pl.lit(None, dtype).alias(name)
        for name, dtype in BASIS_SCHEMA.items()
    )


def stats(rows: list[dict[str, Any]], **params: Any) -> pl.DataFrame:
    return compute_basis_stats(basis_rows(rows), params=BasisStatsParams(**params)).collect()


def ts(*seconds: float) -> list[datetime]:
    return [datetime.fromtimestamp(T0 / S + s, tz=UTC).replace(tzinfo=None) for s in seconds]


def test_basis_stats_zscore_over_the_time_window() -> None:
    rows = [{"t": t, "b": b} for t, b in ((0, 10), (1, 20), (2, 30), (3, 60), (12, 40))]
    out = stats(rows, window_ns=10 * S, min_obs=3)
    expected = pl.DataFrame(
        {
            "ts_event": ts(0, 1, 2, 3, 12),
            # window (t - 10 s, t]: {10}, {10,20}, {10,20,30}, {10,20,30,60}, {60,40}
            "window_obs": [1, 2, 3, 4, 2],
            "mean_bps": [10.0, 15.0, 20.0, 30.0, 50.0],
            # sample std: sqrt(50); sqrt(200/2) = 10; sqrt((400+100+0+900)/3); sqrt(200/1)
            "std_bps": [None, math.sqrt(50), 10.0, math.sqrt(1400 / 3), math.sqrt(200)],
            # z needs 3 observations: (30-20)/10 = 1; (60-30)/21.6025 = 1.38873
            "z": [None, None, 1.0, 30 / math.sqrt(1400 / 3), None],
        },
        schema_overrides={"ts_event": pl.Datetime("ns"), "window_obs": pl.Int64},
    )
    assert_frame_equal(out.select(expected.columns), expected, **TIGHT)


def test_basis_stats_exclude_stale_missing_and_null_basis_rows() -> None:
    closed = {"state": "closed", "kind": "last_close", "session": "closed"}
    rows = [
        {"t": 0, "b": 10.0, **closed},
        {"t": 1, "b": None, "state": "stale", "kind": "extended"},
        {"t": 2, "b": 30.0, **closed},
        {"t": 3, "b": None, "state": "missing", "kind": None},
        {"t": 4, "b": None, **closed},  # no usable FX rate: basis_bps is null
    ]
    out = stats(rows)
    # the stale row splits no reference run: both closed rows share one window
    assert out.select("ts_event", "ref_state", "window_obs", "mean_bps").rows() == [
        (ts(0)[0], "closed", 1, 10.0),
        (ts(2)[0], "closed", 2, 20.0),
    ]


def test_basis_stats_zscore_is_null_when_std_is_zero() -> None:
    out = stats([{"t": t, "b": 5.0} for t in range(4)], min_obs=2)
    assert out["std_bps"].to_list() == [None, 0.0, 0.0, 0.0]
    assert out["z"].to_list() == [None, None, None, None]
    assert out["mean_bps"].to_list() == [5.0] * 4


def test_basis_stats_ewma_with_time_decay() -> None:
    out = stats([{"t": 0, "b": 0.0}, {"t": 60, "b": 100.0}, {"t": 90, "b": 40.0}])
    # H = 60 s: weight 2^(-age/60). At 60 s: (0·0.5 + 100·1) / (0.5 + 1) = 66.667.
    # At 90 s: (0·2^-1.5 + 100·2^-0.5 + 40·1) / (2^-1.5 + 2^-0.5 + 1) = 53.726.
    expected = [0.0, 100 / 1.5, (100 * 2**-0.5 + 40) / (2**-1.5 + 2**-0.5 + 1)]
    assert out["ewma_bps"].to_list() == pytest.approx(expected, rel=1e-12)


def test_basis_stats_ewma_truncates_at_its_window() -> None:
    rows = [{"t": 0, "b": 0.0}, {"t": 60, "b": 100.0}, {"t": 90, "b": 40.0}]
    out = stats(rows, ewma_window_ns=90 * S)
    # At 90 s the row at 0 s is 90 s old: outside (90 - 90, 90]. (100·2^-0.5 + 40)/(2^-0.5 + 1)
    assert out["ewma_bps"][2] == pytest.approx((100 * 2**-0.5 + 40) / (2**-0.5 + 1), rel=1e-12)
    assert out["ewma_bps"][1] == pytest.approx(100 / 1.5, rel=1e-12)


def test_basis_stats_ewma_matches_pandas_time_ewm_inside_the_window() -> None:
    """Independent check: pandas' ewm(halflife, times) weights 0.5^(Δt/halflife) the same
    way; with all data inside the EWMA window nothing is truncated."""
    rng = np.random.default_rng(5)
    seconds = np.cumsum(rng.uniform(0.05, 9.0, 200))  # about 15 minutes, irregular
    values = np.cumsum(rng.normal(0, 4, 200))
    out = stats([{"t": float(t), "b": float(b)} for t, b in zip(seconds, values, strict=True)])
    times = pd.to_datetime(T0 + np.round(seconds * S).astype("int64"), unit="ns")
    reference = pd.Series(values).ewm(halflife=pd.Timedelta(seconds=60), times=times).mean()
    # pandas multiplies its decay factors recursively and drifts by ~4e-9 relative from
    # the exact weights (the brute-force test below holds this module to 1e-12)
    assert out["ewma_bps"].to_list() == pytest.approx(reference.to_list(), rel=1e-8)


def test_basis_stats_ewma_across_segment_anchors_matches_brute_force() -> None:
    """Windows that straddle the anchors of both grids (segments of 2 x 120 s)."""
    rng = np.random.default_rng(11)
    seconds = np.cumsum(rng.uniform(0.1, 6.0, 600))  # about 30 minutes
    values = rng.normal(0, 50, 600)
    rows = [{"t": float(t), "b": float(b)} for t, b in zip(seconds, values, strict=True)]
    out = stats(rows, half_life_ns=10 * S, ewma_window_ns=120 * S)
    stamps = np.array([T0 + round(t * S) for t in seconds])
    expected = []
    for now in stamps:
        inside = (stamps > now - 120 * S) & (stamps <= now)
        weights = 0.5 ** ((now - stamps[inside]) / (10 * S))
        expected.append(float((weights * values[inside]).sum() / weights.sum()))
    assert out["ewma_bps"].to_list() == pytest.approx(expected, rel=1e-12)


def test_basis_stats_durations_beyond_thresholds() -> None:
    rows = [{"t": t, "b": b} for t, b in ((0, 10), (1, 30), (2, -40), (5, 20), (6, 60), (8, -70))]
    out = stats(rows, thresholds_bps=(25.0, 50.0))
    # ±25: the run beyond starts at 1 s (0 at its first row), 1 s later at 2 s; back within
    # at 5 s; a new run from 6 s: 0 at 6 s, 2 s at 8 s. ±50: only the run from 6 s.
    assert out["beyond_25_s"].to_list() == [0.0, 0.0, 1.0, 0.0, 0.0, 2.0]
    assert out["beyond_50_s"].to_list() == [0.0, 0.0, 0.0, 0.0, 0.0, 2.0]
    assert not out["beyond_25_capped"].any() and not out["beyond_50_capped"].any()


def test_basis_stats_duration_is_capped_without_a_recent_observation_within() -> None:
    rows = [{"t": t, "b": b} for t, b in ((0, 30), (3, 40), (7, 50), (8, 10), (9, 30))]
    out = stats(rows, thresholds_bps=(25.0,), beyond_cap_ns=5 * S)
    # cap window (t - 5 s, t]. At 0 s and 3 s no row was ever within: counted from the
    # window's first row (0 s), capped. At 7 s the window (2, 7] starts at 3 s: 4 s,
    # capped. At 8 s within: 0. At 9 s the run began at 9 s: 0, not capped.
    assert out["beyond_25_s"].to_list() == [0.0, 3.0, 4.0, 0.0, 0.0]
    assert out["beyond_25_capped"].to_list() == [True, True, True, False, False]


def test_basis_stats_reference_run_resets_zscore_and_ewma_not_durations() -> None:
    closed = {"kind": "last_close", "state": "closed", "session": "closed"}
    rows = [{"t": t, "b": b} for t, b in ((0, 0.0), (1, 10.0), (2, 20.0), (3, 30.0))]
    rows += [{"t": 4, "b": 500.0, **closed}, {"t": 5, "b": 510.0, **closed}]
    out = stats(rows, thresholds_bps=(25.0,), min_obs=2)
    assert out["window_obs"].to_list() == [1, 2, 3, 4, 1, 2]
    assert out["mean_bps"].to_list()[4:] == [500.0, 505.0]
    decay = 2 ** (-1 / 60)  # one second at a 60 s half-life
    assert out["ewma_bps"].to_list()[4:] == pytest.approx(
        [500.0, (500 * decay + 510) / (decay + 1)], rel=1e-12
    )
    # beyond ±25 since the 30 bps row at 3 s, across the change of reference
    assert out["beyond_25_s"].to_list() == [0.0, 0.0, 0.0, 0.0, 1.0, 2.0]


def _random_basis(seed: int, *, hours: float) -> pl.LazyFrame:
    """Three listings, irregular ticks, a stale stretch and a change of reference."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for instrument in ("AAPLx@simx-a", "AAPLx@simdex", "TSLAx@simx-a"):
        t, b = 0.0, 0.0
        while t < hours * 3600:
            t += float(rng.uniform(0.2, 4.0))
            b += float(rng.normal(0, 6))
            kind = "nbbo" if t < hours * 1800 else "last_close"
            state = "stale" if 2000 < t < 2100 else ("live" if kind == "nbbo" else "closed")
            value = None if state == "stale" else b
            rows.append(
                {"t": t, "b": value, "instrument_id": instrument, "kind": kind, "state": state}
            )
    return basis_rows(rows)


def test_basis_stats_lookback_full_equals_truncated() -> None:
    frame = _random_basis(3, hours=2.0)
    t0 = datetime.fromtimestamp(T0 / S + 3000.5, tz=UTC).replace(tzinfo=None)
    full = compute_basis_stats(frame).filter(pl.col("ts_event") >= t0).collect()
    since = t0 - timedelta(microseconds=BASIS_STATS_LOOKBACK_NS // 1_000)
    truncated = (
        compute_basis_stats(frame.filter(pl.col("ts_event") >= since))
        .filter(pl.col("ts_event") >= t0)
        .collect()
    )
    assert full.height > 3_000 and full["z"].is_not_null().sum() > 3_000
    assert full["ref_kind"].n_unique() == 2 and full["beyond_25_capped"].any()
    # running window sums restart at a different row: equal up to rounding
    assert_frame_equal(full, truncated, rel_tol=1e-12, abs_tol=1e-9)
    # and the lookback is needed: a minute less changes rows near t0
    shorter = since + timedelta(seconds=60)
    cut = compute_basis_stats(frame.filter(pl.col("ts_event") >= shorter))
    with pytest.raises(AssertionError):
        assert_frame_equal(full, cut.filter(pl.col("ts_event") >= t0).collect(), rel_tol=1e-9)


def test_basis_stats_output_columns_and_order() -> None:
    params = BasisStatsParams(thresholds_bps=(12.5, 100.0))
    assert band_name(12.5) == "beyond_12p5" and band_name(100.0) == "beyond_100"
    assert basis_stats_schema(params).names()[-4:] == [
        "beyond_12p5_s",
        "beyond_12p5_capped",
        "beyond_100_s",
        "beyond_100_capped",
    ]
    assert BASIS_STATS_SCHEMA.names()[-2:] == ["beyond_200_s", "beyond_200_capped"]
    rows = [
        {"t": 1, "b": 1.0, "instrument_id": "TSLAx@simx-a", "seq": 2},
        {"t": 1, "b": 2.0, "instrument_id": "AAPLx@simx-a", "seq": 2},
        {"t": 0, "b": 3.0, "instrument_id": "TSLAx@simx-a", "seq": 9},
        {"t": 1, "b": 4.0, "instrument_id": "NVDAx@simx-a", "seq": 1},
    ]
    out = compute_basis_stats(basis_rows(rows), params=params).collect()
    assert out.schema == basis_stats_schema(params)
    assert out.select("instrument_id", "source_seq").rows() == [
        ("TSLAx@simx-a", 9),
        ("NVDAx@simx-a", 1),
        ("AAPLx@simx-a", 2),
        ("TSLAx@simx-a", 2),
    ]


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"min_obs": 1}, "basis_stats.min_obs"),
        ({"window_ns": 0}, "basis_stats.window_ns"),
        ({"half_life_ns": S, "ewma_window_ns": 401 * S}, "basis_stats.ewma_window_ns"),
        ({"thresholds_bps": (25.0, 25.0)}, "basis_stats.thresholds_bps"),
        ({"thresholds_bps": (-5.0,)}, "basis_stats.thresholds_bps"),
    ],
)
def test_basis_stats_params_refused_name_the_key(params: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        BasisStatsParams(**params)
    assert err.value.key == key
    assert "found" in str(err.value)
