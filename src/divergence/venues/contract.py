"""What an adapter declares, beyond ``parse``: endpoints, channels, pings and book rules.

An adapter is declarative. It says where to connect (:attr:`AdapterSpec.url`), what to
send after connecting (``subscribe_messages``), how to ping, how to resubscribe one
stream after a gap, and how its order books are sequenced and checksummed
(:class:`BookSpec`). The generic session runtime (:mod:`divergence.feeds.session`) and the
book keeper (:mod:`divergence.feeds.books`) act on these declarations and never name a
venue.

Streams
    A stream is one channel of one symbol, written ``"<channel>:<venue symbol>"``, e.g.
    ``book:AAPLx/USD`` or ``trade:AAPLXUSDT``. The channel is derived from the event
    type (:func:`stream_of`), so the runtime can attribute every event to its stream
    without knowing the venue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from divergence.events import (
    BookUpdate,
    Event,
    FeedEvent,
    FxRate,
    Heartbeat,
    Level,
    PoolState,
    Quote,
    SessionState,
    Trade,
)

Channel = str
"""``book``, ``quote``, ``trade``, ``pool``, ``fx`` or ``session``."""

Checksum = Callable[[Sequence[Level], Sequence[Level]], int]
"""``checksum(asks ascending, bids descending)`` of a whole book, as the venue computes it."""


@dataclass(frozen=True)
class BookSpec:
    """How one venue's order book for one symbol is maintained and verified.

    - ``depth``: levels kept per side; after every message the book is truncated to it
      (venues do not send deletes for levels that fall out of range).
    - ``sequenced``: deltas carry a sequence that must increase by exactly 1.
    - ``reset_sequence``: a sequence value that means "the venue restarted this book":
      a delta with it replaces the book like a snapshot (Bybit ``u == 1``).
    - ``checksum``: when set, every message that carries ``BookUpdate.checksum`` is
      verified against ``checksum(asks, bids)`` of the book after applying it.
    - ``derive_quotes``: emit a top-of-book :class:`~divergence.events.Quote` after every
      message that changes the top of a *valid* book (for venues whose BBO comes from
      the book, not from a ticker channel).
    """

    depth: int
    sequenced: bool = False
    reset_sequence: int | None = None
    checksum: Checksum | None = None
    derive_quotes: bool = False


@dataclass(frozen=True)
class AdapterSpec:
    """The transport-level declarations of one adapter.

    - ``url``: the default websocket endpoint (settings ``venues.<id>.url`` overrides it).
    - ``ping_interval_s`` / ``ping_message``: an application-level ping the runtime sends
      on that cadence (Bybit ``{"op":"ping"}`` every 20 s; Kraken ``{"method":"ping"}``;
      JSON-RPC ``eth_blockNumber``). Its reply is a frame like any other, which is what
      lets the runtime tell a silent socket from a quiet market.
    - ``max_topics_per_request``: the venue's limit of topics in one subscribe request;
      ``subscribe_messages`` must respect it (the guard tests check).
    - ``stale_min_s``: per channel, the stale-watchdog floor (docs/venues.md).
    """

    url: str
    ping_interval_s: float | None = None
    ping_message: str | None = None
    max_topics_per_request: int = 10
    stale_min_s: Mapping[Channel, float] = field(default_factory=dict)
    """Per channel, the shortest silence that may count as stale before a cadence is
    learned (trades and chain logs are sparse; books tick). Settings
    ``venues.<id>.stale_min_s`` overrides it for every channel."""


DEFAULT_STALE_MIN_S = 5.0
"""The floor of a channel the adapter gives none for."""

_CHANNEL_OF: dict[type, Channel] = {
    BookUpdate: "book",
    Quote: "quote",
    Trade: "trade",
    PoolState: "pool",
    FxRate: "fx",
    SessionState: "session",
}


def stream_of(event: Event) -> str | None:
    """The stream an event belongs to, or ``None`` for heartbeats and feed events."""
    if isinstance(event, Heartbeat | FeedEvent):
        return None
    channel = _CHANNEL_OF[type(event)]
    if isinstance(event, FxRate):
        return f"{channel}:{event.currency}"
    if isinstance(event, SessionState):
        return f"{channel}:{event.underlying}"
    return f"{channel}:{event.symbol}"


def split_stream(stream: str) -> tuple[Channel, str]:
    """``"book:AAPLx/USD"`` -> ``("book", "AAPLx/USD")``."""
    channel, _, symbol = stream.partition(":")
    return channel, symbol


def chunked(items: Sequence[str], size: int) -> list[list[str]]:
    """Split ``items`` into lists of at most ``size`` (per-request topic limits)."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


@dataclass(frozen=True)
class DiscoveredListing:
    """One instrument as a venue's REST instrument list describes it.

    Each adapter module with discovery exposes ``discover(body: bytes | str) ->
    list[DiscoveredListing]`` (pure) and its adapter class a ``discovery_path`` (the
    REST path and query, e.g. ``/0/public/AssetPairs?aclass_base=tokenized_asset``).
    ``multiplier`` is the venue's own multiplier for the listing (Bybit
    ``xstockMultiplier``), kept as the exact decimal text it sent.
    """

    venue_symbol: str
    base: str
    quote: str
    status: str
    product: str
    price_decimals: int | None = None
    size_decimals: int | None = None
    multiplier: Decimal | None = None
