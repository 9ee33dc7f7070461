"""The ``kraken`` adapter: Kraken Spot WebSocket v2 (``wss://ws.kraken.com/v2``) to events.

Subscriptions, after every connect (one request per channel, symbols chunked by
:data:`MAX_SYMBOLS_PER_REQUEST`):

- token listings (``catalog.tokens_on``): ``book`` (depth 10, snapshot), ``ticker`` with
  ``event_trigger: "bbo"`` (one message per change of the best bid or offer price) and
  ``trade`` (snapshot of recent trades, then updates). Streams ``book:<wsname>``,
  ``quote:<wsname>``, ``trade:<wsname>``;
- FX listings (``catalog.fx_on``, e.g. ``USDT/USD`` for ``USDT``): ``ticker`` bbo only, turned
  into ``FxRate(currency, rate_usd = (bid + ask) / 2)``. Stream ``fx:<currency>``.

Parsing is pure. Every JSON number is decoded straight into :class:`~decimal.Decimal` from
its own text (msgspec typed decoding), so ``230.10`` stays ``230.10`` and the checksum can
use the wire text. One ``data`` item is one event. Book messages become
``BookUpdate(sequence=0, checksum=<crc32>)``: Kraken v2 has no sequence numbers, the
CRC32 of the top 10 levels (:func:`kraken_checksum`) on every snapshot *and* update is
the integrity check, verified by :class:`~divergence.feeds.books.BookKeeper` through
:meth:`KrakenAdapter.book_spec`. Levels that fall out of the subscribed depth are not
deleted by the venue; the keeper truncates.

Control frames (``status``, ``heartbeat``, ``pong``, successful subscribe/unsubscribe
acks) give ``[]``. Quarantine reasons: ``malformed json``, ``bad shape``,
``missing field``, ``bad field``, ``bad decimal``, ``bad timestamp``, ``unknown channel``,
``unknown method``, ``unknown symbol``, ``subscription refused`` (an ack with
``success: false``; the detail carries Kraken's error text) and ``venue error`` (an error
reply to no known method).

The wire types, exact decoding and :func:`kraken_checksum` live in
:mod:`divergence.venues.kraken_wire` (re-exported here).

Discovery: :func:`discover` parses ``GET /0/public/AssetPairs?aclass_base=tokenized_asset``
(xStocks are hidden from the plain AssetPairs list); the WS symbol is ``wsname``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Literal

import msgspec

from divergence.catalog import Catalog, Token, Venue
from divergence.errors import ConfigError, QuarantineError
from divergence.events import BookUpdate, Event, FxRate, Level, Quote, Trade
from divergence.venues.contract import (
    AdapterSpec,
    BookSpec,
    DiscoveredListing,
    chunked,
    split_stream,
)
from divergence.venues.kraken_wire import (
    ASSET_PAIRS,
    BOOK_ITEMS,
    ENVELOPE,
    TICKER_ITEMS,
    TRADE_ITEMS,
    Envelope,
    decode,
    is_digits,
    parse_timestamp,
    short,
)
from divergence.venues.kraken_wire import kraken_checksum as kraken_checksum  # re-export

URL = "wss://ws.kraken.com/v2"
REST_URL = "https://api.kraken.com"
DISCOVERY_PATH = "/0/public/AssetPairs?aclass_base=tokenized_asset"
BOOK, TICKER, TRADE = "book", "ticker", "trade"
CONTROL_CHANNELS = frozenset({"status", "heartbeat"})
BOOK_DEPTHS = (10, 25, 100, 500, 1000)
PING_REQ_ID = 0
REQ_IDS = {BOOK: 1, TICKER: 2, TRADE: 3}
"""Fixed request ids per channel (subscribe); unsubscribes use ``10 + id``."""
MAX_SYMBOLS_PER_REQUEST = 50
"""Kraken documents no per-request symbol cap for public channels; 50 keeps each request
small and far below the connection rate limits."""
PING_INTERVAL_S = 10.0
"""Kraken sends ``heartbeat`` once a second only while idle; an application ping every
10 s adds a reply the runtime can rely on even when the venue's heartbeats stop."""


