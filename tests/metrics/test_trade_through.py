"""compute_trade_throughs and its daily summary on hand-computed cases (metrics.md §4.3)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from divergence.clock import NS_PER_MS, NS_PER_SECOND, ns_from_datetime
from divergence.errors import ConfigError
from divergence.metrics.schemas import USD_QUOTES_SCHEMA, USD_TRADES_SCHEMA
from divergence.metrics.trade_through import (
    TRADE_THROUGH_LOOKBACK_NS,
    TRADE_THROUGH_SCHEMA,
    TRADE_THROUGH_SUMMARY_LOOKBACK_NS,
    TRADE_THROUGH_SUMMARY_SCHEMA,
    TradeThroughParams,
    compute_trade_through_summary,
    compute_trade_throughs,
)

T0 = ns_from_datetime(datetime(2025, 9, 15, 14, 0, tzinfo=UTC))  # Monday 10:00 ET
S = NS_PER_SECOND
MS = NS_PER_MS
TS = pl.Datetime("ns")
T = T0 + 10 * S  # the trade instant of most cases


def _ts(values: list[int]) -> pl.Series:
    return pl.Series(values, dtype=pl.Int64).cast(TS)


def trades(*rows: tuple[int, str, float, str], size: float = 2.0) -> pl.LazyFrame:
    """(ts_event, venue, price, side) AAPL trades of ``size`` shares."""
    return pl.DataFrame(
        {
            "ts_event": _ts([r[0] for r in rows]),
            "underlying": ["AAPL"] * len(rows),
            "venue": [r[1] for r in rows],
            "instrument_id": [f"AAPLx@{r[1]}" for r in rows],
            "trade_id": [f"t{i}" for i in range(len(rows))],
            "price": [r[2] for r in rows],
            "size": [size] * len(rows),
            "notional_usd": [r[2] * size for r in rows],
            "side": [r[3] for r in rows],
            "source_seq": list(range(len(rows))),
        },
        schema=USD_TRADES_SCHEMA,
    ).lazy()


def quotes(
    *rows: tuple[int, str, float | None, float | None], fee_bps: float = 0.0
) -> pl.LazyFrame:
    """(ts_event, venue, bid, ask) AAPL token quotes, all with the taker fee ``fee_bps``."""
    n = len(rows)
    return pl.DataFrame(
        {
            "ts_event": _ts([r[0] for r in rows]),
            "underlying": ["AAPL"] * n,
            "venue": [r[1] for r in rows],
            "instrument_id": [f"AAPLx@{r[1]}" for r in rows],
            "source_kind": ["book"] * n,
            "bid": [r[2] for r in rows],
            "bid_sz": [5.0] * n,
            "ask": [r[3] for r in rows],
            "ask_sz": [5.0] * n,
            "fee_bps": [fee_bps] * n,
            "source_seq": list(range(n)),
        },
        schema=USD_QUOTES_SCHEMA,
    ).lazy()


COLS = (
    "trade_id",
    "direction",
    "protected_price_usd",
    "protected_limit_usd",
    "protected_venue",
    "traded_through",
    "trade_through_bps",
    "flicker_exempt",
)


def run(t: pl.LazyFrame, q: pl.LazyFrame, params: TradeThroughParams | None = None) -> pl.DataFrame:
    out = compute_trade_throughs(t, q, params=params or TradeThroughParams()).collect()
    assert out.schema == TRADE_THROUGH_SCHEMA
    return out.select(COLS)


def expected(*rows: tuple[object, ...]) -> pl.DataFrame:
    return pl.DataFrame(
        [dict(zip(COLS, r, strict=True)) for r in rows],
        schema={c: TRADE_THROUGH_SCHEMA.get(c, pl.String()) for c in COLS},
    )


def better_offer_since(age_ns: int) -> pl.LazyFrame:
    """Venue B offers 100.50 from T − 5 s and 100.00 from T − ``age_ns``; A is the trade
    venue (its own quotes never count)."""
    return quotes(
        (T - 5 * S, "B", 99.5, 100.5),
        (T - age_ns, "B", 99.5, 100.0),
        (T - 5 * S, "A", 99.75, 100.0),
    )


def test_trade_through_better_offer_held_1_1_s_is_a_trade_through() -> None:
    # B's 100.00 was in force over all of [T − 1 s, T): protected. Buy at 100.25 > 100.00:
    # amount (100.25 − 100)/100 × 1e4 = 25 bps
    out = run(trades((T, "A", 100.25, "buy")), better_offer_since(1_100 * MS))
    assert_frame_equal(out, expected(("t0", 1, 100.0, 100.0, "B", True, 25.0, False)))


def test_trade_through_better_offer_held_0_9_s_is_exempt() -> None:
    # at T − 1 s B still showed 100.50 (worse than the trade): flickering-quote exemption,
    # the protected offer is 100.50 and the trade is not a trade-through
    out = run(trades((T, "A", 100.25, "buy")), better_offer_since(900 * MS))
    assert_frame_equal(out, expected(("t0", 1, 100.5, 100.5, "B", False, None, True)))


def test_trade_through_better_offer_held_exactly_1_s_counts() -> None:
    out = run(trades((T, "A", 100.25, "buy")), better_offer_since(S))
    assert_frame_equal(out, expected(("t0", 1, 100.0, 100.0, "B", True, 25.0, False)))


def test_trade_through_quote_at_the_trade_instant_is_not_before_it() -> None:
    # B improves to 100.00 at exactly T: at T− B still offers 100.50, no flicker either
    out = run(trades((T, "A", 100.25, "buy")), better_offer_since(0))
    assert_frame_equal(out, expected(("t0", 1, 100.5, 100.5, "B", False, None, False)))


def test_trade_through_sell_mirrors_against_the_bid() -> None:
    q = quotes((T - 2 * S, "B", 100.5, 101.0), (T - 2 * S, "C", 100.375, 101.0))
    # best protected bid: B 100.50; sell at 100.25 < 100.50:
    # amount −(100.25 − 100.5)/100.5 × 1e4 = 0.25/100.5 × 1e4 = 24.875621890547265 bps
    out = run(trades((T, "A", 100.25, "sell"), (T, "A", 100.5, "sell")), q)
    assert_frame_equal(
        out,
        expected(
            ("t0", -1, 100.5, 100.5, "B", True, 0.25 / 100.5 * 1e4, False),
            ("t1", -1, 100.5, 100.5, "B", False, None, False),  # at the bid: not through
        ),
        rel_tol=1e-12,
    )


def test_trade_through_fee_and_buffer_widen_the_limit() -> None:
    q = quotes((T - 2 * S, "B", 99.5, 100.0), fee_bps=30.0)
    t = trades((T, "A", 100.25, "buy"), (T, "A", 100.375, "buy"))
    # limit = 100 × (1 + 30/1e4) = 100.30: 100.25 is within it, 100.375 beyond it;
    # the amount is against B's price itself: (100.375 − 100)/100 × 1e4 = 37.5 bps
    assert_frame_equal(
        run(t, q),
        expected(
            ("t0", 1, 100.0, 100.3, "B", False, None, False),
            ("t1", 1, 100.0, 100.3, "B", True, 37.5, False),
        ),
        rel_tol=1e-12,
    )
    # a 10 bps buffer on top: limit 100 × 1.004 = 100.40, neither trade is through
    out = run(t, q, TradeThroughParams(buffer_bps=10.0))
    assert out["traded_through"].to_list() == [False, False]
    assert out["protected_limit_usd"].to_list() == pytest.approx([100.4, 100.4], rel=1e-12)


def test_trade_through_best_venue_is_the_lowest_limit_after_fees() -> None:
    q = pl.concat(
        [
            quotes((T - 2 * S, "B", 99.5, 100.125)),  # limit 100.125
            quotes((T - 2 * S, "C", 99.5, 100.0625), fee_bps=10.0),  # 100.0625 × 1.001
        ]
    )
    # C's limit 100.1625625 > B's 100.125: B is protected; (100.25 − 100.125)/100.125 × 1e4
    out = run(trades((T, "A", 100.25, "buy")), q)
    assert_frame_equal(
        out,
        expected(("t0", 1, 100.125, 100.125, "B", True, 0.125 / 100.125 * 1e4, False)),
        rel_tol=1e-12,
    )


def test_trade_through_own_venue_one_sided_and_stale_quotes_do_not_protect() -> None:
    q = quotes(
        (T - 5 * S, "A", 99.5, 99.0),  # the trade's own venue
        (T - 5 * S, "B", 99.0, None),  # no offer at all
        (T - 60 * S - 1, "C", 99.0, 99.0),  # 60 s + 1 ns old at T: not in force
        (T - 5 * S, "D", 99.0, 100.5),  # the only live offer
    )
    out = run(trades((T, "A", 100.25, "buy")), q)
    assert_frame_equal(out, expected(("t0", 1, 100.5, 100.5, "D", False, None, False)))


def test_trade_through_quote_exactly_max_age_old_still_protects() -> None:
    q = quotes((T - 60 * S, "C", 99.0, 100.0))
    out = run(trades((T, "A", 100.25, "buy")), q)
    assert_frame_equal(out, expected(("t0", 1, 100.0, 100.0, "C", True, 25.0, False)))


def test_trade_through_unknown_side_and_no_other_venue() -> None:
    q = quotes((T - 5 * S, "B", 99.5, 100.0))
    t = trades((T, "A", 100.25, "unknown"), (T, "B", 100.25, "buy"))
    # t0: not evaluated; t1: on B, no other venue quotes: evaluated, not through
    assert_frame_equal(
        run(t, q),
        expected(
            ("t0", None, None, None, None, None, None, None),
            ("t1", 1, None, None, None, False, None, False),
        ),
    )


def test_trade_through_params_reject_bad_values() -> None:
    with pytest.raises(ConfigError, match="min_quote_age_ns"):
        TradeThroughParams(min_quote_age_ns=0)
    with pytest.raises(ConfigError, match="buffer_bps"):
        TradeThroughParams(buffer_bps=-1.0)
    assert TradeThroughParams().lookback_ns == TRADE_THROUGH_LOOKBACK_NS == 61 * S


def _tt_rows(*rows: tuple[int, str, float, bool | None, float | None]) -> pl.LazyFrame:
    """(ts_event, venue, notional, traded_through, bps) trade-through rows."""
    n = len(rows)
    return pl.DataFrame(
        {
            "ts_event": _ts([r[0] for r in rows]),
            "underlying": ["AAPL"] * n,
            "venue": [r[1] for r in rows],
            "instrument_id": ["x"] * n,
            "trade_id": [str(i) for i in range(n)],
            "source_seq": list(range(n)),
            "price": [100.0] * n,
            "size": [r[2] / 100 for r in rows],
            "notional_usd": [r[2] for r in rows],
            "direction": [None if r[3] is None else 1 for r in rows],
            "traded_through": [r[3] for r in rows],
            "trade_through_bps": [r[4] for r in rows],
        },
        schema_overrides={"direction": pl.Int8, "traded_through": pl.Boolean},
    ).lazy()


def test_trade_through_summary_rates_per_et_day() -> None:
    late = ns_from_datetime(datetime(2025, 9, 15, 3, 59, tzinfo=UTC))  # 23:59 ET, 14 Sep
    early = ns_from_datetime(datetime(2025, 9, 15, 4, 1, tzinfo=UTC))  # 00:01 ET, 15 Sep
    rows = _tt_rows(
        (late, "A", 100.0, True, 20.0),
        (late, "A", 300.0, False, None),
        (late, "A", 50.0, None, None),  # side unknown: counted, not evaluated
        (early, "A", 400.0, True, 10.0),
        (early, "A", 400.0, True, 30.0),
        (early, "B", 10.0, None, None),
    )
    # 14 Sep, A: 1 of 2 evaluated → 50 %; notional 100 of 400 → 25 %; mean 20 bps
    # 15 Sep, A: 2 of 2 → 100 %, 800 of 800 → 100 %, mean (10 + 30)/2 = 20 bps
    # 15 Sep, B: nothing evaluated → null rates
    assert_frame_equal(
        compute_trade_through_summary(rows).collect(),
        pl.DataFrame(
            {
                "day": [date(2025, 9, 14), date(2025, 9, 15), date(2025, 9, 15)],
                "underlying": ["AAPL"] * 3,
                "venue": ["A", "A", "B"],
                "trades": [3, 2, 1],
                "trades_evaluated": [2, 2, 0],
                "trades_through": [1, 2, 0],
                "notional_usd": [400.0, 800.0, 0.0],
                "notional_through_usd": [100.0, 800.0, 0.0],
                "rate_trades_pct": [50.0, 100.0, None],
                "rate_notional_pct": [25.0, 100.0, None],
                "mean_trade_through_bps": [20.0, 20.0, None],
            },
            schema=TRADE_THROUGH_SUMMARY_SCHEMA,
        ),
    )


def _random_market(seed: int, minutes: int = 20) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Quotes of venues A, B, C with updates 0.3-70 s apart and trades every 0.1-3 s."""
    rng = random.Random(seed)
    q_rows: list[tuple[int, str, float | None, float | None]] = []
    for venue in ("A", "B", "C"):
        ts, mid = T0, 100.0
        while ts < T0 + minutes * 60 * S:
            ts += rng.choice([300 * MS, 800 * MS, 1_200 * MS, 5 * S, 50 * S, 70 * S])
            mid += rng.choice([-0.125, 0.0, 0.125])
            q_rows.append((ts, venue, mid - 0.125, mid + 0.125))
    t_rows = []
    ts = T0
    while ts < T0 + minutes * 60 * S:
        ts += rng.randrange(100 * MS, 3 * S)
        side = rng.choice(["buy", "sell", "unknown"])
        t_rows.append((ts, rng.choice("ABC"), 100.0 + rng.randrange(-8, 8) / 8, side))
    return trades(*t_rows), quotes(*sorted(q_rows))


