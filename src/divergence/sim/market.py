"""The seeded price model of the simulator (pure: no I/O, no wall clock).

One latent share price per underlying follows a random walk in sim time. The reference
venue quotes it (wider outside the regular session, not at all while ``closed``); every
token listing quotes ``k x fair / fx`` in its own quote currency and units, where
``fair`` is the latent price with the scenario's premium and sell-off applied and a
small, bounded, per-listing basis noise. Given (catalog, scenario, seed, tick grid) the
sequence of :class:`MarketTick` values is identical on every run.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from divergence.catalog import Catalog, Token, Venue
from divergence.clock import NS_PER_SECOND, ns_from_datetime
from divergence.events import Session, Side
from divergence.sessions import session_at, session_transitions
from divergence.sim.scenario import Scenario, tick_times

SIGMA_PER_SQRT_S = 1.5e-4  # latent share price volatility per sqrt(sim second)
BASIS_AR = 0.8  # per-tick persistence of a listing's basis noise
BASIS_STEP_BPS = 1.5  # per-tick innovation of the basis noise
BASIS_CLAMP_BPS = 5.0  # |noise| never exceeds this
BASIS_OFFSET_BPS = 3.0  # each listing's constant offset lies within +-this
TOKEN_HALF_SPREAD_BPS = (2.0, 6.0)
REF_HALF_SPREAD_BPS: dict[Session, tuple[float, float]] = {
    "regular": (0.2, 1.0),
    "pre": (3.0, 8.0),
    "post": (3.0, 8.0),
    "overnight": (8.0, 15.0),
}
TRADE_PROBABILITY = 0.25  # per listing (and per reference) per tick
POOL_QUOTE_RESERVE = 2_000_000.0  # quote-currency reserve of each pool at the start
POOL_FEE_BPS = Decimal(30)
FX_STEP_PROBABILITY = 0.1
FX_BANDS_BPS: dict[str, tuple[int, int]] = {"USDC": (-2, 1), "USDT": (0, 4)}
CENT = Decimal("0.01")
FX_QUANTUM = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class SimQuote:
    venue: str
    symbol: str
    channel: str  # "quote" (token listing) or "nbbo" (reference)
    bid: Decimal
    bid_sz: Decimal
    ask: Decimal
    ask_sz: Decimal


@dataclass(frozen=True, slots=True)
class SimTrade:
    venue: str
    symbol: str
    price: Decimal
    size: Decimal
    side: Side
    trade_id: str


@dataclass(frozen=True, slots=True)
class SimPool:
    venue: str
    symbol: str
    pool: str
    base: Decimal
    quote: Decimal
    fee_bps: Decimal


@dataclass(frozen=True, slots=True)
class SimFx:
    venue: str
    currency: str
    rate: Decimal


@dataclass(frozen=True, slots=True)
class SimSession:
    venue: str
    symbol: str
    ts_ns: int
    session: Session


@dataclass(frozen=True, slots=True)
class MarketTick:
    """Everything the market publishes at one tick, every item stamped ``ts_ns``.

    Session changes carry their exact transition time, which lies in
    ``(previous tick, ts_ns]``.
    """

    index: int
    ts_ns: int
    sessions: tuple[SimSession, ...]
    fx: tuple[SimFx, ...]
    quotes: tuple[SimQuote, ...]
    pools: tuple[SimPool, ...]
    trades: tuple[SimTrade, ...]
    heartbeats: tuple[str, ...]  # venues that send a heartbeat this tick


@dataclass(frozen=True)
class Listing:
    """A token listing on a simulated venue, as the model needs it."""

    token_id: str
    venue: str
    symbol: str
    underlying: str
    currency: str
    kind: str  # "book" or "amm"
    multipliers: tuple[tuple[int, float], ...]  # (effective_from ns, k)

    def k_at(self, ts_ns: int) -> float:
        k = self.multipliers[0][1]
        for since, value in self.multipliers:
            if ts_ns >= since:
                k = value
        return k

    @property
    def pool(self) -> str:
        """A stable, made-up pool address for an AMM listing."""
        stem = "SimPool" + self.symbol.replace("/", "")
        return stem + "1" * (44 - len(stem))


def sim_venues(catalog: Catalog) -> tuple[Venue, ...]:
    """The catalog venues the simulator publishes (``adapter = "sim"``)."""
    return tuple(v for v in catalog.venue if v.adapter == "sim")


def listings(catalog: Catalog) -> tuple[Listing, ...]:
    kinds = {v.id: v.kind for v in sim_venues(catalog) if v.kind in ("book", "amm")}
    return tuple(_listing(t, kinds[t.venue]) for t in catalog.token if t.venue in kinds)


def _listing(token: Token, kind: str) -> Listing:
    return Listing(
        token_id=token.id,
        venue=token.venue,
        symbol=token.venue_symbol,
        underlying=token.underlying,
        currency=token.quote_currency,
        kind=kind,
        multipliers=tuple(
            (ns_from_datetime(m.effective_from), float(m.value)) for m in token.multipliers
        ),
    )


def venue_symbols(catalog: Catalog) -> dict[str, frozenset[str]]:
    """What each sim venue accepts in a subscribe: venue symbols, underlyings or currencies."""
    out: dict[str, frozenset[str]] = {}
    for venue in sim_venues(catalog):
        if venue.kind == "reference":
            out[venue.id] = frozenset(r.symbol for r in catalog.references_on(venue.id))
        elif venue.kind == "fx":
            out[venue.id] = frozenset(s.currency for s in catalog.stablecoin)
        else:
            out[venue.id] = frozenset(t.venue_symbol for t in catalog.tokens_on(venue.id))
    return out


def generate_ticks(
    catalog: Catalog, scenario: Scenario, *, seed: int, tick_ms: int, speed: float
) -> Iterator[MarketTick]:
    """Every tick of the scenario, forever (slice it or stop on ``ts_ns``)."""
    model = MarketModel(catalog, scenario, seed=seed)
    for index, ts in enumerate(tick_times(scenario, tick_ms=tick_ms, speed=speed)):
        yield model.step(index, ts)


class MarketModel:
    """The mutable state of one simulated market; :meth:`step` advances it to a tick."""

    def __init__(self, catalog: Catalog, scenario: Scenario, *, seed: int) -> None:
        self.scenario = scenario
        self.rng = random.Random(seed)
        venues = sim_venues(catalog)
        self.venue_ids = tuple(v.id for v in venues)
        self.refs = tuple(
            (v.id, r.symbol, r.underlying)
            for v in venues
            if v.kind == "reference"
            for r in catalog.references_on(v.id)
        )
        self.fx_venues = tuple(v.id for v in venues if v.kind == "fx")
        self.listings = listings(catalog)
        self.price = {u.symbol: scenario.start_price(u.symbol) for u in catalog.underlying}
        self.fx_bps = {s.currency: 0 for s in catalog.stablecoin}
        self.offset = {x.token_id: self._uniform_bps(BASIS_OFFSET_BPS) for x in self.listings}
        self.noise = {x.token_id: 0.0 for x in self.listings}
        self.liquidity: dict[str, float] = {}
        self.trade_counter = {v: 0 for v in self.venue_ids}
        self.last_ts = scenario.start_ns

    def _uniform_bps(self, bound: float) -> float:
        return self.rng.uniform(-bound, bound) / 10_000

    def step(self, index: int, ts: int) -> MarketTick:
        dt = (ts - self.last_ts) / NS_PER_SECOND
        sessions = self._sessions(ts)
        self.last_ts = ts
        for symbol in self.price:
            shock = self.rng.gauss(0.0, 1.0) * SIGMA_PER_SQRT_S * math.sqrt(dt)
            self.price[symbol] *= math.exp(shock)
        fx_rates = self._fx_rates(ts)
        quotes: list[SimQuote] = []
        pools: list[SimPool] = []
        trades: list[SimTrade] = []
        session = session_at(ts)
        if session in REF_HALF_SPREAD_BPS:
            for venue, symbol, underlying in self.refs:
                self._reference(venue, symbol, self.price[underlying], session, quotes, trades)
        for listing in self.listings:
            price = self._listing_price(listing, ts, fx_rates)
            if listing.kind == "amm":
                self._pool(listing, price, pools, trades)
            else:
                self._book(listing, price, quotes, trades)
        fx = tuple(
            SimFx(v, ccy, self.scenario.fx_misprint(v, ccy, ts) or rate)
            for v in self.fx_venues
            for ccy, rate in fx_rates.items()
        )
        return self._silence(
            MarketTick(
                index=index,
                ts_ns=ts,
                sessions=sessions,
                fx=fx,
                quotes=tuple(quotes),
                pools=tuple(pools),
                trades=tuple(trades),
                heartbeats=self.venue_ids,
            )
        )

    def _sessions(self, ts: int) -> tuple[SimSession, ...]:
        if ts <= self.last_ts:
            return ()
        changes = session_transitions(self.last_ts, ts)[1:]
        return tuple(
            SimSession(venue, symbol, at, session)
            for at, session in changes
            for venue, symbol, _ in self.refs
        )

    def _fx_rates(self, ts: int) -> dict[str, Decimal]:
        rates: dict[str, Decimal] = {}
        for ccy in self.fx_bps:
            low, high = FX_BANDS_BPS.get(ccy, (-1, 1))
            if self.rng.random() < FX_STEP_PROBABILITY:
                step = self.rng.choice((-1, 1))
                self.fx_bps[ccy] = min(max(self.fx_bps[ccy] + step, low), high)
            override = self.scenario.fx_override(ccy, ts)
            pegged = (1 + Decimal(self.fx_bps[ccy]) / 10_000).quantize(FX_QUANTUM)
            rates[ccy] = override if override is not None else pegged
        return rates

    def _listing_price(self, listing: Listing, ts: int, fx_rates: dict[str, Decimal]) -> float:
        """Price per unit in the listing's quote currency: k x fair x (1 + basis) / fx."""
        noise = BASIS_AR * self.noise[listing.token_id] + self.rng.gauss(0.0, BASIS_STEP_BPS) / 1e4
        clamp = BASIS_CLAMP_BPS / 10_000
        self.noise[listing.token_id] = noise = min(max(noise, -clamp), clamp)
        fair = (
            self.price[listing.underlying]
            * self.scenario.selloff_factor(ts)
            * (1 + self.scenario.premium_at(listing.underlying, ts))
        )
        fx = float(fx_rates.get(listing.currency, Decimal(1)))
        if listing.kind == "amm":  # a pool reprices through arbitrage swaps, with a lag
            fx = self.scenario.pool_fx(listing.currency, ts, fx)
        basis = 1 + self.offset[listing.token_id] + noise
        return listing.k_at(ts) * fair * basis / fx

    def _reference(
        self,
        venue: str,
        symbol: str,
        price: float,
        session: Session,
        quotes: list[SimQuote],
        trades: list[SimTrade],
    ) -> None:
        low, high = REF_HALF_SPREAD_BPS[session]
        bid, ask = _two_sided(price, self.rng.uniform(low, high) / 10_000)
        sizes = (Decimal(100 * self.rng.randint(1, 12)), Decimal(100 * self.rng.randint(1, 12)))
        quotes.append(SimQuote(venue, symbol, "nbbo", bid, sizes[0], ask, sizes[1]))
        if self.rng.random() < TRADE_PROBABILITY:
            side = self.rng.choice(("buy", "sell"))
            size = Decimal(self.rng.choice((1, 5, 10, 50, 100, 200, 500)))
            trades.append(self._trade(venue, symbol, ask if side == "buy" else bid, size, side))

    def _book(
        self, listing: Listing, price: float, quotes: list[SimQuote], trades: list[SimTrade]
    ) -> None:
        low, high = TOKEN_HALF_SPREAD_BPS
        bid, ask = _two_sided(price, self.rng.uniform(low, high) / 10_000)
        bid_sz = _decimal(self.rng.uniform(0.5, 40.0), "0.001")
        ask_sz = _decimal(self.rng.uniform(0.5, 40.0), "0.001")
        quotes.append(SimQuote(listing.venue, listing.symbol, "quote", bid, bid_sz, ask, ask_sz))
        if self.rng.random() < TRADE_PROBABILITY:
            side = self.rng.choice(("buy", "sell"))
            size = _decimal(self.rng.uniform(0.01, 5.0), "0.0001")
            px = ask if side == "buy" else bid
            trades.append(self._trade(listing.venue, listing.symbol, px, size, side))

    def _pool(
        self, listing: Listing, price: float, pools: list[SimPool], trades: list[SimTrade]
    ) -> None:
        """Constant-product reserves with quote/base = price and a fixed invariant."""
        liquidity = self.liquidity.setdefault(
            listing.token_id, POOL_QUOTE_RESERVE / math.sqrt(price)
        )
        base = _decimal(liquidity / math.sqrt(price), "0.00000001")
        quote = _decimal(liquidity * math.sqrt(price), "0.000001")
        pools.append(
            SimPool(listing.venue, listing.symbol, listing.pool, base, quote, POOL_FEE_BPS)
        )
        if self.rng.random() < TRADE_PROBABILITY:
            side = self.rng.choice(("buy", "sell"))
            size = _decimal(self.rng.uniform(0.1, 25.0), "0.00000001")
            impact = float(POOL_FEE_BPS) / 10_000 + float(size) / float(base)
            fill = price * (1 + impact) if side == "buy" else price * (1 - impact)
            trades.append(
                self._trade(listing.venue, listing.symbol, _decimal(fill, "0.000001"), size, side)
            )

    def _trade(self, venue: str, symbol: str, price: Decimal, size: Decimal, side: str) -> SimTrade:
        self.trade_counter[venue] += 1
        trade_id = f"{venue}-{self.trade_counter[venue]}"
        return SimTrade(venue, symbol, price, size, "buy" if side == "buy" else "sell", trade_id)

    def _silence(self, tick: MarketTick) -> MarketTick:
        """Drop everything a venue would send while the scenario has it silent."""
        ts = tick.ts_ns
        if not any(self.scenario.is_silent(v, ts) for v in self.venue_ids):
            return tick

        def keep(venue: str) -> bool:
            return not self.scenario.is_silent(venue, ts)

        return MarketTick(
            index=tick.index,
            ts_ns=ts,
            sessions=tuple(x for x in tick.sessions if keep(x.venue)),
            fx=tuple(x for x in tick.fx if keep(x.venue)),
            quotes=tuple(x for x in tick.quotes if keep(x.venue)),
            pools=tuple(x for x in tick.pools if keep(x.venue)),
            trades=tuple(x for x in tick.trades if keep(x.venue)),
            heartbeats=tuple(v for v in tick.heartbeats if keep(v)),
        )


def _decimal(value: float, quantum: str) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal(quantum))


def _two_sided(price: float, half_spread: float) -> tuple[Decimal, Decimal]:
    """Bid rounded down and ask rounded up to the cent, at least one cent apart."""
    bid = Decimal(repr(price * (1 - half_spread))).quantize(CENT, ROUND_FLOOR)
    ask = Decimal(repr(price * (1 + half_spread))).quantize(CENT, ROUND_CEILING)
    return bid, max(ask, bid + CENT)
