"""Market-wide circuit breaker context for token activity (pure polars).

Shared reference metrics.md §5.2 and §5.5 (``MWCB_context``): the S&P 500 Level 1/2/3
triggers of each trading day, and which token activity windows fell in that day's
regular session while the index was at or below a trigger, or during the halt an equity
market would have had. The catalog has no S&P 500 source yet, so nothing calls these
outside the tests; the index frame is optional and the levels alone can be published::

    level_k      = prior close × (1 − d_k),   d = 7 %, 13 %, 20 %
    decline      = highest k with index ≤ level_k (value in force at the window's start)
    halt (k=1,2) = [t_k, t_k + 15 min) when t_k < 15:25 ET (12:25 on early-close days)
    halt (k=3)   = [t_3, regular close)
    t_k          = first instant of the regular session with index ≤ level_k

Live = backfill: a window's context depends only on index values of its own day's
regular session, so :data:`MWCB_CONTEXT_LOOKBACK_NS` and :data:`MWCB_CONTEXT_LOOKAHEAD_NS`
are the longest regular session (6 h 30 min), measured from ``ts_start``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import polars as pl

from divergence.errors import ConfigError
from divergence.metrics.basis import conform
from divergence.metrics.calendar_frames import (
    MINUTE_NS,
    asof,
    duration_ns,
    et_date,
    trading_sessions,
)
from divergence.metrics.schemas import TS
from divergence.sessions import MarketCalendar, default_calendar

log = logging.getLogger(__name__)

REGULAR_SESSION_MAX_NS = 390 * MINUTE_NS
MWCB_LEVELS_LOOKBACK_NS = 0
"""Levels are row-wise: each day's from its own prior close."""
MWCB_CONTEXT_LOOKBACK_NS = REGULAR_SESSION_MAX_NS
MWCB_CONTEXT_LOOKAHEAD_NS = REGULAR_SESSION_MAX_NS

SP500_PRIOR_CLOSE_SCHEMA = pl.Schema({"date": pl.Date(), "close": pl.Float64()})
"""``close`` = the S&P 500 close of the trading day before ``date`` (index points)."""
MWCB_LEVELS_SCHEMA = pl.Schema(
    {"date": pl.Date(), "level_1": pl.Float64(), "level_2": pl.Float64(), "level_3": pl.Float64()}
)
INDEX_VALUES_SCHEMA = pl.Schema({"ts_event": TS, "value": pl.Float64()})
"""S&P 500 index values (points) and their instants."""
ACTIVITY_SCHEMA = pl.Schema({"underlying": pl.String(), "ts_start": TS, "ts_end": TS})
"""Token activity windows ``[ts_start, ts_end)``, e.g. 1-minute trade buckets."""
MWCB_CONTEXT_SCHEMA = pl.Schema(
    {
        **ACTIVITY_SCHEMA,
        "et_date": pl.Date(),
        "regular": pl.Boolean(),
        "level_1": pl.Float64(),
        "level_2": pl.Float64(),
        "level_3": pl.Float64(),
        "index_value": pl.Float64(),
        "decline_level": pl.Int8(),
        "halt_level": pl.Int8(),
    }
)


@dataclass(frozen=True)
class MwcbParams:
    """MWCB parameters (metrics.md §5.2; FINRA 6121, NYSE 7.12 (verify)).

    - ``declines``: Level 1/2/3 declines from the prior close (7 %, 13 %, 20 %);
    - ``halt_ns``: the Level 1/2 halt (15 min);
    - ``cutoff_before_close_ns``: Level 1/2 halt only before close − this (35 min:
      15:25 ET, 12:25 ET on early-close days).
    """

    declines: tuple[float, float, float] = (0.07, 0.13, 0.20)
    halt_ns: int = 15 * MINUTE_NS
    cutoff_before_close_ns: int = 35 * MINUTE_NS

    def __post_init__(self) -> None:
        if not 0 < self.declines[0] < self.declines[1] < self.declines[2] < 1:
            raise ConfigError(
                f"must increase within (0, 1) (found {self.declines})",
                key="declines",
                source="params",
            )
        for key in ("halt_ns", "cutoff_before_close_ns"):
            if not 0 < getattr(self, key) <= REGULAR_SESSION_MAX_NS:
                raise ConfigError(
                    f"must be in (0, 6.5 h] (found {getattr(self, key)})", key=key, source="params"
                )


def compute_mwcb_levels(
    sp500_prior_close: pl.LazyFrame, *, params: MwcbParams = MwcbParams()
) -> pl.LazyFrame:
    """``MWCB_LEVELS_SCHEMA`` per date: ``level_k = close × (1 − declines[k-1])`` (§5.2).

    ``sp500_prior_close`` (``SP500_PRIOR_CLOSE_SCHEMA``) gives, per trading day, the
    index's previous close; ordered by date.
    """
    closes = conform(sp500_prior_close, SP500_PRIOR_CLOSE_SCHEMA)
    return closes.select(
        "date",
        *(
            (pl.col("close") * (1 - decline)).alias(f"level_{k}")
            for k, decline in enumerate(params.declines, start=1)
        ),
    ).sort("date")


