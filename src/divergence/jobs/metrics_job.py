"""The metrics job: the metric tables, live and in backfill, by one windowed recompute.

Every metric of :data:`~divergence.metrics.registry.METRIC_SPECS` has its own table and
its own ``done_until`` (rows with an earlier time are final), kept in ``job_state`` as
``metrics:<name>`` with the highest input ``ingest_seq`` seen. A step:

1. takes the basis job's committed ``(W, S)`` as its target: the metrics read the
   ``basis`` table, so they never run ahead of it; every input is read with
   ``ingest_seq <= S`` and ``ts_event <= W``;
2. *rewinds*: an input written since the last step (``ingest_seq`` in ``(S_prev, S]``:
   a late trade, a token quote behind the basis watermark, a late reference) at event
   time ``τ`` may change every row that is not final at watermark ``τ`` (from ``τ -
   lookahead``, rounded up to a bucket), so ``done_until`` goes back to there; a metric
   that never ran starts at the first token observation or trade;
3. recomputes each metric that is due (:func:`due_specs`: at least its ``min_step_ns``
   of rows became final, e.g. 60 s for the day-long LULD lookback) with
   :func:`~divergence.metrics.windowed.run_window` from its ``done_until`` to ``W``, in
   chunks of at most ``metrics.max_chunk_s`` of event time,
   and per chunk deletes the recomputed range of each table, inserts the new rows,
   rewrites the daily tables of the ET days that became complete or changed
   (:data:`~divergence.metrics.registry.DAILY_SPECS`, from the stored rows) and saves
   every ``done_until``, in ONE transaction. A crash loses nothing that was committed and
   a re-run recomputes the same rows over the same range.

:func:`run_backfill` runs the same chunks over ``[start, end)`` with everything stored
taken as final (inputs up to ``end + lookahead``), so it writes the rows the live job
writes. The SQL that names a metric's table is built from the spec registry only
(allow-listed identifiers); the rest is in ``sql/queries/metrics_*.sql``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Any

import polars as pl

from divergence.bus import Bus
from divergence.catalog import Catalog
from divergence.clock import NS_PER_SECOND, now_ns
from divergence.errors import BadRequestError, StoreError
from divergence.jobs.loop import run_on_flush
from divergence.jobs.metrics_inputs import (
    JOB_PREFIX,
    MetricsInputs,
    MetricsState,
    begin_step,
    load_inputs,
    load_state,
)
from divergence.metrics.registry import DAILY_SPECS, METRIC_SPECS
from divergence.metrics.windowed import (
    DailySpec,
    MetricSpec,
    complete_days,
    et_day_bounds,
    run_window,
)
from divergence.settings import BasisSettings, MetricsSettings
from divergence.store.db import AsyncStore, Store

log = logging.getLogger(__name__)
_ALL = 2**62
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
_TABLES = {s.name: s.time_column for s in METRIC_SPECS} | {d.name: "day" for d in DAILY_SPECS}


@dataclass(frozen=True)
class Window:
    """One metric's recomputed range ``[start, end)`` in a chunk, and its rows."""

    spec: MetricSpec
    start: int
    end: int
    rows: pl.DataFrame


@dataclass
class MetricsJobStats:
    rows_written: dict[str, int] = field(default_factory=dict)
    steps: int = 0
    chunks: int = 0
    errors: int = 0
    done_until: dict[str, int] = field(default_factory=dict)
    last_step_ms: float = 0.0


def _table(name: str) -> tuple[str, str]:
    """``name`` and its time column, refused unless it is a registered metric table."""
    column = _TABLES.get(name)
    if column is None or not _IDENTIFIER.match(name):
        raise StoreError(f"not a metric table: {name!r} (known: {', '.join(_TABLES)})")
    return name, column


def plan_chunk(
    specs: Sequence[MetricSpec],
    done: Mapping[str, int],
    final: Mapping[str, int],
    *,
    span_ns: int,
) -> dict[str, int]:
    """The watermark each metric's window runs to in the next chunk.

    A metric is pending while its rows up to ``final[name]`` are not all done. The chunk
    covers ``span_ns`` of row time from the earliest pending window: metrics that start
    in it run up to its end (or their final watermark), the others wait. Empty: all done.
    """
    pending = [
        s
        for s in specs
        if s.name in done and s.done_until(final[s.name]) > s.window_start(done[s.name])
    ]
    if not pending:
        return {}
    horizon = min(s.window_start(done[s.name]) for s in pending) + span_ns
    return {
        s.name: min(final[s.name], horizon + s.lookahead_ns)
        for s in pending
        if s.window_start(done[s.name]) < horizon
    }


def due_specs(
    specs: Sequence[MetricSpec], done: Mapping[str, int], *, watermark: int
) -> tuple[MetricSpec, ...]:
    """The metrics a live step runs: those with new rows final at ``watermark``, at least
    ``min_step_ns`` of row time past their ``done_until`` (the others wait)."""
    return tuple(
        s
        for s in specs
        if s.name in done and s.done_until(watermark) - done[s.name] >= max(s.min_step_ns, 1)
    )


