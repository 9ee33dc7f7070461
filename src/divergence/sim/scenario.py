"""The scripted timeline of a simulator scenario, as data (pure).

A scenario fixes where the sim clock starts, how fast it runs (a speed schedule in sim
seconds per wall second), and the scripted episodes the surveillance must catch. Every
time is a named constant so tests and docs/simulator.md use the same numbers.

The tick grid is derived from the schedule alone (never from the wall clock): tick
``i + 1`` is ``tick_ms x rate(t_i) x speed`` sim milliseconds after tick ``i``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from divergence.clock import NS_PER_MS, NS_PER_SECOND, ns_from_datetime
from divergence.errors import ConfigError
from divergence.sessions import ET


def et_ns(day: date, hour: int, minute: int, second: int = 0) -> int:
    """Epoch nanoseconds of a US Eastern wall-clock time on ``day``."""
    return ns_from_datetime(datetime.combine(day, time(hour, minute, second), tzinfo=ET))


OCT10 = date(2025, 10, 10)  # a Friday
START_NS = et_ns(OCT10, 15, 56)  # 2025-10-10T19:56:00Z, regular session

# Speed schedule: (from sim time, sim seconds per wall second), multiplied by sim.speed.
SPEED_SCHEDULE: tuple[tuple[int, float], ...] = (
    (START_NS, 4.0),
    (et_ns(OCT10, 16, 1), 240.0),
    (et_ns(OCT10, 17, 59), 30.0),
    (et_ns(OCT10, 18, 11), 240.0),
    (et_ns(OCT10, 19, 59), 4.0),
    (et_ns(OCT10, 20, 1), 60.0),
)

# Episode 1: every AAPLx listing trades 80 bps rich for 45 s.
RICH_UNDERLYING = "AAPL"
RICH_BPS = 80
RICH_START_NS = et_ns(OCT10, 15, 56, 20)
RICH_END_NS = et_ns(OCT10, 15, 57, 5)

# Episode 2: one venue goes silent (no frames at all, socket stays open) 5 s into the
# rich episode, so its last quotes are rich: a stale quote that looks like mispricing.
STALE_VENUE = "simx-b"
STALE_START_NS = et_ns(OCT10, 15, 56, 25)
STALE_END_NS = et_ns(OCT10, 15, 57, 25)

# Episode 3: the underlying closes (sessions come from divergence.sessions).
CLOSE_NS = et_ns(OCT10, 16, 0)  # regular -> post
WEEKEND_CLOSE_NS = et_ns(OCT10, 20, 0)  # post -> closed (no Friday overnight session)

# Episode 4: a sell-off on the token venues while the stock market is closed.
SELLOFF_START_NS = et_ns(OCT10, 20, 30)
SELLOFF_BOTTOM_NS = et_ns(OCT10, 20, 35)
SELLOFF_END_NS = et_ns(OCT10, 20, 45)
SELLOFF_DEPTH = 0.08  # fraction of fair value lost at the bottom
SELLOFF_RECOVERY = 0.5  # fraction of the loss recovered by SELLOFF_END_NS (then held)
# A liquidation cascade: most of the fall comes in the first minute, the rest grinds down
# to the bottom (10 Oct 2025: $3.21B liquidated in the peak 60 s, a secondary source).
SELLOFF_CASCADE_S = 60  # sim seconds from SELLOFF_START_NS to the end of the cascade
SELLOFF_CASCADE_SHARE = 0.8  # fraction of SELLOFF_DEPTH lost in the cascade (6.4 of 8 points)

# Episode 5: USDC depegs in the post-market session (reference live). Order books quoted
# in USDC requote at once; a DEX pool only moves when arbitrageurs swap, so its USDC
# price follows the coin with a lag (time constant DEPEG_REPRICE_TAU_S): for a few
# minutes its USD value is off the stock by up to 1 - 0.8774. The coin repegs linearly
# over DEPEG_REPEG_S after DEPEG_END_NS (slow enough for the pools to keep up).
DEPEG_CURRENCY = "USDC"
DEPEG_RATE = Decimal("0.8774")
DEPEG_START_NS = et_ns(OCT10, 18, 0)
DEPEG_END_NS = et_ns(OCT10, 18, 30)
DEPEG_REPRICE_TAU_S = 60
DEPEG_REPEG_S = 600


@dataclass(frozen=True)
class Episode:
    """A scripted episode's window in sim time, ``[start_ns, end_ns)``."""

    name: str
    start_ns: int
    end_ns: int
    what: str


