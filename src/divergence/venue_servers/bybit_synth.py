"""A deterministic Bybit v5 spot session: books, trades and tickers in Bybit's wire format.

:func:`synthesize` builds what :class:`~divergence.venue_servers.bybit.BybitServer`
serves: for every catalog listing on the venue an ``orderbook.50`` book (50 levels a
side, tick 0.01, lot 0.001) moved by a small order-flow model (orders joining and
improving the touch, cancels, market orders sweeping the top and printing
``publicTrade`` fills at the levels they take), and for every fx listing a spot
``tickers`` snapshot about once a second. Frames carry absolute venue times from
:data:`BASE_TS_MS` (``ts`` = base + ``at_ms``; ``cts`` a few ms earlier).

Book deltas are the difference of the venue's top-50 view before and after each step,
so levels that leave the top 50 are deleted explicitly (size ``"0"``) and levels from
below enter, as on Bybit. ``u`` is contiguous per topic except for one service-restart
style full resend (a ``delta`` with ``u == 1`` and the whole book) at ``reset_at`` of
the session on the second listing; ``u`` continues from 1 afterwards.

Randomness is ``random.Random(f"{seed}:{symbol}")`` per listing, drawn only through
``random()``, so a listing's frames do not depend on the others and the output is
reproducible byte for byte (``tests/venues/bybit/test_bybit_recording.py``). Regenerate
the committed file with ``.venv/bin/python -m divergence.venue_servers.bybit_synth``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import msgspec

from divergence.catalog import Catalog, load_catalog
from divergence.content import recordings_dir
from divergence.venue_servers.recording import RecordedFrame, dump_recording
from divergence.venues.bybit import BOOK_CHANNEL, BOOK_DEPTH, TICKER_CHANNEL, TRADE_CHANNEL

BASE_TS_MS = 1_772_463_600_000
"""2026-03-02T15:00:00Z: venue time of ``at_ms == 0`` in the synthesized session."""
RECORDING = "bybit_v5.jsonl"
VENUE = "bybit"
PRICE_DECIMALS = 2
SIZE_DECIMALS = 3
DEEP_LEVELS = 80
START_TICKS = {"AAPLXUSDT": 23_012, "TSLAXUSDT": 34_218, "NVDAXUSDT": 18_164}
"""Opening mid in ticks of 0.01 USDT; other listings draw one between 50 and 500."""
ORDER_LOTS = (5, 10, 20, 40, 75, 100, 150, 250, 400, 500, 750, 1_000, 1_500, 2_500, 4_000)
HEADER = (
    "Bybit v5 public spot session (synthetic) for ingest/recordings/catalog.toml.\n"
    "Regenerate: .venv/bin/python -m divergence.venue_servers.bybit_synth"
)
_ENCODE = msgspec.json.Encoder().encode


def _fmt(units: int, decimals: int) -> str:
    """Integer units to Bybit's text: ``23010, 2`` -> ``"230.1"`` (no trailing zeros)."""
    whole, frac = divmod(units, 10**decimals)
    text = f"{whole}.{frac:0{decimals}d}".rstrip("0")
    return text.rstrip(".")


def _int(rng: random.Random, low: int, high: int) -> int:
    """A uniform integer in ``[low, high]`` from ``random()`` only (stable across versions)."""
    return low + min(high - low, int(rng.random() * (high - low + 1)))


def _pick(rng: random.Random, items: tuple[int, ...]) -> int:
    return items[_int(rng, 0, len(items) - 1)]


def _gap(rng: random.Random, mean: float) -> int:
    """A geometric-like distance (0, 1, 2, ...) with the given mean."""
    return int(-math.log(1.0 - rng.random()) * mean)


