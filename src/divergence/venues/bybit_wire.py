"""Bybit v5 wire shapes and strict readers, for :mod:`divergence.venues.bybit`.

The msgspec Structs mirror Bybit's public spot frames and the ``instruments-info`` REST
body (field names are the venue's). The readers turn anything untrusted into a
:class:`~divergence.errors.QuarantineError` with a stable reason: msgspec errors by the
field they concern (``missing field``, ``bad timestamp``, ``bad sequence``,
``bad decimal``, ``bad shape``, ``malformed json``), decimals only from plain
``[0-9]+(.[0-9]+)?`` text (never through a float), times only as epoch milliseconds
between 2000 and 2100.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TypeVar

import msgspec

from divergence.errors import QuarantineError
from divergence.events import Level

MIN_TS_MS = 946_684_800_000  # 2000-01-01
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01
MAX_SEQUENCE = 2**63 - 1
NS_PER_MS = 1_000_000
_DECIMAL = re.compile(r"[0-9]{1,24}(?:\.[0-9]{1,24})?")
_DECIMAL_FIELDS = frozenset({"b", "a", "p", "v", "lastPrice", "usdIndexPrice"}) | frozenset(
    {"xstockMultiplier", "tickSize", "basePrecision"}
)
T = TypeVar("T")


# --------------------------------------------------------------------- stream frames
class Envelope(msgspec.Struct):
    topic: str | None = None
    type: str | None = None
    ts: int | None = None
    cts: int | None = None
    data: msgspec.Raw = msgspec.Raw()
    op: str | None = None
    success: bool | None = None
    ret_msg: str | None = None


class BookData(msgspec.Struct):
    s: str
    b: list[tuple[str, str]]
    a: list[tuple[str, str]]
    u: int


class TradeData(msgspec.Struct):
    T: int
    s: str
    S: str
    v: str
    p: str
    i: str


class TickerData(msgspec.Struct):
    symbol: str
    lastPrice: str | None = None
    usdIndexPrice: str | None = None


ENVELOPE = msgspec.json.Decoder(Envelope)
BOOK = msgspec.json.Decoder(BookData)
TRADES = msgspec.json.Decoder(list[TradeData])
TICKER = msgspec.json.Decoder(TickerData)


# ---------------------------------------------------------------- instruments-info
class _PriceFilter(msgspec.Struct):
    tickSize: str | None = None


class _LotSizeFilter(msgspec.Struct):
    basePrecision: str | None = None


class _Instrument(msgspec.Struct):
    symbol: str
    baseCoin: str
    quoteCoin: str
    status: str
    symbolType: str = ""
    xstockMultiplier: str | None = None
    priceFilter: _PriceFilter | None = None
    lotSizeFilter: _LotSizeFilter | None = None


class _InstrumentList(msgspec.Struct):
    instruments: list[_Instrument] = msgspec.field(name="list")


class InstrumentsResponse(msgspec.Struct):
    retCode: int
    retMsg: str = ""
    result: _InstrumentList | None = None


INSTRUMENTS = msgspec.json.Decoder(InstrumentsResponse)


# ---------------------------------------------------------------------- readers
def decode(decoder: msgspec.json.Decoder[T], raw: str | bytes | msgspec.Raw, at: str = "") -> T:
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise _invalid(str(exc), at) from None
    except msgspec.DecodeError as exc:
        raise QuarantineError("malformed json", detail=str(exc)[:200]) from None


def _invalid(message: str, at: str) -> QuarantineError:
    """Map a msgspec validation message (``... - at `$.b[0][0]```) to a quarantine reason."""
    head, _, path = message.partition(" - at `")
    path = (f"$.{at}" + path[1:] if at else path).rstrip("`")
    detail = f"{head} at {path}" if path else head
    if head.startswith("Object missing required field"):
        return QuarantineError("missing field", detail=detail)
    name = re.sub(r"\[\d+\]", "", path).rpartition(".")[2]
    if name in ("ts", "cts", "T"):
        return QuarantineError("bad timestamp", detail=detail)
    if name == "u":
        return QuarantineError("bad sequence", detail=detail)
    if name in _DECIMAL_FIELDS and head.startswith("Expected `str"):
        return QuarantineError("bad decimal", detail=detail)
    return QuarantineError("bad shape", detail=detail)


def read_decimal(text: str, name: str) -> Decimal:
    if _DECIMAL.fullmatch(text) is None:
        raise QuarantineError("bad decimal", detail=f"{name}={short(text)}")
    return Decimal(text)


def read_levels(pairs: list[tuple[str, str]], name: str) -> tuple[Level, ...]:
    """``[[price, size], ...]`` strings to levels (the hot path: one check per string)."""
    match = _DECIMAL.fullmatch
    levels = []
    for price, size in pairs:
        if match(price) is None or match(size) is None:
            bad = size if match(price) else price
            raise QuarantineError("bad decimal", detail=f"{name}={short(bad)}")
        levels.append(Level(Decimal(price), Decimal(size)))
    return tuple(levels)


def read_ms(value: int | None, name: str) -> int:
    if value is None:
        raise QuarantineError("missing field", detail=name)
    if not MIN_TS_MS <= value < MAX_TS_MS:
        raise QuarantineError("bad timestamp", detail=f"{name}={short(value)} (epoch ms expected)")
    return value * NS_PER_MS


def present(value: str | None, name: str) -> str:
    if value is None:
        raise QuarantineError("missing field", detail=name)
    return value


def short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def decimal_places(step: str | None, name: str) -> int | None:
    """Decimal places of a step such as ``"0.01"`` (2) or ``"5"`` (0)."""
    if not step:
        return None
    exponent = read_decimal(step, name).normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite by the pattern
    return max(0, -exponent)
