"""Depth within X bps: books (metrics.md §3.2) and AMM pools (§3.3), hand-computed."""

from __future__ import annotations

import math

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from divergence.errors import ConfigError
from divergence.metrics.depth import (
    BOOK_DEPTH_LOOKBACK_NS,
    BOOK_DEPTH_SCHEMA,
    POOL_DEPTH_LOOKBACK_NS,
    DepthParams,
    compute_book_depth,
    compute_pool_depth,
)

TS = pl.Datetime("ns")
PARAMS = DepthParams()


def book(*rows: tuple[int, str, float, float], venue: str = "kraken") -> pl.LazyFrame:
    """(ts_event, side, price, size) levels of AAPL on ``venue``, 10 bps taker fee."""
    return pl.LazyFrame(
        {
            "ts_event": pl.Series([r[0] for r in rows], dtype=pl.Int64).cast(TS),
            "underlying": ["AAPL"] * len(rows),
            "venue": [venue] * len(rows),
            "instrument_id": [f"AAPLx@{venue}"] * len(rows),
            "side": [r[1] for r in rows],
            "price": [r[2] for r in rows],
            "size": [r[3] for r in rows],
            "fee_bps": [10.0] * len(rows),
        },
        schema_overrides={"price": pl.Float64, "size": pl.Float64},
    )


def pool(
    kind: str,
    *,
    ts: int = 1,
    price: float = 100.0,
    x: float | None = None,
    y: float | None = None,
    liquidity: float | None = None,
    fee_bps: float = 30.0,
    lower: float | None = None,
    upper: float | None = None,
) -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "ts_event": pl.Series([ts], dtype=pl.Int64).cast(TS),
            "underlying": ["AAPL"],
            "venue": ["dex"],
            "instrument_id": ["AAPLx@dex"],
            "kind": [kind],
            "price": [price],
            "reserve_base": [x],
            "reserve_quote": [y],
            "liquidity": [liquidity],
            "fee_bps": [fee_bps],
            "price_lower": [lower],
            "price_upper": [upper],
        },
        schema_overrides={
            n: pl.Float64
            for n in ("reserve_base", "reserve_quote", "liquidity", "price_lower", "price_upper")
        },
    )


def test_book_depth_sums_levels_inside_each_band() -> None:
    levels = book(
        (1, "bid", 99.9, 1.0),
        (1, "bid", 99.0, 2.0),
        (1, "ask", 100.1, 3.0),
        (1, "ask", 100.5, 4.0),
        (1, "ask", 101.5, 5.0),
    )
    result = compute_book_depth(levels, params=PARAMS).collect()
    # m = (99.9 + 100.1) / 2 = 100. Bid notionals 99.9, 198 (99.0 is exactly 100 bps away,
    # on the edge: inside at 100). Ask notionals 300.3, 402, 507.5 (50, 150 bps away).
    expected = pl.DataFrame(
        {
            "ts_event": pl.Series([1] * 5, dtype=pl.Int64).cast(TS),
            "underlying": ["AAPL"] * 5,
            "venue": ["kraken"] * 5,
            "instrument_id": ["AAPLx@kraken"] * 5,
            "bps": [10, 25, 50, 100, 200],
            "mid_usd": [100.0] * 5,
            "bid_depth_usd": [99.9, 99.9, 99.9, 99.9 + 198.0, 99.9 + 198.0],
            "ask_depth_usd": [300.3, 300.3, 300.3 + 402.0, 300.3 + 402.0, 300.3 + 402.0 + 507.5],
            # complete: a level lies beyond the band, so the band is fully visible
            "bid_complete": [True, True, True, False, False],
            "ask_complete": [True, True, True, True, False],
        },
        schema=BOOK_DEPTH_SCHEMA,
    )
    assert_frame_equal(result, expected, rel_tol=1e-12, abs_tol=0.0)


def test_book_depth_of_a_one_sided_book_is_null() -> None:
    result = compute_book_depth(book((1, "bid", 99.0, 2.0)), params=DepthParams(bps=(50,)))
    expected = pl.DataFrame(
        {
            "ts_event": pl.Series([1], dtype=pl.Int64).cast(TS),
            "underlying": ["AAPL"],
            "venue": ["kraken"],
            "instrument_id": ["AAPLx@kraken"],
            "bps": [50],
            "mid_usd": [None],
            "bid_depth_usd": [None],
            "ask_depth_usd": [None],
            "bid_complete": [None],
            "ask_complete": [None],
        },
        schema=BOOK_DEPTH_SCHEMA,
    )
    assert_frame_equal(result.collect(), expected)


def test_book_depth_with_a_wide_spread_is_zero_inside_narrow_bands() -> None:
    levels = book((1, "bid", 98.0, 1.0), (1, "ask", 102.0, 1.0))
    result = compute_book_depth(levels, params=DepthParams(bps=(10, 200))).collect()
    # m = 100; both levels are 200 bps away: 0 within 10 bps (and complete), all at 200
    assert result["bid_depth_usd"].to_list() == [0.0, 98.0]
    assert result["ask_depth_usd"].to_list() == [0.0, 102.0]
    assert result["bid_complete"].to_list() == [True, False]


