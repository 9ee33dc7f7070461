"""The daily venue scorecard, FINRA 5310 style (pure polars; metrics.md §4.4, §4.1).

:func:`compute_venue_scorecard` aggregates the rows of
:func:`divergence.metrics.execution.compute_execution_quality` and
:func:`divergence.metrics.trade_through.compute_trade_throughs` per (ET day, underlying,
venue, Rule 605 notional bucket). With ``w`` = shares (``size``) and sums over the rows
where the metric is defined::

    effective_spread_bps     = Σ w·ES% / Σ w                    (share-weighted, §4.1)
    realized_spread_<h>_bps  = Σ w·RS_h% / Σ w                  (h = 15 s and 1 min)
    price_improvement_bps    = Σ w·improvement / Σ w·M × 1e4    (avg % PI, §4.1; signed:
                                                                 outside counts negative)
    ref_price_improvement_bps: the same vs the underlying NBBO (live rows only)
    eq_ratio_pct             = (Σ w·ES / Σ w) / (Σ w·QS / Σ w) × 100          (E/Q)
    trade_through_rate_pct   = traded-through / evaluated trades × 100
    material_difference      = ES% - min over the venues of (day, underlying,
                               bucket) of ES% > material_difference_bps (10 bps, §4.4)

**Windows.** A day's row depends only on that ET day's input rows
(:data:`SCORECARD_LOOKBACK_NS` = 0 on its input; the inputs carry their own windows).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from divergence.errors import ConfigError
from divergence.metrics.execution import notional_bucket, trading_day_et
from divergence.metrics.trade_through import SUMMARY_INPUT_COLUMNS, TRADE_THROUGH_SCHEMA

SCORECARD_LOOKBACK_NS = 0
"""A day's row needs only that ET day's execution and trade-through rows."""
GROUP = ["day", "underlying", "venue", "notional_bucket"]
PEERS = ["day", "underlying", "notional_bucket"]
ORDER = [*PEERS, "venue"]


@dataclass(frozen=True, kw_only=True)
class ScorecardParams:
    """Parameters of :func:`compute_venue_scorecard` (defaults: metrics.md §9, §4.4).

    - ``material_difference_bps``: how far a venue's ES% may trail the best venue's
      before ``material_difference`` is set, default 10 bps;
    - ``realized_labels``: the execution horizons reported, default 15 s and 1 min
      (the Rule 605 summary columns).
    """

    material_difference_bps: float = 10.0
    realized_labels: tuple[str, ...] = ("15s", "1m")

    def __post_init__(self) -> None:
        if not self.material_difference_bps >= 0:
            raise ConfigError(
                f"must be >= 0, found {self.material_difference_bps}",
                key="scorecard.material_difference_bps",
                source="params",
            )


DEFAULT_SCORECARD_PARAMS = ScorecardParams()


def scorecard_schema(realized_labels: tuple[str, ...] = ("15s", "1m")) -> pl.Schema:
    """The output columns of :func:`compute_venue_scorecard`."""
    f64 = pl.Float64()
    realized = {f"realized_spread_{label}_bps": f64 for label in realized_labels}
    head: dict[str, pl.DataType] = {
        "day": pl.Date(), "underlying": pl.String(), "venue": pl.String(),
        "notional_bucket": pl.Int32(), "trades": pl.Int64(), "shares": f64,
        "notional_usd": f64, "effective_spread_bps": f64,
    }  # fmt: skip
    tail: dict[str, pl.DataType] = {
        "price_improvement_bps": f64, "ref_price_improvement_bps": f64,
        "eq_ratio_pct": f64, "trade_through_rate_pct": f64,
        "best_effective_spread_bps": f64, "material_difference": pl.Boolean(),
    }  # fmt: skip
    return pl.Schema({**head, **realized, **tail})


SCORECARD_SCHEMA = scorecard_schema()


def compute_venue_scorecard(
    execution: pl.LazyFrame,
    trade_throughs: pl.LazyFrame,
    *,
    params: ScorecardParams = DEFAULT_SCORECARD_PARAMS,
) -> pl.LazyFrame:
    """One row per (ET day, underlying, venue, notional bucket) that has execution rows
    (:func:`scorecard_schema`), ordered by day, underlying, bucket, venue (``ORDER``).
    Formulas: the module docstring."""
    rows = execution.with_columns(trading_day_et(pl.col("ts_event")).alias("day"))
    w = pl.col("size")
    realized = [
        _wavg(pl.col(f"realized_spread_{label}_bps"), w).alias(f"realized_spread_{label}_bps")
        for label in params.realized_labels
    ]
    es_usd, qs_usd = pl.col("effective_spread_usd"), pl.col("quoted_spread_usd")
    both = es_usd.is_not_null() & qs_usd.is_not_null()
    cards = rows.group_by(GROUP).agg(
        pl.len().cast(pl.Int64).alias("trades"),
        w.sum().alias("shares"),
        pl.col("notional_usd").sum().alias("notional_usd"),
        _wavg(pl.col("effective_spread_bps"), w).alias("effective_spread_bps"),
        *realized,
        _improvement(pl.col("price_improvement_usd"), pl.col("mid_usd"), w),
        _improvement(pl.col("ref_price_improvement_usd"), pl.col("ref_mid"), w, "ref_"),
        _ratio(
            pl.when(both).then(es_usd * w).sum(), pl.when(both).then(qs_usd * w).sum(), 100.0
        ).alias("eq_ratio_pct"),
    )
    cards = cards.join(_trade_through_rates(trade_throughs), on=GROUP, how="left")
    best = pl.col("effective_spread_bps").min().over(PEERS)
    gap = pl.col("effective_spread_bps") - pl.col("best_effective_spread_bps")
    schema = scorecard_schema(params.realized_labels)
    return (
        cards.with_columns(best.alias("best_effective_spread_bps"))
        .with_columns((gap > params.material_difference_bps).alias("material_difference"))
        .select(pl.col(n).cast(t) for n, t in schema.items())
        .sort(ORDER)
    )


def _ratio(numerator: pl.Expr, denominator: pl.Expr, scale: float) -> pl.Expr:
    """``numerator / denominator × scale``; null when the denominator is 0 or null."""
    return pl.when(denominator != 0).then(numerator / denominator * scale)


def _wavg(value: pl.Expr, weight: pl.Expr) -> pl.Expr:
    """Weighted mean over the rows where both are defined (null when there are none)."""
    valid = value.is_not_null() & weight.is_not_null()
    return _ratio(pl.when(valid).then(value * weight).sum(), pl.when(valid).then(weight).sum(), 1)


def _improvement(improvement: pl.Expr, mid: pl.Expr, w: pl.Expr, prefix: str = "") -> pl.Expr:
    """§4.1 average % price improvement, in bps: Σ w·improvement / Σ w·M × 1e4."""
    valid = improvement.is_not_null() & mid.is_not_null() & w.is_not_null()
    numerator = pl.when(valid).then(improvement * w).sum()
    return _ratio(numerator, pl.when(valid).then(mid * w).sum(), 1e4).alias(
        f"{prefix}price_improvement_bps"
    )


def _trade_through_rates(trade_throughs: pl.LazyFrame) -> pl.LazyFrame:
    """Per scorecard group: traded-through / evaluated trades × 100."""
    rows = trade_throughs.select(
        pl.col(n).cast(TRADE_THROUGH_SCHEMA[n]) for n in SUMMARY_INPUT_COLUMNS
    ).with_columns(
        trading_day_et(pl.col("ts_event")).alias("day"),
        notional_bucket(pl.col("notional_usd")).alias("notional_bucket"),
    )
    flag = pl.col("traded_through")
    return rows.group_by(GROUP).agg(
        _ratio(flag.fill_null(False).sum(), flag.is_not_null().sum(), 100.0).alias(
            "trade_through_rate_pct"
        )
    )
