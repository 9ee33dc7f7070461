"""compute_consolidated_bbo on hand-computed cases (docs/_draft_fragmentation.md)."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from divergence.clock import NS_PER_SECOND, ns_from_datetime
from divergence.errors import ConfigError
from divergence.metrics.consolidated import (
    CONSOLIDATED_BBO_LOOKBACK_NS,
    ConsolidatedParams,
    compute_consolidated_bbo,
)
from divergence.metrics.schemas import CONSOLIDATED_BBO_SCHEMA

T0 = ns_from_datetime(datetime(2025, 9, 15, 14, 0, tzinfo=UTC))
S = NS_PER_SECOND
MS = S // 1000
NAN = float("nan")
QuoteRow = tuple[int, str, float, float, float, float]
"""(ns after T0, venue, bid, bid_sz, ask, ask_sz)."""


def quotes(*rows: QuoteRow, underlying: str = "AAPL", fee_bps: float = 10.0) -> pl.LazyFrame:
    """USD quotes of ``underlying`` on one listing per venue, source_seq in row order."""
    return pl.LazyFrame(
        {
            "ts_event": [T0 + r[0] for r in rows],
            "underlying": [underlying] * len(rows),
            "venue": [r[1] for r in rows],
            "instrument_id": [f"{underlying}x@{r[1]}" for r in rows],
            "source_kind": ["book"] * len(rows),
            "bid": [r[2] for r in rows],
            "bid_sz": [r[3] for r in rows],
            "ask": [r[4] for r in rows],
            "ask_sz": [r[5] for r in rows],
            "fee_bps": [fee_bps] * len(rows),
            "source_seq": list(range(1, len(rows) + 1)),
        },
        schema_overrides={"ts_event": pl.Int64},
    ).with_columns(pl.col("ts_event").cast(pl.Datetime("ns")))


BboRow = tuple[
    int, float | None, float | None, str | None, float | None, float | None, str | None, int
]
"""(ns after T0, best_bid, best_bid_sz, bid venue, best_ask, best_ask_sz, ask venue, venues)."""


def bbo(*rows: BboRow, underlying: str = "AAPL") -> pl.DataFrame:
    return (
        pl.DataFrame(
            {
                "ts_event": [T0 + r[0] for r in rows],
                "underlying": [underlying] * len(rows),
                "best_bid": [r[1] for r in rows],
                "best_bid_sz": [r[2] for r in rows],
                "best_bid_venue": [r[3] for r in rows],
                "best_ask": [r[4] for r in rows],
                "best_ask_sz": [r[5] for r in rows],
                "best_ask_venue": [r[6] for r in rows],
                "venues": [r[7] for r in rows],
            },
            schema_overrides={"ts_event": pl.Int64},
        )
        .with_columns(pl.col("ts_event").cast(pl.Datetime("ns")))
        .cast(CONSOLIDATED_BBO_SCHEMA)
    )


SHORT = ConsolidatedParams(quote_max_age_ns=10 * S, priority_horizon_ns=60 * S)


def test_consolidated_bbo_best_prices_sizes_priority_and_expiry() -> None:
    result = compute_consolidated_bbo(
        quotes(
            (0, "b", 100.0, 1.0, 101.0, 2.0),
            (1 * S, "a", 100.0, 3.0, 100.5, 4.0),
            (2 * S, "b", 100.0, 2.0, 101.0, 2.0),  # refresh: b keeps priority since 0 s
            (3 * S, "c", 99.0, 1.0, 100.5, 6.0),
            (4 * S, "b", 99.5, 2.0, 101.0, 2.0),  # b leaves 100
            (5 * S, "b", 100.0, 1.0, 101.0, 7.0),  # b back at 100: a reached it first (1 s)
        ),
        params=SHORT,
    ).collect()
    expected = bbo(
        (0, 100.0, 1.0, "b", 101.0, 2.0, "b", 1),
        # tie at 100: b (since 0 s) before a (since 1 s), size 1 + 3 = 4
        (1 * S, 100.0, 4.0, "b", 100.5, 4.0, "a", 2),
        (2 * S, 100.0, 5.0, "b", 100.5, 4.0, "a", 2),  # 2 + 3
        # ask tie at 100.5: a (since 1 s) before c (since 3 s), size 4 + 6 = 10
        (3 * S, 100.0, 5.0, "b", 100.5, 10.0, "a", 3),
        (4 * S, 100.0, 3.0, "a", 100.5, 10.0, "a", 3),
        (5 * S, 100.0, 4.0, "a", 100.5, 10.0, "a", 3),  # 3 + 1, a since 1 s < b since 5 s
        # a (quoted at 1 s) expires at 1 + 10 = 11 s: b 100 / c 100.5
        (11 * S, 100.0, 1.0, "b", 100.5, 6.0, "c", 2),
        (13 * S, 100.0, 1.0, "b", 101.0, 7.0, "b", 1),  # c (3 s) expires at 13 s
        (15 * S, None, None, None, None, None, None, 0),  # b (5 s) expires at 15 s
    )
    assert_frame_equal(result, expected)


def test_consolidated_bbo_old_priorities_tie_and_the_venue_name_decides() -> None:
    params = ConsolidatedParams(quote_max_age_ns=10 * S, priority_horizon_ns=2 * S)
    result = compute_consolidated_bbo(
        quotes(
            (0, "b", 100.0, 1.0, 101.0, 1.0),
            (500 * MS, "a", 100.0, 1.0, 102.0, 1.0),
            (1 * S, "b", 100.0, 1.0, 101.0, 1.0),
            (2 * S, "b", 100.0, 1.0, 101.0, 1.0),
            (3 * S, "b", 100.0, 1.0, 101.0, 1.0),
        ),
        params=params,
    ).collect()
    # priority = max(since, t − 2 s): b since 0 s, a since 0.5 s.
    # t = 0.5, 1, 2 s: b max(0, ≤ 0) = 0 < a 0.5 → b.  t = 3 s: b max(0, 1) = a max(0.5, 1)
    # = 1 s → tie → "a" < "b".  a expires at 10.5 s, b (3 s) at 13 s.
    expected = bbo(
        (0, 100.0, 1.0, "b", 101.0, 1.0, "b", 1),
        (500 * MS, 100.0, 2.0, "b", 101.0, 1.0, "b", 2),
        (1 * S, 100.0, 2.0, "b", 101.0, 1.0, "b", 2),
        (2 * S, 100.0, 2.0, "b", 101.0, 1.0, "b", 2),
        (3 * S, 100.0, 2.0, "a", 101.0, 1.0, "b", 2),
        (10_500 * MS, 100.0, 1.0, "b", 101.0, 1.0, "b", 1),
        (13 * S, None, None, None, None, None, None, 0),
    )
    assert_frame_equal(result, expected)


def test_consolidated_bbo_invalid_quote_withdraws_the_venue() -> None:
    result = compute_consolidated_bbo(
        quotes(
            (0, "a", 100.0, 1.0, 101.0, 1.0),
            (1 * S, "b", 99.0, 2.0, 102.0, 2.0),
            (2 * S, "a", 100.5, 1.0, 100.5, 1.0),  # bid >= ask on one venue: a drops out
            (3 * S, "a", 0.0, 1.0, 101.0, 1.0),  # non-positive bid: still out, no change
            (4 * S, "a", NAN, 1.0, 101.0, 1.0),  # not a price: still out, no change
            (5 * S, "a", 99.5, 1.0, 100.9, 1.0),
        ),
        params=SHORT,
    ).collect()
    expected = bbo(
        (0, 100.0, 1.0, "a", 101.0, 1.0, "a", 1),
        (1 * S, 100.0, 1.0, "a", 101.0, 1.0, "a", 2),
        (2 * S, 99.0, 2.0, "b", 102.0, 2.0, "b", 1),
        (5 * S, 99.5, 1.0, "a", 100.9, 1.0, "a", 2),
        (11 * S, 99.5, 1.0, "a", 100.9, 1.0, "a", 1),  # b (1 s) expires
        (15 * S, None, None, None, None, None, None, 0),  # a (5 s) expires
    )
    assert_frame_equal(result, expected)


def test_consolidated_bbo_keeps_a_crossed_consolidated_book() -> None:
    result = compute_consolidated_bbo(
        quotes((0, "a", 101.0, 1.0, 102.0, 1.0), (0, "b", 99.0, 2.0, 100.5, 3.0)),
        params=SHORT,
    ).collect()
    # BB = 101 (a) > BA = 100.5 (b): crossed across venues, kept
    expected = bbo(
        (0, 101.0, 1.0, "a", 100.5, 3.0, "b", 2),
        (10 * S, None, None, None, None, None, None, 0),
    )
    assert_frame_equal(result, expected)


def test_consolidated_bbo_same_instant_resolves_by_source_seq() -> None:
    frame = quotes(
        (0, "a", 100.0, 1.0, 101.0, 1.0),
        (0, "a", 100.2, 5.0, 101.0, 1.0),
    ).with_columns(pl.Series("source_seq", [9, 3]))  # the first row is the later one
    result = compute_consolidated_bbo(frame, params=SHORT).collect()
    expected = bbo(
        (0, 100.0, 1.0, "a", 101.0, 1.0, "a", 1),
        (10 * S, None, None, None, None, None, None, 0),
    )
    assert_frame_equal(result, expected)


def test_consolidated_bbo_keeps_underlyings_apart() -> None:
    frame = pl.concat(
        [
            quotes((1 * S, "a", 400.0, 1.0, 401.0, 1.0), underlying="TSLA"),
            quotes((0, "a", 100.0, 1.0, 101.0, 1.0)),
        ]
    )
    result = compute_consolidated_bbo(frame, params=SHORT).collect()
    expected = pl.concat(
        [
            bbo((0, 100.0, 1.0, "a", 101.0, 1.0, "a", 1)),
            bbo((10 * S, None, None, None, None, None, None, 0)),
            bbo((1 * S, 400.0, 1.0, "a", 401.0, 1.0, "a", 1), underlying="TSLA"),
            bbo((11 * S, None, None, None, None, None, None, 0), underlying="TSLA"),
        ]
    )
    assert_frame_equal(result, expected)


def test_consolidated_bbo_output_follows_the_schema_and_ignores_extra_columns() -> None:
    frame = quotes((0, "a", 100.0, 1.0, 101.0, 1.0)).with_columns(pl.lit(1).alias("extra"))
    result = compute_consolidated_bbo(frame)
    assert result.collect_schema() == CONSOLIDATED_BBO_SCHEMA


@pytest.mark.parametrize("key", ["quote_max_age_ns", "priority_horizon_ns"])
def test_consolidated_params_refuse_non_positive_limits(key: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"consolidated.{key}")):
        ConsolidatedParams(**{key: 0})


def random_quotes(seed: int, *, minutes: int) -> pl.LazyFrame:
    """Quotes of 3 venues refreshed every few seconds, keeping their price 90% of the time
    (long runs, many ties), with gaps longer than the quote age and some invalid books."""
    rng = random.Random(seed)
    rows: list[QuoteRow] = []
    for venue in ("a", "b", "c"):
        t, bid = rng.randrange(0, 5 * S), 100.0
        while t < minutes * 60 * S:
            if rng.random() < 0.1:
                bid = float(rng.choice([99, 100, 101]))
            spread = float(rng.choice([0, 1, 1, 1, 1, 1, 1, 1, 1, 2]))  # 0: invalid book
            rows.append((t, venue, bid, float(rng.randint(1, 5)), bid + spread, 1.0))
            t += rng.choice([1, 2, 3, 5, 8, 8, 8, 8, 70]) * S + rng.randrange(0, S)
    return quotes(*sorted(rows))


def after(frame: pl.LazyFrame, start_ns: int) -> pl.LazyFrame:
    return frame.filter(pl.col("ts_event") >= pl.lit(T0 + start_ns).cast(pl.Datetime("ns")))


def test_consolidated_bbo_lookback_window_matches_full_history() -> None:
    frame, t0 = random_quotes(2, minutes=20), 10 * 60 * S
    full = after(compute_consolidated_bbo(frame), t0).collect()

    def windowed(lookback_ns: int) -> pl.DataFrame:
        return after(compute_consolidated_bbo(after(frame, t0 - lookback_ns)), t0).collect()

    assert full.height > 100
    assert_frame_equal(windowed(CONSOLIDATED_BBO_LOOKBACK_NS), full)
    # the data does depend on history: a window shorter than the quote age differs
    assert not windowed(40 * S).equals(full)


def test_consolidated_bbo_lookback_includes_the_priority_horizon() -> None:
    # b quotes 100/101 every 5 s from 0 s, a from 30 s: b reached 100 first.
    rows = [(t * S, "b", 100.0, 1.0, 101.0, 1.0) for t in range(0, 100, 5)]
    rows += [(t * S, "a", 100.0, 1.0, 101.0, 1.0) for t in range(30, 100, 5)]
    frame, t0 = quotes(*sorted(rows)), 80 * S
    assert SHORT.lookback_ns == 70 * S  # 10 s quote age + 60 s horizon

    def bid_venues(lookback_ns: int) -> pl.DataFrame:
        window = after(frame, t0 - lookback_ns) if lookback_ns else frame
        result = compute_consolidated_bbo(window, params=SHORT)
        return after(result, t0).select("ts_event", "best_bid_venue").head(1).collect()

    # at 80 s: b's priority max(0, 20) = 20 s beats a's max(30, 20) = 30 s
    assert bid_venues(0)["best_bid_venue"].to_list() == ["b"]
    assert_frame_equal(bid_venues(SHORT.lookback_ns), bid_venues(0))
    # with only 11 s of history both seem to start at 70 s: a tie that "a" would win
    assert bid_venues(11 * S)["best_bid_venue"].to_list() == ["a"]
