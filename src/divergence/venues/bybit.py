"""The ``bybit`` adapter: Bybit v5 public spot stream frames to events (docs/venues.md).

Topics per catalog listing (``catalog.tokens_on(venue)``): ``orderbook.50.<SYM>`` and
``publicTrade.<SYM>``, giving streams ``book:<SYM>`` and ``trade:<SYM>``. Spot tickers
carry no bid/ask, so the top of book comes from the book: the book keeper derives the
``Quote`` events (``BookSpec.derive_quotes``); no subscription produces a ``quote:``
stream. Each fx listing (``catalog.fx_on(venue)``, e.g. ``USDCUSDT`` with currencies
USDC and USDT) subscribes ``tickers.<SYM>``: a spot ticker has ``lastPrice`` (quote per
base) and ``usdIndexPrice`` (USD per base), so it yields ``FxRate(base,
usdIndexPrice)`` and ``FxRate(quote, usdIndexPrice / lastPrice)`` (18 decimals), for the
currencies the listing names (streams ``fx:<CCY>``). Bybit sometimes sends
``"usdIndexPrice":""`` (2 of 81 spot tickers in the real 2026-08-09 recording): such a
tick yields no rate (``[]``); an empty ``lastPrice`` yields only the base rate.

Book rules: ``u`` is contiguous per topic; ``u == 1`` is a venue restart and replaces
the book like a snapshot; ``ts_event`` is the matching-engine time ``cts`` (``ts``, the
push time, when absent). The depth defaults to 50; ``BybitAdapter(venue, catalog,
depth=200)`` subscribes ``orderbook.200.*`` instead (the real-data conformance tests).

Pure: decimals come from the venue's strings (``[0-9]+(.[0-9]+)?`` only, never through
a float; readers in :mod:`divergence.venues.bybit_wire`); anything untrusted raises
:class:`~divergence.errors.QuarantineError`.
Quarantine reasons: ``malformed json``, ``bad shape``, ``missing field``,
``bad timestamp``, ``bad sequence``, ``bad decimal``, ``bad field``, ``unknown channel``,
``unknown topic``, ``unknown symbol``, ``symbol mismatch``, ``non-positive price``,
``subscription refused``, ``venue error``.

Discovery: :func:`discover` parses ``GET /v5/market/instruments-info?category=spot``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Literal

import msgspec

from divergence.catalog import Catalog, FxListing, Venue
from divergence.errors import ConfigError, FeedError, QuarantineError
from divergence.events import BookUpdate, Event, FxRate, Side, Trade
from divergence.venues.bybit_wire import (
    BOOK,
    ENVELOPE,
    INSTRUMENTS,
    MAX_SEQUENCE,
    TICKER,
    TRADES,
    Envelope,
    decimal_places,
    decode,
    present,
    read_decimal,
    read_levels,
    read_ms,
    short,
)
from divergence.venues.contract import AdapterSpec, BookSpec, DiscoveredListing, chunked

URL = "wss://stream.bybit.com/v5/public/spot"
REST_URL = "https://api.bybit.com"
DISCOVERY_PATH = "/v5/market/instruments-info?category=spot"
BOOK_DEPTH = 50
BOOK_CHANNEL = "orderbook"
TRADE_CHANNEL = "publicTrade"
TICKER_CHANNEL = "tickers"
PING_MESSAGE = '{"op":"ping","req_id":"ping"}'
MAX_TOPICS = 10
SIDES: dict[str, Side] = {"Buy": "buy", "Sell": "sell"}
RATE_QUANTUM = Decimal(1).scaleb(-18)


@dataclass(frozen=True, slots=True)
class _Route:
    """What one subscribed topic carries."""

    kind: Literal["book", "trade", "fx"]
    symbol: str
    instrument_id: str = ""
    base: str | None = None  # fx: currency rated by usdIndexPrice
    quote: str | None = None  # fx: currency rated by usdIndexPrice / lastPrice


class BybitAdapter:
    """Parses Bybit v5 public spot for one venue's catalog listings."""

    spec = AdapterSpec(
        url=URL,
        ping_interval_s=20.0,
        ping_message=PING_MESSAGE,
        max_topics_per_request=MAX_TOPICS,
        stale_min_s={"book": 10.0, "quote": 10.0, "trade": 300.0, "fx": 60.0},
    )
    discovery_path = DISCOVERY_PATH
    rest_url = REST_URL

    def __init__(self, venue: Venue, catalog: Catalog, *, depth: int = BOOK_DEPTH) -> None:
        self.venue = venue
        self.depth = depth
        self._book_spec = BookSpec(
            depth=depth, sequenced=True, reset_sequence=1, derive_quotes=True
        )
        self._routes: dict[str, _Route] = {}
        self._topics_of: dict[str, list[str]] = {}  # stream -> venue topics behind it
        self._stream_list: list[str] = []
        for token in sorted(catalog.tokens_on(venue.id), key=lambda t: t.venue_symbol):
            symbol = token.venue_symbol
            book, trade = self.book_topic(symbol), f"{TRADE_CHANNEL}.{symbol}"
            self._routes[book] = _Route("book", symbol, token.id)
            self._routes[trade] = _Route("trade", symbol, token.id)
            self._add_stream(f"book:{symbol}", book)
            self._add_stream(f"trade:{symbol}", trade)
            self._topics_of[f"quote:{symbol}"] = [book]  # derived from the book
        for listing in catalog.fx_on(venue.id):
            topic = f"{TICKER_CHANNEL}.{listing.symbol}"
            route = _fx_route(listing, venue.id)
            self._routes[topic] = route
            for currency in (route.base, route.quote):
                if currency is not None:
                    self._add_stream(f"fx:{currency}", topic)
        self._books = frozenset(r.symbol for r in self._routes.values() if r.kind == "book")

    def _add_stream(self, stream: str, topic: str) -> None:
        if stream not in self._topics_of:
            self._stream_list.append(stream)
        self._topics_of.setdefault(stream, []).append(topic)

    def book_topic(self, symbol: str) -> str:
        return f"{BOOK_CHANNEL}.{self.depth}.{symbol}"

    # ---------------------------------------------------------------- contract
    def streams(self) -> list[str]:
        return list(self._stream_list)

    def subscribe_messages(self) -> list[str]:
        topics = list(self._routes)
        return [
            _request("subscribe", f"sub-{i}", chunk)
            for i, chunk in enumerate(chunked(topics, self.spec.max_topics_per_request), start=1)
        ]

    def resync_messages(self, stream: str) -> list[str]:
        """Unsubscribe and resubscribe the topic behind ``stream``; Bybit re-sends a snapshot."""
        topics = self._topics_of.get(stream)
        if topics is None:
            raise FeedError(f"{self.venue.id}: no Bybit topic behind stream {stream!r}")
        return [
            _request("unsubscribe", f"resync-{stream}", topics),
            _request("subscribe", f"resync-{stream}", topics),
        ]

    def book_spec(self, symbol: str) -> BookSpec | None:
        return self._book_spec if symbol in self._books else None

    def parse(self, frame: str | bytes, *, ts_recv: int) -> list[Event]:
        env = decode(ENVELOPE, frame)
        if env.topic is None:
            _control(env)
            return []
        route = self._routes.get(env.topic)
        if route is None:
            raise self._unknown(env.topic)
        if not env.data:
            raise QuarantineError("missing field", detail=f"data ({env.topic})")
        if route.kind == "book":
            return [self._book(env, route, ts_recv)]
        if route.kind == "trade":
            return self._trades(env, route, ts_recv)
        return self._fx(env, route, ts_recv)

    # ----------------------------------------------------------------- parsers
    def _book(self, env: Envelope, route: _Route, ts_recv: int) -> BookUpdate:
        data = decode(BOOK, env.data, "data")
        _same_symbol(data.s, route)
        if env.type not in ("snapshot", "delta"):
            raise QuarantineError("bad field", detail=f"type {short(env.type)} ({env.topic})")
        if not 0 < data.u <= MAX_SEQUENCE:
            raise QuarantineError("bad sequence", detail=f"u={short(data.u)}")
        return BookUpdate(
            ts_event=read_ms(env.cts, "cts") if env.cts is not None else read_ms(env.ts, "ts"),
            ts_recv=ts_recv,
            venue=self.venue.id,
            instrument_id=route.instrument_id,
            symbol=route.symbol,
            is_snapshot=env.type == "snapshot",
            sequence=data.u,
            bids=read_levels(data.b, "b"),
            asks=read_levels(data.a, "a"),
        )

    def _trades(self, env: Envelope, route: _Route, ts_recv: int) -> list[Event]:
        out: list[Event] = []
        for item in decode(TRADES, env.data, "data"):
            _same_symbol(item.s, route)
            side = SIDES.get(item.S)
            if side is None:
                raise QuarantineError("bad field", detail=f"S={short(item.S)}")
            out.append(
                Trade(
                    ts_event=read_ms(item.T, "T"),
                    ts_recv=ts_recv,
                    venue=self.venue.id,
                    instrument_id=route.instrument_id,
                    symbol=route.symbol,
                    price=read_decimal(item.p, "p"),
                    size=read_decimal(item.v, "v"),
                    side=side,
                    trade_id=item.i,
                )
            )
        return out

    def _fx(self, env: Envelope, route: _Route, ts_recv: int) -> list[Event]:
        data = decode(TICKER, env.data, "data")
        _same_symbol(data.symbol, route)
        index_text = present(data.usdIndexPrice, "usdIndexPrice")
        last_text = present(data.lastPrice, "lastPrice")
        ts = read_ms(env.ts, "ts")
        if index_text == "":  # Bybit sends "" now and then: no USD index on this tick
            return []
        index = read_decimal(index_text, "usdIndexPrice")
        out: list[Event] = []
        if route.base is not None:
            out.append(self._rate(ts, ts_recv, route.base, index))
        if route.quote is not None and last_text != "":
            last = read_decimal(last_text, "lastPrice")
            if last == 0:
                raise QuarantineError("non-positive price", detail=f"lastPrice={last}")
            with localcontext() as ctx:
                ctx.prec = 60
                rate = (index / last).quantize(RATE_QUANTUM)
            out.append(self._rate(ts, ts_recv, route.quote, rate))
        return out

    def _rate(self, ts: int, ts_recv: int, currency: str, rate: Decimal) -> FxRate:
        return FxRate(
            ts_event=ts, ts_recv=ts_recv, venue=self.venue.id, currency=currency, rate_usd=rate
        )

    def _unknown(self, topic: str) -> QuarantineError:
        channel, _, rest = topic.partition(".")
        symbol = rest.rpartition(".")[2]
        if channel not in (BOOK_CHANNEL, TRADE_CHANNEL, TICKER_CHANNEL):
            return QuarantineError("unknown channel", detail=short(topic))
        if not any(r.symbol == symbol for r in self._routes.values()):
            return QuarantineError("unknown symbol", detail=f"{short(topic)} on {self.venue.id}")
        return QuarantineError("unknown topic", detail=f"{short(topic)} was not subscribed")


