"""Market-wide stress episodes: many tokens leaving their own baselines at once.

Three pure LazyFrame -> LazyFrame steps; :func:`compute_stress` chains them. Definitions,
defaults (project choices: reference metrics.md §9 has none for this) and a worked example
are in docs/metrics.md ("Stress episodes"). The basis is ``basis_bps`` (§1.1, in true USD
per §2: a stablecoin depeg moves ``basis_sc_bps``, not this), live or closed (§1.3).

1. :func:`compute_stress_buckets`, per bucket ``[t, t + bucket)`` and underlying: the
   median basis of the listings whose latest row at the bucket's end is at most
   ``max_age`` old, usable, and on the underlying's latest ``ref_kind``. It is
   **stressed** when a signal fires: basis ``|b − m| ≥ min_dev_bps`` and ``> z_threshold
   · σ`` (m the median, σ = IQR / 1.349 of its buckets in the ``baseline`` before the
   bucket, one reference run, at least ``min_obs`` buckets); spread (optional) above
   ``spread_mult`` × its trailing median; depth (optional) below ``depth_mult`` × its own.
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

from dataclasses import dataclass
from fractions import Fraction

import polars as pl

from divergence.clock import NS_PER_SECOND
from divergence.errors import ConfigError
from divergence.metrics.basis import TS
from divergence.metrics.basis_stats import USABLE_REF_STATES
from divergence.metrics.schemas import CONSOLIDATED_BBO_SCHEMA

MINUTE = 60 * NS_PER_SECOND
IQR_PER_SIGMA = 1.349
"""Interquartile range of a normal distribution, in standard deviations (2 × 0.6745)."""
CLOSED_SESSIONS = ("closed", "halted")
"""Sessions in which the underlying trades nowhere (``market_closed``)."""

_F, _I, _B, _S = pl.Float64(), pl.Int64(), pl.Boolean(), pl.String()
DEPTH_SCHEMA = pl.Schema({"ts_event": TS, "underlying": _S, "depth_usd": _F})
"""Optional depth input: an underlying's token depth in USD at a sample time (e.g. the
consolidated depth within 50 bps, both sides, summed over venues)."""
STRESS_BUCKETS_SCHEMA = pl.Schema(
    {"bucket_start": TS, "underlying": _S, "active": _B, "listings": _I, "session": _S}
    | {"ref_kind": _S, "basis_bps": _F, "baseline_obs": _I, "baseline_bps": _F}
    | {"baseline_sigma_bps": _F, "basis_z": _F, "basis_stressed": _B, "spread_bps": _F}
    | {"spread_baseline_bps": _F, "spread_ratio": _F, "spread_stressed": _B, "depth_usd": _F}
    | {"depth_baseline_usd": _F, "depth_ratio": _F, "depth_stressed": _B, "stressed": _B}
)
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


@dataclass(frozen=True)
class StressParams:
    """Parameters of the stress detector; docs/metrics.md gives the reason for each.

    Buckets of ``bucket_ns`` (1 s). A listing counts while its latest row is at most
    ``max_age_ns`` old (60 s, the overnight staleness limit). Basis signal: baseline of
    ``baseline_ns`` (30 min) with at least ``min_obs`` buckets (120), ``z_threshold``
    (4 σ) and ``min_dev_bps`` (50). Spread: ``spread_mult`` (3 × the trailing median);
    depth: ``depth_mult`` (0.5 ×). Hot: ``min_symbols`` (2) and ``min_share`` (50%) of
    the active underlyings. Episodes open after ``open_after_ns`` (30 s) hot and close
    after ``close_after_ns`` (120 s) not hot, or after ``reconfirm_ns`` (30 min) without
    a fully hot stretch; records are clipped to ``max_episode_ns`` (2 h).
    """

    bucket_ns: int = NS_PER_SECOND
    max_age_ns: int = 60 * NS_PER_SECOND
    baseline_ns: int = 30 * MINUTE
    min_obs: int = 120
    z_threshold: float = 4.0
    min_dev_bps: float = 50.0
    spread_mult: float = 3.0
    depth_mult: float = 0.5
    min_symbols: int = 2
    min_share: float = 0.5
    open_after_ns: int = 30 * NS_PER_SECOND
    close_after_ns: int = 120 * NS_PER_SECOND
    reconfirm_ns: int = 30 * MINUTE
    max_episode_ns: int = 2 * 60 * MINUTE

    def __post_init__(self) -> None:
        spans = ("max_age_ns", "baseline_ns", "open_after_ns", "close_after_ns")
        for name in ("bucket_ns", *spans, "reconfirm_ns", "max_episode_ns"):
            if getattr(self, name) <= 0 or getattr(self, name) % self.bucket_ns:
                _bad(name, getattr(self, name), "must be a positive multiple of bucket_ns")
        checks = {
            "min_obs": self.min_obs >= 2,
            "min_symbols": self.min_symbols >= 2,
            "z_threshold": self.z_threshold > 0,
            "min_dev_bps": self.min_dev_bps >= 0,
            "spread_mult": self.spread_mult > 1,
            "depth_mult": 0 < self.depth_mult < 1,
            "min_share": 0 < self.min_share <= 1,
        }
        for name, ok in checks.items():
            if not ok:
                _bad(name, getattr(self, name), "out of range (see docs/metrics.md)")

    @property
    def buckets_lookback_ns(self) -> int:
        """Basis rows a bucket row needs: its baseline plus the oldest listing's age."""
        return self.baseline_ns + self.max_age_ns + self.bucket_ns

    @property
    def states_lookback_ns(self) -> int:
        """Bucket rows a state row needs: ``reconfirm``. An open episode's hot stretch
        began at most that long ago, and a cold stretch that closed it came after it."""
        return self.reconfirm_ns + self.bucket_ns

    @property
    def episodes_lookback_ns(self) -> int:
        """State rows an episode row needs: the longest episode reported."""
        return self.max_episode_ns + self.bucket_ns

    @property
    def lookback_ns(self) -> int:
        """Basis rows an episode row needs (:func:`compute_stress`, the three chained)."""
        return self.buckets_lookback_ns + self.states_lookback_ns + self.episodes_lookback_ns


