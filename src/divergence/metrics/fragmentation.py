"""Fragmentation of a token's market across venues, per time bucket (pure polars).

metrics.md §3.1 (concentration) and §3.2 (cross-venue quality) per underlying over
epoch-aligned buckets ``[b, b + w)``, ``every`` = ``"1s"`` or ``"1m"``. Time-weighted
quantities integrate the piecewise-constant book state of
:mod:`divergence.metrics.consolidated` over the bucket, including the state in force at
``b``; "at bucket end" means at ``b + w − 1 ns``. ``R`` is the underlying's NBBO mid at
bucket end, null when older than its session's limit (§1.3). Buckets in which no book
was in force and nothing traded give **no row**. docs/_draft_fragmentation.md has it all.

**Lookback / lookahead.** A bucket depends on quotes from ``b − quote_max_age``, on the
reference from ``b + w − max reference age`` and on the bucket's trades:
``FRAGMENTATION_LOOKBACK_NS`` = ``TIME_AT_INSIDE_LOOKBACK_NS`` = 60 s (defaults). A row is
final once the watermark passed ``b + w``: lookahead = ``BUCKET_NS[every]``
(``*_LOOKAHEAD_NS`` = 60 s covers both widths).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from divergence.clock import NS_PER_SECOND
from divergence.errors import ConfigError
from divergence.metrics.basis import conform
from divergence.metrics.consolidated import (
    BOOK_KEY,
    BUCKET_NS,
    DEFAULT_QUOTE_MAX_AGE_NS,
    ConsolidatedParams,
    Every,
    bucket_ns,
    bucket_of,
    compute_book_intervals,
    compute_consolidated_states,
    compute_live_books,
    split_by_bucket,
)
from divergence.metrics.schemas import REFERENCE_NBBO_SCHEMA, USD_TRADES_SCHEMA

TS: pl.DataType = pl.Datetime("ns")
BUCKET_KEY = ("underlying", "bucket_start")

DEFAULT_REFERENCE_MAX_AGE_NS: Mapping[str, int] = {
    "regular": 2 * NS_PER_SECOND,
    "pre": 30 * NS_PER_SECOND,
    "post": 30 * NS_PER_SECOND,
    "overnight": 60 * NS_PER_SECOND,
}
"""metrics.md §1.3 ``max_staleness`` per session of the reference quote; a quote of any
other session (``closed``, ``halted``) is never used as ``R``."""
FRAGMENTATION_LOOKBACK_NS = max(DEFAULT_QUOTE_MAX_AGE_NS, *DEFAULT_REFERENCE_MAX_AGE_NS.values())
FRAGMENTATION_LOOKAHEAD_NS = max(BUCKET_NS.values())
TIME_AT_INSIDE_LOOKBACK_NS = DEFAULT_QUOTE_MAX_AGE_NS
TIME_AT_INSIDE_LOOKAHEAD_NS = max(BUCKET_NS.values())

VENUE_WEIGHTS_SCHEMA = pl.Schema(
    {"underlying": pl.String(), "bucket_start": TS, "venue": pl.String(), "weight": pl.Float64()}
)
"""A non-negative weight per venue and bucket (USD volume, depth, time at inside...)."""
FRAGMENTATION_SCHEMA = pl.Schema(
    {
        "underlying": pl.String(),
        "bucket_start": TS,
        "active_venues": pl.Int32(),
        "volume_usd": pl.Float64(),
        "hhi_volume": pl.Float64(),
        "ffi_volume": pl.Float64(),
        "frag_volume": pl.Float64(),
        "depth_usd": pl.Float64(),
        "hhi_depth": pl.Float64(),
        "ffi_depth": pl.Float64(),
        "frag_depth": pl.Float64(),
        "ref_mid": pl.Float64(),
        "mid_range_bps": pl.Float64(),
        "mid_dispersion_bps": pl.Float64(),
        "locked_ns": pl.Int64(),
        "locked_frac": pl.Float64(),
        "crossed_ns": pl.Int64(),
        "crossed_frac": pl.Float64(),
        "crossed_bps_max": pl.Float64(),
        "crossed_bps_avg": pl.Float64(),
        "crossed_net_ns": pl.Int64(),
        "crossed_net_frac": pl.Float64(),
        "crossed_net_bps_max": pl.Float64(),
        "crossed_net_bps_avg": pl.Float64(),
    }
)
TAI_FLAGS = ("at_bid", "at_ask", "alone_bid", "alone_ask")
TIME_AT_INSIDE_SCHEMA = pl.Schema(
    {"underlying": pl.String(), "bucket_start": TS, "venue": pl.String()}
    | {f"{name}_frac": pl.Float64() for name in ("quoted", *TAI_FLAGS)}
)


@dataclass(frozen=True)
class FragmentationParams:
    """Limits of the fragmentation metrics.

    - ``quote_max_age_ns``: a quote is in force for at most this long (default 60 s);
    - ``reference_max_age_ns``: the oldest usable reference quote per session of that quote
      (default metrics.md §1.3: regular 2 s, pre/post 30 s, overnight 60 s).
    """

    quote_max_age_ns: int = DEFAULT_QUOTE_MAX_AGE_NS
    reference_max_age_ns: Mapping[str, int] = field(
        default_factory=lambda: dict(DEFAULT_REFERENCE_MAX_AGE_NS)
    )

    def __post_init__(self) -> None:
        limits = {"quote_max_age_ns": self.quote_max_age_ns}
        limits.update(
            {f"reference_max_age_ns.{k}": v for k, v in self.reference_max_age_ns.items()}
        )
        for key, value in limits.items():
            if value <= 0:
                raise ConfigError(
                    f"must be a positive number of ns (found {value})",
                    key=f"fragmentation.{key}",
                    source="params",
                )

    @property
    def lookback_ns(self) -> int:
        """Input history a bucket needs before its start."""
        return max(self.quote_max_age_ns, *self.reference_max_age_ns.values())

    @property
    def consolidated(self) -> ConsolidatedParams:
        return ConsolidatedParams(quote_max_age_ns=self.quote_max_age_ns)


DEFAULT_PARAMS = FragmentationParams()


def compute_concentration(weights: pl.LazyFrame, *, suffix: str) -> pl.LazyFrame:
    """§3.1 per ``(underlying, bucket_start)`` from ``VENUE_WEIGHTS_SCHEMA`` weights:
    ``total_<suffix> = Σ V_j``, ``s_i = V_i / Σ V_j``, ``hhi_<suffix> = Σ s_i²``,
    ``ffi_<suffix> = 1 / HHI`` and ``frag_<suffix> = 1 − HHI``; the last three are null
    when the total is 0. Null weights count as 0."""
    key = list(BUCKET_KEY)
    # Sums run in venue order so that two runs agree to the last bit (float addition is
    # not associative and group_by output order is not fixed).
    per_venue = (
        weights.group_by([*key, "venue"], maintain_order=True)
        .agg(pl.col("weight").fill_null(0.0).sum())
        .sort([*key, "venue"])
    )
    total = pl.col("weight").sum().over(key)
    hhi = pl.col("_share").pow(2).sum()
    return (
        per_venue.with_columns(pl.when(total > 0).then(pl.col("weight") / total).alias("_share"))
        .group_by(key, maintain_order=True)
        .agg(
            pl.col("weight").sum().alias(f"total_{suffix}"),
            pl.when(pl.col("_share").is_not_null().any()).then(hhi).alias("_hhi"),
        )
        .select(
            *key,
            f"total_{suffix}",
            pl.col("_hhi").alias(f"hhi_{suffix}"),
            (1 / pl.col("_hhi")).alias(f"ffi_{suffix}"),
            (1 - pl.col("_hhi")).alias(f"frag_{suffix}"),
        )
    )


def venue_volume(trades: pl.LazyFrame, *, width_ns: int) -> pl.LazyFrame:
    """USD volume per venue and bucket (``VENUE_WEIGHTS_SCHEMA``) from ``USD_TRADES_SCHEMA``
    trades with a positive, finite ``notional_usd``."""
    notional = pl.col("notional_usd")
    return (
        trades.pipe(conform, USD_TRADES_SCHEMA)
        .filter((notional > 0) & notional.is_finite())
        .group_by(
            "underlying", bucket_of(pl.col("ts_event"), width_ns).alias("bucket_start"), "venue"
        )
        .agg(notional.sum().alias("weight"))
        .pipe(conform, VENUE_WEIGHTS_SCHEMA)
    )


def venue_depth(intervals: pl.LazyFrame, *, width_ns: int) -> pl.LazyFrame:
    """Time-weighted top-of-book notional per venue and bucket (``VENUE_WEIGHTS_SCHEMA``):
    ``(1/w) ∫ (bid · bid_sz + ask · ask_sz) dt`` summed over the venue's books, in USD."""
    notional = pl.col("bid") * pl.col("bid_sz") + pl.col("ask") * pl.col("ask_sz")
    pieces = split_by_bucket(intervals, width_ns=width_ns, start="ts_start", end="ts_end")
    return (
        pieces.group_by([*BUCKET_KEY, "venue"])
        .agg(((notional * pl.col("overlap_ns")).sum() / width_ns).alias("weight"))
        .pipe(conform, VENUE_WEIGHTS_SCHEMA)
    )


