"""compute_book_state against hand-built books and the live BookKeeper (feeds/books.py)."""

from __future__ import annotations

import random
from decimal import Decimal

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from divergence.errors import ConfigError
from divergence.events import BookUpdate, FeedEvent, Level
from divergence.feeds.books import BookKeeper, BookStatus
from divergence.metrics.book_state import (
    BOOK_STATE_LOOKBACK_NS,
    BOOK_STATE_SCHEMA,
    BookStateParams,
    compute_book_state,
    to_usd_per_share,
)
from divergence.metrics.schemas import BOOK_LEVELS_SCHEMA
from divergence.store.frames import frame_for
from divergence.venues.contract import BookSpec

TS = pl.Datetime("ns")
VENUE, INSTRUMENT = "bybit", "AAPLx@bybit"
Row = tuple[int, int, bool, int, str, float, float]


def updates(*rows: Row) -> pl.LazyFrame:
    """(ts_event, ingest_seq, is_snapshot, sequence, side, price, size) book_levels rows."""
    return pl.LazyFrame(
        {
            "ts_event": pl.Series([r[0] for r in rows], dtype=pl.Int64).cast(TS),
            "venue": [VENUE] * len(rows),
            "instrument_id": [INSTRUMENT] * len(rows),
            "is_snapshot": [r[2] for r in rows],
            "sequence": [r[3] for r in rows],
            "side": [r[4] for r in rows],
            "price": [r[5] for r in rows],
            "size": [r[6] for r in rows],
            "ingest_seq": [r[1] for r in rows],
        },
        schema_overrides={"price": pl.Float64, "size": pl.Float64, "sequence": pl.Int64},
    )


def at(*times: int) -> pl.LazyFrame:
    """Samples (or invalidations) of the one book at ``times``."""
    return pl.LazyFrame(
        {
            "ts_event": pl.Series(list(times), dtype=pl.Int64).cast(TS),
            "venue": [VENUE] * len(times),
            "instrument_id": [INSTRUMENT] * len(times),
        }
    )


def state(*rows: tuple[int, str, int, float, float]) -> pl.DataFrame:
    """Expected (ts_event, side, level, price, size) rows of the one book."""
    return pl.DataFrame(
        {
            "ts_event": pl.Series([r[0] for r in rows], dtype=pl.Int64).cast(TS),
            "venue": [VENUE] * len(rows),
            "instrument_id": [INSTRUMENT] * len(rows),
            "side": [r[1] for r in rows],
            "level": [r[2] for r in rows],
            "price": [r[3] for r in rows],
            "size": [r[4] for r in rows],
        },
        schema=BOOK_STATE_SCHEMA,
    )


def test_book_state_snapshot_then_deltas() -> None:
    levels = updates(
        (10, 1, True, 5, "bid", 99.0, 1.0),
        (10, 1, True, 5, "bid", 98.0, 2.0),
        (10, 1, True, 5, "ask", 101.0, 3.0),
        (20, 2, False, 6, "bid", 99.5, 4.0),  # new best bid
        (20, 2, False, 6, "bid", 98.0, 0.0),  # size 0 deletes 98
        (30, 3, False, 7, "ask", 101.0, 5.0),  # size replaced
        (30, 3, False, 7, "ask", 102.0, 1.0),
    )
    result = compute_book_state(
        levels, at(5, 10, 25, 30), params=BookStateParams(max_levels=10)
    ).collect()
    expected = state(  # nothing at 5: no snapshot yet
        (10, "ask", 1, 101.0, 3.0),
        (10, "bid", 1, 99.0, 1.0),
        (10, "bid", 2, 98.0, 2.0),
        (25, "ask", 1, 101.0, 3.0),
        (25, "bid", 1, 99.5, 4.0),
        (25, "bid", 2, 99.0, 1.0),
        (30, "ask", 1, 101.0, 5.0),
        (30, "ask", 2, 102.0, 1.0),
        (30, "bid", 1, 99.5, 4.0),
        (30, "bid", 2, 99.0, 1.0),
    )
    assert_frame_equal(result, expected)


def test_book_state_truncates_after_every_message_like_the_keeper() -> None:
    # depth 2: the delta at 20 pushes 98 out of range; when 99.5 is deleted at 30 the
    # keeper does not get 98 back (the venue would resend it if it still existed)
    levels = updates(
        (10, 1, True, 1, "bid", 99.0, 1.0),
        (10, 1, True, 1, "bid", 98.0, 2.0),
        (20, 2, False, 2, "bid", 99.5, 1.0),
        (30, 3, False, 3, "bid", 99.5, 0.0),
    )
    params = BookStateParams(max_levels=5, venue_depth={VENUE: 2})
    result = compute_book_state(levels, at(20, 30), params=params).collect()
    expected = state(
        (20, "bid", 1, 99.5, 1.0),
        (20, "bid", 2, 99.0, 1.0),
        (30, "bid", 1, 99.0, 1.0),
    )
    assert_frame_equal(result, expected)


