"""The oct10 scenario rendered to wire frames once per test session (about a second)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from divergence.catalog import Catalog
from divergence.sim.frames import tick_frames
from divergence.sim.market import generate_ticks
from divergence.sim.scenario import OCT10, OCT10_SCENARIO, et_ns

SEED = 7
UNTIL_NS = et_ns(OCT10, 21, 40)


@dataclass(frozen=True)
class WireTick:
    """One tick as a client would see it: (venue, decoded JSON with Decimal strings)."""

    ts: int
    frames: list[tuple[str, dict[str, Any]]]

    def of(self, venue: str, channel: str) -> dict[str, dict[str, Any]]:
        """Frames of one venue and channel, keyed by symbol (or currency)."""
        return {
            f.get("sym", f.get("ccy")): f
            for v, f in self.frames
            if v == venue and f["ch"] == channel
        }


def render_ticks(
    catalog: Catalog, *, seed: int, tick_ms: int, speed: float, until_ns: int
) -> list[WireTick]:
    out: list[WireTick] = []
    for tick in generate_ticks(catalog, OCT10_SCENARIO, seed=seed, tick_ms=tick_ms, speed=speed):
        if tick.ts_ns > until_ns:
            return out
        frames = [(f.venue, json.loads(f.text, parse_float=Decimal)) for f in tick_frames(tick)]
        out.append(WireTick(tick.ts_ns, frames))
    raise AssertionError("unreachable: the generator is infinite")


@pytest.fixture(scope="session")
def oct10_ticks(catalog: Catalog) -> list[WireTick]:
    return render_ticks(catalog, seed=SEED, tick_ms=100, speed=1.0, until_ns=UNTIL_NS)


@pytest.fixture(scope="session")
def render() -> Any:
    """``render(catalog, seed=, tick_ms=, speed=, until_ns=) -> list[WireTick]``."""
    return render_ticks