def _bad(name: str, value: object, why: str) -> None:
    raise ConfigError(f"{why} (found {value!r})", key=f"stress.{name}", source="params")


_DEFAULTS = StressParams()
STRESS_BUCKETS_LOOKBACK_NS = _DEFAULTS.buckets_lookback_ns
"""31 min 1 s: baseline (30 min) + listing age (60 s) + one bucket."""
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


def _asof(left: pl.LazyFrame, right: pl.LazyFrame, by: str, p: StressParams) -> pl.LazyFrame:
    """Each left row's latest right row of the same ``by`` at or before ``_at``."""
    return left.sort("_at").join_asof(
        right.sort("ts_event", maintain_order=True),
        left_on="_at",
        right_on="ts_event",
        by=by,
        tolerance=_span(p.max_age_ns),
        check_sortedness=False,
    )


# --- 1. per (bucket, underlying) ------------------------------------------------------


def compute_stress_buckets(
    basis: pl.LazyFrame,
    *,
    spreads: pl.LazyFrame | None = None,
    depth: pl.LazyFrame | None = None,
    params: StressParams | None = None,
) -> pl.LazyFrame:
    """One row per (bucket, underlying) for every bucket the basis rows span.

    ``basis`` follows ``BASIS_SCHEMA``, ``spreads`` ``CONSOLIDATED_BBO_SCHEMA``, ``depth``
    :data:`DEPTH_SCHEMA`. Output: :data:`STRESS_BUCKETS_SCHEMA` ordered by (bucket_start,
    underlying); without a usable listing a row is not ``active`` and has null signals.
    """
    p = params or _DEFAULTS
    usable = pl.col("ref_state").is_in(USABLE_REF_STATES)
    rows = basis.select(
        pl.col("ts_event").cast(TS),
        pl.col("source_seq").cast(_I),
        *("instrument_id", "underlying", "session", "ref_kind"),
        pl.when(usable).then(pl.col("basis_bps").cast(_F)).alias("basis_bps"),
    )
    frame = _per_underlying(_grid(rows, p), rows, p)
    active = _with_basis_signal(frame.filter(pl.col("active")), p)
    active = _with_ratio_signal(active, spreads, "spread", p)
    active = _with_ratio_signal(active, depth, "depth", p)
    keys = ["bucket_start", "underlying"]
    flags = ["basis_stressed", "spread_stressed", "depth_stressed"]
    return (
        frame.select(keys)
        .join(active.drop("_at"), on=keys, how="left")
        .with_columns(pl.col(*flags, "active").fill_null(False))
        .with_columns(pl.any_horizontal(flags).alias("stressed"))
        .select(pl.col(n).cast(t) for n, t in STRESS_BUCKETS_SCHEMA.items())
        .sort(keys)
    )