def test_book_state_max_levels_caps_the_output_only() -> None:
    levels = updates(
        (10, 1, True, 1, "ask", 101.0, 1.0),
        (10, 1, True, 1, "ask", 102.0, 2.0),
        (10, 1, True, 1, "ask", 103.0, 3.0),
        (20, 2, False, 2, "ask", 101.0, 0.0),
    )
    result = compute_book_state(levels, at(10, 20), params=BookStateParams(max_levels=1))
    # at 20 the second level (102) is uncovered: it was kept, only not shown at 10
    expected = state((10, "ask", 1, 101.0, 1.0), (20, "ask", 1, 102.0, 2.0))
    assert_frame_equal(result.collect(), expected)


def test_book_state_reset_sequence_replaces_the_book() -> None:
    levels = updates(
        (10, 1, True, 40, "bid", 99.0, 1.0),
        (10, 1, True, 40, "ask", 101.0, 1.0),
        (20, 2, False, 1, "bid", 97.0, 2.0),  # Bybit u == 1: a restarted book
    )
    bybit = BookStateParams(reset_sequences={VENUE: 1})
    result = compute_book_state(levels, at(20), params=bybit).collect()
    assert_frame_equal(result, state((20, "bid", 1, 97.0, 2.0)))
    other = compute_book_state(levels, at(20), params=BookStateParams()).collect()
    expected_delta = state(
        (20, "ask", 1, 101.0, 1.0), (20, "bid", 1, 99.0, 1.0), (20, "bid", 2, 97.0, 2.0)
    )
    assert_frame_equal(other, expected_delta)


def test_book_state_snapshot_skips_size_zero_rows_instead_of_deleting() -> None:
    # the keeper builds a snapshot from its non-zero levels: a zero row for a price the
    # snapshot also sets does not delete it (Book.replace)
    levels = updates(
        (10, 1, True, 1, "ask", 100.3, 4.0),
        (10, 1, True, 1, "ask", 100.3, 0.0),
        (10, 1, True, 1, "ask", 100.8, 0.0),
    )
    result = compute_book_state(levels, at(10), params=BookStateParams()).collect()
    assert_frame_equal(result, state((10, "ask", 1, 100.3, 4.0)))


def test_book_state_invalidation_hides_the_book_until_the_next_snapshot() -> None:
    levels = updates(
        (10, 1, True, 1, "bid", 99.0, 1.0),
        (40, 2, True, 9, "bid", 98.0, 3.0),
    )
    result = compute_book_state(
        levels, at(20, 30, 40), params=BookStateParams(), invalidations=at(30)
    ).collect()
    # 20: valid; 30: invalid since 30 (a sample at the same instant sees it); 40: resynced
    expected = state((20, "bid", 1, 99.0, 1.0), (40, "bid", 1, 98.0, 3.0))
    assert_frame_equal(result, expected)


def test_book_state_messages_at_one_instant_apply_in_ingest_order() -> None:
    levels = updates(
        (10, 2, False, 2, "bid", 99.0, 0.0),  # listed first, ingested second
        (10, 1, True, 1, "bid", 99.0, 1.0),
        (10, 1, True, 1, "bid", 98.0, 1.0),
    )
    result = compute_book_state(levels, at(10), params=BookStateParams()).collect()
    assert_frame_equal(result, state((10, "bid", 1, 98.0, 1.0)))


def test_book_state_params_refuse_non_positive_levels() -> None:
    with pytest.raises(ConfigError, match=r"book_state\.max_levels"):
        BookStateParams(max_levels=0)
    with pytest.raises(ConfigError, match=r"book_state\.venue_depth\.kraken"):
        BookStateParams(venue_depth={"kraken": -1})


def test_to_usd_per_share_applies_fx_and_k() -> None:
    raw = pl.LazyFrame(
        {
            "ts_event": pl.Series([1], dtype=pl.Int64).cast(TS),
            "underlying": ["AAPL"],
            "venue": ["bybit"],
            "instrument_id": ["AAPLx@bybit"],
            "side": ["ask"],
            "price": [280.0],
            "size": [10.0],
            "fee_bps": [10.0],
            "fx_rate": [0.8774],
            "k": [1.25],
        }
    )
    result = to_usd_per_share(raw).collect()
    # 280 USDC × 0.8774 $/USDC / 1.25 shares per token = 196.5376 $/share; 10 × 1.25 shares
    assert result.schema == BOOK_LEVELS_SCHEMA
    assert result["price"][0] == pytest.approx(196.5376, rel=1e-12)
    assert result["size"][0] == pytest.approx(12.5, rel=1e-12)


