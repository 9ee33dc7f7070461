"""The oct10 scenario through the live pipeline: each scripted episode shows in ``basis``."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pytest

from divergence.sim import scenario as sc

S = 1_000_000_000
TICK = 200 * S  # sim time between ticks at 240x, speed 40, tick_ms 20 (192 s): one tick late
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
    # from 1 s in: simx-b quotes the episode for 5 s before it goes silent (episode 2)
    rows = _aapl_between(
        scenario_db, sc.RICH_START_NS + 1 * S, sc.RICH_END_NS - 5 * S, "venue, ref_state, basis_bps"
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


DEPEG_SETTLED_NS = sc.DEPEG_START_NS + 10 * sc.DEPEG_REPRICE_TAU_S * S
"""The USDC pools have repriced to the depegged coin by then (docs/simulator.md)."""


def test_pipeline_usdc_depeg_pool_lags_then_converges(scenario_db: Path) -> None:
    """While the pool reprices, its USD basis is the coin's lag (a real mispricing the
    depeg explains); the order-book venues are unaffected."""
    rows = _aapl_between(
        scenario_db,
        sc.DEPEG_START_NS,
        DEPEG_SETTLED_NS,
        "epoch_ns(ts_event), venue, basis_bps",
    )
    dex = [(ts, bps) for ts, v, bps in rows if v == "simdex"]
    books = [bps for _, v, bps in rows if v != "simdex"]
    assert dex and books and max(abs(b) for b in books) < 30
    rate = float(sc.DEPEG_RATE)
    for ts, bps in dex:
        t_s = (ts - sc.DEPEG_START_NS) / S
        seen = 1 + (rate - 1) * (1 - math.exp(-t_s / sc.DEPEG_REPRICE_TAU_S))
        assert bps == pytest.approx((rate / seen - 1) * 1e4, abs=40), (ts, bps)
    assert min(bps for _, bps in dex) < -900


def test_pipeline_usdc_depeg_is_converted_not_reported_as_premium(scenario_db: Path) -> None:
    rows = _aapl_between(
        scenario_db,
        DEPEG_SETTLED_NS,
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


def test_pipeline_usdc_depeg_reports_the_coin_effect_and_a_small_residual(
    scenario_db: Path,
) -> None:
    rows = _aapl_between(
        scenario_db,
        DEPEG_SETTLED_NS,
        sc.DEPEG_END_NS - 60 * S,
        "venue, fx_depeg, fx_sources, fx_state, sc_effect_bps, basis_bps, basis_sc_bps",
    )
    dex = [r[1:] for r in rows if r[0] == "simdex"]  # the USDC-quoted pool
    assert dex
    expected = (1 / float(sc.DEPEG_RATE) - 1) * 1e4  # 1397 bps
    for depeg, sources, state, effect, residual, in_coin in dex:
        assert (depeg, sources, state) == (True, 3, "live")
        # sc_effect = (1 + residual) * (1/X - 1) exactly; near 1397 bps while fairly priced.
        assert effect == pytest.approx((1 + residual / 1e4) * expected, abs=1e-6)
        assert in_coin == pytest.approx(residual + effect, abs=1e-9)
        # Once the pool has repriced, the residual is the pool's own small USD basis
        # against the live post-market reference; the coin's part is 1397 bps.
        assert abs(residual) < 30
        assert abs(effect - expected) < 0.005 * expected


def test_pipeline_misprint_is_venue_local_and_does_not_move_the_median(scenario_db: Path) -> None:
    events = _rows(
        scenario_db,
        f"""
        SELECT kind, currency, venue, state, epoch_ns(ts_event) FROM stablecoin_events
        WHERE epoch_ns(ts_event) BETWEEN {sc.MISPRINT_START_NS} AND {sc.MISPRINT_END_NS + TICK}
        ORDER BY ts_event""",
    )
    assert [e[:4] for e in events] == [
        ("venue_local_depeg", "USDT", "sim-fx-c", "start"),
        ("venue_local_depeg", "USDT", "sim-fx-c", "end"),
    ]
    assert sc.MISPRINT_START_NS <= events[0][4] < sc.MISPRINT_START_NS + TICK
    assert sc.MISPRINT_END_NS <= events[1][4] < sc.MISPRINT_END_NS + TICK
    medians = _rows(
        scenario_db,
        f"""
        SELECT min(median_usd), max(median_usd), min(sources) FROM fx_composite
        WHERE currency = 'USDT'
            AND epoch_ns(ts_event) BETWEEN {sc.MISPRINT_START_NS} AND {sc.MISPRINT_END_NS}""",
    )
    low, high, sources = medians[0]
    assert 0.9995 < low <= high < 1.0010 and sources == 3
    basis = _rows(
        scenario_db,
        f"""
        SELECT min(fx_rate), max(fx_rate) FROM basis WHERE quote_currency = 'USDT'
            AND epoch_ns(ts_event) BETWEEN {sc.MISPRINT_START_NS} AND {sc.MISPRINT_END_NS}""",
    )
    assert 0.9995 < basis[0][0] <= basis[0][1] < 1.0010


def test_pipeline_usdc_depeg_fires_a_stablecoin_depeg_for_the_window(scenario_db: Path) -> None:
    events = _rows(
        scenario_db,
        """
        SELECT state, epoch_ns(ts_event), value_bps FROM stablecoin_events
        WHERE kind = 'stablecoin_depeg' AND currency = 'USDC' ORDER BY ts_event""",
    )
    assert [e[0] for e in events] == ["start", "end"]
    assert sc.DEPEG_START_NS <= events[0][1] < sc.DEPEG_START_NS + 60 * S
    # the repeg is linear over DEPEG_REPEG_S: the state ends where |X - 1| < 50 bps
    share = 1 - 50e-4 / (1 - float(sc.DEPEG_RATE))
    crossing = sc.DEPEG_END_NS + round(share * sc.DEPEG_REPEG_S * S)
    assert crossing <= events[1][1] < crossing + 60 * S
    assert events[0][2] == pytest.approx((float(sc.DEPEG_RATE) - 1) * 1e4, abs=1e-6)
