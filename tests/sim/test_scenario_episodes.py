"""The scripted episodes happen at the scenario constants' times, read off the wire frames.

Basis is computed here from the generated frames with the formula of docs/metrics:
``mid_usd / (k x ref_mid) - 1`` with the catalog multiplier and the published fx rate.
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from divergence.catalog import Catalog, Token
from divergence.clock import NS_PER_SECOND
from divergence.sim import scenario as sc

USD = Decimal(1)


def multiplier(token: Token, ts: int) -> Decimal:
    when = datetime.fromtimestamp(ts / NS_PER_SECOND, tz=UTC)
    return [m.value for m in token.multipliers if m.effective_from <= when][-1]


def token_mid(tick: Any, token: Token) -> Decimal | None:
    """The listing's mid in USD at this tick (book mid or pool price), or None if silent."""
    fx = tick.of("sim-fx", "fx")
    rate = USD if token.quote_currency == "USD" else Decimal(fx[token.quote_currency]["rate"])
    quote = tick.of(token.venue, "quote").get(token.venue_symbol)
    if quote is not None:
        return (Decimal(quote["bid"]) + Decimal(quote["ask"])) / 2 * rate
    pool = tick.of(token.venue, "pool").get(token.venue_symbol)
    if pool is not None:
        return Decimal(pool["quote"]) / Decimal(pool["base"]) * rate
    return None


def basis_bps(tick: Any, token: Token) -> float | None:
    nbbo = tick.of("sim-sip", "nbbo").get(token.underlying)
    mid = token_mid(tick, token)
    if nbbo is None or mid is None:
        return None
    ref_mid = (Decimal(nbbo["bid"]) + Decimal(nbbo["ask"])) / 2
    return float((mid / (multiplier(token, tick.ts) * ref_mid) - 1) * 10_000)


def sim_tokens(catalog: Catalog) -> list[Token]:
    return [t for t in catalog.token if t.venue in ("simx-a", "simx-b", "simdex")]


def test_scenario_rich_episode_basis(oct10_ticks: list[Any], catalog: Catalog) -> None:
    inside: list[float] = []
    outside: list[float] = []
    repricing = (
        sc.DEPEG_START_NS,
        sc.DEPEG_START_NS + 10 * sc.DEPEG_REPRICE_TAU_S * NS_PER_SECOND,
    )  # the pools lag the depegged coin (test_scenario_usdc_depeg)
    for tick in oct10_ticks:
        for token in sim_tokens(catalog):
            basis = basis_bps(tick, token)
            if basis is None:
                continue
            if token.venue == "simdex" and repricing[0] <= tick.ts < repricing[1]:
                continue
            rich = sc.RICH_START_NS <= tick.ts < sc.RICH_END_NS
            if rich and token.underlying == sc.RICH_UNDERLYING:
                assert abs(basis - sc.RICH_BPS) <= 10, (token.id, tick.ts, basis)
                inside.append(basis)
            else:
                assert abs(basis) <= 15, (token.id, tick.ts, basis)
                outside.append(basis)
    # 45 s at 0.4 s per tick, two AAPLx listings (simx-b is silent for 40 of those 45 s):
    # the episode was really observed
    assert len(inside) >= 2 * 110
    assert len(outside) > 1_000


def test_scenario_stale_venue_sends_nothing(oct10_ticks: list[Any]) -> None:
    def sends(tick: Any) -> bool:
        return any(venue == sc.STALE_VENUE for venue, _ in tick.frames)

    during = [t for t in oct10_ticks if sc.STALE_START_NS <= t.ts < sc.STALE_END_NS]
    before = [t for t in oct10_ticks if t.ts < sc.STALE_START_NS]
    after = [t for t in oct10_ticks if t.ts >= sc.STALE_END_NS]
    assert len(during) == 60 * 1000 // 400  # one tick per 0.4 sim s at 4x
    assert not any(sends(t) for t in during)
    assert all(sends(t) for t in before[-5:]) and all(sends(t) for t in after[:5])
    # the other venues keep their heartbeats during the window
    assert all(t.of("simx-a", "heartbeat") for t in during)


