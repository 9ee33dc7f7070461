"""compute_execution_quality on hand-computed trades (metrics.md §4.1, §1.2).

Prices are chosen as binary fractions (x.25, x.125, ...) so the arithmetic in the
comments is exact in floating point too.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from divergence.clock import NS_PER_MS, NS_PER_SECOND, ns_from_datetime
from divergence.errors import ConfigError
from divergence.metrics.execution import (
    EXECUTION_LOOKAHEAD_NS,
    EXECUTION_LOOKBACK_NS,
    EXECUTION_SCHEMA,
    ExecutionParams,
    Horizon,
    compute_execution_quality,
    notional_bucket,
)
from divergence.metrics.schemas import (
    CONSOLIDATED_BBO_SCHEMA,
    REFERENCE_NBBO_SCHEMA,
    USD_TRADES_SCHEMA,
)

T0 = ns_from_datetime(datetime(2025, 9, 15, 14, 0, tzinfo=UTC))  # Monday 10:00 ET
S = NS_PER_SECOND
MS = NS_PER_MS
TS = pl.Datetime("ns")


def _ts(values: list[int]) -> pl.Series:
    return pl.Series(values, dtype=pl.Int64).cast(TS)


def trades(*rows: tuple[int, float, str], size: float = 2.0, venue: str = "A") -> pl.LazyFrame:
    """(ts_event, price, side) AAPL trades of ``size`` shares on ``venue``."""
    return pl.DataFrame(
        {
            "ts_event": _ts([r[0] for r in rows]),
            "underlying": ["AAPL"] * len(rows),
            "venue": [venue] * len(rows),
            "instrument_id": [f"AAPLx@{venue}"] * len(rows),
            "trade_id": [f"t{i}" for i in range(len(rows))],
            "price": [r[1] for r in rows],
            "size": [size] * len(rows),
            "notional_usd": [r[1] * size for r in rows],
            "side": [r[2] for r in rows],
            "source_seq": list(range(len(rows))),
        },
        schema=USD_TRADES_SCHEMA,
    ).lazy()


def bbo(*rows: tuple[int, float, float]) -> pl.LazyFrame:
    """(ts_event, best_bid, best_ask) consolidated AAPL token BBO changes."""
    n = len(rows)
    return pl.DataFrame(
        {
            "ts_event": _ts([r[0] for r in rows]),
            "underlying": ["AAPL"] * n,
            "best_bid": [r[1] for r in rows],
            "best_bid_sz": [5.0] * n,
            "best_bid_venue": ["B"] * n,
            "best_ask": [r[2] for r in rows],
            "best_ask_sz": [5.0] * n,
            "best_ask_venue": ["C"] * n,
            "venues": [2] * n,
        },
        schema=CONSOLIDATED_BBO_SCHEMA,
    ).lazy()


def ref(*rows: tuple[int, float, float, str]) -> pl.LazyFrame:
    """(ts_event, nbb, nbo, session) AAPL NBBO."""
    return pl.DataFrame(
        {
            "ts_event": _ts([r[0] for r in rows]),
            "underlying": ["AAPL"] * len(rows),
            "nbb": [r[1] for r in rows],
            "nbo": [r[2] for r in rows],
            "session": [r[3] for r in rows],
        },
        schema=REFERENCE_NBBO_SCHEMA,
    ).lazy()


NO_REF = ref()
QUOTE = bbo((T0, 99.75, 100.25))  # M = 100, QS = 0.5 (50 bps)


def run(t: pl.LazyFrame, q: pl.LazyFrame, r: pl.LazyFrame = NO_REF, *columns: str) -> pl.DataFrame:
    out = compute_execution_quality(t, q, r).collect()
    assert out.schema == EXECUTION_SCHEMA
    return out.select("trade_id", *columns)


def expected(**columns: list[object]) -> pl.DataFrame:
    return pl.DataFrame(columns).cast({k: EXECUTION_SCHEMA[k] for k in columns})


def test_execution_at_quote_inside_and_outside() -> None:
    t = trades((T0 + S, 100.25, "buy"), (T0 + S, 100.125, "buy"), (T0 + S, 99.5, "sell"))
    cols = (
        "direction",
        "mid_usd",
        "quoted_spread_bps",
        "effective_spread_usd",
        "effective_spread_bps",
        "price_improvement_usd",
        "price_improvement_bps",
        "execution_class",
    )
    # buy at the ask 100.25:     ES = 2·(100.25 − 100) = 0.5 → 50 bps; PI = 100.25 − 100.25 = 0
    # buy inside at 100.125:     ES = 0.25 → 25 bps; PI = 100.25 − 100.125 = 0.125 → 12.5 bps
    # sell below the bid at 99.5: ES = −2·(99.5 − 100) = 1 → 100 bps;
    #                             PI = −(99.75 − 99.5) = −0.25 → −25 bps (outside)
    assert_frame_equal(
        run(t, QUOTE, NO_REF, *cols),
        expected(
            trade_id=["t0", "t1", "t2"],
            direction=[1, 1, -1],
            mid_usd=[100.0] * 3,
            quoted_spread_bps=[50.0] * 3,
            effective_spread_usd=[0.5, 0.25, 1.0],
            effective_spread_bps=[50.0, 25.0, 100.0],
            price_improvement_usd=[0.0, 0.125, -0.25],
            price_improvement_bps=[0.0, 12.5, -25.0],
            execution_class=["at_quote", "improved", "outside"],
        ),
        check_exact=True,
    )


def test_execution_realized_spread_and_price_impact_per_horizon() -> None:
    t = T0 + S
    quotes = bbo(
        (T0, 99.75, 100.25),  # M(t) = 100
        (t + 50 * MS, 100.0, 100.5),  # exactly at t + 50 ms: M = 100.25
        (t + 500 * MS, 100.25, 100.75),  # M = 100.5, still in force at t + 1 s
        (t + 10 * S, 99.5, 100.0),  # M = 99.75 at t + 15 s
        (t + 45 * S, 100.5, 101.0),  # M = 100.75 at t + 1 min
        (t + 240 * S, 101.0, 101.5),  # M = 101.25 at t + 5 min, exactly 60 s old: kept
    )
    # buy at 100.25, ES = 0.5 (50 bps); RS_h = 2·(100.25 − M(t+h)); PI_h = ES − RS_h
    # 50 ms: 2·(100.25 − 100.25) = 0     PI 0.5 → 50 bps
    # 1 s:   2·(100.25 − 100.5) = −0.5   PI 1.0 → 100 bps
    # 15 s:  2·(100.25 − 99.75) = 1.0    PI −0.5 → −50 bps
    # 1 min: 2·(100.25 − 100.75) = −1.0  PI 1.5 → 150 bps
    # 5 min: 2·(100.25 − 101.25) = −2.0  PI 2.5 → 250 bps
    realized = {"50ms": 0.0, "1s": -0.5, "15s": 1.0, "1m": -1.0, "5m": -2.0}
    impact_bps = {"50ms": 50.0, "1s": 100.0, "15s": -50.0, "1m": 150.0, "5m": 250.0}
    values: dict[str, list[object]] = {f"realized_spread_{h}_usd": [v] for h, v in realized.items()}
    values |= {f"price_impact_{h}_bps": [v] for h, v in impact_bps.items()}
    cols = list(values)
    assert_frame_equal(
        run(trades((t, 100.25, "buy")), quotes, NO_REF, *cols),
        expected(trade_id=["t0"], **values),
        check_exact=True,
    )


def test_execution_quote_is_taken_strictly_before_the_trade() -> None:
    t = T0 + S
    quotes = bbo((T0, 99.75, 100.25), (t, 100.75, 101.25))  # update at the trade's instant
    out = run(trades((t, 100.25, "buy")), quotes, NO_REF, "bbo_ts", "mid_usd", "mid_50ms_usd")
    # M(t−) = 100 from T0; the update at t is in force at t + 50 ms: M = 101
    assert_frame_equal(
        out,
        expected(trade_id=["t0"], bbo_ts=[T0], mid_usd=[100.0], mid_50ms_usd=[101.0]),
        check_exact=True,
    )


def test_execution_side_unknown_uses_the_quote_rule() -> None:
    t = trades(
        (T0 + S, 100.125, "unknown"),  # above M = 100: buy
        (T0 + S, 99.875, "unknown"),  # below: sell
        (T0 + S, 100.0, "unknown"),  # at M: unknown, no spread
        (T0 + S, 99.875, "buy"),  # a known side is kept, even below M
    )
    out = run(t, QUOTE, NO_REF, "direction", "side_inferred", "effective_spread_usd")
    # ES: 2·(100.125 − 100) = 0.25; −2·(99.875 − 100) = 0.25; null; 2·(99.875 − 100) = −0.25
    assert_frame_equal(
        out,
        expected(
            trade_id=["t0", "t1", "t2", "t3"],
            direction=[1, -1, None, 1],
            side_inferred=[True, True, True, False],
            effective_spread_usd=[0.25, 0.25, None, -0.25],
        ),
        check_exact=True,
    )


def test_execution_no_quote_before_the_trade() -> None:
    quotes = bbo((T0, 99.75, 100.25))
    t = trades(
        (T0 - S, 100.0, "buy"),  # before any quote
        (T0, 100.0, "buy"),  # the quote is at the same instant: not before
        (T0 + 60 * S + 1, 100.0, "unknown"),  # the quote is 60 s + 1 ns old: absent
    )
    out = run(t, quotes, NO_REF, "direction", "bbo_ts", "mid_usd", "effective_spread_usd")
    assert_frame_equal(
        out,
        expected(
            trade_id=["t0", "t1", "t2"],
            direction=[1, 1, None],
            bbo_ts=[None, None, None],
            mid_usd=[None, None, None],
            effective_spread_usd=[None, None, None],
        ),
        check_exact=True,
    )


def test_execution_five_minute_horizon_after_the_end_of_data_is_null() -> None:
    t = T0 + 10 * S  # the last quote is at T0
    out = run(trades((t, 100.25, "buy")), QUOTE, NO_REF, "mid_15s_usd", "mid_1m_usd", "mid_5m_usd")
    # t + 15 s: the T0 quote is 25 s old (kept); t + 1 min: 70 s old; t + 5 min: 310 s old
    assert_frame_equal(
        out,
        expected(trade_id=["t0"], mid_15s_usd=[100.0], mid_1m_usd=[None], mid_5m_usd=[None]),
        check_exact=True,
    )
    rs = compute_execution_quality(trades((t, 100.25, "buy")), QUOTE, NO_REF).collect()
    assert rs["realized_spread_5m_usd"].to_list() == [None]
    assert rs["price_impact_5m_bps"].to_list() == [None]


def test_execution_against_the_underlying_only_in_regular_session() -> None:
    t = T0 + 10 * S
    refs = pl.concat(
        [
            ref((t - S, 99.875, 100.125, "regular")).with_columns(
                pl.lit("AAPL").alias("underlying")
            ),
            ref((t - S, 99.875, 100.125, "post")).with_columns(pl.lit("TSLA").alias("underlying")),
            ref((t - 3 * S, 99.875, 100.125, "regular")).with_columns(
                pl.lit("NVDA").alias("underlying")
            ),
        ]
    )
    quotes = pl.concat(
        [QUOTE.with_columns(pl.lit(u).alias("underlying")) for u in ("AAPL", "TSLA", "NVDA", "AMD")]
    )
    rows = [
        trades((t, 100.25, "buy")).with_columns(pl.lit(u).alias("underlying"))
        for u in ("AAPL", "TSLA", "NVDA", "AMD")
    ]
    t_all = pl.concat(rows).with_columns(pl.Series("trade_id", ["t0", "t1", "t2", "t3"]))
    cols = (
        "ref_state",
        "ref_age_ms",
        "ref_price_improvement_usd",
        "ref_price_improvement_bps",
        "ref_execution_class",
        "xes_bps",
    )
    # AAPL: NBBO 99.875/100.125 (M_ref 100), 1 s old: buy at 100.25 is outside the NBO by
    #       0.125 → −12.5 bps; XES = 2·(100.25 − 100)/100 × 1e4 = 50 bps
    # TSLA: post session; NVDA: 3 s old > 2 s; AMD: no NBBO at all
    assert_frame_equal(
        run(t_all, quotes, refs, *cols).sort("trade_id"),
        expected(
            trade_id=["t0", "t1", "t2", "t3"],
            ref_state=["live", "not_regular", "stale", "missing"],
            ref_age_ms=[1000.0, 1000.0, 3000.0, None],
            ref_price_improvement_usd=[-0.125, None, None, None],
            ref_price_improvement_bps=[-12.5, None, None, None],
            ref_execution_class=["outside", None, None, None],
            xes_bps=[50.0, None, None, None],
        ),
        check_exact=True,
    )


def test_execution_notional_bucket_codes() -> None:
    notionals = [249.99, 250.0, 999.99, 1_000.0, 4_999.0, 5_000.0, 10_000.0, 19_999.0]
    notionals += [20_000.0, 50_000.0, 199_999.99, 200_000.0, 5e6, None]
    codes = [0, 250, 250, 1_000, 1_000, 5_000, 10_000, 10_000]
    codes += [20_000, 50_000, 50_000, 200_000, 200_000, None]
    out = pl.DataFrame({"n": notionals}, schema={"n": pl.Float64}).select(
        notional_bucket(pl.col("n")).alias("code")
    )
    assert_frame_equal(out, pl.DataFrame({"code": codes}, schema={"code": pl.Int32}))


def test_execution_params_reject_bad_values() -> None:
    with pytest.raises(ConfigError, match="horizons"):
        ExecutionParams(horizons=(Horizon("1s", S), Horizon("1s", 2 * S)))
    with pytest.raises(ConfigError, match="horizons"):
        ExecutionParams(horizons=(Horizon("1 s", S),))
    with pytest.raises(ConfigError, match="max_quote_age_ns"):
        ExecutionParams(max_quote_age_ns=0)
    assert ExecutionParams().lookback_ns == EXECUTION_LOOKBACK_NS == 60 * S
    assert ExecutionParams().lookahead_ns == EXECUTION_LOOKAHEAD_NS == 300 * S


def _random_day(seed: int) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """20 minutes of trades every 0.1-3 s, BBO changes with gaps up to 100 s (so that
    ages near the 60 s limit occur) and NBBO quotes 300 ms after each BBO change."""
    rng = random.Random(seed)
    q_rows, r_rows, t_rows = [], [], []
    ts, mid = T0, 100.0
    while ts < T0 + 1_200 * S:
        ts += rng.choice([200 * MS, S, 7 * S, 40 * S, 55 * S, 100 * S])
        mid += rng.choice([-0.125, 0.0, 0.125])
        q_rows.append((ts, mid - 0.0625, mid + 0.0625))
        r_rows.append((ts + 300 * MS, mid - 0.03125, mid + 0.03125, "regular"))
    ts = T0
    while ts < T0 + 1_200 * S:
        ts += rng.randrange(100 * MS, 3 * S)
        side = rng.choice(["buy", "sell", "unknown"])
        t_rows.append((ts, 100.0 + rng.randrange(-40, 40) / 16, side))
    return trades(*t_rows), bbo(*q_rows), ref(*r_rows)


def _since(frame: pl.LazyFrame, start: int) -> pl.LazyFrame:
    return frame.filter(pl.col("ts_event") >= pl.lit(start).cast(TS))


def _until(frame: pl.LazyFrame, end: int) -> pl.LazyFrame:
    return frame.filter(pl.col("ts_event") <= pl.lit(end).cast(TS))


@pytest.mark.parametrize("t0_s", [300, 450, 600, 750])
def test_execution_lookback_suffices(t0_s: int) -> None:
    t, q, r = _random_day(seed=3)
    t0 = T0 + t0_s * S
    full = compute_execution_quality(t, q, r).collect()
    part = compute_execution_quality(
        *(_since(x, t0 - EXECUTION_LOOKBACK_NS) for x in (t, q, r))
    ).collect()
    after = pl.col("ts_event") >= pl.lit(t0).cast(TS)
    assert_frame_equal(part.filter(after), full.filter(after))
    assert full.filter(after)["mid_usd"].null_count() < full.filter(after).height


@pytest.mark.parametrize("t1_s", [300, 450, 600, 750])
def test_execution_lookahead_suffices(t1_s: int) -> None:
    """Rows at or before t1 are final once the inputs reach t1 + LOOKAHEAD."""
    t, q, r = _random_day(seed=3)
    t1 = T0 + t1_s * S
    full = compute_execution_quality(t, q, r).collect()
    cut = compute_execution_quality(
        *(_until(x, t1 + EXECUTION_LOOKAHEAD_NS) for x in (t, q, r))
    ).collect()
    before = pl.col("ts_event") <= pl.lit(t1).cast(TS)
    assert_frame_equal(cut.filter(before), full.filter(before))
    assert full.filter(before)["realized_spread_5m_usd"].null_count() < full.filter(before).height
