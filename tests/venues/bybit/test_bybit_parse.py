"""BybitAdapter.parse on frames in Bybit's documented wire format (docs: venues.md §3)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from divergence.errors import QuarantineError
from divergence.events import BookUpdate, FxRate, Level, Trade
from divergence.venues.bybit import BybitAdapter

RECV = 1_700_000_000_123_456_789
MS = 1_000_000

SNAPSHOT = (
    '{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1671179923028,"data":{"s":"BTCUSDT",'
    '"b":[["17440.00","40.833"]],"a":[["17440.50","78.815"]],"u":13079592,"seq":22520573250},'
    '"cts":1671179923020}'
)
DELTA = (
    '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1671179923046,"data":{"s":"BTCUSDT",'
    '"b":[],"a":[["17440.50","78.857"],["17442.00","1.510"]],"u":13079593,"seq":22520573260},'
    '"cts":1671179923040}'
)
TRADE = (
    '{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":[{"T":1672304486865,'
    '"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick",'
    '"i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false}]}'
)
TICKER = (
    '{"topic":"tickers.USDCUSDT","ts":1772463601000,"type":"snapshot","cs":93419097187,'
    '"data":{"symbol":"USDCUSDT","lastPrice":"0.9998","highPrice24h":"1.0003",'
    '"lowPrice24h":"0.9996","prevPrice24h":"0.9999","volume24h":"41252218.14",'
    '"turnover24h":"41260468.5836","price24hPcnt":"-0.0001","usdIndexPrice":"0.99985"}}'
)


@pytest.fixture
def bybit(make_adapter: Callable[..., BybitAdapter]) -> BybitAdapter:
    return make_adapter(["BTCUSDT", "AAPLXUSDT"], fx=[("USDCUSDT", ("USDC", "USDT"))])


def test_bybit_parse_orderbook_snapshot_keeps_text_and_uses_cts(bybit: BybitAdapter) -> None:
    [event] = bybit.parse(SNAPSHOT, ts_recv=RECV)
    assert event == BookUpdate(
        ts_event=1671179923020 * MS,
        ts_recv=RECV,
        venue="bybit",
        instrument_id="BTCUSDT@bybit",
        symbol="BTCUSDT",
        is_snapshot=True,
        sequence=13079592,
        bids=(Level(Decimal("17440.00"), Decimal("40.833")),),
        asks=(Level(Decimal("17440.50"), Decimal("78.815")),),
    )
    assert isinstance(event, BookUpdate) and str(event.bids[0].price) == "17440.00"


def test_bybit_parse_orderbook_delta_levels_in_wire_order(bybit: BybitAdapter) -> None:
    [event] = bybit.parse(DELTA.encode(), ts_recv=RECV)
    assert isinstance(event, BookUpdate)
    assert (event.is_snapshot, event.sequence, event.ts_event) == (
        False,
        13079593,
        1671179923040 * MS,
    )
    assert event.bids == ()
    assert event.asks == (
        Level(Decimal("17440.50"), Decimal("78.857")),
        Level(Decimal("17442.00"), Decimal("1.510")),
    )


def test_bybit_parse_orderbook_without_cts_uses_push_time(bybit: BybitAdapter) -> None:
    frame = DELTA.replace(',"cts":1671179923040', "")
    [event] = bybit.parse(frame, ts_recv=RECV)
    assert event.ts_event == 1671179923046 * MS


def test_bybit_parse_orderbook_restart_delta_keeps_u_1(bybit: BybitAdapter) -> None:
    [event] = bybit.parse(DELTA.replace('"u":13079593', '"u":1'), ts_recv=RECV)
    assert isinstance(event, BookUpdate) and (event.is_snapshot, event.sequence) == (False, 1)
    assert bybit.book_spec("BTCUSDT") is not None
    assert bybit.book_spec("BTCUSDT").reset_sequence == 1  # type: ignore[union-attr]


def test_bybit_parse_public_trade(bybit: BybitAdapter) -> None:
    [trade] = bybit.parse(TRADE, ts_recv=RECV)
    assert trade == Trade(
        ts_event=1672304486865 * MS,
        ts_recv=RECV,
        venue="bybit",
        instrument_id="BTCUSDT@bybit",
        symbol="BTCUSDT",
        price=Decimal("16578.50"),
        size=Decimal("0.001"),
        side="buy",
        trade_id="20f43950-d8dd-5b31-9112-a178eb6023af",
    )


def test_bybit_parse_public_trade_batch_sides(bybit: BybitAdapter) -> None:
    frame = (
        '{"topic":"publicTrade.AAPLXUSDT","ts":1772463600216,"type":"snapshot","data":['
        '{"i":"11","T":1772463600215,"p":"230.1","v":"0.1","S":"Sell","s":"AAPLXUSDT"},'
        '{"i":"12","T":1772463600215,"p":"230.07","v":"0.04","S":"Sell","s":"AAPLXUSDT"},'
        '{"i":"13","T":1772463600299,"p":"230.2","v":"2.5","S":"Buy","s":"AAPLXUSDT"}]}'
    )
    trades = bybit.parse(frame, ts_recv=RECV)
    assert [(t.trade_id, t.price, t.size, t.side, t.ts_event) for t in trades] == [  # type: ignore[union-attr]
        ("11", Decimal("230.1"), Decimal("0.1"), "sell", 1772463600215 * MS),
        ("12", Decimal("230.07"), Decimal("0.04"), "sell", 1772463600215 * MS),
        ("13", Decimal("230.2"), Decimal("2.5"), "buy", 1772463600299 * MS),
    ]
    assert {t.instrument_id for t in trades} == {"AAPLXUSDT@bybit"}  # type: ignore[union-attr]


def test_bybit_parse_ticker_gives_usdc_and_usdt_rates(bybit: BybitAdapter) -> None:
    usdc, usdt = bybit.parse(TICKER, ts_recv=RECV)
    ts = 1772463601000 * MS
    assert usdc == FxRate(
        ts_event=ts, ts_recv=RECV, venue="bybit", currency="USDC", rate_usd=Decimal("0.99985")
    )
    # 0.99985 USD per USDC / 0.9998 USDT per USDC, to 18 decimals
    assert usdt == FxRate(
        ts_event=ts,
        ts_recv=RECV,
        venue="bybit",
        currency="USDT",
        rate_usd=Decimal("1.000050010002000400"),
    )


def test_bybit_parse_ticker_with_empty_index_gives_no_rate(bybit: BybitAdapter) -> None:
    assert bybit.parse(TICKER.replace('"0.99985"', '""'), ts_recv=RECV) == []
    [usdc] = bybit.parse(TICKER.replace('"0.9998"', '""'), ts_recv=RECV)
    assert (usdc.currency, usdc.rate_usd) == ("USDC", Decimal("0.99985"))  # type: ignore[union-attr]


def test_bybit_parse_ticker_for_listing_naming_only_the_quote(
    make_adapter: Callable[..., BybitAdapter],
) -> None:
    only_usdt = make_adapter([], fx=[("USDCUSDT", ("USDT",))])
    frame = TICKER.replace('"0.99985"', '"1.000021"').replace('"0.9998"', '"1.0003"')
    [rate] = only_usdt.parse(frame, ts_recv=RECV)
    assert (rate.currency, rate.rate_usd) == ("USDT", Decimal("0.999721083674897531"))  # type: ignore[union-attr]
    assert only_usdt.streams() == ["fx:USDT"]


@pytest.mark.parametrize(
    "frame",
    [
        '{"success":true,"ret_msg":"","conn_id":"cejreaspqfm9se7usbrg-2xh","req_id":"sub-1","op":"subscribe"}',
        '{"success":true,"ret_msg":"subscribe","conn_id":"d9avt8shteepr00gfc1g-4zd1x","op":"subscribe"}',
        '{"success":true,"ret_msg":"","conn_id":"x","req_id":"r","op":"unsubscribe"}',
        '{"success":true,"ret_msg":"pong","conn_id":"xxxxx-xx","req_id":"","op":"ping"}',
        '{"req_id":"100001","op":"pong","args":["1675418560633"],"conn_id":"cfcb4ocsvfriu23r3er0-1b"}',
    ],
)
def test_bybit_parse_control_frames_are_silent(bybit: BybitAdapter, frame: str) -> None:
    assert bybit.parse(frame, ts_recv=RECV) == []


def test_bybit_parse_refused_subscription_names_the_message(bybit: BybitAdapter) -> None:
    frame = '{"success":false,"ret_msg":"args size \\u003e10","conn_id":"c","op":"subscribe"}'
    with pytest.raises(QuarantineError) as caught:
        bybit.parse(frame, ts_recv=RECV)
    assert caught.value.reason == "subscription refused"
    assert caught.value.detail == "op 'subscribe': 'args size >10'"


BAD_FRAMES: list[tuple[str, str, str]] = [
    ("garbage", "\x00\xff not json", "malformed json"),
    ("truncated", SNAPSHOT[:57], "malformed json"),
    ("nan literal", SNAPSHOT.replace('"u":13079592', '"u":NaN'), "malformed json"),
    ("empty", "", "malformed json"),
    ("array", "[1,2,3]", "bad shape"),
    ("empty object", "{}", "bad shape"),
    (
        "data is list",
        '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":[1]}',
        "bad shape",
    ),
    (
        "data not object",
        '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1671179923046,"data":5}',
        "bad shape",
    ),
    ("level of 3", DELTA.replace('["17442.00","1.510"]', '["17442.00","1.510","x"]'), "bad shape"),
    ("topic not string", '{"topic":7,"data":{}}', "bad shape"),
    (
        "no data",
        '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1671179923046}',
        "missing field",
    ),
    ("no u", DELTA.replace(',"u":13079593', ""), "missing field"),
    (
        "no ts",
        DELTA.replace('"ts":1671179923046,', "").replace(',"cts":1671179923040', ""),
        "missing field",
    ),
    ("ack without success", '{"op":"subscribe","ret_msg":""}', "missing field"),
    ("ticker without index", TICKER.replace(',"usdIndexPrice":"0.99985"', ""), "missing field"),
    ("ticker without last", TICKER.replace('"lastPrice":"0.9998",', ""), "missing field"),
    (
        "ts as string",
        DELTA.replace('"cts":1671179923040', '"cts":"1671179923040"'),
        "bad timestamp",
    ),
    ("ts as float", DELTA.replace('"cts":1671179923040', '"cts":1671179923040.5'), "bad timestamp"),
    ("ts huge", DELTA.replace('"cts":1671179923040', '"cts":1e400'), "bad timestamp"),
    (
        "ts in ns",
        DELTA.replace('"cts":1671179923040', '"cts":1671179923040000000'),
        "bad timestamp",
    ),
    ("ts before 2000", DELTA.replace('"cts":1671179923040', '"cts":-5'), "bad timestamp"),
    ("trade T bool", TRADE.replace('"T":1672304486865', '"T":true'), "bad timestamp"),
    ("u zero", DELTA.replace('"u":13079593', '"u":0'), "bad sequence"),
    ("u string", DELTA.replace('"u":13079593', '"u":"13079593"'), "bad sequence"),
    (
        "u beyond int64",
        DELTA.replace('"u":13079593', '"u":99999999999999999999999'),
        "bad sequence",
    ),
    ("price NaN", DELTA.replace('"17440.50"', '"NaN"'), "bad decimal"),
    ("price inf", DELTA.replace('"17440.50"', '"Infinity"'), "bad decimal"),
    ("price exponent", DELTA.replace('"17440.50"', '"1.744e4"'), "bad decimal"),
    ("size negative", DELTA.replace('"78.857"', '"-78.857"'), "bad decimal"),
    ("size underscore", DELTA.replace('"78.857"', '"7_8.857"'), "bad decimal"),
    ("size blank", DELTA.replace('"78.857"', '" 78.857"'), "bad decimal"),
    ("size unicode digits", DELTA.replace('"78.857"', '"\\uff17\\uff18"'), "bad decimal"),
    ("price huge", DELTA.replace('"17440.50"', '"' + "9" * 40 + '"'), "bad decimal"),
    ("price as number", DELTA.replace('"17440.50"', "17440.50"), "bad decimal"),
    ("trade price number", TRADE.replace('"p":"16578.50"', '"p":16578.50'), "bad decimal"),
    ("ticker last NaN", TICKER.replace('"lastPrice":"0.9998"', '"lastPrice":"nan"'), "bad decimal"),
    ("book type", DELTA.replace('"type":"delta"', '"type":"partial"'), "bad field"),
    ("trade side", TRADE.replace('"S":"Buy"', '"S":"Hold"'), "bad field"),
    ("kline", '{"topic":"kline.1.BTCUSDT","type":"snapshot","ts":1,"data":[]}', "unknown channel"),
    ("auth op", '{"success":true,"ret_msg":"","op":"auth"}', "unknown channel"),
    ("other depth", SNAPSHOT.replace("orderbook.50.", "orderbook.200."), "unknown topic"),
    ("not subscribed", TICKER.replace("tickers.USDCUSDT", "tickers.BTCUSDT"), "unknown topic"),
    (
        "unknown symbol",
        SNAPSHOT.replace("orderbook.50.BTCUSDT", "orderbook.50.ETHUSDT"),
        "unknown symbol",
    ),
    ("symbol mismatch", SNAPSHOT.replace('"s":"BTCUSDT"', '"s":"AAPLXUSDT"'), "symbol mismatch"),
    ("trade symbol mismatch", TRADE.replace('"s":"BTCUSDT"', '"s":"ETHUSDT"'), "symbol mismatch"),
    (
        "ticker zero last",
        TICKER.replace('"lastPrice":"0.9998"', '"lastPrice":"0"'),
        "non-positive price",
    ),
    ("ping failed", '{"success":false,"ret_msg":"boom","conn_id":"c","op":"ping"}', "venue error"),
    (
        "unsubscribe failed",
        '{"success":false,"ret_msg":"no","conn_id":"c","op":"unsubscribe"}',
        "venue error",
    ),
    (
        "refused",
        '{"success":false,"ret_msg":"error:handler not found,topic:x","op":"subscribe"}',
        "subscription refused",
    ),
]


@pytest.mark.parametrize(("name", "frame", "reason"), BAD_FRAMES, ids=[b[0] for b in BAD_FRAMES])
def test_bybit_parse_quarantines(bybit: BybitAdapter, name: str, frame: str, reason: str) -> None:
    with pytest.raises(QuarantineError) as caught:
        bybit.parse(frame, ts_recv=RECV)
    assert caught.value.reason == reason, (name, caught.value.detail)
    assert len(caught.value.detail) <= 400


def test_bybit_parse_quarantine_details_name_the_problem(bybit: BybitAdapter) -> None:
    details = {}
    for frame in (
        SNAPSHOT.replace("orderbook.50.BTCUSDT", "orderbook.50.ETHUSDT"),
        DELTA.replace('"78.857"', '"NaN"'),
        DELTA.replace('"cts":1671179923040', '"cts":"x"'),
        DELTA.replace(',"u":13079593', ""),
    ):
        with pytest.raises(QuarantineError) as caught:
            bybit.parse(frame, ts_recv=RECV)
        details[caught.value.reason] = caught.value.detail
    assert details == {
        "unknown symbol": "'orderbook.50.ETHUSDT' on bybit",
        "bad decimal": "a='NaN'",
        "bad timestamp": "Expected `int | null`, got `str` at $.cts",
        "missing field": "Object missing required field `u` at $.data",
    }


def test_bybit_parse_huge_frame_of_levels(bybit: BybitAdapter) -> None:
    levels = ",".join(f'["{17000 + i}.5","0.001"]' for i in range(20_000))
    frame = SNAPSHOT.replace('[["17440.50","78.815"]]', f"[{levels}]")
    [event] = bybit.parse(frame, ts_recv=RECV)
    assert isinstance(event, BookUpdate)
    assert (len(event.asks), event.asks[-1].price) == (20_000, Decimal("36999.5"))
