"""The ``sim`` adapter: the built-in simulator's wire protocol (docs/simulator.md) to events.

Pure: :meth:`SimAdapter.parse` turns one frame into canonical events or raises
:class:`~divergence.errors.QuarantineError`. Decimals must be JSON strings and are parsed
with ``Decimal(text)``, never through a float. Symbols map to catalog instrument ids
through this venue's listings only; an unknown symbol is quarantined, never guessed.

Quarantine reasons: ``malformed json``, ``bad shape``, ``missing field``,
``unknown channel``, ``unknown symbol``, ``price not a string``, ``size not a string``,
``bad decimal``, ``bad timestamp``, ``bad field``, ``venue error``, ``wrong venue``,
``subscription refused``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

import orjson

from divergence.catalog import Catalog, Venue
from divergence.clock import ns_from_datetime
from divergence.errors import QuarantineError
from divergence.events import (
    SESSIONS,
    Event,
    FxRate,
    Heartbeat,
    PoolState,
    Quote,
    SessionState,
    Side,
    Trade,
)
from divergence.venues.contract import AdapterSpec, BookSpec

MIN_TS = ns_from_datetime(datetime(2000, 1, 1, tzinfo=UTC))
MAX_TS = ns_from_datetime(datetime(2100, 1, 1, tzinfo=UTC))
MAX_DECIMAL_CHARS = 64
SIDES: tuple[Side, ...] = ("buy", "sell", "unknown")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?(nan|inf|infinity)", re.I)
_PRICE_QUANTUM = Decimal(1).scaleb(-18)

Obj = dict[str, Any]


class SimAdapter:
    """Parses one simulated venue; which symbols it knows comes from the catalog."""

    def __init__(self, venue: Venue, catalog: Catalog) -> None:
        self.venue = venue
        self.instruments: dict[str, str] = {}  # venue symbol -> instrument id
        self.underlyings: dict[str, str] = {}  # reference symbol -> underlying
        self.currencies: frozenset[str] = frozenset()
        if venue.kind == "reference":
            for ref in catalog.references_on(venue.id):
                self.instruments[ref.symbol] = ref.id
                self.underlyings[ref.symbol] = ref.underlying
        elif venue.kind == "fx":
            self.currencies = frozenset(s.currency for s in catalog.stablecoin)
        else:
            self.instruments = {t.venue_symbol: t.id for t in catalog.tokens_on(venue.id)}
        self._channels: dict[str, Callable[[Obj, int, int], Event]] = {
            "quote": self._quote,
            "nbbo": self._quote,
            "trade": self._trade,
            "pool": self._pool,
            "fx": self._fx,
            "session": self._session,
            "heartbeat": self._heartbeat,
        }

    @property
    def symbols(self) -> list[str]:
        """What this venue subscribes to: venue symbols, underlyings or currencies."""
        return sorted(self.currencies) if self.venue.kind == "fx" else sorted(self.instruments)

    spec = AdapterSpec(url="", ping_interval_s=None, max_topics_per_request=1_000)
    """The simulator's URL comes from the running SimServer; it sends heartbeats itself."""

    def streams(self) -> list[str]:
        kind = self.venue.kind
        if kind == "fx":
            return [f"fx:{c}" for c in sorted(self.currencies)]
        if kind == "amm":
            return [f"pool:{s}" for s in self.symbols]
        channels = ("quote", "trade", "session") if kind == "reference" else ("quote", "trade")
        streams = [f"{ch}:{s}" for ch in channels for s in self.symbols if ch != "session"]
        if kind == "reference":
            streams += [f"session:{u}" for u in sorted(set(self.underlyings.values()))]
        return streams

    def subscribe_messages(self) -> list[str]:
        return [orjson.dumps({"op": "subscribe", "symbols": self.symbols}).decode()]

    def resync_messages(self, stream: str) -> list[str]:
        return self.subscribe_messages()

    def book_spec(self, symbol: str) -> BookSpec | None:
        return None

    def parse(self, frame: str | bytes, *, ts_recv: int) -> list[Event]:
        obj = _load(frame)
        if "op" in obj:
            self._control(obj)
            return []
        channel = _field(obj, "ch")
        handler = self._channels.get(channel) if isinstance(channel, str) else None
        if handler is None:
            raise QuarantineError("unknown channel", detail=_short(channel))
        return [handler(obj, _timestamp(obj), ts_recv)]

    def _control(self, obj: Obj) -> None:
        op = obj["op"]
        if op == "hello":
            venue = _field(obj, "venue")
            if venue != self.venue.id:
                raise QuarantineError(
                    "wrong venue", detail=f"expected {self.venue.id!r}, found {_short(venue)}"
                )
        elif op == "subscribed":
            unknown = obj.get("unknown") or []
            if unknown:
                raise QuarantineError("subscription refused", detail=f"unknown: {_short(unknown)}")
        elif op == "error":
            raise QuarantineError("venue error", detail=_short(obj.get("message")))
        else:
            raise QuarantineError("unknown channel", detail=f"op {_short(op)}")

    def _instrument(self, obj: Obj) -> tuple[str, str]:
        symbol = _text(obj, "sym")
        instrument = self.instruments.get(symbol)
        if instrument is None:
            raise QuarantineError("unknown symbol", detail=f"{_short(symbol)} on {self.venue.id}")
        return symbol, instrument

    def _quote(self, obj: Obj, ts: int, ts_recv: int) -> Event:
        symbol, instrument = self._instrument(obj)
        return Quote(
            ts_event=ts,
            ts_recv=ts_recv,
            venue=self.venue.id,
            instrument_id=instrument,
            symbol=symbol,
            bid_px=_decimal(obj, "bid", "price"),
            bid_sz=_decimal(obj, "bq", "size"),
            ask_px=_decimal(obj, "ask", "price"),
            ask_sz=_decimal(obj, "aq", "size"),
        )

    def _trade(self, obj: Obj, ts: int, ts_recv: int) -> Event:
        symbol, instrument = self._instrument(obj)
        side = _text(obj, "side")
        if side not in SIDES:
            raise QuarantineError("bad field", detail=f"side {_short(side)}")
        return Trade(
            ts_event=ts,
            ts_recv=ts_recv,
            venue=self.venue.id,
            instrument_id=instrument,
            symbol=symbol,
            price=_decimal(obj, "px", "price"),
            size=_decimal(obj, "qty", "size"),
            side=side,
            trade_id=_text(obj, "id"),
        )

    def _pool(self, obj: Obj, ts: int, ts_recv: int) -> Event:
        symbol, instrument = self._instrument(obj)
        base = _decimal(obj, "base", "size")
        quote = _decimal(obj, "quote", "size")
        return PoolState(
            ts_event=ts,
            ts_recv=ts_recv,
            venue=self.venue.id,
            instrument_id=instrument,
            symbol=symbol,
            pool=_text(obj, "pool"),
            reserve_base=base,
            reserve_quote=quote,
            price=pool_price(base, quote),
            liquidity=None,
            fee_bps=_decimal(obj, "fee_bps", "size"),
        )

    def _fx(self, obj: Obj, ts: int, ts_recv: int) -> Event:
        currency = _text(obj, "ccy")
        if currency not in self.currencies:
            raise QuarantineError("unknown symbol", detail=f"{_short(currency)} on {self.venue.id}")
        rate = _decimal(obj, "rate", "price")
        return FxRate(
            ts_event=ts, ts_recv=ts_recv, venue=self.venue.id, currency=currency, rate_usd=rate
        )

    def _session(self, obj: Obj, ts: int, ts_recv: int) -> Event:
        symbol = _text(obj, "sym")
        underlying = self.underlyings.get(symbol)
        if underlying is None:
            raise QuarantineError("unknown symbol", detail=f"{_short(symbol)} on {self.venue.id}")
        session = _text(obj, "session")
        if session not in SESSIONS:
            raise QuarantineError("bad field", detail=f"session {_short(session)}")
        return SessionState(
            ts_event=ts,
            ts_recv=ts_recv,
            venue=self.venue.id,
            underlying=underlying,
            session=session,
        )

    def _heartbeat(self, obj: Obj, ts: int, ts_recv: int) -> Event:
        return Heartbeat(ts_event=ts, ts_recv=ts_recv, venue=self.venue.id)