def compute_chunk(
    store: Store,
    inputs: MetricsInputs,
    specs: Sequence[MetricSpec],
    *,
    done: Mapping[str, int],
    marks: Mapping[str, int],
    seq: int,
) -> list[Window]:
    """Each planned metric's window (:func:`plan_chunk`), from one load of the inputs."""
    chosen = [s for s in specs if s.name in marks]
    lo: dict[str, int] = {}
    for spec in chosen:
        for name, start in spec.input_bounds(spec.window_start(done[spec.name])).items():
            lo[name] = min(start, lo.get(name, start))
    frames = load_inputs(store, inputs, lo=lo, hi=max(marks.values()), seq=seq)
    windows = []
    for spec in chosen:
        rows, end = run_window(spec, frames, done_until=done[spec.name], watermark=marks[spec.name])
        windows.append(Window(spec, spec.window_start(done[spec.name]), end, rows.collect()))
    return windows


def _replace_range(store: Store, window: Window) -> int:
    """Delete the window's range of its table and insert its rows (in the caller's
    transaction); returns the rows inserted."""
    table, column = _table(window.spec.name)
    store.execute(
        f"DELETE FROM {table} WHERE {column} >= make_timestamp_ns($start) "
        f"AND {column} < make_timestamp_ns($end)",
        {"start": window.start, "end": window.end},
    )
    store.append(table, window.rows.rename(dict(window.spec.columns)))
    return window.rows.height


def _stored_rows(store: Store, spec: MetricSpec, lo: int, hi: int) -> pl.LazyFrame:
    """A metric's stored rows with time in ``[lo, hi)``, under the metric's column names."""
    table, column = _table(spec.name)
    rows = store.query(
        f"SELECT * FROM {table} WHERE {column} >= make_timestamp_ns($lo) "
        f"AND {column} < make_timestamp_ns($hi)",
        {"lo": lo, "hi": hi},
    )
    return rows.rename({v: k for k, v in spec.columns.items()}).lazy()


def _write_daily(
    store: Store, daily: DailySpec, days: list[date], specs: Sequence[MetricSpec]
) -> int:
    """Recompute ``days`` of a daily table from its sources' stored rows."""
    table, _ = _table(daily.name)
    lo, hi = et_day_bounds(days[0])[0], et_day_bounds(days[-1])[1]
    by_name = {s.name: s for s in specs}
    frames = {name: _stored_rows(store, by_name[name], lo, hi) for name in daily.sources}
    rows = (
        daily.compute(frames)
        .filter(pl.col("day").is_in(days))
        .sort(list(daily.order), maintain_order=True)
        .collect()
    )
    store.execute(f"DELETE FROM {table} WHERE list_contains($days, day)", {"days": days})
    store.append(table, rows)
    return rows.height


def _write_whole(store: Store, daily: DailySpec, ready: int, specs: Sequence[MetricSpec]) -> int:
    """Recompute a ``whole`` aggregate from every final stored row of its sources."""
    table, _ = _table(daily.name)
    by_name = {s.name: s for s in specs}
    frames = {name: _stored_rows(store, by_name[name], -_ALL, ready) for name in daily.sources}
    rows = daily.compute(frames).sort(list(daily.order), maintain_order=True).collect()
    store.execute(f"DELETE FROM {table}")
    store.append(table, rows)
    return rows.height


def _daily_rows(
    store: Store, windows: Sequence[Window], done: Mapping[str, int], specs: Sequence[MetricSpec]
) -> dict[str, int]:
    """Rewrite the ET days the windows touched that every source has finished (a
    ``whole`` aggregate: all of it, when such a day exists)."""
    written = {}
    for daily in DAILY_SPECS:
        if any(name not in done for name in daily.sources):
            continue
        ready = min(done[name] for name in daily.sources)
        spans = [(w.start, w.end) for w in windows if w.spec.name in daily.sources]
        days = sorted({d for lo, hi in spans for d in complete_days(lo, hi, done_until=ready)})
        if days and daily.whole:
            written[daily.name] = _write_whole(store, daily, ready, specs)
        elif days:
            written[daily.name] = _write_daily(store, daily, days, specs)
    return written


def commit_chunk(
    store: Store,
    windows: Sequence[Window],
    done: Mapping[str, int],
    *,
    specs: Sequence[MetricSpec],
    seq: int | None,
) -> dict[str, int]:
    """Write a chunk in one transaction: each window's range, the daily tables, and (live:
    ``seq`` given) every metric's ``done_until``. Returns the rows written per table."""
    cur = store.cursor()
    cur.execute("BEGIN")
    try:
        written = {w.spec.name: _replace_range(store, w) for w in windows}
        written |= _daily_rows(store, windows, done, specs)
        for name, done_until in done.items() if seq is not None else ():
            store.execute(
                store.sql_text("basis_job_state_save"),
                {
                    "job": f"{JOB_PREFIX}{name}",
                    "watermark_ns": done_until,
                    "seq": seq,
                    "updated_at": now_ns(),
                },
            )
        cur.execute("COMMIT")
    except Exception:
        cur.execute("ROLLBACK")
        raise
    return written