RICH_EPISODE = Episode("rich", RICH_START_NS, RICH_END_NS, "AAPLx 80 bps rich on every venue")
STALE_EPISODE = Episode("stale", STALE_START_NS, STALE_END_NS, "simx-b silent, socket open")
SELLOFF_EPISODE = Episode(
    "selloff", SELLOFF_START_NS, SELLOFF_END_NS, "tokens sell off 8% while the market is closed"
)
DEPEG_EPISODE = Episode("depeg", DEPEG_START_NS, DEPEG_END_NS, "USDC/USD at 0.8774")

# Episode 6: one fx source misprints USDT at $0.65 (the 10 Oct 2025 glitch on one exchange)
# at the peak of the cascade; the median of three sources does not move.
MISPRINT_VENUE = "sim-fx-c"
MISPRINT_CURRENCY = "USDT"
MISPRINT_RATE = Decimal("0.65")
MISPRINT_START_NS = et_ns(OCT10, 17, 15)
MISPRINT_END_NS = et_ns(OCT10, 17, 25)
MISPRINT_EPISODE = Episode(
    "misprint", MISPRINT_START_NS, MISPRINT_END_NS, "sim-fx-c prints USDT/USD at 0.65"
)
EPISODES: tuple[Episode, ...] = (
    RICH_EPISODE,
    STALE_EPISODE,
    SELLOFF_EPISODE,
    DEPEG_EPISODE,
    MISPRINT_EPISODE,
)

# Latent share prices at the start (Oct 2025 levels); other underlyings start at 100.
START_PRICES: dict[str, float] = {"AAPL": 245.27, "TSLA": 435.54, "NVDA": 192.57}
DEFAULT_START_PRICE = 100.0


@dataclass(frozen=True)
class Scenario:
    """One scripted market timeline; methods are pure functions of sim time."""

    name: str
    start_ns: int
    speed_schedule: tuple[tuple[int, float], ...]
    rich_underlying: str
    rich_bps: int
    rich_window: tuple[int, int]
    stale_venue: str
    stale_window: tuple[int, int]
    selloff_window: tuple[int, int, int]
    selloff_depth: float
    selloff_recovery: float
    selloff_cascade_s: int
    selloff_cascade_share: float
    depeg_currency: str
    depeg_rate: Decimal
    depeg_window: tuple[int, int]
    depeg_reprice_tau_s: float
    depeg_repeg_s: float
    misprint_venue: str
    misprint_currency: str
    misprint_rate: Decimal
    misprint_window: tuple[int, int]

    def rate_at(self, ts_ns: int) -> float:
        """Sim seconds per wall second at ``ts_ns`` (before ``sim.speed``)."""
        rate = self.speed_schedule[0][1]
        for since, value in self.speed_schedule:
            if ts_ns >= since:
                rate = value
        return rate

    def premium_at(self, underlying: str, ts_ns: int) -> float:
        """Scripted token premium over fair value, as a fraction."""
        start, end = self.rich_window
        if underlying == self.rich_underlying and start <= ts_ns < end:
            return self.rich_bps / 10_000
        return 0.0

    def selloff_factor(self, ts_ns: int) -> float:
        """Multiplier on every token's fair value: 1 before the sell-off; a cascade that
        loses ``selloff_cascade_share`` of the depth in ``selloff_cascade_s``; a grind down
        to the full depth at the bottom; a recovery of ``selloff_recovery`` of the loss by
        the end, then held. Each leg is a half-cosine, so the path is continuous."""
        start, bottom, end = self.selloff_window
        depth, kept = self.selloff_depth, self.selloff_depth * (1 - self.selloff_recovery)
        cascade_end = min(start + self.selloff_cascade_s * NS_PER_SECOND, bottom)
        fast = depth * self.selloff_cascade_share
        if ts_ns < start:
            return 1.0
        if ts_ns < cascade_end:
            return 1.0 - fast * _smoothstep((ts_ns - start) / (cascade_end - start))
        if ts_ns < bottom:
            grind = _smoothstep((ts_ns - cascade_end) / (bottom - cascade_end))
            return 1.0 - fast - (depth - fast) * grind
        if ts_ns < end:
            return 1.0 - depth + (depth - kept) * _smoothstep((ts_ns - bottom) / (end - bottom))
        return 1.0 - kept

    def fx_override(self, currency: str, ts_ns: int) -> Decimal | None:
        """The scripted USD rate of ``currency`` at ``ts_ns``: the depeg rate in the
        window, then a linear repeg to 1 over ``depeg_repeg_s``; None otherwise."""
        start, end = self.depeg_window
        if currency != self.depeg_currency or not start <= ts_ns < end + self._repeg_ns:
            return None
        if ts_ns < end:
            return self.depeg_rate
        done = Decimal(ts_ns - end) / Decimal(self._repeg_ns)
        return (self.depeg_rate + (1 - self.depeg_rate) * done).quantize(Decimal("0.0001"))

    @property
    def _repeg_ns(self) -> int:
        return round(self.depeg_repeg_s * NS_PER_SECOND)

    def pool_fx(self, currency: str, ts_ns: int, rate: float) -> float:
        """The coin rate a DEX pool's price reflects when the coin trades at ``rate``:
        after the depeg starts, ``1 + (rate - 1) x (1 - exp(-t / tau))`` (arbitrage
        swaps move the pool towards the coin); otherwise ``rate``."""
        start, _ = self.depeg_window
        if currency != self.depeg_currency or ts_ns < start:
            return rate
        caught_up = 1 - math.exp(-(ts_ns - start) / NS_PER_SECOND / self.depeg_reprice_tau_s)
        return 1 + (rate - 1) * caught_up

    def fx_misprint(self, venue: str, currency: str, ts_ns: int) -> Decimal | None:
        """What one fx source prints instead of the market rate, or None."""
        start, end = self.misprint_window
        if (venue, currency) == (self.misprint_venue, self.misprint_currency) and (
            start <= ts_ns < end
        ):
            return self.misprint_rate
        return None

    def is_silent(self, venue: str, ts_ns: int) -> bool:
        start, end = self.stale_window
        return venue == self.stale_venue and start <= ts_ns < end

    def start_price(self, underlying: str) -> float:
        return START_PRICES.get(underlying, DEFAULT_START_PRICE)