def test_pool_depth_reproduces_the_section_3_3_example() -> None:
    # y = $1,000,000, x = 10,000 shares (p = $100), δ = 1%, f = 0.3%
    result = compute_pool_depth(
        pool("constant_product", x=10_000.0, y=1_000_000.0), params=DepthParams(bps=(100,))
    ).collect()
    row = result.row(0, named=True)
    ask = 1_000_000 * (math.sqrt(1.01) - 1)  # Δy = y·(√(1+δ) − 1) = 4,987.56
    bid = 10_000 * (1 / math.sqrt(0.99) - 1) * 100  # Δx·p = x·(1/√(1−δ) − 1)·p = 5,037.8
    assert row["ask_depth_usd"] == pytest.approx(ask, rel=1e-12)
    assert row["ask_depth_with_fee_usd"] == pytest.approx(ask / 0.997, rel=1e-12)
    assert row["bid_depth_usd"] == pytest.approx(bid, rel=1e-12)
    assert row["bid_depth_with_fee_usd"] == pytest.approx(bid / 0.997, rel=1e-12)
    assert round(row["ask_depth_usd"], 2) == 4_987.56
    assert round(row["ask_depth_with_fee_usd"], 2) == 5_002.57
    assert round(row["bid_depth_usd"], 1) == 5_037.8
    assert (row["price_usd"], row["bid_complete"], row["ask_complete"]) == (100.0, True, True)


def test_pool_depth_concentrated_in_range_equals_its_virtual_reserves() -> None:
    # L = 100,000 at p = 100: x_v = L/√p = 10,000, y_v = L·√p = 1,000,000, range 90–110
    wide = pool("concentrated", liquidity=100_000.0, lower=90.0, upper=110.0)
    cp = pool("constant_product", x=10_000.0, y=1_000_000.0)
    got = compute_pool_depth(wide, params=PARAMS).collect()
    want = compute_pool_depth(cp, params=PARAMS).collect()
    cols = ["bid_depth_usd", "ask_depth_usd", "bid_depth_with_fee_usd", "ask_depth_with_fee_usd"]
    assert_frame_equal(got.select(cols), want.select(cols), rel_tol=1e-12, abs_tol=0.0)
    assert got["ask_complete"].all() and got["bid_complete"].all()


def test_pool_depth_concentrated_counts_only_the_known_range() -> None:
    narrow = pool("concentrated", liquidity=100_000.0, lower=99.8, upper=100.5)
    result = compute_pool_depth(narrow, params=DepthParams(bps=(10, 100))).collect()
    # 10 bps fits: Δy = L·(√100.1 − √100), Δx·p = L·(1/√99.9 − 1/√100)·100
    # 100 bps does not: capped at the bounds, Δy = L·(√100.5 − 10), Δx = L·(1/√99.8 − 0.1)
    L = 100_000.0
    ask = [L * (math.sqrt(100.1) - 10), L * (math.sqrt(100.5) - 10)]
    bid = [L * (1 / math.sqrt(99.9) - 0.1) * 100, L * (1 / math.sqrt(99.8) - 0.1) * 100]
    assert result["ask_depth_usd"].to_list() == pytest.approx(ask, rel=1e-12)
    assert result["bid_depth_usd"].to_list() == pytest.approx(bid, rel=1e-12)
    assert result["ask_complete"].to_list() == [True, False]
    assert result["bid_complete"].to_list() == [True, False]


def test_pool_depth_concentrated_without_a_range_proves_nothing() -> None:
    unknown = pool("concentrated", liquidity=100_000.0)
    result = compute_pool_depth(unknown, params=DepthParams(bps=(25,))).collect()
    row = result.row(0, named=True)
    assert (row["bid_depth_usd"], row["ask_depth_usd"]) == (0.0, 0.0)
    assert (row["bid_complete"], row["ask_complete"]) == (False, False)


def test_pool_depth_ignores_unknown_kinds_and_empty_pools() -> None:
    frames = [
        pool("stableswap", x=1.0, y=1.0),
        pool("constant_product", x=0.0, y=1_000.0),
    ]
    result = compute_pool_depth(pl.concat(frames), params=PARAMS).collect()
    assert result.height == 0


def test_depth_params_refuse_bands_outside_0_to_10000() -> None:
    with pytest.raises(ConfigError, match=r"depth\.bps"):
        DepthParams(bps=(10, 10_000))
    with pytest.raises(ConfigError, match=r"depth\.bps"):
        DepthParams(bps=())


def test_book_depth_window_lookback() -> None:
    levels = pl.concat(
        [book((t, "bid", 99.0 + t / 10, 1.0), (t, "ask", 101.0 + t / 10, 2.0)) for t in range(1, 7)]
    )
    t0 = 4
    full = compute_book_depth(levels, params=PARAMS).filter(pl.col("ts_event").cast(pl.Int64) >= t0)
    since = levels.filter(pl.col("ts_event").cast(pl.Int64) >= t0 - BOOK_DEPTH_LOOKBACK_NS)
    window = compute_book_depth(since, params=PARAMS)
    assert full.collect().height == 3 * 5
    assert_frame_equal(window.collect(), full.collect(), check_exact=True)


def test_pool_depth_window_lookback() -> None:
    pools = pl.concat(
        [pool("constant_product", ts=t, x=1_000.0 * t, y=100_000.0 * t) for t in range(1, 7)]
    )
    t0 = 4
    full = compute_pool_depth(pools, params=PARAMS).filter(pl.col("ts_event").cast(pl.Int64) >= t0)
    since = pools.filter(pl.col("ts_event").cast(pl.Int64) >= t0 - POOL_DEPTH_LOOKBACK_NS)
    window = compute_pool_depth(since, params=PARAMS)
    assert full.collect().height == 3 * 5
    assert_frame_equal(window.collect(), full.collect(), check_exact=True)
