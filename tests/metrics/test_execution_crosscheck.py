"""Acceptance: the polars metrics agree with a plain-Python reimplementation on a
simulator hour.

The deterministic simulator (divergence.sim.market) runs the oct10 scenario's market
model from 10:00 to 11:00 ET on Friday 10 Oct 2025 (regular session, no scripted
episode), ticking every 0.73 s of sim time: 3 underlyings, two book venues and one AMM
pool each, the SIP reference. Every quote and trade of a tick carries the tick's
timestamp, so the trade-time BBO must come from the previous tick (strictly before).
Token prices become USD per share with the median fx rate of the tick and the
multiplier ``k``; the consolidated BBO is built here, one row per change. The reference
implementation below uses only ``bisect`` and arithmetic, written from metrics.md §4.1
and §4.3, not from the polars code.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from bisect import bisect_left, bisect_right
from collections import defaultdict
from typing import Any

import polars as pl
import pytest

from divergence.catalog import Catalog
from divergence.clock import NS_PER_MS, NS_PER_SECOND
from divergence.metrics.execution import REALIZED_HORIZONS, compute_execution_quality
from divergence.metrics.schemas import (
    CONSOLIDATED_BBO_SCHEMA,
    REFERENCE_NBBO_SCHEMA,
    USD_QUOTES_SCHEMA,
    USD_TRADES_SCHEMA,
)
from divergence.metrics.trade_through import compute_trade_throughs
from divergence.sessions import session_at
from divergence.sim.market import MarketTick, generate_ticks, listings
from divergence.sim.scenario import OCT10, OCT10_SCENARIO, et_ns

START = et_ns(OCT10, 10, 0)
END = et_ns(OCT10, 11, 0)
SCENARIO = dataclasses.replace(OCT10_SCENARIO, start_ns=START, speed_schedule=((START, 1.0),))
TICK_MS = 730  # x rate 1.0 = 0.73 sim seconds per tick
MAX_AGE = 60 * NS_PER_SECOND  # the default max_quote_age_ns of both functions
REF_MAX_AGE = 2 * NS_PER_SECOND
BOOK_FEE_BPS = 10.0
POOL_FEE = 0.003
TOL = 1e-9


@dataclasses.dataclass
class SimFrames:
    trades: list[dict[str, Any]]
    quotes: list[dict[str, Any]]
    bbo: list[dict[str, Any]]
    reference: list[dict[str, Any]]


def _fx(tick: MarketTick) -> dict[str, float]:
    rates: dict[str, list[float]] = defaultdict(list)
    for fx in tick.fx:
        rates[fx.currency].append(float(fx.rate))
    return {"USD": 1.0} | {ccy: statistics.median(v) for ccy, v in rates.items()}


def _simulate(catalog: Catalog) -> SimFrames:
    by_symbol = {(x.venue, x.symbol): x for x in listings(catalog)}
    out = SimFrames([], [], [], [])
    books: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
    last_bbo: dict[str, tuple[float, float]] = {}
    for tick in generate_ticks(catalog, SCENARIO, seed=11, tick_ms=TICK_MS, speed=1.0):
        if tick.ts_ns >= END:
            return out
        ts, fx = tick.ts_ns, _fx(tick)
        for q in tick.quotes:
            if q.channel == "nbbo":
                row = {"ts_event": ts, "underlying": q.symbol, "nbb": float(q.bid)}
                out.reference.append(row | {"nbo": float(q.ask), "session": session_at(ts)})
                continue
            x = by_symbol[(q.venue, q.symbol)]
            usd, k = fx[x.currency], x.k_at(ts)
            bid, ask = float(q.bid) * usd / k, float(q.ask) * usd / k
            _quote(out, ts, x.underlying, x.venue, x.token_id, bid, ask, BOOK_FEE_BPS, "book")
            books[x.underlying][x.token_id] = (bid, ask)
        for p in tick.pools:
            x = by_symbol[(p.venue, p.symbol)]
            mid = float(p.quote) / float(p.base) * fx[x.currency] / x.k_at(ts)
            bid, ask = mid * (1 - POOL_FEE), mid / (1 - POOL_FEE)
            _quote(out, ts, x.underlying, x.venue, x.token_id, bid, ask, 0.0, "pool")
            books[x.underlying][x.token_id] = (bid, ask)
        for u, tops in books.items():
            best = (max(b for b, _ in tops.values()), min(a for _, a in tops.values()))
            if last_bbo.get(u) != best:
                last_bbo[u] = best
                out.bbo.append({"ts_event": ts, "underlying": u, "best_bid": best[0]} | {
                    "best_ask": best[1], "venues": len(tops)
                })  # fmt: skip
        for t in tick.trades:
            if (t.venue, t.symbol) not in by_symbol:
                continue  # the SIP's own trades
            x = by_symbol[(t.venue, t.symbol)]
            k = x.k_at(ts)
            price, size = float(t.price) * fx[x.currency] / k, float(t.size) * k
            out.trades.append(
                {"ts_event": ts, "underlying": x.underlying, "venue": x.venue}
                | {"instrument_id": x.token_id, "trade_id": t.trade_id, "price": price}
                | {"size": size, "notional_usd": price * size, "side": t.side}
            )  # fmt: skip
    raise AssertionError("unreachable: the tick generator is infinite")


def _quote(
    out: SimFrames, ts: int, u: str, venue: str, iid: str, bid: float, ask: float, fee: float,
    kind: str,
) -> None:  # fmt: skip
    out.quotes.append(
        {"ts_event": ts, "underlying": u, "venue": venue, "instrument_id": iid}
        | {"source_kind": kind, "bid": bid, "ask": ask, "fee_bps": fee}
    )


def _frame(rows: list[dict[str, Any]], schema: pl.Schema) -> pl.LazyFrame:
    frame = pl.DataFrame(rows, infer_schema_length=None)
    missing = [pl.lit(None).alias(c) for c in schema if c not in frame.columns]
    filled = frame.with_columns(missing).with_columns(pl.col("ts_event").cast(pl.Datetime("ns")))
    return filled.select(pl.col(c).cast(t) for c, t in schema.items()).lazy()


@pytest.fixture(scope="module")
def sim(catalog: Catalog) -> SimFrames:
    return _simulate(catalog)


def _asof(times: list[int], t: int, *, strict: bool, max_age: int) -> int | None:
    """Index of the latest time < t (strict) or <= t, if at most max_age old."""
    i = (bisect_left(times, t) if strict else bisect_right(times, t)) - 1
    return i if i >= 0 and t - times[i] <= max_age else None


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=TOL, abs_tol=TOL)


@dataclasses.dataclass
class Series:
    """One key's rows in time order, with their times for bisect."""

    rows: list[dict[str, Any]]
    times: list[int]


