"""The ``alpaca`` adapter: Alpaca Market Data v2 stock stream to reference quotes, trades, sessions.

Endpoint ``wss://stream.data.alpaca.markets/v2/{feed}``, ``feed`` from settings
``venues.<id>.feed``: ``sip`` (default; the consolidated CTA/UTP tape, so ``q`` is the
NBBO) or ``iex`` (free; IEX's own book and prints only, exchange code ``V``, about 2-3 %
of the volume and thin outside regular hours). Both send the same message shapes.
Alpaca allows **one connection per endpoint** on most plans, so one connection carries every
reference symbol of the venue (``catalog.references_on``).

After every connect the session sends :meth:`AlpacaAdapter.subscribe_messages`:
``{"action":"auth","key":...,"secret":...}`` (Alpaca wants it within 10 s), then
``{"action":"subscribe","quotes":[...],"trades":[...],"statuses":[...]}`` with at most
:data:`MAX_SYMBOLS_PER_REQUEST` symbols each. Credentials come from
``venues.<id>.api_key`` / ``api_secret`` through :meth:`AlpacaAdapter.configure`; they
appear only in the auth frame and are never logged. Streams are ``quote:<symbol>``,
``trade:<symbol>`` and ``session:<underlying>``; a resync is ``unsubscribe`` + ``subscribe``
of that one channel and symbol (Alpaca sends no snapshot). Alpaca has no application
ping; :data:`PING_INTERVAL_S` re-subscribes the first symbol's ``statuses``, which is
idempotent and answered with the ``subscription`` ack, so a quiet market (nights,
weekends) is not a silent connection, and every ping re-checks the subscription set.

Parsing is pure (wire types in :mod:`divergence.venues.alpaca_wire`):

- ``q`` -> :class:`~divergence.events.Quote` (``bp``, ``bs``, ``ap``, ``as``; sizes are
  Alpaca's **round lots**, kept as sent); ``t`` -> :class:`~divergence.events.Trade`
  (``p``, ``s`` shares, side ``unknown``, ``trade_id`` = ``<x>:<i>``: SIP trade ids are
  numbered per exchange, so ``i`` alone would make the pipeline drop another exchange's
  trade as a duplicate). ``ts_event`` = ``t`` with all nine digits.
- ``s`` (trading status) -> :class:`~divergence.events.SessionState` of the reference's
  underlying: :data:`HALT_CODES` (CTA ``2`` trading halt; UTP ``H`` trading halt, ``P``
  volatility trading pause (LULD), ``Q`` quotation resumption: quotes are back for the
  reopening auction but trading is not) -> ``halted``; :data:`RESUME_CODES` (CTA ``3``
  resume, UTP ``T`` trading resumption) -> the scheduled session at ``ts_event``
  (:func:`~divergence.sessions.session_at`); :data:`INFO_CODES` (imbalances,
  indications, short-sale restriction, LULD indicator) -> ``[]``.
- ``success`` (``connected``, ``authenticated``) -> ``[]``; ``connected`` starts a new
  subscription check. ``subscription`` (the whole current set) -> ``[]``, or
  ``subscription refused`` when it lacks a symbol we asked for
  (:class:`~divergence.venues.alpaca_wire.SubscriptionCheck`).
- ``b``/``d``/``u`` bars, ``c`` corrections, ``x`` cancels, ``l`` LULD bands and ``i``
  imbalances (corrections and cancels come with every ``trades`` subscription) ->
  ``unsupported type``: kept in quarantine, since a cancel voids a trade we published.

Error replies (``{"T":"error","code":N,"msg":...}``):

==========  =========================  ===============================================
code        meaning                    what happens
==========  =========================  ===============================================
401         not authenticated          reject, fatal when no credentials were sent;
                                       else retry after 10 s (the subscribe overtook
                                       the auth it follows)
402         auth failed                reject, fatal (wrong credentials stay wrong)
408         v2 not enabled             reject, fatal (the account lacks Data v2)
409         insufficient subscription  reject, fatal (the plan lacks this feed: sip?)
404         auth timeout               reject, retry after 10 s (auth is sent at once)
406         connection limit exceeded  reject, retry after ``retry_after_s`` (60 s)
500         internal error             reject, retry after 10 s (Alpaca's fault)
405         symbol limit exceeded      ``subscription refused`` (set left unchanged)
400, 403    invalid syntax, already    ``venue error`` (our request was wrong; the
            authenticated              feed goes on)
407, other  slow client, unknown       ``venue error`` (Alpaca may disconnect; the
                                       session reconnects as for any close)
==========  =========================  ===============================================

Quarantine reasons: ``malformed json``, ``bad shape``, ``missing field``, ``bad decimal``,
``bad timestamp``, ``unknown type``, ``unsupported type``, ``unknown symbol``,
``unknown status``, ``bad field``, ``subscription refused``, ``venue error``.
JSON only: the msgpack variant (``Content-Type: application/msgpack``) is not used.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import msgspec
from pydantic import SecretStr

from divergence.catalog import Catalog, Reference, Venue
from divergence.errors import ConfigError, QuarantineError, VenueRejectedError
from divergence.events import Event, Quote, Session, SessionState, Trade
from divergence.sessions import session_at
from divergence.settings import VenueSettings
from divergence.venues.alpaca_wire import (
    FRAME,
    SubscriptionCheck,
    WireError,
    WireQuote,
    WireStatus,
    WireSubscription,
    WireSuccess,
    WireTrade,
    WireUnsupported,
    decode,
    parse_timestamp,
    short,
    unsupported_kind,
)
from divergence.venues.contract import AdapterSpec, BookSpec, chunked, split_stream

log = logging.getLogger(__name__)

URL = "wss://stream.data.alpaca.markets/v2/{feed}"
FEEDS = ("sip", "iex")
DEFAULT_FEED = "sip"
CHANNELS = {"quote": "quotes", "trade": "trades", "session": "statuses"}
"""Our channel -> Alpaca's subscription key."""
MAX_SYMBOLS_PER_REQUEST = 100
"""Alpaca documents no per-request cap; 100 symbols keep a request small. (The free IEX
plan caps the session at 30 symbols for trades and quotes: more is error 405.)"""
PING_INTERVAL_S = 15.0
RETRY_AFTER_S = 60.0
"""After 406 (another session holds the endpoint's one connection): wait this long."""
FATAL_CODES = {
    401: "no credentials were sent",
    402: "check the key and secret",
    408: "the account lacks Data v2",
    409: "the plan does not include this feed",
}
"""Errors about the session that no retry can fix, with the hint the rejection carries."""
RETRY_CODES = {401: 10.0, 404: 10.0, 500: 10.0}
"""Transient refusals: seconds to wait at least before the next attempt."""
HALT_CODES = frozenset({"2", "H", "P", "Q"})
RESUME_CODES = frozenset({"3", "T"})
INFO_CODES = frozenset({"5", "6", "7", "8", "9", "A", "C", "D", "E", "F"})
STALE_MIN_S = {"quote": 10.0, "trade": 60.0, "session": 7 * 86_400.0}
"""Statuses come only when a halt starts or ends; silence for days is normal, so a
``session:`` stream is listed (``/api/feeds`` shows it) but never flagged stale."""


