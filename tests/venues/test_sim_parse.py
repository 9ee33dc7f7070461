"""The sim adapter parses exact values and quarantines every kind of bad frame."""

from __future__ import annotations

from decimal import Decimal

import pytest

from divergence.catalog import Catalog
from divergence.errors import QuarantineError
from divergence.events import FxRate, Heartbeat, PoolState, Quote, SessionState, Trade
from divergence.venues.sim import SimAdapter

TS = 1_760_126_180_000_000_000
RECV = TS + 1_234


def adapter(catalog: Catalog, venue: str) -> SimAdapter:
    return SimAdapter(catalog.venues[venue], catalog)


def test_sim_parse_quote_keeps_decimal_text(catalog: Catalog) -> None:
    frame = (
        '{"ch":"quote","sym":"AAPLXUSDT","ts":1760126180000000000,'
        '"bid":"245.10","bq":"12.5","ask":"245.30","aq":"8.0"}'
    )
    [event] = adapter(catalog, "simx-b").parse(frame, ts_recv=RECV)
    assert event == Quote(
        ts_event=TS,
        ts_recv=RECV,
        venue="simx-b",
        instrument_id="AAPLx@simx-b",
        symbol="AAPLXUSDT",
        bid_px=Decimal("245.10"),
        bid_sz=Decimal("12.5"),
        ask_px=Decimal("245.30"),
        ask_sz=Decimal("8.0"),
    )
    assert isinstance(event, Quote) and str(event.bid_px) == "245.10"


def test_sim_parse_nbbo_trade_session(catalog: Catalog) -> None:
    sip = adapter(catalog, "sim-sip")
    [nbbo] = sip.parse(
        b'{"ch":"nbbo","sym":"NVDA","ts":1760126180000000000,'
        b'"bid":"192.56","bq":"300","ask":"192.58","aq":"500"}',
        ts_recv=RECV,
    )
    assert isinstance(nbbo, Quote)
    assert (nbbo.instrument_id, nbbo.symbol, nbbo.venue) == ("NVDA@sim-sip", "NVDA", "sim-sip")
    assert (nbbo.bid_px, nbbo.ask_sz) == (Decimal("192.56"), Decimal("500"))
    [trade] = sip.parse(
        '{"ch":"trade","sym":"TSLA","ts":1760126180000000000,'
        '"px":"435.61","qty":"100","side":"sell","id":"sim-sip-9"}',
        ts_recv=RECV,
    )
    assert trade == Trade(
        ts_event=TS,
        ts_recv=RECV,
        venue="sim-sip",
        instrument_id="TSLA@sim-sip",
        symbol="TSLA",
        price=Decimal("435.61"),
        size=Decimal("100"),
        side="sell",
        trade_id="sim-sip-9",
    )
    [session] = sip.parse(
        '{"ch":"session","sym":"AAPL","ts":1760126400000000000,"session":"post"}', ts_recv=RECV
    )
    assert session == SessionState(
        ts_event=1_760_126_400_000_000_000,
        ts_recv=RECV,
        venue="sim-sip",
        underlying="AAPL",
        session="post",
    )


def test_sim_parse_pool_price_is_quote_over_base(catalog: Catalog) -> None:
    frame = (
        '{"ch":"pool","sym":"AAPLx/USDC","pool":"SimPoolAAPLxUSDC","ts":1760126180000000000,'
        '"base":"8000.00000000","quote":"1962400.000000","fee_bps":"30"}'
    )
    [pool] = adapter(catalog, "simdex").parse(frame, ts_recv=RECV)
    assert isinstance(pool, PoolState)
    assert pool.instrument_id == "AAPLx@simdex"
    assert (pool.reserve_base, pool.reserve_quote) == (Decimal("8000"), Decimal("1962400"))
    assert pool.price == Decimal("245.3")  # 1962400 / 8000
    assert pool.price.as_tuple().exponent >= -18
    assert (pool.fee_bps, pool.liquidity, pool.pool) == (Decimal(30), None, "SimPoolAAPLxUSDC")
    third = adapter(catalog, "simdex").parse(
        frame.replace('"1962400.000000"', '"1"').replace('"8000.00000000"', '"3"'), ts_recv=RECV
    )[0]
    assert isinstance(third, PoolState)
    assert third.price == Decimal("0.333333333333333333")  # 18 decimals, no more


def test_sim_parse_fx_and_heartbeat(catalog: Catalog) -> None:
    fx = adapter(catalog, "sim-fx")
    [rate] = fx.parse(
        '{"ch":"fx","ccy":"USDC","ts":1760126180000000000,"rate":"0.8774"}', ts_recv=RECV
    )
    assert rate == FxRate(
        ts_event=TS, ts_recv=RECV, venue="sim-fx", currency="USDC", rate_usd=Decimal("0.8774")
    )
    [beat] = fx.parse('{"ch":"heartbeat","ts":1760126180000000000}', ts_recv=RECV)
    assert beat == Heartbeat(ts_event=TS, ts_recv=RECV, venue="sim-fx")