def _smoothstep(x: float) -> float:
    """0 at 0, 1 at 1, flat at both ends (half a cosine)."""
    return 0.5 - 0.5 * math.cos(math.pi * min(max(x, 0.0), 1.0))


OCT10_SCENARIO = Scenario(
    name="oct10",
    start_ns=START_NS,
    speed_schedule=SPEED_SCHEDULE,
    rich_underlying=RICH_UNDERLYING,
    rich_bps=RICH_BPS,
    rich_window=(RICH_START_NS, RICH_END_NS),
    stale_venue=STALE_VENUE,
    stale_window=(STALE_START_NS, STALE_END_NS),
    selloff_window=(SELLOFF_START_NS, SELLOFF_BOTTOM_NS, SELLOFF_END_NS),
    selloff_depth=SELLOFF_DEPTH,
    selloff_recovery=SELLOFF_RECOVERY,
    selloff_cascade_s=SELLOFF_CASCADE_S,
    selloff_cascade_share=SELLOFF_CASCADE_SHARE,
    depeg_currency=DEPEG_CURRENCY,
    depeg_rate=DEPEG_RATE,
    depeg_window=(DEPEG_START_NS, DEPEG_END_NS),
    depeg_reprice_tau_s=DEPEG_REPRICE_TAU_S,
    depeg_repeg_s=DEPEG_REPEG_S,
    misprint_venue=MISPRINT_VENUE,
    misprint_currency=MISPRINT_CURRENCY,
    misprint_rate=MISPRINT_RATE,
    misprint_window=(MISPRINT_START_NS, MISPRINT_END_NS),
)
SCENARIOS: dict[str, Scenario] = {OCT10_SCENARIO.name: OCT10_SCENARIO}


def scenario_named(name: str) -> Scenario:
    """The scenario called ``name``; a ConfigError lists the known ones."""
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(sorted(SCENARIOS))
        raise ConfigError(
            f"unknown scenario {name!r} (known: {known})", key="sim.scenario", source="settings"
        ) from None


def tick_times(scenario: Scenario, *, tick_ms: int, speed: float) -> Iterator[int]:
    """Sim time of every tick, forever: a pure function of the schedule and the grid."""
    if tick_ms <= 0 or speed <= 0:
        raise ConfigError(
            f"tick_ms and speed must be positive, found {tick_ms} and {speed}",
            key="sim.tick_ms" if tick_ms <= 0 else "sim.speed",
            source="settings",
        )
    ts = scenario.start_ns
    while True:
        yield ts
        ts += max(1, round(tick_ms * NS_PER_MS * scenario.rate_at(ts) * speed))


def sim_seconds(ts_ns: int, scenario: Scenario) -> float:
    """Sim seconds since the scenario start."""
    return (ts_ns - scenario.start_ns) / NS_PER_SECOND
