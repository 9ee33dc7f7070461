"""The ``massive`` adapter: Massive (ex-Polygon.io) stocks WebSocket to reference quotes and trades.

Endpoint ``wss://socket.massive.com/stocks`` (real time; ``wss://delayed.massive.com/stocks``
is the 15-minute delayed feed, chosen with ``venues.<id>.feed = "delayed"`` or a ``url``).
Massive allows one connection per cluster and key, and streams 04:00-20:00 ET only.

After every connect the session sends :meth:`MassiveAdapter.subscribe_messages`:
``{"action":"auth","params":<key>}`` then ``{"action":"subscribe","params":"Q.AAPL,T.AAPL,..."}``
(params chunked by :data:`MAX_PARAMS_PER_REQUEST`) for every reference listing of the venue
(``catalog.references_on``). Streams are ``quote:<sym>`` and ``trade:<sym>``; a resync is
``unsubscribe`` + ``subscribe`` of that one ``Q.``/``T.`` param (Massive sends no snapshot).
The key comes from ``venues.<id>.api_key`` through :meth:`MassiveAdapter.configure`; it is
never logged and appears only in the auth frame.

Parsing is pure. A frame is a JSON array of ``ev``-keyed objects (see
:mod:`divergence.venues.massive_wire`):

- ``Q`` -> :class:`~divergence.events.Quote` (``bp``/``bs``/``ap``/``as``, ``ts_event`` = ``t`` ms
  -> ns). Sizes are **shares**: Massive switched ``bs``/``as`` from round lots to shares on
  2025-11-03 (SEC Market Data Infrastructure rule; massive.com blog "Upcoming Changes to Bid
  and Ask Sizes in Stocks Quotes", 2025-10-27; the API reference still says round lots).
  Quotes stamped before :data:`SHARES_SINCE_MS` (archives) are multiplied by 100, the round
  lot of nearly every NMS stock then.
- ``T`` -> :class:`~divergence.events.Trade` (``p``, ``s``, side ``unknown``: the SIP does not
  say who aggressed). ``trade_id`` = ``<x>:<i>`` (``<x>:<trfi>:<i>`` for TRF prints): Massive's
  trade ids are unique only per ticker, exchange and TRF, so ``i`` alone could make the
  pipeline drop another exchange's trade as a duplicate.
- ``q`` is **not** gap-checked: it is the SIP's sequence, "increasing and unique per ticker
  symbol, but will not always be sequential", so a jump is normal, not a loss. It is used
  only to drop exact replays of a quote (same symbol, ``q`` and ``t``), counted as a
  ``duplicate`` feed event; replayed trades are dropped by the pipeline by ``trade_id``.
- ``status``: ``connected``, ``auth_success``, ``success`` -> ``[]``; ``auth_failed`` ->
  :class:`~divergence.errors.VenueRejectedError` (fatal: a wrong key stays wrong);
  ``max_connections`` (another session with the key took the cluster's one connection:
  Massive closes the older one) -> a non-fatal rejection that waits ``retry_after_s``;
  ``error`` -> ``subscription refused`` with Massive's message.

Quarantine reasons: ``malformed json``, ``bad shape``, ``missing field``, ``bad decimal``,
``bad timestamp``, ``unknown event``, ``unknown symbol``, ``unknown status``,
``subscription refused``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import replace
from decimal import Decimal

import msgspec
from pydantic import SecretStr

from divergence.catalog import Catalog, Reference, Venue
from divergence.errors import ConfigError, QuarantineError, VenueRejectedError
from divergence.events import Event, Quote, Trade, feed_event
from divergence.settings import VenueSettings
from divergence.venues.contract import AdapterSpec, BookSpec, chunked, split_stream
from divergence.venues.massive_wire import (
    FRAME,
    WireQuote,
    WireStatus,
    WireTrade,
    decode,
    short,
    ts_ns,
)

log = logging.getLogger(__name__)

URL = "wss://socket.massive.com/stocks"
DELAYED_URL = "wss://delayed.massive.com/stocks"
FEED_URLS = {"realtime": URL, "delayed": DELAYED_URL}
QUOTES, TRADES = "Q", "T"
CHANNEL_PREFIX = {"quote": QUOTES, "trade": TRADES}
MAX_PARAMS_PER_REQUEST = 500
"""Massive documents no limit on tickers per connection; 500 params keeps a frame small."""
SHARES_SINCE_MS = 1_762_146_000_000
"""2025-11-03T00:00 ET: from then on quote sizes are shares, before it round lots."""
LEGACY_ROUND_LOT = Decimal(100)
RETRY_AFTER_S = 60.0
"""After ``max_connections``: wait this long before taking the connection back."""
CONTROL_STATUSES = frozenset({"connected", "auth_success", "success"})
QUOTES_KEPT = 50_000
"""Recent (symbol, q, t) of quotes remembered to drop exact replays (bounded memory)."""


class MassiveAdapter:
    """Massive stocks WebSocket for one catalog venue; symbols are the references' tickers."""

    spec = AdapterSpec(
        url=URL,
        max_topics_per_request=MAX_PARAMS_PER_REQUEST,
        stale_min_s={"quote": 10.0, "trade": 60.0},
    )

    def __init__(
        self, venue: Venue, catalog: Catalog, *, retry_after_s: float = RETRY_AFTER_S
    ) -> None:
        self.venue = venue
        self.references = _references(venue, catalog)
        self.retry_after_s = retry_after_s
        self._api_key: SecretStr | None = None
        self._quotes_seen: OrderedDict[tuple[str, int, int], None] = OrderedDict()

    # ------------------------------------------------------ declarations
    def configure(self, settings: VenueSettings) -> None:
        """Take the API key (required) and the feed (``realtime`` or ``delayed``) from settings."""
        key = settings.api_key
        if key is None or not key.get_secret_value().strip():
            raise ConfigError(
                "Massive authenticates every connection with an API key; none is set",
                key=f"venues.{self.venue.id}.api_key",
                source="settings",
            )
        if settings.feed is not None:
            url = FEED_URLS.get(settings.feed)
            if url is None:
                raise ConfigError(
                    f"feed must be one of {sorted(FEED_URLS)}, found {settings.feed!r}",
                    key=f"venues.{self.venue.id}.feed",
                    source="settings",
                )
            self.spec = replace(self.spec, url=url)
        self._api_key = key
        log.info("massive adapter configured", extra={"venue": self.venue.id, "url": self.spec.url})

    def streams(self) -> list[str]:
        return [f"{ch}:{s}" for ch in ("quote", "trade") for s in sorted(self.references)]

    def subscribe_messages(self) -> list[str]:
        if self._api_key is None:
            raise ConfigError(
                "no API key: call configure(settings) before subscribing",
                key=f"venues.{self.venue.id}.api_key",
                source=f"massive adapter for {self.venue.id}",
            )
        params = [f"{ev}.{s}" for s in sorted(self.references) for ev in (QUOTES, TRADES)]
        auth = _action("auth", self._api_key.get_secret_value())
        chunks = chunked(params, MAX_PARAMS_PER_REQUEST)
        return [auth, *(_action("subscribe", ",".join(chunk)) for chunk in chunks)]

    def resync_messages(self, stream: str) -> list[str]:
        channel, symbol = split_stream(stream)
        prefix = CHANNEL_PREFIX.get(channel)
        if prefix is None or symbol not in self.references:
            return []
        param = f"{prefix}.{symbol}"
        return [_action("unsubscribe", param), _action("subscribe", param)]

    def book_spec(self, symbol: str) -> BookSpec | None:
        return None

    # ----------------------------------------------------------- parsing
    def parse(self, frame: str | bytes, *, ts_recv: int) -> list[Event]:
        events: list[Event] = []
        for item in decode(FRAME, frame):
            if isinstance(item, WireQuote):
                events.append(self._quote(item, ts_recv))
            elif isinstance(item, WireTrade):
                events.append(self._trade(item, ts_recv))
            else:
                self._status(item)
        return events

    def _quote(self, item: WireQuote, ts_recv: int) -> Event:
        reference = self._reference(item.sym)
        ts_event = ts_ns(item.t)
        if item.q is not None and self._replayed((item.sym, item.q, item.t)):
            detail = f"quote {item.sym} q={item.q} t={item.t} already seen"
            return feed_event(self.venue.id, ts_recv, f"quote:{item.sym}", "duplicate", detail, 1)
        bid_sz, ask_sz = item.bs, item.as_
        if item.t < SHARES_SINCE_MS:  # round lots until 2025-11-03
            bid_sz, ask_sz = bid_sz * LEGACY_ROUND_LOT, ask_sz * LEGACY_ROUND_LOT
        return Quote(
            ts_event=ts_event,
            ts_recv=ts_recv,
            venue=self.venue.id,
            instrument_id=reference.id,
            symbol=item.sym,
            bid_px=item.bp,
            bid_sz=bid_sz,
            ask_px=item.ap,
            ask_sz=ask_sz,
        )

    def _trade(self, item: WireTrade, ts_recv: int) -> Trade:
        reference = self._reference(item.sym)
        via = "" if item.trfi is None else f"{item.trfi}:"
        return Trade(
            ts_event=ts_ns(item.t),
            ts_recv=ts_recv,
            venue=self.venue.id,
            instrument_id=reference.id,
            symbol=item.sym,
            price=item.p,
            size=item.s,
            side="unknown",
            trade_id=f"{item.x}:{via}{item.i}",
        )

    def _status(self, item: WireStatus) -> None:
        status, message = item.status, short(item.message, 200)
        if status in CONTROL_STATUSES:
            return
        if status == "auth_failed":
            raise VenueRejectedError(message or "authentication failed", code=status, fatal=True)
        if status == "max_connections":
            raise VenueRejectedError(
                message or "connection limit reached", code=status, retry_after_s=self.retry_after_s
            )
        if status == "error":
            raise QuarantineError("subscription refused", detail=message)
        raise QuarantineError("unknown status", detail=f"{short(status)}: {message}")

    def _reference(self, symbol: str) -> Reference:
        reference = self.references.get(symbol)
        if reference is None:
            raise QuarantineError("unknown symbol", detail=f"{short(symbol)} on {self.venue.id}")
        return reference

    def _replayed(self, key: tuple[str, int, int]) -> bool:
        if key in self._quotes_seen:
            return True
        self._quotes_seen[key] = None
        if len(self._quotes_seen) > QUOTES_KEPT:
            self._quotes_seen.popitem(last=False)
        return False


# -------------------------------------------------------------------- helpers
def _action(action: str, params: str) -> str:
    return msgspec.json.encode({"action": action, "params": params}).decode()


def _references(venue: Venue, catalog: Catalog) -> dict[str, Reference]:
    """Ticker -> reference listing; a ticker listed twice on the venue is a catalog error."""
    references: dict[str, Reference] = {}
    for reference in catalog.references_on(venue.id):
        if reference.symbol in references:
            raise ConfigError(
                f"ticker {reference.symbol!r} is listed twice "
                f"({references[reference.symbol].id}, {reference.id})",
                key="reference",
                source=f"catalog venue {venue.id}",
            )
        references[reference.symbol] = reference
    return references
