"""MWCB levels and the market-wide context of token activity (shared metrics.md §5.2, §5.5)."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from divergence.clock import ns_from_datetime
from divergence.errors import ConfigError
from divergence.metrics.mwcb import (
    MWCB_CONTEXT_LOOKAHEAD_NS,
    MWCB_CONTEXT_LOOKBACK_NS,
    MWCB_CONTEXT_SCHEMA,
    MWCB_LEVELS_LOOKBACK_NS,
    MWCB_LEVELS_SCHEMA,
    MwcbParams,
    compute_mwcb_context,
    compute_mwcb_levels,
)
from divergence.sessions import ET

MIN = 60_000_000_000
TS = pl.Datetime("ns")


def et(*parts: int) -> int:
    return ns_from_datetime(datetime(*parts, tzinfo=ET))


def prior_closes(*rows: tuple[date, float]) -> pl.LazyFrame:
    return pl.LazyFrame({"date": [r[0] for r in rows], "close": [r[1] for r in rows]})


def index(*rows: tuple[int, float]) -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "ts_event": pl.Series([r[0] for r in rows], dtype=pl.Int64).cast(TS),
            "value": [r[1] for r in rows],
        }
    )


def windows(*starts: int, minutes: int = 1) -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "underlying": ["AAPL"] * len(starts),
            "ts_start": pl.Series(list(starts), dtype=pl.Int64).cast(TS),
            "ts_end": pl.Series([s + minutes * MIN for s in starts], dtype=pl.Int64).cast(TS),
        }
    )


def test_mwcb_levels_are_7_13_20_percent_below_the_prior_close() -> None:
    out = compute_mwcb_levels(
        prior_closes((date(2025, 11, 26), 6000.0), (date(2025, 11, 25), 5000.0))
    )
    expected = pl.DataFrame(
        {
            "date": [date(2025, 11, 25), date(2025, 11, 26)],
            "level_1": [5000 * 0.93, 6000 * 0.93],  # 4650, 5580
            "level_2": [5000 * 0.87, 6000 * 0.87],  # 4350, 5220
            "level_3": [5000 * 0.80, 6000 * 0.80],  # 4000, 4800
        },
        schema=MWCB_LEVELS_SCHEMA,
    )
    assert_frame_equal(out.collect(), expected)
    assert expected.row(1)[1:] == pytest.approx((5580.0, 5220.0, 4800.0), rel=1e-12)


def test_mwcb_levels_lookback_is_row_wise() -> None:
    closes = prior_closes(*((date(2025, 11, d), 6000.0 + d) for d in (20, 21, 24, 25, 26)))
    t0 = date(2025, 11, 24)
    assert MWCB_LEVELS_LOOKBACK_NS == 0
    full = compute_mwcb_levels(closes).filter(pl.col("date") >= t0)
    cut = compute_mwcb_levels(closes.filter(pl.col("date") >= t0))
    assert_frame_equal(cut.collect(), full.collect())


DAY = date(2025, 11, 25)  # levels 5580 / 5220 / 4800 from a 6000 prior close
INDEX = index(
    (et(2025, 11, 25, 9, 0), 4000.0),  # pre-market: not a regular-session value, ignored
    (et(2025, 11, 25, 9, 30), 5990.0),
    (et(2025, 11, 25, 10, 0), 5580.0),  # at Level 1 before 15:25: halt 10:00-10:15
    (et(2025, 11, 25, 10, 30), 5500.0),
    (et(2025, 11, 25, 11, 0), 5220.0),  # at Level 2: halt 11:00-11:15
    (et(2025, 11, 25, 15, 30), 4800.0),  # at Level 3: halt to the close
)


def test_mwcb_context_tags_declines_and_halts_in_the_regular_session() -> None:
    starts = [
        et(2025, 11, 25, 9, 0),  # pre-market window: not regular
        et(2025, 11, 25, 9, 59),  # [09:59, 10:00): before the halt starts
        et(2025, 11, 25, 10, 14),  # inside the Level 1 halt
        et(2025, 11, 25, 10, 15),  # halt over; index still 5580 → decline 1
        et(2025, 11, 25, 11, 5),  # Level 2 halt
        et(2025, 11, 25, 15, 59),  # Level 3: halted for the day
        et(2025, 11, 25, 16, 0),  # post
    ]
    out = compute_mwcb_context(
        windows(*starts),
        levels=compute_mwcb_levels(prior_closes((DAY, 6000.0))),
        index_values=INDEX,
    ).collect()
    assert out.schema == MWCB_CONTEXT_SCHEMA
    assert out.select("regular", "index_value", "decline_level", "halt_level").rows() == [
        (False, None, None, None),
        (True, 5990.0, 0, 0),
        (True, 5580.0, 1, 1),
        (True, 5580.0, 1, 0),
        (True, 5220.0, 2, 2),
        (True, 4800.0, 3, 3),
        (False, None, None, None),
    ]
    assert out["level_1"].to_list() == pytest.approx([5580.0] * 7, rel=1e-12)


def test_mwcb_context_window_overlapping_the_open_uses_the_open() -> None:
    # [09:00, 10:30): the index at the open is 5990 (the 09:00 value is pre-market),
    # and the Level 1 halt from 10:00 overlaps the window
    out = compute_mwcb_context(
        windows(et(2025, 11, 25, 9, 0), minutes=90),
        levels=compute_mwcb_levels(prior_closes((DAY, 6000.0))),
        index_values=INDEX,
    ).collect()
    assert out.select("regular", "index_value", "decline_level", "halt_level").row(0) == (
        True,
        5990.0,
        0,
        1,
    )


@pytest.mark.parametrize(
    ("day", "crossing", "halt"),
    [
        (date(2025, 11, 25), (15, 24, 59), 1),  # before 15:25: 15-min halt
        (date(2025, 11, 25), (15, 25, 0), 0),  # at 15:25: no Level 1 halt
        (date(2025, 11, 28), (12, 24, 59), 1),  # early close at 13:00: cutoff 12:25
        (date(2025, 11, 28), (12, 25, 0), 0),
    ],
)
def test_mwcb_context_level_1_halts_only_before_the_cutoff(
    day: date, crossing: tuple[int, int, int], halt: int
) -> None:
    at = et(day.year, day.month, day.day, *crossing)
    values = index((et(day.year, day.month, day.day, 9, 30), 6000.0), (at, 5500.0))
    out = compute_mwcb_context(
        windows(at), levels=compute_mwcb_levels(prior_closes((day, 6000.0))), index_values=values
    ).collect()
    assert out.select("decline_level", "halt_level").row(0) == (1, halt)


def test_mwcb_context_without_index_data_publishes_levels_only() -> None:
    out = compute_mwcb_context(
        windows(et(2025, 11, 25, 12, 0), et(2025, 11, 26, 12, 0)),
        levels=compute_mwcb_levels(prior_closes((DAY, 6000.0))),
    ).collect()
    assert out.select(
        "et_date", "regular", "index_value", "decline_level", "halt_level"
    ).rows() == [
        (DAY, True, None, None, None),
        (date(2025, 11, 26), True, None, None, None),
    ]
    assert out["level_3"].to_list() == [
        pytest.approx(4800.0, rel=1e-12),
        None,
    ]  # no levels on the 26th


def test_mwcb_context_lookback_equals_full_history() -> None:
    levels = compute_mwcb_levels(prior_closes((DAY, 6000.0), (date(2025, 11, 26), 5900.0)))
    # 25th: 6000 − 25k every 7 min crosses 5580 / 5220 / 4800 at k = 17, 32, 48;
    # 26th (levels 5487 / 5133 / 4720): 5600 − 17k at k = 7 (10:19), 28 (12:46), 52 (15:34)
    values = [(et(2025, 11, 25, 9, 30) + k * 7 * MIN, 6000.0 - 25 * k) for k in range(56)]
    values += [(et(2025, 11, 26, 9, 30) + k * 7 * MIN, 5600.0 - 17 * k) for k in range(56)]
    index_frame = index(*values)
    acts = windows(*(et(2025, 11, 25, 8, 0) + k * 13 * MIN for k in range(240)), minutes=20)
    t0 = et(2025, 11, 26, 12, 0)
    full = compute_mwcb_context(acts, levels=levels, index_values=index_frame)
    recent = pl.col("ts_event").cast(pl.Int64) >= t0 - MWCB_CONTEXT_LOOKBACK_NS
    cut = compute_mwcb_context(
        acts.filter(pl.col("ts_start").cast(pl.Int64) >= t0 - MWCB_CONTEXT_LOOKBACK_NS),
        levels=levels,
        index_values=index_frame.filter(recent),
    )
    after = pl.col("ts_start").cast(pl.Int64) >= t0
    expected = full.filter(after).collect()
    assert_frame_equal(cut.filter(after).collect(), expected)
    assert set(expected["halt_level"].drop_nulls()) == {0, 2, 3}
    assert set(expected["decline_level"].drop_nulls()) == {1, 2, 3}
    # and nothing later than ts_start + LOOKAHEAD matters
    t1 = et(2025, 11, 25, 10, 0)
    early = pl.col("ts_start").cast(pl.Int64) < t1
    bounded = compute_mwcb_context(
        acts.filter(early),
        levels=levels,
        index_values=index_frame.filter(
            pl.col("ts_event").cast(pl.Int64) < t1 + MWCB_CONTEXT_LOOKAHEAD_NS
        ),
    )
    assert_frame_equal(bounded.collect(), full.filter(early).collect())


def test_mwcb_params_reject_unordered_declines() -> None:
    with pytest.raises(ConfigError, match="declines"):
        MwcbParams(declines=(0.13, 0.07, 0.20))
