"""Shadow LULD bands and events, and the off-hours band (shared metrics.md §5)."""

from __future__ import annotations

import random
from datetime import date, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from divergence.clock import ns_from_datetime
from divergence.metrics.luld import (
    LULD_BANDS_LOOKBACK_NS,
    LULD_BANDS_SCHEMA,
    LULD_EVENTS_LOOKBACK_NS,
    OFF_HOURS_BAND_LOOKBACK_NS,
    LuldParams,
    compute_luld_bands,
)
from divergence.metrics.luld_events import (
    LULD_EVENTS_SCHEMA,
    compute_luld_events,
    compute_off_hours_band,
)
from divergence.metrics.schemas import CONSOLIDATED_BBO_SCHEMA, USD_TRADES_SCHEMA
from divergence.sessions import ET

S = 1_000_000_000
MIN = 60 * S
TS = pl.Datetime("ns")


def et(*parts: int) -> int:
    """Epoch ns of an America/New_York wall-clock time."""
    return ns_from_datetime(datetime(*parts, tzinfo=ET))


def trades(
    *rows: tuple[int, float] | tuple[int, float, str], underlying: str = "AAPL"
) -> pl.LazyFrame:
    """(ts, price[, trade_id]) trades of one underlying; venue = the trade id's first letter."""
    ids = [r[2] if len(r) == 3 else f"t{i}" for i, r in enumerate(rows)]
    return pl.LazyFrame(
        {
            "ts_event": [r[0] for r in rows],
            "underlying": [underlying] * len(rows),
            "venue": [i[0] for i in ids],
            "instrument_id": ["AAPLx"] * len(rows),
            "trade_id": ids,
            "price": [r[1] for r in rows],
            "size": [1.0] * len(rows),
            "notional_usd": [r[1] for r in rows],
            "side": ["buy"] * len(rows),
            "source_seq": list(range(len(rows))),
        },
        schema=USD_TRADES_SCHEMA,
    )


def quotes(*rows: tuple[int, float, float]) -> pl.LazyFrame:
    """(ts, best_bid, best_ask) consolidated BBO rows of AAPL; bid venue "b", ask venue "a"."""
    n = len(rows)
    return pl.LazyFrame(
        {
            "ts_event": [r[0] for r in rows],
            "underlying": ["AAPL"] * n,
            "best_bid": [r[1] for r in rows],
            "best_bid_sz": [10.0] * n,
            "best_bid_venue": ["b"] * n,
            "best_ask": [r[2] for r in rows],
            "best_ask_sz": [10.0] * n,
            "best_ask_venue": ["a"] * n,
            "venues": [2] * n,
        },
        schema=CONSOLIDATED_BBO_SCHEMA,
    )


def context(tier: int, close: float, day: date = date(2025, 11, 24)) -> dict[str, pl.LazyFrame]:
    tiers = pl.LazyFrame({"underlying": ["AAPL"], "tier": [tier]})
    closes = pl.LazyFrame({"underlying": ["AAPL"], "trading_day": [day], "close": [close]})
    return {"tiers": tiers, "prior_closes": closes}


def bands_at(frame: pl.LazyFrame, *instants: int) -> list[tuple[float | None, float | None]]:
    """(lower, upper) in force at each instant (the latest row at or before it)."""
    out = frame.collect()
    result = []
    for ts in instants:
        row = out.filter(pl.col("ts_event").cast(pl.Int64) <= ts).row(-1, named=True)
        result.append((row["lower_band"], row["upper_band"]))
    return result


def band_rows(*rows: tuple[object, ...]) -> pl.DataFrame:
    """Expected LULD_BANDS_SCHEMA rows from (ts, et_date, session, window, ref, doubled,
    lower, upper) with tier 1 and prior close 100."""
    return pl.DataFrame(
        [
            (ts, "AAPL", day, session, window, 1, 100.0, ref, doubled, lower, upper)
            for ts, day, session, window, ref, doubled, lower, upper in rows
        ],
        schema={
            name: (pl.Int64 if name == "ts_event" else dtype)
            for name, dtype in LULD_BANDS_SCHEMA.items()
        },
        orient="row",
    ).with_columns(pl.col("ts_event").cast(TS))


