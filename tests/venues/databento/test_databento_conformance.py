"""Conformance on Databento's own sample files (../shared/realdata/databento_equities, read
in place, Apache-2.0, from databento/databento-python; skipped when absent).

NVDA on XNAS.ITCH 2020-12-28 and QQQ on EQUS.MINI 2023-03-28: the decoded values below
are the ones listed in ../shared/realdata/README.md section 3.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import databento_dbn as dbn
import pytest

from divergence.catalog import Catalog
from divergence.events import Quote, Trade
from divergence.venues.databento_dbn import DbnRead, read_dbn

XNAS, EQUS = "databento-xnas", "databento-equs"
FILES = [  # bbo-1s has no ts_event (UNDEF): test_dbn_conformance_qqq_bbo_1s_*
    *(f"XNAS.ITCH.{schema}" for schema in ("mbp-1", "tbbo", "trades")),
    *(f"EQUS.MINI.{schema}" for schema in ("mbp-1", "tbbo", "trades")),
]


def _records(path: Path) -> list[Any]:
    """The file's records as databento_dbn decodes them (its own zstd support)."""
    decoder = dbn.DBNDecoder(compression=dbn.Compression.ZSTD)
    decoder.write(path.read_bytes())
    return decoder.decode()[1:]


def _read(equities: Path, name: str, catalog: Catalog) -> DbnRead:
    venue = XNAS if name.startswith("XNAS") else EQUS
    return read_dbn(equities / f"{name}.dbn.zst", venue=venue, catalog=catalog)


def test_dbn_conformance_nvda_first_trade(equities: Path, dbn_catalog: Catalog) -> None:
    read = _read(equities, "XNAS.ITCH.trades", dbn_catalog)
    first = read.trades[0]
    assert first == Trade(
        ts_event=1609146312576690768,
        ts_recv=1609146312576701886,
        venue=XNAS,
        instrument_id="NVDA@databento-xnas",
        symbol="NVDA",
        price=Decimal("521.00"),
        size=Decimal(36),
        side="buy",
        trade_id="2-6155-1609146312576701886-362933",
    )
    assert [(t.price, t.size) for t in read.trades] == [
        (Decimal("521.00"), 36),
        (Decimal("521.00"), 4),
        (Decimal("521.00"), 1),
        (Decimal("521.01"), 1),
    ]
    assert read.stats.records == 4 and read.stats.dataset == "XNAS.ITCH"


def test_dbn_conformance_nvda_mbp1_top_of_book(equities: Path, dbn_catalog: Catalog) -> None:
    read = _read(equities, "XNAS.ITCH.mbp-1", dbn_catalog)
    last = read.quotes[-1]
    assert (last.bid_px, last.bid_sz, last.ask_px, last.ask_sz) == (
        Decimal("519.75"),
        Decimal(1),
        Decimal("539.00"),
        Decimal(17),
    )
    # the first two adds leave the book bid-only: no two-sided quote, never an ask of 0
    assert len(read.quotes) == 2
    assert read.stats.skipped == {"no two-sided quote (no ask)": 2}


def test_dbn_conformance_nvda_tbbo_book_before_first_trade(
    equities: Path, dbn_catalog: Catalog
) -> None:
    read = _read(equities, "XNAS.ITCH.tbbo", dbn_catalog)
    first = read.quotes[0]
    assert (first.bid_px, first.bid_sz, first.ask_px, first.ask_sz) == (
        Decimal("520.00"),
        Decimal(100),
        Decimal("521.00"),
        Decimal(40),
    )
    assert first.ts_event == 1609146312576690768
    assert read.trades == _read(equities, "XNAS.ITCH.trades", dbn_catalog).trades


def test_dbn_conformance_qqq_trades_share_one_event(equities: Path, dbn_catalog: Catalog) -> None:
    read = _read(equities, "EQUS.MINI.trades", dbn_catalog)
    assert [(t.price, t.size, t.side) for t in read.trades] == [
        (Decimal("307.83"), 900, "sell"),
        (Decimal("307.80"), 900, "sell"),
        (Decimal("307.97"), 700, "buy"),
        (Decimal("307.97"), 200, "buy"),
    ]
    third, fourth = read.trades[2:]
    assert third.ts_event == fourth.ts_event and third.trade_id != fourth.trade_id


def test_dbn_conformance_qqq_tbbo_one_quote_per_event(equities: Path, dbn_catalog: Catalog) -> None:
    read = _read(equities, "EQUS.MINI.tbbo", dbn_catalog)
    assert (read.quotes[0].bid_px, read.quotes[0].ask_px) == (Decimal("307.83"), Decimal("307.89"))
    assert (read.quotes[0].bid_sz, read.quotes[0].ask_sz) == (900, 2400)
    assert len(read.quotes) == 3 and len(read.trades) == 4
    assert read.stats.skipped == {"same event as the previous tbbo quote": 1}


def test_dbn_conformance_qqq_mbp1_after_clear(equities: Path, dbn_catalog: Catalog) -> None:
    read = _read(equities, "EQUS.MINI.mbp-1", dbn_catalog)
    assert [(q.bid_px, q.bid_sz, q.ask_px, q.ask_sz) for q in read.quotes] == [
        (Decimal("307.89"), 800, Decimal("307.94"), 600),
        (Decimal("307.89"), 1500, Decimal("307.94"), 600),
    ]
    assert read.stats.skipped == {
        "no two-sided quote (no bid and no ask)": 1,  # the book clear (action R)
        "no two-sided quote (no bid)": 1,
    }


def test_dbn_conformance_qqq_bbo_1s_undef_ask_skipped(equities: Path, dbn_catalog: Catalog) -> None:
    read = _read(equities, "EQUS.MINI.bbo-1s", dbn_catalog)
    assert read.events == [] and read.rejects == []
    assert read.stats.records == 4 and read.stats.ts_event_from_recv == 4
    assert read.stats.skipped == {
        "no two-sided quote (no bid and no ask)": 1,
        "no two-sided quote (no ask)": 3,
    }


@pytest.mark.parametrize("name", FILES)
def test_dbn_conformance_ts_recv_not_before_ts_event(
    equities: Path, dbn_catalog: Catalog, name: str
) -> None:
    """On the raw records that carry both, and on every event decoded from them."""
    records = _records(equities / f"{name}.dbn.zst")
    both = [r for r in records if r.ts_event != dbn.UNDEF_TIMESTAMP]
    assert all(r.ts_recv >= r.ts_event for r in both)
    read = _read(equities, name, dbn_catalog)
    assert read.events
    assert all(isinstance(e, Quote | Trade) and e.ts_recv >= e.ts_event for e in read.events)


def test_dbn_conformance_records_with_both_timestamps(equities: Path) -> None:
    """The README's count: 30 records across the 12 files carry ts_event and ts_recv."""
    count = 0
    for path in sorted(equities.glob("*.dbn.zst")):
        for rec in _records(path):
            if hasattr(rec, "ts_recv") and rec.ts_event != dbn.UNDEF_TIMESTAMP:
                assert rec.ts_recv >= rec.ts_event, path.name
                count += 1
    assert count == 30


def test_dbn_conformance_unmapped_when_venue_lacks_symbol(
    equities: Path, dbn_catalog: Catalog
) -> None:
    read = read_dbn(equities / "EQUS.MINI.trades.dbn.zst", venue=XNAS, catalog=dbn_catalog)
    assert read.events == [] and read.stats.unmapped == {"QQQ": 4}
