"""Quarantine records and the checks every parsed event must pass.

A malformed or hostile frame never stops a feed: the feed turns it into a
:class:`QuarantineRecord` (reason, detail, raw text), publishes it, counts it, and reads
the next frame. :func:`check_event` holds the venue-independent rules (finite, positive
prices; non-negative sizes; uncrossed quotes and books).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from divergence.errors import QuarantineError
from divergence.events import BookUpdate, Event, FxRate, PoolState, Quote, Trade

MAX_RAW_CHARS = 65_536
SCALE = 18
_QUANTUM = Decimal(1).scaleb(-SCALE)
_LIMIT = Decimal(10) ** 20


class QuarantineRecord(msgspec.Struct, frozen=True, kw_only=True):
    ts_recv: int
    venue: str
    reason: str
    detail: str
    raw: str


def record_for(
    error: QuarantineError, *, raw: bytes | str, venue: str, ts_recv: int
) -> QuarantineRecord:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    if len(text) > MAX_RAW_CHARS:
        text = text[:MAX_RAW_CHARS] + f"...[truncated {len(text) - MAX_RAW_CHARS} chars]"
    return QuarantineRecord(
        ts_recv=ts_recv, venue=venue, reason=error.reason, detail=error.detail, raw=text
    )


def check_event(event: Event) -> None:
    """Raise :class:`QuarantineError` if ``event`` breaks a venue-independent rule."""
    if isinstance(event, Quote):
        _price("bid_px", event.bid_px)
        _price("ask_px", event.ask_px)
        _size("bid_sz", event.bid_sz)
        _size("ask_sz", event.ask_sz)
        if event.bid_px > event.ask_px:
            raise QuarantineError(
                "crossed quote",
                detail=f"bid {event.bid_px} > ask {event.ask_px} ({event.instrument_id})",
            )
    elif isinstance(event, Trade):
        _price("price", event.price)
        _size("size", event.size)
    elif isinstance(event, BookUpdate):
        for level in event.bids + event.asks:
            _price("level price", level.price)
            _size("level size", level.size)
        if event.is_snapshot and event.bids and event.asks:
            best_bid = max(level.price for level in event.bids)
            best_ask = min(level.price for level in event.asks)
            if best_bid >= best_ask:
                raise QuarantineError(
                    "crossed book",
                    detail=f"bid {best_bid} >= ask {best_ask} ({event.instrument_id})",
                )
    elif isinstance(event, PoolState):
        _price("price", event.price)
        for name in ("reserve_base", "reserve_quote", "liquidity"):
            value = getattr(event, name)
            if value is not None:
                _size(name, value)
    elif isinstance(event, FxRate):
        _price("rate_usd", event.rate_usd)


def _price(name: str, value: Decimal) -> None:
    if not value.is_finite():
        raise QuarantineError("non-finite price", detail=f"{name}={value}")
    if value <= 0:
        raise QuarantineError("non-positive price", detail=f"{name}={value}")
    _storable(name, value)


def _size(name: str, value: Decimal) -> None:
    if not value.is_finite():
        raise QuarantineError("non-finite size", detail=f"{name}={value}")
    if value < 0:
        raise QuarantineError("negative size", detail=f"{name}={value}")
    _storable(name, value)


def _storable(name: str, value: Decimal) -> None:
    """DECIMAL(38, 18) holds 20 integer and 18 fractional digits; refuse to round."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -SCALE and value != value.quantize(_QUANTUM):
        raise QuarantineError("precision exceeds 18 decimals", detail=f"{name}={value}")
    if abs(value) >= _LIMIT:
        raise QuarantineError("value too large", detail=f"{name}={value}")
