"""Cost of sweeping a token's liquidity for the Rule 605 notional buckets (metrics.md §4.1).

For each sample (``ts_event``, ``underlying``), side and notional ``N`` (default: the
§4.1 bucket floors $250 … $200,000), :func:`compute_sweep_costs` fills ``N`` USD against

- the **consolidated** token liquidity: every book's levels
  (:data:`~divergence.metrics.schemas.BOOK_LEVELS_SCHEMA`) and every pool's curve
  (:data:`~divergence.metrics.schemas.POOL_CURVES_SCHEMA`, via
  :func:`divergence.metrics.depth.with_curve`), cheapest first;
- each **single venue** alone; the best one (lowest buy / highest sell average fill; ties:
  the venue name first in order) is ``best_venue``;

and compares with the underlying's NBBO mid. ``N`` is the cash that changes hands, fees
included: a buy *pays* ``N`` USD, a sell *receives* ``N`` USD net. Fills are USD per
share, ``fill = N / shares``.

**Marginal prices net of fees.** A book level ``(p, q)`` with taker fee ``f`` costs
``λ = p·(1 + f)`` per share to buy and pays ``λ = p·(1 − f)`` to sell. A pool (curve
reserves ``x``, ``y``, price ``p``, LP fee ``f`` on the input, as Uniswap) fed ``u`` USD
gross returns ``x − x·y/(y + u·(1 − f))`` shares; its marginal buy price when the curve
price has reached ``P`` is ``λ = P/(1 − f)`` (sell: ``λ = P·(1 − f)``). An optimal sweep
takes every source whose marginal price is better than some level ``λ*``, so the
sweep walks the *events* (a level's price, a pool curve's start, a concentrated pool's
range end) in price order. With ``c = y/√(p·(1 − f))`` a pool's cash and shares up to
``λ`` are, exactly,

    buy:   cash = c·√λ − y/(1 − f)        shares = x − c/√λ
    sell:  cash = y − c·√λ                shares = c/√λ − x/(1 − f)

so between two events ``λ₀ → λ₁`` the active curves (coefficient ``K = Σ ±c``) add
``K·(√λ₁ − √λ₀)`` USD and ``K·(√λ₁ − √λ₀)/(√λ₀·√λ₁)`` shares, and a level adds its
``λ·q`` USD and ``q`` shares at once. The notional is reached either inside a segment,
``√λ* = √λ₀ + (N − cash₀)/K`` and ``shares = shares₀ + (N − cash₀)/(√λ₀·√λ*)``, or on a
level (a partial fill at its price). This is closed form: no bisection and no tolerance;
every term is a sum of positive amounts, so fills are exact to a few ulps (for one pool
it reduces to ``x − x·y/(y + N·(1 − f))``).

A constant-product pool can absorb any buy (at a rising price) but pays at most ``y`` on
a sell; a concentrated pool only up to its known range (depth.py: beyond it liquidity is
unknown and counts as none, so fills are conservative). Only visible book levels count.
When the liquidity cannot fill ``N``: ``fillable = false`` and null fills, never an
extrapolation.

- ``cost_of_fragmentation_bps = D·(fill_best_venue − fill_consolidated) / fill_consolidated · 1e4``
  (``D`` = +1 buy, −1 sell): ≥ 0, positive when the best single venue is worse; 0 for a
  one-venue market; null when no single venue can fill ``N``.
- ``token_vs_stock_gap_bps = D·(fill_consolidated − ref_mid) / ref_mid · 1e4``: positive
  when a token buy costs more than the stock, or a token sell gets less.

``ref_mid = (nbb + nbo)/2`` is the latest reference NBBO at or before ``ts_event`` whose
session is open (``pre``, ``regular``, ``post``, ``overnight``) and whose age is within
that session's limit (metrics.md §1.3: 2 s regular, 30 s pre/post, 60 s overnight);
otherwise null (the stock does not trade, or its quote is stale). Levels and pools are
sampled states: a sample only combines rows with the same ``ts_event``.
:data:`SWEEP_LOOKBACK_NS` (60 s) covers the reference; there is no look-ahead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType

import polars as pl

from divergence.clock import NS_PER_MS
from divergence.errors import ConfigError
from divergence.metrics.depth import with_curve
from divergence.metrics.schemas import BOOK_LEVELS_SCHEMA, REFERENCE_NBBO_SCHEMA

TS: pl.DataType = pl.Datetime("ns")

RULE_605_NOTIONALS_USD: tuple[float, ...] = (
    250.0,
    1_000.0,
    5_000.0,
    10_000.0,
    20_000.0,
    50_000.0,
    200_000.0,
)
"""The floors of the Rule 605 notional buckets (metrics.md §4.1; the < $250 bucket has none)."""
REF_MAX_STALENESS_MS: Mapping[str, int] = MappingProxyType(
    {"regular": 2_000, "pre": 30_000, "post": 30_000, "overnight": 60_000}
)
"""Reference staleness per open session, metrics.md §1.3; other sessions have no ref_mid."""
SWEEP_LOOKBACK_NS = max(REF_MAX_STALENESS_MS.values()) * NS_PER_MS
"""60 s: the oldest reference quote a row can use (with the default staleness limits)."""

SWEEP_SCHEMA = pl.Schema(
    {
        "ts_event": TS,
        "underlying": pl.String(),
        "side": pl.String(),
        "notional_usd": pl.Float64(),
        "fillable": pl.Boolean(),
        "fill_consolidated": pl.Float64(),
        "fill_best_venue": pl.Float64(),
        "best_venue": pl.String(),
        "ref_mid": pl.Float64(),
        "cost_of_fragmentation_bps": pl.Float64(),
        "token_vs_stock_gap_bps": pl.Float64(),
    }
)
"""One row per sample, side (``buy``/``sell``) and notional; fills in USD per share."""

SWEEP_KEYS = ["ts_event", "underlying", "side"]
_STEPS = ["jump_usd", "jump_sh", "d_k", "d_n"]


@dataclass(frozen=True)
class SweepParams:
    """``notionals_usd`` (default the §4.1 bucket floors) and ``ref_max_staleness_ms``
    per open session (default §1.3)."""

    notionals_usd: tuple[float, ...] = RULE_605_NOTIONALS_USD
    ref_max_staleness_ms: Mapping[str, int] = field(default_factory=lambda: REF_MAX_STALENESS_MS)

    def __post_init__(self) -> None:
        if not self.notionals_usd or min(self.notionals_usd) <= 0:
            raise ConfigError(
                f"needs positive notionals, found {list(self.notionals_usd)}",
                key="sweep.notionals_usd",
                source="params",
            )
        if not self.ref_max_staleness_ms or min(self.ref_max_staleness_ms.values()) <= 0:
            raise ConfigError(
                f"needs positive limits, found {dict(self.ref_max_staleness_ms)}",
                key="sweep.ref_max_staleness_ms",
                source="params",
            )

    @property
    def lookback_ns(self) -> int:
        """The input window these parameters need before a row (:data:`SWEEP_LOOKBACK_NS`)."""
        return max(self.ref_max_staleness_ms.values()) * NS_PER_MS


def compute_sweep_costs(
    levels: pl.LazyFrame,
    pools: pl.LazyFrame,
    reference: pl.LazyFrame,
    *,
    params: SweepParams,
) -> pl.LazyFrame:
    """Sweep fills per sample, side and notional (``SWEEP_SCHEMA``), sorted by ts_event,
    underlying, side, notional_usd.

    ``levels``: ``BOOK_LEVELS_SCHEMA``; ``pools``: ``POOL_CURVES_SCHEMA`` (optionally with
    ``price_lower``/``price_upper``); ``reference``: ``REFERENCE_NBBO_SCHEMA``.
    """
    events = pl.concat([_book_events(levels), _pool_events(pools)], how="vertical")
    notionals = pl.LazyFrame(
        {"notional_usd": list(params.notionals_usd)}, schema={"notional_usd": pl.Float64()}
    )
    consolidated = _sweep(events, SWEEP_KEYS, notionals).rename({"fill": "fill_consolidated"})
    best = _best_venue(_sweep(events, [*SWEEP_KEYS, "venue"], notionals))
    sides = pl.LazyFrame({"side": ["buy", "sell"]})
    keys = [*SWEEP_KEYS, "notional_usd"]
    samples = pl.concat([_sample_keys(levels), _sample_keys(pools)], how="vertical").unique()
    rows = (
        samples.join(sides, how="cross")
        .join(notionals, how="cross")
        .join(consolidated, on=keys, how="left")
        .join(best, on=keys, how="left")
    )
    return (
        _with_costs(_with_ref_mid(rows, reference, params))
        .select(pl.col(n).cast(t) for n, t in SWEEP_SCHEMA.items())
        .sort(keys)
    )


def _with_costs(rows: pl.LazyFrame) -> pl.LazyFrame:
    """``fillable`` and the two signed comparisons (D = +1 buy, −1 sell)."""
    d = pl.when(pl.col("side") == "buy").then(1.0).otherwise(-1.0)
    cons, best, ref = pl.col("fill_consolidated"), pl.col("fill_best_venue"), pl.col("ref_mid")
    return rows.with_columns(
        cons.is_not_null().alias("fillable"),
        (d * (best - cons) / cons * 1e4 + 0.0).alias("cost_of_fragmentation_bps"),  # no −0.0
        (d * (cons - ref) / ref * 1e4).alias("token_vs_stock_gap_bps"),
    )


def _sample_keys(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.select(pl.col("ts_event").cast(TS), pl.col("underlying").cast(pl.String))


def _event_frame(
    frame: pl.LazyFrame, side: str | pl.Expr, lam: pl.Expr, **steps: pl.Expr
) -> pl.LazyFrame:
    """Sweep events: at marginal price ``lam``, a jump (``jump_usd``, ``jump_sh``) and the
    change of the curve coefficient K (``d_k``) and of the number of active curves
    (``d_n``)."""
    side_expr = pl.lit(side) if isinstance(side, str) else side
    return frame.select(
        pl.col("ts_event").cast(TS),
        pl.col("underlying").cast(pl.String),
        pl.col("venue").cast(pl.String),
        side_expr.cast(pl.String).alias("side"),
        lam.cast(pl.Float64).alias("lam"),
        *(steps.get(n, pl.lit(0.0)).cast(pl.Float64).alias(n) for n in _STEPS),
    )


def _book_events(levels: pl.LazyFrame) -> pl.LazyFrame:
    """One event per level: buys take asks at p·(1+f), sells hit bids at p·(1−f)."""
    lv = levels.select(pl.col(n).cast(t) for n, t in BOOK_LEVELS_SCHEMA.items()).filter(
        pl.col("side").is_in(["bid", "ask"]) & (pl.col("price") > 0) & (pl.col("size") > 0)
    )
    buy = pl.col("side") == "ask"
    fee = pl.col("fee_bps") / 1e4
    lam = pl.when(buy).then(pl.col("price") * (1 + fee)).otherwise(pl.col("price") * (1 - fee))
    side = pl.when(buy).then(pl.lit("buy")).otherwise(pl.lit("sell"))
    return _event_frame(lv, side, lam, jump_usd=lam * pl.col("size"), jump_sh=pl.col("size"))


def _pool_events(pools: pl.LazyFrame) -> pl.LazyFrame:
    """Per pool and side, where its curve starts (its marginal price, K += ±c) and, for a
    bounded range, where it ends (K −= ±c); K > 0 for buys, < 0 for sells."""
    curve = with_curve(pools)
    p, lo, hi = pl.col("curve_p"), pl.col("curve_lo"), pl.col("curve_hi")
    keep = 1 - pl.col("curve_f")
    c = pl.col("curve_y") / (p * keep).sqrt()
    buy, sell = curve.filter(hi > p), curve.filter(lo < p)
    one = pl.lit(1.0)
    return pl.concat(
        [
            _event_frame(buy, "buy", p / keep, d_k=c, d_n=one),
            _event_frame(buy.filter(hi.is_finite()), "buy", hi / keep, d_k=-c, d_n=-one),
            _event_frame(sell, "sell", p * keep, d_k=-c, d_n=one),
            _event_frame(sell.filter(lo > 0), "sell", lo * keep, d_k=c, d_n=-one),
        ],
        how="vertical",
    )


def _sweep(events: pl.LazyFrame, keys: list[str], notionals: pl.LazyFrame) -> pl.LazyFrame:
    """``keys`` + ``notional_usd`` → ``fill`` for every fillable (group, notional)."""
    buy = pl.col("side") == "buy"
    grouped = events.group_by([*keys, "lam"]).agg(pl.col(n).sum() for n in _STEPS)
    terminal = (
        events.select(keys)
        .unique()
        .with_columns(
            pl.when(buy).then(float("inf")).otherwise(0.0).alias("lam"),
            *(pl.lit(0.0).alias(n) for n in _STEPS),
        )
    )
    ordered = (
        pl.concat([grouped.select(terminal.collect_schema().names()), terminal])
        .with_columns(((pl.col("lam") == 0) | pl.col("lam").is_infinite()).alias("_end"))
        .with_columns(
            pl.when(pl.col("_end"))
            .then(float("inf"))
            .when(buy)
            .then(pl.col("lam"))
            .otherwise(-pl.col("lam"))
            .alias("_ord")
        )
        .sort([*keys, "_ord"])
    )
    return _solve(_with_segments(ordered, keys), keys, notionals)


def _with_segments(ordered: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """Cash and shares reached after the previous event (``c_prev``, ``s_prev``), over the
    curve segment up to this event (``seg_usd``, ``seg_sh``), and after its jump.

    On a segment from √λ₀ to √λ₁ the active curves give ``K·(√λ₁ − √λ₀)`` USD and that
    divided by ``√λ₀·√λ₁`` shares: sums of positive terms, no cancellation."""

    def before(step: pl.Expr) -> pl.Expr:
        return step.cum_sum().shift(1, fill_value=0.0).over(keys)

    active = before(pl.col("d_n")) > 0.5  # counts are exact; a residual K is not
    segs = ordered.with_columns(
        pl.when(active).then(before(pl.col("d_k"))).otherwise(0.0).alias("k_prev"),
        pl.col("lam").sqrt().alias("root"),
        pl.col("lam").sqrt().shift(1).over(keys).alias("root_prev"),
    )
    k, root, prev = pl.col("k_prev"), pl.col("root"), pl.col("root_prev")
    curve = k != 0
    segs = segs.with_columns(
        pl.when(curve).then(k * (root - prev)).otherwise(0.0).alias("seg_usd"),
    ).with_columns(
        pl.when(curve & ~pl.col("_end"))
        .then(pl.col("seg_usd") / (root * prev))
        .otherwise(0.0)
        .alias("seg_sh"),
    )
    return segs.with_columns(
        before(pl.col("seg_usd") + pl.col("jump_usd")).alias("c_prev"),
        before(pl.col("seg_sh") + pl.col("jump_sh")).alias("s_prev"),
    ).with_columns(
        (pl.col("c_prev") + pl.col("seg_usd")).alias("c_before"),
        (pl.col("c_prev") + pl.col("seg_usd") + pl.col("jump_usd")).alias("c_after"),
    )


def _solve(segs: pl.LazyFrame, keys: list[str], notionals: pl.LazyFrame) -> pl.LazyFrame:
    """The first event that reaches each notional, and the shares bought there."""
    n, lam, prev = pl.col("notional_usd"), pl.col("lam"), pl.col("root_prev")
    reached = pl.when(pl.col("_end")).then(pl.col("c_after") > n).otherwise(pl.col("c_after") >= n)
    rest = n - pl.col("c_prev")
    root_star = prev + rest / pl.col("k_prev")  # √λ* inside the segment
    shares = (
        pl.when(pl.col("c_before") >= n)
        .then(pl.col("s_prev") + rest / (prev * root_star))
        .otherwise(pl.col("s_prev") + pl.col("seg_sh") + (n - pl.col("c_before")) / lam)
    )
    return (
        segs.join(notionals, how="cross")
        .filter(reached)
        .sort([*keys, "notional_usd", "_ord"])
        .unique(subset=[*keys, "notional_usd"], keep="first", maintain_order=True)
        .with_columns((n / shares).alias("fill"))
        .select(*keys, "notional_usd", "fill")
    )


def _best_venue(per_venue: pl.LazyFrame) -> pl.LazyFrame:
    """Per sample, side and notional: the single venue with the best fill."""
    score = pl.when(pl.col("side") == "buy").then(pl.col("fill")).otherwise(-pl.col("fill"))
    keys = [*SWEEP_KEYS, "notional_usd"]
    return (
        per_venue.with_columns(score.alias("_score"))
        .sort([*keys, "_score", "venue"])
        .unique(subset=keys, keep="first", maintain_order=True)
        .select(*keys, pl.col("fill").alias("fill_best_venue"), pl.col("venue").alias("best_venue"))
    )


def _with_ref_mid(rows: pl.LazyFrame, reference: pl.LazyFrame, params: SweepParams) -> pl.LazyFrame:
    """``ref_mid``: the latest open-session NBBO mid within its session's staleness limit."""
    refs = reference.select(pl.col(n).cast(t) for n, t in REFERENCE_NBBO_SCHEMA.items()).select(
        "underlying",
        pl.col("ts_event").alias("_ref_ts"),
        ((pl.col("nbb") + pl.col("nbo")) / 2).alias("_mid"),
        pl.col("session").alias("_session"),
    )
    limits = {s: ms * NS_PER_MS for s, ms in params.ref_max_staleness_ms.items()}
    limit = pl.col("_session").replace_strict(limits, default=None, return_dtype=pl.Int64)
    age = (pl.col("ts_event") - pl.col("_ref_ts")).dt.total_nanoseconds()
    return (
        rows.sort("ts_event")
        .join_asof(
            refs.sort(["underlying", "_ref_ts"], maintain_order=True),
            left_on="ts_event",
            right_on="_ref_ts",
            by="underlying",
            strategy="backward",
            tolerance=timedelta(microseconds=params.lookback_ns // 1_000),
            check_sortedness=False,
        )
        .with_columns(pl.when(age <= limit).then(pl.col("_mid")).alias("ref_mid"))
    )