@dataclass
class _Market:
    """One listing's deep book in integer ticks and lots, plus its wire counters."""

    symbol: str
    rng: random.Random
    anchor: int
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    u: int = 0
    seq: int = 0
    trade_id: int = 0

    def seed_book(self) -> None:
        rng = self.rng
        bid, ask = self.anchor - _int(rng, 1, 2), self.anchor + _int(rng, 1, 2)
        for _ in range(DEEP_LEVELS):
            self.bids[bid] = _pick(rng, ORDER_LOTS)
            self.asks[ask] = _pick(rng, ORDER_LOTS)
            bid -= 1 + _gap(rng, 1.5)
            ask += 1 + _gap(rng, 1.5)

    def top(self) -> tuple[dict[int, int], dict[int, int]]:
        bids = sorted(self.bids, reverse=True)[:BOOK_DEPTH]
        asks = sorted(self.asks)[:BOOK_DEPTH]
        return {p: self.bids[p] for p in bids}, {p: self.asks[p] for p in asks}

    def step(self) -> list[tuple[bool, int, int]]:
        """One push interval of order flow; returns fills as (buyer aggressed, price, lots)."""
        rolls = sorted(self.rng.random() for _ in range(_int(self.rng, 1, 3)))
        fills: list[tuple[bool, int, int]] = []
        for roll in rolls:  # market orders first: they trade against the published book
            if roll < 0.15:
                fills += self._market_order()
            elif roll < 0.6:
                self._limit_order()
            else:
                self._cancel()
        self._refill()
        return fills

    def _market_order(self) -> list[tuple[bool, int, int]]:
        rng = self.rng
        mid = (max(self.bids) + min(self.asks)) / 2
        lean = max(-0.3, min(0.3, (mid - self.anchor) / self.anchor * 30))
        buy = rng.random() < 0.5 - lean
        side = self.asks if buy else self.bids
        want, fills = _pick(rng, ORDER_LOTS) // _int(rng, 1, 4) + 1, []
        for price in sorted(side, reverse=not buy)[:10]:
            take = min(want, side[price])
            fills.append((buy, price, take))
            side[price] -= take
            if side[price] == 0:
                del side[price]
            want -= take
            if want == 0:
                break
        return fills

    def _limit_order(self) -> None:
        rng = self.rng
        best_bid, best_ask = max(self.bids), min(self.asks)
        is_bid = rng.random() < 0.5
        if best_ask - best_bid > 1 and rng.random() < 0.35:
            price = _int(rng, best_bid + 1, best_ask - 1)
        else:
            price = best_bid - _gap(rng, 6.0) if is_bid else best_ask + _gap(rng, 6.0)
        side = self.bids if is_bid else self.asks
        side[price] = side.get(price, 0) + _pick(rng, ORDER_LOTS)

    def _cancel(self) -> None:
        rng = self.rng
        side = self.bids if rng.random() < 0.5 else self.asks
        prices = sorted(side, reverse=side is self.bids)[:BOOK_DEPTH]
        price = prices[min(len(prices) - 1, _gap(rng, 8.0))]
        if rng.random() < 0.5 or side[price] < 10:
            del side[price]
        else:
            side[price] -= _int(rng, 1, side[price] - 1)

    def _refill(self) -> None:
        while len(self.bids) < DEEP_LEVELS:
            self.bids[min(self.bids) - 1 - _gap(self.rng, 1.5)] = _pick(self.rng, ORDER_LOTS)
        while len(self.asks) < DEEP_LEVELS:
            self.asks[max(self.asks) + 1 + _gap(self.rng, 1.5)] = _pick(self.rng, ORDER_LOTS)


def _levels(side: dict[int, int], descending: bool) -> list[list[str]]:
    return [
        [_fmt(p, PRICE_DECIMALS), _fmt(side[p], SIZE_DECIMALS)]
        for p in sorted(side, reverse=descending)
    ]


def _diff(before: dict[int, int], after: dict[int, int]) -> dict[int, int]:
    changed = {p: s for p, s in after.items() if before.get(p) != s}
    changed.update({p: 0 for p in before if p not in after})
    return changed


def _book_frame(
    m: _Market, kind: str, sides: tuple[dict[int, int], dict[int, int]], ts: int, cts: int
) -> str:
    data: dict[str, object] = {"s": m.symbol, "b": _levels(sides[0], True)}
    data |= {"a": _levels(sides[1], False), "u": m.u, "seq": m.seq}
    topic = f"{BOOK_CHANNEL}.{BOOK_DEPTH}.{m.symbol}"
    return _ENCODE({"topic": topic, "ts": ts, "type": kind, "data": data, "cts": cts}).decode()


def _trade_frame(m: _Market, fills: list[tuple[bool, int, int]], cts: int) -> str:
    items = []
    for buy, price, lots in fills:
        m.trade_id += 1
        m.seq += _int(m.rng, 1, 9)
        items.append(
            {
                "i": str(m.trade_id),
                "T": cts,
                "p": _fmt(price, PRICE_DECIMALS),
                "v": _fmt(lots, SIZE_DECIMALS),
                "S": "Buy" if buy else "Sell",
                "seq": m.seq,
                "s": m.symbol,
                "BT": False,
                "RPI": False,
            }
        )
    ts = cts + _int(m.rng, 0, 1)
    topic = f"{TRADE_CHANNEL}.{m.symbol}"
    return _ENCODE({"topic": topic, "ts": ts, "type": "snapshot", "data": items}).decode()