# ---------------------------------------------------------------- bands
@pytest.mark.parametrize(
    ("tier", "close", "price", "expected"),
    [
        (1, 100.0, 100.0, (95.0, 105.0)),  # Tier 1 > $3: 5 % of 100 = 5
        (2, 100.0, 100.0, (90.0, 110.0)),  # Tier 2 > $3: 10 %
        (1, 3.01, 3.01, (2.86, 3.16)),  # 5 % of 3.01 = 0.1505: 2.8595 → 2.86, 3.1605 → 3.16
        (1, 3.00, 3.00, (2.40, 3.60)),  # $3.00 is in $0.75-$3.00: 20 % = 0.60
        (2, 0.75, 0.75, (0.60, 0.90)),  # $0.75 is in $0.75-$3.00: 20 % = 0.15
        (1, 0.50, 0.50, (0.35, 0.65)),  # < $0.75: min($0.15, 75 % = 0.375) = $0.15 cap
        (2, 0.10, 0.10, (0.03, 0.18)),  # min(0.15, 0.075) = 0.075: 0.025 → 0.03, 0.175 → 0.18
        (1, 2.50, 3.50, (2.80, 4.20)),  # the prior close (2.50) sets 20 %: 3.50 ± 0.70
    ],
)
def test_luld_bands_percentage_by_tier_and_prior_close(
    tier: int, close: float, price: float, expected: tuple[float, float]
) -> None:
    t0 = et(2025, 11, 25, 10, 0)  # Tuesday, regular session, no doubling
    out = compute_luld_bands(trades((t0, price)), **context(tier, close))
    assert bands_at(out, t0, t0 + 1) == [(None, None), expected]


def test_luld_bands_move_only_when_the_mean_moves_one_percent() -> None:
    t0 = et(2025, 11, 25, 10, 0)
    frame = trades(
        (t0, 100.0),  # first trade of the day: ref 100 → 95 / 105
        (t0 + 6 * MIN, 100.99),  # alone in its 5-min window: |100.99 − 100| / 100 = 0.99 % → kept
        (t0 + 12 * MIN, 101.00),  # |101 − 100| / 100 = 1.00 % → ref 101: 101 ± 5.05
    )
    out = compute_luld_bands(frame, **context(1, 100.0)).collect()
    moves = out.filter(pl.col("ts_event").cast(pl.Int64).is_between(t0, t0 + 20 * MIN))
    day = date(2025, 11, 25)
    expected = band_rows(
        (t0 + 1, day, "regular", None, 100.0, False, 95.0, 105.0),
        (t0 + 12 * MIN + 1, day, "regular", None, 101.0, False, 95.95, 106.05),
    )
    assert_frame_equal(moves, expected)


def test_luld_bands_reference_is_the_mean_of_the_preceding_five_minutes() -> None:
    t0 = et(2025, 11, 25, 10, 0)
    frame = trades((t0, 100.0), (t0 + MIN, 104.0), (t0 + 5 * MIN, 104.0))
    out = compute_luld_bands(frame, **context(1, 100.0)).collect()
    refs = out.filter(pl.col("ts_event").cast(pl.Int64) > t0).select("ts_event", "ref_price")
    # t0+1ns: 100; t0+1min+1ns: (100+104)/2 = 102 (2 %); t0+5min+1ns: the 100 left at
    # t0+5min+1ns, mean (104+104)/2 = 104 (1.96 % from 102); t0+6min+1ns: mean 104 (0 %)
    assert refs.head(3)["ref_price"].to_list() == [100.0, 102.0, 104.0]
    assert refs.head(3)["ts_event"].cast(pl.Int64).to_list() == [
        t0 + 1,
        t0 + MIN + 1,
        t0 + 5 * MIN + 1,
    ]