# -------------------------------------------------------------------- adapter
class KrakenAdapter:
    """Kraken Spot v2 for one catalog venue; symbols are the listings' ``wsname``."""

    spec = AdapterSpec(
        url=URL,
        ping_interval_s=PING_INTERVAL_S,
        ping_message=f'{{"method":"ping","req_id":{PING_REQ_ID}}}',
        max_topics_per_request=MAX_SYMBOLS_PER_REQUEST,
        stale_min_s={"book": 10.0, "quote": 10.0, "trade": 300.0, "fx": 120.0},
    )
    rest_url = REST_URL
    discovery_path = DISCOVERY_PATH

    def __init__(self, venue: Venue, catalog: Catalog, *, depth: int = 10) -> None:
        if depth not in BOOK_DEPTHS:
            raise ConfigError(
                f"book depth must be one of {BOOK_DEPTHS}, found {depth}",
                key="depth",
                source=f"kraken adapter for {venue.id}",
            )
        self.venue = venue
        self.depth = depth
        self.tokens: dict[str, Token] = {t.venue_symbol: t for t in catalog.tokens_on(venue.id)}
        self.fx: dict[str, str] = _fx_listings(venue, catalog)
        self._fx_symbol = {currency: symbol for symbol, currency in self.fx.items()}
        self._books = {s: self._book_spec(t) for s, t in self.tokens.items()}
        self._second = ("", 0)  # the last whole second parsed, and its epoch ns
        self._channels: dict[str, Callable[[bool, msgspec.Raw, int], list[Event]]] = {
            BOOK: self._book,
            TICKER: self._ticker,
            TRADE: self._trade,
        }

    # ------------------------------------------------------ declarations
    def streams(self) -> list[str]:
        symbols = sorted(self.tokens)
        streams = [f"{ch}:{s}" for ch in ("book", "quote", "trade") for s in symbols]
        return streams + [f"fx:{c}" for c in sorted(self._fx_symbol)]

    def subscribe_messages(self) -> list[str]:
        tokens = sorted(self.tokens)
        tickers = tokens + sorted(self.fx)
        messages: list[str] = []
        for channel, symbols in ((BOOK, tokens), (TICKER, tickers), (TRADE, tokens)):
            for chunk in chunked(symbols, MAX_SYMBOLS_PER_REQUEST):
                messages.append(self._request("subscribe", channel, chunk))
        return messages

    def resync_messages(self, stream: str) -> list[str]:
        channel, symbol = split_stream(stream)
        target: tuple[str, str] | None = None
        if channel == "book" and symbol in self.tokens:
            target = (BOOK, symbol)
        elif channel == "quote" and symbol in self.tokens:
            target = (TICKER, symbol)
        elif channel == "trade" and symbol in self.tokens:
            target = (TRADE, symbol)
        elif channel == "fx" and symbol in self._fx_symbol:
            target = (TICKER, self._fx_symbol[symbol])
        if target is None:
            return []
        kraken_channel, venue_symbol = target
        return [
            self._request("unsubscribe", kraken_channel, [venue_symbol]),
            self._request("subscribe", kraken_channel, [venue_symbol]),
        ]

    def book_spec(self, symbol: str) -> BookSpec | None:
        return self._books.get(symbol)

    def _book_spec(self, token: Token) -> BookSpec:
        checksum = partial(
            kraken_checksum,
            price_decimals=token.price_decimals,
            size_decimals=token.size_decimals,
        )
        return BookSpec(depth=self.depth, checksum=checksum, derive_quotes=False)

    def _request(self, method: str, channel: str, symbols: list[str]) -> str:
        params: dict[str, Any] = {"channel": channel, "symbol": symbols}
        if channel == BOOK:
            params["depth"] = self.depth
        elif channel == TICKER:
            params["event_trigger"] = "bbo"
        if method == "subscribe":
            params["snapshot"] = True
        req_id = REQ_IDS[channel] + (10 if method == "unsubscribe" else 0)
        message = {"method": method, "params": params, "req_id": req_id}
        return msgspec.json.encode(message).decode()

    # ----------------------------------------------------------- parsing
    def parse(self, frame: str | bytes, *, ts_recv: int) -> list[Event]:
        env = decode(ENVELOPE, frame)
        if env.channel is not None:
            handler = self._channels.get(env.channel)
            if handler is None:
                if env.channel in CONTROL_CHANNELS:
                    return []
                raise QuarantineError("unknown channel", detail=short(env.channel))
            if env.type not in ("snapshot", "update"):
                raise QuarantineError("bad field", detail=f"type {short(env.type)}")
            if not env.data:
                raise QuarantineError("missing field", detail="data")
            return handler(env.type == "snapshot", env.data, ts_recv)
        if env.method is not None:
            self._control(env)
            return []
        if env.error is not None:
            raise QuarantineError("venue error", detail=short(env.error, 200))
        raise QuarantineError("bad shape", detail="neither channel nor method")

    def _control(self, env: Envelope) -> None:
        method = env.method
        if method in ("subscribe", "unsubscribe"):
            if env.success is None:
                raise QuarantineError("missing field", detail=f"success in {method} ack")
            if not env.success:
                raise QuarantineError(
                    "subscription refused",
                    detail=f"{method} {env.symbol or '?'}: {short(env.error, 200)}",
                )
        elif method == "pong":
            return
        elif env.error is not None:
            raise QuarantineError("venue error", detail=f"{method}: {short(env.error, 200)}")
        else:
            raise QuarantineError("unknown method", detail=short(method))

    def _timestamp(self, text: str) -> int:
        """RFC 3339 to ns; Kraken's own ``...:SS.ffffffZ`` form reuses the parsed second."""
        if len(text) == 27 and text[19] == "." and text[26] == "Z" and is_digits(text[20:26]):
            second = text[:19]
            if second != self._second[0]:
                self._second = (second, parse_timestamp(second + "Z"))
            return self._second[1] + int(text[20:26]) * 1000
        return parse_timestamp(text)

    def _token(self, symbol: str) -> Token:
        token = self.tokens.get(symbol)
        if token is None:
            raise QuarantineError("unknown symbol", detail=f"{short(symbol)} on {self.venue.id}")
        return token

    def _book(self, snapshot: bool, data: msgspec.Raw, ts_recv: int) -> list[Event]:
        events: list[Event] = []
        for item in decode(BOOK_ITEMS, data):
            token = self._token(item.symbol)
            if not 0 <= item.checksum <= 0xFFFFFFFF:
                raise QuarantineError("bad field", detail=f"checksum {item.checksum}")
            events.append(
                BookUpdate(
                    ts_event=self._timestamp(item.timestamp),
                    ts_recv=ts_recv,
                    venue=self.venue.id,
                    instrument_id=token.id,
                    symbol=item.symbol,
                    is_snapshot=snapshot,
                    sequence=0,
                    bids=tuple([Level(lv.price, lv.qty) for lv in item.bids]),
                    asks=tuple([Level(lv.price, lv.qty) for lv in item.asks]),
                    checksum=item.checksum,
                )
            )
        return events

    def _ticker(self, snapshot: bool, data: msgspec.Raw, ts_recv: int) -> list[Event]:
        events: list[Event] = []
        for item in decode(TICKER_ITEMS, data):
            ts = ts_recv if item.timestamp is None else self._timestamp(item.timestamp)
            currency = self.fx.get(item.symbol)
            if currency is not None:
                rate = (item.bid + item.ask) / 2
                events.append(
                    FxRate(
                        ts_event=ts,
                        ts_recv=ts_recv,
                        venue=self.venue.id,
                        currency=currency,
                        rate_usd=rate,
                    )
                )
                continue
            token = self._token(item.symbol)
            events.append(
                Quote(
                    ts_event=ts,
                    ts_recv=ts_recv,
                    venue=self.venue.id,
                    instrument_id=token.id,
                    symbol=item.symbol,
                    bid_px=item.bid,
                    bid_sz=item.bid_qty,
                    ask_px=item.ask,
                    ask_sz=item.ask_qty,
                )
            )
        return events

    def _trade(self, snapshot: bool, data: msgspec.Raw, ts_recv: int) -> list[Event]:
        events: list[Event] = []
        for item in decode(TRADE_ITEMS, data):
            token = self._token(item.symbol)
            side = _side(item.side)
            events.append(
                Trade(
                    ts_event=self._timestamp(item.timestamp),
                    ts_recv=ts_recv,
                    venue=self.venue.id,
                    instrument_id=token.id,
                    symbol=item.symbol,
                    price=item.price,
                    size=item.qty,
                    side=side,
                    trade_id=str(item.trade_id),
                )
            )
        return events


