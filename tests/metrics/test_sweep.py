"""compute_sweep_costs on hand-computed sweeps of books and pools (metrics.md §3.3, §4.1)."""

from __future__ import annotations

import math

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from divergence.clock import NS_PER_SECOND
from divergence.errors import ConfigError
from divergence.metrics.sweep import (
    SWEEP_LOOKBACK_NS,
    SWEEP_SCHEMA,
    SweepParams,
    compute_sweep_costs,
)

TS = pl.Datetime("ns")
S = NS_PER_SECOND
T = 1_000 * S  # the sample time used by most tests


def _ts(values: list[int]) -> pl.Series:
    return pl.Series(values, dtype=pl.Int64).cast(TS)


def book(*rows: tuple[str, float, float], venue: str = "kraken", fee_bps: float = 0.0,
         ts: int = T) -> pl.LazyFrame:  # fmt: skip
    """(side, price, size) levels of AAPL on ``venue`` at ``ts``."""
    return pl.LazyFrame(
        {
            "ts_event": _ts([ts] * len(rows)),
            "underlying": ["AAPL"] * len(rows),
            "venue": [venue] * len(rows),
            "instrument_id": [f"AAPLx@{venue}"] * len(rows),
            "side": [r[0] for r in rows],
            "price": [r[1] for r in rows],
            "size": [r[2] for r in rows],
            "fee_bps": [fee_bps] * len(rows),
        },
        schema_overrides={
            "price": pl.Float64,
            "size": pl.Float64,
            **{n: pl.String for n in ("underlying", "venue", "instrument_id", "side")},
        },
    )


NO_LEVELS = book()


def cp_pool(x: float, y: float, *, fee_bps: float = 0.0, venue: str = "dex",
            ts: int = T) -> pl.LazyFrame:  # fmt: skip
    """A constant-product pool: x shares, y USD."""
    return _pool("constant_product", venue, ts, y / x, x, y, None, fee_bps, None, None)


def cl_pool(liquidity: float, price: float, *, lower: float | None, upper: float | None,
            fee_bps: float = 0.0, venue: str = "clmm") -> pl.LazyFrame:  # fmt: skip
    return _pool("concentrated", venue, T, price, None, None, liquidity, fee_bps, lower, upper)


def _pool(
    kind: str,
    venue: str,
    ts: int,
    price: float,
    x: float | None,
    y: float | None,
    liquidity: float | None,
    fee_bps: float,
    lower: float | None,
    upper: float | None,
) -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "ts_event": _ts([ts]),
            "underlying": ["AAPL"],
            "venue": [venue],
            "instrument_id": [f"AAPLx@{venue}"],
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


NO_POOLS = cp_pool(1.0, 1.0).clear()


def nbbo(*rows: tuple[int, float, float, str]) -> pl.LazyFrame:
    """(ts_event, nbb, nbo, session) of AAPL."""
    return pl.LazyFrame(
        {
            "ts_event": _ts([r[0] for r in rows]),
            "underlying": ["AAPL"] * len(rows),
            "nbb": [r[1] for r in rows],
            "nbo": [r[2] for r in rows],
            "session": [r[3] for r in rows],
        }
    )


REF = nbbo((T - S, 99.0, 101.0, "regular"))  # mid 100, 1 s old at T


def sweep(
    levels: pl.LazyFrame,
    pools: pl.LazyFrame,
    *notionals: float,
    reference: pl.LazyFrame = REF,
) -> pl.DataFrame:
    params = SweepParams(notionals_usd=notionals) if notionals else SweepParams()
    return compute_sweep_costs(levels, pools, reference, params=params).collect()


def row(result: pl.DataFrame, side: str, notional: float) -> dict[str, object]:
    found = result.filter((pl.col("side") == side) & (pl.col("notional_usd") == notional))
    assert found.height == 1
    return found.row(0, named=True)