def test_luld_bands_double_on_the_early_close_day_after_thanksgiving() -> None:
    # 2025-11-28: regular 09:30-13:00 ET, post 13:00-17:00, then closed; overnight before
    day, t0 = date(2025, 11, 28), et(2025, 11, 28, 9, 31)
    out = compute_luld_bands(trades((t0, 100.0)), **context(1, 100.0, date(2025, 11, 26)))
    expected = band_rows(
        (et(2025, 11, 28, 0, 0), day, "overnight", None, None, None, None, None),
        (et(2025, 11, 28, 4, 0), day, "pre", None, None, None, None, None),
        (et(2025, 11, 28, 9, 30), day, "regular", "opening", None, None, None, None),
        (t0 + 1, day, "regular", "opening", 100.0, True, 90.0, 110.0),  # 2 × 5 %
        (et(2025, 11, 28, 9, 45), day, "regular", None, 100.0, False, 95.0, 105.0),
        (et(2025, 11, 28, 12, 35), day, "regular", "closing", 100.0, True, 90.0, 110.0),
        (et(2025, 11, 28, 13, 0), day, "post", None, 100.0, False, 95.0, 105.0),
        (et(2025, 11, 28, 17, 0), day, "closed", None, 100.0, False, 95.0, 105.0),
        (et(2025, 11, 29, 0, 0), date(2025, 11, 29), "closed", None, None, None, None, None),
    )
    assert_frame_equal(out.collect(), expected)


@pytest.mark.parametrize(
    ("closing_doubling", "expected"), [(True, (80.0, 120.0)), (False, (90.0, 110.0))]
)
def test_luld_bands_tier2_closing_doubling_is_a_parameter(
    closing_doubling: bool, expected: tuple[float, float]
) -> None:
    t0 = et(2025, 11, 25, 15, 30)  # Tier 2 at $100: 10 %, doubled to 20 % from 15:35
    params = LuldParams(tier2_closing_doubling=closing_doubling)
    out = compute_luld_bands(trades((t0, 100.0)), **context(2, 100.0), params=params)
    at = [t0 + 1, et(2025, 11, 25, 15, 35), et(2025, 11, 25, 16, 0)]
    assert bands_at(out, *at) == [(90.0, 110.0), expected, (90.0, 110.0)]


def test_luld_bands_reset_at_et_midnight_and_apply_at_all_hours() -> None:
    late = et(2025, 11, 24, 23, 59)
    early = et(2025, 11, 25, 0, 0, 30)
    frame = trades((late, 100.0), (early, 100.5), (early + MIN, 90.0, "xbreach"))
    closes = pl.LazyFrame(
        {
            "underlying": ["AAPL", "AAPL"],
            "trading_day": [date(2025, 11, 21), date(2025, 11, 24)],
            "close": [100.0, 100.0],
        }
    )
    kw = {"tiers": pl.LazyFrame({"underlying": ["AAPL"], "tier": [1]}), "prior_closes": closes}
    out = compute_luld_bands(frame, **kw)
    # midnight resets (no band until 00:00:30); then ref = 100.5, not a 1 % test against
    # 100 nor a mean with yesterday's trade: 100.5 ± 5.025 → 95.475 → 95.48, 105.525 → 105.53
    midnight = et(2025, 11, 25, 0, 0)
    assert bands_at(out, late + 1, midnight, early, early + 1) == [
        (95.0, 105.0),
        (None, None),
        (None, None),
        (95.48, 105.53),
    ]
    events = compute_luld_events(frame, quotes(), out).collect()
    assert events.select("event", "side", "price", "lower_band", "session", "trade_id").rows() == [
        ("band_breach", "lower", 90.0, 95.48, "overnight", "xbreach")
    ]


def test_luld_bands_are_null_without_a_prior_close() -> None:
    t0 = et(2025, 11, 25, 10, 0)
    out = compute_luld_bands(trades((t0, 100.0)), **context(1, 100.0, date(2025, 11, 25)))
    assert bands_at(out, t0 + 1) == [(None, None)]  # the only close is the same day's


