"""The depth job's inputs: reading them from the store and bringing them to the metrics'
contract (USD per underlying share, shares; :mod:`divergence.metrics.schemas`).

Loaders (every SQL statement in ``sql/queries/depth_*.sql``, or reused from the
metrics job: ``metrics_fx_rates.sql``, ``metrics_reference_nbbo.sql``):

- :func:`load_levels`: token ``book_levels`` after a seed (``depth_book_levels.sql``);
- :func:`load_replay`: each book from its last snapshot at or before an instant
  (``depth_book_replay.sql``): how a backfill, a first run or a rewind gets its seed;
- :func:`load_seed`: the saved ``book_state_seed`` and its ``as_of``;
- :func:`load_pools`: ``pool_states_effective`` of token listings, with a carry-in row
  per pool at most ``pool_max_age_ns`` old (``depth_pool_states.sql``);
- :func:`load_fx_rates`, :func:`load_reference`, :func:`load_multipliers`.

Pure conversions (the only place prices change units):

- :func:`compute_usd_levels`: replayed book levels (``BOOK_STATE_SCHEMA``, venue units) to
  ``BOOK_LEVELS_SCHEMA`` with :func:`divergence.metrics.book_state.to_usd_per_share`:
  ``price × X / k`` per share, ``size × k`` shares; ``X`` is the stablecoin median the
  basis and the metrics job use (:func:`divergence.metrics.fx.fx_median_at`: the median of
  the sources' rates at most ``basis.fx_max_staleness_ms`` old; 1 for USD), ``k`` the
  applied multiplier in force (``depth_multipliers.sql``). No fresh rate, or no ``k``:
  the book has no levels at that sample (it is left out, never converted at X = 1).
- :func:`compute_pool_curves`: the pool state in force at each sample to
  ``POOL_CURVES_SCHEMA`` (module :mod:`divergence.metrics.depth` docstring).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import polars as pl

from divergence.catalog import Catalog
from divergence.clock import NS_PER_MS
from divergence.jobs.basis_inputs import BasisInputs
from divergence.metrics.basis import conform
from divergence.metrics.book_state import (
    BOOK_STATE_SCHEMA,
    BOOK_UPDATES_SCHEMA,
    BookStateParams,
    compute_book_state,
    to_usd_per_share,
)
from divergence.metrics.fx import FX_SCHEMA, fx_median_at
from divergence.metrics.schemas import POOL_CURVES_SCHEMA, REFERENCE_NBBO_SCHEMA
from divergence.settings import BasisSettings
from divergence.store.db import Store

TS: pl.DataType = pl.Datetime("ns")
LOG_TICK = math.log10(1.0001)
"""One Uniswap v3 tick, as a step of log10(price)."""
TICK_TOLERANCE = 1e-9
"""Float slack (in log10 units) when placing a price inside its tick."""

SEED_SCHEMA = pl.Schema(
    {
        "venue": pl.String(),
        "instrument_id": pl.String(),
        "side": pl.String(),
        "level": pl.Int32(),
        "price": pl.Float64(),
        "size": pl.Float64(),
    }
)
"""``book_state_seed`` without ``as_of`` (every row has the same one)."""
POOL_ROWS_SCHEMA = pl.Schema(
    {
        "ts_event": TS,
        "venue": pl.String(),
        "instrument_id": pl.String(),
        "price": pl.Float64(),
        "reserve_base": pl.Float64(),
        "reserve_quote": pl.Float64(),
        "liquidity": pl.Float64(),
        "tick": pl.Int64(),
        "fee_bps": pl.Float64(),
        "ingest_seq": pl.Int64(),
    }
)
"""``depth_pool_states.sql`` rows: pool units (quote currency, token units)."""
K_SCHEMA = pl.Schema({"instrument_id": pl.String(), "effective_from": TS, "k": pl.Float64()})
LISTINGS_SCHEMA = pl.Schema(
    {
        "instrument_id": pl.String(),
        "underlying": pl.String(),
        "quote_currency": pl.String(),
        "taker_fee_bps": pl.Float64(),
    }
)
SAMPLES_SCHEMA = pl.Schema({"ts_event": TS})
DEPTH_JOB = "depth"
"""``job_state.job`` of the depth job."""
_UNCAPPED = 1_000_000
"""Levels per side the replay keeps (the seed must be uncapped, book_state.py)."""


@dataclass(frozen=True)
class DepthInputs:
    """What the depth job takes from the catalog and the basis settings."""

    listings: pl.DataFrame
    fx_sources: list[str]
    fx_max_staleness_ms: int
    clock_venues: frozenset[str]

    @classmethod
    def from_catalog(cls, catalog: Catalog, settings: BasisSettings) -> DepthInputs:
        """Token listings, the stablecoin sources the basis uses, and the venues whose
        clocks hold the watermark back (references, FX, token books and pools)."""
        basis = BasisInputs.from_catalog(catalog)
        listings = catalog.instruments_frame().filter(pl.col("role") == "token")
        token_venues = {v.id for v in catalog.venue if v.kind in ("book", "amm")}
        return cls(
            listings=listings.select(pl.col(n).cast(t) for n, t in LISTINGS_SCHEMA.items()),
            fx_sources=basis.fx_sources,
            fx_max_staleness_ms=settings.fx_max_staleness_ms,
            clock_venues=basis.context_venues | token_venues,
        )


def _lazy(frame: pl.DataFrame, schema: pl.Schema) -> pl.LazyFrame:
    return conform(frame.lazy(), schema)


def load_levels(store: Store, *, lo: int, hi: int, seq: int) -> pl.LazyFrame:
    """Token book updates with ts_event in ``(lo, hi]`` (``BOOK_UPDATES_SCHEMA``)."""
    rows = store.query(store.sql_text("depth_book_levels"), {"ts_lo": lo, "ts_hi": hi, "seq": seq})
    return _lazy(rows, BOOK_UPDATES_SCHEMA)


def load_replay(store: Store, *, at: int, seq: int) -> pl.LazyFrame:
    """Per token book, its updates from its last snapshot at or before ``at`` to ``at``."""
    rows = store.query(store.sql_text("depth_book_replay"), {"ts_at": at, "seq": seq})
    return _lazy(rows, BOOK_UPDATES_SCHEMA)


def load_seed(store: Store) -> tuple[pl.DataFrame, int | None]:
    """The saved seed (``SEED_SCHEMA``) and its ``as_of`` (None: no seed saved)."""
    rows = store.query(store.sql_text("depth_seed_load"))
    as_of = None if rows.is_empty() else int(rows["as_of"][0])
    return rows.select(pl.col(n).cast(t) for n, t in SEED_SCHEMA.items()), as_of


def load_pools(store: Store, *, lo: int, hi: int, seq: int, max_age_ns: int) -> pl.LazyFrame:
    """Token pool states for samples in ``[lo, hi]`` (``POOL_ROWS_SCHEMA``)."""
    params = {"ts_from": lo - max_age_ns, "ts_lo": lo, "ts_hi": hi, "seq": seq}
    return _lazy(store.query(store.sql_text("depth_pool_states"), params), POOL_ROWS_SCHEMA)


def load_fx_rates(store: Store, inputs: DepthInputs, *, lo: int, hi: int, seq: int) -> pl.LazyFrame:
    """The stablecoin rates samples in ``[lo, hi]`` can use (``FX_SCHEMA``)."""
    params: dict[str, Any] = {
        "keys": inputs.fx_sources,
        "ts_lo": lo - inputs.fx_max_staleness_ms * NS_PER_MS,
        "ts_hi": hi,
        "seq": seq,
    }
    return _lazy(store.query(store.sql_text("metrics_fx_rates"), params), FX_SCHEMA)


def load_reference(store: Store, *, lo: int, hi: int, seq: int) -> pl.LazyFrame:
    """The underlyings' NBBO with ts_event in ``[lo, hi]`` (``REFERENCE_NBBO_SCHEMA``)."""
    params = {"ts_lo": lo, "ts_hi": hi, "seq": seq}
    rows = store.query(store.sql_text("metrics_reference_nbbo"), params)
    return _lazy(rows, REFERENCE_NBBO_SCHEMA)