def _index(rows: list[dict[str, Any]], *keys: str) -> dict[tuple[str, ...], Series]:
    grouped: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        grouped[tuple(r[k] for k in keys)].append(r)
    return {k: Series(v, [r["ts_event"] for r in v]) for k, v in grouped.items()}


def _mid(row: dict[str, Any]) -> float:
    return (row["best_bid"] + row["best_ask"]) / 2


def _reference_execution(bbo: Series, trade: dict[str, Any]) -> dict[str, Any]:
    """ES, RS_h and the as-of alignment of one trade, from first principles."""
    t, price = trade["ts_event"], trade["price"]
    i = _asof(bbo.times, t, strict=True, max_age=MAX_AGE)
    mid = None if i is None else _mid(bbo.rows[i])
    d = {"buy": 1, "sell": -1}[trade["side"]]
    es = None if mid is None else 2 * d * (price - mid)
    row: dict[str, Any] = {"bbo_ts": None if i is None else bbo.times[i], "mid_usd": mid}
    row["effective_spread_usd"] = es
    row["effective_spread_bps"] = None if es is None or mid is None else es / mid * 1e4
    for h in REALIZED_HORIZONS:
        j = _asof(bbo.times, t + h.ns, strict=False, max_age=MAX_AGE)
        mid_h = None if j is None else _mid(bbo.rows[j])
        rs = None if mid_h is None else 2 * d * (price - mid_h)
        row[f"mid_{h.label}_usd"] = mid_h
        row[f"realized_spread_{h.label}_usd"] = rs
        row[f"price_impact_{h.label}_usd"] = None if rs is None or es is None else es - rs
    return row


@pytest.fixture(scope="module")
def execution(sim: SimFrames) -> dict[tuple[str, str], dict[str, Any]]:
    """compute_execution_quality on the simulator hour, keyed by (venue, trade_id)."""
    out = compute_execution_quality(
        _frame(sim.trades, USD_TRADES_SCHEMA),
        _frame(sim.bbo, CONSOLIDATED_BBO_SCHEMA),
        _frame(sim.reference, REFERENCE_NBBO_SCHEMA),
    ).collect()
    assert out.height == len(sim.trades)
    return {(r["venue"], r["trade_id"]): r for r in out.iter_rows(named=True)}


