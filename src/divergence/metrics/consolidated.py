"""The consolidated token BBO per underlying, across venues and pools (pure polars).

metrics.md §3.2 defines the consolidated best bid and ask of a token as ``BB = max_i b_i``
and ``BA = min_i a_i`` over the venues ``i`` (books and pools alike), in USD per
underlying share (the contract of :mod:`divergence.metrics.schemas`). This module builds
that state as a piecewise-constant function of time:

1. :func:`compute_book_intervals`: each *book* (one ``(underlying, venue, instrument_id)``
   listing) is in force from its quote's ``ts_event`` until the book's next quote or until
   the quote is ``quote_max_age_ns`` old, whichever comes first: ``[ts, min(next, ts +
   max_age))``: a quote exactly ``quote_max_age_ns`` old is out. A quote with ``bid >=
   ask`` or a missing, non-positive or non-finite price replaces the previous quote but is
   not in force itself: the book drops out until its next valid quote. Quotes of one book
   with equal ``ts_event`` resolve to the last by ``source_seq`` (then input order).
2. :func:`compute_live_books`: every *change instant* of an underlying (a quote coming into
   force or ending, including the expiry instants), with each book in force at it.
3. :func:`compute_consolidated_states` and :func:`compute_consolidated_bbo`: the
   consolidated book at each change instant.
4. :func:`split_by_bucket`: cuts such intervals at epoch-aligned bucket boundaries, for
   the time-weighted metrics of :mod:`divergence.metrics.fragmentation`.

The consolidated book may be crossed (``BB > BA`` across venues): it is kept, it is a
signal (see :mod:`divergence.metrics.fragmentation`).

**Ties at the best price** (exact float equality of the USD prices). The size at a side
is the total displayed at that price by every book at it. The venue named at a side is
the book that reached the price first (its *priority*: the start of its unbroken run of
quotes at that price; an expiry or an invalid quote breaks the run). To keep the result
bounded in history, priorities older than ``priority_horizon_ns`` before the instant
count as equal, and equal priorities go to the smaller ``venue`` (then
``instrument_id``) name.

**Rows.** :func:`compute_consolidated_bbo` emits one row at every change instant, even
when the consolidated values stay the same (another venue's quote changed, or a quote
was refreshed at the same price), so a row's ``ts_event`` also tells how recent the
newest quote is; when no book is in force the row has ``venues = 0`` and null prices.

**Lookback.** A row at ``t`` depends on the quotes in force at ``t`` (sent after
``t − quote_max_age_ns``) and on when they reached their price, compared over
``priority_horizon_ns``: ``CONSOLIDATED_BBO_LOOKBACK_NS = quote_max_age_ns +
priority_horizon_ns`` (120 s with the defaults; :attr:`ConsolidatedParams.lookback_ns`
for others). The function is causal: no lookahead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import polars as pl

from divergence.clock import NS_PER_SECOND
from divergence.errors import BadRequestError, ConfigError
from divergence.metrics.basis import conform
from divergence.metrics.schemas import CONSOLIDATED_BBO_SCHEMA, USD_QUOTES_SCHEMA

TS: pl.DataType = pl.Datetime("ns")
BOOK_KEY = ("underlying", "venue", "instrument_id")
INSTANT_KEY = ("underlying", "ts_event")

Every = Literal["1s", "1m"]
BUCKET_NS: Mapping[str, int] = {"1s": NS_PER_SECOND, "1m": 60 * NS_PER_SECOND}
"""Bucket widths of ``every``, epoch-aligned (:func:`split_by_bucket`)."""

DEFAULT_QUOTE_MAX_AGE_NS = 60 * NS_PER_SECOND
"""A quote older than this is no longer in force (default, a project choice: §3.2 does not
fix it; 60 s matches the overnight reference limit of §1.3)."""
DEFAULT_PRIORITY_HORIZON_NS = 60 * NS_PER_SECOND
"""How far back time priority at the same price is compared (default)."""
CONSOLIDATED_BBO_LOOKBACK_NS = DEFAULT_QUOTE_MAX_AGE_NS + DEFAULT_PRIORITY_HORIZON_NS
"""Input history :func:`compute_consolidated_bbo` needs before a row (default params)."""

BOOK_INTERVALS_SCHEMA = pl.Schema(
    {
        "underlying": pl.String(),
        "venue": pl.String(),
        "instrument_id": pl.String(),
        "ts_start": TS,
        "ts_end": TS,
        "bid": pl.Float64(),
        "bid_sz": pl.Float64(),
        "ask": pl.Float64(),
        "ask_sz": pl.Float64(),
        "fee_bps": pl.Float64(),
        "bid_since": TS,
        "ask_since": TS,
    }
)
"""One valid quote of one book and ``[ts_start, ts_end)``, the time it is in force;
``bid_since``/``ask_since`` start the book's unbroken run at that bid / ask price."""
LIVE_BOOKS_SCHEMA = pl.Schema(
    {
        "underlying": pl.String(),
        "ts_event": TS,
        "ts_next": TS,
        "venue": pl.String(),
        "instrument_id": pl.String(),
        "bid": pl.Float64(),
        "bid_sz": pl.Float64(),
        "ask": pl.Float64(),
        "ask_sz": pl.Float64(),
        "fee_bps": pl.Float64(),
        "bid_since": TS,
        "ask_since": TS,
    }
)
"""One book in force over ``[ts_event, ts_next)``, between two change instants."""
CONSOLIDATED_STATES_SCHEMA = pl.Schema(
    {
        **CONSOLIDATED_BBO_SCHEMA,
        "ts_next": TS,
        "best_bid_net": pl.Float64(),
        "best_ask_net": pl.Float64(),
    }
)
"""The consolidated book over ``[ts_event, ts_next)``; ``best_bid_net = max_i b_i(1 − f_i)``
and ``best_ask_net = min_i a_i(1 + f_i)`` with each book's taker fee ``f_i = fee_bps / 1e4``
(0 when missing; pools carry 0, their LP fee is inside bid/ask)."""


