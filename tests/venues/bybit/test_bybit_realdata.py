"""Conformance on real Bybit v5 recordings (../shared/realdata, read in place; skipped if absent).

``cryptofeed_v3/BYBIT.jsonl.zst`` holds a linear and a spot connection subscribed to
``orderbook.200.*``; the adapter is built with ``depth=200`` for them. Expected values
are read from the raw frames at test time, never copied here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest

from divergence.events import BookUpdate, FeedEvent, FxRate, Level, Trade
from divergence.feeds.books import BookKeeper, BookStatus
from divergence.quarantine import check_event
from divergence.venues.bybit import BybitAdapter, discover

Records = list[dict[str, Any]]
MakeAdapter = Callable[..., BybitAdapter]
AAPLX_MULTIPLIER = Decimal("1.0032690125398187")


def connection(records: Records, market: str) -> str:
    return next(  # type: ignore[no-any-return]
        r["conn"] for r in records if r["t"] == "connect" and r["addr"].endswith(f"/{market}")
    )


def received(records: Records, market: str, prefix: str) -> list[str]:
    """Raw text of the frames of one connection whose topic starts with ``prefix``."""
    conn = connection(records, market)
    return [
        r["data"]
        for r in records
        if r["t"] == "recv"
        and r["conn"] == conn
        and json.loads(r["data"]).get("topic", "").startswith(prefix)
    ]


def book_adapter(make_adapter: MakeAdapter, frames: list[str], market: str) -> BybitAdapter:
    symbols = sorted({json.loads(f)["topic"].split(".")[2] for f in frames})
    return make_adapter(symbols, venue=f"bybit-{market}", depth=200)


@pytest.mark.parametrize("market", ["spot", "linear"])
def test_bybit_realdata_books_contiguous_and_uncrossed(
    bybit_real: Records, make_adapter: MakeAdapter, market: str
) -> None:
    frames = received(bybit_real, market, "orderbook.200.")
    independent = sum(1 for f in frames if json.loads(f)["type"] == "delta")
    adapter = book_adapter(make_adapter, frames, market)
    keeper = BookKeeper(adapter.venue.id, adapter.book_spec)
    verified = 0
    for index, text in enumerate(frames):
        [update] = adapter.parse(text, ts_recv=index)
        assert isinstance(update, BookUpdate)
        check_event(update)
        outcome = keeper.apply(update)
        assert [e for e in outcome.events if isinstance(e, FeedEvent)] == [], index
        book = keeper.books[update.symbol]
        best = book.best()
        assert best is not None and best[0].price < best[1].price, (update.symbol, index)
        assert (len(book.bids), len(book.asks)) == (200, 200)
        verified += not update.is_snapshot
    assert verified == independent > 500
    assert all(keeper.status(s) is BookStatus.VALID for s in keeper.books)


def test_bybit_realdata_first_spot_snapshot_values(
    bybit_real: Records, make_adapter: MakeAdapter
) -> None:
    frames = received(bybit_real, "spot", "orderbook.200.BTCUSDT")
    raw = json.loads(frames[0])
    assert raw["type"] == "snapshot"
    adapter = book_adapter(make_adapter, frames, "spot")
    keeper = BookKeeper("bybit-spot", adapter.book_spec)
    [update] = adapter.parse(frames[0], ts_recv=0)
    assert isinstance(update, BookUpdate)
    assert (update.sequence, update.ts_event) == (raw["data"]["u"], raw["cts"] * 1_000_000)
    keeper.apply(update)
    best = keeper.books["BTCUSDT"].best()
    assert best is not None
    (bid_px, bid_sz), (ask_px, ask_sz) = raw["data"]["b"][0], raw["data"]["a"][0]
    assert [str(v) for v in (best[0].price, best[0].size, best[1].price, best[1].size)] == [
        bid_px,
        bid_sz,
        ask_px,
        ask_sz,
    ]
    assert update.bids[-1] == Level(*(Decimal(v) for v in raw["data"]["b"][-1]))
    assert len(update.bids) == len(raw["data"]["b"])


def test_bybit_realdata_dropped_delta_is_one_gap(
    bybit_real: Records, make_adapter: MakeAdapter
) -> None:
    frames = received(bybit_real, "spot", "orderbook.200.BTCUSDT")
    dropped = 40
    dropped_u = json.loads(frames[dropped])["data"]["u"]
    assert json.loads(frames[dropped])["type"] == "delta"
    adapter = book_adapter(make_adapter, frames, "spot")
    keeper = BookKeeper("bybit-spot", adapter.book_spec)
    feed: list[FeedEvent] = []
    for index, text in enumerate(frames[:dropped] + frames[dropped + 1 :]):
        [update] = adapter.parse(text, ts_recv=index)
        feed += [e for e in keeper.apply(update).events if isinstance(e, FeedEvent)]  # type: ignore[arg-type]
    detail = f"expected sequence {dropped_u}, received {dropped_u + 1}"
    assert [(e.event, e.stream, e.detail, e.value) for e in feed] == [
        ("gap", "book:BTCUSDT", detail, 1.0),
        ("book_invalid", "book:BTCUSDT", f"gap: {detail}", 0.0),
    ]
    assert keeper.status("BTCUSDT") is BookStatus.INVALID
    assert keeper.books["BTCUSDT"].discarded == len(frames) - dropped - 2


def test_bybit_realdata_spot_tickers_carry_usd_index(
    bybit_real: Records, make_adapter: MakeAdapter
) -> None:
    frames = received(bybit_real, "spot", "tickers.")
    usdt = make_adapter([], fx=[("BTCUSDT", ("USDT",)), ("ETHUSDT", ("USDT",))])
    rates, without_index = [], 0
    for text in frames:
        data = json.loads(text)["data"]
        if data["usdIndexPrice"] == "":  # Bybit sends it empty now and then: no rate
            assert usdt.parse(text, ts_recv=0) == []
            without_index += 1
            continue
        [rate] = usdt.parse(text, ts_recv=0)
        assert isinstance(rate, FxRate) and rate.currency == "USDT"
        with localcontext() as ctx:
            ctx.prec = 60
            expected = Decimal(data["usdIndexPrice"]) / Decimal(data["lastPrice"])
        assert rate.rate_usd == expected.quantize(Decimal(1).scaleb(-18))
        check_event(rate)
        rates.append(rate.rate_usd)
    assert len(rates) + without_index == len(frames) > 50
    assert without_index < len(frames) / 10
    assert all(Decimal("0.98") < r < Decimal("1.02") for r in rates)


@pytest.mark.parametrize("market", ["spot", "linear"])
def test_bybit_realdata_trades_and_acks(
    bybit_real: Records, make_adapter: MakeAdapter, market: str
) -> None:
    frames = received(bybit_real, market, "publicTrade.")
    symbols = sorted({json.loads(f)["topic"].split(".")[1] for f in frames})
    adapter = make_adapter(symbols, venue=f"bybit-{market}")
    parsed = [t for text in frames for t in adapter.parse(text, ts_recv=0)]
    wire = [item for text in frames for item in json.loads(text)["data"]]
    assert [
        (t.trade_id, t.price, t.size, t.side, t.ts_event)  # type: ignore[union-attr]
        for t in parsed
    ] == [
        (w["i"], Decimal(w["p"]), Decimal(w["v"]), w["S"].lower(), w["T"] * 1_000_000) for w in wire
    ]
    assert all(isinstance(t, Trade) for t in parsed)
    conn = connection(bybit_real, market)
    acks = [
        r["data"]
        for r in bybit_real
        if r["t"] == "recv" and r["conn"] == conn and '"op":"subscribe"' in r["data"]
    ]
    assert acks and all(adapter.parse(a, ts_recv=0) == [] for a in acks)


def test_bybit_realdata_xstocks_vector_multipliers(realdata: Path) -> None:
    vector = json.loads(
        (realdata / "vectors" / "bybit_spot_xstocks_instruments_2026-08-09.json").read_text()
    )
    rows = vector["xstocks"]
    body = json.dumps({"retCode": 0, "retMsg": "OK", "result": {"category": "spot", "list": rows}})
    listings = discover(body)
    assert len(listings) == len(rows) == 11
    for listing, row in zip(listings, rows, strict=True):
        assert (listing.venue_symbol, listing.product) == (row["symbol"], "xstocks")
        assert listing.base + listing.quote == listing.venue_symbol
        assert listing.multiplier == Decimal(row["xstockMultiplier"])
        assert listing.price_decimals == len(row["priceFilter"]["tickSize"].partition(".")[2])
        assert listing.size_decimals == len(row["lotSizeFilter"]["basePrecision"].partition(".")[2])
    by_symbol = {x.venue_symbol: x for x in listings}
    assert by_symbol["AAPLXUSDT"].multiplier == AAPLX_MULTIPLIER


def test_bybit_realdata_instruments_response_discovers_xstocks(
    bybit_real: Records, realdata: Path
) -> None:
    [spot] = [r for r in bybit_real if r["t"] == "http" and "category=spot" in r["url"]]
    listings = discover(spot["data"])
    assert len(listings) == len(json.loads(spot["data"])["result"]["list"]) > 500
    xstocks = [x for x in listings if x.product == "xstocks"]
    vector = json.loads(
        (realdata / "vectors" / "bybit_spot_xstocks_instruments_2026-08-09.json").read_text()
    )
    assert [(x.venue_symbol, x.multiplier) for x in xstocks] == [
        (row["symbol"], Decimal(row["xstockMultiplier"])) for row in vector["xstocks"]
    ]
    assert next(x for x in xstocks if x.venue_symbol == "AAPLXUSDT").multiplier == (
        AAPLX_MULTIPLIER
    )
    [linear] = [r for r in bybit_real if r["t"] == "http" and "category=linear" in r["url"]]
    assert len(discover(linear["data"])) == len(json.loads(linear["data"])["result"]["list"])