def _active_buckets(
    intervals: pl.LazyFrame, volume: pl.LazyFrame, *, width_ns: int
) -> pl.LazyFrame:
    """Buckets in which a book was in force or a trade printed, with ``active_venues``."""
    pieces = split_by_bucket(intervals, width_ns=width_ns, start="ts_start", end="ts_end")
    return (
        pl.concat([pieces.select(*BUCKET_KEY, "venue"), volume.select(*BUCKET_KEY, "venue")])
        .group_by(list(BUCKET_KEY))
        .agg(pl.col("venue").n_unique().cast(pl.Int32).alias("active_venues"))
    )


def _bucket_end(width_ns: int) -> pl.Expr:
    """The bucket's last nanosecond, ``b + w − 1 ns``: "at bucket end"."""
    return (pl.col("bucket_start").cast(pl.Int64) + (width_ns - 1)).cast(TS).alias("_at")


def _reference_at_end(
    buckets: pl.LazyFrame, reference: pl.LazyFrame, *, width_ns: int, params: FragmentationParams
) -> pl.LazyFrame:
    """``ref_mid`` = (NBB + NBO) / 2 of the last reference quote at or before bucket end,
    null if older than its session's limit, of another session, or not positive."""
    refs = reference.pipe(conform, REFERENCE_NBBO_SCHEMA).sort(
        ["underlying", "ts_event"], maintain_order=True
    )
    joined = (
        buckets.select(*BUCKET_KEY, _bucket_end(width_ns))
        .sort("_at")
        .join_asof(
            refs,
            left_on="_at",
            right_on="ts_event",
            by="underlying",
            strategy="backward",
            check_sortedness=False,
        )
    )
    limit = pl.col("session").replace_strict(
        dict(params.reference_max_age_ns), default=None, return_dtype=pl.Int64
    )
    age = (pl.col("_at") - pl.col("ts_event")).dt.total_nanoseconds()
    nbb, nbo = pl.col("nbb"), pl.col("nbo")
    usable = (age <= limit) & (nbb > 0) & (nbo > 0) & nbb.is_finite() & nbo.is_finite()
    return joined.select(*BUCKET_KEY, pl.when(usable).then((nbb + nbo) / 2).alias("ref_mid"))


