"""Replaying the Bybit recording through FramePipeline is deterministic and exact."""

from __future__ import annotations

import json
from decimal import Decimal

import msgspec

from divergence.events import BookUpdate, Event, FxRate, Quote, Trade
from divergence.feeds.pipeline import FramePipeline
from divergence.venue_servers.recording import RecordedFrame
from divergence.venues.bybit import BybitAdapter

RECV0 = 1_772_463_600_000_000_000


def replay(adapter: BybitAdapter, recording: list[RecordedFrame]) -> list[Event]:
    pipeline = FramePipeline(adapter, "bybit")
    events: list[Event] = []
    for index, frame in enumerate(recording):
        out = pipeline.process(frame.frame, ts_recv=RECV0 + frame.at_ms * 1_000_000 + index)
        assert out.rejects == []
        events += out.events
    return events


def test_bybit_replay_twice_gives_identical_events(
    adapter: BybitAdapter, bybit_catalog: object, recording: list[RecordedFrame]
) -> None:
    first = replay(adapter, recording)
    second = replay(BybitAdapter(adapter.venue, bybit_catalog), recording)  # type: ignore[arg-type]
    assert msgspec.json.encode(first) == msgspec.json.encode(second)
    assert first == second


def test_bybit_replay_values_match_the_wire(
    adapter: BybitAdapter, recording: list[RecordedFrame]
) -> None:
    events = replay(adapter, recording)
    snapshot = json.loads(recording[0].frame)
    assert recording[0].stream == "book:AAPLXUSDT"
    quote = next(e for e in events if isinstance(e, Quote) and e.symbol == "AAPLXUSDT")
    (bid_px, bid_sz), (ask_px, ask_sz) = snapshot["data"]["b"][0], snapshot["data"]["a"][0]
    assert (quote.bid_px, quote.bid_sz, quote.ask_px, quote.ask_sz) == (
        Decimal(bid_px),
        Decimal(bid_sz),
        Decimal(ask_px),
        Decimal(ask_sz),
    )
    assert quote.ts_event == snapshot["cts"] * 1_000_000
    assert (str(quote.bid_px), quote.instrument_id) == (bid_px, "AAPLx@bybit")

    frame = next(f for f in recording if f.stream == "trade:TSLAXUSDT")
    fills = json.loads(frame.frame)["data"]
    trades = [e for e in events if isinstance(e, Trade) and e.symbol == "TSLAXUSDT"]
    assert [(t.trade_id, t.price, t.size, t.side, t.ts_event) for t in trades[: len(fills)]] == [
        (f["i"], Decimal(f["p"]), Decimal(f["v"]), f["S"].lower(), f["T"] * 1_000_000)
        for f in fills
    ]

    ticker = json.loads(next(f.frame for f in recording if f.stream == "ticker:USDCUSDT"))
    usdc, usdt = [e for e in events if isinstance(e, FxRate)][:2]
    assert (usdc.currency, usdc.rate_usd) == ("USDC", Decimal(ticker["data"]["usdIndexPrice"]))
    assert usdt.currency == "USDT" and usdt.ts_event == ticker["ts"] * 1_000_000
    ratio = Decimal(ticker["data"]["usdIndexPrice"]) / Decimal(ticker["data"]["lastPrice"])
    assert abs(usdt.rate_usd - ratio) <= Decimal("5e-19")

    reset = next(e for e in events if isinstance(e, BookUpdate) and e.sequence == 1)
    after = next(
        e
        for e in events[events.index(reset) + 1 :]
        if isinstance(e, BookUpdate) and e.symbol == reset.symbol
    )
    assert (reset.symbol, reset.is_snapshot, after.sequence) == ("NVDAXUSDT", False, 2)