@dataclass(frozen=True)
class ConsolidatedParams:
    """Limits of the consolidated BBO.

    - ``quote_max_age_ns``: a quote is in force for at most this long (default 60 s);
    - ``priority_horizon_ns``: time priority at one price is compared over at most this
      long (default 60 s); older priorities tie and the venue name decides.
    """

    quote_max_age_ns: int = DEFAULT_QUOTE_MAX_AGE_NS
    priority_horizon_ns: int = DEFAULT_PRIORITY_HORIZON_NS

    def __post_init__(self) -> None:
        for key in ("quote_max_age_ns", "priority_horizon_ns"):
            value = getattr(self, key)
            if value <= 0:
                raise ConfigError(
                    f"must be a positive number of ns (found {value})",
                    key=f"consolidated.{key}",
                    source="params",
                )

    @property
    def lookback_ns(self) -> int:
        """Input history :func:`compute_consolidated_bbo` needs before its first row."""
        return self.quote_max_age_ns + self.priority_horizon_ns


DEFAULT_PARAMS = ConsolidatedParams()


def compute_book_intervals(
    quotes: pl.LazyFrame, *, params: ConsolidatedParams = DEFAULT_PARAMS
) -> pl.LazyFrame:
    """Each valid quote (``USD_QUOTES_SCHEMA``) with the interval it is in force
    (``BOOK_INTERVALS_SCHEMA``), ordered by book and time. See the module docstring."""
    key = list(BOOK_KEY)
    ts = pl.col("ts_event")
    expiry = ts + pl.duration(nanoseconds=params.quote_max_age_ns)
    bid, ask = pl.col("bid"), pl.col("ask")
    valid = bid.is_finite() & ask.is_finite() & (bid > 0) & (ask > 0) & (bid < ask)
    quoted = (
        quotes.pipe(conform, USD_QUOTES_SCHEMA)
        .sort([*key, "ts_event", "source_seq"], maintain_order=True)
        .with_columns(
            ts.alias("ts_start"),
            pl.min_horizontal(ts.shift(-1).over(key), expiry).alias("ts_end"),
            valid.fill_null(False).alias("_valid"),
        )
        .filter(pl.col("_valid") & (pl.col("ts_end") > pl.col("ts_start")))
    )
    return _with_since(_with_since(quoted, "bid"), "ask").pipe(conform, BOOK_INTERVALS_SCHEMA)


def _with_since(intervals: pl.LazyFrame, side: str) -> pl.LazyFrame:
    """``<side>_since``: start of the book's unbroken run of intervals at that price."""
    key = list(BOOK_KEY)
    contiguous = pl.col("ts_end").shift(1).over(key) == pl.col("ts_start")
    same = pl.col(side).shift(1).over(key) == pl.col(side)
    run = f"_{side}_run"
    return (
        intervals.with_columns((~(contiguous & same).fill_null(False)).alias(run))
        .with_columns(pl.col(run).cast(pl.Int64).cum_sum().over(key).alias(run))
        .with_columns(pl.col("ts_start").min().over([*key, run]).alias(f"{side}_since"))
        .drop(run)
    )


def change_instants(intervals: pl.LazyFrame) -> pl.LazyFrame:
    """Per underlying, every instant a book interval starts or ends, with ``ts_next``
    (the following instant; null for the last, when no book is in force any more)."""
    starts = intervals.select("underlying", pl.col("ts_start").alias("ts_event"))
    ends = intervals.select("underlying", pl.col("ts_end").alias("ts_event"))
    return (
        pl.concat([starts, ends])
        .unique()
        .sort(list(INSTANT_KEY))
        .with_columns(pl.col("ts_event").shift(-1).over("underlying").alias("ts_next"))
    )