def test_sweep_book_and_pool_by_hand() -> None:
    # pool: x = 10,000 shares, y = $1,000,000 (p = 100), no fee; book: ask 100.2 × 10,
    # bid 99.8 × 10, no fee.
    levels = book(("ask", 100.2, 10.0), ("bid", 99.8, 10.0))
    result = sweep(levels, cp_pool(10_000.0, 1_000_000.0), 5_000.0)
    # buy $5,000: the pool until its price reaches 100.2 ($999.50), the whole level
    # ($1,002), then the pool again: one swap of u = 5,000 − 1,002 = $3,998 into the pool,
    # x·u/(y + u) = 10,000 × 3,998 / 1,003,998 = 39.8208 shares; 49.8208 shares in all
    buy = 5_000 / (10 + 10_000 * 3_998 / 1_003_998)
    # sell for $5,000: the pool until its price falls to 99.8, the level ($998), then the
    # pool: $4,002 out of it takes x·4,002/(y − 4,002) = 40.1808 shares; 50.1808 in all
    sell = 5_000 / (10 + 10_000 * 4_002 / 995_998)
    assert row(result, "buy", 5_000.0)["fill_consolidated"] == pytest.approx(buy, rel=1e-12)
    assert row(result, "sell", 5_000.0)["fill_consolidated"] == pytest.approx(sell, rel=1e-12)
    # best single venue: the pool alone (the book holds only ~$1,000 a side):
    # buy 5,000 × 1,005,000 / (10,000 × 5,000) = 100.5; sell (1e6 − 5e3) / 1e4 = 99.5
    assert row(result, "buy", 5_000.0)["best_venue"] == "dex"
    assert row(result, "buy", 5_000.0)["fill_best_venue"] == pytest.approx(100.5, rel=1e-12)
    assert row(result, "sell", 5_000.0)["fill_best_venue"] == pytest.approx(99.5, rel=1e-12)
    cost = (100.5 - buy) / buy * 1e4
    assert row(result, "buy", 5_000.0)["cost_of_fragmentation_bps"] == pytest.approx(
        cost, rel=1e-12
    )


def test_sweep_reproduces_the_section_3_3_example() -> None:
    # y = $1,000,000, x = 10,000, f = 0.3%: $5,002.57 in moves the price up by δ = 1%;
    # the average fill is (y + Δy)/x per net dollar, i.e. (y + Δy)/(x·(1 − f)) per dollar
    dy = 1_000_000 * (math.sqrt(1.01) - 1)  # 4,987.56
    notional = dy / 0.997  # 5,002.57
    result = sweep(NO_LEVELS, cp_pool(10_000.0, 1_000_000.0, fee_bps=30.0), notional)
    fill = (1_000_000 + dy) / 10_000 / 0.997  # 1,004,987.56 / 10,000 / 0.997 = 100.8012
    got = row(result, "buy", notional)
    assert got["fill_consolidated"] == pytest.approx(fill, rel=1e-12)
    assert round(notional, 2) == 5_002.57
    # the gap vs the $100 mid: (100.8012 / 100 − 1) × 1e4 = 80.12 bps
    assert got["token_vs_stock_gap_bps"] == pytest.approx((fill / 100 - 1) * 1e4, rel=1e-12)


def test_sweep_fee_effect_on_levels_and_pools() -> None:
    levels = book(("ask", 100.0, 100.0), ("bid", 100.0, 100.0), fee_bps=25.0)
    result = sweep(levels, NO_POOLS, 250.0)
    # inside the first level: buy 100 × 1.0025 = 100.25, sell 100 × 0.9975 = 99.75
    assert row(result, "buy", 250.0)["fill_consolidated"] == pytest.approx(100.25, rel=1e-12)
    assert row(result, "sell", 250.0)["fill_consolidated"] == pytest.approx(99.75, rel=1e-12)
    # both 25 bps worse than the $100 mid
    assert row(result, "sell", 250.0)["token_vs_stock_gap_bps"] == pytest.approx(25.0, rel=1e-9)
    pooled = sweep(NO_LEVELS, cp_pool(1_000.0, 100_000.0, fee_bps=100.0), 1_000.0)
    # 1% LP fee on the input: u = 990 reaches the curve, x·u/(y + u) = 1,000 × 990 /
    # 100,990 = 9.80295 shares, fill 102.0101; selling for $1,000 takes 1,000 × 1,000 /
    # 99,000 = 10.10101 net shares, 10.20304 gross, fill 98.01
    assert row(pooled, "buy", 1_000.0)["fill_consolidated"] == pytest.approx(
        1_000 / (1_000 * 990 / 100_990), rel=1e-12
    )
    assert row(pooled, "sell", 1_000.0)["fill_consolidated"] == pytest.approx(
        1_000 / (1_000 * 1_000 / 99_000 / 0.99), rel=1e-12
    )