# ---------------------------------------------------------------------- helpers
def _fx_route(listing: FxListing, venue: str) -> _Route:
    """Which listed currency is the base (rated by usdIndexPrice) and which the quote."""
    base = quote = None
    for currency in listing.currencies:
        if listing.symbol.startswith(currency) and base is None:
            base = currency
        elif listing.symbol.endswith(currency) and quote is None:
            quote = currency
        else:
            raise ConfigError(
                f"currency {currency!r} is neither the base nor the quote of {listing.symbol!r}",
                key=f"fx[{listing.symbol}].currencies",
                source=f"catalog (venue {venue})",
            )
    return _Route("fx", listing.symbol, base=base, quote=quote)


def _request(op: str, req_id: str, topics: list[str]) -> str:
    return msgspec.json.encode({"op": op, "req_id": req_id, "args": topics}).decode()


def _control(env: Envelope) -> None:
    op = env.op
    if op is None:
        raise QuarantineError("bad shape", detail="neither topic nor op")
    if op == "pong":  # the {"op":"pong","args":[...]} variant
        return
    if env.success is None:
        raise QuarantineError("missing field", detail=f"success (op {short(op)})")
    if not env.success:
        reason = "subscription refused" if op == "subscribe" else "venue error"
        raise QuarantineError(reason, detail=f"op {short(op)}: {short(env.ret_msg, 300)}")
    if op not in ("subscribe", "unsubscribe", "ping"):
        raise QuarantineError("unknown channel", detail=f"op {short(op)}")