def test_execution_crosscheck_on_a_simulator_hour(
    sim: SimFrames, execution: dict[tuple[str, str], dict[str, Any]]
) -> None:
    got = execution
    assert len(got) == len(sim.trades) > 5_000
    bbo = _index(sim.bbo, "underlying")
    checked = 0
    for trade in sim.trades:
        mine = _reference_execution(bbo[(trade["underlying"],)], trade)
        row = got[(trade["venue"], trade["trade_id"])]
        assert _ns(row["bbo_ts"]) == mine.pop("bbo_ts"), trade
        for column, value in mine.items():
            assert _close(row[column], value), (column, row[column], value, trade)
            checked += value is not None
    assert checked > 17 * len(sim.trades)  # of 18 values per trade, nearly all defined
    # the last 4 minutes: the 5 min horizon lies past the data (last BBO > 60 s old): null
    tail = [r for r in got.values() if _ns(r["ts_event"]) > END - 240 * NS_PER_SECOND]
    assert tail and all(r["realized_spread_5m_usd"] is None for r in tail)


def _ns(value: Any) -> int:
    return int(pl.Series([value], dtype=pl.Datetime("ns")).cast(pl.Int64)[0])


def _ns(value: Any) -> int | None:
    if value is None:
        return None
    return int(pl.Series([value], dtype=pl.Datetime("ns")).cast(pl.Int64)[0])


def test_execution_crosscheck_reference_alignment(
    sim: SimFrames, execution: dict[tuple[str, str], dict[str, Any]]
) -> None:
    got = execution
    refs = _index(sim.reference, "underlying")
    live = 0
    for trade in sim.trades:
        ref = refs[(trade["underlying"],)]
        i = _asof(ref.times, trade["ts_event"], strict=True, max_age=MAX_AGE)
        row = got[(trade["venue"], trade["trade_id"])]
        if i is None:
            assert (row["ref_state"], row["ref_ts"]) == ("missing", None)
            continue
        assert _ns(row["ref_ts"]) == ref.times[i]
        fresh = trade["ts_event"] - ref.times[i] <= REF_MAX_AGE
        assert row["ref_state"] == ("live" if fresh else "stale")
        ref_mid = (ref.rows[i]["nbb"] + ref.rows[i]["nbo"]) / 2
        d = 1 if trade["side"] == "buy" else -1
        xes = 2 * d * (trade["price"] - ref_mid) / ref_mid * 1e4 if fresh else None
        assert _close(row["xes_bps"], xes), (row["xes_bps"], xes)
        live += fresh
    assert live > 0.9 * len(sim.trades)


def _reference_trade_through(
    streams: dict[tuple[str, ...], Series], trade: dict[str, Any]
) -> tuple[bool, float | None]:
    """(traded_through, protected price) per §4.3 with the 1 s flicker rule."""
    t, d = trade["ts_event"], 1 if trade["side"] == "buy" else -1
    best: tuple[float, float] | None = None  # (d · limit, price)
    for (underlying, venue, _), stream in streams.items():
        if venue == trade["venue"] or underlying != trade["underlying"]:
            continue
        now = _asof(stream.times, t, strict=True, max_age=MAX_AGE)
        start = _asof(stream.times, t - NS_PER_SECOND, strict=False, max_age=MAX_AGE)
        if now is None or start is None:
            continue
        side = "ask" if d == 1 else "bid"
        shown = [stream.rows[k][side] for k in range(start, now + 1)]  # in force in the second
        worst = max(shown) if d == 1 else min(shown)
        limit = worst * (1 + d * stream.rows[now]["fee_bps"] / 1e4)
        if best is None or d * limit < best[0]:
            best = (d * limit, worst)
    if best is None:
        return False, None
    return d * trade["price"] > best[0], best[1]


def test_trade_through_crosscheck_on_a_simulator_hour(sim: SimFrames) -> None:
    out = compute_trade_throughs(
        _frame(sim.trades, USD_TRADES_SCHEMA), _frame(sim.quotes, USD_QUOTES_SCHEMA)
    ).collect()
    streams = _index(sim.quotes, "underlying", "venue", "instrument_id")
    got = {(r["venue"], r["trade_id"]): r for r in out.iter_rows(named=True)}
    flagged = 0
    for trade in sim.trades:
        through, price = _reference_trade_through(streams, trade)
        row = got[(trade["venue"], trade["trade_id"])]
        assert row["traded_through"] == through, trade
        assert _close(row["protected_price_usd"], price), (row, price)
        flagged += through
    assert 0 < flagged < len(sim.trades)
    assert TICK_MS * NS_PER_MS < NS_PER_SECOND  # a 1 s window spans more than one update
