"""Step 1 of the stress detector: is each underlying stressed, bucket by bucket?

An underlying is **stressed** in a bucket when its tokens, taken together, leave their own
recent behaviour: the basis far from its baseline or, with the optional inputs, the
consolidated spread much wider or the depth much thinner than usual. Each underlying is
judged only against itself, so a token that always trades at a premium is not stressed by
that premium; :mod:`divergence.metrics.stress` then counts the stressed underlyings per
bucket to find market-wide episodes.

:func:`compute_stress_buckets`, per bucket ``[t, t + bucket)`` and underlying: the median
basis of the listings whose latest row at the bucket's end is at most ``max_age`` old,
usable, and on the underlying's latest ``ref_kind``. It is stressed when a signal fires:
basis ``|b − m| ≥ min_dev_bps`` and ``> z_threshold · σ`` (m the median, σ = IQR / 1.349
of its buckets in the ``baseline`` before the bucket, one reference run, at least
``min_obs`` buckets); spread (optional) above ``spread_mult`` × its trailing median; depth
(optional) below ``depth_mult`` × its own. The basis is ``basis_bps`` (§1.1, in true USD
per §2: a stablecoin depeg moves ``basis_sc_bps``, not this), live or closed (§1.3).
Defaults are project choices (reference metrics.md §9 has none for this); definitions and
a worked example are in docs/metrics.md ("Stress episodes").

:class:`StressParams` holds the parameters of all three steps. It lives here, with the
first step, so that :mod:`divergence.metrics.stress` imports this module and not the
reverse.

All polars: as-of joins and rolling windows, no Python loop. LIVE = BACKFILL: a bucket row
depends only on input rows within :data:`STRESS_BUCKETS_LOOKBACK_NS` (or
``StressParams.buckets_lookback_ns``) before it, and is final once the watermark passed
the bucket's end (``STRESS_LOOKAHEAD_NS`` in :mod:`divergence.metrics.stress`).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from divergence.clock import NS_PER_SECOND
from divergence.errors import ConfigError
from divergence.metrics.basis import TS
from divergence.metrics.basis_stats import USABLE_REF_STATES
from divergence.metrics.schemas import CONSOLIDATED_BBO_SCHEMA

MINUTE = 60 * NS_PER_SECOND
IQR_PER_SIGMA = 1.349
"""Interquartile range of a normal distribution, in standard deviations (2 × 0.6745)."""

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
