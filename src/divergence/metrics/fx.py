"""Stablecoin USD rates as a median across sources, and the depeg flags (pure polars).

A stablecoin's USD rate ``X`` is never one venue's print. At any instant ``t`` every source
(an fx venue, or a token venue with an ``[[fx]]`` listing) contributes its latest rate at
or before ``t``; a source whose latest rate is older than ``fx_max_staleness_ms`` does not
count. ``X(t)`` is the median of the fresh rates, so one venue's misprint cannot move it
once three sources are fresh (with two, the median is their mean: the ``fx_sources``
column says how many there were). docs/reference-prices.md has the rule and the
thresholds; docs/metrics.md the formulas.

- ``venue_local_depeg``: one source's rate is more than ``venue_depeg_bps`` from the median.
- ``stablecoin_depeg``: the median is more than ``depeg_bps`` from 1.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from divergence.clock import NS_PER_MS

TS: pl.DataType = pl.Datetime("ns")
FX_SCHEMA = pl.Schema(
    {"ts_event": TS, "venue": pl.String(), "currency": pl.String(), "rate_usd": pl.Float64()}
)
FX_COMPOSITE_SCHEMA = pl.Schema(
    {
        "ts_event": TS,
        "venue": pl.String(),
        "currency": pl.String(),
        "rate_usd": pl.Float64(),
        "median_usd": pl.Float64(),
        "sources": pl.Int32(),
        "deviation_bps": pl.Float64(),
        "venue_local_depeg": pl.Boolean(),
        "stablecoin_depeg": pl.Boolean(),
        "source_seq": pl.Int64(),
    }
)
"""The ``fx_composite`` table's columns except ``ts_ingest``."""


def fx_median_at(
    points: pl.LazyFrame,
    rates: pl.LazyFrame,
    *,
    max_staleness_ms: int,
    max_age_ms: int,
) -> pl.LazyFrame:
    """Per row of ``points`` (``_row``, ``ts_event``, ``currency``): the median of the fresh
    source rates at ``ts_event``.

    Returns ``_row``, ``fx_median`` (null without a fresh source), ``fx_median_any`` (the
    median of every source's latest rate within ``max_age_ms``), ``fx_sources`` (fresh
    sources), ``fx_oldest_ts`` (the oldest fresh rate used) and ``fx_newest_ts`` (the newest
    rate of any source within ``max_age_ms``, fresh or not). ``rates`` follows
    ``FX_SCHEMA``; rows with equal (venue, currency, ts_event) resolve to the later one.
    """
    sources = rates.select("currency", "venue").unique()
    expanded = (
        points.select("_row", "ts_event", "currency")
        .join(sources, on="currency", how="inner")
        .sort("ts_event", maintain_order=True)
    )
    ordered = rates.rename({"ts_event": "_fx_ts"}).sort(
        ["currency", "venue", "_fx_ts"], maintain_order=True
    )
    joined = expanded.join_asof(
        ordered,
        left_on="ts_event",
        right_on="_fx_ts",
        by=["currency", "venue"],
        strategy="backward",
        tolerance=timedelta(milliseconds=max_age_ms),
        check_sortedness=False,
    )
    age = (pl.col("ts_event") - pl.col("_fx_ts")).dt.total_nanoseconds()
    fresh = pl.col("_fx_ts").is_not_null() & (age <= max_staleness_ms * NS_PER_MS)
    return joined.group_by("_row").agg(
        pl.col("rate_usd").filter(fresh).median().alias("fx_median"),
        pl.col("rate_usd").median().alias("fx_median_any"),
        fresh.sum().cast(pl.Int32).alias("fx_sources"),
        pl.col("_fx_ts").filter(fresh).min().alias("fx_oldest_ts"),
        pl.col("_fx_ts").max().alias("fx_newest_ts"),
    )


def fx_composite(
    observations: pl.LazyFrame,
    rates: pl.LazyFrame,
    *,
    max_staleness_ms: int,
    max_age_ms: int,
    venue_depeg_bps: float,
    depeg_bps: float,
) -> pl.LazyFrame:
    """Each observation (``FX_SCHEMA`` + ``source_seq``) against the median at its instant.

    ``rates`` holds every rate the median may use (the observations and the latest earlier
    rate of each source); the result follows ``FX_COMPOSITE_SCHEMA``, ordered by
    (ts_event, source_seq).
    """
    points = observations.with_row_index("_row")
    medians = fx_median_at(points, rates, max_staleness_ms=max_staleness_ms, max_age_ms=max_age_ms)
    deviation = (pl.col("rate_usd") / pl.col("median_usd") - 1) * 1e4
    return (
        points.join(medians, on="_row", how="left")
        .rename({"fx_median": "median_usd", "fx_sources": "sources"})
        .drop("fx_median_any")
        .filter(pl.col("median_usd").is_not_null())
        .with_columns(deviation.alias("deviation_bps"))
        .with_columns(
            (pl.col("deviation_bps").abs() > venue_depeg_bps).alias("venue_local_depeg"),
            ((pl.col("median_usd") - 1).abs() * 1e4 > depeg_bps).alias("stablecoin_depeg"),
        )
        .select(pl.col(name).cast(dtype) for name, dtype in FX_COMPOSITE_SCHEMA.items())
        .sort(["ts_event", "source_seq"], maintain_order=True)
    )