def test_sweep_pool_too_thin_for_the_largest_bucket() -> None:
    # x = 1,000 shares, y = $100,000, f = 0.3%: a sell can never take out $200,000
    result = sweep(NO_LEVELS, cp_pool(1_000.0, 100_000.0, fee_bps=30.0))
    thin = result.filter((pl.col("side") == "sell") & (pl.col("notional_usd") == 200_000.0))
    expected = pl.DataFrame(
        {
            "ts_event": _ts([T]),
            "underlying": ["AAPL"],
            "side": ["sell"],
            "notional_usd": [200_000.0],
            "fillable": [False],
            "fill_consolidated": [None],
            "fill_best_venue": [None],
            "best_venue": [None],
            "ref_mid": [100.0],
            "cost_of_fragmentation_bps": [None],
            "token_vs_stock_gap_bps": [None],
        },
        schema=SWEEP_SCHEMA,
    )
    assert_frame_equal(thin, expected)
    # $50,000 still fills: 1,000 × 50,000 / 50,000 = 1,000 net shares, 1,000/0.997 gross
    half = row(result, "sell", 50_000.0)
    assert half["fillable"] is True
    assert half["fill_consolidated"] == pytest.approx(50_000 * 0.997 / 1_000, rel=1e-12)
    assert result.height == 2 * 7  # every side × Rule 605 bucket has a row


def test_sweep_concentrated_pool_stops_at_its_known_range() -> None:
    # L = 100,000 at p = 100 (x_v = 10,000, y_v = 1,000,000), known range up to 100.5:
    # the pool holds L·(√100.5 − 10) = $2,496.88 of buys; then the book's ask 101 × 50
    levels = book(("ask", 101.0, 50.0))
    pools = cl_pool(100_000.0, 100.0, lower=None, upper=100.5)
    result = sweep(levels, pools, 200.0, 5_000.0, 10_000.0)
    # $200 stays inside the range: one swap, fill (y_v + 200)/x_v = 100.02
    assert row(result, "buy", 200.0)["fill_consolidated"] == pytest.approx(100.02, rel=1e-12)
    cap_usd = 100_000 * (math.sqrt(100.5) - 10)
    cap_sh = 100_000 * (0.1 - 1 / math.sqrt(100.5))
    want = 5_000 / (cap_sh + (5_000 - cap_usd) / 101)
    assert row(result, "buy", 5_000.0)["fill_consolidated"] == pytest.approx(want, rel=1e-12)
    # $10,000 needs more than $2,496.88 + 50 × 101 = $7,546.88: unfillable, no extrapolation
    assert row(result, "buy", 10_000.0)["fillable"] is False
    # no lower bound known: nothing provable on the sell side
    assert row(result, "sell", 200.0)["fillable"] is False


def test_sweep_one_venue_market_has_no_fragmentation_cost() -> None:
    levels = book(("ask", 100.0, 5.0), ("ask", 101.0, 100.0), fee_bps=10.0)
    result = sweep(levels, NO_POOLS, 1_000.0)
    got = row(result, "buy", 1_000.0)
    # 5 × 100.1 = $500.5 at the first level, $499.5 at 101.101: 5 + 4.94060 shares
    fill = 1_000 / (5 + 499.5 / 101.101)
    assert got["fill_consolidated"] == pytest.approx(fill, rel=1e-12)
    assert (got["best_venue"], got["fill_best_venue"]) == ("kraken", got["fill_consolidated"])
    assert got["cost_of_fragmentation_bps"] == 0.0
    assert row(result, "sell", 1_000.0)["fillable"] is False  # no bids


