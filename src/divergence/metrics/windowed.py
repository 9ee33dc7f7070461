"""Windowed recompute: the live micro-batches and the backfill run one computation (pure).

A metric is a :class:`MetricSpec`: a pure function from the engine's input frames
(:data:`Frames`, by name: :data:`INPUT_SCHEMAS`) and the instant they are complete up to
(the *horizon*, the watermark) to output rows, each stamped with a time
(``time_column``). It declares which inputs it reads (``inputs``), how far before a
row's time it reads them (``lookback_ns``, per input ``input_lookback_ns``) and how far
after (``lookahead_ns``), and, for bucketed metrics, the epoch-aligned bucket width
(``bucket_ns``; the row's time is the bucket start). The inputs are complete up to a
*watermark* ``W`` (every event with ``ts_event <= W`` is known). Then :func:`run_window`
with ``done_until`` ``D``:

- computes on each input in ``[D' - lookback, W]``, where ``D'`` is ``D`` (floored to
  its bucket for a bucketed metric: a bucket is always recomputed whole), with horizon
  ``W``; untimed inputs (``tiers``) are passed whole;
- keeps the rows with time in ``[D', E)``, ``E = W - lookahead_ns`` (for a bucketed
  metric ``E`` is rounded *up* to a bucket boundary: exactly the buckets ``b < W -
  lookahead_ns``, i.e. complete ones, since ``lookahead_ns >= bucket_ns``);
- returns them, sorted by ``order``, with ``E`` as the new ``done_until``.

A row at ``t`` reads inputs in ``[t - lookback, t + lookahead]`` only (each metric
module proves its claim), so it is the same whether computed in one window over all
history (the backfill) or in many consecutive windows (the live job): windows chain,
``done_until`` of one is the start of the next. How often the live job steps a metric
(``min_step_ns``: only once that much row time became final) changes where windows are
cut, never the rows. tests/metrics/test_windowed.py checks that with random event
streams cut at random watermarks.

:data:`METRIC_SPECS` lists the metrics the metrics job runs; :data:`DAILY_SPECS` the
aggregates it derives from their stored rows once an ET day is complete (see
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
from divergence.metrics.basis import BASIS_SCHEMA
from divergence.metrics.calendar_frames import ET_DAY_MAX_NS
from divergence.metrics.luld import (
    OFF_HOURS_BAND_LOOKBACK_NS,
)
from divergence.metrics.schemas import (
    OFFICIAL_CLOSES_SCHEMA,
    REFERENCE_NBBO_SCHEMA,
    TIERS_SCHEMA,
    TS,
    USD_QUOTES_SCHEMA,
    USD_TRADES_SCHEMA,
)

Frames = Mapping[str, pl.LazyFrame]
"""Input frames by name (:data:`INPUT_SCHEMAS`); timed ones have ``ts_event`` (ns)."""
Compute = Callable[[Frames, int], pl.LazyFrame]
"""``(frames, horizon_ns) -> rows``: the window's inputs, complete up to ``horizon_ns``."""
Loader = Callable[[Mapping[str, int], int], Frames]
"""``(lo_ns by input name, hi_ns) -> frames`` holding (at least) each named input with
ts_event in [lo, hi] (untimed inputs whole)."""
CLOSES_SCHEMA = pl.Schema({"ts_event": TS, **OFFICIAL_CLOSES_SCHEMA})
"""The underlying's close per trading day (``OFFICIAL_CLOSES_SCHEMA``) stamped with the
instant it is struck (``ts_event``, the regular close): the job uses the last
regular-session reference mid (:mod:`divergence.jobs.metrics_inputs`)."""
BASIS_ROWS_SCHEMA = pl.Schema(
    {
        name: BASIS_SCHEMA[name]
        for name in (
            *("ts_event", "instrument_id", "venue", "underlying", "session"),
            *("ref_state", "ref_kind", "source_seq", "basis_bps"),
        )
    }
)
"""The ``basis`` columns the basis statistics and the stress detector read."""
INPUT_SCHEMAS: Mapping[str, pl.Schema] = {
    "quotes": USD_QUOTES_SCHEMA,
    "trades": USD_TRADES_SCHEMA,
    "reference": REFERENCE_NBBO_SCHEMA,
    "basis": BASIS_ROWS_SCHEMA,
    "closes": CLOSES_SCHEMA,
    "tiers": TIERS_SCHEMA,
}
"""The inputs a :class:`MetricSpec` may read, by name; ``tiers`` is untimed."""
ET_ZONE = ZoneInfo("America/New_York")
CLOSES_LOOKBACK_NS = OFF_HOURS_BAND_LOOKBACK_NS + ET_DAY_MAX_NS
"""How far back the LULD metrics read closes: a row's ET day (25 h) and the prior
trading day's close, or the last regular-session reference (8 days, the longest XNYS
closure since 2000)."""


