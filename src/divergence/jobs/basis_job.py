"""The basis job: reads inputs from the store, runs compute_basis, writes ``basis``.

Live, it is incremental and exactly-once (docs/architecture.md, docs/metrics.md). It
keeps ``(W, S)`` in ``job_state``: the watermark ``W`` (venue time up to which every
active reference and FX venue has delivered) and ``S`` (the highest ``ingest_seq``
committed). Each step selects the token observations that became computable since the
previous ``(W_prev, S_prev)``, i.e. ``ingest_seq <= S AND ts_event <= W AND (ts_event >
W_prev OR ingest_seq > S_prev)``, computes them from complete context, and appends the rows
and the new state in one transaction. A row is therefore computed once, from the same
inputs a backfill would see, so ``run_backfill`` over the same data gives the same rows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import polars as pl

from divergence.bus import Bus
from divergence.catalog import Catalog
from divergence.clock import NS_PER_SECOND, now_ns
from divergence.errors import BadRequestError, StoreError
from divergence.jobs.basis_inputs import (
    INITIAL_STATE,
    BasisInputs,
    CarryCache,
    JobState,
    compute_rows,
    load_context_frame,
    load_token_rows,
)
from divergence.jobs.basis_rollup import refresh_range, refresh_seconds
from divergence.jobs.loop import run_on_flush
from divergence.metrics.basis import BASIS_SCHEMA, BasisParams, conform
from divergence.metrics.fx import FX_COMPOSITE_SCHEMA, FX_SCHEMA, fx_composite
from divergence.settings import BasisSettings
from divergence.store.db import AsyncStore, Store

log = logging.getLogger(__name__)
JOB_NAME = "basis"
TS = pl.Datetime("ns")
_ALL = 2**62


@dataclass
class BasisJobStats:
    rows_written: int = 0
    steps: int = 0
    errors: int = 0
    last_watermark: int | None = None
    last_seq: int = 0
    last_step_ms: float = 0.0


def context_watermark(
    clock: pl.DataFrame, *, context_venues: Iterable[str], idle_ns: int
) -> int | None:
    """The watermark from ``venue_clock`` rows (venue, ts_event_max, ts_recv_max as ns).

    The minimum ts_event_max over the context venues that are present and not idle (their
    ts_recv_max within ``idle_ns`` of the newest ts_recv_max of any venue). When no
    context venue is active, nothing holds the watermark back: the newest ts_event_max
    of any venue. ``None`` when the clock is empty.
    """
    if clock.is_empty():
        return None
    newest_recv = int(clock["ts_recv_max"].max())  # type: ignore[arg-type]
    active = clock.filter(
        pl.col("venue").is_in(list(context_venues))
        & (pl.col("ts_recv_max") >= newest_recv - idle_ns)
    )
    if active.is_empty():
        return int(clock["ts_event_max"].max())  # type: ignore[arg-type]
    return int(active["ts_event_max"].min())  # type: ignore[arg-type]


def load_job_state(store: Store, job: str = JOB_NAME) -> JobState:
    rows = store.query(store.sql_text("basis_job_state_load"), {"job": job})
    if rows.is_empty():
        return INITIAL_STATE
    return JobState(watermark_ns=int(rows["watermark_ns"][0]), seq=int(rows["seq"][0]))


def plan_step(store: Store, state: JobState, *, inputs: BasisInputs, idle_ns: int) -> JobState:
    """The state the next step reaches: (W, S) from venue_clock, never moving backwards."""
    clock = store.query(store.sql_text("basis_venue_clock"))
    watermark = context_watermark(clock, context_venues=inputs.context_venues, idle_ns=idle_ns)
    if watermark is None:
        return state
    seq = int(clock["ingest_seq"].max())  # type: ignore[arg-type]
    return JobState(max(watermark, state.watermark_ns), max(seq, state.seq))


def _stamp(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.with_columns(pl.lit(now_ns(), dtype=pl.Int64).cast(TS).alias("ts_ingest"))


def compute_fx_composite(
    store: Store,
    inputs: BasisInputs,
    params: BasisParams,
    settings: BasisSettings,
    *,
    now: JobState,
    done: JobState,
    caches: dict[str, CarryCache],
) -> pl.DataFrame:
    """fx_composite rows for the stablecoin rates visible at ``now`` and not at ``done``."""
    observed = store.query(
        store.sql_text("fx_rates_new"),
        {
            "seq": now.seq,
            "ts": now.watermark_ns,
            "seq_done": done.seq,
            "ts_done": done.watermark_ns,
        },
    )
    if observed.is_empty():
        return pl.DataFrame(schema=FX_COMPOSITE_SCHEMA)
    stamps = observed["ts_event"].cast(pl.Int64)
    span = (int(stamps.min()), int(stamps.max()))  # type: ignore[arg-type]
    rates = load_context_frame(store, "basis_fx_rates", inputs.fx_sources, span, params, caches)
    return fx_composite(
        observed.lazy(),
        conform(rates.lazy(), FX_SCHEMA),
        max_staleness_ms=params.fx_max_staleness_ms,
        max_age_ms=params.max_ref_age_ms,
        venue_depeg_bps=settings.venue_depeg_bps,
        depeg_bps=settings.depeg_bps,
    ).collect()


def _commit_step(
    store: Store, rows: pl.DataFrame, composite: pl.DataFrame, state: JobState
) -> None:
    """Append the rows (and their seconds of basis_1s) and record the state in one
    transaction."""
    cur = store.cursor()
    cur.execute("BEGIN")
    try:
        store.append("basis", rows)
        refresh_seconds(store, rows)
        store.append("fx_composite", composite)
        store.execute(
            store.sql_text("basis_job_state_save"),
            {
                "job": JOB_NAME,
                "watermark_ns": state.watermark_ns,
                "seq": state.seq,
                "updated_at": now_ns(),
            },
        )
        cur.execute("COMMIT")
    except Exception:
        cur.execute("ROLLBACK")
        raise


class BasisJob:
    """The live basis job: one step per flush of new data, at most every interval_ms."""

    def __init__(
        self, store: AsyncStore, bus: Bus, catalog: Catalog, settings: BasisSettings
    ) -> None:
        self._store = store
        self._bus = bus
        self._settings = settings
        self._inputs = BasisInputs.from_catalog(catalog)
        self._params = BasisParams.from_settings(settings)
        self._idle_ns = int(settings.context_idle_s * NS_PER_SECOND)
        self._state: JobState | None = None
        self._caches: dict[str, CarryCache] = {}
        self._fx_caches: dict[str, CarryCache] = {}
        self._lock = asyncio.Lock()
        self.stats = BasisJobStats()

    async def run(self) -> None:
        """Step once, then after every ``flushed`` notice, until cancelled."""
        await run_on_flush(
            self._bus, interval_s=self._settings.interval_ms / 1000, step=self._guarded_step
        )

    async def _guarded_step(self) -> None:
        try:
            await self.step()
        except StoreError:
            self.stats.errors += 1
            log.warning("basis step failed; retrying on the next flush", exc_info=True)

    async def step(self) -> int:
        """Compute and write every token row that became computable; returns rows written."""
        async with self._lock:
            started = time.monotonic()
            if self._state is None:
                self._state = await self._store.read(load_job_state)
            done = self._state
            target, rows, composite = await self._store.read(lambda s: self._compute(s, done))
            if target == done:
                return 0
            stamped = _stamp(rows)
            fx_rows = _stamp(composite)
            await self._store.write(lambda s: _commit_step(s, stamped, fx_rows, target))
            self._state = target
            self._record(target, stamped.height, time.monotonic() - started)
        if stamped.height:
            await self._bus.publish("basis", stamped)
        return stamped.height

    def _compute(self, store: Store, done: JobState) -> tuple[JobState, pl.DataFrame, pl.DataFrame]:
        target = plan_step(store, done, inputs=self._inputs, idle_ns=self._idle_ns)
        if target == done:
            return done, pl.DataFrame(schema=BASIS_SCHEMA), pl.DataFrame(schema=FX_COMPOSITE_SCHEMA)
        tokens = load_token_rows(store, self._inputs, now=target, done=done)
        rows = compute_rows(
            store, tokens, inputs=self._inputs, params=self._params, caches=self._caches
        )
        composite = compute_fx_composite(
            store,
            self._inputs,
            self._params,
            self._settings,
            now=target,
            done=done,
            caches=self._fx_caches,
        )
        return target, rows, composite

    def _record(self, state: JobState, rows: int, seconds: float) -> None:
        self.stats.rows_written += rows
        self.stats.steps += 1
        self.stats.last_watermark = state.watermark_ns
        self.stats.last_seq = state.seq
        self.stats.last_step_ms = seconds * 1000
        log.debug(
            "basis step",
            extra={"rows": rows, "watermark_ns": state.watermark_ns, "seq": state.seq},
        )

    def stats_dict(self) -> dict[str, Any]:
        """For /health: progress, and how far behind the newest data the watermark is."""
        return {
            "rows_written": self.stats.rows_written,
            "steps": self.stats.steps,
            "errors": self.stats.errors,
            "last_watermark_ns": self.stats.last_watermark,
            "last_seq": self.stats.last_seq,
            "last_step_ms": round(self.stats.last_step_ms, 3),
        }


def run_backfill(
    store: Store, catalog: Catalog, settings: BasisSettings, *, start_ns: int, end_ns: int
) -> int:
    """Recompute ``basis`` for ts_event in [start_ns, end_ns] in one go; returns rows written.

    Deletes the range first, and recomputes its seconds of basis_1s, in the same
    transaction. Does not touch ``job_state``: run
    it while no server owns the database.
    """
    if end_ns < start_ns:
        raise BadRequestError(f"end ({end_ns}) must not be before start ({start_ns})")
    inputs = BasisInputs.from_catalog(catalog)
    params = BasisParams.from_settings(settings)
    everything = JobState(watermark_ns=end_ns, seq=_ALL)
    before = JobState(watermark_ns=start_ns - 1, seq=_ALL)
    tokens = load_token_rows(store, inputs, now=everything, done=before)
    rows = _stamp(compute_rows(store, tokens, inputs=inputs, params=params, caches={}))
    composite = _stamp(
        compute_fx_composite(
            store, inputs, params, settings, now=everything, done=before, caches={}
        )
    )
    cur = store.cursor()
    cur.execute("BEGIN")
    try:
        span = {"start": start_ns, "end": end_ns}
        store.execute(store.sql_text("basis_delete_range"), span)
        store.execute(store.sql_text("fx_composite_delete_range"), span)
        store.append("basis", rows)
        refresh_range(store, start_ns, end_ns)
        store.append("fx_composite", composite)
        cur.execute("COMMIT")
    except Exception:
        cur.execute("ROLLBACK")
        raise
    log.info("basis backfill", extra={"rows": rows.height, "start": start_ns, "end": end_ns})
    return rows.height
