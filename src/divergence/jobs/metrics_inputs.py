"""Reading the metrics engine's inputs from the store, for the metrics job and backfill.

:func:`load_inputs` gives the frames of :data:`divergence.metrics.windowed.INPUT_SCHEMAS`
for a span ``[lo, hi]`` of event time, from inputs with ``ingest_seq <= seq``:

- ``quotes`` (``USD_QUOTES_SCHEMA``), from the ``basis`` table: the job that converted a
  token quote to USD already chose its stablecoin rate and multiplier ``k``, so a token
  quote is ``bid_usd / k`` per share here, and its sizes (from the ``quotes`` row the basis
  row came from) ``× k`` shares. Pools display no size: ``bid_sz``/``ask_sz`` are null
  (sums over sizes count them as 0). A quote whose basis row had no usable stablecoin rate
  (``fx_state`` not ``usd``/``live``/``single``) has null prices: it takes its book out of
  the consolidated BBO until the next usable quote.
- ``trades`` (``USD_TRADES_SCHEMA``), from ``trades`` of token listings: ``price =
  price_quote × X / k`` per share, ``size = size_units × k`` shares, ``notional_usd =
  price × size``. ``X`` is the stablecoin median the basis uses (the median of the fresh
  rates of every source, :func:`divergence.metrics.fx.fx_median_at`; 1 for USD); with no
  fresh source the trade's prices are null. ``k`` is the multiplier the basis applies.
- ``reference`` (``REFERENCE_NBBO_SCHEMA``), from the ``reference_quotes`` view: the
  underlying's quotes with their session label, kept while the instrument serves that
  session (``instruments.ref_sessions``), and always while closed or halted.
- ``basis`` (``BASIS_ROWS_SCHEMA``): the ``basis`` rows themselves.
- ``closes`` (``CLOSES_SCHEMA``): per underlying and XNYS regular session that closed in
  the span, the mid of the last reference quote in ``[open, close]`` of an instrument
  that serves the regular session (ties: the greater instrument id, then the last
  written), stamped with the close instant: the "last official close" the basis uses
  while the market is closed. No official closing price feed exists yet.
- ``tiers`` (``TIERS_SCHEMA``, untimed): each catalog underlying's LULD tier
  (``[[underlying]] tier``, 1 when not given).

Only the inputs asked for are read, each over its own span (:data:`Loader`).

:func:`begin_step` reads where a step of the metrics job starts: the basis job's
``(W, S)``, and each metric's ``done_until`` after the rewinds that late inputs force
(:mod:`divergence.jobs.metrics_job`). Every SQL statement is in
``sql/queries/metrics_*.sql``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from divergence.catalog import Catalog
from divergence.clock import NS_PER_MS
from divergence.jobs.basis_inputs import BasisInputs, JobState
from divergence.metrics.basis import conform
from divergence.metrics.calendar_frames import DAY_NS
from divergence.metrics.fx import FX_SCHEMA, fx_median_at
from divergence.metrics.schemas import TIERS_SCHEMA, USD_TRADES_SCHEMA
from divergence.metrics.windowed import INPUT_SCHEMAS, MetricSpec
from divergence.sessions import calendar_frame
from divergence.settings import BasisSettings
from divergence.store.db import Store

JOB_PREFIX = "metrics:"
"""``job_state.job`` of a metric: ``metrics:<name>``."""
TOKEN_TRADES_SCHEMA = pl.Schema(
    {
        "ts_event": pl.Datetime("ns"),
        "underlying": pl.String(),
        "venue": pl.String(),
        "instrument_id": pl.String(),
        "trade_id": pl.String(),
        "price_quote": pl.Float64(),
        "size_units": pl.Float64(),
        "side": pl.String(),
        "source_seq": pl.Int64(),
        "quote_currency": pl.String(),
        "multiplier": pl.Float64(),
    }
)
"""Token trades in the venue's units (``metrics_token_trades.sql``), before conversion."""


