"""Market ticks to wire frames (pure): the simulator's protocol, in one place.

Every frame is one JSON object per websocket message. Decimals are strings with the
digits the market produced; ``ts`` is integer nanoseconds since the epoch (sim time).
docs/simulator.md describes the protocol.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any, NamedTuple

import orjson

from divergence.sim.market import MarketTick, SimFx, SimPool, SimQuote, SimSession, SimTrade


class WireFrame(NamedTuple):
    """One frame for one venue; ``key`` is the symbol (or currency) it is about.

    ``key`` None means every subscriber of the venue gets it (heartbeats).
    """

    venue: str
    key: str | None
    text: str


def _dump(obj: dict[str, Any]) -> str:
    return orjson.dumps(obj).decode()


def _d(value: Decimal) -> str:
    return str(value)


def hello_frame(venue: str) -> str:
    return _dump({"op": "hello", "venue": venue})


def subscribed_frame(symbols: Iterable[str], unknown: Iterable[str]) -> str:
    return _dump({"op": "subscribed", "symbols": sorted(symbols), "unknown": sorted(unknown)})


def error_frame(message: str) -> str:
    return _dump({"op": "error", "message": message})


def heartbeat_frame(ts_ns: int) -> str:
    return _dump({"ch": "heartbeat", "ts": ts_ns})


def session_frame(symbol: str, ts_ns: int, session: str) -> str:
    return _dump({"ch": "session", "sym": symbol, "ts": ts_ns, "session": session})


def quote_frame(quote: SimQuote, ts_ns: int) -> str:
    return _dump(
        {
            "ch": quote.channel,
            "sym": quote.symbol,
            "ts": ts_ns,
            "bid": _d(quote.bid),
            "bq": _d(quote.bid_sz),
            "ask": _d(quote.ask),
            "aq": _d(quote.ask_sz),
        }
    )


def trade_frame(trade: SimTrade, ts_ns: int) -> str:
    return _dump(
        {
            "ch": "trade",
            "sym": trade.symbol,
            "ts": ts_ns,
            "px": _d(trade.price),
            "qty": _d(trade.size),
            "side": trade.side,
            "id": trade.trade_id,
        }
    )


def pool_frame(pool: SimPool, ts_ns: int) -> str:
    return _dump(
        {
            "ch": "pool",
            "sym": pool.symbol,
            "pool": pool.pool,
            "ts": ts_ns,
            "base": _d(pool.base),
            "quote": _d(pool.quote),
            "fee_bps": _d(pool.fee_bps),
        }
    )


def fx_frame(fx: SimFx, ts_ns: int) -> str:
    return _dump({"ch": "fx", "ccy": fx.currency, "ts": ts_ns, "rate": _d(fx.rate)})


def _session(item: SimSession) -> WireFrame:
    return WireFrame(item.venue, item.symbol, session_frame(item.symbol, item.ts_ns, item.session))


def tick_frames(tick: MarketTick) -> list[WireFrame]:
    """The frames of one tick in publishing order: sessions, fx, quotes, pools, trades,
    then one heartbeat per (non-silent) venue."""
    ts = tick.ts_ns
    frames = [_session(s) for s in tick.sessions]
    frames += [WireFrame(f.venue, f.currency, fx_frame(f, ts)) for f in tick.fx]
    frames += [WireFrame(q.venue, q.symbol, quote_frame(q, ts)) for q in tick.quotes]
    frames += [WireFrame(p.venue, p.symbol, pool_frame(p, ts)) for p in tick.pools]
    frames += [WireFrame(t.venue, t.symbol, trade_frame(t, ts)) for t in tick.trades]
    frames += [WireFrame(v, None, heartbeat_frame(ts)) for v in tick.heartbeats]
    return frames