# ---------------------------------------------------------------- events
def test_luld_events_trade_exactly_at_the_band_is_not_a_breach() -> None:
    t0 = et(2025, 11, 25, 10, 0)
    t1 = t0 + MIN  # all four see the band of t0's trade only: 95 / 105
    frame = trades(
        (t0, 100.0), (t1, 105.0, "a1"), (t1, 94.99, "c1"), (t1, 105.01, "d1"), (t1, 95.0, "e1")
    )
    bands = compute_luld_bands(frame, **context(1, 100.0))
    out = compute_luld_events(frame, quotes(), bands).collect()
    expected = pl.DataFrame(
        {
            "event": ["band_breach", "band_breach"],
            "underlying": ["AAPL", "AAPL"],
            "ts_start": [t1, t1],
            "ts_end": [t1, t1],
            "side": ["lower", "upper"],
            "price": [94.99, 105.01],
            "ref_price": [100.0, 100.0],
            "lower_band": [95.0, 95.0],
            "upper_band": [105.0, 105.0],
            "session": ["regular", "regular"],
            "venue": ["c", "d"],
            "trade_id": ["c1", "d1"],
        },
        schema_overrides={"ts_start": pl.Int64, "ts_end": pl.Int64},
    ).with_columns(pl.col("ts_start", "ts_end").cast(TS))
    assert out.schema == LULD_EVENTS_SCHEMA
    assert_frame_equal(out, expected)


EVENT_ROW_SCHEMA = {
    n: (pl.Int64 if n in ("ts_start", "ts_end") else d) for n, d in LULD_EVENTS_SCHEMA.items()
}


def limit_rows(*rows: tuple[str, int, int | None, str, float]) -> pl.DataFrame:
    """Expected limit events from (event, start, end, side, price); bands 95 / 105."""
    return pl.DataFrame(
        [
            (event, "AAPL", start, end, side, price, 100.0, 95.0, 105.0, "regular",
             "a" if side == "lower" else "b", None)
            for event, start, end, side, price in rows
        ],
        schema=EVENT_ROW_SCHEMA,
        orient="row",
    ).with_columns(pl.col("ts_start", "ts_end").cast(TS))  # fmt: skip


def test_luld_events_limit_state_of_14_9_seconds_is_not_a_pause_but_15_is() -> None:
    t0 = et(2025, 11, 25, 10, 0)  # one trade at 100: bands 95 / 105 all morning
    a, b = t0 + 10 * S, t0 + 10 * MIN
    book = quotes(
        (a, 94.90, 95.00),  # ask at the lower band: limit state
        (a + 14_900_000_000, 99.0, 100.0),  # exits after 14.9 s
        (b, 105.00, 105.10),  # bid at the upper band
        (b + 15 * S, 99.0, 100.0),  # exits after exactly 15 s: a pause from then
    )
    frame = trades((t0, 100.0))
    out = compute_luld_events(frame, book, compute_luld_bands(frame, **context(1, 100.0)))
    expected = limit_rows(
        ("limit_state_equiv", a, a + 14_900_000_000, "lower", 95.0),
        ("limit_state_equiv", b, b + 15 * S, "upper", 105.0),
        ("pause_equiv", b + 15 * S, b + 15 * S + 5 * MIN, "upper", 105.0),
    )
    assert_frame_equal(out.collect(), expected)


def test_luld_events_pause_suppresses_limit_states_and_one_in_force_restarts() -> None:
    t0 = et(2025, 11, 25, 10, 0)
    s = t0 + MIN
    pause_end = s + 15 * S + 5 * MIN
    book = quotes(
        (s, 94.0, 94.50),  # ask beyond the lower band: a limit state (crypto books can)
        (s + 20 * S, 99.0, 100.0),  # lasted 20 s: limit state 15 s, pause to s+5:15
        (s + MIN, 94.0, 95.0),  # during the pause: not counted
        (s + MIN + 20 * S, 99.0, 100.0),
        (s + 5 * MIN, 94.0, 94.80),  # still in force at the pause end: restarts there
        (pause_end + 10 * S, 99.0, 100.0),  # ... for 10 s: no new pause
    )
    frame = trades((t0, 100.0))
    out = compute_luld_events(frame, book, compute_luld_bands(frame, **context(1, 100.0)))
    expected = limit_rows(
        ("limit_state_equiv", s, s + 15 * S, "lower", 94.50),
        ("pause_equiv", s + 15 * S, pause_end, "lower", 94.50),
        ("limit_state_equiv", pause_end, pause_end + 10 * S, "lower", 94.80),
    )
    assert_frame_equal(out.collect(), expected)


