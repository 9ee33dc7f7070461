"""The depth job: ``book_depth_1s`` and ``sweep_costs_1m``, live and in backfill.

Every ``depth_sample_s`` (default 1 s) at epoch-aligned instants it measures the depth
within X bps of every known token book and every live token pool
(:func:`~divergence.metrics.depth.compute_book_depth`,
:func:`~divergence.metrics.depth.compute_pool_depth`, metrics.md §3.2-§3.3), and every
``sweep_sample_s`` (default 60 s) the Rule 605 sweep costs per underlying
(:func:`~divergence.metrics.sweep.compute_sweep_costs`, metrics.md §4.1). Books are
replayed from ``book_levels`` (:func:`~divergence.metrics.book_state.compute_book_state`)
from a **seed**, the books' full state at the instant before a chunk:

- live, the seed is the state the previous chunk ended with, kept in ``book_state_seed``
  and written in the same transaction as the rows and the ``job_state`` row ``depth``
  (``watermark_ns`` = ``done_until``: samples before it are final; ``seq``);
- a backfill, a first run and a rewind rebuild it from each book's last snapshot at or
  before that instant (``depth_book_replay.sql``), which is the same state.

A step takes the watermark ``W`` from ``venue_clock`` (the basis job's rule, over the
reference, FX, token book and pool venues) and the highest committed ``ingest_seq`` ``S``;
samples at ``t < W`` are final (a venue's next event may still carry ``ts_event = W``).
Inputs written since the last step with an event time ``τ`` before ``done_until`` (a late
book update, pool state, rate or reference quote) rewind ``done_until`` to ``τ`` (the books
are then rebuilt from snapshots). Then chunks of at most ``max_chunk_s`` of sample time,
each: recompute ``[start, end)``, delete that range of both tables, insert, replace the
seed, save the state, in ONE transaction. A sample at ``t`` reads the books' state at
``t``, the pool states in ``[t - pool_max_age_s, t]``, rates in ``[t -
basis.fx_max_staleness_ms, t]`` and reference quotes in ``[t - 60 s, t]``: nothing after
``t``, so the rows do not depend on where chunks are cut.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import polars as pl

from divergence.bus import Bus
from divergence.catalog import Catalog
from divergence.clock import NS_PER_SECOND, now_ns
from divergence.errors import BadRequestError, ConfigError, StoreError
from divergence.jobs.basis_job import context_watermark
from divergence.jobs.depth_inputs import (
    DEPTH_JOB,
    ChunkFrames,
    DepthInputs,
    compute_conversion,
    compute_pool_curves,
    compute_usd_levels,
    load_chunk,
    load_job_state,
    rebuild_seed,
    replay_at,
    sample_grid,
    samples_frame,
    saved_seed,
    seed_frame,
)
from divergence.jobs.loop import run_on_flush
from divergence.metrics.book_state import BookStateParams
from divergence.metrics.depth import DepthParams, compute_book_depth, compute_pool_depth
from divergence.metrics.sweep import SWEEP_LOOKBACK_NS, SweepParams, compute_sweep_costs
from divergence.settings import BasisSettings, DepthSettings
from divergence.store.db import AsyncStore, Store

log = logging.getLogger(__name__)
_ALL = 2**62

POOL_MAX_AGE_NS = 86_400 * NS_PER_SECOND
"""Default: a pool state older than a day counts as absent (the pool feed is down)."""
BOOK_DEPTH_LOOKBACK_NS = POOL_MAX_AGE_NS
"""Inputs a ``book_depth_1s`` row reads before its time: books none *given the seed*
(book_state.py), pool states ``pool_max_age_s``, rates ``basis.fx_max_staleness_ms``."""
SWEEP_COSTS_LOOKBACK_NS = max(POOL_MAX_AGE_NS, SWEEP_LOOKBACK_NS)
"""As :data:`BOOK_DEPTH_LOOKBACK_NS`, and reference quotes 60 s (``SWEEP_LOOKBACK_NS``)."""
DEPTH_LOOKAHEAD_NS = 0
"""No row reads an input after its own time."""

DEPTH_TABLE_SCHEMA = pl.Schema(
    {
        "ts_event": pl.Datetime("ns"),
        "underlying": pl.String(),
        "venue": pl.String(),
        "instrument_id": pl.String(),
        "source_kind": pl.String(),
        "pool_kind": pl.String(),
        "bps": pl.Int32(),
        "mid_usd": pl.Float64(),
        "bid_depth_usd": pl.Float64(),
        "ask_depth_usd": pl.Float64(),
        "bid_depth_with_fee_usd": pl.Float64(),
        "ask_depth_with_fee_usd": pl.Float64(),
        "bid_complete": pl.Boolean(),
        "ask_complete": pl.Boolean(),
    }
)
"""``book_depth_1s`` (sql/schema/0051_book_depth_1s.sql)."""
SWEEP_COLUMNS = {
    "fill_consolidated": "fill_consolidated_usd",
    "fill_best_venue": "fill_best_venue_usd",
    "ref_mid": "ref_mid_usd",
}
"""``SWEEP_SCHEMA`` names to ``sweep_costs_1m`` names (units)."""
DEPTH_ORDER = ["ts_event", "venue", "instrument_id", "bps"]
SWEEP_ORDER = ["ts_event", "underlying", "side", "notional_usd"]


@dataclass(frozen=True)
class DepthJobParams:
    """The depth job's parameters (settings ``depth.*``, docs/_draft_depth_job.md).

    - ``depth_sample_s`` (1) / ``sweep_sample_s`` (60): the sample grids, epoch-aligned;
    - ``pool_max_age_s`` (86,400): an older pool state counts as absent;
    - ``max_chunk_s`` (3,600): sample time per chunk (a transaction); no effect on rows;
    - ``interval_ms`` (1,000): the live job steps at most this often;
    - ``book``: replay rules (``max_levels`` 50 per side measured; the seed is uncapped);
    - ``depth``: the X grid (10 … 200 bps, metrics.md §9); ``sweep``: notionals and
      reference staleness (§4.1, §1.3).
    """

    depth_sample_s: int = 1
    sweep_sample_s: int = 60
    pool_max_age_s: int = 86_400
    max_chunk_s: int = 3_600
    interval_ms: int = 1_000
    book: BookStateParams = field(default_factory=BookStateParams)
    depth: DepthParams = field(default_factory=DepthParams)
    sweep: SweepParams = field(default_factory=SweepParams)

    def __post_init__(self) -> None:
        spans = {
            "depth.depth_sample_s": self.depth_sample_s,
            "depth.sweep_sample_s": self.sweep_sample_s,
            "depth.pool_max_age_s": self.pool_max_age_s,
            "depth.max_chunk_s": self.max_chunk_s,
            "depth.interval_ms": self.interval_ms,
        }
        for key, value in spans.items():
            if value <= 0:
                raise ConfigError(f"must be positive (found {value})", key=key, source="params")


@dataclass(frozen=True)
class ChunkRows:
    """A chunk's output for samples in ``[start, end)``, and the seed at ``end - 1``."""

    start: int
    end: int
    depth: pl.DataFrame
    sweeps: pl.DataFrame
    seed: pl.DataFrame


