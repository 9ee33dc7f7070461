from __future__ import annotations

from decimal import Decimal

from divergence.codec import decode_event, decode_events, encode_event, encode_events
from divergence.events import BookUpdate, Level, PoolState, Quote, SessionState


def test_codec_quote_roundtrip_keeps_exact_digits() -> None:
    quote = Quote(
        ts_event=1,
        ts_recv=2,
        venue="simx-a",
        instrument_id="AAPLx@simx-a",
        symbol="AAPLx/USD",
        bid_px=Decimal("245.10"),
        bid_sz=Decimal("0.00100000"),
        ask_px=Decimal("245.30"),
        ask_sz=Decimal("8"),
    )
    data = encode_event(quote)
    assert b'"bid_px":"245.10"' in data and b'"bid_sz":"0.00100000"' in data
    back = decode_event(data)
    assert back == quote
    assert isinstance(back, Quote) and str(back.bid_sz) == "0.00100000"


def test_codec_mixed_list_roundtrip() -> None:
    events = [
        BookUpdate(
            ts_event=5,
            ts_recv=6,
            venue="v",
            instrument_id="i",
            symbol="s",
            is_snapshot=False,
            sequence=9,
            bids=(Level(Decimal("1.5"), Decimal("0")),),
            asks=(),
        ),
        PoolState(
            ts_event=5,
            ts_recv=6,
            venue="simdex",
            instrument_id="i",
            symbol="s",
            pool="p",
            reserve_base=Decimal("10"),
            reserve_quote=Decimal("2450"),
            price=Decimal("245"),
            liquidity=None,
            fee_bps=Decimal("30"),
        ),
        SessionState(ts_event=7, ts_recv=8, venue="sim-sip", underlying="AAPL", session="closed"),
    ]
    assert decode_events(encode_events(events)) == events  # type: ignore[arg-type]