def _same_symbol(symbol: str, route: _Route) -> None:
    if symbol != route.symbol:
        raise QuarantineError("symbol mismatch", detail=f"{short(symbol)} under {route.symbol}")


def discover(body: bytes | str) -> list[DiscoveredListing]:
    """Every instrument of a spot ``instruments-info`` response, in response order.

    ``product`` is Bybit's ``symbolType`` (``"xstocks"``, ``""`` for ordinary pairs);
    decimals come from ``priceFilter.tickSize`` and ``lotSizeFilter.basePrecision``;
    ``multiplier`` is ``xstockMultiplier`` exactly as sent (Bybit sends ``"1"`` on
    ordinary pairs too).
    """
    response = decode(INSTRUMENTS, body)
    if response.retCode != 0:
        raise QuarantineError(
            "venue error", detail=f"retCode {response.retCode}: {response.retMsg}"
        )
    if response.result is None:
        raise QuarantineError("missing field", detail="result")
    return [
        DiscoveredListing(
            venue_symbol=row.symbol,
            base=row.baseCoin,
            quote=row.quoteCoin,
            status=row.status,
            product=row.symbolType,
            price_decimals=decimal_places(
                row.priceFilter.tickSize if row.priceFilter else None, "tickSize"
            ),
            size_decimals=decimal_places(
                row.lotSizeFilter.basePrecision if row.lotSizeFilter else None, "basePrecision"
            ),
            multiplier=(
                read_decimal(row.xstockMultiplier, "xstockMultiplier")
                if row.xstockMultiplier
                else None
            ),
        )
        for row in response.result.instruments
    ]
