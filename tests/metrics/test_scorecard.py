"""compute_venue_scorecard on hand-computed execution and trade-through rows (§4.4)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from divergence.clock import NS_PER_SECOND, ns_from_datetime
from divergence.errors import ConfigError
from divergence.metrics.execution import compute_execution_quality
from divergence.metrics.schemas import (
    CONSOLIDATED_BBO_SCHEMA,
    REFERENCE_NBBO_SCHEMA,
    USD_QUOTES_SCHEMA,
    USD_TRADES_SCHEMA,
)
from divergence.metrics.scorecard import (
    SCORECARD_LOOKBACK_NS,
    SCORECARD_SCHEMA,
    ScorecardParams,
    compute_venue_scorecard,
)
from divergence.metrics.trade_through import compute_trade_throughs

T0 = ns_from_datetime(datetime(2025, 9, 15, 14, 0, tzinfo=UTC))  # Monday 10:00 ET
S = NS_PER_SECOND
TS = pl.Datetime("ns")
DAY = date(2025, 9, 15)


def execution_rows(*rows: dict[str, object]) -> pl.LazyFrame:
    """Execution rows with only the columns the scorecard reads (defaults filled in)."""
    base: dict[str, object] = {
        "ts_event": T0,
        "underlying": "AAPL",
        "notional_usd": 200.0,  # bucket 0
        "notional_bucket": 0,
        "mid_usd": 100.0,
        "ref_mid": 100.0,
        "realized_spread_15s_bps": None,
        "realized_spread_1m_bps": None,
        "price_improvement_usd": None,
        "ref_price_improvement_usd": None,
        "effective_spread_usd": None,
        "quoted_spread_usd": None,
    }
    schema = {k: pl.Float64 for k in base} | {
        "ts_event": pl.Int64,
        "underlying": pl.String,
        "venue": pl.String,
        "notional_bucket": pl.Int32,
        "size": pl.Float64,
        "effective_spread_bps": pl.Float64,
    }
    frame = pl.DataFrame([base | r for r in rows], schema=schema)
    return frame.with_columns(pl.col("ts_event").cast(TS)).lazy()


def tt_rows(*rows: tuple[str, float, bool | None]) -> pl.LazyFrame:
    """(venue, notional, traded_through) trade-through rows at T0."""
    n = len(rows)
    return pl.DataFrame(
        {
            "ts_event": pl.Series([T0] * n, dtype=pl.Int64).cast(TS),
            "underlying": ["AAPL"] * n,
            "venue": [r[0] for r in rows],
            "notional_usd": [r[1] for r in rows],
            "traded_through": [r[2] for r in rows],
            "trade_through_bps": [None] * n,
        },
        schema_overrides={"traded_through": pl.Boolean, "trade_through_bps": pl.Float64},
    ).lazy()


def test_scorecard_share_weighted_averages_and_material_difference() -> None:
    execution = execution_rows(
        # venue A, bucket 0: two trades of 1 and 3 shares
        dict(venue="A", size=1.0, effective_spread_bps=10.0, effective_spread_usd=0.1,
             quoted_spread_usd=0.2, realized_spread_15s_bps=5.0, realized_spread_1m_bps=4.0,
             price_improvement_usd=0.05, ref_price_improvement_usd=0.02),
        dict(venue="A", size=3.0, effective_spread_bps=30.0, effective_spread_usd=0.3,
             quoted_spread_usd=0.2, realized_spread_15s_bps=10.0,
             price_improvement_usd=-0.1),
        # venue B, bucket 0: the best ES% (12 bps); venue D: exactly 10 bps behind it
        dict(venue="B", size=2.0, effective_spread_bps=12.0),
        dict(venue="D", size=2.0, effective_spread_bps=22.0),
        # venue A, bucket 1000: alone in its bucket
        dict(venue="A", size=20.0, notional_usd=2_000.0, notional_bucket=1_000,
             effective_spread_bps=50.0),
    )  # fmt: skip
    throughs = tt_rows(("A", 200.0, True), ("A", 200.0, False), ("B", 200.0, None))
    # A/0: ES% = (1·10 + 3·30)/4 = 25; RS15 = (1·5 + 3·10)/4 = 8.75; RS1m = 4 (one row)
    #      PI = (1·0.05 + 3·(−0.1)) / (1·100 + 3·100) × 1e4 = −0.25/400 × 1e4 = −6.25 bps
    #      ref PI = 0.02 / 100 × 1e4 = 2 bps;  E/Q = (0.1 + 0.9)/(0.2 + 0.6) × 100 = 125 %
    #      trade-throughs 1 of 2 = 50 %;  best ES% in (day, AAPL, 0) = 12 → 25 − 12 = 13 > 10
    # D/0: 22 − 12 = 10, not more than 10: no material difference
    out = compute_venue_scorecard(execution, throughs).collect()
    assert_frame_equal(
        out,
        pl.DataFrame(
            {
                "day": [DAY] * 4,
                "underlying": ["AAPL"] * 4,
                "venue": ["A", "B", "D", "A"],
                "notional_bucket": [0, 0, 0, 1_000],
                "trades": [2, 1, 1, 1],
                "shares": [4.0, 2.0, 2.0, 20.0],
                "notional_usd": [400.0, 200.0, 200.0, 2_000.0],
                "effective_spread_bps": [25.0, 12.0, 22.0, 50.0],
                "realized_spread_15s_bps": [8.75, None, None, None],
                "realized_spread_1m_bps": [4.0, None, None, None],
                "price_improvement_bps": [-6.25, None, None, None],
                "ref_price_improvement_bps": [2.0, None, None, None],
                "eq_ratio_pct": [125.0, None, None, None],
                "trade_through_rate_pct": [50.0, None, None, None],
                "best_effective_spread_bps": [12.0, 12.0, 12.0, 50.0],
                "material_difference": [True, False, False, False],
            },
            schema=SCORECARD_SCHEMA,
        ),
        rel_tol=1e-12,
    )


def test_scorecard_threshold_is_a_parameter() -> None:
    execution = execution_rows(
        dict(venue="B", size=2.0, effective_spread_bps=12.0),
        dict(venue="D", size=2.0, effective_spread_bps=22.0),
    )
    out = compute_venue_scorecard(
        execution, tt_rows(), params=ScorecardParams(material_difference_bps=9.5)
    ).collect()
    assert out["material_difference"].to_list() == [False, True]
    with pytest.raises(ConfigError, match="material_difference_bps"):
        ScorecardParams(material_difference_bps=-1.0)


def test_scorecard_groups_by_et_day() -> None:
    late = ns_from_datetime(datetime(2025, 9, 16, 3, 59, tzinfo=UTC))  # 23:59 ET 15 Sep
    early = ns_from_datetime(datetime(2025, 9, 16, 4, 0, tzinfo=UTC))  # 00:00 ET 16 Sep
    execution = execution_rows(
        dict(ts_event=late, venue="A", size=1.0, effective_spread_bps=10.0),
        dict(ts_event=early, venue="A", size=1.0, effective_spread_bps=30.0),
    )
    out = compute_venue_scorecard(execution, tt_rows()).collect()
    assert out.select("day", "effective_spread_bps").rows() == [
        (DAY, 10.0),
        (date(2025, 9, 16), 30.0),
    ]


def _market() -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """From the real functions: two venues over 10:00 ET 15 Sep to 02:00 ET 16 Sep."""
    n, step = 4_000, 14 * S  # 15.5 h
    ts = pl.Series([T0 + i * step for i in range(n)], dtype=pl.Int64)
    mid = pl.Series([100.0 + ((i * 7) % 11 - 5) / 8 for i in range(n)])
    venue = pl.Series(["A" if i % 3 else "B" for i in range(n)])
    quotes = pl.DataFrame(
        {
            "ts_event": ts,
            "underlying": "AAPL",
            "venue": venue,
            "instrument_id": venue,
            "source_kind": "book",
            "bid": mid - 0.125,
            "bid_sz": 1.0,
            "ask": mid + 0.125,
            "ask_sz": 1.0,
            "fee_bps": 0.0,
            "source_seq": 0,
        }
    ).cast(dict(USD_QUOTES_SCHEMA))
    trades = pl.DataFrame(
        {
            "ts_event": ts + 3 * S,
            "underlying": "AAPL",
            "venue": venue,
            "instrument_id": venue,
            "trade_id": [str(i) for i in range(n)],
            "price": mid + pl.Series([((i * 5) % 7 - 3) / 16 for i in range(n)]),
            "size": pl.Series([float(1 + i % 300) for i in range(n)]),
            "notional_usd": 0.0,
            "side": pl.Series(["buy", "sell", "unknown"] * (n // 3) + ["buy"] * (n % 3)),
            "source_seq": 0,
        }
    ).with_columns(notional_usd=pl.col("price") * pl.col("size"))
    trades = trades.cast(dict(USD_TRADES_SCHEMA))
    bbo = quotes.select(
        "ts_event",
        "underlying",
        best_bid="bid",
        best_bid_sz="bid_sz",
        best_bid_venue="venue",
        best_ask="ask",
        best_ask_sz="ask_sz",
        best_ask_venue="venue",
        venues=pl.lit(2),
    ).cast(dict(CONSOLIDATED_BBO_SCHEMA))
    ref = bbo.select(
        "ts_event", "underlying", nbb="best_bid", nbo="best_ask", session=pl.lit("regular")
    ).cast(dict(REFERENCE_NBBO_SCHEMA))
    execution = compute_execution_quality(trades.lazy(), bbo.lazy(), ref.lazy())
    return execution, compute_trade_throughs(trades.lazy(), quotes.lazy())


def test_scorecard_lookback_is_the_day() -> None:
    execution, throughs = _market()
    midnight = ns_from_datetime(datetime(2025, 9, 16, 4, 0, tzinfo=UTC))  # 00:00 ET
    start = pl.lit(midnight - SCORECARD_LOOKBACK_NS).cast(TS)
    full = compute_venue_scorecard(execution, throughs).collect()
    part = compute_venue_scorecard(
        execution.filter(pl.col("ts_event") >= start), throughs.filter(pl.col("ts_event") >= start)
    ).collect()
    new_day = pl.col("day") >= date(2025, 9, 16)
    assert_frame_equal(part.filter(new_day), full.filter(new_day))
    assert full["day"].unique().sort().to_list() == [DAY, date(2025, 9, 16)]
    assert full.filter(new_day)["trade_through_rate_pct"].null_count() == 0
