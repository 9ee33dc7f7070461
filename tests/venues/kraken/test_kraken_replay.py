"""Replay of the committed Kraken session through the real FramePipeline.

The frames a subscribed client receives go through a fresh pipeline twice: the events
are identical, nothing is quarantined, every book stays VALID with every checksum
verified, and each event carries exactly the values on the wire (read independently
with ``json.loads(parse_float=Decimal)``).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from divergence.catalog import Catalog
from divergence.clock import parse_rfc3339_ns
from divergence.events import BookUpdate, Event, FeedEvent, FxRate, Quote, Trade
from divergence.feeds.books import BookStatus
from divergence.feeds.pipeline import FramePipeline
from divergence.venue_servers.kraken import KrakenServer
from divergence.venue_servers.kraken_market import BASE_NS
from divergence.venue_servers.recording import RecordedFrame
from divergence.venues.kraken import KrakenAdapter


def _replay(adapter: KrakenAdapter, frames: list[RecordedFrame]) -> tuple[list[Event], int]:
    pipeline = FramePipeline(adapter, "kraken")
    events: list[Event] = []
    rejects = 0
    for frame in frames:
        out = pipeline.process(frame.frame, ts_recv=BASE_NS + frame.at_ms * 1_000_000)
        events += out.events
        rejects += len(out.rejects)
    assert {pipeline.books.status(s) for s in adapter.tokens} == {BookStatus.VALID}
    return events, rejects


def _expected(frame: RecordedFrame, adapter: KrakenAdapter) -> list[tuple[Any, ...]]:
    """What the wire says, read without the adapter."""
    message = json.loads(frame.frame, parse_float=Decimal)
    out: list[tuple[Any, ...]] = []
    for item in message["data"]:
        symbol, ts = item["symbol"], parse_rfc3339_ns(item["timestamp"])
        if message["channel"] == "trade":
            price, qty, side, trade_id = item["price"], item["qty"], item["side"], item["trade_id"]
            out.append(("trade", symbol, ts, price, qty, side, str(trade_id)))
        elif message["channel"] == "ticker" and symbol in adapter.fx:
            out.append(("fx", adapter.fx[symbol], ts, (item["bid"] + item["ask"]) / 2))
        elif message["channel"] == "ticker":
            out.append(
                ("quote", symbol, ts, item["bid"], item["bid_qty"], item["ask"], item["ask_qty"])
            )
        else:
            top = (item["bids"][:1], item["asks"][:1])
            out.append(("book", symbol, ts, message["type"] == "snapshot", item["checksum"], top))
    return out


def _observed(event: Event) -> tuple[Any, ...]:
    if isinstance(event, Trade):
        return (
            "trade",
            event.symbol,
            event.ts_event,
            event.price,
            event.size,
            event.side,
            event.trade_id,
        )
    if isinstance(event, FxRate):
        return ("fx", event.currency, event.ts_event, event.rate_usd)
    if isinstance(event, Quote):
        return (
            "quote",
            event.symbol,
            event.ts_event,
            event.bid_px,
            event.bid_sz,
            event.ask_px,
            event.ask_sz,
        )
    assert isinstance(event, BookUpdate)
    top = (
        [{"price": lv.price, "qty": lv.size} for lv in event.bids[:1]],
        [{"price": lv.price, "qty": lv.size} for lv in event.asks[:1]],
    )
    return ("book", event.symbol, event.ts_event, event.is_snapshot, event.checksum, top)


def test_kraken_replay_twice_gives_identical_events(
    adapter: KrakenAdapter, recorded_catalog: Catalog, subscribed: list[RecordedFrame]
) -> None:
    first, rejects = _replay(adapter, subscribed)
    second, _ = _replay(KrakenAdapter(adapter.venue, recorded_catalog), subscribed)
    assert rejects == 0
    assert first == second
    assert not [e for e in first if isinstance(e, FeedEvent)]  # no mismatch, gap or dropout


def test_kraken_replay_events_carry_the_wire_values(
    adapter: KrakenAdapter, subscribed: list[RecordedFrame]
) -> None:
    events, _ = _replay(adapter, subscribed)
    expected = [row for frame in subscribed for row in _expected(frame, adapter)]
    # the initial trade snapshots repeat nothing, so no trade is dropped as a duplicate
    assert [_observed(e) for e in events] == expected
    trades = [e for e in events if isinstance(e, Trade)]
    assert {t.side for t in trades} == {"buy", "sell"}
    assert all(len(str(t.price).split(".")[1]) == 2 for t in trades if t.symbol == "AAPLx/USD")
    assert all(len(str(t.size).split(".")[1]) == 8 for t in trades)


def test_kraken_replay_books_equal_the_server_books(
    adapter: KrakenAdapter, recording: list[RecordedFrame], subscribed: list[RecordedFrame]
) -> None:
    """The client's books after the replay are the server's depth-10 books, level for level."""
    pipeline = FramePipeline(adapter, "kraken")
    for frame in subscribed:
        pipeline.process(frame.frame, ts_recv=BASE_NS + frame.at_ms * 1_000_000)
    server = KrakenServer(recording)
    for frame in recording:
        server.observe(frame)
    for symbol in adapter.tokens:
        book = pipeline.books.books[symbol]
        client = [(str(lv.price), str(lv.size)) for lv in book.sorted_bids() + book.sorted_asks()]
        served = list(server.books[symbol].bids.values()) + list(server.books[symbol].asks.values())
        assert client == served
        spec = adapter.book_spec(symbol)
        assert spec is not None and spec.checksum is not None
        assert server.books[symbol].checksum() == spec.checksum(
            book.sorted_asks(), book.sorted_bids()
        )