def test_sweep_best_single_venue_and_fragmentation_cost() -> None:
    levels = pl.concat(
        [book(("ask", 100.0, 3.0), venue="kraken"), book(("ask", 100.5, 100.0), venue="bybit")]
    )
    result = sweep(levels, NO_POOLS, 250.0, 1_000.0)
    # $250 fits on kraken alone at 100: both fills 100, cost 0
    small = row(result, "buy", 250.0)
    assert (small["best_venue"], small["fill_best_venue"]) == ("kraken", 100.0)
    assert small["cost_of_fragmentation_bps"] == 0.0
    # $1,000: 3 × 100 on kraken + $700 at 100.5 on bybit = 9.96517 shares → 100.34965;
    # kraken alone cannot fill it, bybit alone fills at 100.5
    big = row(result, "buy", 1_000.0)
    fill = 1_000 / (3 + 700 / 100.5)
    assert big["fill_consolidated"] == pytest.approx(fill, rel=1e-12)
    assert big["best_venue"] == "bybit"
    assert big["fill_best_venue"] == pytest.approx(100.5, rel=1e-12)
    assert big["cost_of_fragmentation_bps"] == pytest.approx(
        (100.5 - fill) / fill * 1e4, rel=1e-12
    )  # +15.03 bps: the best single venue is worse


def test_sweep_sell_fragmentation_and_gap_signs() -> None:
    levels = pl.concat(
        [book(("bid", 100.0, 3.0), venue="kraken"), book(("bid", 99.5, 100.0), venue="bybit")]
    )
    got = row(sweep(levels, NO_POOLS, 1_000.0), "sell", 1_000.0)
    # $300 from kraken, $700 at 99.5 on bybit: 3 + 7.03518 shares → 99.64930
    fill = 1_000 / (3 + 700 / 99.5)
    assert got["fill_consolidated"] == pytest.approx(fill, rel=1e-12)
    # positive: bybit alone (99.5) gets less than the consolidated sweep
    assert got["cost_of_fragmentation_bps"] == pytest.approx((fill - 99.5) / fill * 1e4, rel=1e-12)
    # positive: the token sells for less than the stock's $100 mid
    assert got["token_vs_stock_gap_bps"] == pytest.approx((100 - fill) / 100 * 1e4, rel=1e-12)


@pytest.mark.parametrize(
    ("age_s", "session", "ref_mid"),
    [(1, "regular", 100.0), (3, "regular", None), (3, "overnight", 100.0),
     (25, "post", 100.0), (1, "closed", None)],
)  # fmt: skip
def test_sweep_ref_mid_follows_the_session_staleness(
    age_s: int, session: str, ref_mid: float | None
) -> None:
    reference = nbbo((T - age_s * S, 99.0, 101.0, session))
    got = row(sweep(book(("ask", 100.0, 10.0)), NO_POOLS, 250.0, reference=reference), "buy", 250.0)
    assert got["ref_mid"] == ref_mid
    assert got["token_vs_stock_gap_bps"] == (None if ref_mid is None else 0.0)


def test_sweep_params_refuse_bad_values() -> None:
    with pytest.raises(ConfigError, match=r"sweep\.notionals_usd"):
        SweepParams(notionals_usd=(250.0, 0.0))
    with pytest.raises(ConfigError, match=r"sweep\.ref_max_staleness_ms"):
        SweepParams(ref_max_staleness_ms={"regular": 0})
    assert SweepParams().lookback_ns == SWEEP_LOOKBACK_NS == 60 * S


def test_sweep_window_lookback() -> None:
    # samples every 10 s; references every 25 s (overnight: 60 s limit)
    times = [T + 10 * S * i for i in range(12)]
    levels = pl.concat(
        [book(("ask", 100.0 + i, 5.0), ("bid", 99.0 + i, 5.0), ts=t) for i, t in enumerate(times)]
    )
    pools = pl.concat([cp_pool(1_000.0, 100_000.0 + 1_000 * i, ts=t) for i, t in enumerate(times)])
    reference = nbbo(*((T + 25 * S * i, 99.0 + i, 101.0 + i, "overnight") for i in range(6)))
    t0 = times[7]
    params = SweepParams()
    full = compute_sweep_costs(levels, pools, reference, params=params)
    expected = full.filter(pl.col("ts_event").cast(pl.Int64) >= t0).collect()

    def since(frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.filter(pl.col("ts_event").cast(pl.Int64) >= t0 - SWEEP_LOOKBACK_NS)

    window = compute_sweep_costs(since(levels), since(pools), since(reference), params=params)
    assert expected["ref_mid"].null_count() == 0
    assert expected.height == 5 * 2 * 7
    got = window.filter(pl.col("ts_event").cast(pl.Int64) >= t0).collect()
    assert_frame_equal(got, expected, check_exact=True)
