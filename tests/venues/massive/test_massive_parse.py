"""MassiveAdapter.parse and declarations on frames in Massive's documented stocks wire format.

The documented examples (venues.md section 7, massive.com/docs/websocket/stocks) are used
byte for byte where they fit; the rest are hand-written in the same shape.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest

from divergence.catalog import Catalog, Reference, Venue
from divergence.errors import ConfigError, QuarantineError, VenueRejectedError
from divergence.events import FeedEvent, Quote, Trade
from divergence.feeds.pipeline import FramePipeline
from divergence.settings import VenueSettings
from divergence.venues.massive import DELAYED_URL, SHARES_SINCE_MS, URL, MassiveAdapter

RECV = 1_800_000_000_000_000_000
QUOTE = (
    '[{"ev":"Q","sym":"AAPL","bx":11,"bp":229.90,"bs":300,"ax":12,"ap":229.91,"as":200,'
    '"t":1786372200123,"q":1563593,"z":3}]'
)
DOC_QUOTE = (  # 2025-05-29: sizes were round lots then
    '[{"ev":"Q","sym":"AAPL","bx":11,"bp":192.30,"bs":200,"ax":12,"ap":192.32,"as":150,'
    '"t":1748476801240}]'
)
DOC_TRADE = (
    '[{"ev":"T","sym":"AAPL","i":"5096","x":10,"p":161.87,"s":300,"c":[14,41],'
    '"t":1651684192462,"q":4009402,"z":3}]'
)
TRF_TRADE = (
    '[{"ev":"T","sym":"NVDA","i":"71675577320245","x":4,"p":179.8950,"s":0.5,"c":[37],'
    '"t":1786372201846,"q":4364993,"z":3,"trfi":202,"trft":1786372201837}]'
)


def status(name: str, message: str) -> str:
    return f'[{{"ev":"status","status":"{name}","message":"{message}"}}]'


def refused(adapter: MassiveAdapter, frame: str | bytes) -> QuarantineError:
    with pytest.raises(QuarantineError) as caught:
        adapter.parse(frame, ts_recv=RECV)
    return caught.value


# ------------------------------------------------------------------- data
def test_massive_parse_quote_sizes_are_shares(adapter: MassiveAdapter) -> None:
    assert adapter.parse(QUOTE, ts_recv=RECV) == [
        Quote(
            ts_event=1_786_372_200_123_000_000,  # t is Unix ms
            ts_recv=RECV,
            venue="massive",
            instrument_id="AAPL@massive",
            symbol="AAPL",
            bid_px=Decimal("229.90"),
            bid_sz=Decimal(300),
            ask_px=Decimal("229.91"),
            ask_sz=Decimal(200),
        )
    ]
    (quote,) = adapter.parse(QUOTE.replace("1563593", "1563594"), ts_recv=RECV)
    assert isinstance(quote, Quote) and str(quote.bid_px) == "229.90"  # the wire text, no float


def test_massive_parse_documented_quote_before_the_switch_is_round_lots(
    adapter: MassiveAdapter,
) -> None:
    """Before 2025-11-03 ``bs``/``as`` counted round lots of 100: 200 -> 20,000 shares."""
    (quote,) = adapter.parse(DOC_QUOTE, ts_recv=RECV)
    assert isinstance(quote, Quote)
    assert (quote.ts_event, quote.bid_sz, quote.ask_sz) == (
        1_748_476_801_240_000_000,
        Decimal(20_000),
        Decimal(15_000),
    )
    assert (quote.bid_px, quote.ask_px) == (Decimal("192.30"), Decimal("192.32"))


@pytest.mark.parametrize(
    ("t", "bid_sz"), [(SHARES_SINCE_MS - 1, Decimal(300)), (SHARES_SINCE_MS, Decimal(3))]
)
def test_massive_parse_quote_size_unit_switches_at_2025_11_03(
    adapter: MassiveAdapter, t: int, bid_sz: Decimal
) -> None:
    frame = QUOTE.replace('"bs":300', '"bs":3').replace("1786372200123", str(t))
    (quote,) = adapter.parse(frame, ts_recv=RECV)
    assert isinstance(quote, Quote) and quote.bid_sz == bid_sz


def test_massive_parse_documented_trade(adapter: MassiveAdapter) -> None:
    assert adapter.parse(DOC_TRADE, ts_recv=RECV) == [
        Trade(
            ts_event=1_651_684_192_462_000_000,
            ts_recv=RECV,
            venue="massive",
            instrument_id="AAPL@massive",
            symbol="AAPL",
            price=Decimal("161.87"),
            size=Decimal(300),
            side="unknown",
            trade_id="10:5096",  # trade ids are unique per exchange only
        )
    ]


def test_massive_parse_trf_trade_keeps_sub_penny_price_and_fractional_size(
    adapter: MassiveAdapter,
) -> None:
    (trade,) = adapter.parse(TRF_TRADE, ts_recv=RECV)
    assert isinstance(trade, Trade)
    assert (trade.instrument_id, trade.trade_id) == ("NVDA@massive", "4:202:71675577320245")
    assert (str(trade.price), str(trade.size)) == ("179.8950", "0.5")
    assert trade.ts_event == 1_786_372_201_846_000_000  # SIP time, not the TRF time


def test_massive_parse_one_event_per_array_item_in_order(adapter: MassiveAdapter) -> None:
    frame = QUOTE[:-1] + "," + DOC_TRADE[1:-1] + "," + QUOTE[1:].replace("AAPL", "TSLA")
    events = adapter.parse(frame, ts_recv=RECV)
    assert [(type(e).__name__, e.instrument_id) for e in events] == [  # type: ignore[union-attr]
        ("Quote", "AAPL@massive"),
        ("Trade", "AAPL@massive"),
        ("Quote", "TSLA@massive"),
    ]
    assert adapter.parse("[]", ts_recv=RECV) == []


def test_massive_parse_drops_an_exact_quote_replay(adapter: MassiveAdapter) -> None:
    """``q`` is not gap-checked, but the same (symbol, q, t) twice is a replay."""
    assert isinstance(adapter.parse(QUOTE, ts_recv=RECV)[0], Quote)
    (replay,) = adapter.parse(QUOTE, ts_recv=RECV + 1)
    assert isinstance(replay, FeedEvent)
    assert (replay.event, replay.stream, replay.value, replay.ts_event) == (
        "duplicate",
        "quote:AAPL",
        1.0,
        RECV + 1,
    )
    assert replay.detail == "quote AAPL q=1563593 t=1786372200123 already seen"
    jumped = QUOTE.replace("1563593", "9999999")  # a jump in q is normal: not a gap
    later = QUOTE.replace("1786372200123", "1786372200124")  # same q, another time
    events = adapter.parse(jumped, ts_recv=RECV) + adapter.parse(later, ts_recv=RECV)
    # DOC_QUOTE has no q: never treated as a replay
    events += adapter.parse(DOC_QUOTE, ts_recv=RECV) + adapter.parse(DOC_QUOTE, ts_recv=RECV)
    assert [type(e) for e in events] == [Quote, Quote, Quote, Quote]


def test_massive_pipeline_keeps_same_trade_id_on_two_exchanges(adapter: MassiveAdapter) -> None:
    """Massive's ``i`` repeats across exchanges; only a true replay is a duplicate."""
    pipeline = FramePipeline(adapter, "massive")
    nasdaq = DOC_TRADE.replace('"x":10', '"x":12')
    out = [pipeline.process(f, ts_recv=RECV) for f in (DOC_TRADE, nasdaq, DOC_TRADE)]
    trades = [e for o in out for e in o.events if isinstance(e, Trade)]
    assert [t.trade_id for t in trades] == ["10:5096", "12:5096"]
    [duplicate] = [e for e in out[2].events if isinstance(e, FeedEvent)]
    assert (duplicate.event, duplicate.value) == ("duplicate", 1.0)


