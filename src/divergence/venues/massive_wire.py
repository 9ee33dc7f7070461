"""Massive (ex-Polygon.io) stocks WebSocket wire types and exact decoding (pure).

A frame is a JSON array of objects keyed by ``ev``: ``Q`` (NBBO quote), ``T`` (trade) or
``status``. msgspec decodes the whole array as a tagged union in one pass, every JSON
number straight into :class:`~decimal.Decimal` from its own text (``229.9`` stays
``229.9``, never a float). Decoding errors become
:class:`~divergence.errors.QuarantineError` with a stable reason (the Kraken vocabulary
plus ``unknown event``).

Field meanings (massive.com/docs/websocket/stocks, client-python ``EquityQuote`` /
``EquityTrade``): ``t`` SIP time in Unix **milliseconds**; ``q`` sequence number,
"increasing and unique per ticker symbol, but will not always be sequential"; ``z`` tape
(1 = A NYSE, 2 = B NYSE Arca/American, 3 = C Nasdaq); ``bx``/``ax``/``x`` exchange ids;
quote ``c`` one condition, ``i`` indicators; trade ``i`` trade id (text), ``c`` conditions,
``trfi``/``trft`` the reporting facility and its time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

import msgspec

from divergence.errors import QuarantineError

MIN_TS_MS = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp()) * 1000
MAX_TS_MS = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp()) * 1000


class WireQuote(msgspec.Struct, tag_field="ev", tag="Q"):
    sym: str
    bp: Decimal
    bs: Decimal
    ap: Decimal
    as_: Decimal = msgspec.field(name="as")
    t: int
    bx: int | None = None
    ax: int | None = None
    c: int | None = None
    i: list[int] = []
    z: int | None = None
    q: int | None = None


class WireTrade(msgspec.Struct, tag_field="ev", tag="T"):
    sym: str
    x: int
    i: str
    p: Decimal
    s: Decimal
    t: int
    c: list[int] = []
    z: int | None = None
    q: int | None = None
    trfi: int | None = None
    trft: int | None = None


class WireStatus(msgspec.Struct, tag_field="ev", tag="status"):
    status: str
    message: str = ""


WireEvent = WireQuote | WireTrade | WireStatus
FRAME = msgspec.json.Decoder(list[WireEvent])

_T = TypeVar("_T")


def decode(decoder: msgspec.json.Decoder[_T], text: str | bytes) -> _T:
    """Decode with ``decoder``; every failure is a QuarantineError with a stable reason."""
    try:
        return decoder.decode(text)
    except msgspec.ValidationError as exc:
        raise _validation(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise QuarantineError("malformed json", detail=str(exc)[:200]) from None


def _validation(message: str) -> QuarantineError:
    if message.startswith("Invalid value") and message.endswith(".ev`"):
        return QuarantineError("unknown event", detail=message)
    if message.startswith("Object missing required field"):
        return QuarantineError("missing field", detail=message)
    if message.endswith(".t`"):
        return QuarantineError("bad timestamp", detail=message)
    if "decimal" in message:
        return QuarantineError("bad decimal", detail=message)
    return QuarantineError("bad shape", detail=message)


def ts_ns(ms: int) -> int:
    """SIP milliseconds to epoch ns; outside 2000..2100 is a bad timestamp."""
    if not MIN_TS_MS <= ms < MAX_TS_MS:
        raise QuarantineError("bad timestamp", detail=f"t {ms} ms is outside 2000..2100")
    return ms * 1_000_000


def short(value: object, limit: int = 80) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
