"""KrakenAdapter.parse on frames in Kraken's documented v2 wire format (venues.md section 2).

The documented examples use ``BTC/USD``; here they carry ``AAPLx/USD`` (a listing of the
recorded catalog), otherwise byte for byte.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from divergence.catalog import Catalog, FxListing, Venue
from divergence.errors import ConfigError, QuarantineError
from divergence.events import BookUpdate, FxRate, Level, Quote, Trade
from divergence.feeds.pipeline import FramePipeline
from divergence.venues.kraken import KrakenAdapter, kraken_checksum

TS = 1_696_613_755_440_295_000  # 2023-10-06T17:35:55.440295Z
RECV = 1_700_000_000_000_000_000

BOOK_SNAPSHOT = (
    '{"channel":"book","type":"snapshot","data":[{"symbol":"AAPLx/USD",'
    '"bids":[{"price":105944.20,"qty":0.136}],"asks":[{"price":105944.30,"qty":0.136}],'
    '"checksum":2439117997,"timestamp":"2023-10-06T17:35:55.440295Z"}]}'
)
BOOK_UPDATE = (
    '{"channel":"book","type":"update","data":[{"symbol":"AAPLx/USD",'
    '"bids":[{"price":105944.20,"qty":0.250}],"asks":[],"checksum":2114181697,'
    '"timestamp":"2023-10-06T17:35:55.440295Z"}]}'
)
TICKER = (
    '{"channel":"ticker","type":"snapshot","data":[{"symbol":"AAPLx/USD","bid":105944.20,'
    '"bid_qty":2.5,"ask":105944.30,"ask_qty":3.2,"last":105899.40,"volume":163.28908096,'
    '"vwap":105904.39279,"low":104711.00,"high":106613.10,"change":250.00,"change_pct":0.24,'
    '"timestamp":"2022-12-25T09:30:59.123456Z"}]}'
)
TRADE = (
    '{"channel":"trade","type":"update","data":[{"symbol":"AAPLx/USD","side":"buy",'
    '"price":105944.20,"qty":0.00027625,"ord_type":"limit","trade_id":10218208,'
    '"timestamp":"2023-10-06T17:35:55.440295Z"}]}'
)


def parse(adapter: KrakenAdapter, frame: str) -> list[object]:
    return list(adapter.parse(frame, ts_recv=RECV))


def refused(adapter: KrakenAdapter, frame: str | bytes) -> QuarantineError:
    with pytest.raises(QuarantineError) as caught:
        adapter.parse(frame, ts_recv=RECV)
    return caught.value


# ------------------------------------------------------------------- data
def test_kraken_parse_book_snapshot_keeps_wire_text(adapter: KrakenAdapter) -> None:
    (update,) = parse(adapter, BOOK_SNAPSHOT)
    assert update == BookUpdate(
        ts_event=TS,
        ts_recv=RECV,
        venue="kraken",
        instrument_id="AAPLx@kraken",
        symbol="AAPLx/USD",
        is_snapshot=True,
        sequence=0,
        bids=(Level(Decimal("105944.20"), Decimal("0.136")),),
        asks=(Level(Decimal("105944.30"), Decimal("0.136")),),
        checksum=2439117997,
    )
    assert str(update.bids[0].price) == "105944.20"  # trailing zero kept


def test_kraken_parse_book_update(adapter: KrakenAdapter) -> None:
    (update,) = parse(adapter, BOOK_UPDATE)
    assert isinstance(update, BookUpdate)
    assert (update.is_snapshot, update.checksum, update.asks) == (False, 2114181697, ())
    assert update.bids == (Level(Decimal("105944.20"), Decimal("0.250")),)
    assert str(update.bids[0].size) == "0.250"


def test_kraken_parse_book_one_event_per_data_item(adapter: KrakenAdapter) -> None:
    item = (
        '{{"symbol":"{s}","bids":[{{"price":1.5,"qty":0}}],"asks":[],"checksum":7,'
        '"timestamp":"2023-10-06T17:35:55.440295Z"}}'
    )
    frame = (
        '{"channel":"book","type":"update","data":['
        + item.format(s="AAPLx/USD")
        + ","
        + item.format(s="NVDAx/USD")
        + "]}"
    )
    events = parse(adapter, frame)
    assert [(e.symbol, e.instrument_id, e.bids) for e in events] == [  # type: ignore[attr-defined]
        ("AAPLx/USD", "AAPLx@kraken", (Level(Decimal("1.5"), Decimal(0)),)),
        ("NVDAx/USD", "NVDAx@kraken", (Level(Decimal("1.5"), Decimal(0)),)),
    ]


def test_kraken_parse_ticker_is_a_quote(adapter: KrakenAdapter) -> None:
    assert parse(adapter, TICKER) == [
        Quote(
            ts_event=1_671_960_659_123_456_000,
            ts_recv=RECV,
            venue="kraken",
            instrument_id="AAPLx@kraken",
            symbol="AAPLx/USD",
            bid_px=Decimal("105944.20"),
            bid_sz=Decimal("2.5"),
            ask_px=Decimal("105944.30"),
            ask_sz=Decimal("3.2"),
        )
    ]


def test_kraken_parse_ticker_without_timestamp_uses_receive_time(adapter: KrakenAdapter) -> None:
    frame = TICKER.replace(',"timestamp":"2022-12-25T09:30:59.123456Z"', "")
    (quote,) = parse(adapter, frame)
    assert isinstance(quote, Quote) and quote.ts_event == RECV


def test_kraken_parse_fx_ticker_is_the_mid_rate(adapter: KrakenAdapter) -> None:
    frame = (
        '{"channel":"ticker","type":"update","data":[{"symbol":"USDT/USD","bid":1.0002,'
        '"bid_qty":50000.00000000,"ask":1.0003,"ask_qty":1200.5,"last":1.0002,'
        '"timestamp":"2026-08-10T14:30:01.000001Z"}]}'
    )
    assert parse(adapter, frame) == [
        FxRate(
            ts_event=1_786_372_201_000_001_000,
            ts_recv=RECV,
            venue="kraken",
            currency="USDT",
            rate_usd=Decimal("1.00025"),
        )
    ]


def test_kraken_parse_trade(adapter: KrakenAdapter) -> None:
    assert parse(adapter, TRADE) == [
        Trade(
            ts_event=TS,
            ts_recv=RECV,
            venue="kraken",
            instrument_id="AAPLx@kraken",
            symbol="AAPLx/USD",
            price=Decimal("105944.20"),
            size=Decimal("0.00027625"),
            side="buy",
            trade_id="10218208",
        )
    ]


def test_kraken_parse_trade_snapshot_sell(adapter: KrakenAdapter) -> None:
    frame = TRADE.replace('"update"', '"snapshot"').replace('"buy"', '"sell"')
    (trade,) = parse(adapter, frame)
    assert isinstance(trade, Trade) and (trade.side, trade.trade_id) == ("sell", "10218208")


# ---------------------------------------------------------------- control
@pytest.mark.parametrize(
    "frame",
    [
        '{"channel":"status","type":"update","data":[{"system":"online","api_version":"v2",'
        '"connection_id":123456789,"version":"2.0.0"}]}',
        '{"channel":"heartbeat"}',
        '{"method":"pong","req_id":42,"time_in":"2023-09-25T09:05:00.123456Z",'
        '"time_out":"2023-09-25T09:05:00.123500Z"}',
        '{"method":"subscribe","result":{"channel":"ticker","symbol":"AAPLx/USD","snapshot":true},'
        '"success":true,"time_in":"2023-09-25T09:04:31.742599Z",'
        '"time_out":"2023-09-25T09:04:31.742648Z","req_id":1}',
        '{"method":"unsubscribe","result":{"channel":"book","depth":10,"symbol":"AAPLx/USD"},'
        '"success":true,"time_in":"2023-09-25T09:04:31.742599Z",'
        '"time_out":"2023-09-25T09:04:31.742648Z","req_id":11}',
    ],
    ids=["status", "heartbeat", "pong", "subscribed", "unsubscribed"],
)
def test_kraken_parse_control_frames_give_nothing(adapter: KrakenAdapter, frame: str) -> None:
    assert parse(adapter, frame) == []


@pytest.mark.parametrize("method", ["subscribe", "unsubscribe"])
def test_kraken_parse_refused_subscription_names_the_error(
    adapter: KrakenAdapter, method: str
) -> None:
    frame = (
        f'{{"error":"Currency pair not supported FOO/USD","method":"{method}","req_id":1,'
        '"success":false,"symbol":"FOO/USD","time_in":"2023-09-25T09:04:31.742599Z",'
        '"time_out":"2023-09-25T09:04:31.742648Z"}'
    )
    error = refused(adapter, frame)
    assert error.reason == "subscription refused"
    assert error.detail == f"{method} FOO/USD: Currency pair not supported FOO/USD"


def test_kraken_parse_bare_error_is_a_venue_error(adapter: KrakenAdapter) -> None:
    error = refused(adapter, '{"error":"Malformed request","success":false}')
    assert (error.reason, error.detail) == ("venue error", "Malformed request")


def test_kraken_parse_error_reply_to_other_method(adapter: KrakenAdapter) -> None:
    frame = '{"error":"EGeneral:Invalid arguments","method":"add_order","success":false}'
    error = refused(adapter, frame)
    assert (error.reason, error.detail) == ("venue error", "add_order: EGeneral:Invalid arguments")


# -------------------------------------------------------------- quarantine
@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("garbage", "malformed json"),
        (BOOK_SNAPSHOT[:-7], "malformed json"),  # truncated
        (b"\xff\xfe{}", "malformed json"),
        (BOOK_SNAPSHOT.replace("105944.20", "NaN"), "malformed json"),
        (BOOK_SNAPSHOT.replace("105944.20", "Infinity"), "malformed json"),
        ("[1,2,3]", "bad shape"),
        ('"just text"', "bad shape"),
        ("{}", "bad shape"),
        ('{"channel":7}', "bad shape"),
        ('{"channel":"book","type":"update"}', "missing field"),
        ('{"channel":"book","type":"update","data":{}}', "bad shape"),
        ('{"channel":"book","type":"update","data":null}', "bad shape"),
        ('{"channel":"book","type":"delta","data":[]}', "bad field"),
        ('{"channel":"ohlc","type":"update","data":[]}', "unknown channel"),
        ('{"method":"subscribe","result":{}}', "missing field"),
        ('{"method":"add_order","success":true}', "unknown method"),
        (BOOK_SNAPSHOT.replace('"checksum":2439117997,', ""), "missing field"),
        (BOOK_SNAPSHOT.replace("2439117997", "-1"), "bad field"),
        (BOOK_SNAPSHOT.replace("2439117997", "4294967296"), "bad field"),
        (BOOK_SNAPSHOT.replace("2439117997", '"2439117997"'), "bad shape"),
        (
            BOOK_SNAPSHOT.replace('"bids":[{', '"bids":{').replace(
                '0.136}],"asks"', '0.136},"asks"'
            ),
            "bad shape",
        ),
        (BOOK_SNAPSHOT.replace("105944.20", "true"), "bad decimal"),
        (BOOK_SNAPSHOT.replace("105944.20", "[1]"), "bad decimal"),
        (BOOK_SNAPSHOT.replace('"symbol":"AAPLx/USD"', '"symbol":5'), "bad shape"),
        (BOOK_SNAPSHOT.replace("AAPLx/USD", "AAPLX/USD"), "unknown symbol"),
        (TICKER.replace("AAPLx/USD", "BTC/USD"), "unknown symbol"),
        (TRADE.replace("AAPLx/USD", "USDT/USD"), "unknown symbol"),  # FX: ticker only
        (BOOK_SNAPSHOT.replace("2023-10-06T17:35:55.440295Z", "yesterday"), "bad timestamp"),
        (
            BOOK_SNAPSHOT.replace("2023-10-06T17:35:55.440295Z", "2023-10-06 17:35:55"),
            "bad timestamp",
        ),
        (BOOK_SNAPSHOT.replace("2023-10-06T17:35:55", "1970-01-01T00:00:00"), "bad timestamp"),
        (
            BOOK_SNAPSHOT.replace("2023-10-06T17:35:55.440295Z", "2023-13-06T17:35:55Z"),
            "bad timestamp",
        ),
        (TRADE.replace('"side":"buy"', '"side":"hold"'), "bad field"),
        (TRADE.replace('"trade_id":10218208', '"trade_id":"x"'), "bad shape"),
        (TRADE.replace(',"trade_id":10218208', ""), "missing field"),
        (TICKER.replace('"bid":105944.20,', ""), "missing field"),
    ],
)
def test_kraken_parse_quarantines_hostile_frames(
    adapter: KrakenAdapter, frame: str | bytes, reason: str
) -> None:
    assert refused(adapter, frame).reason == reason


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("1e400", "value too large"),
        ("123456789012345678901234567890", "value too large"),
        ("-5.5", "non-positive price"),
        ("0.0000000000000000001", "precision exceeds 18 decimals"),
        ('"NaN"', "non-finite price"),
    ],
)
def test_kraken_parse_hostile_numbers_are_quarantined_by_the_pipeline(
    adapter: KrakenAdapter, number: str, reason: str
) -> None:
    """Numbers are decoded exactly; the venue-independent checks reject what is absurd."""
    pipeline = FramePipeline(adapter, "kraken")
    out = pipeline.process(TRADE.replace("105944.20", number), ts_recv=RECV)
    assert [r.reason for r in out.rejects] == [reason]
    assert [e.event for e in out.events] == ["quarantine"]  # type: ignore[union-attr]


# ----------------------------------------------------------- declarations
def test_kraken_subscribe_messages_exact(adapter: KrakenAdapter) -> None:
    assert adapter.subscribe_messages() == [
        '{"method":"subscribe","params":{"channel":"book","symbol":["AAPLx/USD","NVDAx/USD",'
        '"TSLAx/USD"],"depth":10,"snapshot":true},"req_id":1}',
        '{"method":"subscribe","params":{"channel":"ticker","symbol":["AAPLx/USD","NVDAx/USD",'
        '"TSLAx/USD","USDC/USD","USDT/USD"],"event_trigger":"bbo","snapshot":true},"req_id":2}',
        '{"method":"subscribe","params":{"channel":"trade","symbol":["AAPLx/USD","NVDAx/USD",'
        '"TSLAx/USD"],"snapshot":true},"req_id":3}',
    ]
    assert adapter.spec.ping_message == '{"method":"ping","req_id":0}'
    assert adapter.spec.url == "wss://ws.kraken.com/v2"


def test_kraken_streams_match_what_parse_produces(adapter: KrakenAdapter) -> None:
    assert adapter.streams() == [
        "book:AAPLx/USD",
        "book:NVDAx/USD",
        "book:TSLAx/USD",
        "quote:AAPLx/USD",
        "quote:NVDAx/USD",
        "quote:TSLAx/USD",
        "trade:AAPLx/USD",
        "trade:NVDAx/USD",
        "trade:TSLAx/USD",
        "fx:USDC",
        "fx:USDT",
    ]


@pytest.mark.parametrize(
    ("stream", "channel", "symbol", "extra"),
    [
        ("book:AAPLx/USD", "book", "AAPLx/USD", '"depth":10,'),
        ("quote:TSLAx/USD", "ticker", "TSLAx/USD", '"event_trigger":"bbo",'),
        ("trade:NVDAx/USD", "trade", "NVDAx/USD", ""),
        ("fx:USDT", "ticker", "USDT/USD", '"event_trigger":"bbo",'),
    ],
)
def test_kraken_resync_unsubscribes_then_subscribes(
    adapter: KrakenAdapter, stream: str, channel: str, symbol: str, extra: str
) -> None:
    req = {"book": 1, "ticker": 2, "trade": 3}[channel]
    params = f'"channel":"{channel}","symbol":["{symbol}"],{extra}'
    assert adapter.resync_messages(stream) == [
        f'{{"method":"unsubscribe","params":{{{params.rstrip(",")}}},"req_id":{req + 10}}}',
        f'{{"method":"subscribe","params":{{{params}"snapshot":true}},"req_id":{req}}}',
    ]


def test_kraken_resync_unknown_stream_sends_nothing(adapter: KrakenAdapter) -> None:
    assert adapter.resync_messages("book:BTC/USD") == []
    assert adapter.resync_messages("fx:EUR") == []


def test_kraken_book_spec_uses_the_pair_decimals(adapter: KrakenAdapter) -> None:
    spec = adapter.book_spec("AAPLx/USD")
    assert spec is not None and spec.checksum is not None
    assert (spec.depth, spec.sequenced, spec.derive_quotes) == (10, False, False)
    # 230.1 / 0.5 arrive as JSON numbers without trailing zeros; the checksum pads them
    asks = [Level(Decimal("230.1"), Decimal("0.5"))]
    bids = [Level(Decimal("229.99"), Decimal("12"))]
    expected = kraken_checksum(
        [Level(Decimal("230.10"), Decimal("0.50000000"))],
        [Level(Decimal("229.99"), Decimal("12.00000000"))],
    )
    assert spec.checksum(asks, bids) == expected
    assert adapter.book_spec("USDT/USD") is None


def test_kraken_checksum_level_text_rule() -> None:
    """venues.md: price 45285.2 -> 452852, qty 0.00100000 -> 100000."""
    import zlib

    level = Level(Decimal("45285.2"), Decimal("0.00100000"))
    assert kraken_checksum([level], []) == zlib.crc32(b"452852100000")
    assert kraken_checksum([], [level]) == zlib.crc32(b"452852100000")
    many = [Level(Decimal(100 + i), Decimal(1)) for i in range(12)]
    assert kraken_checksum(many, []) == kraken_checksum(many[:10], [])


def test_kraken_adapter_rejects_bad_depth_and_fx(
    kraken_venue: Venue, recorded_catalog: Catalog
) -> None:
    with pytest.raises(ConfigError, match="depth"):
        KrakenAdapter(kraken_venue, recorded_catalog, depth=7)
    odd = recorded_catalog.model_copy(
        update={"fx": (FxListing(venue="kraken", symbol="USDC/USDT", currencies=("USDC",)),)}
    )
    with pytest.raises(ConfigError, match="USDC/USDT"):
        KrakenAdapter(kraken_venue, odd)


@pytest.mark.parametrize(
    "stamp",
    [
        "2023-10-06T17:35:55.440295Z",
        "2023-10-06T17:35:55.000001Z",
        "2023-10-06T17:35:56.999999Z",
        "2023-10-06T17:35:55.440295123Z",
        "2023-10-06T19:35:55.440295+02:00",
        "2023-10-06T17:35:55Z",
    ],
)
def test_kraken_parse_timestamps_match_rfc3339(adapter: KrakenAdapter, stamp: str) -> None:
    """Kraken's ``.ffffffZ`` form takes a cached fast path; other RFC 3339 forms the full one."""
    from divergence.clock import parse_rfc3339_ns

    for warm in ("2023-10-06T17:35:55.100000Z", "2023-10-06T17:35:56.100000Z"):
        parse(adapter, TRADE.replace("2023-10-06T17:35:55.440295Z", warm))
        (trade,) = parse(adapter, TRADE.replace("2023-10-06T17:35:55.440295Z", stamp))
        assert isinstance(trade, Trade) and trade.ts_event == parse_rfc3339_ns(stamp)