def test_luld_events_open_limit_state_at_the_horizon() -> None:
    t0 = et(2025, 11, 25, 10, 0)
    s = t0 + MIN
    frame = trades((t0, 100.0))
    bands = compute_luld_bands(frame, **context(1, 100.0))
    book = quotes((s, 94.0, 95.0))
    # inputs end at s (the last quote): 0 s observed, so the end is unknown
    assert compute_luld_events(frame, book, bands).collect()["ts_end"].to_list() == [None]
    # told the inputs run to s + 15 s: it lasted 15 s, so a pause
    out = compute_luld_events(frame, book, bands, horizon_ns=s + 15 * S).collect()
    assert out["event"].to_list() == ["limit_state_equiv", "pause_equiv"]
    assert out["ts_end"].cast(pl.Int64).to_list() == [s + 15 * S, s + 15 * S + 5 * MIN]


def test_luld_events_ignore_quotes_older_than_an_hour() -> None:
    t0 = et(2025, 11, 25, 10, 0)
    frame = trades((t0, 100.0), (t0 + 70 * MIN, 100.0))
    # a limit state from t0+1min; the quote never changes, so it goes on pausing every
    # 5 min 15 s until it is an hour old (t0+61min) and then counts as absent
    book = quotes((t0 + MIN, 94.0, 95.0))
    out = compute_luld_events(frame, book, compute_luld_bands(frame, **context(1, 100.0)))
    starts = out.filter(pl.col("event") == "limit_state_equiv").collect()["ts_start"]
    step = 15 * S + 5 * MIN
    assert starts.cast(pl.Int64).to_list() == [t0 + MIN + k * step for k in range(12)]