def _mids_at_end(
    buckets: pl.LazyFrame, intervals: pl.LazyFrame, volume: pl.LazyFrame, *, width_ns: int
) -> pl.LazyFrame:
    """Per bucket, over the venues with a quote in force at bucket end (a venue's mid is
    ``(max bid + min ask) / 2`` over its books): ``_mid_range = max m_i − min m_i`` and
    ``_mid_sd = sqrt(Σ w_i (m_i − m̄_w)²)`` with ``w_i`` the venue's share of the bucket's
    USD volume among those venues (null when they have no volume)."""
    books = intervals.select(list(BOOK_KEY)).unique()
    live = (
        buckets.select(*BUCKET_KEY, _bucket_end(width_ns))
        .join(books, on="underlying", how="inner")
        .sort("_at")
        .join_asof(
            intervals.sort([*BOOK_KEY, "ts_start"]),
            left_on="_at",
            right_on="ts_start",
            by=list(BOOK_KEY),
            strategy="backward",
            check_sortedness=False,
        )
        .filter(pl.col("_at") < pl.col("ts_end"))
    )
    key = list(BUCKET_KEY)
    mid, weight = pl.col("_mid"), pl.col("weight")
    mean = (weight * mid).sum().over(key) / weight.sum().over(key)
    return (
        live.group_by([*key, "venue"])
        .agg(((pl.col("bid").max() + pl.col("ask").min()) / 2).alias("_mid"))
        .join(volume, on=[*key, "venue"], how="left")
        .with_columns(weight.fill_null(0.0), mean.alias("_mean"))
        .group_by(key)
        .agg(
            (mid.max() - mid.min()).alias("_mid_range"),
            pl.when(weight.sum() > 0)
            .then(((weight * (mid - pl.col("_mean")).pow(2)).sum() / weight.sum()).sqrt())
            .alias("_mid_sd"),
        )
    )


