"""Kraken Spot WebSocket v2 wire types, exact decoding and the book checksum (pure).

Every JSON number is decoded straight into :class:`~decimal.Decimal` from its own text
(msgspec typed decoding keeps ``230.10`` as ``230.10``), which is what the checksum needs
when a pair's decimals are unknown. Decoding errors become
:class:`~divergence.errors.QuarantineError` with a stable reason.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

import msgspec

from divergence.clock import ns_from_datetime, parse_rfc3339_ns
from divergence.errors import BadRequestError, QuarantineError
from divergence.events import Level

CHECKSUM_LEVELS = 10
MIN_TS = ns_from_datetime(datetime(2000, 1, 1, tzinfo=UTC))
MAX_TS = ns_from_datetime(datetime(2100, 1, 1, tzinfo=UTC))
FORMATS = tuple(f".{n}f" for n in range(19))
LEVEL_TEXT: dict[tuple[int, int], dict[Level, str]] = {}
LEVEL_TEXT_MAX = 100_000


# ----------------------------------------------------------------- wire types
class Envelope(msgspec.Struct):
    channel: str | None = None
    type: str | None = None
    data: msgspec.Raw = msgspec.Raw()
    method: str | None = None
    success: bool | None = None
    error: str | None = None
    symbol: str | None = None


class WireLevel(msgspec.Struct):
    price: Decimal
    qty: Decimal


class BookItem(msgspec.Struct):
    symbol: str
    checksum: int
    timestamp: str
    bids: list[WireLevel] = []
    asks: list[WireLevel] = []


class TickerItem(msgspec.Struct):
    symbol: str
    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal
    timestamp: str | None = None


class TradeItem(msgspec.Struct):
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    trade_id: int
    timestamp: str


class AssetPair(msgspec.Struct):
    wsname: str | None = None
    aclass_base: str = "currency"
    pair_decimals: int | None = None
    lot_decimals: int | None = None
    status: str | None = None


class AssetPairs(msgspec.Struct):
    result: dict[str, AssetPair]
    error: list[str] = []


_T = TypeVar("_T")
ENVELOPE = msgspec.json.Decoder(Envelope)
BOOK_ITEMS = msgspec.json.Decoder(list[BookItem])
TICKER_ITEMS = msgspec.json.Decoder(list[TickerItem])
TRADE_ITEMS = msgspec.json.Decoder(list[TradeItem])
ASSET_PAIRS = msgspec.json.Decoder(AssetPairs)


# ------------------------------------------------------------------- checksum
def kraken_checksum(
    asks: Sequence[Level],
    bids: Sequence[Level],
    *,
    price_decimals: int | None = None,
    size_decimals: int | None = None,
) -> int:
    """Kraken's book CRC32: top 10 asks ascending, then top 10 bids descending.

    Each price and size is written with the pair's decimals (``None``: the exact wire
    text, as v1 requires), ``.`` removed and leading zeros stripped; the unsigned CRC32
    of the concatenation is the checksum (docs.kraken.com guides book-checksum-v2).
    """
    top = [*asks[:CHECKSUM_LEVELS], *bids[:CHECKSUM_LEVELS]]
    if price_decimals is None or size_decimals is None:
        wire = "".join([_level_digits(lv, price_decimals, size_decimals) for lv in top])
        return zlib.crc32(wire.encode())
    # With fixed decimals equal levels format alike, so their text is memoised.
    cache = LEVEL_TEXT.setdefault((price_decimals, size_decimals), {})
    if len(cache) > LEVEL_TEXT_MAX:
        cache.clear()
    parts: list[str] = []
    for level in top:
        text = cache.get(level)
        if text is None:
            text = cache[level] = _level_digits(level, price_decimals, size_decimals)
        parts.append(text)
    return zlib.crc32("".join(parts).encode())


def _level_digits(level: Level, price_decimals: int | None, size_decimals: int | None) -> str:
    return _digits(level.price, price_decimals) + _digits(level.size, size_decimals)


def _digits(value: Decimal, decimals: int | None) -> str:
    if decimals is None:
        text = str(value)  # the wire text; fixed-point unless the exponent is extreme
        if "E" in text:
            text = format(value, "f")
    else:
        text = format(value, FORMATS[decimals])
    return text.replace(".", "").lstrip("0")


# -------------------------------------------------------------------- helpers
def decode(decoder: msgspec.json.Decoder[_T], text: str | bytes | msgspec.Raw) -> _T:
    try:
        return decoder.decode(text)
    except msgspec.ValidationError as exc:
        message = str(exc)
        if message.startswith("Object missing required field"):
            raise QuarantineError("missing field", detail=message) from None
        if "`decimal`" in message:
            raise QuarantineError("bad decimal", detail=message) from None
        raise QuarantineError("bad shape", detail=message) from None
    except msgspec.DecodeError as exc:
        raise QuarantineError("malformed json", detail=str(exc)[:200]) from None


def parse_timestamp(text: str) -> int:
    try:
        ts = parse_rfc3339_ns(text)
    except BadRequestError:
        raise QuarantineError("bad timestamp", detail=short(text)) from None
    if not MIN_TS <= ts < MAX_TS:
        raise QuarantineError("bad timestamp", detail=f"{short(text)} out of range")
    return ts


def is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def short(value: object, limit: int = 80) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