def _grid(rows: pl.LazyFrame, p: StressParams) -> pl.LazyFrame:
    """Every bucket from the first row's to the last row's, for every listing seen;
    ``_at`` is the bucket's last nanosecond."""
    b, t = p.bucket_ns, pl.col("ts_event").cast(_I)
    first, end = ((t.min() // b) * b).fill_null(0), ((t.max() // b) * b + b).fill_null(0)
    buckets = rows.select(pl.int_range(first, end, b).cast(TS).alias("bucket_start"))
    listings = rows.select("instrument_id", "underlying").unique()
    return buckets.join(listings, how="cross").with_columns(
        (pl.col("bucket_start") + _ns(b - 1)).alias("_at")
    )


def _per_underlying(grid: pl.LazyFrame, rows: pl.LazyFrame, p: StressParams) -> pl.LazyFrame:
    """Median basis of the underlying's fresh listings on its latest reference kind."""
    obs = rows.sort("ts_event", "source_seq").with_columns(pl.col("ts_event").alias("_obs"))
    joined = _asof(grid, obs.drop("underlying", "source_seq"), "instrument_id", p)
    order = [pl.col("_obs"), pl.col("instrument_id")]
    latest_kind = pl.col("ref_kind").sort_by(order).last()
    usable = pl.col("basis_bps").filter(pl.col("ref_kind") == latest_kind)
    return (
        joined.group_by("bucket_start", "underlying", "_at")
        .agg(
            usable.count().alias("listings"),
            usable.median().alias("basis_bps"),
            latest_kind.alias("ref_kind"),
            pl.col("session").sort_by(order).last(),
        )
        .with_columns((pl.col("listings") > 0).alias("active"))
        .sort("underlying", "bucket_start")
    )


def _with_basis_signal(active: pl.LazyFrame, p: StressParams) -> pl.LazyFrame:
    """Robust baseline before each bucket, within one reference run: the median and
    σ = IQR / 1.349, so a stress filling under a quarter of the window does not inflate
    its own yardstick (a mean and std would absorb it within minutes)."""
    b, keys = pl.col("basis_bps"), ["underlying", "_run"]
    t, window = "bucket_start", _span(p.baseline_ns)

    def quantile(q: float) -> pl.Expr:
        rolled = b.rolling_quantile_by(t, window, quantile=q, interpolation="linear", closed="left")
        return rolled.over(keys)

    count = b.is_not_null().cast(_I).rolling_sum_by(t, window, closed="left")
    out = active.with_columns(pl.col("ref_kind").rle_id().over("underlying").alias("_run"))
    out = out.with_columns(
        count.over(keys).fill_null(0).alias("baseline_obs"),
        b.rolling_median_by(t, window, closed="left").over(keys).alias("baseline_bps"),
        ((quantile(0.75) - quantile(0.25)) / IQR_PER_SIGMA).alias("baseline_sigma_bps"),
    )
    dev, sigma = b - pl.col("baseline_bps"), pl.col("baseline_sigma_bps")
    known = pl.col("baseline_obs") >= p.min_obs
    stressed = known & (dev.abs() >= p.min_dev_bps) & (dev.abs() > p.z_threshold * sigma)
    return out.with_columns(
        pl.when(known & (sigma > 0)).then(dev / sigma).alias("basis_z"),
        stressed.fill_null(False).alias("basis_stressed"),
    ).drop("_run")


_SIGNAL_COLUMNS = {
    "spread": ("spread_bps", "spread_baseline_bps"),
    "depth": ("depth_usd", "depth_baseline_usd"),
}


def _points(frame: pl.LazyFrame, name: str) -> pl.LazyFrame:
    """(ts_event, underlying, _value): the consolidated spread in bps of its mid, or the
    depth in USD."""
    if name == "depth":
        return frame.select(
            pl.col("ts_event").cast(TS), "underlying", pl.col("depth_usd").cast(_F).alias("_value")
        )
    bbo = frame.select(pl.col(n).cast(t) for n, t in CONSOLIDATED_BBO_SCHEMA.items())
    bid, ask = pl.col("best_bid"), pl.col("best_ask")
    spread = ((ask - bid) / ((ask + bid) / 2) * 1e4).alias("_value")
    return bbo.select("ts_event", "underlying", spread)


def _with_ratio_signal(
    active: pl.LazyFrame, frame: pl.LazyFrame | None, name: str, p: StressParams
) -> pl.LazyFrame:
    """``<name>_*``: the value at the bucket's end, its trailing median, ratio and flag."""
    value, base = _SIGNAL_COLUMNS[name]
    if frame is None:
        nulls = [pl.lit(None, _F).alias(c) for c in (value, base, f"{name}_ratio")]
        return active.with_columns(*nulls, pl.lit(False).alias(f"{name}_stressed"))
    v, t, window = pl.col("_value"), "bucket_start", _span(p.baseline_ns)
    count = v.is_not_null().cast(_I).rolling_sum_by(t, window, closed="left")
    joined = (
        _asof(active, _points(frame, name), "underlying", p)
        .sort("underlying", t)
        .with_columns(
            v.alias(value),
            v.rolling_median_by(t, window, closed="left").over("underlying").alias(base),
            count.over("underlying").alias("_n"),
        )
    )
    ratio = pl.when((pl.col("_n") >= p.min_obs) & (pl.col(base) > 0)).then(v / pl.col(base))
    flag = ratio > p.spread_mult if name == "spread" else ratio < p.depth_mult
    return joined.with_columns(
        ratio.alias(f"{name}_ratio"), flag.fill_null(False).alias(f"{name}_stressed")
    ).drop("ts_event", "_value", "_n")


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