def _locked_crossed(states: pl.LazyFrame, *, width_ns: int) -> pl.LazyFrame:
    """Time locked (``BB = BA``), crossed (``BB > BA``) and crossed net of taker fees
    (``max b_i(1 − f_i) > min a_j(1 + f_j)``) per bucket, with the largest and the
    time-weighted total crossed amount in USD (``_*_max``, ``_*_area``)."""
    gross = pl.col("best_bid") - pl.col("best_ask")
    net = pl.col("best_bid_net") - pl.col("best_ask_net")
    dt = pl.col("overlap_ns")
    return (
        split_by_bucket(states, width_ns=width_ns)
        .group_by(list(BUCKET_KEY))
        .agg(
            dt.filter(gross == 0).sum().alias("locked_ns"),
            dt.filter(gross > 0).sum().alias("crossed_ns"),
            gross.filter(gross > 0).max().alias("_crossed_max"),
            (gross * dt).filter(gross > 0).sum().alias("_crossed_area"),
            dt.filter(net > 0).sum().alias("crossed_net_ns"),
            net.filter(net > 0).max().alias("_net_max"),
            (net * dt).filter(net > 0).sum().alias("_net_area"),
        )
    )


def _finish(joined: pl.LazyFrame, *, width_ns: int) -> pl.LazyFrame:
    """Fill the absent (no trade, no quote) with zeros and express amounts in bps of R."""
    ref = pl.col("ref_mid")

    def bps(amount: pl.Expr) -> pl.Expr:
        return amount / ref * 1e4

    def avg(area: str, ns: str) -> pl.Expr:
        return pl.when(pl.col(ns) > 0).then(bps(pl.col(area) / pl.col(ns)))

    filled = joined.with_columns(
        pl.col("total_volume").fill_null(0.0).alias("volume_usd"),
        pl.col("total_depth").fill_null(0.0).alias("depth_usd"),
        pl.col("locked_ns", "crossed_ns", "crossed_net_ns").fill_null(0),
    )
    return filled.with_columns(
        bps(pl.col("_mid_range")).alias("mid_range_bps"),
        bps(pl.col("_mid_sd")).alias("mid_dispersion_bps"),
        *(
            (pl.col(f"{name}_ns") / width_ns).alias(f"{name}_frac")
            for name in ("locked", "crossed", "crossed_net")
        ),
        bps(pl.col("_crossed_max")).alias("crossed_bps_max"),
        avg("_crossed_area", "crossed_ns").alias("crossed_bps_avg"),
        bps(pl.col("_net_max")).alias("crossed_net_bps_max"),
        avg("_net_area", "crossed_net_ns").alias("crossed_net_bps_avg"),
    )