@dataclass(frozen=True)
class MetricsInputs:
    """What loading needs besides the store: the stablecoin sources (as the basis job's)
    and how old a source's rate may be to count in the median."""

    fx_sources: list[str]
    fx_max_staleness_ms: int
    regular_ref_ids: list[str]
    tiers: pl.DataFrame

    @classmethod
    def from_catalog(cls, catalog: Catalog, settings: BasisSettings) -> MetricsInputs:
        basis = BasisInputs.from_catalog(catalog)
        tiers = [(u.symbol, u.tier) for u in catalog.underlying]
        return cls(
            fx_sources=basis.fx_sources,
            fx_max_staleness_ms=settings.fx_max_staleness_ms,
            regular_ref_ids=basis.regular_ref_ids,
            tiers=pl.DataFrame(tiers, schema=TIERS_SCHEMA, orient="row"),
        )


def compute_usd_trades(
    trades: pl.LazyFrame, rates: pl.LazyFrame, *, fx_max_staleness_ms: int
) -> pl.LazyFrame:
    """Token trades (``TOKEN_TRADES_SCHEMA``) in USD per share and shares
    (``USD_TRADES_SCHEMA``), with the stablecoin median of ``rates`` (``FX_SCHEMA``) at
    each trade: only sources at most ``fx_max_staleness_ms`` old count."""
    indexed = conform(trades, TOKEN_TRADES_SCHEMA).with_row_index("_row")
    medians = fx_median_at(
        indexed.filter(pl.col("quote_currency") != "USD").select(
            "_row", "ts_event", pl.col("quote_currency").alias("currency")
        ),
        conform(rates, FX_SCHEMA),
        max_staleness_ms=fx_max_staleness_ms,
        max_age_ms=fx_max_staleness_ms,
    ).select("_row", "fx_median")
    rate = pl.when(pl.col("quote_currency") == "USD").then(1.0).otherwise(pl.col("fx_median"))
    k = pl.col("multiplier")
    return (
        indexed.join(medians, on="_row", how="left")
        .with_columns(
            (pl.col("price_quote") * rate / k).alias("price"),
            (pl.col("size_units") * k).alias("size"),
        )
        .with_columns((pl.col("price") * pl.col("size")).alias("notional_usd"))
        .sort("_row")
        .pipe(conform, USD_TRADES_SCHEMA)
    )


def load_inputs(
    store: Store, inputs: MetricsInputs, *, lo: Mapping[str, int], hi: int, seq: int
) -> dict[str, pl.LazyFrame]:
    """The metrics' input frames named in ``lo``, each for event time in ``[lo[name],
    hi]`` (module docstring; ``tiers`` whole)."""
    return {
        name: _LOADERS[name](store, inputs, {"ts_lo": start, "ts_hi": hi, "seq": seq})
        for name, start in lo.items()
    }


def _query(name: str, sql: str) -> Callable[[Store, MetricsInputs, dict[str, int]], pl.LazyFrame]:
    """A loader of input ``name`` by one query (``sql``) over a span, as its schema."""

    def load(store: Store, inputs: MetricsInputs, span: dict[str, int]) -> pl.LazyFrame:
        return _lazy(store.query(store.sql_text(sql), span), INPUT_SCHEMAS[name])

    return load


def load_trades(store: Store, inputs: MetricsInputs, span: dict[str, int]) -> pl.LazyFrame:
    """Token trades in USD per share (module docstring)."""
    trades = store.query(store.sql_text("metrics_token_trades"), span)
    staleness_ns = inputs.fx_max_staleness_ms * NS_PER_MS
    rates = store.query(
        store.sql_text("metrics_fx_rates"),
        {"keys": inputs.fx_sources, **span, "ts_lo": span["ts_lo"] - staleness_ns},
    )
    usd_trades = compute_usd_trades(
        _lazy(trades, TOKEN_TRADES_SCHEMA),
        _lazy(rates, FX_SCHEMA),
        fx_max_staleness_ms=inputs.fx_max_staleness_ms,
    )
    return usd_trades.collect().lazy()


