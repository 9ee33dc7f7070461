"""BookKeeper: snapshot then deltas, truncation, gaps, resets, checksums, INVALID until resync."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from decimal import Decimal

from divergence.events import BookUpdate, FeedEvent, Level, Quote
from divergence.feeds.books import BookKeeper, BookStatus
from divergence.venues.contract import BookSpec

T0 = 1_760_000_000_000_000_000


def lv(price: str, size: str) -> Level:
    return Level(Decimal(price), Decimal(size))


def update(
    seq: int,
    *,
    bids: Sequence[Level] = (),
    asks: Sequence[Level] = (),
    snapshot: bool = False,
    checksum: int | None = None,
    symbol: str = "AAPLXUSDT",
) -> BookUpdate:
    return BookUpdate(
        ts_event=T0 + seq,
        ts_recv=T0 + seq * 1_000_000,
        venue="v",
        instrument_id=f"{symbol}@v",
        symbol=symbol,
        is_snapshot=snapshot,
        sequence=seq,
        bids=tuple(bids),
        asks=tuple(asks),
        checksum=checksum,
    )


def text_crc(asks: Sequence[Level], bids: Sequence[Level]) -> int:
    """A stand-in venue checksum over the level text (the real Kraken one is tested there)."""
    text = "|".join(f"{x.price}:{x.size}" for x in list(asks) + list(bids))
    return zlib.crc32(text.encode())


SEQUENCED = BookSpec(depth=3, sequenced=True, reset_sequence=1, derive_quotes=True)
SNAPSHOT = update(
    10,
    snapshot=True,
    bids=[lv("99.0", "1"), lv("98.5", "2"), lv("98.0", "3")],
    asks=[lv("100.0", "1"), lv("100.5", "2"), lv("101.0", "3")],
)


def feed_events(events: Sequence[object]) -> list[tuple[str, str, float]]:
    return [(e.event, e.detail, e.value) for e in events if isinstance(e, FeedEvent)]


def test_books_snapshot_deltas_truncation_and_derived_quotes() -> None:
    keeper = BookKeeper("v", lambda symbol: SEQUENCED)
    out = keeper.apply(SNAPSHOT)
    assert out.events[0] is SNAPSHOT and not out.resync
    quote = out.events[1]
    assert isinstance(quote, Quote)
    assert (quote.bid_px, quote.bid_sz, quote.ask_px, quote.ask_sz) == (
        Decimal("99.0"),
        Decimal("1"),
        Decimal("100.0"),
        Decimal("1"),
    )
    # a better bid pushes 98.0 out of the depth-3 book without any delete on the wire
    out = keeper.apply(update(11, bids=[lv("99.5", "4")]))
    book = keeper.books["AAPLXUSDT"]
    assert [x.price for x in book.sorted_bids()] == [
        Decimal("99.5"),
        Decimal("99.0"),
        Decimal("98.5"),
    ]
    assert isinstance(out.events[-1], Quote) and out.events[-1].bid_px == Decimal("99.5")
    # size 0 deletes; a change below the top emits no new quote
    out = keeper.apply(update(12, asks=[lv("101.0", "0"), lv("100.5", "7")]))
    assert [(x.price, x.size) for x in book.sorted_asks()] == [
        (Decimal("100.0"), Decimal("1")),
        (Decimal("100.5"), Decimal("7")),
    ]
    assert not any(isinstance(e, Quote) for e in out.events)
    assert keeper.status("AAPLXUSDT") is BookStatus.VALID


def test_books_gap_invalidates_discards_and_resyncs_on_snapshot() -> None:
    keeper = BookKeeper("v", lambda symbol: SEQUENCED)
    keeper.apply(SNAPSHOT)
    out = keeper.apply(update(13, bids=[lv("99.2", "1")]))  # 11 and 12 are missing
    assert out.resync
    assert feed_events(out.events) == [
        ("gap", "expected sequence 11, received 13", 2.0),
        ("book_invalid", "gap: expected sequence 11, received 13", 0.0),
    ]
    assert keeper.status("AAPLXUSDT") is BookStatus.INVALID
    for seq in (14, 15):  # deltas while invalid are discarded: nothing leaves the keeper
        assert keeper.apply(update(seq, bids=[lv("99.3", "1")])).events == []
    fresh = update(40, snapshot=True, bids=[lv("98.0", "1")], asks=[lv("100.0", "2")])
    out = keeper.apply(fresh)
    events = feed_events(out.events)
    seconds = (fresh.ts_recv - update(13).ts_recv) / 1e9
    assert events == [
        ("resync", f"snapshot after {seconds:.3f} s invalid; 2 deltas discarded", seconds)
    ]
    assert keeper.status("AAPLXUSDT") is BookStatus.VALID
    assert keeper.apply(update(41, asks=[lv("99.9", "1")])).events[0].sequence == 41


def test_books_reset_sequence_replaces_the_book() -> None:
    keeper = BookKeeper("v", lambda symbol: SEQUENCED)
    keeper.apply(SNAPSHOT)
    out = keeper.apply(update(1, bids=[lv("50", "1")], asks=[lv("51", "1")]))
    book = keeper.books["AAPLXUSDT"]
    assert not out.resync and feed_events(out.events) == []
    assert (list(book.bids), list(book.asks), book.sequence) == ([Decimal(50)], [Decimal(51)], 1)
    assert keeper.apply(update(2, bids=[lv("50.5", "1")])).events[0].sequence == 2


def test_books_checksum_mismatch_invalidates() -> None:
    spec = BookSpec(depth=10, checksum=text_crc)
    keeper = BookKeeper("v", lambda symbol: spec)
    bids, asks = [lv("99.0", "1.50")], [lv("100.0", "2.00")]
    good = text_crc(asks, bids)
    out = keeper.apply(update(0, snapshot=True, bids=bids, asks=asks, checksum=good))
    assert keeper.status("AAPLXUSDT") is BookStatus.VALID and not out.resync
    after = text_crc(asks, [lv("99.0", "1.75")])
    assert keeper.apply(update(0, bids=[lv("99.0", "1.75")], checksum=after)).events
    out = keeper.apply(update(0, bids=[lv("99.0", "2")], checksum=after ^ 1))
    computed = text_crc(asks, [lv("99.0", "2")])
    assert feed_events(out.events)[0] == (
        "checksum_mismatch",
        f"venue checksum {after ^ 1}, computed {computed}",
        0.0,
    )
    assert out.resync and keeper.status("AAPLXUSDT") is BookStatus.INVALID


def test_books_reset_on_reconnect_waits_for_snapshot() -> None:
    keeper = BookKeeper("v", lambda symbol: SEQUENCED)
    keeper.apply(SNAPSHOT)
    events = keeper.reset(T0, "new connection")
    assert [(e.event, e.stream, e.detail) for e in events] == [
        ("book_invalid", "book:AAPLXUSDT", "new connection; awaiting snapshot")
    ]
    assert keeper.apply(update(11, bids=[lv("99.5", "1")])).events == []
    assert keeper.status("AAPLXUSDT") is BookStatus.AWAITING_SNAPSHOT


def test_books_without_spec_pass_through() -> None:
    keeper = BookKeeper("v", lambda symbol: None)
    assert keeper.apply(SNAPSHOT).events == [SNAPSHOT]