def is_timed(name: str) -> bool:
    """Whether input ``name`` is windowed by ``ts_event`` (else passed whole)."""
    return "ts_event" in INPUT_SCHEMAS[name]


@dataclass(frozen=True, kw_only=True)
class MetricSpec:
    """A metric the windowed recompute can run (module docstring).

    - ``name``: also the name of the DuckDB table the metrics job writes;
    - ``compute``: pure, from :data:`Frames` and the horizon to the metric's rows;
    - ``time_column``: the row time (``ts_event``, or ``bucket_start`` when bucketed);
    - ``inputs``: the input frames it reads (it is given only these);
    - ``lookback_ns`` / ``lookahead_ns``: the input window around a row's time;
      ``input_lookback_ns`` overrides the lookback of single inputs;
    - ``bucket_ns``: the bucket width of a bucketed metric (``lookahead_ns`` must cover
      it), else ``None``;
    - ``order``: the sort keys, unique per row, so two runs compare row for row;
    - ``columns``: renames from the metric's column names to the table's (units);
    - ``min_step_ns``: the live job steps the metric only once at least this much row
      time became final since its ``done_until`` (cost control for long lookbacks; the
      backfill ignores it). Windows still chain, so the rows do not change.
    """

    name: str
    compute: Compute
    time_column: str
    inputs: tuple[str, ...] = ("quotes", "trades", "reference")
    lookback_ns: int
    input_lookback_ns: Mapping[str, int] = field(default_factory=dict)
    lookahead_ns: int = 0
    bucket_ns: int | None = None
    order: tuple[str, ...]
    columns: Mapping[str, str] = field(default_factory=dict)
    min_step_ns: int = 0

    def __post_init__(self) -> None:
        spans = [self.lookback_ns, self.lookahead_ns, self.min_step_ns]
        if min(spans + list(self.input_lookback_ns.values())) < 0:
            self._refuse(f"lookback, lookahead and min_step must be >= 0, found {spans}")
        if self.bucket_ns is not None and not 0 < self.bucket_ns <= self.lookahead_ns:
            self._refuse(
                f"bucket_ns must be positive and covered by lookahead_ns, found "
                f"{self.bucket_ns} and {self.lookahead_ns}"
            )
        unknown = set(self.inputs) - set(INPUT_SCHEMAS)
        if unknown or not set(self.input_lookback_ns) <= set(self.inputs):
            self._refuse(
                f"inputs must be among {sorted(INPUT_SCHEMAS)} and cover input_lookback_ns, "
                f"found {list(self.inputs)} and {sorted(self.input_lookback_ns)}"
            )

    def _refuse(self, message: str) -> None:
        raise ConfigError(message, key=f"metrics.{self.name}", source="spec")

    def window_start(self, done_until: int) -> int:
        """The first row time a window from ``done_until`` recomputes (bucket floor)."""
        return done_until if self.bucket_ns is None else floor_to(done_until, self.bucket_ns)

    def done_until(self, watermark: int) -> int:
        """Rows with time before this are final once the inputs are complete up to
        ``watermark``: ``watermark - lookahead_ns``, rounded up to a bucket boundary."""
        cutoff = watermark - self.lookahead_ns
        return cutoff if self.bucket_ns is None else -floor_to(-cutoff, self.bucket_ns)

    def input_bounds(self, start: int) -> dict[str, int]:
        """Per input, the earliest event time rows from ``start`` on read."""
        return {n: start - self.input_lookback_ns.get(n, self.lookback_ns) for n in self.inputs}


