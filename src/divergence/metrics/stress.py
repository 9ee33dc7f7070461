"""Market-wide stress episodes: many tokens leaving their own baselines at once.

Three pure LazyFrame -> LazyFrame steps; :func:`compute_stress` chains them. Definitions,
defaults (project choices: reference metrics.md §9 has none for this) and a worked example
are in docs/metrics.md ("Stress episodes").

1. :func:`~divergence.metrics.stress_buckets.compute_stress_buckets` (in
   :mod:`divergence.metrics.stress_buckets`, with :class:`StressParams`), per bucket and
   underlying: whether the underlying is **stressed**, its basis (§1.1, true USD per §2)
   far from its own robust baseline, or its spread or depth far from their medians.
2. :func:`compute_stress_states`, per bucket: ``hot`` when at least ``max(min_symbols,
   ⌈min_share · active⌉)`` underlyings are stressed; ``episode_open`` when the latest
   fully hot stretch of ``open_after`` began after the latest fully cold stretch of
   ``close_after`` ended, and at most ``reconfirm`` ago.
3. :func:`compute_stress_episodes`: one record per run of open buckets, from the start of
   the hot stretch that opened it to the end of its last hot bucket; the peak is the
   bucket with the most stressed underlyings (ties: larger median |basis|, then earlier).

All polars: rolling windows and forward fills, no Python loop. LIVE = BACKFILL: a row at
``t`` depends only on its step's input in ``(t − LOOKBACK, t]`` (``*_LOOKBACK_NS``, or the
``StressParams`` properties), and a bucket is final once the watermark passed its end
(:data:`STRESS_LOOKAHEAD_NS`). An episode's row time is ``closed_at`` (null while open at
the end of the input: provisional). An episode longer than ``max_episode`` is reported
from ``closed_at − max_episode`` (start and confirmation clipped, ``start_clipped``).
"""

from __future__ import annotations

from fractions import Fraction

import polars as pl

from divergence.clock import NS_PER_SECOND
from divergence.metrics.basis import TS
from divergence.metrics.stress_buckets import StressParams, compute_stress_buckets

CLOSED_SESSIONS = ("closed", "halted")
"""Sessions in which the underlying trades nowhere (``market_closed``)."""

_F, _I, _B, _S = pl.Float64(), pl.Int64(), pl.Boolean(), pl.String()
STRESS_STATES_SCHEMA = pl.Schema(
    {"bucket_start": TS, "active": _I, "stressed": _I, "needed": _I, "hot": _B}
    | {"episode_open": _B, "window_start": TS, "session": _S, "stressed_symbols": pl.List(_S)}
    | {"median_abs_basis_bps": _F, "max_abs_z": _F, "max_spread_ratio": _F}
    | {"min_depth_ratio": _F}
)
STRESS_EPISODES_SCHEMA = pl.Schema(
    dict.fromkeys(("episode_start", "confirmed_at", "peak_ts", "episode_end", "closed_at"), TS)
    | {"duration_s": _F, "symbols": pl.List(_S), "n_symbols": _I, "peak_stressed": _I}
    | {"peak_active": _I, "peak_median_abs_basis_bps": _F, "max_abs_z": _F}
    | {"max_spread_ratio": _F, "min_depth_ratio": _F, "session": _S, "market_closed": _B}
    | {"start_clipped": _B}
)

_DEFAULTS = StressParams()
STRESS_STATES_LOOKBACK_NS = _DEFAULTS.states_lookback_ns
"""30 min 1 s of bucket rows: reconfirm (30 min) + one bucket."""
STRESS_EPISODES_LOOKBACK_NS = _DEFAULTS.episodes_lookback_ns
"""2 h 1 s of state rows: max_episode + one bucket."""
STRESS_LOOKBACK_NS = _DEFAULTS.lookback_ns
"""3 h 1 min 3 s of basis rows for :func:`compute_stress` (the three above, chained)."""
STRESS_LOOKAHEAD_NS = _DEFAULTS.bucket_ns
"""1 s: the row of bucket [t, t + 1 s) is final once the watermark passed t + 1 s."""


def _span(ns: int) -> str:
    return f"{ns}ns"


def _ns(ns: int) -> pl.Expr:
    return pl.duration(nanoseconds=ns)


# --- 2. per bucket --------------------------------------------------------------------


def compute_stress_states(
    buckets: pl.LazyFrame, *, params: StressParams | None = None
) -> pl.LazyFrame:
    """Market-wide state per bucket (:data:`STRESS_STATES_SCHEMA`), ordered by time.

    ``buckets`` is :func:`compute_stress_buckets`' output: every bucket of the span.
    """
    p = params or _DEFAULTS
    share = Fraction(p.min_share).limit_denominator(1_000)
    stressed, active = pl.col("stressed"), pl.col("active")
    per = buckets.group_by("bucket_start").agg(
        active.sum().cast(_I),
        stressed.sum().cast(_I),
        pl.col("session").filter(active).mode().sort().first(),
        pl.col("underlying").filter(stressed).sort().alias("stressed_symbols"),
        pl.col("basis_bps").filter(stressed).abs().median().alias("median_abs_basis_bps"),
        pl.col("basis_z").filter(stressed).abs().max().alias("max_abs_z"),
        pl.col("spread_ratio").filter(stressed).max().alias("max_spread_ratio"),
        pl.col("depth_ratio").filter(stressed).min().alias("min_depth_ratio"),
    )
    by_share = (active * share.numerator + share.denominator - 1) // share.denominator
    needed = pl.max_horizontal(pl.lit(p.min_symbols, _I), by_share).alias("needed")
    per = per.sort("bucket_start").with_columns(needed)
    per = per.with_columns((stressed >= pl.col("needed")).alias("hot"))
    return _with_open(per, p).select(STRESS_STATES_SCHEMA.names())