def _since(frame: pl.LazyFrame, start: int) -> pl.LazyFrame:
    return frame.filter(pl.col("ts_event") >= pl.lit(start).cast(TS))


@pytest.mark.parametrize("t0_s", [300, 450, 600, 750])
def test_trade_through_lookback_suffices(t0_s: int) -> None:
    t, q = _random_market(seed=5)
    t0 = T0 + t0_s * S
    full = compute_trade_throughs(t, q).collect()
    part = compute_trade_throughs(
        _since(t, t0 - TRADE_THROUGH_LOOKBACK_NS), _since(q, t0 - TRADE_THROUGH_LOOKBACK_NS)
    ).collect()
    after = pl.col("ts_event") >= pl.lit(t0).cast(TS)
    assert_frame_equal(part.filter(after), full.filter(after))
    assert full.filter(after)["traded_through"].sum() > 0


def test_trade_through_summary_lookback_is_the_day() -> None:
    t, q = _random_market(seed=5, minutes=300)  # 10:00-15:00 ET
    rows = compute_trade_throughs(t, q).with_columns(
        pl.col("ts_event") + pl.duration(hours=12)  # 22:00 ET 15 Sep - 03:00 ET 16 Sep
    )
    midnight = ns_from_datetime(datetime(2025, 9, 16, 4, 0, tzinfo=UTC))  # 00:00 ET
    full = compute_trade_through_summary(rows).collect()
    part = compute_trade_through_summary(
        _since(rows, midnight - TRADE_THROUGH_SUMMARY_LOOKBACK_NS)
    ).collect()
    new_day = pl.col("day") >= date(2025, 9, 16)
    assert_frame_equal(part.filter(new_day), full.filter(new_day))
    assert full["day"].unique().sort().to_list() == [date(2025, 9, 15), date(2025, 9, 16)]
