"""A synthetic Kraken Spot v2 market in Kraken's exact wire text (for the protocol server).

:func:`synthesize` walks a deterministic random market per symbol and writes what a
Kraken v2 client subscribed to ``book`` (depth 10), ``ticker`` (``event_trigger: bbo``)
and ``trade`` would receive:

- every symbol keeps a *deep* book (20-40 levels a side, tick 0.01 for the xStocks,
  sizes with 8 decimals); orders are added (sometimes inside the spread), modified,
  cancelled and hit by trades, some of them beyond the top 10;
- a ``book`` update carries the change of the top-10 *view*, as Kraken sends it: a level
  cancelled inside the view comes as ``qty: 0`` and the next level re-enters as an
  insert; a level *pushed out* of the view by a better one gets no delete (the client
  truncates). Every update carries the CRC32 of the view, written with the pair's
  decimals;
- a ``ticker`` update follows every change of the best bid or offer *price*;
- trades come as ``trade`` updates (one item per level a market order took), before the
  book update they cause.

Numbers are written as JSON numbers with the pair's decimals (``230.10``,
``0.50000000``), never through a float. Timestamps are RFC 3339 with microseconds from
:data:`BASE_NS`.
"""

from __future__ import annotations

import random
import time
import zlib
from dataclasses import dataclass, field

import msgspec

from divergence.catalog import Catalog
from divergence.venue_servers.recording import RecordedFrame

BASE_NS = 1_786_372_200_000_000_000
"""2026-08-10T14:30:00Z, a Monday in US regular hours: the recording's time origin."""
VIEW_DEPTH = 10
INITIAL_PRICE = {"AAPL": "230.00", "TSLA": "340.00", "NVDA": "180.00"}
FX_PRICE = {"USDT": "1.0002", "USDC": "0.9999"}
FX_DECIMALS = (4, 8)
TRADES_KEPT = 50


