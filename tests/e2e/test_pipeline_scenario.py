"""The oct10 scenario through the live pipeline: each scripted episode shows in ``basis``."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from divergence.sim import scenario as sc

S = 1_000_000_000
pytestmark = pytest.mark.slow


def _rows(db: Path, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql(sql).fetchall()


def _aapl_between(db: Path, start: int, end: int, columns: str) -> list[tuple]:  # type: ignore[type-arg]
    return _rows(
        db,
        f"""
        SELECT {columns} FROM basis
        WHERE underlying = 'AAPL' AND epoch_ns(ts_event) BETWEEN {start} AND {end}
        ORDER BY ts_event, venue""",
    )


def test_pipeline_rich_episode_is_80_bps_live_on_every_venue(scenario_db: Path) -> None:
    rows = _aapl_between(
        scenario_db, sc.RICH_START_NS + 5 * S, sc.RICH_END_NS - 5 * S, "venue, ref_state, basis_bps"
    )
    assert {venue for venue, _, _ in rows} == {"simx-a", "simx-b", "simdex"}
    assert {state for _, state, _ in rows} == {"live"}
    assert all(abs(bps - sc.RICH_BPS) <= 10 for _, _, bps in rows), rows


def test_pipeline_stale_venue_sends_nothing_in_its_window(scenario_db: Path) -> None:
    rows = _rows(
        scenario_db,
        f"""
        SELECT DISTINCT venue FROM basis
        WHERE epoch_ns(ts_event) BETWEEN {sc.STALE_START_NS + S} AND {sc.STALE_END_NS - S}""",
    )
    assert sorted(v for (v,) in rows) == ["simdex", "simx-a"]


def test_pipeline_weekend_close_freezes_the_reference(scenario_db: Path) -> None:
    rows = _rows(
        scenario_db,
        f"""
        SELECT DISTINCT session, ref_state, epoch_ns(ref_ts) < {sc.WEEKEND_CLOSE_NS},
               basis_bps IS NOT NULL
        FROM basis WHERE epoch_ns(ts_event) >= {sc.WEEKEND_CLOSE_NS}""",
    )
    assert rows == [("closed", "closed", True, True)]


def test_pipeline_selloff_while_closed_shows_against_last_close(scenario_db: Path) -> None:
    before = _aapl_between(
        scenario_db, sc.SELLOFF_START_NS - 5 * 60 * S, sc.SELLOFF_START_NS, "venue, basis_bps"
    )
    bottom = _aapl_between(
        scenario_db,
        sc.SELLOFF_BOTTOM_NS - 60 * S,
        sc.SELLOFF_BOTTOM_NS + 60 * S,
        "venue, basis_bps",
    )
    for venue in ("simx-a", "simx-b", "simdex"):
        pre = [b for v, b in before if v == venue]
        low = [b for v, b in bottom if v == venue]
        assert pre and low, venue
        level = sum(pre) / len(pre) / 1e4
        expected = ((1 + level) * (1 - sc.SELLOFF_DEPTH) - 1) * 1e4
        assert all(abs(b - expected) <= 60 for b in low), (venue, expected, low)


def test_pipeline_usdc_depeg_is_converted_not_reported_as_premium(scenario_db: Path) -> None:
    rows = _aapl_between(
        scenario_db,
        sc.DEPEG_START_NS + 60 * S,
        sc.DEPEG_END_NS - 60 * S,
        "epoch_ns(ts_event), venue, fx_rate, basis_bps, mid_usd, multiplier, ref_mid",
    )
    dex = {ts: (fx, bps, mid, k, ref) for ts, v, fx, bps, mid, k, ref in rows if v == "simdex"}
    usd = {ts: bps for ts, v, _, bps, *_ in rows if v == "simx-a"}
    assert dex and {fx for fx, *_ in dex.values()} == {float(sc.DEPEG_RATE)}
    for ts, (fx, bps, mid, k, ref) in dex.items():
        naive_bps = (mid / fx / (k * ref) - 1) * 1e4  # treating 1 USDC as $1
        assert naive_bps - bps > 1_300, (ts, naive_bps, bps)
        if ts in usd:
            assert abs(bps - usd[ts]) <= 30, (ts, bps, usd[ts])