def _count(total: dict[str, int], written: Mapping[str, int]) -> None:
    for table, rows in written.items():
        total[table] = total.get(table, 0) + rows


class MetricsJob:
    """The live metrics job: steps after flushes, at most every ``interval_ms``."""

    def __init__(
        self,
        store: AsyncStore,
        bus: Bus,
        catalog: Catalog,
        settings: MetricsSettings,
        *,
        basis: BasisSettings,
        specs: Sequence[MetricSpec] = METRIC_SPECS,
    ) -> None:
        self._store = store
        self._bus = bus
        self._settings = settings
        self._inputs = MetricsInputs.from_catalog(catalog, basis)
        self._specs = tuple(specs)
        self._span_ns = settings.max_chunk_s * NS_PER_SECOND
        self._state: MetricsState | None = None
        self._lock = asyncio.Lock()
        self.stats = MetricsJobStats()

    async def run(self) -> None:
        """Step once, then after every ``flushed`` notice, until cancelled."""
        await run_on_flush(
            self._bus, interval_s=self._settings.interval_ms / 1000, step=self._guarded_step
        )

    async def _guarded_step(self) -> int:
        try:
            return await self.step()
        except StoreError:
            self.stats.errors += 1
            log.warning("metrics step failed; retrying on the next flush", exc_info=True)
            return 0

    async def step(self) -> int:
        """Bring every metric table up to the basis job's watermark; returns rows written."""
        async with self._lock:
            started = time.monotonic()
            if self._state is None:
                self._state = await self._store.read(load_state)
            begun = await self._store.read(
                partial(begin_step, state=self._state, specs=self._specs)
            )
            written: dict[str, int] = {}
            if begun is not None:
                watermark, seq, done = begun
                due = due_specs(self._specs, done, watermark=watermark)
                final = {s.name: watermark for s in due}
                while marks := plan_chunk(due, done, final, span_ns=self._span_ns):
                    done = await self._chunk(done, marks, seq, written)
            self._record(written, time.monotonic() - started)
        return sum(written.values())

    async def _chunk(
        self, done: dict[str, int], marks: dict[str, int], seq: int, written: dict[str, int]
    ) -> dict[str, int]:
        """Compute one chunk on the read thread, commit it on the write thread."""
        windows = await self._store.read(
            partial(
                compute_chunk,
                inputs=self._inputs,
                specs=self._specs,
                done=done,
                marks=marks,
                seq=seq,
            )
        )
        after = {**done, **{w.spec.name: w.end for w in windows}}
        chunk = await self._store.write(
            partial(commit_chunk, windows=windows, done=after, specs=self._specs, seq=seq)
        )
        self._state = MetricsState(seq=seq, done=after)
        self.stats.chunks += 1
        _count(written, chunk)
        return after

    def _record(self, written: Mapping[str, int], seconds: float) -> None:
        _count(self.stats.rows_written, written)
        self.stats.steps += 1
        self.stats.done_until = dict(self._state.done if self._state else {})
        self.stats.last_step_ms = seconds * 1000
        log.debug("metrics step", extra={"rows": sum(written.values())})

    def stats_dict(self) -> dict[str, Any]:
        """For /health: rows per table, and how far each metric is final."""
        return {
            "rows_written": dict(self.stats.rows_written),
            "steps": self.stats.steps,
            "chunks": self.stats.chunks,
            "errors": self.stats.errors,
            "done_until_ns": dict(self.stats.done_until),
            "last_step_ms": round(self.stats.last_step_ms, 3),
        }


def run_backfill(
    store: Store,
    catalog: Catalog,
    settings: MetricsSettings,
    *,
    basis: BasisSettings,
    start_ns: int,
    end_ns: int,
    specs: Sequence[MetricSpec] = METRIC_SPECS,
) -> dict[str, int]:
    """Recompute every metric table for row times in ``[start_ns, end_ns)`` (buckets that
    overlap it; ET days inside it for the daily tables); returns rows written per table.

    Same chunks as the live job, each its own transaction (a re-run redoes the same), with
    every stored input taken as final: rows near ``end_ns`` read inputs up to
    ``end_ns + lookahead``. Does not touch ``job_state``: run it while no server owns the
    database.
    """
    if end_ns <= start_ns:
        raise BadRequestError(f"end ({end_ns}) must be after start ({start_ns})")
    inputs = MetricsInputs.from_catalog(catalog, basis)
    done = {s.name: start_ns for s in specs}
    final = {s.name: end_ns + s.lookahead_ns for s in specs}
    written: dict[str, int] = {}
    span_ns = settings.max_chunk_s * NS_PER_SECOND
    while marks := plan_chunk(specs, done, final, span_ns=span_ns):
        windows = compute_chunk(store, inputs, specs, done=done, marks=marks, seq=_ALL)
        done = {**done, **{w.spec.name: w.end for w in windows}}
        _count(written, commit_chunk(store, windows, done, specs=specs, seq=None))
    log.info("metrics backfill", extra={"rows": written, "start": start_ns, "end": end_ns})
    return written