def compute_depth_chunk(
    frames: ChunkFrames,
    inputs: DepthInputs,
    *,
    start: int,
    end: int,
    params: DepthJobParams,
) -> ChunkRows:
    """The rows of samples in ``[start, end)`` and the books' state at ``end - 1``."""
    depth_ns = params.depth_sample_s * NS_PER_SECOND
    sweep_ns = params.sweep_sample_s * NS_PER_SECOND
    instants = sorted(
        set(sample_grid(start, end, depth_ns)) | set(sample_grid(start, end, sweep_ns))
    )
    states = replay_at(frames.levels, frames.seed, [*instants, end - 1], params=params.book)
    states = states.collect().lazy()
    levels, curves = _usd_inputs(frames, inputs, states, instants, params=params)
    at = pl.col("ts_event").cast(pl.Int64)
    on_depth, on_sweep = at % depth_ns == 0, at % sweep_ns == 0
    depth = _depth_rows(levels.filter(on_depth), curves.filter(on_depth), params.depth)
    sweeps = compute_sweep_costs(
        levels.filter(on_sweep), curves.filter(on_sweep), frames.reference, params=params.sweep
    ).rename(SWEEP_COLUMNS)
    seed = states.filter(at == end - 1).drop("ts_event")
    return ChunkRows(start, end, depth.collect(), sweeps.collect(), seed.collect())