def load_multipliers(store: Store) -> pl.LazyFrame:
    """Every applied multiplier ``k`` by effective time (``K_SCHEMA``)."""
    return _lazy(store.query(store.sql_text("depth_multipliers")), K_SCHEMA)


def compute_conversion(
    points: pl.LazyFrame,
    listings: pl.LazyFrame,
    rates: pl.LazyFrame,
    multipliers: pl.LazyFrame,
    *,
    fx_max_staleness_ms: int,
) -> pl.LazyFrame:
    """Per distinct (``ts_event``, ``instrument_id``) of ``points``: ``underlying``,
    ``taker_fee_bps``, ``fx_rate`` (the stablecoin median at ts_event; 1 for USD) and
    ``k`` (the multiplier in force). Points without a fresh rate or a ``k`` are dropped."""
    keys = (
        points.select("ts_event", "instrument_id")
        .unique()
        .join(listings, on="instrument_id", how="inner")
        .sort("ts_event", "instrument_id")
        .with_row_index("_row")
    )
    medians = fx_median_at(
        keys.filter(pl.col("quote_currency") != "USD").select(
            "_row", "ts_event", pl.col("quote_currency").alias("currency")
        ),
        rates,
        max_staleness_ms=fx_max_staleness_ms,
        max_age_ms=fx_max_staleness_ms,
    ).select("_row", "fx_median")
    usd = pl.col("quote_currency") == "USD"
    return (
        keys.join(medians, on="_row", how="left")
        .with_columns(pl.when(usd).then(1.0).otherwise(pl.col("fx_median")).alias("fx_rate"))
        .join_asof(
            multipliers.sort("effective_from"),
            left_on="ts_event",
            right_on="effective_from",
            by="instrument_id",
            strategy="backward",
            check_sortedness=False,
        )
        .filter(pl.col("fx_rate").is_not_null() & pl.col("k").is_not_null())
        .select("ts_event", "instrument_id", "underlying", "taker_fee_bps", "fx_rate", "k")
    )


