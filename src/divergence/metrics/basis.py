"""Basis of every token observation against its underlying's reference (pure polars).

One function, :func:`compute_basis`, serves the live job and the backfill alike. It
takes lazy frames and returns a lazy frame; nothing here reads, writes or collects.
Formulas, units and the ``ref_state`` rules are in docs/metrics.md; in short::

    bid_usd, ask_usd, mid_usd = quote-currency prices × fx_rate       (never ÷ k)
    basis_bps      = (mid_usd / (k · ref_mid) − 1) · 1e4              (live, closed)
    exec_basis_bps = prem · 1e4 if prem > 0, disc · 1e4 if disc < 0, else 0   (live)

Every context lookup (multiplier, FX rate, reference, session) is a *backward* as-of
join on ``ts_event``: a token observation only ever sees context from its own instant
or before. FX, reference and session rows older than ``max_ref_age_ms`` are not joined
at all, so the result does not depend on how much older history the caller loads.
When two context rows share a key and a timestamp, the later one in input order wins
(the basis job orders its inputs by ``ingest_seq``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import polars as pl

from divergence.clock import NS_PER_MS
from divergence.errors import ConfigError
from divergence.settings import BasisSettings

TS: pl.DataType = pl.Datetime("ns")
OPEN_SESSIONS = ("pre", "regular", "post", "overnight")
CLOSED_SESSIONS = ("closed", "halted")
UNKNOWN_SESSION = "closed"
"""The session assumed when no session announcement is known within max_ref_age."""

TOKEN_QUOTES_SCHEMA = pl.Schema(
    {
        "ts_event": TS,
        "ts_recv": TS,
        "instrument_id": pl.String(),
        "venue": pl.String(),
        "bid_px": pl.Float64(),
        "ask_px": pl.Float64(),
        "source_kind": pl.String(),
        "source_seq": pl.Int64(),
    }
)
REFERENCES_SCHEMA = pl.Schema(
    {
        "ts_event": TS,
        "underlying": pl.String(),
        "ref_instrument_id": pl.String(),
        "bid": pl.Float64(),
        "ask": pl.Float64(),
    }
)
FX_SCHEMA = pl.Schema({"ts_event": TS, "currency": pl.String(), "rate_usd": pl.Float64()})
SESSIONS_SCHEMA = pl.Schema({"ts_event": TS, "underlying": pl.String(), "session": pl.String()})
MULTIPLIERS_SCHEMA = pl.Schema(
    {"instrument_id": pl.String(), "effective_from": TS, "multiplier": pl.Float64()}
)
LISTINGS_SCHEMA = pl.Schema(
    {
        "instrument_id": pl.String(),
        "underlying": pl.String(),
        "quote_currency": pl.String(),
        "taker_fee_bps": pl.Float64(),
    }
)
BASIS_SCHEMA = pl.Schema(
    {
        "ts_event": TS,
        "ts_recv": TS,
        "instrument_id": pl.String(),
        "venue": pl.String(),
        "underlying": pl.String(),
        "source_kind": pl.String(),
        "quote_currency": pl.String(),
        "fx_rate": pl.Float64(),
        "fx_age_ms": pl.Float64(),
        "fx_state": pl.String(),
        "multiplier": pl.Float64(),
        "bid_usd": pl.Float64(),
        "ask_usd": pl.Float64(),
        "mid_usd": pl.Float64(),
        "ref_instrument_id": pl.String(),
        "ref_ts": TS,
        "ref_bid": pl.Float64(),
        "ref_ask": pl.Float64(),
        "ref_mid": pl.Float64(),
        "ref_age_ms": pl.Float64(),
        "session": pl.String(),
        "ref_state": pl.String(),
        "basis_bps": pl.Float64(),
        "exec_basis_bps": pl.Float64(),
        "source_seq": pl.Int64(),
    }
)
"""The ``basis`` table's columns except ``ts_ingest`` (the writer stamps that)."""