def test_scenario_sessions_close(oct10_ticks: list[Any]) -> None:
    changes = [
        (frame["ts"], frame["sym"], frame["session"])
        for tick in oct10_ticks
        for venue, frame in tick.frames
        if frame["ch"] == "session"
    ]
    expected = [
        (ts, sym, session)
        for ts, session in ((sc.CLOSE_NS, "post"), (sc.WEEKEND_CLOSE_NS, "closed"))
        for sym in ("AAPL", "TSLA", "NVDA")
    ]
    assert changes == expected
    quoted = [t for t in oct10_ticks if t.of("sim-sip", "nbbo")]
    assert max(t.ts for t in quoted) < sc.WEEKEND_CLOSE_NS
    assert not any(t.of("sim-sip", "trade") for t in oct10_ticks if t.ts >= sc.WEEKEND_CLOSE_NS)

    def spread_bps(tick: Any) -> float:
        q = tick.of("sim-sip", "nbbo")["AAPL"]
        bid, ask = Decimal(q["bid"]), Decimal(q["ask"])
        return float((ask - bid) / ((ask + bid) / 2) * 10_000)

    regular = [spread_bps(t) for t in quoted if t.ts < sc.CLOSE_NS]
    post = [spread_bps(t) for t in quoted if t.ts >= sc.CLOSE_NS]
    assert max(regular) < min(post)


def test_scenario_tokens_trade_while_closed(oct10_ticks: list[Any], catalog: Catalog) -> None:
    closed = [t for t in oct10_ticks if t.ts >= sc.WEEKEND_CLOSE_NS]
    for token in sim_tokens(catalog):
        mids = [token_mid(t, token) for t in closed]
        assert all(m is not None for m in mids), token.id
        assert len(set(mids)) >= 50, token.id  # the latent price keeps moving


def test_scenario_selloff_on_token_venues(oct10_ticks: list[Any], catalog: Catalog) -> None:
    start, bottom, end = sc.SELLOFF_START_NS, sc.SELLOFF_BOTTOM_NS, sc.SELLOFF_END_NS
    for token in sim_tokens(catalog):
        before = [
            token_mid(t, token) for t in oct10_ticks if start - 60 * NS_PER_SECOND <= t.ts < start
        ]
        at_bottom = [
            token_mid(t, token) for t in oct10_ticks if abs(t.ts - bottom) <= 12 * NS_PER_SECOND
        ]
        at_end = [token_mid(t, token) for t in oct10_ticks if abs(t.ts - end) <= 12 * NS_PER_SECOND]
        ref = sum(before) / len(before)  # type: ignore[arg-type]
        drop = float(min(at_bottom) / ref - 1)  # type: ignore[type-var,operator]
        kept = float(max(at_end) / ref - 1)  # type: ignore[type-var,operator]
        depth = sc.SELLOFF_DEPTH
        assert -depth - 0.015 < drop < -depth + 0.015, (token.id, drop)
        recovered = depth * sc.SELLOFF_RECOVERY
        assert -depth + recovered - 0.015 < kept < -depth + recovered + 0.015, (token.id, kept)