def compute_usd_levels(states: pl.LazyFrame, conversion: pl.LazyFrame) -> pl.LazyFrame:
    """Replayed levels (``BOOK_STATE_SCHEMA``, venue units) in ``BOOK_LEVELS_SCHEMA``,
    with ``conversion`` from :func:`compute_conversion` (books without one are left out)."""
    return to_usd_per_share(
        states.join(conversion, on=["ts_event", "instrument_id"], how="inner").with_columns(
            pl.col("taker_fee_bps").alias("fee_bps")
        )
    ).sort("ts_event", "venue", "instrument_id", "side", "price")


def tick_bounds(price: pl.Expr, tick: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """The current tick's range ``1.0001^tick .. 1.0001^(tick+1)`` in the units of
    ``price`` (pool units: decimal-adjusted, the stock in the quote token).

    The stored price is ``10^n · 1.0001^(tick+f)`` (0 ≤ f < 1) when the stock is token0
    and ``10^n / 1.0001^(tick+f)`` when it is token1, ``n`` the decimals difference, an
    integer: the orientation and ``n`` follow from which of ``log10(p) ∓ tick·LOG_TICK``
    lies within one tick above (below) an integer. Null bounds when neither or both fit
    (the range is then unknown)."""
    log_p, t = price.log10(), tick.cast(pl.Float64) * LOG_TICK
    up, down = log_p - t, log_p + t
    frac_up, frac_down = up - up.round(0), down.round(0) - down
    fits_up = frac_up.is_between(-TICK_TOLERANCE, LOG_TICK + TICK_TOLERANCE)
    fits_down = frac_down.is_between(-TICK_TOLERANCE, LOG_TICK + TICK_TOLERANCE)
    only_up, only_down = fits_up & ~fits_down, fits_down & ~fits_up
    lower = (
        pl.when(only_up)
        .then(pl.lit(10.0).pow(up.round(0) + t))
        .when(only_down)
        .then(pl.lit(10.0).pow(down.round(0) - t - LOG_TICK))
    )
    upper = (
        pl.when(only_up)
        .then(pl.lit(10.0).pow(up.round(0) + t + LOG_TICK))
        .when(only_down)
        .then(pl.lit(10.0).pow(down.round(0) - t))
    )
    return lower, upper


def compute_pool_curves(
    pools: pl.LazyFrame,
    samples: pl.LazyFrame,
    conversion: pl.LazyFrame,
    *,
    max_age_ns: int,
) -> pl.LazyFrame:
    """Each pool's state in force at each sample (at most ``max_age_ns`` old) as
    ``POOL_CURVES_SCHEMA`` plus ``price_lower``/``price_upper``, USD per share.

    ``pools``: ``POOL_ROWS_SCHEMA``; ``samples``: ``SAMPLES_SCHEMA``; ``conversion`` from
    :func:`compute_conversion` at (sample, instrument). A state with a ``tick`` is
    ``concentrated``: ``L = √(reserve_base·reserve_quote)`` (its virtual reserves, pool
    units; the raw ``liquidity`` when they are missing) becomes ``L·√(X·k)``, the range
    is the current tick's (:func:`tick_bounds`) × X / k. Otherwise ``constant_product``:
    reserves × k shares and × X USD."""
    fx, k = pl.col("fx_rate"), pl.col("k")
    lower, upper = tick_bounds(pl.col("price"), pl.col("tick"))
    root_l = (pl.col("reserve_base") * pl.col("reserve_quote")).sqrt()
    return (
        pool_states_at(pools, samples, max_age_ns=max_age_ns)
        .join(conversion, on=["ts_event", "instrument_id"], how="inner")
        .with_columns(
            pl.when(pl.col("tick").is_not_null())
            .then(pl.lit("concentrated"))
            .otherwise(pl.lit("constant_product"))
            .alias("kind"),
            (pl.col("price") * fx / k).alias("price"),
            (pl.col("reserve_base") * k).alias("reserve_base"),
            (pl.col("reserve_quote") * fx).alias("reserve_quote"),
            (root_l.fill_null(pl.col("liquidity")) * (fx * k).sqrt()).alias("liquidity"),
            (lower * fx / k).alias("price_lower"),
            (upper * fx / k).alias("price_upper"),
        )
        .select(
            *(pl.col(n).cast(t) for n, t in POOL_CURVES_SCHEMA.items()),
            "price_lower",
            "price_upper",
        )
        .sort("ts_event", "venue", "instrument_id")
    )


def pool_states_at(pools: pl.LazyFrame, samples: pl.LazyFrame, *, max_age_ns: int) -> pl.LazyFrame:
    """Per sample and pool, the last state at or before it and at most ``max_age_ns`` old
    (equal times: the last written); pools without one have no row."""
    states = pools.sort("ts_event", "ingest_seq").unique(
        ["ts_event", "venue", "instrument_id"], keep="last", maintain_order=True
    )
    books = states.select("venue", "instrument_id").unique()
    return (
        samples.join(books, how="cross")
        .sort("ts_event")
        .join_asof(
            states.rename({"ts_event": "_state_ts"}).sort("_state_ts"),
            left_on="ts_event",
            right_on="_state_ts",
            by=["venue", "instrument_id"],
            strategy="backward",
            tolerance=timedelta(microseconds=max_age_ns // 1_000),
            check_sortedness=False,
        )
        .filter(pl.col("_state_ts").is_not_null())
    )


def sample_grid(start: int, end: int, every_ns: int) -> list[int]:
    """Epoch-aligned instants (multiples of ``every_ns``) in ``[start, end)``."""
    first = -(-start // every_ns) * every_ns
    return list(range(first, end, every_ns))


def samples_frame(instants: list[int]) -> pl.LazyFrame:
    """Sample instants as a ``SAMPLES_SCHEMA`` frame."""
    return pl.LazyFrame({"ts_event": instants}, schema={"ts_event": pl.Int64()}).select(
        pl.col("ts_event").cast(TS)
    )


def seed_frame(seed: pl.DataFrame, as_of: int) -> pl.LazyFrame:
    """A saved seed as ``BOOK_STATE_SCHEMA`` rows at ``as_of`` (the replay's ``seed``)."""
    return (
        seed.lazy()
        .with_columns(pl.lit(as_of, dtype=pl.Int64).cast(TS).alias("ts_event"))
        .select(pl.col(n).cast(t) for n, t in BOOK_STATE_SCHEMA.items())
    )


@dataclass(frozen=True)
class ChunkFrames:
    """A chunk's inputs: book updates after the seed, the seed (``BOOK_STATE_SCHEMA`` at
    ``start - 1``, None: no book known), pool states, rates, reference, multipliers."""

    levels: pl.LazyFrame
    seed: pl.LazyFrame | None
    pools: pl.LazyFrame
    rates: pl.LazyFrame
    reference: pl.LazyFrame
    multipliers: pl.LazyFrame


def replay_at(
    levels: pl.LazyFrame,
    seed: pl.LazyFrame | None,
    instants: list[int],
    *,
    params: BookStateParams,
) -> pl.LazyFrame:
    """Every book in ``seed`` or ``levels`` replayed at ``instants``, uncapped (the seed
    must be: book_state.py), ``BOOK_STATE_SCHEMA``."""
    books = levels.select("venue", "instrument_id")
    if seed is not None:
        books = pl.concat([books, seed.select("venue", "instrument_id")])
    samples = samples_frame(sorted(set(instants))).join(books.unique(), how="cross")
    uncapped = BookStateParams(
        max_levels=_UNCAPPED,
        venue_depth=params.venue_depth,
        reset_sequences=params.reset_sequences,
    )
    return compute_book_state(levels, samples, params=uncapped, seed=seed)


def load_chunk(
    store: Store,
    inputs: DepthInputs,
    *,
    start: int,
    end: int,
    seq: int,
    seed: pl.LazyFrame | None,
    pool_max_age_ns: int,
    reference_lookback_ns: int,
) -> ChunkFrames:
    """The inputs of the samples in ``[start, end)`` (module docstring), after ``seed``."""
    hi = end - 1
    return ChunkFrames(
        levels=load_levels(store, lo=start - 1, hi=hi, seq=seq).collect().lazy(),
        seed=seed,
        pools=load_pools(store, lo=start, hi=hi, seq=seq, max_age_ns=pool_max_age_ns),
        rates=load_fx_rates(store, inputs, lo=start, hi=hi, seq=seq),
        reference=load_reference(store, lo=start - reference_lookback_ns, hi=hi, seq=seq),
        multipliers=load_multipliers(store),
    )


def rebuild_seed(store: Store, *, at: int, seq: int, params: BookStateParams) -> pl.LazyFrame:
    """Every token book's state at ``at``, replayed from its last snapshot at or before it
    (``BOOK_STATE_SCHEMA``, uncapped): the seed without a saved one."""
    updates = load_replay(store, at=at, seq=seq).collect().lazy()
    return replay_at(updates, None, [at], params=params).collect().lazy()


def saved_seed(store: Store, *, at: int) -> pl.LazyFrame | None:
    """The saved seed if it is the state at ``at`` (else None: rebuild it)."""
    seed, as_of = load_seed(store)
    return seed_frame(seed, at) if as_of == at else None


def load_job_state(store: Store) -> tuple[int, int] | None:
    """The saved ``(done_until, seq)``, or None before the first chunk."""
    rows = store.query(store.sql_text("basis_job_state_load"), {"job": DEPTH_JOB})
    if rows.is_empty():
        return None
    return int(rows["watermark_ns"][0]), int(rows["seq"][0])