def compute_live_books(intervals: pl.LazyFrame) -> pl.LazyFrame:
    """Every book in force at every change instant (``LIVE_BOOKS_SCHEMA``), ordered by
    underlying, instant, venue and instrument. Instants with no book give no row."""
    books = intervals.select(list(BOOK_KEY)).unique()
    grid = change_instants(intervals).join(books, on="underlying", how="inner")
    joined = grid.sort("ts_event").join_asof(
        intervals.sort([*BOOK_KEY, "ts_start"]),
        left_on="ts_event",
        right_on="ts_start",
        by=list(BOOK_KEY),
        strategy="backward",
        check_sortedness=False,
    )
    return (
        joined.filter(pl.col("ts_event") < pl.col("ts_end"))
        .pipe(conform, LIVE_BOOKS_SCHEMA)
        .sort([*INSTANT_KEY, "venue", "instrument_id"])
    )


def _best_side(side: str, best: pl.Expr, horizon_ns: int) -> list[pl.Expr]:
    """Size at ``best`` summed over the books at it, and the venue with time priority."""
    at_best = pl.col(side) == best
    priority = pl.max_horizontal(
        pl.col(f"{side}_since"), pl.col("ts_event") - pl.duration(nanoseconds=horizon_ns)
    )
    return [
        best.alias(f"best_{side}"),
        pl.col(f"{side}_sz").filter(at_best).sum().alias(f"best_{side}_sz"),
        pl.col("venue")
        .sort_by([~at_best, priority, pl.col("venue"), pl.col("instrument_id")])
        .first()
        .alias(f"best_{side}_venue"),
    ]


def compute_consolidated_states(
    live: pl.LazyFrame, *, params: ConsolidatedParams = DEFAULT_PARAMS
) -> pl.LazyFrame:
    """The consolidated book (``CONSOLIDATED_STATES_SCHEMA``) at every change instant with
    at least one book in force (``live`` from :func:`compute_live_books`)."""
    fee = pl.col("fee_bps").fill_null(0.0) / 1e4
    states = live.group_by([*INSTANT_KEY, "ts_next"]).agg(
        *_best_side("bid", pl.col("bid").max(), params.priority_horizon_ns),
        *_best_side("ask", pl.col("ask").min(), params.priority_horizon_ns),
        pl.col("venue").n_unique().cast(pl.Int32).alias("venues"),
        (pl.col("bid") * (1 - fee)).max().alias("best_bid_net"),
        (pl.col("ask") * (1 + fee)).min().alias("best_ask_net"),
    )
    return states.pipe(conform, CONSOLIDATED_STATES_SCHEMA).sort(list(INSTANT_KEY))


def compute_consolidated_bbo(
    quotes: pl.LazyFrame, *, params: ConsolidatedParams = DEFAULT_PARAMS
) -> pl.LazyFrame:
    """The consolidated token BBO (``CONSOLIDATED_BBO_SCHEMA``), one row per change
    instant (module docstring), ordered by ``(underlying, ts_event)``.

    Input: ``USD_QUOTES_SCHEMA`` quotes (extra columns ignored). A quote's expiry is a
    change instant of its own. Formulas: metrics.md §3.2 (``BB``, ``BA``).
    """
    intervals = compute_book_intervals(quotes, params=params)
    states = compute_consolidated_states(compute_live_books(intervals), params=params)
    return (
        change_instants(intervals)
        .drop("ts_next")
        .join(states.drop("ts_next"), on=list(INSTANT_KEY), how="left")
        .with_columns(pl.col("venues").fill_null(0))
        .pipe(conform, CONSOLIDATED_BBO_SCHEMA)
        .sort(list(INSTANT_KEY))
    )


def bucket_ns(every: str) -> int:
    """The width of ``every`` in ns; anything but ``"1s"`` or ``"1m"`` is refused."""
    if every not in BUCKET_NS:
        raise BadRequestError(f"every: expected '1s' or '1m', found {every!r}")
    return BUCKET_NS[every]


def bucket_of(ts: pl.Expr, width_ns: int) -> pl.Expr:
    return (ts.cast(pl.Int64) // width_ns * width_ns).cast(TS)


def split_by_bucket(
    frame: pl.LazyFrame, *, width_ns: int, start: str = "ts_event", end: str = "ts_next"
) -> pl.LazyFrame:
    """Each row of ``frame`` once per bucket its ``[start, end)`` overlaps, with
    ``bucket_start`` and ``overlap_ns`` (> 0); rows with ``end <= start`` vanish."""
    s, e = pl.col(start).cast(pl.Int64), pl.col(end).cast(pl.Int64)
    first = s // width_ns * width_ns
    last = (e - 1) // width_ns * width_ns
    bucket = pl.col("_bucket")
    return (
        frame.filter(e > s)
        .with_columns(pl.int_ranges(first, last + width_ns, width_ns).alias("_bucket"))
        .explode("_bucket")
        .with_columns(
            bucket.cast(TS).alias("bucket_start"),
            (pl.min_horizontal(e, bucket + width_ns) - pl.max_horizontal(s, bucket)).alias(
                "overlap_ns"
            ),
        )
        .drop("_bucket")
    )
