"""The stablecoin median across sources and the depeg flags (docs/reference-prices.md)."""

from __future__ import annotations

import polars as pl
import pytest

from divergence.metrics.fx import FX_COMPOSITE_SCHEMA, fx_composite

S = 1_000_000_000
T0 = 1_760_130_000 * S
TS = pl.Datetime("ns")


def rates(*rows: tuple[int, str, float], seq0: int = 1) -> pl.LazyFrame:
    """(ts_event, venue, rate) of USDC; source_seq counts from ``seq0``."""
    return pl.LazyFrame(
        {
            "ts_event": pl.Series([r[0] for r in rows], dtype=pl.Int64).cast(TS),
            "venue": [r[1] for r in rows],
            "currency": ["USDC"] * len(rows),
            "rate_usd": [r[2] for r in rows],
            "source_seq": list(range(seq0, seq0 + len(rows))),
        },
        schema_overrides={"venue": pl.String, "rate_usd": pl.Float64},
    )


def composite(observations: pl.LazyFrame, context: pl.LazyFrame) -> pl.DataFrame:
    return fx_composite(
        observations,
        context,
        max_staleness_ms=60_000,
        max_age_ms=3_600_000,
        venue_depeg_bps=50.0,
        depeg_bps=50.0,
    ).collect()


def test_fx_composite_flags_the_misprinting_venue_not_the_coin() -> None:
    frame = rates(
        (T0, "a", 1.0000), (T0 + S, "b", 0.9998), (T0 + 2 * S, "c", 0.65), (T0 + 3 * S, "a", 1.0001)
    )
    out = composite(frame, frame)
    assert out.schema == FX_COMPOSITE_SCHEMA
    rows = out.select("venue", "median_usd", "sources", "venue_local_depeg", "stablecoin_depeg")
    assert rows.rows() == [
        ("a", 1.0, 1, False, False),
        ("b", pytest.approx(0.9999), 2, False, False),
        ("c", 0.9998, 3, True, False),  # median of 1.0, 0.9998, 0.65
        ("a", 0.9998, 3, False, False),  # median of 1.0001, 0.9998, 0.65
    ]
    c = out.filter(pl.col("venue") == "c").row(0, named=True)
    assert c["deviation_bps"] == pytest.approx((0.65 / 0.9998 - 1) * 1e4, abs=1e-9)


def test_fx_composite_flags_the_coin_when_every_source_agrees_on_a_depeg() -> None:
    frame = rates((T0, "a", 0.8774), (T0 + S, "b", 0.8780), (T0 + 2 * S, "c", 0.8770))
    out = composite(frame, frame)
    assert out["stablecoin_depeg"].to_list() == [True, True, True]
    assert out["venue_local_depeg"].to_list() == [False, False, False]
    assert out["median_usd"].to_list() == pytest.approx([0.8774, 0.8777, 0.8774])


def test_fx_composite_uses_carried_in_rates_but_not_stale_ones() -> None:
    earlier = rates((T0 - 30 * S, "a", 1.0002), (T0 - 61 * S, "b", 0.5), seq0=1)
    new = rates((T0, "c", 1.0000), seq0=10)
    out = composite(new, pl.concat([earlier, new]))
    row = out.row(0, named=True)
    assert (row["median_usd"], row["sources"]) == (pytest.approx(1.0001), 2)
    assert row["source_seq"] == 10