def _with_open(per: pl.LazyFrame, p: StressParams) -> pl.LazyFrame:
    """``window_start`` (start of the latest fully hot ``open_after`` stretch, null when
    older than ``reconfirm``) and ``episode_open``: rolling counts and forward fills
    only, so a row depends on the last ``states_lookback`` of buckets."""
    t, hot, b = pl.col("bucket_start"), pl.col("hot"), p.bucket_ns

    def full(flag: pl.Expr, span: int) -> pl.Expr:
        return flag.cast(_I).rolling_sum_by("bucket_start", _span(span)) == span // b

    opened = pl.when(full(hot, p.open_after_ns)).then(t - _ns(p.open_after_ns - b))
    closed = pl.when(full(~hot, p.close_after_ns)).then(t)
    out = per.with_columns(
        opened.forward_fill().alias("window_start"), closed.forward_fill().alias("_closed")
    )
    ws = pl.col("window_start")
    recent = ws >= t - _ns(p.reconfirm_ns)
    is_open = recent & (pl.col("_closed").is_null() | (ws > pl.col("_closed")))
    return out.with_columns(
        is_open.fill_null(False).alias("episode_open"),
        pl.when(recent).then(ws).alias(ws.meta.output_name()),
    )


# --- 3. episodes ----------------------------------------------------------------------


def compute_stress_episodes(
    states: pl.LazyFrame, *, params: StressParams | None = None
) -> pl.LazyFrame:
    """One record per episode (:data:`STRESS_EPISODES_SCHEMA`), ordered by episode_start.

    ``states`` is :func:`compute_stress_states`' output: every bucket of the span.
    """
    p = params or _DEFAULTS
    members = (
        states.sort("bucket_start")
        .join_asof(
            _intervals(states, p).sort("episode_start"),
            left_on="bucket_start",
            right_on="episode_start",
            check_sortedness=False,
        )
        .filter(pl.col("bucket_start") < pl.col("episode_end"))
    )
    return _summarise(members)


def _intervals(states: pl.LazyFrame, p: StressParams) -> pl.LazyFrame:
    """Per run of open buckets: start, confirmation, end of the last hot bucket, close."""
    b = _ns(p.bucket_ns)
    t, is_open = pl.col("bucket_start"), pl.col("episode_open")
    runs = states.sort("bucket_start").with_columns(
        (is_open & ~is_open.shift(1).fill_null(False)).cum_sum().alias("_run"),
        t.max().alias("_last"),
    )
    per = (
        runs.filter(is_open)
        .group_by("_run")
        .agg(
            t.min().alias("confirmed_at"),
            pl.col("window_start").first().alias("_start"),
            (t.filter(pl.col("hot")).max() + b).alias("episode_end"),
            (t.max() + b).alias("_after"),
            pl.col("_last").first(),
        )
        .sort("confirmed_at")
    )
    closed_at = pl.when(pl.col("_after") <= pl.col("_last")).then(pl.col("_after"))
    clip_from = pl.coalesce(closed_at, pl.col("_last") + b) - _ns(p.max_episode_ns)
    previous_end = pl.col("episode_end").shift(1).fill_null(pl.col("_start"))
    return per.with_columns(
        closed_at.alias("closed_at"),
        pl.max_horizontal(pl.col("_start"), previous_end, clip_from).alias("episode_start"),
        pl.max_horizontal(pl.col("confirmed_at"), clip_from).alias("confirmed_at"),
        (clip_from > pl.col("_start")).alias("start_clipped"),
    ).select("episode_start", "confirmed_at", "episode_end", "closed_at", "start_clipped")


def _summarise(members: pl.LazyFrame) -> pl.LazyFrame:
    """Peak, symbols, extremes and session of each episode's buckets."""
    peak_order = [pl.col("stressed"), pl.col("median_abs_basis_bps").fill_null(-1.0)]

    def peak(column: str) -> pl.Expr:
        return pl.col(column).sort_by(peak_order, descending=True, maintain_order=True).first()

    out = (
        members.sort("bucket_start")
        .group_by("episode_start")
        .agg(
            pl.col("confirmed_at", "episode_end", "closed_at", "start_clipped").first(),
            peak("bucket_start").alias("peak_ts"),
            peak("stressed").alias("peak_stressed"),
            peak("active").alias("peak_active"),
            peak("median_abs_basis_bps").alias("peak_median_abs_basis_bps"),
            pl.col("stressed_symbols").explode().drop_nulls().unique().sort().alias("symbols"),
            pl.col("max_abs_z", "max_spread_ratio").max(),
            pl.col("min_depth_ratio").min(),
            pl.col("session").first(),
        )
    )
    duration = (pl.col("episode_end") - pl.col("episode_start")).dt.total_nanoseconds()
    return (
        out.with_columns(
            (duration.cast(_F) / NS_PER_SECOND).alias("duration_s"),
            pl.col("symbols").list.len().cast(_I).alias("n_symbols"),
            pl.col("session").is_in(CLOSED_SESSIONS).alias("market_closed"),
        )
        .select(pl.col(n).cast(t) for n, t in STRESS_EPISODES_SCHEMA.items())
        .sort("episode_start")
    )


def compute_stress(
    basis: pl.LazyFrame,
    *,
    spreads: pl.LazyFrame | None = None,
    depth: pl.LazyFrame | None = None,
    params: StressParams | None = None,
) -> pl.LazyFrame:
    """Basis rows (and optional spreads and depth) to stress episodes: the three steps."""
    p = params or _DEFAULTS
    buckets = compute_stress_buckets(basis, spreads=spreads, depth=depth, params=p)
    return compute_stress_episodes(compute_stress_states(buckets, params=p), params=p)
