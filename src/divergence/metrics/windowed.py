"""Windowed recompute: the live micro-batches and the backfill run one computation (pure).

A metric is a :class:`MetricSpec`: a pure function from the engine's input frames
(:data:`Frames`: ``quotes`` = ``USD_QUOTES_SCHEMA``, ``trades`` = ``USD_TRADES_SCHEMA``,
``reference`` = ``REFERENCE_NBBO_SCHEMA``, every one with ``ts_event``) to output rows,
each stamped with a time (``time_column``). It declares how far before a row's time its
inputs may lie (``lookback_ns``) and how far after (``lookahead_ns``), and, for bucketed
metrics, the epoch-aligned bucket width (``bucket_ns``; the row's time is the bucket
start). The inputs are complete up to a *watermark* ``W`` (every event with ``ts_event
<= W`` is known). Then :func:`run_window` with ``done_until`` ``D``:

- computes on the inputs in ``[D' - lookback_ns, W]``, where ``D'`` is ``D`` (floored to
  its bucket for a bucketed metric: a bucket is always recomputed whole);
- keeps the rows with time in ``[D', E)``, ``E = W - lookahead_ns`` (for a bucketed
  metric ``E`` is rounded *up* to a bucket boundary: exactly the buckets ``b < W -
  lookahead_ns``, i.e. complete ones, since ``lookahead_ns >= bucket_ns``);
- returns them, sorted by ``order``, with ``E`` as the new ``done_until``.

A row at ``t`` reads inputs in ``[t - lookback_ns, t + lookahead_ns]`` only (each
metric module proves its claim), so it is the same whether computed in one window over
all history (the backfill) or in many consecutive windows (the live job): windows
chain, ``done_until`` of one is the start of the next. tests/metrics/test_windowed.py
checks that with random event streams cut at random watermarks.

:data:`METRIC_SPECS` lists the metrics the metrics job runs; :data:`DAILY_SPECS` the
per-ET-day aggregates it derives from their stored rows once a day is complete (see
:func:`complete_days`). Adding a metric is one entry here (and its table's migration).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from divergence.clock import ns_from_datetime
from divergence.errors import ConfigError
from divergence.metrics.consolidated import (
    BUCKET_NS,
    CONSOLIDATED_BBO_LOOKBACK_NS,
    compute_consolidated_bbo,
)
from divergence.metrics.execution import (
    EXECUTION_LOOKAHEAD_NS,
    EXECUTION_LOOKBACK_NS,
    EXECUTION_ORDER,
    compute_execution_quality,
)
from divergence.metrics.fragmentation import (
    FRAGMENTATION_LOOKBACK_NS,
    TIME_AT_INSIDE_LOOKBACK_NS,
    compute_fragmentation,
    compute_time_at_inside,
)
from divergence.metrics.schemas import (
    REFERENCE_NBBO_SCHEMA,
    USD_QUOTES_SCHEMA,
    USD_TRADES_SCHEMA,
)
from divergence.metrics.scorecard import ORDER as SCORECARD_ORDER
from divergence.metrics.scorecard import compute_venue_scorecard
from divergence.metrics.trade_through import ORDER as TRADE_THROUGH_ORDER
from divergence.metrics.trade_through import (
    TRADE_THROUGH_LOOKBACK_NS,
    compute_trade_through_summary,
    compute_trade_throughs,
)

Frames = Mapping[str, pl.LazyFrame]
"""Input frames by name; every frame has a ``ts_event`` column (``Datetime("ns")``)."""
Loader = Callable[[int, int], Frames]
"""``(lo_ns, hi_ns) -> frames`` holding (at least) the inputs with ts_event in [lo, hi]."""
INPUT_SCHEMAS: Mapping[str, pl.Schema] = {
    "quotes": USD_QUOTES_SCHEMA,
    "trades": USD_TRADES_SCHEMA,
    "reference": REFERENCE_NBBO_SCHEMA,
}
"""The inputs every :class:`MetricSpec` may read, by name."""
ET_ZONE = ZoneInfo("America/New_York")


@dataclass(frozen=True, kw_only=True)
class MetricSpec:
    """A metric the windowed recompute can run (module docstring).

    - ``name``: also the name of the DuckDB table the metrics job writes;
    - ``compute``: pure, from :data:`Frames` to the metric's rows;
    - ``time_column``: the row time (``ts_event``, or ``bucket_start`` when bucketed);
    - ``lookback_ns`` / ``lookahead_ns``: the input window around a row's time;
    - ``bucket_ns``: the bucket width of a bucketed metric (``lookahead_ns`` must cover
      it), else ``None``;
    - ``order``: the sort keys, unique per row, so two runs compare row for row;
    - ``columns``: renames from the metric's column names to the table's (units).
    """

    name: str
    compute: Callable[[Frames], pl.LazyFrame]
    time_column: str
    lookback_ns: int
    lookahead_ns: int = 0
    bucket_ns: int | None = None
    order: tuple[str, ...]
    columns: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.lookback_ns < 0 or self.lookahead_ns < 0:
            raise ConfigError(
                f"lookback and lookahead must be >= 0, found {self.lookback_ns}, "
                f"{self.lookahead_ns}",
                key=f"metrics.{self.name}",
                source="spec",
            )
        if self.bucket_ns is not None and not 0 < self.bucket_ns <= self.lookahead_ns:
            raise ConfigError(
                f"bucket_ns must be positive and covered by lookahead_ns, found "
                f"{self.bucket_ns} and {self.lookahead_ns}",
                key=f"metrics.{self.name}",
                source="spec",
            )

    def window_start(self, done_until: int) -> int:
        """The first row time a window from ``done_until`` recomputes (bucket floor)."""
        return done_until if self.bucket_ns is None else floor_to(done_until, self.bucket_ns)

    def done_until(self, watermark: int) -> int:
        """Rows with time before this are final once the inputs are complete up to
        ``watermark``: ``watermark - lookahead_ns``, rounded up to a bucket boundary."""
        cutoff = watermark - self.lookahead_ns
        return cutoff if self.bucket_ns is None else -floor_to(-cutoff, self.bucket_ns)


@dataclass(frozen=True, kw_only=True)
class DailySpec:
    """A per-ET-day aggregate of the stored rows of other metrics (``sources``).

    ``compute`` receives one frame per source, named as the source, with the source
    metric's column names; its rows carry ``day`` (the ET date). A day is computed once
    every source is final past the day's end (:func:`complete_days`).
    """

    name: str
    compute: Callable[[Frames], pl.LazyFrame]
    sources: tuple[str, ...]
    order: tuple[str, ...]


def floor_to(value: int, width: int) -> int:
    """The largest multiple of ``width`` at or below ``value`` (negative values too)."""
    return value // width * width


def _between(column: str, lo: int, hi: int) -> pl.Expr:
    """``lo <= column <= hi`` on a Datetime("ns") column, in epoch ns."""
    return pl.col(column).cast(pl.Int64).is_between(lo, hi, closed="both")


def window_inputs(inputs: Frames | Loader, *, lo: int, hi: int) -> Frames:
    """The inputs with ts_event in [lo, hi], from frames or from a loader."""
    frames = inputs(lo, hi) if callable(inputs) else inputs
    return {name: frame.filter(_between("ts_event", lo, hi)) for name, frame in frames.items()}


def run_window(
    spec: MetricSpec, inputs: Frames | Loader, *, done_until: int, watermark: int
) -> tuple[pl.LazyFrame, int]:
    """The rows of ``spec`` that became final between ``done_until`` and ``watermark``,
    and the new ``done_until`` (module docstring). Nothing new: no rows, ``done_until``
    unchanged. ``inputs`` are frames (filtered here) or a :data:`Loader`."""
    start = spec.window_start(done_until)
    end = spec.done_until(watermark)
    if end <= start:
        empty = {name: pl.LazyFrame(schema=schema) for name, schema in INPUT_SCHEMAS.items()}
        return spec.compute(empty).clear(), done_until
    frames = window_inputs(inputs, lo=start - spec.lookback_ns, hi=watermark)
    rows = spec.compute(frames).filter(_between(spec.time_column, start, end - 1))
    return rows.sort(list(spec.order), maintain_order=True), end


def et_day_bounds(day: date) -> tuple[int, int]:
    """The ET calendar day ``day`` as ``[start, end)`` in epoch ns (23 h to 25 h)."""
    start = datetime.combine(day, time(), tzinfo=ET_ZONE)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=ET_ZONE)
    return ns_from_datetime(start), ns_from_datetime(end)


def et_date(ts_ns: int) -> date:
    """The ET calendar date of an epoch-ns instant."""
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=ET_ZONE).date()


def complete_days(lo: int, hi: int, *, done_until: int) -> list[date]:
    """The ET days overlapping ``[lo, hi)`` that end at or before ``done_until``."""
    if hi <= lo:
        return []
    days, day = [], et_date(lo)
    while day <= et_date(hi - 1):
        if et_day_bounds(day)[1] <= done_until:
            days.append(day)
        day += timedelta(days=1)
    return days


def _consolidated_bbo(frames: Frames) -> pl.LazyFrame:
    return compute_consolidated_bbo(frames["quotes"])


def _fragmentation_1s(frames: Frames) -> pl.LazyFrame:
    quotes, trades, reference = frames["quotes"], frames["trades"], frames["reference"]
    return compute_fragmentation(quotes, trades, reference, every="1s")


def _fragmentation_1m(frames: Frames) -> pl.LazyFrame:
    quotes, trades, reference = frames["quotes"], frames["trades"], frames["reference"]
    return compute_fragmentation(quotes, trades, reference, every="1m")


def _time_at_inside_1m(frames: Frames) -> pl.LazyFrame:
    return compute_time_at_inside(frames["quotes"], every="1m")


def _execution_quality(frames: Frames) -> pl.LazyFrame:
    bbo = compute_consolidated_bbo(frames["quotes"])
    return compute_execution_quality(frames["trades"], bbo, frames["reference"])


def _trade_throughs(frames: Frames) -> pl.LazyFrame:
    return compute_trade_throughs(frames["trades"], frames["quotes"])


def _trade_through_daily(frames: Frames) -> pl.LazyFrame:
    return compute_trade_through_summary(frames["trade_throughs"])


def _venue_scorecard_daily(frames: Frames) -> pl.LazyFrame:
    return compute_venue_scorecard(frames["execution_quality"], frames["trade_throughs"])


_TRADE_UNITS = {"price": "price_usd", "size": "size_shares"}
METRIC_SPECS: tuple[MetricSpec, ...] = (
    MetricSpec(
        name="consolidated_bbo",
        compute=_consolidated_bbo,
        time_column="ts_event",
        lookback_ns=CONSOLIDATED_BBO_LOOKBACK_NS,
        order=("underlying", "ts_event"),
        columns={
            "best_bid": "best_bid_usd",
            "best_bid_sz": "best_bid_shares",
            "best_ask": "best_ask_usd",
            "best_ask_sz": "best_ask_shares",
        },
    ),
    *(
        MetricSpec(
            name=f"fragmentation_{every}",
            compute=compute,
            time_column="bucket_start",
            lookback_ns=FRAGMENTATION_LOOKBACK_NS,
            lookahead_ns=BUCKET_NS[every],
            bucket_ns=BUCKET_NS[every],
            order=("underlying", "bucket_start"),
            columns={"ref_mid": "ref_mid_usd"},
        )
        for every, compute in (("1s", _fragmentation_1s), ("1m", _fragmentation_1m))
    ),
    MetricSpec(
        name="time_at_inside_1m",
        compute=_time_at_inside_1m,
        time_column="bucket_start",
        lookback_ns=TIME_AT_INSIDE_LOOKBACK_NS,
        lookahead_ns=BUCKET_NS["1m"],
        bucket_ns=BUCKET_NS["1m"],
        order=("underlying", "bucket_start", "venue"),
    ),
    MetricSpec(
        name="execution_quality",
        compute=_execution_quality,
        time_column="ts_event",
        # Its rows read consolidated BBO rows from t - 60 s, which read quotes 120 s back.
        lookback_ns=EXECUTION_LOOKBACK_NS + CONSOLIDATED_BBO_LOOKBACK_NS,
        lookahead_ns=EXECUTION_LOOKAHEAD_NS,
        order=tuple(EXECUTION_ORDER),
        columns={
            **_TRADE_UNITS,
            "best_bid": "best_bid_usd",
            "best_ask": "best_ask_usd",
            "ref_nbb": "ref_nbb_usd",
            "ref_nbo": "ref_nbo_usd",
            "ref_mid": "ref_mid_usd",
        },
    ),
    MetricSpec(
        name="trade_throughs",
        compute=_trade_throughs,
        time_column="ts_event",
        lookback_ns=TRADE_THROUGH_LOOKBACK_NS,
        order=tuple(TRADE_THROUGH_ORDER),
        columns=_TRADE_UNITS,
    ),
)
"""The metrics of the metrics job, one table each (``name``): the consolidated BBO and
fragmentation of metrics.md §3.2 and §3.1, execution quality (§4.1) and trade-throughs
(§4.3), each with its module's default parameters (§9)."""

DAILY_SPECS: tuple[DailySpec, ...] = (
    DailySpec(
        name="trade_through_daily",
        compute=_trade_through_daily,
        sources=("trade_throughs",),
        order=("day", "underlying", "venue"),
    ),
    DailySpec(
        name="venue_scorecard_daily",
        compute=_venue_scorecard_daily,
        sources=("execution_quality", "trade_throughs"),
        order=tuple(SCORECARD_ORDER),
    ),
)
"""Per-ET-day aggregates of the metrics above, one table each (``name``): trade-through
rates (§4.3) and the venue scorecard (§4.4)."""
