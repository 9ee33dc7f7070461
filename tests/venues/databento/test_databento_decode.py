"""The DBN decoder on hand-built DBN bytes (encoded by databento_dbn itself)."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import databento_dbn as dbn
import pytest

from divergence.catalog import Catalog
from divergence.errors import ConfigError, QuarantineError
from divergence.events import Event, Quote, Trade
from divergence.venues.databento_dbn import DbnDecoder, DbnRead, dbn_chunks, price, read_dbn
from venues.databento.dbn_builder import (
    NVDA_ID,
    QQQ_ID,
    T0,
    bbo,
    book,
    encode,
    metadata,
    trade,
    zstd,
)

VENUE = "databento-xnas"


def _read(catalog: Catalog, data: bytes, venue: str = VENUE) -> DbnRead:
    return read_dbn(data, venue=venue, catalog=catalog)


def test_dbn_price_is_exact_decimal_never_float() -> None:
    assert price(1) == Decimal("0.000000001")
    assert price(521_010_000_000) == Decimal("521.01")
    # 2^53 + 1 units: a float would round this; the Decimal keeps every digit
    assert str(price(9_007_199_254_740_993)) == "9007199.254740993"
    with pytest.raises(QuarantineError, match="undefined price"):
        price(dbn.UNDEF_PRICE)


def test_dbn_mbp1_quote_keeps_both_timestamps_and_exact_prices(dbn_catalog: Catalog) -> None:
    data = encode(
        metadata("mbp-1"),
        book("519.75", "539.00", bid_sz=1, ask_sz=17, ts_event=T0, ts_recv=T0 + 10_564),
    )
    read = _read(dbn_catalog, data)
    assert read.events == [
        Quote(
            ts_event=T0,
            ts_recv=T0 + 10_564,
            venue=VENUE,
            instrument_id="NVDA@databento-xnas",
            symbol="NVDA",
            bid_px=Decimal("519.75"),
            bid_sz=Decimal(1),
            ask_px=Decimal("539"),
            ask_sz=Decimal(17),
        )
    ]
    assert read.stats.dataset == "XNAS.ITCH" and read.stats.schema == "mbp-1"


def test_dbn_mbp1_coalesces_records_of_one_event_on_f_last(dbn_catalog: Catalog) -> None:
    data = encode(
        metadata("mbp-1"),
        book("10.00", "10.05", flags=0, sequence=1),
        book("10.01", "10.05", flags=0, sequence=2),
        book("10.02", "10.04", flags=dbn.F_LAST, sequence=3),
        book("10.02", "10.03", ts_event=T0 + 1, flags=dbn.F_LAST | dbn.F_TOB, sequence=4),
    )
    read = _read(dbn_catalog, data)
    assert [(q.bid_px, q.ask_px, q.ts_event) for q in read.quotes] == [
        (Decimal("10.02"), Decimal("10.04"), T0),
        (Decimal("10.02"), Decimal("10.03"), T0 + 1),
    ]
    assert read.stats.skipped == {"not the last record of its event (coalesced)": 2}


def test_dbn_undef_side_is_skipped_with_reason_never_zero(dbn_catalog: Catalog) -> None:
    data = encode(
        metadata("mbp-1"),
        book("10.00", None),
        book(None, "10.05"),
        book(None, None, action="R"),
    )
    read = _read(dbn_catalog, data)
    assert read.events == [] and read.rejects == []
    assert read.stats.skipped == {
        "no two-sided quote (no ask)": 1,
        "no two-sided quote (no bid)": 1,
        "no two-sided quote (no bid and no ask)": 1,
    }
    assert read.stats.records == 3


def test_dbn_bad_ts_recv_and_maybe_bad_book_are_quarantined(dbn_catalog: Catalog) -> None:
    data = encode(
        metadata("mbp-1"),
        book("10.00", "10.05", flags=dbn.F_LAST | dbn.F_BAD_TS_RECV),
        book("10.00", "10.05", flags=dbn.F_LAST | dbn.F_MAYBE_BAD_BOOK),
        book("10.10", "10.05"),  # crossed: check_event rejects it
    )
    read = _read(dbn_catalog, data)
    assert read.events == []
    assert [r.reason for r in read.rejects] == ["bad ts_recv", "maybe bad book", "crossed quote"]
    assert all(r.venue == VENUE and r.raw.startswith("Mbp1Msg(") for r in read.rejects)
    assert read.rejects[0].ts_recv == T0 + 10_000
    assert read.stats.quarantined == {"bad ts_recv": 1, "maybe bad book": 1, "crossed quote": 1}


def test_dbn_bbo_undef_ts_event_takes_ts_recv_and_is_counted(dbn_catalog: Catalog) -> None:
    data = encode(metadata("bbo-1s"), bbo("307.92", "307.95", ts_recv=T0), bbo("307.92", None))
    read = _read(dbn_catalog, data)
    assert [(q.ts_event, q.ts_recv, q.bid_sz, q.ask_sz) for q in read.quotes] == [
        (T0, T0, Decimal(5), Decimal(6))
    ]
    assert read.stats.ts_event_from_recv == 2
    assert read.stats.skipped == {"no two-sided quote (no ask)": 1}


def test_dbn_trades_map_aggressor_side_and_trade_id(dbn_catalog: Catalog) -> None:
    data = encode(
        metadata("trades"),
        trade("521.00", 36, "B", sequence=7),
        trade("521.00", 4, "A", sequence=8),
        trade("521.01", 1, "N", sequence=9),
        trade("521.01", 2, "N", sequence=9),  # same id as the previous record
    )
    read = _read(dbn_catalog, data)
    assert all(isinstance(e, Trade) for e in read.events)
    assert [(t.price, t.size, t.side) for t in read.trades] == [
        (Decimal("521"), Decimal(36), "buy"),
        (Decimal("521"), Decimal(4), "sell"),
        (Decimal("521.01"), Decimal(1), "unknown"),
        (Decimal("521.01"), Decimal(2), "unknown"),
    ]
    recv = T0 + 10_000
    assert [t.trade_id for t in read.trades] == [
        f"2-{NVDA_ID}-{recv}-7",
        f"2-{NVDA_ID}-{recv}-8",
        f"2-{NVDA_ID}-{recv}-9",
        f"2-{NVDA_ID}-{recv}-9-1",
    ]


def test_dbn_tbbo_gives_book_before_each_event_and_every_trade(dbn_catalog: Catalog) -> None:
    data = encode(
        metadata("tbbo"),
        book("307.89", "307.97", action="T", side="B", price="307.97", size=700, flags=0),
        book("307.89", "307.97", action="T", side="B", price="307.97", size=200, sequence=2),
    )
    read = _read(dbn_catalog, data)
    assert [type(e).__name__ for e in read.events] == ["Quote", "Trade", "Trade"]
    assert [t.size for t in read.trades] == [Decimal(700), Decimal(200)]
    assert read.stats.skipped == {"same event as the previous tbbo quote": 1}


def test_dbn_mbp1_trade_action_is_a_trade_too(dbn_catalog: Catalog) -> None:
    data = encode(
        metadata("mbp-1"),
        book("10.00", "10.05", action="T", side="A", price="10.00", size=3),
    )
    read = _read(dbn_catalog, data)
    assert [(type(e).__name__) for e in read.events] == ["Trade", "Quote"]
    assert read.trades[0].side == "sell" and read.trades[0].size == Decimal(3)


def test_dbn_unmapped_symbols_are_skipped_and_counted(dbn_catalog: Catalog) -> None:
    data = encode(
        metadata("trades", {"NVDA": NVDA_ID, "AMD": 77}),
        trade("521.00", 1, "B"),
        trade("90.00", 1, "B", instrument_id=77),
        trade("90.00", 1, "B", instrument_id=77),
        trade("1.00", 1, "B", instrument_id=99),  # not in the mappings at all
        trade("521.00", 1, "B", ts_event=T0 + 86_400 * 10**9),  # after the mapping's end date
    )
    read = _read(dbn_catalog, data)
    assert len(read.trades) == 1
    assert read.stats.skipped == {"unmapped symbol": 4}
    assert read.stats.unmapped == {"AMD": 2, "instrument_id=99": 1, f"instrument_id={NVDA_ID}": 1}


def test_dbn_symbol_mapping_follows_the_record_date(dbn_catalog: Catalog) -> None:
    """An instrument id can mean another symbol on another day: the date of ts_recv decides."""
    meta = metadata("trades", {"QQQ": QQQ_ID}, day=date(2020, 12, 28))
    data = encode(meta, trade("307.83", 900, "A", instrument_id=QQQ_ID))
    assert _read(dbn_catalog, data, venue="databento-equs").trades[0].symbol == "QQQ"
    meta = metadata("trades", {"QQQ": QQQ_ID}, day=date(2020, 12, 29))
    read = _read(dbn_catalog, encode(meta, trade("307.83", 900, "A", instrument_id=QQQ_ID)))
    assert read.trades == [] and read.stats.unmapped == {f"instrument_id={QQQ_ID}": 1}


def test_dbn_chunked_and_multi_frame_zstd_decode_the_same(dbn_catalog: Catalog) -> None:
    data = encode(
        metadata("mbp-1"),
        *(book("10.00", f"10.{i:02d}", ts_event=T0 + i) for i in range(1, 40)),
    )
    whole = _read(dbn_catalog, data)
    assert len(whole.quotes) == 39
    assert _read(dbn_catalog, zstd(data, frames=3)).events == whole.events
    decoder = DbnDecoder(venue=VENUE, catalog=dbn_catalog)
    events: list[Event] = []
    for chunk in dbn_chunks(io.BytesIO(zstd(data, frames=2)), chunk_bytes=7):
        events += decoder.feed(chunk).events
    assert events == whole.events and decoder.finish().records == 39


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04 not dbn", "expected a DBN file"),
        (b"", "no DBN metadata"),
        (encode(metadata("ohlcv-1m")), "schema must be one of mbp-1, tbbo, bbo-1s, bbo-1m, trades"),
        (encode(metadata("trades"), trade("1", 1, "B"))[:-5], "truncated"),
        (zstd(encode(metadata("trades"), trade("1", 1, "B")))[:-6], "truncated zstd frame"),
    ],
    ids=["not-dbn", "empty", "ohlcv", "truncated", "truncated-zstd"],
)
def test_dbn_bad_file_is_one_clear_error(dbn_catalog: Catalog, data: bytes, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        _read(dbn_catalog, data)
    assert info.value.key == "FILE"


@pytest.mark.parametrize(
    ("venue", "message"),
    [
        ("nope", "unknown venue 'nope' \\(databento venues: databento-xnas, databento-equs\\)"),
        ("kraken", "venue 'kraken' has adapter 'kraken' and kind 'book'"),
    ],
)
def test_dbn_venue_must_be_a_databento_reference_venue(
    dbn_catalog: Catalog, venue: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        DbnDecoder(venue=venue, catalog=dbn_catalog)