# ---------------------------------------------------------------- statuses
@pytest.mark.parametrize(
    "frame",
    [
        status("connected", "Connected Successfully"),
        status("auth_success", "authenticated"),
        status("success", "subscribed to: Q.AAPL"),
        status("success", "unsubscribed to: T.NVDA"),
    ],
)
def test_massive_parse_control_statuses_give_nothing(adapter: MassiveAdapter, frame: str) -> None:
    assert adapter.parse(frame, ts_recv=RECV) == []


def test_massive_parse_auth_failed_is_a_fatal_rejection(adapter: MassiveAdapter) -> None:
    with pytest.raises(VenueRejectedError) as caught:
        adapter.parse(status("auth_failed", "authentication failed"), ts_recv=RECV)
    error = caught.value
    assert (error.code, error.fatal, error.retryable, error.retry_after_s) == (
        "auth_failed",
        True,
        False,
        0.0,
    )
    assert error.message == "auth_failed: authentication failed"


@pytest.mark.parametrize("retry_after_s", [None, 0.25])
def test_massive_parse_max_connections_waits_before_retrying(
    massive_venue: Venue, recorded_catalog: Catalog, retry_after_s: float | None
) -> None:
    options = {} if retry_after_s is None else {"retry_after_s": retry_after_s}
    adapter = MassiveAdapter(massive_venue, recorded_catalog, **options)
    message = "Maximum number of websocket connections exceeded."
    with pytest.raises(VenueRejectedError) as caught:
        adapter.parse(status("max_connections", message), ts_recv=RECV)
    error = caught.value
    assert (error.code, error.fatal, error.retryable) == ("max_connections", False, True)
    assert error.retry_after_s == (60.0 if retry_after_s is None else retry_after_s)
    assert error.message == f"max_connections: {message}"