def compute_fragmentation(
    quotes: pl.LazyFrame,
    trades: pl.LazyFrame,
    reference: pl.LazyFrame,
    *,
    every: Every,
    params: FragmentationParams = DEFAULT_PARAMS,
    depth_weights: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    """Fragmentation per ``(underlying, bucket_start)`` (``FRAGMENTATION_SCHEMA``), ordered
    by those keys; metrics.md §3.1–§3.2, docs/_draft_fragmentation.md.

    Inputs: ``USD_QUOTES_SCHEMA`` quotes, ``USD_TRADES_SCHEMA`` trades and the
    ``REFERENCE_NBBO_SCHEMA`` reference. ``depth_weights`` (``VENUE_WEIGHTS_SCHEMA``)
    replaces the default depth weight, the time-weighted top-of-book notional, e.g. with
    depth within X bps; ``depth_usd`` is then the total of those weights.
    """
    width = bucket_ns(every)
    intervals = compute_book_intervals(quotes, params=params.consolidated)
    volume = venue_volume(trades, width_ns=width)
    depth = (
        venue_depth(intervals, width_ns=width)
        if depth_weights is None
        else depth_weights.pipe(conform, VENUE_WEIGHTS_SCHEMA)
    )
    states = compute_consolidated_states(compute_live_books(intervals), params=params.consolidated)
    buckets = _active_buckets(intervals, volume, width_ns=width)
    key = list(BUCKET_KEY)
    joined = buckets
    for part in (
        compute_concentration(volume, suffix="volume"),
        compute_concentration(depth, suffix="depth"),
        _reference_at_end(buckets, reference, width_ns=width, params=params),
        _mids_at_end(buckets, intervals, volume, width_ns=width),
        _locked_crossed(states, width_ns=width),
    ):
        joined = joined.join(part, on=key, how="left")
    return _finish(joined, width_ns=width).pipe(conform, FRAGMENTATION_SCHEMA).sort(key)


def compute_time_at_inside(
    quotes: pl.LazyFrame, *, every: Every, params: FragmentationParams = DEFAULT_PARAMS
) -> pl.LazyFrame:
    """Time at the inside per venue (``TIME_AT_INSIDE_SCHEMA``), metrics.md §3.2 ``TAI_i``.

    Per ``(underlying, bucket_start, venue)``, fractions of the bucket during which the
    venue had a quote in force (``quoted_frac``), had a bid equal to ``BB``
    (``at_bid_frac``), an ask equal to ``BA`` (``at_ask_frac``), and was the only venue at
    ``BB`` / ``BA`` (``alone_*_frac``: strictly better than every other venue). A venue
    with several books is at a side when any of its books is. Ordered by the keys.
    """
    width = bucket_ns(every)
    live = compute_live_books(compute_book_intervals(quotes, params=params.consolidated))
    instant = ["underlying", "ts_event"]
    at_bid, at_ask = pl.col("_at_bid"), pl.col("_at_ask")
    venues = (
        live.with_columns(
            (pl.col("bid") == pl.col("bid").max().over(instant)).alias("_at_bid"),
            (pl.col("ask") == pl.col("ask").min().over(instant)).alias("_at_ask"),
        )
        .group_by([*instant, "ts_next", "venue"])
        .agg(at_bid.any(), at_ask.any())
        .with_columns(
            (at_bid & (at_bid.sum().over(instant) == 1)).alias("_alone_bid"),
            (at_ask & (at_ask.sum().over(instant) == 1)).alias("_alone_ask"),
        )
    )
    dt = pl.col("overlap_ns")
    return (
        split_by_bucket(venues, width_ns=width)
        .group_by([*BUCKET_KEY, "venue"])
        .agg(
            (dt.sum() / width).alias("quoted_frac"),
            *(
                (dt.filter(pl.col(f"_{name}")).sum() / width).alias(f"{name}_frac")
                for name in TAI_FLAGS
            ),
        )
        .pipe(conform, TIME_AT_INSIDE_SCHEMA)
        .sort([*BUCKET_KEY, "venue"])
    )
