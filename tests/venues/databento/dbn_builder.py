"""Hand-built DBN bytes for the Databento decoder tests (databento_dbn encodes records).

``from venues.databento.dbn_builder import ...``. Prices are given as decimal text and
converted exactly to DBN fixed point (1 unit = 1e-9).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import databento_dbn as dbn
import zstandard

NVDA_ID = 6155
QQQ_ID = 13340
DAY = date(2020, 12, 28)
T0 = 1_609_146_088_000_000_000  # 2020-12-28T09:01:28Z
UNDEF = dbn.UNDEF_PRICE

CATALOG_TOML = """
[[underlying]]
symbol = "NVDA"
name = "NVIDIA Corporation"
listing_exchange = "XNAS"

[[underlying]]
symbol = "QQQ"
name = "Invesco QQQ Trust"
listing_exchange = "XNAS"

[[venue]]
id = "databento-xnas"
name = "Databento XNAS.ITCH files (Nasdaq TotalView-ITCH)"
kind = "reference"
adapter = "databento"

[[venue]]
id = "databento-equs"
name = "Databento EQUS.MINI files (consolidated top of book)"
kind = "reference"
adapter = "databento"

[[venue]]
id = "kraken"
name = "Kraken spot"
kind = "book"
adapter = "kraken"

[[reference]]
id = "NVDA@databento-xnas"
venue = "databento-xnas"
symbol = "NVDA"
underlying = "NVDA"

[[reference]]
id = "QQQ@databento-equs"
venue = "databento-equs"
symbol = "QQQ"
underlying = "QQQ"
"""


def px(text: str | None) -> int:
    """Decimal text as DBN fixed point; ``None`` is UNDEF_PRICE (an empty side)."""
    return UNDEF if text is None else int(Decimal(text).scaleb(9))


def metadata(
    schema: str,
    symbols: dict[str, int] | None = None,
    *,
    day: date = DAY,
    end: date | None = None,
) -> dbn.Metadata:
    """Metadata mapping raw symbols to instrument ids from ``day`` to ``end`` (next day)."""
    symbols = {"NVDA": NVDA_ID} if symbols is None else symbols
    end = end or date.fromordinal(day.toordinal() + 1)
    mappings = [
        SimpleNamespace(
            raw_symbol=raw,
            intervals=[SimpleNamespace(start_date=day, end_date=end, symbol=str(iid))],
        )
        for raw, iid in symbols.items()
    ]
    return dbn.Metadata(
        dataset="XNAS.ITCH",
        start=T0,
        stype_in=dbn.SType.RAW_SYMBOL,
        stype_out=dbn.SType.INSTRUMENT_ID,
        schema=dbn.Schema.from_str(schema),
        symbols=list(symbols),
        mappings=mappings,  # type: ignore[arg-type]
    )


def book(
    bid: str | None,
    ask: str | None,
    *,
    ts_event: int = T0,
    ts_recv: int | None = None,
    bid_sz: int = 1,
    ask_sz: int = 1,
    flags: int = dbn.F_LAST,
    action: str = "A",
    side: str = "N",
    price: str | None = None,
    size: int = 0,
    sequence: int = 1,
    instrument_id: int = NVDA_ID,
) -> dbn.MBP1Msg:
    """An MBP-1 (or TBBO) record whose top of book is ``bid`` x ``ask``."""
    return dbn.MBP1Msg(
        2,
        instrument_id,
        ts_event,
        px(price),
        size,
        dbn.Action(action),
        dbn.Side(side),
        0,
        ts_event + 10_000 if ts_recv is None else ts_recv,
        flags=flags,
        sequence=sequence,
        levels=dbn.BidAskPair(px(bid), px(ask), bid_sz, ask_sz, 1, 1),
    )


def trade(
    price: str,
    size: int,
    side: str,
    *,
    ts_event: int = T0,
    ts_recv: int | None = None,
    flags: int = dbn.F_LAST,
    sequence: int = 1,
    instrument_id: int = NVDA_ID,
) -> dbn.TradeMsg:
    return dbn.TradeMsg(
        2,
        instrument_id,
        ts_event,
        px(price),
        size,
        dbn.Action.TRADE,
        dbn.Side(side),
        0,
        ts_event + 10_000 if ts_recv is None else ts_recv,
        flags=flags,
        sequence=sequence,
    )


def bbo(bid: str | None, ask: str | None, *, ts_recv: int = T0, flags: int = dbn.F_LAST) -> Any:
    """A bbo-1s record: ts_event UNDEF, ts_recv the interval end."""
    return dbn.BBOMsg(
        dbn.RType.BBO_1S,
        2,
        NVDA_ID,
        dbn.UNDEF_TIMESTAMP,
        UNDEF,
        0,
        dbn.Side.NONE,
        ts_recv,
        flags=flags,
        sequence=1,
        levels=dbn.BidAskPair(px(bid), px(ask), 5, 6),
    )


def encode(meta: dbn.Metadata, *records: Any) -> bytes:
    """An uncompressed DBN stream: metadata then records."""
    return bytes(meta) + b"".join(bytes(r) for r in records)


def zstd(data: bytes, *, frames: int = 1) -> bytes:
    """``data`` zstd-compressed, split over ``frames`` independent frames."""
    step = -(-len(data) // frames)
    compressor = zstandard.ZstdCompressor()
    return b"".join(compressor.compress(data[i : i + step]) for i in range(0, len(data), step))