@dataclass(frozen=True, kw_only=True)
class DailySpec:
    """An aggregate of the stored rows of other metrics (``sources``).

    ``compute`` receives one frame per source, named as the source, with the source
    metric's column names. Per-day aggregates (``whole`` False) carry ``day`` (the ET
    date): a day is computed once every source is final past the day's end
    (:func:`complete_days`). A ``whole`` aggregate (runs over days) is recomputed from
    every stored source row that is final, and rewritten whole, whenever a day completes.
    """

    name: str
    compute: Callable[[Frames], pl.LazyFrame]
    sources: tuple[str, ...]
    order: tuple[str, ...]
    whole: bool = False


def floor_to(value: int, width: int) -> int:
    """The largest multiple of ``width`` at or below ``value`` (negative values too)."""
    return value // width * width


def _between(column: str, lo: int, hi: int) -> pl.Expr:
    """``lo <= column <= hi`` on a Datetime("ns") column, in epoch ns."""
    return pl.col(column).cast(pl.Int64).is_between(lo, hi, closed="both")


def window_inputs(inputs: Frames | Loader, *, lo: Mapping[str, int], hi: int) -> Frames:
    """The inputs named in ``lo``, each with ts_event in [lo[name], hi] (untimed: whole),
    from frames or from a loader."""
    frames = inputs(lo, hi) if callable(inputs) else inputs
    return {
        name: frames[name].filter(_between("ts_event", start, hi))
        if is_timed(name)
        else frames[name]
        for name, start in lo.items()
    }


def run_window(
    spec: MetricSpec, inputs: Frames | Loader, *, done_until: int, watermark: int
) -> tuple[pl.LazyFrame, int]:
    """The rows of ``spec`` that became final between ``done_until`` and ``watermark``,
    and the new ``done_until`` (module docstring). Nothing new: no rows, ``done_until``
    unchanged. ``inputs`` are frames (filtered here) or a :data:`Loader`."""
    start = spec.window_start(done_until)
    end = spec.done_until(watermark)
    if end <= start:
        empty = {name: pl.LazyFrame(schema=INPUT_SCHEMAS[name]) for name in spec.inputs}
        return spec.compute(empty, watermark).clear(), done_until
    frames = window_inputs(inputs, lo=spec.input_bounds(start), hi=watermark)
    rows = spec.compute(frames, watermark).filter(_between(spec.time_column, start, end - 1))
    return rows.sort(list(spec.order), maintain_order=True), end


def et_day_bounds(day: date) -> tuple[int, int]:
    """The ET calendar day ``day`` as ``[start, end)`` in epoch ns (23 h to 25 h)."""
    start = datetime.combine(day, time(), tzinfo=ET_ZONE)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=ET_ZONE)
    return ns_from_datetime(start), ns_from_datetime(end)


def et_day(ts_ns: int) -> date:
    """The ET calendar date of an epoch-ns instant."""
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=ET_ZONE).date()


def complete_days(lo: int, hi: int, *, done_until: int) -> list[date]:
    """The ET days overlapping ``[lo, hi)`` that end at or before ``done_until``."""
    if hi <= lo:
        return []
    days, day = [], et_day(lo)
    while day <= et_day(hi - 1):
        if et_day_bounds(day)[1] <= done_until:
            days.append(day)
        day += timedelta(days=1)
    return days