def _random_stream(seed: int, n: int) -> list[BookUpdate]:
    """Snapshots, deltas, resets (sequence 1) and gaps on a small price grid."""
    rng = random.Random(seed)
    out, seq = [], 100
    for i in range(n):
        roll = rng.random()
        snapshot = i == 0 or roll < 0.08
        seq = 1 if roll > 0.95 else seq + (2 if 0.9 < roll <= 0.95 else 1)

        def levels(base: int, sign: int, snapshot: bool) -> tuple[Level, ...]:
            count = rng.randint(3, 6) if snapshot else rng.randint(1, 3)
            return tuple(
                Level(
                    Decimal(base + sign * rng.randint(0, 8)) / 10,
                    Decimal(0 if not snapshot and rng.random() < 0.35 else rng.randint(1, 9)),
                )
                for _ in range(count)
            )

        out.append(
            BookUpdate(
                ts_event=1_000 * (i + 1),
                ts_recv=1_000 * (i + 1),
                venue=VENUE,
                instrument_id=INSTRUMENT,
                symbol="AAPLXUSDT",
                is_snapshot=snapshot,
                sequence=seq,
                bids=levels(999, -1, snapshot),
                asks=levels(1001, 1, snapshot),
            )
        )
    return out


def _keeper_run(stream: list[BookUpdate]) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.DataFrame]:
    """Feed the live keeper: the rows it stores, its invalidations, its book per message."""
    spec = BookSpec(depth=4, sequenced=True, reset_sequence=1)
    keeper = BookKeeper(VENUE, lambda _symbol: spec)
    stored: list[BookUpdate] = []
    invalid: list[int] = []
    expected: list[tuple[int, str, int, float, float]] = []
    for update in stream:
        for event in keeper.apply(update).events:
            if isinstance(event, BookUpdate):
                stored.append(event)
            elif isinstance(event, FeedEvent) and event.event == "book_invalid":
                invalid.append(event.ts_event)
        book = keeper.books["AAPLXUSDT"]
        if book.status is BookStatus.VALID:
            for side, lvls in (("bid", book.sorted_bids()), ("ask", book.sorted_asks())):
                expected += [
                    (update.ts_event, side, i + 1, float(lv.price), float(lv.size))
                    for i, lv in enumerate(lvls)
                ]
    rows = frame_for(BookUpdate, stored, ts_ingest=0, first_seq=1).lazy()
    expected.sort(key=lambda r: (r[0], r[1], r[2]))
    return rows, at(*invalid), state(*expected)


KEEPER_PARAMS = BookStateParams(max_levels=4, venue_depth={VENUE: 4}, reset_sequences={VENUE: 1})


def test_book_state_matches_the_live_keeper_message_by_message() -> None:
    stream = _random_stream(7, 400)
    rows, invalid, expected = _keeper_run(stream)
    samples = at(*(u.ts_event for u in stream))
    result = compute_book_state(rows, samples, params=KEEPER_PARAMS, invalidations=invalid)
    assert expected.height > 1_000  # the stream keeps the book valid most of the time
    assert_frame_equal(result.collect(), expected)


def test_book_state_seeded_window_equals_the_full_replay() -> None:
    # LOOKBACK claim: with the state at t0 as seed, [t0 - 0, end) gives the same rows
    stream = _random_stream(11, 300)
    rows, invalid, _ = _keeper_run(stream)
    samples = at(*(u.ts_event for u in stream))
    t0 = stream[150].ts_event + 500  # between two messages
    full = compute_book_state(rows, samples, params=KEEPER_PARAMS, invalidations=invalid)
    seed = compute_book_state(rows, at(t0 - 1), params=KEEPER_PARAMS, invalidations=invalid)

    def since(frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.filter(pl.col("ts_event").cast(pl.Int64) >= t0 - BOOK_STATE_LOOKBACK_NS)

    window = compute_book_state(
        since(rows), since(samples), params=KEEPER_PARAMS, seed=seed, invalidations=since(invalid)
    )
    expected = full.filter(pl.col("ts_event").cast(pl.Int64) >= t0).collect()
    assert expected.height > 500
    assert seed.collect().height > 0
    assert_frame_equal(window.collect(), expected)