def test_sim_parse_control_frames_are_empty(catalog: Catalog) -> None:
    simx = adapter(catalog, "simx-a")
    assert simx.parse('{"op":"hello","venue":"simx-a"}', ts_recv=RECV) == []
    subscribed = '{"op":"subscribed","symbols":["AAPLx/USD"],"unknown":[]}'
    assert simx.parse(subscribed, ts_recv=RECV) == []


GOOD = '"sym":"AAPLx/USD","ts":1760126180000000000,"bid":"245.10","bq":"1","ask":"245.30","aq":"2"'


@pytest.mark.parametrize(
    ("frame", "reason", "detail"),
    [
        ('{"ch":"quote",' + GOOD, "malformed json", ""),
        (b"\xff\xfe{}", "malformed json", ""),
        ('["quote"]', "bad shape", "list"),
        (
            '{"ch":"quote","sym":"AAPLx/USD","ts":1760126180000000000,"bid":"1","bq":"1","aq":"2"}',
            "missing field",
            "ask",
        ),
        ('{"sym":"AAPLx/USD"}', "missing field", "ch"),
        ('{"ch":"book",' + GOOD + "}", "unknown channel", "'book'"),
        ('{"op":"snapshot"}', "unknown channel", "op 'snapshot'"),
        (
            '{"ch":"quote",' + GOOD.replace("AAPLx/USD", "AAPLX/USD") + "}",
            "unknown symbol",
            "'AAPLX/USD' on simx-a",
        ),
        (
            '{"ch":"quote",' + GOOD.replace('"245.10"', "245.10") + "}",
            "price not a string",
            "bid=245.1",
        ),
        ('{"ch":"quote",' + GOOD.replace('"bq":"1"', '"bq":1') + "}", "size not a string", "bq=1"),
        ('{"ch":"quote",' + GOOD.replace('"245.10"', '"245,10"') + "}", "bad decimal", "bid="),
        ('{"ch":"quote",' + GOOD.replace('"245.10"', '"0x10"') + "}", "bad decimal", "bid="),
        ('{"ch":"quote",' + GOOD.replace('"245.10"', '" 245.10"') + "}", "bad decimal", "bid="),
        (
            '{"ch":"quote",' + GOOD.replace("1760126180000000000", '"1760126180000000000"') + "}",
            "bad timestamp",
            "ts=",
        ),
        (
            '{"ch":"quote",' + GOOD.replace("1760126180000000000", "1760126180.5") + "}",
            "bad timestamp",
            "ts=",
        ),
        (
            '{"ch":"quote",' + GOOD.replace("1760126180000000000", "1760126180") + "}",
            "bad timestamp",
            "ts=1760126180",
        ),
        ('{"ch":"heartbeat","ts":true}', "bad timestamp", "ts=True"),
        (
            '{"ch":"trade","sym":"AAPLx/USD","ts":1760126180000000000,"px":"1","qty":"1",'
            '"side":"long","id":"x"}',
            "bad field",
            "side 'long'",
        ),
        ('{"op":"hello","venue":"simx-b"}', "wrong venue", "'simx-b'"),
        ('{"op":"subscribed","symbols":[],"unknown":["AAPLX"]}', "subscription refused", "AAPLX"),
        ('{"op":"error","message":"expected subscribe"}', "venue error", "expected subscribe"),
    ],
)
def test_sim_parse_quarantines(
    catalog: Catalog, frame: str | bytes, reason: str, detail: str
) -> None:
    with pytest.raises(QuarantineError) as caught:
        adapter(catalog, "simx-a").parse(frame, ts_recv=RECV)
    assert caught.value.reason == reason
    assert detail in caught.value.detail


def test_sim_parse_symbols_are_venue_scoped(catalog: Catalog) -> None:
    """A symbol of another venue is unknown here: never guessed across venues."""
    frame = '{"ch":"quote",' + GOOD.replace("AAPLx/USD", "AAPLXUSDT") + "}"
    with pytest.raises(QuarantineError, match="unknown symbol"):
        adapter(catalog, "simx-a").parse(frame, ts_recv=RECV)
    fx_frame = '{"ch":"fx","ccy":"EURC","ts":1760126180000000000,"rate":"1.16"}'
    with pytest.raises(QuarantineError, match="unknown symbol"):
        adapter(catalog, "sim-fx").parse(fx_frame, ts_recv=RECV)
    session = '{"ch":"session","sym":"AAPLx/USD","ts":1760126180000000000,"session":"post"}'
    with pytest.raises(QuarantineError, match="unknown symbol"):
        adapter(catalog, "simx-a").parse(session, ts_recv=RECV)