# ---------------------------------------------------------------- live = backfill
def synthetic_market(seed: int = 7) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Two and a half days of AAPL trades and consolidated quotes with jumps."""
    rng = random.Random(seed)
    start, end = et(2025, 11, 24, 18, 0), et(2025, 11, 27, 6, 0)
    rows: list[tuple[int, float, str]] = []
    book: list[tuple[int, float, float]] = []
    price, ts = 100.0, start
    while ts < end:
        ts += rng.randint(5, 90) * S
        price *= 1 + rng.choice([0.0, 0.001, -0.001, 0.004, -0.004, 0.07, -0.07, 0.0])
        rows.append((ts, round(price, 2), f"v{len(rows)}"))
        if rng.random() < 0.7:
            half = rng.choice([0.01, 0.05, 0.2])
            jump = rng.choice([0.0, 0.0, 0.0, 0.06, -0.06])
            mid = price * (1 + jump)
            book.append((ts + rng.randint(1, 4) * S, round(mid - half, 2), round(mid + half, 2)))
    return trades(*rows), quotes(*book)


def test_luld_bands_and_events_lookback_equals_full_history() -> None:
    market_trades, market_quotes = synthetic_market()
    kw = context(1, 100.0, date(2025, 11, 21))
    t0 = et(2025, 11, 26, 3, 17)
    full_bands = compute_luld_bands(market_trades, **kw)
    full_events = compute_luld_events(market_trades, market_quotes, full_bands)

    def since(frame: pl.LazyFrame, lookback: int) -> pl.LazyFrame:
        return frame.filter(pl.col("ts_event").cast(pl.Int64) >= t0 - lookback)

    bands = compute_luld_bands(since(market_trades, LULD_BANDS_LOOKBACK_NS), **kw)
    cut_trades = since(market_trades, LULD_EVENTS_LOOKBACK_NS)
    cut_bands = compute_luld_bands(cut_trades, **kw)
    events = compute_luld_events(
        cut_trades, since(market_quotes, LULD_EVENTS_LOOKBACK_NS), cut_bands
    )
    after_bands = pl.col("ts_event").cast(pl.Int64) >= t0
    after_events = pl.col("ts_start").cast(pl.Int64) >= t0
    expected_events = full_events.filter(after_events).collect()
    assert_frame_equal(
        bands.filter(after_bands).collect(), full_bands.filter(after_bands).collect()
    )
    assert_frame_equal(events.filter(after_events).collect(), expected_events)
    # the window is not trivially empty: every kind of event happens after t0
    assert set(expected_events["event"]) == {"band_breach", "limit_state_equiv", "pause_equiv"}


# ---------------------------------------------------------------- off-hours band
def references(*rows: tuple[int, float]) -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "ts_event": pl.Series([r[0] for r in rows], dtype=pl.Int64).cast(TS),
            "underlying": ["AAPL"] * len(rows),
            "ref_price": [r[1] for r in rows],
        }
    )


def test_off_hours_band_flags_trades_more_than_20_percent_off_the_regular_session() -> None:
    refs = references((et(2025, 11, 25, 16, 0), 100.0), (et(2025, 11, 26, 16, 0), 50.0))
    frame = trades(
        (et(2025, 11, 25, 15, 0), 150.0, "regular"),  # regular session: LULD's job, skipped
        (et(2025, 11, 25, 17, 0), 120.0, "at20"),  # exactly +20 %: inside
        (et(2025, 11, 25, 17, 1), 120.01, "up"),  # 100 × 1.2 = 120 < 120.01
        (et(2025, 11, 25, 21, 0), 79.99, "down"),  # overnight, below 80
        (et(2025, 11, 26, 8, 0), 130.0, "pre"),  # pre-market: still the 25th's reference
        (et(2025, 11, 28, 14, 0), 39.0, "post"),  # early-close day: 14:00 is post; 50 × 0.8 = 40
        (et(2025, 11, 29, 12, 0), 60.01, "weekend"),  # Saturday, closed: 50 × 1.2 = 60
    )
    out = compute_off_hours_band(frame, refs).collect()
    assert out.schema == LULD_EVENTS_SCHEMA
    assert out.select("trade_id", "side", "session", "ref_price").rows() == [
        ("up", "upper", "post", 100.0),
        ("down", "lower", "overnight", 100.0),
        ("pre", "upper", "pre", 100.0),
        ("post", "lower", "post", 50.0),
        ("weekend", "upper", "closed", 50.0),
    ]
    assert out["lower_band"].to_list() == pytest.approx([80.0, 80.0, 80.0, 40.0, 40.0], rel=1e-12)
    assert out["upper_band"].to_list() == pytest.approx(
        [120.0, 120.0, 120.0, 60.0, 60.0], rel=1e-12
    )
    assert out["event"].unique().to_list() == ["off_hours_band"]


def test_off_hours_band_needs_a_reference_at_most_eight_days_old() -> None:
    ref_ts = et(2025, 11, 25, 16, 0)
    frame = trades(
        (ref_ts + OFF_HOURS_BAND_LOOKBACK_NS, 10.0, "edge"),
        (ref_ts + OFF_HOURS_BAND_LOOKBACK_NS + 1, 10.0, "stale"),
    )
    out = compute_off_hours_band(frame, references((ref_ts, 100.0))).collect()
    assert out["trade_id"].to_list() == ["edge"]  # 8 days later is 16:00 ET Wednesday: post


def test_off_hours_band_lookback_equals_full_history() -> None:
    market_trades, _ = synthetic_market(seed=11)
    refs = references(
        (et(2025, 11, 24, 16, 0), 100.0),
        (et(2025, 11, 25, 16, 0), 97.0),
        (et(2025, 11, 26, 16, 0), 103.0),
    )
    t0 = et(2025, 11, 26, 1, 0)
    full = compute_off_hours_band(market_trades, refs).filter(
        pl.col("ts_start").cast(pl.Int64) >= t0
    )
    recent = pl.col("ts_event").cast(pl.Int64) >= t0 - OFF_HOURS_BAND_LOOKBACK_NS
    cut = compute_off_hours_band(market_trades.filter(recent), refs.filter(recent))
    expected = full.collect()
    assert_frame_equal(cut.filter(pl.col("ts_start").cast(pl.Int64) >= t0).collect(), expected)
    assert expected.height > 0


def test_luld_params_reject_bad_values() -> None:
    from divergence.errors import ConfigError

    with pytest.raises(ConfigError, match="update_threshold"):
        LuldParams(update_threshold=0.0)
    with pytest.raises(ConfigError, match="limit_state_ns"):
        LuldParams(limit_state_ns=20 * S)