def load_closes(store: Store, inputs: MetricsInputs, span: dict[str, int]) -> pl.LazyFrame:
    """Each underlying's close (last regular-session reference mid) of every regular
    session that closed in the span (module docstring)."""
    lo, hi = span["ts_lo"], span["ts_hi"]
    # From a day before: a session that closes in the span is whole (not clipped at lo).
    sessions = calendar_frame(lo - DAY_NS, hi + 1).filter(
        (pl.col("session") == "regular") & pl.col("ts_end").is_between(lo, hi)
    )
    rows = store.query(
        store.sql_text("metrics_closes"),
        {
            "keys": inputs.regular_ref_ids,
            "opens": sessions["ts_start"].to_list(),
            "closes": sessions["ts_end"].to_list(),
            "days": sessions["trading_day"].to_list(),
            "seq": span["seq"],
        },
    )
    return _lazy(rows, INPUT_SCHEMAS["closes"])


def _tiers(store: Store, inputs: MetricsInputs, span: dict[str, int]) -> pl.LazyFrame:
    return inputs.tiers.lazy()


_LOADERS: dict[str, Callable[[Store, MetricsInputs, dict[str, int]], pl.LazyFrame]] = {
    "quotes": _query("quotes", "metrics_usd_quotes"),
    "reference": _query("reference", "metrics_reference_nbbo"),
    "basis": _query("basis", "metrics_basis"),
    "trades": load_trades,
    "closes": load_closes,
    "tiers": _tiers,
}


def _lazy(frame: pl.DataFrame, schema: pl.Schema) -> pl.LazyFrame:
    """A query result as a lazy frame of ``schema``."""
    return conform(frame.lazy(), schema)


@dataclass(frozen=True)
class MetricsState:
    """Per metric, rows before ``done[name]`` are final, from inputs up to ``seq``."""

    seq: int
    done: Mapping[str, int]


def load_state(store: Store) -> MetricsState:
    """The saved ``done_until`` of every metric that ran (none: seq 0)."""
    rows = store.query(store.sql_text("metrics_job_state_load"))
    if rows.is_empty():
        return MetricsState(seq=0, done={})
    done = dict(zip(rows["metric"].to_list(), rows["done_until"].to_list(), strict=True))
    return MetricsState(seq=int(rows["seq"].min()), done=done)  # type: ignore[arg-type]


def begin_step(
    store: Store, state: MetricsState, specs: Sequence[MetricSpec]
) -> tuple[int, int, dict[str, int]] | None:
    """The basis job's ``(W, S)`` and each metric's ``done_until`` after the rewinds
    (steps 1-2 in :mod:`divergence.jobs.metrics_job`); None while the basis job has not
    run. A metric that never ran starts at the first token observation or trade (not
    rewound: it wrote nothing, and reads every input up to ``S`` from there)."""
    target = load_basis_state(store)
    if target is None:
        return None
    by_name = {s.name: s for s in specs}
    done = {s.name: state.done[s.name] for s in specs if s.name in state.done}
    arrived = new_inputs_since(store, seq_done=state.seq, seq=target.seq)
    if arrived is not None:
        # Rows final at watermark `arrived` never read an input at `arrived`: they stay.
        done = {n: min(d, by_name[n].done_until(arrived)) for n, d in done.items()}
    if len(done) < len(specs):  # never ran: nothing written to rewind
        first = first_input(store, seq=target.seq)
        if first is not None:
            done |= {s.name: first for s in specs if s.name not in done}
    return target.watermark_ns, target.seq, done


def load_basis_state(store: Store) -> JobState | None:
    """How far the basis job got (its watermark bounds the metrics'); None before it ran."""
    rows = store.query(store.sql_text("basis_job_state_load"), {"job": "basis"})
    if rows.is_empty():
        return None
    return JobState(watermark_ns=int(rows["watermark_ns"][0]), seq=int(rows["seq"][0]))


def new_inputs_since(store: Store, *, seq_done: int, seq: int) -> int | None:
    """The earliest ts_event of any input written with ingest_seq in (seq_done, seq]."""
    if seq <= seq_done:
        return None
    rows = store.query(store.sql_text("metrics_new_inputs"), {"seq_done": seq_done, "seq": seq})
    value = rows["ts_min"][0]
    return None if value is None else int(value)


def first_input(store: Store, *, seq: int) -> int | None:
    """The earliest token observation or token trade (where a new metric starts)."""
    value = store.query(store.sql_text("metrics_first_input"), {"seq": seq})["ts_min"][0]
    return None if value is None else int(value)
