"""AlpacaAdapter declarations: configure from settings, subscriptions, resyncs, streams."""

from __future__ import annotations

import logging

import pytest

from divergence.catalog import Catalog
from divergence.errors import ConfigError
from divergence.settings import VenueSettings
from divergence.venues.alpaca import AlpacaAdapter


@pytest.fixture
def bare(recorded_catalog: Catalog) -> AlpacaAdapter:
    return AlpacaAdapter(recorded_catalog.venues["alpaca"], recorded_catalog)


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({}, "venues.alpaca.api_key"),
        ({"api_secret": "s"}, "venues.alpaca.api_key"),
        ({"api_key": "  ", "api_secret": "s"}, "venues.alpaca.api_key"),
        ({"api_key": "k"}, "venues.alpaca.api_secret"),
        ({"api_key": "k", "api_secret": "s", "feed": "delayed_sip"}, "venues.alpaca.feed"),
    ],
)
def test_alpaca_configure_names_the_missing_or_bad_setting(
    bare: AlpacaAdapter, settings: dict[str, str], key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        bare.configure(VenueSettings.model_validate(settings))
    assert (caught.value.key, caught.value.source) == (key, "settings")
    assert bare.spec.url == "wss://stream.data.alpaca.markets/v2/sip"  # unchanged


def test_alpaca_configure_feed_and_credentials(
    bare: AlpacaAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bare.configure(VenueSettings(api_key="PKTEST", api_secret="very-secret", feed="iex"))
    assert (bare.feed, bare.spec.url) == ("iex", "wss://stream.data.alpaca.markets/v2/iex")
    auth, subscribe = bare.subscribe_messages()
    assert auth == '{"action":"auth","key":"PKTEST","secret":"very-secret"}'
    assert subscribe == (
        '{"action":"subscribe","quotes":["AAPL","NVDA","TSLA"],'
        '"trades":["AAPL","NVDA","TSLA"],"statuses":["AAPL","NVDA","TSLA"]}'
    )
    assert "very-secret" not in caplog.text and "very-secret" not in repr(vars(bare))
    assert [r.message for r in caplog.records] == ["alpaca adapter configured"]


def test_alpaca_unconfigured_sends_no_auth(bare: AlpacaAdapter) -> None:
    """Without configure the venue answers 401, a fatal rejection naming the cause."""
    assert [m.split(",")[0] for m in bare.subscribe_messages()] == ['{"action":"subscribe"']


def test_alpaca_declares_streams_ping_and_floors(adapter: AlpacaAdapter) -> None:
    assert adapter.streams() == [
        "quote:AAPL",
        "quote:NVDA",
        "quote:TSLA",
        "trade:AAPL",
        "trade:NVDA",
        "trade:TSLA",
        "session:AAPL",
        "session:NVDA",
        "session:TSLA",
    ]
    spec = adapter.spec
    assert (spec.ping_interval_s, spec.ping_message) == (
        15.0,
        '{"action":"subscribe","statuses":["AAPL"]}',
    )
    assert dict(spec.stale_min_s) == {"quote": 10.0, "trade": 60.0, "session": 604_800.0}
    assert adapter.book_spec("AAPL") is None


@pytest.mark.parametrize(
    ("stream", "key", "symbol"),
    [
        ("quote:TSLA", "quotes", "TSLA"),
        ("trade:NVDA", "trades", "NVDA"),
        ("session:AAPL", "statuses", "AAPL"),
    ],
)
def test_alpaca_resync_is_unsubscribe_then_subscribe(
    adapter: AlpacaAdapter, stream: str, key: str, symbol: str
) -> None:
    assert adapter.resync_messages(stream) == [
        f'{{"action":"unsubscribe","{key}":["{symbol}"]}}',
        f'{{"action":"subscribe","{key}":["{symbol}"]}}',
    ]


@pytest.mark.parametrize("stream", ["quote:MSFT", "book:AAPL", "session:MSFT", "fx:USDT"])
def test_alpaca_resync_of_a_foreign_stream_is_nothing(adapter: AlpacaAdapter, stream: str) -> None:
    assert adapter.resync_messages(stream) == []