def rfc3339_us(ns: int) -> str:
    """Epoch ns as Kraken writes time: ``2026-08-10T14:30:00.123456Z``."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1000:06d}Z"


def fixed(units: int, decimals: int) -> str:
    """An integer count of ``10**-decimals`` as fixed-point text: ``fixed(23010, 2)`` -> 230.10."""
    sign, units = ("-", -units) if units < 0 else ("", units)
    if decimals == 0:
        return f"{sign}{units}"
    whole, frac = divmod(units, 10**decimals)
    return f"{sign}{whole}.{frac:0{decimals}d}"


def json_str(text: str) -> str:
    return msgspec.json.encode(text).decode()


def book_text(
    kind: str,
    symbol: str,
    bids: list[tuple[str, str]],
    asks: list[tuple[str, str]],
    checksum: int,
    stamp: str,
) -> str:
    """A ``book`` message with one data item; levels are (price text, qty text)."""

    def side(levels: list[tuple[str, str]]) -> str:
        return ",".join(f'{{"price":{p},"qty":{q}}}' for p, q in levels)

    return (
        f'{{"channel":"book","type":"{kind}","data":[{{"symbol":{json_str(symbol)},'
        f'"bids":[{side(bids)}],"asks":[{side(asks)}],"checksum":{checksum},'
        f'"timestamp":"{stamp}"}}]}}'
    )


def envelope(channel: str, kind: str, items: list[str]) -> str:
    """``{"channel","type","data":[items]}`` around already encoded data items."""
    return f'{{"channel":"{channel}","type":"{kind}","data":[{",".join(items)}]}}'


@dataclass
class _Market:
    """One symbol's deep book in integer ticks and size units, and its session stats."""

    symbol: str
    price_decimals: int
    size_decimals: int
    rng: random.Random
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    trade_id: int = 0
    open: int = 0
    last: int = 0
    high: int = 0
    low: int = 0
    volume: int = 0
    notional: int = 0  # sum(price ticks * size units), for the vwap
    trades: list[str] = field(default_factory=list)

    def qty(self) -> int:
        one = 10**self.size_decimals
        return self.rng.randint(one // 100, 25 * one)

    def seed_book(self, mid: int) -> None:
        bid, ask = mid - self.rng.randint(0, 2), mid + self.rng.randint(1, 3)
        for _ in range(30):
            self.bids[bid], self.asks[ask] = self.qty(), self.qty()
            bid -= self.rng.randint(1, 4)
            ask += self.rng.randint(1, 4)
        self.open = self.last = self.high = self.low = mid
        self.volume = 1000 * 10**self.size_decimals + self.qty()
        self.notional = self.volume * mid

    def view(self) -> tuple[dict[int, int], dict[int, int]]:
        bids = sorted(self.bids, reverse=True)[:VIEW_DEPTH]
        asks = sorted(self.asks)[:VIEW_DEPTH]
        return {p: self.bids[p] for p in bids}, {p: self.asks[p] for p in asks}

    def best(self) -> tuple[int, int]:
        return max(self.bids), min(self.asks)

    # ------------------------------------------------------------ events
    def step(self, ts_ns: int) -> list[str]:
        """Apply one random market event; returns the trade items it printed."""
        roll = self.rng.random()
        side = self.bids if self.rng.random() < 0.5 else self.asks
        if roll < 0.13:
            return self._trade(ts_ns)
        if roll < 0.38:
            self._add(side)
        elif roll < 0.60:
            self._cancel(side)
        else:
            self._modify(side)
        self._keep_depth()
        return []

    def _pick(self, side: dict[int, int]) -> int:
        ordered = sorted(side, reverse=side is self.bids)
        return ordered[min(int(self.rng.expovariate(1 / 5)), len(ordered) - 1)]

    def _add(self, side: dict[int, int]) -> None:
        bid, ask = self.best()
        spread = ask - bid
        if spread > 1 and (spread > 6 or self.rng.random() < 0.3):
            offset = self.rng.randint(1, spread - 1)
            price = bid + offset if side is self.bids else ask - offset
        else:
            depth = self.rng.randint(0, 20)
            price = bid - depth if side is self.bids else ask + depth
        if price in side:
            side[price] += self.qty()
        else:
            side[price] = self.qty()

    def _cancel(self, side: dict[int, int]) -> None:
        if len(side) > 1:
            del side[self._pick(side)]

    def _modify(self, side: dict[int, int]) -> None:
        price = self._pick(side)
        side[price] = max(1, int(side[price] * self.rng.uniform(0.3, 1.8)))

    def _keep_depth(self) -> None:
        for side, is_bid in ((self.bids, True), (self.asks, False)):
            while len(side) > 40:
                del side[min(side) if is_bid else max(side)]
            while len(side) < 20:
                step = self.rng.randint(1, 4)
                side[min(side) - step if is_bid else max(side) + step] = self.qty()

    def _trade(self, ts_ns: int) -> list[str]:
        buy = self.rng.random() < 0.5
        book = self.asks if buy else self.bids
        levels = sorted(book, reverse=not buy)
        sweep = self.rng.random() < 0.3 and len(levels) > 2
        want = book[levels[0]] + (book[levels[1]] // 2 if sweep else 0)
        if not sweep:
            want = max(1, int(book[levels[0]] * self.rng.uniform(0.1, 0.9)))
        items, stamp = [], rfc3339_us(ts_ns)
        for price in levels:
            if want <= 0:
                break
            take = min(want, book[price])
            want -= take
            book[price] -= take
            if book[price] == 0:
                del book[price]
            items.append(self._print(price, take, "buy" if buy else "sell", stamp))
        self._keep_depth()
        return items

    def _print(self, price: int, size: int, side: str, stamp: str) -> str:
        self.trade_id += 1
        self.last, self.high, self.low = price, max(self.high, price), min(self.low, price)
        self.volume += size
        self.notional += price * size
        pd, sd = self.price_decimals, self.size_decimals
        item = (
            f'{{"symbol":{json_str(self.symbol)},"side":"{side}","price":{fixed(price, pd)},'
            f'"qty":{fixed(size, sd)},"ord_type":"market","trade_id":{self.trade_id},'
            f'"timestamp":"{stamp}"}}'
        )
        self.trades = [*self.trades[-(TRADES_KEPT - 1) :], item]
        return item

    # ------------------------------------------------------------ wire text
    def book_frame(self, kind: str, delta: tuple[list[int], list[int]] | None, stamp: str) -> str:
        """The top-10 view (``delta is None``) or the given changed prices, as a message."""
        bids, asks = self.view()
        pd, sd = self.price_decimals, self.size_decimals
        pick_bids = sorted(bids, reverse=True) if delta is None else delta[0]
        pick_asks = sorted(asks) if delta is None else delta[1]
        bid_levels = [(fixed(p, pd), fixed(bids.get(p, 0), sd)) for p in pick_bids]
        ask_levels = [(fixed(p, pd), fixed(asks.get(p, 0), sd)) for p in pick_asks]
        return book_text(kind, self.symbol, bid_levels, ask_levels, self.checksum(), stamp)

    def checksum(self) -> int:
        """CRC32 of the view: with fixed decimals the stripped text is the integer itself."""
        bids, asks = self.view()
        text = "".join(f"{p}{asks[p]}" for p in sorted(asks))
        text += "".join(f"{p}{bids[p]}" for p in sorted(bids, reverse=True))
        return zlib.crc32(text.encode())

    def ticker_item(self, stamp: str) -> str:
        bid, ask = self.best()
        pd, sd = self.price_decimals, self.size_decimals
        vwap = self.notional // self.volume if self.volume else self.last
        change = self.last - self.open
        change_pct = round(change * 100 / self.open, 2) if self.open else 0.0
        return (
            f'{{"symbol":{json_str(self.symbol)},"bid":{fixed(bid, pd)},'
            f'"bid_qty":{fixed(self.bids[bid], sd)},"ask":{fixed(ask, pd)},'
            f'"ask_qty":{fixed(self.asks[ask], sd)},"last":{fixed(self.last, pd)},'
            f'"volume":{fixed(self.volume, sd)},"vwap":{fixed(vwap, pd)},'
            f'"low":{fixed(self.low, pd)},"high":{fixed(self.high, pd)},'
            f'"change":{fixed(change, pd)},"change_pct":{change_pct:.2f},'
            f'"timestamp":"{stamp}"}}'
        )


def _delta(
    before: tuple[dict[int, int], dict[int, int]], market: _Market
) -> tuple[list[int], list[int]]:
    """Prices to send: changed or entering the view, and deletes of *cancelled* levels."""
    after = market.view()
    out: list[list[int]] = []
    for old, new, deep in zip(before, after, (market.bids, market.asks), strict=True):
        gone = sorted(p for p in old if p not in new and p not in deep)
        changed = sorted((p for p in new if old.get(p) != new[p]), reverse=deep is market.bids)
        out.append(gone + changed)
    return out[0], out[1]


def _markets(catalog: Catalog, venue: str, rng: random.Random) -> list[tuple[_Market, float]]:
    markets: list[tuple[_Market, float]] = []
    for token in sorted(catalog.tokens_on(venue), key=lambda t: t.venue_symbol):
        pd, sd = token.price_decimals or 2, token.size_decimals or 8
        price = INITIAL_PRICE.get(token.underlying, "100.00")
        market = _Market(token.venue_symbol, pd, sd, random.Random(rng.random()))
        market.seed_book(int(price.replace(".", "")) * 10 ** (pd - 2))
        market.trade_id = rng.randint(10_000_000, 90_000_000)
        markets.append((market, 5.0))
    for listing in sorted(catalog.fx_on(venue), key=lambda f: f.symbol):
        pd, sd = FX_DECIMALS
        market = _Market(listing.symbol, pd, sd, random.Random(rng.random()))
        price = FX_PRICE.get(listing.currencies[0], "1.0000")
        market.seed_book(int(price.replace(".", "")))
        market.trade_id = rng.randint(10_000_000, 90_000_000)
        markets.append((market, 0.5))
    return markets


def _initial(market: _Market, stamp: str) -> list[RecordedFrame]:
    symbol = market.symbol
    for _ in range(12):  # some trade history for the trade snapshot
        market._trade(BASE_NS)
    return [
        RecordedFrame(
            at_ms=0, stream=f"book:{symbol}", frame=market.book_frame("snapshot", None, stamp)
        ),
        RecordedFrame(
            at_ms=0,
            stream=f"ticker:{symbol}",
            frame=envelope("ticker", "snapshot", [market.ticker_item(stamp)]),
        ),
        RecordedFrame(
            at_ms=0, stream=f"trade:{symbol}", frame=envelope("trade", "snapshot", market.trades)
        ),
    ]


def synthesize(
    seed: int = 1,
    seconds: float = 60.0,
    *,
    catalog: Catalog,
    venue: str = "kraken",
    rate_scale: float = 1.0,
) -> list[RecordedFrame]:
    """A deterministic Kraken v2 session for ``venue``'s token and FX listings.

    About 5 book events a second per token and 0.5 per FX pair, times ``rate_scale``
    (raise it, or ``seconds``, for benchmark-sized sessions).
    """
    rng = random.Random(seed)
    markets = _markets(catalog, venue, rng)
    stamp0 = rfc3339_us(BASE_NS)
    frames = [f for market, _ in markets for f in _initial(market, stamp0)]
    events: list[tuple[int, int]] = []  # (t_us, market index)
    for index, (_, rate) in enumerate(markets):
        t = 0.0
        while True:
            t += rng.expovariate(rate * rate_scale)
            if t >= seconds:
                break
            events.append((max(1000, int(t * 1e6)), index))
    events.sort()
    for t_us, index in events:
        frames += _event(markets[index][0], t_us)
    return frames


def _event(market: _Market, t_us: int) -> list[RecordedFrame]:
    before, top = market.view(), market.best()
    ts_ns = BASE_NS + t_us * 1000
    stamp, at_ms = rfc3339_us(ts_ns), t_us // 1000
    trades = market.step(ts_ns)
    frames = []
    if trades:
        text = envelope("trade", "update", trades)
        frames.append(RecordedFrame(at_ms=at_ms, stream=f"trade:{market.symbol}", frame=text))
    bids, asks = _delta(before, market)
    if bids or asks:
        text = market.book_frame("update", (bids, asks), stamp)
        frames.append(RecordedFrame(at_ms=at_ms, stream=f"book:{market.symbol}", frame=text))
    if market.best() != top:
        text = envelope("ticker", "update", [market.ticker_item(stamp)])
        frames.append(RecordedFrame(at_ms=at_ms, stream=f"ticker:{market.symbol}", frame=text))
    return frames