def test_massive_parse_error_status_is_a_refused_subscription(adapter: MassiveAdapter) -> None:
    error = refused(adapter, status("error", "not authorized"))
    assert (error.reason, error.detail) == ("subscription refused", "not authorized")


def test_massive_parse_unknown_status_is_quarantined(adapter: MassiveAdapter) -> None:
    error = refused(adapter, status("auth_timeout", "no auth received"))
    assert (error.reason, error.detail) == ("unknown status", "auth_timeout: no auth received")


# -------------------------------------------------------------- quarantine
@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("garbage", "malformed json"),
        (QUOTE[:-9], "malformed json"),  # truncated
        (b"\xff\xfe[]", "malformed json"),
        (QUOTE.replace("229.90", "NaN"), "malformed json"),
        ("{}", "bad shape"),
        ('"text"', "bad shape"),
        ("[1]", "bad shape"),
        ('[{"ev":5}]', "bad shape"),
        ('[{"sym":"AAPL"}]', "missing field"),
        ('[{"ev":"AM","sym":"AAPL"}]', "unknown event"),
        ('[{"ev":"LULD","T":"AAPL"}]', "unknown event"),
        (QUOTE.replace(',"t":1786372200123', ""), "missing field"),
        (QUOTE.replace('"bp":229.90,', ""), "missing field"),
        (QUOTE.replace('"sym":"AAPL",', ""), "missing field"),
        (DOC_TRADE.replace('"x":10,', ""), "missing field"),
        (QUOTE.replace("229.90", "true"), "bad decimal"),
        (QUOTE.replace("229.90", '"abc"'), "bad decimal"),
        (DOC_TRADE.replace("161.87", "[1]"), "bad decimal"),
        (QUOTE.replace("1786372200123", '"1786372200123"'), "bad timestamp"),
        (QUOTE.replace("1786372200123", "1786372200123.5"), "bad timestamp"),
        (QUOTE.replace("1786372200123", "1786372200"), "bad timestamp"),  # seconds, not ms
        (QUOTE.replace("1786372200123", "1786372200123000"), "bad timestamp"),  # us
        (QUOTE.replace("1786372200123", "-5"), "bad timestamp"),
        (DOC_TRADE.replace('"i":"5096"', '"i":5096'), "bad shape"),
        (QUOTE.replace('"sym":"AAPL"', '"sym":7'), "bad shape"),
        (QUOTE.replace("AAPL", "MSFT"), "unknown symbol"),
        (QUOTE.replace("AAPL", "aapl"), "unknown symbol"),
        (QUOTE[:-1] + "," + QUOTE[1:].replace("AAPL", "MSFT"), "unknown symbol"),
    ],
)
def test_massive_parse_quarantines_hostile_frames(
    adapter: MassiveAdapter, frame: str | bytes, reason: str
) -> None:
    assert refused(adapter, frame).reason == reason


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (("229.90", "0"), "non-positive price"),  # a one-sided NBBO
        (("229.91", "229.80"), "crossed quote"),
        (('"as":200', '"as":-200'), "negative size"),
        (("229.90", "1e400"), "value too large"),
    ],
)
def test_massive_hostile_values_are_quarantined_by_the_pipeline(
    adapter: MassiveAdapter, edit: tuple[str, str], reason: str
) -> None:
    pipeline = FramePipeline(adapter, "massive")
    out = pipeline.process(QUOTE.replace(*edit), ts_recv=RECV)
    assert [r.reason for r in out.rejects] == [reason]
    assert [e.event for e in out.events if isinstance(e, FeedEvent)] == ["quarantine"]


# ----------------------------------------------------------- declarations
def test_massive_subscribe_messages_authenticate_then_subscribe(adapter: MassiveAdapter) -> None:
    assert adapter.subscribe_messages() == [
        '{"action":"auth","params":"test-key"}',
        '{"action":"subscribe","params":"Q.AAPL,T.AAPL,Q.NVDA,T.NVDA,Q.TSLA,T.TSLA"}',
    ]
    assert (adapter.spec.url, adapter.spec.ping_message) == (URL, None)
    assert adapter.spec.url == "wss://socket.massive.com/stocks"
    assert adapter.book_spec("AAPL") is None


