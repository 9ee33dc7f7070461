"""docs/simulator.md shows every scenario constant as the code defines it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from divergence.clock import NS_PER_SECOND
from divergence.sessions import ET
from divergence.sim import scenario as sc

DOC = Path(__file__).resolve().parents[2] / "docs" / "simulator.md"


def et(ts: int) -> str:
    return datetime.fromtimestamp(ts / NS_PER_SECOND, tz=UTC).astimezone(ET).strftime("%H:%M:%S")


def test_scenario_docs_show_every_episode_time() -> None:
    text = DOC.read_text(encoding="utf-8")
    times = {
        name: et(getattr(sc, name))
        for name in dir(sc)
        if name.endswith("_NS") and isinstance(getattr(sc, name), int)
    }
    assert len(times) == 14
    missing = {name: t for name, t in times.items() if t not in text}
    assert missing == {}
    assert f"{et(sc.RICH_START_NS)}–{et(sc.RICH_END_NS)}" in text
    assert f"{et(sc.DEPEG_START_NS)}–{et(sc.DEPEG_END_NS)}" in text
    for since, rate in sc.SPEED_SCHEDULE:
        assert f"| {et(since)} | {rate:g}× |" in text
    assert f"**{sc.DEPEG_RATE}**" in text and f"{sc.RICH_BPS} bps" in text
    assert f"`{sc.STALE_VENUE}` sends nothing" in text
    assert f"fall {sc.SELLOFF_DEPTH:.0%}" in text
    cascade = sc.SELLOFF_CASCADE_SHARE * sc.SELLOFF_DEPTH
    assert f"{cascade:.1%} of it in the first {sc.SELLOFF_CASCADE_S:g} s" in text


def test_scenario_docs_show_every_episode_window() -> None:
    text = DOC.read_text(encoding="utf-8")
    for episode in sc.EPISODES:
        assert f"{et(episode.start_ns)}–{et(episode.end_ns)}" in text, episode.name
