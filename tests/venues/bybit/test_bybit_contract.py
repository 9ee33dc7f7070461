"""BybitAdapter's declarations: spec, streams, subscribe chunks, resync, book rules, registry."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from divergence.catalog import Catalog, FxListing
from divergence.errors import ConfigError, FeedError
from divergence.venues.bybit import BybitAdapter
from divergence.venues.contract import AdapterSpec, BookSpec
from divergence.venues.registry import load_adapter


def test_bybit_registry_finds_adapter_through_entry_point() -> None:
    assert load_adapter("bybit") is BybitAdapter


def test_bybit_spec_declares_spot_endpoint_ping_and_topic_limit() -> None:
    assert BybitAdapter.spec == AdapterSpec(
        url="wss://stream.bybit.com/v5/public/spot",
        ping_interval_s=20.0,
        ping_message='{"op":"ping","req_id":"ping"}',
        max_topics_per_request=10,
        stale_min_s={"book": 10.0, "quote": 10.0, "trade": 300.0, "fx": 60.0},
    )
    assert json.loads(BybitAdapter.spec.ping_message or "") == {"op": "ping", "req_id": "ping"}
    assert BybitAdapter.discovery_path == "/v5/market/instruments-info?category=spot"
    assert BybitAdapter.rest_url == "https://api.bybit.com"


def test_bybit_streams_and_subscribe_for_recordings_catalog(adapter: BybitAdapter) -> None:
    assert adapter.streams() == [
        "book:AAPLXUSDT",
        "trade:AAPLXUSDT",
        "book:NVDAXUSDT",
        "trade:NVDAXUSDT",
        "book:TSLAXUSDT",
        "trade:TSLAXUSDT",
        "fx:USDC",
        "fx:USDT",
    ]
    assert [json.loads(m) for m in adapter.subscribe_messages()] == [
        {
            "op": "subscribe",
            "req_id": "sub-1",
            "args": [
                "orderbook.50.AAPLXUSDT",
                "publicTrade.AAPLXUSDT",
                "orderbook.50.NVDAXUSDT",
                "publicTrade.NVDAXUSDT",
                "orderbook.50.TSLAXUSDT",
                "publicTrade.TSLAXUSDT",
                "tickers.USDCUSDT",
            ],
        }
    ]


def test_bybit_subscribe_chunks_at_ten_topics(make_adapter: Callable[..., BybitAdapter]) -> None:
    symbols = [f"S{i:02d}XUSDT" for i in range(12)]
    many = make_adapter(symbols, fx=[("USDCUSDT", ("USDC", "USDT"))])
    messages = [json.loads(m) for m in many.subscribe_messages()]
    assert [len(m["args"]) for m in messages] == [10, 10, 5]
    assert [m["req_id"] for m in messages] == ["sub-1", "sub-2", "sub-3"]
    topics = [t for m in messages for t in m["args"]]
    expected = [t for s in symbols for t in (f"orderbook.50.{s}", f"publicTrade.{s}")]
    assert topics == [*expected, "tickers.USDCUSDT"]


def test_bybit_resync_unsubscribes_then_subscribes(adapter: BybitAdapter) -> None:
    assert [json.loads(m) for m in adapter.resync_messages("book:TSLAXUSDT")] == [
        {
            "op": "unsubscribe",
            "req_id": "resync-book:TSLAXUSDT",
            "args": ["orderbook.50.TSLAXUSDT"],
        },
        {"op": "subscribe", "req_id": "resync-book:TSLAXUSDT", "args": ["orderbook.50.TSLAXUSDT"]},
    ]
    assert json.loads(adapter.resync_messages("quote:TSLAXUSDT")[1])["args"] == [
        "orderbook.50.TSLAXUSDT"
    ]
    assert json.loads(adapter.resync_messages("trade:NVDAXUSDT")[0])["args"] == [
        "publicTrade.NVDAXUSDT"
    ]
    for currency in ("USDC", "USDT"):
        assert json.loads(adapter.resync_messages(f"fx:{currency}")[1])["args"] == [
            "tickers.USDCUSDT"
        ]
    with pytest.raises(FeedError, match="'book:AAPLx/USD'"):
        adapter.resync_messages("book:AAPLx/USD")


def test_bybit_book_spec_for_listings_only(adapter: BybitAdapter) -> None:
    spec = BookSpec(depth=50, sequenced=True, reset_sequence=1, derive_quotes=True)
    assert adapter.book_spec("AAPLXUSDT") == spec
    assert adapter.book_spec("USDCUSDT") is None
    assert adapter.book_spec("AAPLx/USD") is None


def test_bybit_depth_option_changes_topics_and_book_rules(
    make_adapter: Callable[..., BybitAdapter],
) -> None:
    deep = make_adapter(["BTCUSDT"], depth=200)
    assert json.loads(deep.subscribe_messages()[0])["args"] == [
        "orderbook.200.BTCUSDT",
        "publicTrade.BTCUSDT",
    ]
    assert deep.book_spec("BTCUSDT") == BookSpec(
        depth=200, sequenced=True, reset_sequence=1, derive_quotes=True
    )


def test_bybit_fx_listing_must_name_base_or_quote(bybit_catalog: Catalog) -> None:
    wrong = bybit_catalog.model_copy(
        update={"fx": (FxListing(venue="bybit", symbol="USDCUSDT", currencies=("DAI",)),)}
    )
    with pytest.raises(ConfigError, match="'DAI' is neither the base nor the quote"):
        BybitAdapter(wrong.venues["bybit"], wrong)
