"""Same (seed, scenario, tick grid) -> the same frames; the grid follows the speed schedule."""

from __future__ import annotations

import itertools
from typing import Any

from divergence.catalog import Catalog
from divergence.clock import NS_PER_SECOND
from divergence.sim import scenario as sc
from divergence.sim.frames import tick_frames
from divergence.sim.market import generate_ticks


def frames(catalog: Catalog, *, seed: int, ticks: int = 400) -> list[tuple[str, str]]:
    gen = generate_ticks(catalog, sc.OCT10_SCENARIO, seed=seed, tick_ms=100, speed=1.0)
    return [(f.venue, f.text) for tick in itertools.islice(gen, ticks) for f in tick_frames(tick)]


def test_market_same_seed_same_frames(catalog: Catalog) -> None:
    first, second = frames(catalog, seed=11), frames(catalog, seed=11)
    assert first == second
    assert {venue for venue, _ in first} == {
        "simx-a",
        "simx-b",
        "simdex",
        "sim-sip",
        "sim-fx",
        "sim-fx-b",
        "sim-fx-c",
    }


def test_market_different_seed_differs(catalog: Catalog) -> None:
    a, b = frames(catalog, seed=11), frames(catalog, seed=12)
    assert a != b
    # the same grid (heartbeats carry the tick times), different prices
    assert [f for f in a if '"heartbeat"' in f[1]] == [f for f in b if '"heartbeat"' in f[1]]
    quotes_a = [f for f in a if '"quote"' in f[1]]
    quotes_b = [f for f in b if '"quote"' in f[1]]
    assert len(quotes_a) == len(quotes_b)
    assert sum(x != y for x, y in zip(quotes_a, quotes_b, strict=True)) > len(quotes_a) // 2


def test_market_tick_grid_follows_schedule() -> None:
    times = list(
        itertools.takewhile(
            lambda ts: ts < sc.SELLOFF_START_NS,
            sc.tick_times(sc.OCT10_SCENARIO, tick_ms=100, speed=1.0),
        )
    )
    steps = {a: b - a for a, b in itertools.pairwise(times)}
    expected = {  # tick_ms x rate, in sim ns, per schedule segment
        sc.START_NS: 0.1 * 4,
        sc.et_ns(sc.OCT10, 17, 0): 0.1 * 240,
        sc.DEPEG_START_NS: 0.1 * 30,
        sc.et_ns(sc.OCT10, 18, 20): 0.1 * 240,
        sc.et_ns(sc.OCT10, 20, 0): 0.1 * 4,
        sc.et_ns(sc.OCT10, 20, 10): 0.1 * 60,
    }
    for since, seconds in expected.items():
        first = next(ts for ts in times if ts >= since)
        assert steps[first] == round(seconds * NS_PER_SECOND), since
    assert times[0] == sc.START_NS == 1_760_126_160 * NS_PER_SECOND  # 2025-10-10T19:56:00Z


def test_market_speed_scales_the_grid_not_the_story(catalog: Catalog, render: Any) -> None:
    fast = sc.tick_times(sc.OCT10_SCENARIO, tick_ms=100, speed=5.0)
    assert list(itertools.islice(fast, 3)) == [
        sc.START_NS,
        sc.START_NS + 2 * NS_PER_SECOND,
        sc.START_NS + 4 * NS_PER_SECOND,
    ]
    ticks = render(
        catalog, seed=3, tick_ms=100, speed=5.0, until_ns=sc.DEPEG_START_NS + 60 * NS_PER_SECOND
    )
    rates = {t.of("sim-fx", "fx")["USDC"]["rate"] for t in ticks if t.ts >= sc.DEPEG_START_NS}
    assert rates == {str(sc.DEPEG_RATE)}