class AlpacaAdapter:
    """Alpaca v2 stock stream for one catalog venue; symbols are the references' tickers."""

    def __init__(
        self, venue: Venue, catalog: Catalog, *, retry_after_s: float = RETRY_AFTER_S
    ) -> None:
        self.venue = venue
        self.references = _references(venue, catalog)
        self.retry_after_s = retry_after_s
        self.feed = DEFAULT_FEED
        self._symbols = sorted(self.references)
        self._by_underlying: dict[str, list[str]] = {}
        for symbol in self._symbols:
            underlying = self.references[symbol].underlying
            self._by_underlying.setdefault(underlying, []).append(symbol)
        self._credentials: tuple[SecretStr, SecretStr] | None = None
        self.acks = SubscriptionCheck(self._symbols, MAX_SYMBOLS_PER_REQUEST)
        ping = _request("subscribe", statuses=self._symbols[:1]) if self._symbols else None
        self.spec = AdapterSpec(
            url=URL.format(feed=DEFAULT_FEED),
            ping_interval_s=PING_INTERVAL_S if ping else None,
            ping_message=ping,
            max_topics_per_request=len(CHANNELS) * MAX_SYMBOLS_PER_REQUEST,
            stale_min_s=STALE_MIN_S,
        )

    # ------------------------------------------------------ declarations
    def configure(self, settings: VenueSettings) -> None:
        """Take the key id and secret (both required) and the feed (``sip``, ``iex``)."""
        prefix = f"venues.{self.venue.id}"
        key = _required(settings.api_key, f"{prefix}.api_key", "an API key id")
        secret = _required(settings.api_secret, f"{prefix}.api_secret", "an API secret")
        feed = settings.feed or DEFAULT_FEED
        if feed not in FEEDS:
            raise ConfigError(
                f"feed must be one of {list(FEEDS)}, found {feed!r}",
                key=f"{prefix}.feed",
                source="settings",
            )
        self.feed, self._credentials = feed, (key, secret)
        self.spec = replace(self.spec, url=URL.format(feed=feed))
        log.info("alpaca adapter configured", extra={"venue": self.venue.id, "url": self.spec.url})

    def streams(self) -> list[str]:
        streams = [f"{ch}:{s}" for ch in ("quote", "trade") for s in self._symbols]
        return streams + [f"session:{u}" for u in sorted(self._by_underlying)]

    def subscribe_messages(self) -> list[str]:
        """Auth (once configured), then every symbol's quotes, trades and statuses."""
        messages: list[str] = []
        if self._credentials is not None:
            key, secret = (value.get_secret_value() for value in self._credentials)
            auth = {"action": "auth", "key": key, "secret": secret}
            messages.append(msgspec.json.encode(auth).decode())
        for chunk in chunked(self._symbols, MAX_SYMBOLS_PER_REQUEST):
            messages.append(_request("subscribe", quotes=chunk, trades=chunk, statuses=chunk))
        return messages

    def resync_messages(self, stream: str) -> list[str]:
        channel, name = split_stream(stream)
        key = CHANNELS.get(channel)
        if channel == "session":
            symbols = self._by_underlying.get(name, [])
        else:
            symbols = [name] if name in self.references else []
        if key is None or not symbols:
            return []
        return [_request("unsubscribe", **{key: symbols}), _request("subscribe", **{key: symbols})]

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
            elif isinstance(item, WireStatus):
                events.extend(self._status(item, ts_recv))
            elif isinstance(item, WireUnsupported):
                detail = f"{unsupported_kind(item)} for {short(item.S)} is not applied"
                raise QuarantineError("unsupported type", detail=detail)
            else:
                self._control(item)
        return events

    def _quote(self, item: WireQuote, ts_recv: int) -> Quote:
        reference = self._reference(item.S)
        return Quote(
            ts_event=parse_timestamp(item.t),
            ts_recv=ts_recv,
            venue=self.venue.id,
            instrument_id=reference.id,
            symbol=item.S,
            bid_px=item.bp,
            bid_sz=item.bs,
            ask_px=item.ap,
            ask_sz=item.as_,
        )

    def _trade(self, item: WireTrade, ts_recv: int) -> Trade:
        reference = self._reference(item.S)
        return Trade(
            ts_event=parse_timestamp(item.t),
            ts_recv=ts_recv,
            venue=self.venue.id,
            instrument_id=reference.id,
            symbol=item.S,
            price=item.p,
            size=item.s,
            side="unknown",
            trade_id=f"{item.x}:{item.i}" if item.x else str(item.i),
        )

    def _status(self, item: WireStatus, ts_recv: int) -> list[Event]:
        reference = self._reference(item.S)
        ts_event = parse_timestamp(item.t)
        session: Session
        if item.sc in HALT_CODES:
            session = "halted"
        elif item.sc in RESUME_CODES:
            session = session_at(ts_event)
        elif item.sc in INFO_CODES:
            return []
        else:
            detail = f"{short(item.sc)} ({short(item.sm)}) for {item.S}"
            raise QuarantineError("unknown status", detail=detail)
        return [
            SessionState(
                ts_event=ts_event,
                ts_recv=ts_recv,
                venue=self.venue.id,
                underlying=reference.underlying,
                session=session,
            )
        ]

    def _control(self, item: WireSuccess | WireSubscription | WireError) -> None:
        if isinstance(item, WireSuccess):
            if item.msg == "connected":
                self.acks.reset()
            elif item.msg != "authenticated":
                raise QuarantineError("bad field", detail=f"success msg {short(item.msg)}")
        elif isinstance(item, WireSubscription):
            missing = self.acks.missing(item)
            if missing:
                listed = ", ".join(f"{ch} {s}" for ch, s in missing)
                raise QuarantineError("subscription refused", detail=f"not subscribed: {listed}")
        else:
            self._error(item)

    def _error(self, item: WireError) -> None:
        message = short(item.msg, 200) or "no message"
        code = item.code
        if code in FATAL_CODES and not (code == 401 and self._credentials is not None):
            hint = FATAL_CODES[code]
            detail = f"{message} ({hint}; feed {self.feed!r})"
            raise VenueRejectedError(detail, code=str(code), fatal=True)
        if code == 406:
            raise VenueRejectedError(message, code="406", retry_after_s=self.retry_after_s)
        if code in RETRY_CODES:
            raise VenueRejectedError(message, code=str(code), retry_after_s=RETRY_CODES[code])
        if code == 405:
            raise QuarantineError("subscription refused", detail=f"405 {message}")
        raise QuarantineError("venue error", detail=f"{code} {message}")

    def _reference(self, symbol: str) -> Reference:
        reference = self.references.get(symbol)
        if reference is None:
            raise QuarantineError("unknown symbol", detail=f"{short(symbol)} on {self.venue.id}")
        return reference


# -------------------------------------------------------------------- helpers
def _request(action: str, **channels: list[str]) -> str:
    return msgspec.json.encode({"action": action, **channels}).decode()


def _required(value: SecretStr | None, key: str, what: str) -> SecretStr:
    if value is None or not value.get_secret_value().strip():
        raise ConfigError(
            f"Alpaca authenticates every connection with {what}; none is set",
            key=key,
            source="settings",
        )
    return value


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