def compute_mwcb_context(
    activity: pl.LazyFrame,
    *,
    levels: pl.LazyFrame,
    index_values: pl.LazyFrame | None = None,
    params: MwcbParams = MwcbParams(),
    calendar: MarketCalendar | None = None,
) -> pl.LazyFrame:
    """The MWCB context (``MWCB_CONTEXT_SCHEMA``) of each activity window (§5.2, §5.5).

    ``et_date`` is the ET date of ``ts_start``; ``regular`` whether the window overlaps
    that date's regular session (XNYS calendar). For such windows, with index values:
    ``index_value`` is the index in force at the later of ``ts_start`` and the open (the
    day's values only), ``decline_level`` the highest level it is at or below (0 if
    none), ``halt_level`` the highest level whose halt overlaps the window (0 if none).
    These are null outside the regular session and without the day's index values;
    the levels are null without ``levels`` (``MWCB_LEVELS_SCHEMA``) for the date.
    Halts are not serialized: a Level 2 trigger during a Level 1 halt starts its own.
    Ordered by (underlying, ts_start, ts_end).
    """
    cal = calendar or default_calendar()
    days = trading_sessions(cal).lazy().select("trading_day", "open", "close")
    windows = (
        conform(activity, ACTIVITY_SCHEMA)
        .with_columns(et_date("ts_start").alias("et_date"))
        .join(days, left_on="et_date", right_on="trading_day", how="left")
        .with_columns(
            ((pl.col("ts_start") < pl.col("close")) & (pl.col("ts_end") > pl.col("open")))
            .fill_null(False)
            .alias("regular"),
            pl.max_horizontal("ts_start", "open").alias("_from"),
            pl.min_horizontal("ts_end", "close").alias("_to"),
        )
        .join(conform(levels, MWCB_LEVELS_SCHEMA), left_on="et_date", right_on="date", how="left")
    )
    if index_values is None:
        tagged = windows.with_columns(
            pl.lit(None, dtype=pl.Float64).alias("index_value"),
            pl.lit(None, dtype=pl.Int8).alias("decline_level"),
            pl.lit(None, dtype=pl.Int8).alias("halt_level"),
        )
    else:
        tagged = _with_index(windows, conform(index_values, INDEX_VALUES_SCHEMA), days, params)
    return tagged.select(
        pl.col(name).cast(dtype) for name, dtype in MWCB_CONTEXT_SCHEMA.items()
    ).sort(["underlying", "ts_start", "ts_end"], maintain_order=True)


def _with_index(
    windows: pl.LazyFrame, index: pl.LazyFrame, days: pl.LazyFrame, params: MwcbParams
) -> pl.LazyFrame:
    """index_value, decline_level and halt_level of regular windows, from the day's index."""
    values = (
        index.with_columns(et_date("ts_event").alias("et_date"))
        .join(days, left_on="et_date", right_on="trading_day")
        .filter((pl.col("ts_event") >= pl.col("open")) & (pl.col("ts_event") < pl.col("close")))
        .select("et_date", "ts_event", "value")
    )
    crossings = _crossings(values, windows, params)
    joined = asof(
        windows.filter(pl.col("regular")), values, on="_from", right_on="ts_event", by=["et_date"]
    ).join(crossings, on="et_date", how="left")
    value = pl.col("value")
    decline = pl.lit(0, dtype=pl.Int8)
    halt = pl.lit(0, dtype=pl.Int8)
    for k in (1, 2, 3):
        decline = (
            pl.when(value <= pl.col(f"level_{k}")).then(pl.lit(k, dtype=pl.Int8)).otherwise(decline)
        )
        start, end = pl.col(f"_halt{k}_start"), pl.col(f"_halt{k}_end")
        overlap = (start < pl.col("_to")) & (end > pl.col("_from"))
        halt = pl.when(overlap.fill_null(False)).then(pl.lit(k, dtype=pl.Int8)).otherwise(halt)
    tagged = joined.with_columns(
        value.alias("index_value"),
        pl.when(value.is_not_null() & pl.col("level_1").is_not_null())
        .then(decline)
        .alias("decline_level"),
        pl.when(pl.col("_indexed").fill_null(False)).then(halt).alias("halt_level"),
    )
    return pl.concat([tagged, windows.filter(~pl.col("regular"))], how="diagonal")


def _crossings(values: pl.LazyFrame, windows: pl.LazyFrame, params: MwcbParams) -> pl.LazyFrame:
    """Per ET date with index values: each level's halt interval (null if none)."""
    levels = windows.select("et_date", "close", "level_1", "level_2", "level_3").unique()
    firsts = (
        values.join(levels, on="et_date")
        .group_by("et_date")
        .agg(
            pl.col("close").first(),
            *(
                pl.col("ts_event")
                .filter(pl.col("value") <= pl.col(f"level_{k}"))
                .min()
                .alias(f"_t{k}")
                for k in (1, 2, 3)
            ),
        )
    )
    cutoff = pl.col("close") - duration_ns(params.cutoff_before_close_ns)
    columns: list[pl.Expr] = [pl.lit(True).alias("_indexed")]
    for k in (1, 2):
        early = pl.col(f"_t{k}") < cutoff
        columns.append(pl.when(early).then(pl.col(f"_t{k}")).alias(f"_halt{k}_start"))
        end = pl.col(f"_t{k}") + duration_ns(params.halt_ns)
        columns.append(pl.when(early).then(end).alias(f"_halt{k}_end"))
    columns.append(pl.col("_t3").alias("_halt3_start"))
    columns.append(pl.when(pl.col("_t3").is_not_null()).then("close").alias("_halt3_end"))
    return firsts.select("et_date", *columns)