def pool_price(base: Decimal, quote: Decimal) -> Decimal:
    """Quote per base unit of a constant-product pool, to at most 18 decimals."""
    if base == 0:
        raise QuarantineError("non-positive price", detail="pool base reserve is 0")
    with localcontext() as ctx:
        ctx.prec = 80
        price = quote / base
        if price.is_finite() and price.adjusted() < 20:
            price = price.quantize(_PRICE_QUANTUM)
    return price


def _load(frame: str | bytes) -> Obj:
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise QuarantineError("malformed json", detail=str(exc)[:200]) from None
    if not isinstance(obj, dict):
        raise QuarantineError(
            "bad shape", detail=f"expected a JSON object, found {type(obj).__name__}"
        )
    return obj


def _field(obj: Obj, key: str) -> Any:
    if key not in obj:
        raise QuarantineError("missing field", detail=key)
    return obj[key]


def _text(obj: Obj, key: str) -> str:
    value = _field(obj, key)
    if not isinstance(value, str):
        raise QuarantineError("bad field", detail=f"{key} must be a string, found {_short(value)}")
    return value


def _decimal(obj: Obj, key: str, kind: str) -> Decimal:
    value = _field(obj, key)
    if not isinstance(value, str):
        raise QuarantineError(f"{kind} not a string", detail=f"{key}={_short(value)}")
    if len(value) > MAX_DECIMAL_CHARS or not _NUMBER.fullmatch(value):
        raise QuarantineError("bad decimal", detail=f"{key}={_short(value)}")
    try:
        return Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid literals
        raise QuarantineError("bad decimal", detail=f"{key}={_short(value)}") from None


def _timestamp(obj: Obj) -> int:
    value = _field(obj, "ts")
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_TS <= value < MAX_TS:
        raise QuarantineError("bad timestamp", detail=f"ts={_short(value)} (integer ns expected)")
    return value


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