def test_massive_subscribe_messages_chunk_the_params(
    massive_venue: Venue, recorded_catalog: Catalog
) -> None:
    many = tuple(
        Reference(id=f"T{n:03d}@massive", venue="massive", symbol=f"T{n:03d}", underlying="AAPL")
        for n in range(300)
    )
    adapter = MassiveAdapter(massive_venue, recorded_catalog.model_copy(update={"reference": many}))
    adapter.configure(VenueSettings(api_key="k"))
    auth, first, second = adapter.subscribe_messages()
    assert auth == '{"action":"auth","params":"k"}'
    sizes = [len(json.loads(m)["params"].split(",")) for m in (first, second)]
    assert sizes == [500, 100] and adapter.spec.max_topics_per_request == 500
    assert first.startswith('{"action":"subscribe","params":"Q.T000,T.T000,Q.T001,')
    assert second.endswith('Q.T299,T.T299"}')


def test_massive_streams_and_resync(adapter: MassiveAdapter) -> None:
    assert adapter.streams() == [
        "quote:AAPL",
        "quote:NVDA",
        "quote:TSLA",
        "trade:AAPL",
        "trade:NVDA",
        "trade:TSLA",
    ]
    assert adapter.resync_messages("quote:TSLA") == [
        '{"action":"unsubscribe","params":"Q.TSLA"}',
        '{"action":"subscribe","params":"Q.TSLA"}',
    ]
    assert adapter.resync_messages("trade:NVDA") == [
        '{"action":"unsubscribe","params":"T.NVDA"}',
        '{"action":"subscribe","params":"T.NVDA"}',
    ]
    assert adapter.resync_messages("quote:MSFT") == []
    assert adapter.resync_messages("book:AAPL") == []
    assert adapter.spec.stale_min_s == {"quote": 10.0, "trade": 60.0}


# ---------------------------------------------------------- configuration
@pytest.mark.parametrize("key", [None, "", "   "])
def test_massive_configure_requires_an_api_key(
    massive_venue: Venue, recorded_catalog: Catalog, key: str | None
) -> None:
    adapter = MassiveAdapter(massive_venue, recorded_catalog)
    with pytest.raises(ConfigError) as caught:
        adapter.configure(VenueSettings(api_key=key))
    assert (caught.value.key, caught.value.source) == ("venues.massive.api_key", "settings")
    with pytest.raises(ConfigError) as unconfigured:
        adapter.subscribe_messages()
    assert unconfigured.value.key == "venues.massive.api_key"


def test_massive_configure_chooses_the_feed(
    massive_venue: Venue, recorded_catalog: Catalog
) -> None:
    delayed = MassiveAdapter(massive_venue, recorded_catalog)
    delayed.configure(VenueSettings(api_key="k", feed="delayed"))
    assert delayed.spec.url == DELAYED_URL == "wss://delayed.massive.com/stocks"
    assert MassiveAdapter.spec.url == URL  # the class default is untouched
    realtime = MassiveAdapter(massive_venue, recorded_catalog)
    realtime.configure(VenueSettings(api_key="k", feed="realtime"))
    assert realtime.spec.url == URL
    with pytest.raises(ConfigError) as caught:
        realtime.configure(VenueSettings(api_key="k", feed="sip"))
    assert caught.value.key == "venues.massive.feed"
    assert "'sip'" in caught.value.message


def test_massive_never_logs_the_api_key(
    massive_venue: Venue, recorded_catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-live-4f9a1c"
    adapter = MassiveAdapter(massive_venue, recorded_catalog)
    with caplog.at_level(logging.DEBUG):
        adapter.configure(VenueSettings(api_key=secret))
        adapter.subscribe_messages()
        adapter.parse(status("auth_success", "authenticated"), ts_recv=RECV)
    assert caplog.records  # configure logged the url it will use
    assert all(secret not in str(record.__dict__) for record in caplog.records)
    assert secret not in repr(adapter.__dict__)


def test_massive_adapter_refuses_a_ticker_listed_twice(
    massive_venue: Venue, recorded_catalog: Catalog
) -> None:
    twice = Reference(id="AAPL2@massive", venue="massive", symbol="AAPL", underlying="AAPL")
    catalog = recorded_catalog.model_copy(
        update={"reference": (*recorded_catalog.reference, twice)}
    )
    with pytest.raises(ConfigError, match="AAPL@massive, AAPL2@massive"):
        MassiveAdapter(massive_venue, catalog)