def _book_frames(
    m: _Market, seconds: float, updates_per_s: float, reset_ms: int | None
) -> Iterator[RecordedFrame]:
    book, trade = f"book:{m.symbol}", f"trade:{m.symbol}"
    m.seed_book()
    bids, asks = m.top()
    first = _book_frame(m, "snapshot", (bids, asks), BASE_TS_MS, BASE_TS_MS - _int(m.rng, 2, 30))
    yield RecordedFrame(at_ms=0, stream=book, frame=first)
    at_ms, end_ms = 0, int(seconds * 1000)
    floor = max(1, min(20, int(1000 / updates_per_s)))  # Bybit pushes orderbook.50 every 20 ms
    while True:
        at_ms += max(floor, _gap(m.rng, 1000.0 / updates_per_s))
        if at_ms > end_ms:
            return
        fills = m.step()
        new_bids, new_asks = m.top()
        ts = BASE_TS_MS + at_ms
        cts = ts - _int(m.rng, 2, 30)
        if fills:  # the fills' seq precede the book update that shows them
            yield RecordedFrame(at_ms=at_ms, stream=trade, frame=_trade_frame(m, fills, cts))
        m.seq += _int(m.rng, 5, 40)
        if reset_ms is not None and at_ms >= reset_ms:
            reset_ms, m.u = None, 1
            frame = _book_frame(m, "delta", (new_bids, new_asks), ts, cts)
        else:
            sides = _diff(bids, new_bids), _diff(asks, new_asks)
            if not sides[0] and not sides[1]:
                continue
            m.u += 1
            frame = _book_frame(m, "delta", sides, ts, cts)
        yield RecordedFrame(at_ms=at_ms, stream=book, frame=frame)
        bids, asks = new_bids, new_asks


def _ticker_frames(symbol: str, seed: int, seconds: float) -> Iterator[RecordedFrame]:
    """Spot ``tickers`` snapshots about once a second; USD rates drift by a few 1e-6."""
    rng = random.Random(f"{seed}:{symbol}")
    usd_base, usd_quote = 999_920, 999_750  # USD per base / quote currency, in 1e-6
    volume, cs, at_ms = 4_125_031_800, 93_418_552_000 + _int(rng, 0, 10**6), 0
    q4 = Decimal("0.0001")
    while at_ms <= seconds * 1000:
        usd_base += _int(rng, -4, 4)
        usd_quote += _int(rng, -3, 3)
        volume += _int(rng, 0, 250_000)
        cs += _int(rng, 1, 50)
        last = (Decimal(usd_base) / Decimal(usd_quote)).quantize(q4, ROUND_HALF_EVEN)
        prev = Decimal("0.9999")
        data = {
            "symbol": symbol,
            "lastPrice": str(last),
            "highPrice24h": "1.0003",
            "lowPrice24h": "0.9996",
            "prevPrice24h": str(prev),
            "volume24h": _fmt(volume, 2),
            "turnover24h": str((Decimal(volume) / 100 * last).quantize(q4)),
            "price24hPcnt": str((last / prev - 1).quantize(q4)),
            "usdIndexPrice": _fmt(usd_base, 6),
        }
        ts = BASE_TS_MS + at_ms
        topic = f"{TICKER_CHANNEL}.{symbol}"
        text = _ENCODE({"topic": topic, "ts": ts, "type": "snapshot", "cs": cs, "data": data})
        yield RecordedFrame(at_ms=at_ms, stream=f"ticker:{symbol}", frame=text.decode())
        at_ms += 1000 + _int(rng, 0, 40)


def synthesize(
    seed: int = 1,
    seconds: float = 60.0,
    *,
    catalog: Catalog | None = None,
    venue: str = VENUE,
    updates_per_s: float = 5.0,
    reset_at: float | None = 0.5,
) -> list[RecordedFrame]:
    """A session for ``venue``'s listings in ``catalog`` (default: the recordings catalog).

    ``updates_per_s`` is the mean book push rate per listing; pushes are at least 20 ms
    apart (Bybit's ``orderbook.50`` interval) unless the rate asks for more than 50 a
    second (benchmarks). ``reset_at`` (fraction of the session, None for none) places the
    ``u == 1`` resend.
    """
    catalog = catalog or load_catalog(recordings_dir() / "catalog.toml")
    symbols = sorted(t.venue_symbol for t in catalog.tokens_on(venue))
    frames: list[tuple[int, int, RecordedFrame]] = []
    for index, symbol in enumerate(symbols):
        rng = random.Random(f"{seed}:{symbol}")
        anchor = START_TICKS.get(symbol) or _int(rng, 5_000, 50_000)
        market = _Market(symbol, rng, anchor, u=_int(rng, 1_000_000, 9_000_000))
        market.seq = _int(rng, 10**10, 9 * 10**10)
        market.trade_id = 2_280_000_000_000_000_000 + _int(rng, 0, 10**12)
        reset_ms = int(seconds * 1000 * reset_at) if reset_at is not None else None
        resets = reset_ms if index == min(1, len(symbols) - 1) else None
        for frame in _book_frames(market, seconds, updates_per_s, resets):
            frames.append((frame.at_ms, len(frames), frame))
    for listing in catalog.fx_on(venue):
        for frame in _ticker_frames(listing.symbol, seed, seconds):
            frames.append((frame.at_ms, len(frames), frame))
    frames.sort(key=lambda item: (item[0], item[1]))
    return [frame for _, _, frame in frames]


def write_recording(path: Path | None = None, *, seed: int = 1, seconds: float = 60.0) -> Path:
    """(Re)write the committed session, ``ingest/recordings/bybit_v5.jsonl`` by default."""
    target = path or recordings_dir() / RECORDING
    dump_recording(synthesize(seed, seconds), target, header=HEADER)
    return target


if __name__ == "__main__":
    write_recording()