def _usd_inputs(
    frames: ChunkFrames,
    inputs: DepthInputs,
    states: pl.LazyFrame,
    instants: list[int],
    *,
    params: DepthJobParams,
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The books' levels (capped at ``max_levels``) and the pools' curves at ``instants``,
    in USD per share (``BOOK_LEVELS_SCHEMA``, ``POOL_CURVES_SCHEMA``)."""
    listings = inputs.listings.lazy()
    points = samples_frame(instants).join(listings.select("instrument_id"), how="cross")
    conversion = compute_conversion(
        points,
        listings,
        frames.rates,
        frames.multipliers,
        fx_max_staleness_ms=inputs.fx_max_staleness_ms,
    ).collect()
    at = pl.col("ts_event").cast(pl.Int64)
    every = (params.depth_sample_s * NS_PER_SECOND, params.sweep_sample_s * NS_PER_SECOND)
    on_grid = (at % every[0] == 0) | (at % every[1] == 0)
    grid = states.filter(on_grid & (pl.col("level") <= params.book.max_levels))
    levels = compute_usd_levels(grid, conversion.lazy()).collect()
    max_age_ns = params.pool_max_age_s * NS_PER_SECOND
    curves = compute_pool_curves(
        frames.pools, samples_frame(instants), conversion.lazy(), max_age_ns=max_age_ns
    ).collect()
    return levels.lazy(), curves.lazy()


def _depth_rows(levels: pl.LazyFrame, curves: pl.LazyFrame, params: DepthParams) -> pl.LazyFrame:
    """Book and pool depth as ``book_depth_1s`` rows (``DEPTH_TABLE_SCHEMA``)."""
    books = compute_book_depth(levels, params=params).with_columns(
        pl.lit("book").alias("source_kind"),
        pl.lit(None, pl.String).alias("pool_kind"),
        pl.lit(None, pl.Float64).alias("bid_depth_with_fee_usd"),
        pl.lit(None, pl.Float64).alias("ask_depth_with_fee_usd"),
    )
    pools = (
        compute_pool_depth(curves, params=params)
        .rename({"price_usd": "mid_usd", "kind": "pool_kind"})
        .with_columns(pl.lit("pool").alias("source_kind"))
    )
    return pl.concat([_as_table(books), _as_table(pools)], how="vertical").sort(
        DEPTH_ORDER, maintain_order=True
    )


def _as_table(rows: pl.LazyFrame) -> pl.LazyFrame:
    return rows.select(pl.col(n).cast(t) for n, t in DEPTH_TABLE_SCHEMA.items())


def commit_chunk(store: Store, rows: ChunkRows, *, seq: int | None) -> dict[str, int]:
    """Write a chunk in ONE transaction: replace ``[start, end)`` of both tables and (live:
    ``seq`` given) the seed and the job state. Returns the rows inserted per table."""
    span = {"start": rows.start, "end": rows.end}
    cur = store.cursor()
    cur.execute("BEGIN")
    try:
        store.execute(store.sql_text("depth_book_depth_delete"), span)
        store.execute(store.sql_text("depth_sweep_delete"), span)
        store.append("book_depth_1s", rows.depth)
        store.append("sweep_costs_1m", rows.sweeps)
        if seq is not None:
            _save_state(store, rows, seq)
        cur.execute("COMMIT")
    except Exception:
        cur.execute("ROLLBACK")
        raise
    return {"book_depth_1s": rows.depth.height, "sweep_costs_1m": rows.sweeps.height}


def _save_state(store: Store, rows: ChunkRows, seq: int) -> None:
    """The seed at ``end - 1`` and ``done_until = end`` (inside the caller's transaction)."""
    store.execute(store.sql_text("depth_seed_clear"))
    as_of = pl.lit(rows.end - 1, dtype=pl.Int64).cast(pl.Datetime("ns")).alias("as_of")
    store.append("book_state_seed", rows.seed.with_columns(as_of))
    state = {"job": DEPTH_JOB, "watermark_ns": rows.end, "seq": seq, "updated_at": now_ns()}
    store.execute(store.sql_text("basis_job_state_save"), state)


@dataclass(frozen=True)
class StepPlan:
    """Where a live step starts (``done``, ``rewound``: rebuild the seed) and ends (``W``,
    ``S``)."""

    done: int
    watermark: int
    seq: int
    rewound: bool


def plan_live_step(
    store: Store, inputs: DepthInputs, *, state: tuple[int, int] | None, idle_ns: int
) -> StepPlan | None:
    """The next step's range from the venue clocks and the saved ``(done_until, seq)``;
    None when there is nothing to do yet (no clock, no input)."""
    clock = store.query(store.sql_text("basis_venue_clock"))
    watermark = context_watermark(clock, context_venues=inputs.clock_venues, idle_ns=idle_ns)
    if watermark is None:
        return None
    seq = int(clock["ingest_seq"].max())  # type: ignore[arg-type]
    if state is None:
        first = store.query(store.sql_text("depth_first_input"), {"seq": seq})["ts_min"][0]
        return None if first is None else StepPlan(int(first), watermark, seq, True)
    done, seq_done = state
    arrived = None
    if seq > seq_done:
        params = {"seq_done": seq_done, "seq": seq}
        arrived = store.query(store.sql_text("depth_new_inputs"), params)["ts_min"][0]
    if arrived is not None and int(arrived) < done:
        return StepPlan(int(arrived), max(watermark, done), seq, True)
    return StepPlan(done, max(watermark, done), seq, False)


def next_chunk(
    store: Store,
    inputs: DepthInputs,
    *,
    start: int,
    end: int,
    seq: int,
    params: DepthJobParams,
    seed: pl.LazyFrame | None,
) -> ChunkRows:
    """Load and compute the first chunk of ``[start, end)`` (at most ``max_chunk_s``);
    ``seed``: the books at ``start - 1`` (None: rebuilt from snapshots)."""
    stop = min(start + params.max_chunk_s * NS_PER_SECOND, end)
    if seed is None:
        seed = rebuild_seed(store, at=start - 1, seq=seq, params=params.book)
    frames = load_chunk(
        store,
        inputs,
        start=start,
        end=stop,
        seq=seq,
        seed=seed,
        pool_max_age_ns=params.pool_max_age_s * NS_PER_SECOND,
        reference_lookback_ns=params.sweep.lookback_ns,
    )
    return compute_depth_chunk(frames, inputs, start=start, end=stop, params=params)


@dataclass
class DepthJobStats:
    rows_written: int = 0
    steps: int = 0
    errors: int = 0
    rewinds: int = 0
    done_until: int | None = None
    last_step_ms: float = 0.0


class DepthJob:
    """The live depth job: steps after flushes, at most every ``interval_ms``."""

    def __init__(
        self,
        store: AsyncStore,
        bus: Bus,
        catalog: Catalog,
        params: DepthJobParams,
        *,
        basis: BasisSettings,
    ) -> None:
        self._store = store
        self._bus = bus
        self._params = params
        self._inputs = DepthInputs.from_catalog(catalog, basis)
        self._idle_ns = int(basis.context_idle_s * NS_PER_SECOND)
        self._state: tuple[int, int] | None = None
        self._seed: pl.LazyFrame | None = None
        self._seed_at: int | None = None
        self._lock = asyncio.Lock()
        self.stats = DepthJobStats()

    async def run(self) -> None:
        """Step once, then after every ``flushed`` notice, until cancelled."""
        await run_on_flush(
            self._bus, interval_s=self._params.interval_ms / 1000, step=self._guarded_step
        )

    async def _guarded_step(self) -> int:
        try:
            return await self.step()
        except StoreError:
            self.stats.errors += 1
            log.warning("depth step failed; retrying on the next flush", exc_info=True)
            return 0

    async def step(self) -> int:
        """Bring both tables up to the watermark; returns rows written."""
        async with self._lock:
            started = time.monotonic()
            if self._state is None:
                self._state = await self._store.read(load_job_state)
            state, idle = self._state, self._idle_ns
            plan = await self._store.read(
                partial(plan_live_step, inputs=self._inputs, state=state, idle_ns=idle)
            )
            written = 0
            if plan is not None:
                written = await self._run(plan)
            self.stats.steps += 1
            self.stats.rows_written += written
            self.stats.last_step_ms = (time.monotonic() - started) * 1000
        return written

    async def _run(self, plan: StepPlan) -> int:
        """Chunks from ``plan.done`` to the watermark: computed on the read thread,
        committed on the write thread; the seed carried in memory between them."""
        start, end, written = plan.done, plan.watermark, 0
        self.stats.rewinds += int(plan.rewound)
        if not plan.rewound and self._seed_at != start - 1:
            self._seed = await self._store.read(partial(saved_seed, at=start - 1))
        seed = None if plan.rewound else self._seed
        while start < end:
            rows = await self._store.read(
                partial(
                    next_chunk,
                    inputs=self._inputs,
                    start=start,
                    end=end,
                    seq=plan.seq,
                    params=self._params,
                    seed=seed,
                )
            )
            counts = await self._store.write(partial(commit_chunk, rows=rows, seq=plan.seq))
            written += sum(counts.values())
            seed, start = seed_frame(rows.seed, rows.end - 1), rows.end
            self._state, self._seed, self._seed_at = (rows.end, plan.seq), seed, rows.end - 1
        self.stats.done_until = self._state[0] if self._state else None
        log.debug("depth step", extra={"rows": written, "done_until": end})
        return written

    def stats_dict(self) -> dict[str, Any]:
        """For /health: rows written, steps, rewinds, and how far samples are final."""
        return {
            "rows_written": self.stats.rows_written,
            "steps": self.stats.steps,
            "errors": self.stats.errors,
            "rewinds": self.stats.rewinds,
            "done_until_ns": self.stats.done_until,
            "last_step_ms": round(self.stats.last_step_ms, 3),
        }


def run_backfill(
    store: Store,
    catalog: Catalog,
    params: DepthJobParams,
    *,
    basis: BasisSettings,
    start_ns: int,
    end_ns: int,
) -> dict[str, int]:
    """Recompute ``book_depth_1s`` and ``sweep_costs_1m`` for samples in ``[start_ns,
    end_ns)`` from every stored input, the books rebuilt from their last snapshot at or
    before ``start_ns - 1``. Same chunks as live, each its own transaction; touches
    neither ``job_state`` nor ``book_state_seed``. Returns rows written per table."""
    if end_ns <= start_ns:
        raise BadRequestError(f"end ({end_ns}) must be after start ({start_ns})")
    inputs = DepthInputs.from_catalog(catalog, basis)
    written = {"book_depth_1s": 0, "sweep_costs_1m": 0}
    start, seed = start_ns, None
    while start < end_ns:
        rows = next_chunk(
            store, inputs, start=start, end=end_ns, seq=_ALL, params=params, seed=seed
        )
        for table, count in commit_chunk(store, rows, seq=None).items():
            written[table] += count
        seed, start = seed_frame(rows.seed, rows.end - 1), rows.end
    log.info("depth backfill", extra={"rows": written, "start": start_ns, "end": end_ns})
    return written


def params_from_settings(settings: DepthSettings) -> DepthJobParams:
    """The job's parameters from the ``depth`` settings section."""
    return DepthJobParams(
        depth_sample_s=settings.depth_sample_s,
        sweep_sample_s=settings.sweep_sample_s,
        pool_max_age_s=settings.pool_max_age_s,
        max_chunk_s=settings.max_chunk_s,
        interval_ms=settings.interval_ms,
    )