@dataclass(frozen=True)
class BasisParams:
    """The limits compute_basis applies; build it with :meth:`from_settings`."""

    max_staleness_ms: Mapping[str, int]
    max_ref_age_ms: int
    fx_max_staleness_ms: int

    def __post_init__(self) -> None:
        missing = [s for s in OPEN_SESSIONS if s not in self.max_staleness_ms]
        if missing:
            raise ConfigError(
                f"needs a limit for every open session, missing {', '.join(missing)}",
                key="basis.max_staleness_ms",
                source="settings",
            )
        limits = {f"basis.max_staleness_ms.{k}": v for k, v in self.max_staleness_ms.items()}
        limits["basis.max_ref_age_s"] = self.max_ref_age_ms
        limits["basis.fx_max_staleness_ms"] = self.fx_max_staleness_ms
        for key, value in limits.items():
            if value <= 0:
                raise ConfigError(f"must be positive (found {value})", key=key, source="settings")

    @classmethod
    def from_settings(cls, settings: BasisSettings) -> BasisParams:
        return cls(
            max_staleness_ms=dict(settings.max_staleness_ms),
            max_ref_age_ms=settings.max_ref_age_s * 1_000,
            fx_max_staleness_ms=settings.fx_max_staleness_ms,
        )


def conform(frame: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
    """``frame`` reduced to ``schema``'s columns, cast to its types (Int64 ns → Datetime)."""
    return frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items())


def compute_basis(
    token_quotes: pl.LazyFrame,
    *,
    references: pl.LazyFrame,
    fx: pl.LazyFrame,
    sessions: pl.LazyFrame,
    multipliers: pl.LazyFrame,
    listings: pl.LazyFrame,
    params: BasisParams,
) -> pl.LazyFrame:
    """One basis row (``BASIS_SCHEMA``) per token observation, ordered by ts_event.

    Inputs follow ``TOKEN_QUOTES_SCHEMA`` (book tops, and pool tops from
    :func:`divergence.metrics.pool.compute_pool_quotes`), ``REFERENCES_SCHEMA``,
    ``FX_SCHEMA``, ``SESSIONS_SCHEMA``, ``MULTIPLIERS_SCHEMA`` and ``LISTINGS_SCHEMA``;
    extra columns are ignored. Observations of instruments that are not listings, or
    that precede their listing's first multiplier, produce no row.
    """
    tokens = _with_listing(
        conform(token_quotes, TOKEN_QUOTES_SCHEMA),
        conform(listings, LISTINGS_SCHEMA),
        conform(multipliers, MULTIPLIERS_SCHEMA),
    )
    tokens = _with_fx(tokens, conform(fx, FX_SCHEMA), params)
    tokens = _with_reference(tokens, conform(references, REFERENCES_SCHEMA), params)
    tokens = _with_session(tokens, conform(sessions, SESSIONS_SCHEMA), params)
    return (
        _with_basis(_with_ref_state(tokens, params))
        .select(pl.col(name).cast(dtype) for name, dtype in BASIS_SCHEMA.items())
        .sort(["ts_event", "source_seq", "instrument_id"], maintain_order=True)
    )


def _asof(
    left: pl.LazyFrame,
    right: pl.LazyFrame,
    *,
    right_on: str,
    by: str,
    tolerance_ms: int | None = None,
) -> pl.LazyFrame:
    """Backward as-of join of ``left`` (sorted by ts_event) on ``right`` within ``by``."""
    ordered = right.sort([by, right_on], maintain_order=True)
    return left.join_asof(
        ordered,
        left_on="ts_event",
        right_on=right_on,
        by=by,
        strategy="backward",
        tolerance=None if tolerance_ms is None else timedelta(milliseconds=tolerance_ms),
        check_sortedness=False,
    )


def _age_ns(since: str) -> pl.Expr:
    return (pl.col("ts_event") - pl.col(since)).dt.total_nanoseconds()


def _with_listing(
    tokens: pl.LazyFrame, listings: pl.LazyFrame, multipliers: pl.LazyFrame
) -> pl.LazyFrame:
    """Underlying, quote currency, fee and the multiplier k in force at each ts_event."""
    listed = tokens.join(listings, on="instrument_id", how="inner").sort(
        ["ts_event", "source_seq", "instrument_id"], maintain_order=True
    )
    k = multipliers.rename({"effective_from": "_k_from"})
    joined = _asof(listed, k, right_on="_k_from", by="instrument_id")
    return joined.filter(pl.col("multiplier").is_not_null()).drop("_k_from")


