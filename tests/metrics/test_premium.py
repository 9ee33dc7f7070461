"""Daily premium/discount, persistent deviations and the 30-day median spread (§6)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from divergence.clock import ns_from_datetime
from divergence.errors import ConfigError
from divergence.metrics.premium import (
    DAILY_PREMIUM_LOOKBACK_NS,
    DAILY_PREMIUM_SCHEMA,
    MEDIAN_SPREAD_30D_LOOKBACK_NS,
    MEDIAN_SPREAD_SCHEMA,
    PERSISTENT_PREMIUM_LOOKBACK_NS,
    PERSISTENT_PREMIUM_SCHEMA,
    PremiumParams,
    compute_daily_premium,
    compute_median_spread_30d,
    compute_persistent_premium,
)
from divergence.metrics.schemas import CONSOLIDATED_BBO_SCHEMA
from divergence.sessions import ET, default_calendar

S = 1_000_000_000
MIN = 60 * S
TS = pl.Datetime("ns")


def et(*parts: int) -> int:
    return ns_from_datetime(datetime(*parts, tzinfo=ET))


def quotes(*rows: tuple[int, float, float], underlying: str = "AAPL") -> pl.LazyFrame:
    n = len(rows)
    return pl.LazyFrame(
        {
            "ts_event": [r[0] for r in rows],
            "underlying": [underlying] * n,
            "best_bid": [r[1] for r in rows],
            "best_bid_sz": [1.0] * n,
            "best_bid_venue": ["b"] * n,
            "best_ask": [r[2] for r in rows],
            "best_ask_sz": [1.0] * n,
            "best_ask_venue": ["a"] * n,
            "venues": [2] * n,
        },
        schema=CONSOLIDATED_BBO_SCHEMA,
    )


def closes(*rows: tuple[date, float]) -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "underlying": ["AAPL"] * len(rows),
            "trading_day": [r[0] for r in rows],
            "close": [r[1] for r in rows],
        }
    )


def daily(*rows: tuple[str, date, float | None]) -> pl.LazyFrame:
    """Daily premium rows with only the columns the run detection reads."""
    return pl.LazyFrame(
        {
            "underlying": [r[0] for r in rows],
            "trading_day": [r[1] for r in rows],
            "pd": [r[2] for r in rows],
        },
        schema_overrides={"pd": pl.Float64},
    )


def trading_days(first: date, last: date) -> list[date]:
    cal = default_calendar()
    days = (first + timedelta(days=k) for k in range((last - first).days + 1))
    return [d for d in days if cal.is_trading_day(d)]


# ---------------------------------------------------------------- daily premium
def test_daily_premium_uses_the_mid_at_the_regular_close() -> None:
    book = quotes(
        (et(2025, 11, 25, 15, 59, 30), 101.9, 102.1),  # mid 102, 30 s before 16:00
        (et(2025, 11, 26, 15, 58), 120.0, 121.0),  # 120 s old at 16:00: too old
        (et(2025, 11, 28, 12, 59, 59), 96.9, 97.1),  # early close at 13:00: mid 97
        (et(2025, 11, 28, 13, 0, 1), 199.0, 201.0),  # after that close: not used
    )
    rows = closes(
        (date(2025, 11, 25), 100.0),
        (date(2025, 11, 26), 100.0),
        (date(2025, 11, 27), 100.0),  # Thanksgiving, not a trading day: no row
        (date(2025, 11, 28), 100.0),
    )
    out = compute_daily_premium(book, rows).collect()
    expected = pl.DataFrame(
        {
            "underlying": ["AAPL"] * 3,
            "trading_day": [date(2025, 11, 25), date(2025, 11, 26), date(2025, 11, 28)],
            "close_ts": [et(2025, 11, 25, 16), et(2025, 11, 26, 16), et(2025, 11, 28, 13)],
            "close": [100.0, 100.0, 100.0],
            "mid_ts": [et(2025, 11, 25, 15, 59, 30), None, et(2025, 11, 28, 12, 59, 59)],
            "mid": [(101.9 + 102.1) / 2, None, (96.9 + 97.1) / 2],
            "pd": [((101.9 + 102.1) / 2 - 100) / 100, None, ((96.9 + 97.1) / 2 - 100) / 100],
        },
        schema=DAILY_PREMIUM_SCHEMA,
    )
    assert_frame_equal(out, expected)
    assert out["pd"].to_list() == [
        pytest.approx(0.02, rel=1e-12),
        None,
        pytest.approx(-0.03, rel=1e-12),
    ]


def test_daily_premium_lookback_equals_full_history() -> None:
    cal = default_calendar()
    days = trading_days(date(2025, 11, 3), date(2025, 11, 28))
    # six quotes 10 s apart from 30 s before each close (13:00 on 11-28): at the close the
    # fourth is in force, bid 103 / ask 104 → mid 103.5 → PD 3.5 %
    ticks = ((cal.regular_close_of(d) or 0) - 30 * S + k * 10 * S for d in days for k in range(6))
    book = quotes(*((ts, 100.0 + k % 6, 101.0 + k % 6) for k, ts in enumerate(ticks)))
    rows = closes(*((d, 100.0) for d in days))
    t0 = et(2025, 11, 17, 16, 0)
    full = compute_daily_premium(book, rows).filter(pl.col("close_ts").cast(pl.Int64) >= t0)
    cut_book = book.filter(pl.col("ts_event").cast(pl.Int64) >= t0 - DAILY_PREMIUM_LOOKBACK_NS)
    cut = compute_daily_premium(cut_book, rows).filter(pl.col("close_ts").cast(pl.Int64) >= t0)
    expected = full.collect()
    assert_frame_equal(cut.collect(), expected)
    assert expected["pd"].to_list() == pytest.approx([0.035] * 9, rel=1e-12)  # 17th-28th


# ---------------------------------------------------------------- persistent premium
def test_persistent_premium_7_trading_days_over_a_weekend_and_holiday_is_not_persistent() -> None:
    # Fri 11-21, Mon 24, Tue 25, Wed 26, (Thanksgiving 27), Fri 28, Mon 12-01, Tue 02:
    # 7 trading days over two weekends and the holiday, |PD| > 2 % on each
    seven = trading_days(date(2025, 11, 21), date(2025, 12, 2))
    assert len(seven) == 7
    eight = [date(2025, 11, 20), *seven]
    rows = [("AAA", d, 0.025) for d in seven] + [("AAA", date(2025, 12, 3), 0.02)]  # 2 %: not >
    rows += [("BBB", d, -0.03 if i % 2 else 0.021) for i, d in enumerate(eight)]  # sign flips
    out = compute_persistent_premium(daily(*rows)).collect()
    expected = pl.DataFrame(
        {
            "underlying": ["AAA", "BBB"],
            "start_date": [date(2025, 11, 21), date(2025, 11, 20)],
            "end_date": [date(2025, 12, 2), date(2025, 12, 2)],
            "length_days": [7, 8],
            "max_abs_pd": [0.025, 0.03],
            "persistent": [False, True],
            "flagged_on": [None, date(2025, 12, 2)],  # the 8th trading day
        },
        schema=PERSISTENT_PREMIUM_SCHEMA,
    )
    assert_frame_equal(out, expected)


def test_persistent_premium_a_missing_or_small_trading_day_breaks_the_run() -> None:
    days = trading_days(date(2025, 11, 3), date(2025, 11, 21))  # 15 trading days
    rows = [("AAA", d, 0.05) for d in days if d not in (date(2025, 11, 7), date(2025, 11, 14))]
    rows += [("AAA", date(2025, 11, 14), -0.01)]  # a small PD on the 14th; no row on the 7th
    rows += [("AAA", date(2025, 11, 24), None)]  # a row without a PD (no mid) is no deviation
    out = compute_persistent_premium(daily(*rows), threshold=0.02, days=3).collect()
    assert out.select(
        "start_date", "end_date", "length_days", "persistent", "flagged_on"
    ).rows() == [
        (date(2025, 11, 3), date(2025, 11, 6), 4, True, date(2025, 11, 6)),  # > 3 days
        (date(2025, 11, 10), date(2025, 11, 13), 4, True, date(2025, 11, 13)),
        (date(2025, 11, 17), date(2025, 11, 21), 5, True, date(2025, 11, 20)),
    ]


def test_persistent_premium_lookback_equals_full_history() -> None:
    days = trading_days(date(2025, 9, 1), date(2025, 12, 31))
    pattern = [0.03, 0.03, -0.05, 0.0, 0.03, 0.03, 0.03, 0.03, 0.03, 0.03, 0.03, 0.03, 0.01]
    rows = [("AAA", d, pattern[i % len(pattern)]) for i, d in enumerate(days)]
    t0 = date(2025, 11, 3)
    full = compute_persistent_premium(daily(*rows)).filter(pl.col("start_date") >= t0)
    since = datetime(2025, 11, 3, tzinfo=ET) - timedelta(
        microseconds=PERSISTENT_PREMIUM_LOOKBACK_NS // 1000
    )
    cut_rows = [r for r in rows if r[1] >= since.date()]
    cut = compute_persistent_premium(daily(*cut_rows)).filter(pl.col("start_date") >= t0)
    expected = full.collect()
    assert_frame_equal(cut.collect(), expected)
    # the pattern repeats a 3-day run (0.03, 0.03, −0.05) and an 8-day one: only the latter
    lengths = expected.select("length_days", "persistent").unique().sort("length_days").rows()
    assert lengths == [(3, False), (8, True)]


def test_persistent_premium_rejects_bad_parameters() -> None:
    with pytest.raises(ConfigError, match="threshold"):
        compute_persistent_premium(daily(("AAA", date(2025, 11, 3), 0.1)), threshold=0.0)


# ---------------------------------------------------------------- median spread
def hourly(
    day: date, bid: float, ask: float, *, first: tuple[int, int] = (9, 30)
) -> list[tuple[int, float, float]]:
    """The same quote every 59 minutes from ``first`` to 16:00 ET (fresh under the 1 h limit)."""
    start = et(day.year, day.month, day.day, *first)
    return [(start + k * 59 * MIN, bid, ask) for k in range(8)]


def test_median_spread_30d_samples_every_10_seconds_of_the_regular_session() -> None:
    # 11-25: 0.02 from 09:30:00 (samples 09:30:10 ... 09:59:50: 179), then 0.01 from
    # 10:00:00 (samples 10:00:00 ... 16:00:00: 2161); 2340 samples → median 0.01.
    # 11-26: 0.04 all day (2340). Window of the 26th: 2161 × 0.01, 179 × 0.02, 2340 × 0.04:
    # the 2340th and 2341st of 4680 are 0.02 and 0.04 → 0.03.
    day1, day2 = date(2025, 11, 25), date(2025, 11, 26)
    book = [(et(2025, 11, 25, 9, 30), 99.0, 101.0), *hourly(day1, 99.5, 100.5, first=(10, 0))]
    book += hourly(day2, 98.0, 102.0)
    out = compute_median_spread_30d(quotes(*book)).collect()
    expected = pl.DataFrame(
        {
            "underlying": ["AAPL", "AAPL"],
            "date": [day1, day2],
            "ts_event": [et(2025, 11, 25, 16), et(2025, 11, 26, 16)],
            "samples": [2340, 4680],
            "median_spread": [0.01, 0.03],
        },
        schema=MEDIAN_SPREAD_SCHEMA,
    )
    assert_frame_equal(out, expected, rel_tol=1e-12)


def test_median_spread_30d_window_is_30_calendar_days_and_skips_stale_days() -> None:
    # 11-25: 0.02; 12-24 (29 days later, early close 13:00): 0.04; 12-26 (31 days): 0.06.
    # Between them the book is silent: those days have no fresh samples and no row.
    book = hourly(date(2025, 11, 25), 99.0, 101.0)
    book += hourly(date(2025, 12, 24), 98.0, 102.0)
    book += hourly(date(2025, 12, 26), 97.0, 103.0)
    out = compute_median_spread_30d(quotes(*book)).collect()
    # 12-24 samples 09:30:10-13:00:00 = 1260; the 11-25 ones are in its window (2340):
    # 2340 × 0.02 and 1260 × 0.04 → median 0.02. 12-26's window starts 11-27, without
    # 11-25: 1260 × 0.04 and 2340 × 0.06 → median 0.06.
    assert out.select("date", "samples").rows() == [
        (date(2025, 11, 25), 2340),
        (date(2025, 12, 24), 3600),
        (date(2025, 12, 26), 3600),
    ]
    assert out["median_spread"].to_list() == pytest.approx([0.02, 0.02, 0.06], rel=1e-12)


def test_median_spread_30d_all_hours_samples_the_whole_et_day() -> None:
    start = et(2025, 11, 29, 0, 0)  # Saturday: no regular session, but tokens trade
    book = [(start + k * 59 * MIN, 99.0, 101.0) for k in range(25)]
    params = PremiumParams(spread_hours="all")
    out = compute_median_spread_30d(quotes(*book), params=params).collect()
    # 00:00:10 ... 24:00:00 every 10 s: 8640 samples, all 0.02
    assert out.rows() == [
        (
            "AAPL",
            date(2025, 11, 29),
            datetime(2025, 11, 30, 5, 0),
            8640,
            pytest.approx(0.02, rel=1e-12),
        )
    ]
    assert compute_median_spread_30d(quotes(*book)).collect().height == 0  # regular: none


def test_median_spread_30d_lookback_equals_full_history() -> None:
    book: list[tuple[int, float, float]] = []
    for i, d in enumerate(trading_days(date(2025, 10, 1), date(2025, 12, 10))):
        half = 0.5 + (i * 7 % 5) * 0.25
        book += hourly(d, 100.0 - half, 100.0 + half, first=(9, 0))
    frame = quotes(*book)
    t0 = et(2025, 11, 14, 12, 0)
    full = compute_median_spread_30d(frame).filter(pl.col("ts_event").cast(pl.Int64) >= t0)
    cut_frame = frame.filter(
        pl.col("ts_event").cast(pl.Int64) >= t0 - MEDIAN_SPREAD_30D_LOOKBACK_NS
    )
    cut = compute_median_spread_30d(cut_frame).filter(pl.col("ts_event").cast(pl.Int64) >= t0)
    expected = full.collect()
    assert_frame_equal(cut.collect(), expected)
    assert expected["samples"].min() > 40 * 0 + 2340 * 19  # ≥ 20 trading days in every window