# ------------------------------------------------------------------ discovery
def discover(body: bytes | str, *, tokenized_only: bool = True) -> list[DiscoveredListing]:
    """Listings in a Kraken ``AssetPairs`` response, sorted by ``wsname``.

    ``tokenized_only`` keeps the ``aclass_base == "tokenized_asset"`` pairs (xStocks);
    pairs without a ``wsname`` cannot be subscribed and are skipped. ``status`` is
    ``"unknown"`` when the response predates that field.
    """
    response = decode(ASSET_PAIRS, body)
    if response.error:
        raise QuarantineError("venue error", detail=short(response.error, 200))
    listings = []
    for pair in response.result.values():
        if pair.wsname is None or (tokenized_only and pair.aclass_base != "tokenized_asset"):
            continue
        base, slash, quote = pair.wsname.partition("/")
        if not slash:
            raise QuarantineError("bad field", detail=f"wsname {short(pair.wsname)}")
        listings.append(
            DiscoveredListing(
                venue_symbol=pair.wsname,
                base=base,
                quote=quote,
                status=pair.status or "unknown",
                product=pair.aclass_base,
                price_decimals=pair.pair_decimals,
                size_decimals=pair.lot_decimals,
            )
        )
    return sorted(listings, key=lambda x: x.venue_symbol)


# -------------------------------------------------------------------- helpers
def _fx_listings(venue: Venue, catalog: Catalog) -> dict[str, str]:
    """FX symbol -> currency; a Kraken FX listing must be ``<currency>/USD``."""
    fx: dict[str, str] = {}
    for listing in catalog.fx_on(venue.id):
        base, _, quote = listing.symbol.partition("/")
        if quote != "USD" or listing.currencies != (base,):
            raise ConfigError(
                f"a Kraken FX listing must be '<currency>/USD' for that one currency, "
                f"found {listing.symbol!r} for {list(listing.currencies)}",
                key="fx",
                source=f"catalog venue {venue.id}",
            )
        fx[listing.symbol] = base
    return fx


def _side(text: str) -> Literal["buy", "sell"]:
    if text == "buy":
        return "buy"
    if text == "sell":
        return "sell"
    raise QuarantineError("bad field", detail=f"side {short(text)}")