def _with_fx(tokens: pl.LazyFrame, fx: pl.LazyFrame, params: BasisParams) -> pl.LazyFrame:
    """fx_rate (USD per quote unit), fx_age_ms and fx_state usd | live | stale | missing."""
    rates = fx.rename({"ts_event": "_fx_ts", "currency": "quote_currency", "rate_usd": "_fx"})
    joined = _asof(
        tokens, rates, right_on="_fx_ts", by="quote_currency", tolerance_ms=params.max_ref_age_ms
    )
    usd = pl.col("quote_currency") == "USD"
    age = _age_ns("_fx_ts")
    return joined.with_columns(
        pl.when(usd).then(pl.lit(1.0)).otherwise(pl.col("_fx")).alias("fx_rate"),
        pl.when(usd).then(None).otherwise(age / NS_PER_MS).alias("fx_age_ms"),
        pl.when(usd)
        .then(pl.lit("usd"))
        .when(pl.col("_fx_ts").is_null())
        .then(pl.lit("missing"))
        .when(age > params.fx_max_staleness_ms * NS_PER_MS)
        .then(pl.lit("stale"))
        .otherwise(pl.lit("live"))
        .alias("fx_state"),
    ).drop("_fx_ts", "_fx")


def _with_reference(
    tokens: pl.LazyFrame, references: pl.LazyFrame, params: BasisParams
) -> pl.LazyFrame:
    """The latest reference quote at or before ts_event (within max_ref_age) and its age."""
    refs = references.rename({"ts_event": "ref_ts", "bid": "ref_bid", "ask": "ref_ask"})
    joined = _asof(
        tokens, refs, right_on="ref_ts", by="underlying", tolerance_ms=params.max_ref_age_ms
    )
    return joined.with_columns(
        ((pl.col("ref_bid") + pl.col("ref_ask")) / 2).alias("ref_mid"),
        (_age_ns("ref_ts") / NS_PER_MS).alias("ref_age_ms"),
    )


def _with_session(
    tokens: pl.LazyFrame, sessions: pl.LazyFrame, params: BasisParams
) -> pl.LazyFrame:
    """The underlying's session in force at ts_event; unknown counts as closed."""
    announced = sessions.rename({"ts_event": "_session_ts"})
    joined = _asof(
        tokens,
        announced,
        right_on="_session_ts",
        by="underlying",
        tolerance_ms=params.max_ref_age_ms,
    )
    return joined.with_columns(pl.col("session").fill_null(UNKNOWN_SESSION)).drop("_session_ts")


def _with_ref_state(tokens: pl.LazyFrame, params: BasisParams) -> pl.LazyFrame:
    """missing, else closed (closed/halted session), else stale or live by the session limit."""
    limits = {s: ms * NS_PER_MS for s, ms in params.max_staleness_ms.items()}
    limit = pl.col("session").replace_strict(limits, default=None, return_dtype=pl.Int64)
    too_old = (_age_ns("ref_ts") > limit).fill_null(True)
    return tokens.with_columns(
        pl.when(pl.col("ref_ts").is_null())
        .then(pl.lit("missing"))
        .when(pl.col("session").is_in(CLOSED_SESSIONS))
        .then(pl.lit("closed"))
        .when(too_old)
        .then(pl.lit("stale"))
        .otherwise(pl.lit("live"))
        .alias("ref_state")
    )


def _with_basis(tokens: pl.LazyFrame) -> pl.LazyFrame:
    """USD prices, mid basis and executable basis (see the module docstring)."""
    rate = pl.col("fx_rate")
    priced = tokens.with_columns(
        (pl.col("bid_px") * rate).alias("bid_usd"),
        (pl.col("ask_px") * rate).alias("ask_usd"),
        ((pl.col("bid_px") + pl.col("ask_px")) / 2 * rate).alias("mid_usd"),
    )
    k = pl.col("multiplier")
    fx_ok = pl.col("fx_state").is_in(["usd", "live"])
    state = pl.col("ref_state")
    fee = (
        pl.when(pl.col("source_kind") == "pool").then(0.0).otherwise(pl.col("taker_fee_bps") / 1e4)
    )
    prem = (pl.col("bid_usd") * (1 - fee) - k * pl.col("ref_ask")) / (k * pl.col("ref_ask"))
    disc = (pl.col("ask_usd") * (1 + fee) - k * pl.col("ref_bid")) / (k * pl.col("ref_bid"))
    executable = pl.when(prem > 0).then(prem * 1e4).when(disc < 0).then(disc * 1e4).otherwise(0.0)
    return priced.with_columns(
        pl.when(state.is_in(["live", "closed"]) & fx_ok)
        .then((pl.col("mid_usd") / (k * pl.col("ref_mid")) - 1) * 1e4)
        .alias("basis_bps"),
        pl.when((state == "live") & fx_ok).then(executable).alias("exec_basis_bps"),
    )
