"""The canonical event model: every adapter emits these, every stage consumes them.

Events are immutable ``msgspec.Struct`` values, serialisable to JSON or msgpack through
:mod:`divergence.codec`, so a stage never cares whether its input came from the
in-process bus, a replayed archive or (later) a networked bus.

Conventions:

- timestamps are integer nanoseconds since the epoch, UTC (``ts_event`` venue time,
  ``ts_recv`` receive time, ``ts_ingest`` write time, 0 until the store writes it);
- prices and sizes are :class:`decimal.Decimal` parsed from the venue's own text, never
  through a float, and stored as ``DECIMAL(38, 18)``;
- ``instrument_id`` is the catalog id (``AAPLx@simx-a``); ``symbol`` is the venue's
  own spelling (``AAPLx/USD``), kept for audit.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal, get_args

import msgspec

Side = Literal["buy", "sell", "unknown"]
Session = Literal["pre", "regular", "post", "overnight", "closed", "halted"]
SESSIONS: tuple[Session, ...] = ("pre", "regular", "post", "overnight", "closed", "halted")


class _Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    ts_event: int
    ts_recv: int
    ts_ingest: int = 0
    venue: str


class Quote(_Event, frozen=True, kw_only=True, tag="quote"):
    """Best bid and offer with sizes, for a token listing or a reference instrument."""

    instrument_id: str
    symbol: str
    bid_px: Decimal
    bid_sz: Decimal
    ask_px: Decimal
    ask_sz: Decimal


class Level(msgspec.Struct, frozen=True, array_like=True):
    """One price level; ``size == 0`` deletes the level in a delta."""

    price: Decimal
    size: Decimal


class BookUpdate(_Event, frozen=True, kw_only=True, tag="book"):
    """Order-book levels, either a full snapshot or a delta, with the venue sequence."""

    instrument_id: str
    symbol: str
    is_snapshot: bool
    sequence: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    checksum: int | None = None
    """The venue's checksum of the book *after* this message (Kraken CRC32), if it sends one."""


class Trade(_Event, frozen=True, kw_only=True, tag="trade"):
    """One execution; ``side`` is the aggressor's."""

    instrument_id: str
    symbol: str
    price: Decimal
    size: Decimal
    side: Side
    trade_id: str


class PoolState(_Event, frozen=True, kw_only=True, tag="pool"):
    """A DEX pool after an update: reserves (constant product) or price and liquidity.

    ``price`` is quote-currency per base unit as the pool trades it (raw units, see
    the multiplier notes in docs/concepts.md); ``fee_bps`` is the LP fee.
    """

    instrument_id: str
    symbol: str
    pool: str
    reserve_base: Decimal | None
    reserve_quote: Decimal | None
    price: Decimal
    liquidity: Decimal | None
    fee_bps: Decimal
    tick: int | None = None
    block_number: int | None = None
    log_index: int | None = None
    block_hash: str | None = None
    removed: bool = False
    """True for a chain reorg retraction of the log at (block_hash, log_index)."""


class FxRate(_Event, frozen=True, kw_only=True, tag="fx"):
    """USD per unit of a stablecoin (``USDC`` at 0.8774 means 1 USDC buys $0.8774)."""

    currency: str
    rate_usd: Decimal


class SessionState(_Event, frozen=True, kw_only=True, tag="session"):
    """The underlying's market session from ``ts_event`` on."""

    underlying: str
    session: Session


FeedEventKind = Literal[
    "connect",
    "disconnect",
    "gap",
    "checksum_mismatch",
    "book_invalid",
    "resync",
    "stale",
    "fresh",
    "silent",
    "quarantine",
    "dropped",
    "backpressure",
    "reorg",
    "backfill",
    "duplicate",
    "rejected",
]
FEED_EVENT_KINDS: tuple[str, ...] = get_args(FeedEventKind)


class FeedEvent(_Event, frozen=True, kw_only=True, tag="feed"):
    """Something that happened to a feed, not in the market: feed health as data.

    ``stream`` is ``"<channel>:<venue symbol>"`` (``book:AAPLx/USD``), or ``""`` for the
    connection as a whole. ``ts_event`` and ``ts_recv`` are both local receive time.
    ``value`` carries the one number the kind implies (gap size, stale seconds, count
    dropped), or 0.
    """

    stream: str
    event: FeedEventKind
    detail: str = ""
    value: float = 0.0


def feed_event(
    venue: str, ts: int, stream: str, kind: FeedEventKind, detail: str = "", value: float = 0.0
) -> FeedEvent:
    """A :class:`FeedEvent` at local time ``ts`` (both timestamps), detail capped at 500."""
    return FeedEvent(
        ts_event=ts,
        ts_recv=ts,
        venue=venue,
        stream=stream,
        event=kind,
        detail=detail[:500],
        value=value,
    )


class Heartbeat(_Event, frozen=True, kw_only=True, tag="heartbeat"):
    """A venue clock tick with no market content; advances the feed's watermark."""


Event = Quote | BookUpdate | Trade | PoolState | FxRate | SessionState | FeedEvent | Heartbeat
EVENT_TYPES: tuple[type[_Event], ...] = (
    Quote,
    BookUpdate,
    Trade,
    PoolState,
    FxRate,
    SessionState,
    FeedEvent,
    Heartbeat,
)
