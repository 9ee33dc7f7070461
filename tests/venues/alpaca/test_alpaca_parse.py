"""AlpacaAdapter.parse on frames in Alpaca's documented v2 wire format (venues.md section 6).

The quote and trade frames are the documented examples (docs.alpaca.markets, "Real-time
Stock Data"), with the symbol changed to one of the recorded catalog where needed.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from divergence.catalog import Catalog
from divergence.errors import QuarantineError, VenueRejectedError
from divergence.events import Event, Quote, SessionState, Trade
from divergence.venues.alpaca import AlpacaAdapter

RECV = 1_700_000_000_000_000_000
QUOTE = (
    '[{"T":"q","S":"AAPL","bx":"U","bp":87.66,"bs":1,"ax":"Q","ap":87.68,"as":4,'
    '"t":"2021-02-22T15:51:45.335689322Z","c":["R"],"z":"C"}]'
)
TRADE = (
    '[{"T":"t","i":96921,"S":"AAPL","x":"D","p":126.55,"s":1,'
    '"t":"2021-02-22T15:51:44.208Z","c":["@","I"],"z":"C"}]'
)
TRADES = (
    '[{"T":"t","S":"NVDA","i":628,"x":"K","p":162.92,"s":3,"c":["@","F","T","I"],"z":"C",'
    '"t":"2023-04-06T11:54:26.838232225Z"},{"T":"t","S":"NVDA","i":75,"x":"Z","p":162.92,"s":3,'
    '"c":["@","F","T","I"],"z":"C","t":"2023-04-06T11:54:26.838562809Z"},{"T":"t","S":"NVDA",'
    '"i":1465,"x":"P","p":162.91,"s":71,"c":["@","F","T","I"],"z":"C",'
    '"t":"2023-04-06T11:54:26.83915973Z"}]'
)
CONNECTED = '[{"T":"success","msg":"connected"}]'
FULL_ACK = (
    '[{"T":"subscription","trades":["AAPL","NVDA","TSLA"],"quotes":["AAPL","NVDA","TSLA"],'
    '"bars":[],"updatedBars":[],"dailyBars":[],"statuses":["AAPL","NVDA","TSLA"],"lulds":[],'
    '"corrections":["AAPL","NVDA","TSLA"],"cancelErrors":["AAPL","NVDA","TSLA"]}]'
)


def status(code: str, t: str, symbol: str = "NVDA", message: str = "") -> str:
    return (
        f'[{{"T":"s","S":"{symbol}","sc":"{code}","sm":"{message}","rc":"LUDP",'
        f'"rm":"Volatility Trading Pause","t":"{t}","z":"C"}}]'
    )


def error(code: int, message: str) -> str:
    return f'[{{"T":"error","code":{code},"msg":"{message}"}}]'


def parse(adapter: AlpacaAdapter, frame: str) -> list[Event]:
    return adapter.parse(frame, ts_recv=RECV)


def refused(adapter: AlpacaAdapter, frame: str | bytes) -> QuarantineError:
    with pytest.raises(QuarantineError) as caught:
        adapter.parse(frame, ts_recv=RECV)
    return caught.value


def rejected(adapter: AlpacaAdapter, frame: str) -> VenueRejectedError:
    with pytest.raises(VenueRejectedError) as caught:
        adapter.parse(frame, ts_recv=RECV)
    return caught.value


# ------------------------------------------------------------------- data
def test_alpaca_parse_quote_keeps_wire_values(adapter: AlpacaAdapter) -> None:
    assert parse(adapter, QUOTE) == [
        Quote(
            ts_event=1_614_009_105_335_689_322,  # all nine digits of ...45.335689322Z
            ts_recv=RECV,
            venue="alpaca",
            instrument_id="AAPL@alpaca",
            symbol="AAPL",
            bid_px=Decimal("87.66"),
            bid_sz=Decimal("1"),
            ask_px=Decimal("87.68"),
            ask_sz=Decimal("4"),
        )
    ]


def test_alpaca_parse_decimals_never_pass_through_a_float(adapter: AlpacaAdapter) -> None:
    frame = QUOTE.replace("87.66", "87.660000000000000001").replace("87.68", "87.68000")
    (quote,) = parse(adapter, frame)
    assert isinstance(quote, Quote)
    assert (str(quote.bid_px), str(quote.ask_px)) == ("87.660000000000000001", "87.68000")


def test_alpaca_parse_trade_id_names_the_exchange(adapter: AlpacaAdapter) -> None:
    assert parse(adapter, TRADE) == [
        Trade(
            ts_event=1_614_009_104_208_000_000,
            ts_recv=RECV,
            venue="alpaca",
            instrument_id="AAPL@alpaca",
            symbol="AAPL",
            price=Decimal("126.55"),
            size=Decimal("1"),
            side="unknown",
            trade_id="D:96921",
        )
    ]


def test_alpaca_parse_batched_trades_of_three_exchanges(adapter: AlpacaAdapter) -> None:
    trades = parse(adapter, TRADES)
    assert [(t.trade_id, t.price, t.size, t.ts_event) for t in trades if isinstance(t, Trade)] == [
        ("K:628", Decimal("162.92"), Decimal("3"), 1_680_782_066_838_232_225),
        ("Z:75", Decimal("162.92"), Decimal("3"), 1_680_782_066_838_562_809),
        ("P:1465", Decimal("162.91"), Decimal("71"), 1_680_782_066_839_159_730),
    ]
    assert {t.instrument_id for t in trades if isinstance(t, Trade)} == {"NVDA@alpaca"}


# --------------------------------------------------------------- statuses
@pytest.mark.parametrize(
    ("code", "t", "session"),
    [
        ("H", "2021-02-22T19:15:00Z", "halted"),  # UTP trading halt
        ("P", "2021-02-22T19:15:00Z", "halted"),  # UTP volatility trading pause (LULD)
        ("Q", "2021-02-22T19:19:00Z", "halted"),  # quotes back, trading not yet
        ("2", "2021-02-22T19:15:00Z", "halted"),  # CTA trading halt
        ("T", "2021-02-22T19:20:00.5Z", "regular"),  # Monday 14:20 ET
        ("3", "2021-02-22T21:30:00Z", "post"),  # CTA resume, Monday 16:30 ET
    ],
)
def test_alpaca_parse_status_to_session(
    adapter: AlpacaAdapter, code: str, t: str, session: str
) -> None:
    (state,) = parse(adapter, status(code, t))
    assert isinstance(state, SessionState)
    assert (state.venue, state.underlying, state.session) == ("alpaca", "NVDA", session)
    assert state.ts_recv == RECV
    ts_by_text = {
        "2021-02-22T19:15:00Z": 1_614_021_300_000_000_000,
        "2021-02-22T19:19:00Z": 1_614_021_540_000_000_000,
        "2021-02-22T19:20:00.5Z": 1_614_021_600_500_000_000,
        "2021-02-22T21:30:00Z": 1_614_029_400_000_000_000,
    }
    assert state.ts_event == ts_by_text[t]


@pytest.mark.parametrize("code", ["5", "7", "A", "C", "E", "F"])
def test_alpaca_parse_informational_status_is_no_session_change(
    adapter: AlpacaAdapter, code: str
) -> None:
    assert parse(adapter, status(code, "2021-02-22T19:15:00Z")) == []


def test_alpaca_parse_unknown_status_is_quarantined(adapter: AlpacaAdapter) -> None:
    caught = refused(adapter, status("Z", "2021-02-22T19:15:00Z", message="Mystery"))
    assert (caught.reason, caught.detail) == ("unknown status", "Z (Mystery) for NVDA")


# ------------------------------------------------------- control and acks
def test_alpaca_parse_control_frames_give_nothing(adapter: AlpacaAdapter) -> None:
    for frame in (CONNECTED, '[{"T":"success","msg":"authenticated"}]', FULL_ACK):
        assert parse(adapter, frame) == []


def test_alpaca_parse_ack_lacking_a_symbol_is_refused_once(adapter: AlpacaAdapter) -> None:
    partial = FULL_ACK.replace('"quotes":["AAPL","NVDA","TSLA"]', '"quotes":["AAPL","TSLA"]')
    partial = partial.replace('"statuses":["AAPL","NVDA","TSLA"]', '"statuses":["AAPL","TSLA"]')
    parse(adapter, CONNECTED)
    caught = refused(adapter, partial)
    assert (caught.reason, caught.detail) == (
        "subscription refused",
        "not subscribed: quotes NVDA, statuses NVDA",
    )
    assert parse(adapter, partial) == []  # the same gap is reported once (pings repeat it)
    assert parse(adapter, FULL_ACK) == []
    assert refused(adapter, partial).reason == "subscription refused"  # lost again: again


def test_alpaca_parse_resync_unsubscribe_step_is_expected(adapter: AlpacaAdapter) -> None:
    """A resync is unsubscribe + subscribe: the ack between them lacks exactly that stream."""
    parse(adapter, CONNECTED)
    parse(adapter, FULL_ACK)
    (unsubscribe, subscribe) = adapter.resync_messages("session:AAPL")
    assert unsubscribe == '{"action":"unsubscribe","statuses":["AAPL"]}'
    assert subscribe == '{"action":"subscribe","statuses":["AAPL"]}'
    between = FULL_ACK.replace('"statuses":["AAPL","NVDA","TSLA"]', '"statuses":["NVDA","TSLA"]')
    assert parse(adapter, between) == []
    assert parse(adapter, FULL_ACK) == []


def test_alpaca_parse_resync_of_an_underlying_with_two_symbols(
    make_adapter: Callable[..., AlpacaAdapter],
) -> None:
    adapter = make_adapter(["AAA", "BBB"])  # both on underlying X
    assert adapter.resync_messages("session:X")[0] == (
        '{"action":"unsubscribe","statuses":["AAA","BBB"]}'
    )
    full = '[{"T":"subscription","trades":["AAA","BBB"],"quotes":["AAA","BBB"],"statuses":%s}]'
    parse(adapter, CONNECTED)
    assert parse(adapter, full % '["AAA","BBB"]') == []
    assert parse(adapter, full % "[]") == []  # the unsubscribe step
    assert parse(adapter, full % '["AAA","BBB"]') == []
    assert parse(adapter, full % '["BBB"]') == []  # a shrink looks like an unsubscribe...
    lost = refused(adapter, full % '["BBB"]')  # ...until the next ack (a ping's) lacks it too
    assert lost.detail == "not subscribed: statuses AAA"


def test_alpaca_parse_ack_of_a_first_chunk_is_not_a_refusal(
    make_adapter: Callable[..., AlpacaAdapter],
) -> None:
    symbols = [f"S{n:03d}" for n in range(150)]
    adapter = make_adapter(symbols)
    auth, first, second = adapter.subscribe_messages()
    assert auth == '{"action":"auth","key":"test-key","secret":"test-secret"}'
    assert first.count('"S0') == 300 and second.count('"S1') == 150  # 100 + 50 symbols

    def ack(chosen: list[str]) -> str:
        listed = ",".join(f'"{s}"' for s in chosen)
        lists = ",".join(f'"{key}":[{listed}]' for key in ("trades", "quotes", "statuses"))
        return f'[{{"T":"subscription",{lists}}}]'

    parse(adapter, CONNECTED)
    assert parse(adapter, ack(symbols[:100])) == []  # chunk 2 is not sent yet
    caught = refused(adapter, ack([s for s in symbols if s != "S042"]))
    assert caught.detail == "not subscribed: quotes S042, statuses S042, trades S042"


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("code", "message", "hint"),
    [
        (402, "auth failed", "check the key and secret"),
        (408, "v2 not enabled", "the account lacks Data v2"),
        (409, "insufficient subscription", "the plan does not include this feed"),
    ],
)
def test_alpaca_parse_session_errors_are_fatal(
    adapter: AlpacaAdapter, code: int, message: str, hint: str
) -> None:
    caught = rejected(adapter, error(code, message))
    assert (caught.code, caught.fatal, caught.retryable, caught.retry_after_s) == (
        str(code),
        True,
        False,
        0.0,
    )
    assert caught.message == f"{code}: {message} ({hint}; feed 'sip')"


def test_alpaca_parse_connection_limit_waits(make_adapter: Callable[..., AlpacaAdapter]) -> None:
    caught = rejected(make_adapter(), error(406, "connection limit exceeded"))
    assert (caught.code, caught.fatal, caught.retryable, caught.retry_after_s) == (
        "406",
        False,
        True,
        60.0,
    )
    assert caught.message == "406: connection limit exceeded"
    assert rejected(make_adapter(retry_after_s=5.0), error(406, "x")).retry_after_s == 5.0


def test_alpaca_parse_not_authenticated_is_fatal_only_without_credentials(
    adapter: AlpacaAdapter, recorded_catalog: Catalog
) -> None:
    """401 after our auth: the subscribe overtook it, so try again; without auth: stop."""
    bare = AlpacaAdapter(recorded_catalog.venues["alpaca"], recorded_catalog)
    caught = rejected(bare, error(401, "not authenticated"))
    assert (caught.fatal, caught.message) == (
        True,
        "401: not authenticated (no credentials were sent; feed 'sip')",
    )
    caught = rejected(adapter, error(401, "not authenticated"))
    assert (caught.fatal, caught.retry_after_s, caught.message) == (
        False,
        10.0,
        "401: not authenticated",
    )


@pytest.mark.parametrize(("code", "message"), [(404, "auth timeout"), (500, "internal error")])
def test_alpaca_parse_transient_errors_back_off(
    adapter: AlpacaAdapter, code: int, message: str
) -> None:
    caught = rejected(adapter, error(code, message))
    assert (caught.code, caught.fatal, caught.retry_after_s) == (str(code), False, 10.0)


@pytest.mark.parametrize(
    ("code", "message", "reason"),
    [
        (405, "symbol limit exceeded", "subscription refused"),
        (400, "invalid syntax", "venue error"),
        (403, "already authenticated", "venue error"),
        (407, "slow client", "venue error"),
        (999, "something new", "venue error"),
    ],
)
def test_alpaca_parse_request_errors_keep_the_feed(
    adapter: AlpacaAdapter, code: int, message: str, reason: str
) -> None:
    caught = refused(adapter, error(code, message))
    assert (caught.reason, caught.detail) == (reason, f"{code} {message}")


# ------------------------------------------------------------- quarantine
@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("garbage \x00", "malformed json"),
        (QUOTE[: len(QUOTE) // 2], "malformed json"),
        ('{"T":"q"}', "bad shape"),  # an object, not an array
        ("[1]", "bad shape"),
        ('[{"S":"AAPL"}]', "missing field"),  # no T
        (QUOTE.replace('"bp":87.66,', ""), "missing field"),
        (QUOTE.replace('"t":"2021-02-22T15:51:45.335689322Z",', ""), "missing field"),
        (TRADE.replace('"i":96921,', ""), "missing field"),
        (QUOTE.replace("87.66", '"eighty"'), "bad decimal"),
        (QUOTE.replace("87.66", "true"), "bad decimal"),
        (QUOTE.replace("2021-02-22T15:51:45.335689322Z", "yesterday"), "bad timestamp"),
        (QUOTE.replace("2021-02-22T15:51:45.335689322Z", "1999-12-31T23:59:59Z"), "bad timestamp"),
        (
            QUOTE.replace("2021-02-22T15:51:45.335689322Z", "2021-02-22T15:51:45.3356893221Z"),
            "bad timestamp",
        ),
        (QUOTE.replace('"T":"q"', '"T":"zz"'), "unknown type"),
        (QUOTE.replace('"S":"AAPL"', '"S":"MSFT"'), "unknown symbol"),
        ('[{"T":"success","msg":"hello"}]', "bad field"),
    ],
)
def test_alpaca_parse_quarantine_reasons(adapter: AlpacaAdapter, frame: str, reason: str) -> None:
    assert refused(adapter, frame).reason == reason


@pytest.mark.parametrize(
    ("frame", "detail"),
    [
        ('[{"T":"x","S":"AAPL","i":465,"x":"D","p":105.31,"s":300,"a":"C"}]', "trade cancel/error"),
        ('[{"T":"c","S":"AAPL","x":"M","oi":5,"ci":6}]', "trade correction"),
        ('[{"T":"b","S":"AAPL","o":1,"h":1,"l":1,"c":1,"v":1}]', "minute bar"),
        ('[{"T":"l","S":"AAPL","u":3.24,"d":2.65,"i":"B"}]', "LULD band"),
    ],
)
def test_alpaca_parse_unsupported_types_are_kept_in_quarantine(
    adapter: AlpacaAdapter, frame: str, detail: str
) -> None:
    caught = refused(adapter, frame)
    assert (caught.reason, caught.detail) == (
        "unsupported type",
        f"{detail} for AAPL is not applied",
    )
