"""Reading the basis job's inputs from the store, and computing rows from them.

Both the live step and the backfill go through :func:`load_token_rows` (which token
observations), :func:`load_context` (the references, FX rates and sessions an as-of join
over them can see) and :func:`compute_rows` (the pure
:func:`~divergence.metrics.basis.compute_basis` over those frames).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import polars as pl

from divergence.catalog import Catalog
from divergence.clock import NS_PER_MS, ns_from_datetime
from divergence.errors import ConfigError
from divergence.metrics.basis import (
    BASIS_SCHEMA,
    TOKEN_QUOTES_SCHEMA,
    BasisContext,
    BasisParams,
    compute_basis,
    conform,
)
from divergence.metrics.pool import POOL_STATES_SCHEMA, compute_pool_quotes
from divergence.sessions import calendar_frame
from divergence.store.db import Store

_LOOKBACKS_MS = (60_000, 3_600_000)
"""Carry-in lookbacks tried before the full max_ref_age (most context is recent)."""


@dataclass(frozen=True)
class JobState:
    """How far the job got: watermark (epoch ns) and highest ingest_seq processed."""

    watermark_ns: int
    seq: int


INITIAL_STATE = JobState(watermark_ns=-1, seq=0)


@dataclass(frozen=True)
class BasisInputs:
    """What the job takes from the catalog: ids to select, listings, sessions and splits."""

    token_ids: list[str]
    ref_ids: list[str]
    regular_ref_ids: list[str]
    fx_sources: list[str]
    underlyings: list[str]
    ref_underlyings: pl.DataFrame
    reference_sessions: pl.DataFrame
    listings: pl.DataFrame
    splits: pl.DataFrame
    context_venues: frozenset[str]

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> BasisInputs:
        listings = catalog.instruments_frame().filter(pl.col("role") == "token")
        refs = [(r.id, r.underlying) for r in catalog.reference]
        ref_underlyings = pl.DataFrame(
            refs, schema={"ref_instrument_id": pl.String, "underlying": pl.String}, orient="row"
        )
        coins = [s.currency for s in catalog.stablecoin]
        sources = {f"{v.id}|{c}" for v in catalog.venue if v.kind == "fx" for c in coins}
        sources |= {f"{f.venue}|{c}" for f in catalog.fx for c in f.currencies}
        return cls(
            token_ids=[t.id for t in catalog.token],
            ref_ids=[r[0] for r in refs],
            regular_ref_ids=[r.id for r in catalog.reference if "regular" in r.sessions],
            fx_sources=sorted(sources),
            underlyings=sorted({t.underlying for t in catalog.token}),
            ref_underlyings=ref_underlyings,
            reference_sessions=catalog.reference_sessions_frame().join(
                ref_underlyings, on="ref_instrument_id", how="inner"
            ),
            listings=listings,
            splits=split_effective_times(catalog.splits_frame()),
            context_venues=frozenset(v.id for v in catalog.venue if v.kind in ("reference", "fx")),
        )


def split_effective_times(splits: pl.DataFrame) -> pl.DataFrame:
    """Splits as ``SPLITS_SCHEMA``: effective from the start of the ex-date's trading day
    (the overnight session that runs into it, when there is one), ratio = new / old."""
    rows = []
    for underlying, ex_date, new, old in splits.select(
        "underlying", "ex_date", "ratio_new", "ratio_old"
    ).iter_rows():
        start = ns_from_datetime(datetime.combine(ex_date - timedelta(days=2), time(), tzinfo=UTC))
        end = ns_from_datetime(datetime.combine(ex_date + timedelta(days=1), time(), tzinfo=UTC))
        day = calendar_frame(start, end).filter(pl.col("trading_day") == ex_date)
        if day.is_empty():
            raise ConfigError(
                f"{ex_date} is not an XNYS trading day", key="split.ex_date", source="catalog"
            )
        rows.append((underlying, int(day["ts_start"].min()), float(new) / float(old)))  # type: ignore[arg-type]
    return pl.DataFrame(
        rows,
        schema={"underlying": pl.String, "effective_from": pl.Int64, "ratio": pl.Float64},
        orient="row",
    )


def load_token_rows(
    store: Store, inputs: BasisInputs, *, now: JobState, done: JobState
) -> pl.LazyFrame:
    """Token book tops and pool tops visible at ``now`` and not at ``done``."""
    params = {
        "token_ids": inputs.token_ids,
        "seq": now.seq,
        "ts": now.watermark_ns,
        "seq_done": done.seq,
        "ts_done": done.watermark_ns,
    }
    quotes = store.query(store.sql_text("basis_token_quotes"), params)
    pools = store.query(store.sql_text("basis_pool_states"), params)
    return pl.concat(
        [
            conform(quotes.lazy(), TOKEN_QUOTES_SCHEMA),
            compute_pool_quotes(conform(pools.lazy(), POOL_STATES_SCHEMA)),
        ]
    )


@dataclass(frozen=True)
class Carry:
    """The latest context row of one key before ``floor`` (None: none within max age)."""

    floor: int
    row: pl.DataFrame | None


CarryCache = dict[str, Carry]
"""Per key of one context query: what an earlier step learnt about older history."""


def load_context(
    store: Store,
    name: str,
    *,
    key: str,
    keys: list[str],
    span: tuple[int, int],
    max_age_ms: int,
    cache: CarryCache,
) -> pl.DataFrame:
    """Context rows for token rows in ``span`` = (lo, hi): all in it, plus a carry-in row.

    The carry-in of a key is its latest row before ``lo``. A step that follows another
    only needs to search back to the previous ``lo`` (``cache``); otherwise the search
    widens (a minute, an hour, max age), so a step never scans days of history just
    because a reference has not moved since the close.
    """
    lo, hi = span
    sql = store.sql_text(name)
    oldest = lo - max_age_ms * NS_PER_MS
    known = {k: cache[k] for k in keys if k in cache and cache[k].floor <= lo}
    starts = {max(lo - ms * NS_PER_MS, oldest) for ms in _LOOKBACKS_MS} | {oldest}
    if keys and len(known) == len(keys):
        starts.add(max(min(c.floor for c in known.values()), oldest))
    frame, carried = pl.DataFrame(), set[str]()
    for ts_from in sorted(starts, reverse=True):
        frame = store.query(sql, {"keys": keys, "ts_from": ts_from, "ts_lo": lo, "ts_hi": hi})
        earlier = frame.filter(pl.col("ts_event").cast(pl.Int64) < lo)
        carried = set(earlier[key].to_list())
        if all(k in carried or (k in known and known[k].floor >= ts_from) for k in keys):
            break
    reused = {k: known[k].row for k in keys if k not in carried and k in known}
    for k in keys:
        row = earlier.filter(pl.col(key) == k).tail(1) if k in carried else reused.get(k)
        if k not in cache or cache[k].floor <= lo:
            cache[k] = Carry(floor=lo, row=row)
    return pl.concat([*(r for r in reused.values() if r is not None), frame])


def compute_rows(
    store: Store,
    tokens: pl.LazyFrame,
    *,
    inputs: BasisInputs,
    params: BasisParams,
    caches: dict[str, CarryCache],
) -> pl.DataFrame:
    """Load the context for ``tokens`` and run compute_basis (the one place that collects)."""
    token_rows = tokens.collect()
    if token_rows.is_empty():
        return pl.DataFrame(schema=BASIS_SCHEMA)
    stamps = token_rows["ts_event"].cast(pl.Int64)
    span = (int(stamps.min()), int(stamps.max()))  # type: ignore[arg-type]
    context = BasisContext(
        references=load_context_frame(
            store, "basis_references", inputs.ref_ids, span, params, caches
        )
        .lazy()
        .join(inputs.ref_underlyings.lazy(), on="ref_instrument_id", how="inner"),
        reference_sessions=inputs.reference_sessions.lazy(),
        closes=load_closes(store, inputs, span, params).lazy(),
        fx=load_context_frame(
            store, "basis_fx_rates", inputs.fx_sources, span, params, caches
        ).lazy(),
        calendar=context_calendar(span, params).lazy(),
        announcements=load_context_frame(
            store, "basis_sessions", inputs.underlyings, span, params, caches
        ).lazy(),
        multipliers=store.query(store.sql_text("basis_multipliers")).lazy(),
        listings=inputs.listings.lazy(),
        splits=inputs.splits.lazy(),
    )
    return compute_basis(token_rows.lazy(), context, params).collect()


_KEYS = {"basis_references": "ref_instrument_id", "basis_fx_rates": "source"}


def load_context_frame(
    store: Store,
    name: str,
    keys: list[str],
    span: tuple[int, int],
    params: BasisParams,
    caches: dict[str, CarryCache],
) -> pl.DataFrame:
    """:func:`load_context` of query ``name`` (its key column by convention)."""
    return load_context(
        store,
        name,
        key=_KEYS.get(name, "underlying"),
        keys=keys,
        span=span,
        max_age_ms=params.max_ref_age_ms,
        cache=caches.setdefault(name, {}),
    )


def context_calendar(span: tuple[int, int], params: BasisParams) -> pl.DataFrame:
    """The market calendar from two max ages before ``span`` (closes carried that far)."""
    lo, hi = span
    return calendar_frame(lo - 2 * params.max_ref_age_ms * NS_PER_MS, hi + 1)


def load_closes(
    store: Store, inputs: BasisInputs, span: tuple[int, int], params: BasisParams
) -> pl.DataFrame:
    """Each regular-session reference's last quote at every close within reach of span."""
    lo, hi = span
    sessions = calendar_frame(lo - params.max_ref_age_ms * NS_PER_MS, hi + 1).filter(
        (pl.col("session") == "regular") & (pl.col("ts_end") <= hi)
    )
    rows = store.query(
        store.sql_text("basis_closes"),
        {
            "keys": inputs.regular_ref_ids,
            "opens": sessions["ts_start"].to_list(),
            "closes": sessions["ts_end"].to_list(),
        },
    )
    return rows.join(inputs.ref_underlyings, on="ref_instrument_id", how="inner")