def test_scenario_selloff_cascades_in_its_first_minute() -> None:
    """Most of the fall comes in SELLOFF_CASCADE_S, as in a liquidation cascade, so a
    shadow LULD's 5% band around a trailing 5-minute mean is breached for a minute."""
    factor, start = sc.OCT10_SCENARIO.selloff_factor, sc.SELLOFF_START_NS
    fast = sc.SELLOFF_DEPTH * sc.SELLOFF_CASCADE_SHARE  # 0.08 x 0.8 = 6.4% in 60 s
    assert factor(start - 1) == factor(start) == 1.0
    assert factor(start + sc.SELLOFF_CASCADE_S * NS_PER_SECOND) == pytest.approx(1 - fast)
    assert factor(sc.SELLOFF_BOTTOM_NS) == pytest.approx(1 - sc.SELLOFF_DEPTH)
    path = [factor(start + k * NS_PER_SECOND) for k in range(-300, 900)]  # 1 s steps
    bottom = 300 + (sc.SELLOFF_BOTTOM_NS - start) // NS_PER_SECOND
    assert all(a >= b for a, b in itertools.pairwise(path[: bottom + 1]))
    assert all(a <= b for a, b in itertools.pairwise(path[bottom:]))
    ratio = [path[k] / (sum(path[k - 300 : k]) / 300) for k in range(300, len(path))]
    # 63 s more than 5% below the mean of the previous 5 minutes, up to 5.8% below
    # (a smooth 8% fall over 5 minutes never gets 5% below it)
    assert sum(r < 0.95 for r in ratio) >= 60 and min(ratio) < 0.945


def test_scenario_usdc_depeg(oct10_ticks: list[Any], catalog: Catalog) -> None:
    def usdc(tick: Any) -> Decimal:
        return Decimal(tick.of("sim-fx", "fx")["USDC"]["rate"])

    repegged = sc.DEPEG_END_NS + sc.DEPEG_REPEG_S * NS_PER_SECOND
    inside = [t for t in oct10_ticks if sc.DEPEG_START_NS <= t.ts < sc.DEPEG_END_NS]
    repeg = [t for t in oct10_ticks if sc.DEPEG_END_NS <= t.ts < repegged]
    outside = [t for t in oct10_ticks if t.ts < sc.DEPEG_START_NS or t.ts >= repegged]
    assert len(inside) == 11 * 60 // 3 + 19 * 60 // 24 + 1  # 3 s ticks to 18:11, then 24 s
    assert {usdc(t) for t in inside} == {sc.DEPEG_RATE}
    assert all(abs(usdc(t) - 1) <= Decimal("0.0005") for t in outside)
    # the repeg climbs from the depeg rate back to 1 without a step
    ramp = [usdc(t) for t in repeg]
    assert ramp == sorted(ramp) and sc.DEPEG_RATE <= ramp[0] < ramp[-1] <= 1
    tokens = {t.id: t for t in catalog.token}
    settled = sc.DEPEG_START_NS + 10 * sc.DEPEG_REPRICE_TAU_S * NS_PER_SECOND
    for underlying in ("AAPL", "TSLA", "NVDA"):
        pool, book = tokens[f"{underlying}x@simdex"], tokens[f"{underlying}x@simx-a"]
        for tick in inside:
            raw = tick.of("simdex", "pool")[pool.venue_symbol]
            usdc_price = Decimal(raw["quote"]) / Decimal(raw["base"])
            usd_pool = usdc_price * usdc(tick) / multiplier(pool, tick.ts)
            usd_book = token_mid(tick, book) / multiplier(book, tick.ts)  # type: ignore[operator]
            gap_bps = float(usd_pool / usd_book - 1) * 10_000
            # the pool reprices by arbitrage: at first its USD value is 1 - 0.8774 below
            # the book's, then the rate it reflects catches up with DEPEG_REPRICE_TAU_S
            t_s = (tick.ts - sc.DEPEG_START_NS) / NS_PER_SECOND
            rate = float(sc.DEPEG_RATE)
            seen = 1 + (rate - 1) * (1 - math.exp(-t_s / sc.DEPEG_REPRICE_TAU_S))
            lag_bps = (rate / seen - 1) * 1e4
            assert abs(gap_bps - lag_bps) <= 30, (pool.id, tick.ts)
            if tick.ts >= settled:  # then USDC prices are 1/0.8774 up: USD value tracks
                assert usdc_price > usd_book * Decimal("1.12")
                assert abs(gap_bps) <= 30, (pool.id, tick.ts)
