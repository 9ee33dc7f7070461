"""Basis of every token observation against its underlying's reference (pure polars).

One function, :func:`compute_basis`, serves the live job and the backfill alike. It
takes lazy frames and returns a lazy frame; nothing here reads, writes or collects.
Formulas, units and the rules are in docs/metrics.md and docs/reference-prices.md; in
short::

    fx_rate        = median of the fresh rates of every source of the quote currency
    bid_usd, ask_usd, mid_usd = quote-currency prices × fx_rate        (never ÷ k)
    k              = multiplier (total_return) or 1 (rebasing)
    basis_bps      = (mid_usd / (k · ref_mid) − 1) · 1e4               (live, closed)
    exec_basis_bps = prem · 1e4 if prem > 0, disc · 1e4 if disc < 0, else 0   (live)
    basis_sc_bps   = (mid / (k · ref_mid) − 1) · 1e4, the coin taken as $1
    sc_effect_bps  = basis_sc_bps − basis_bps                          (the coin's part)

The **session** of a row is the XNYS calendar's (``calendar``), unless a venue announced
another one (a halt) within the current calendar interval. The **reference** follows the
session: the latest eligible quote in regular hours (``nbbo``) and in pre/post
(``extended``, lower confidence); an overnight venue's quote overnight when the
underlying has one (``overnight``); otherwise the last regular-session close
(``last_close``), and while halted (or closed by a venue's announcement, off the
calendar) the last quote before the announcement (``halt``). A reference
older than its session's limit is ``stale``; ``last_close`` and ``halt`` are ``closed``.
References carried across a split are divided by the split ratio.

Every context lookup is a *backward* as-of join on ``ts_event``: a token observation only
ever sees context from its own instant or before. Context older than ``max_ref_age_ms``
is not joined at all, so the result does not depend on how much older history the caller
loads. When two context rows share a key and a timestamp, the later one in input order
wins (the basis job orders its inputs by ``ingest_seq``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import polars as pl

from divergence.clock import NS_PER_MS
from divergence.errors import ConfigError
from divergence.metrics.fx import FX_SCHEMA, fx_median_at
from divergence.settings import BasisSettings

TS: pl.DataType = pl.Datetime("ns")
OPEN_SESSIONS = ("pre", "regular", "post", "overnight")
DAY_SESSIONS = ("pre", "regular", "post")
UNKNOWN_SESSION = "closed"
"""The session assumed outside the calendar's range."""

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
CLOSES_SCHEMA = pl.Schema(
    {
        "close_ts": TS,
        "underlying": pl.String(),
        "ref_instrument_id": pl.String(),
        "ts_event": TS,
        "bid": pl.Float64(),
        "ask": pl.Float64(),
    }
)
"""Per regular-session close (``close_ts``) and reference instrument: its last quote."""
REFERENCE_SESSIONS_SCHEMA = pl.Schema(
    {"ref_instrument_id": pl.String(), "underlying": pl.String(), "ref_session": pl.String()}
)
CALENDAR_SCHEMA = pl.Schema({"ts_start": TS, "ts_end": TS, "session": pl.String()})
SESSIONS_SCHEMA = pl.Schema({"ts_event": TS, "underlying": pl.String(), "session": pl.String()})
MULTIPLIERS_SCHEMA = pl.Schema(
    {"instrument_id": pl.String(), "effective_from": TS, "multiplier": pl.Float64()}
)
SPLITS_SCHEMA = pl.Schema({"underlying": pl.String(), "effective_from": TS, "ratio": pl.Float64()})
"""``ratio`` = new shares per old share; ``effective_from`` = start of the ex-date's day."""
LISTINGS_SCHEMA = pl.Schema(
    {
        "instrument_id": pl.String(),
        "underlying": pl.String(),
        "quote_currency": pl.String(),
        "taker_fee_bps": pl.Float64(),
        "tracking": pl.String(),
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
        "ref_kind": pl.String(),
        "ref_confidence": pl.String(),
        "ref_session": pl.String(),
        "split_factor": pl.Float64(),
        "fx_sources": pl.Int32(),
        "fx_depeg": pl.Boolean(),
        "basis_sc_bps": pl.Float64(),
        "sc_effect_bps": pl.Float64(),
    }
)
"""The ``basis`` table's columns except ``ts_ingest`` (the writer stamps that)."""

_KIND = {"regular": "nbbo", "pre": "extended", "post": "extended"}
_CONFIDENCE = {
    "nbbo": "high",
    "extended": "low",
    "overnight": "low",
    "last_close": "none",
    "halt": "none",
}


@dataclass(frozen=True)
class BasisParams:
    """The limits compute_basis applies; build it with :meth:`from_settings`."""

    max_staleness_ms: Mapping[str, int]
    max_ref_age_ms: int
    fx_max_staleness_ms: int
    fx_min_sources: int = 2
    depeg_bps: float = 50.0

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
        limits["basis.fx_min_sources"] = self.fx_min_sources
        limits["basis.depeg_bps"] = int(self.depeg_bps > 0)
        for key, value in limits.items():
            if value <= 0:
                raise ConfigError(f"must be positive (found {value})", key=key, source="settings")

    @classmethod
    def from_settings(cls, settings: BasisSettings) -> BasisParams:
        return cls(
            max_staleness_ms=dict(settings.max_staleness_ms),
            max_ref_age_ms=settings.max_ref_age_s * 1_000,
            fx_max_staleness_ms=settings.fx_max_staleness_ms,
            fx_min_sources=settings.fx_min_sources,
            depeg_bps=settings.depeg_bps,
        )


@dataclass(frozen=True)
class BasisContext:
    """Everything a token observation is compared with, as lazy frames.

    - ``references``: reference quotes (``REFERENCES_SCHEMA``);
    - ``reference_sessions``: which instrument may serve in which session
      (``REFERENCE_SESSIONS_SCHEMA``);
    - ``closes``: the last quote of each instrument at each regular close
      (``CLOSES_SCHEMA``);
    - ``fx``: stablecoin rates per source (:data:`divergence.metrics.fx.FX_SCHEMA`);
    - ``calendar``: the market calendar's intervals (``CALENDAR_SCHEMA``);
    - ``announcements``: sessions venues announced, e.g. halts (``SESSIONS_SCHEMA``);
    - ``multipliers``, ``listings`` and ``splits``.
    """

    references: pl.LazyFrame
    reference_sessions: pl.LazyFrame
    closes: pl.LazyFrame
    fx: pl.LazyFrame
    calendar: pl.LazyFrame
    announcements: pl.LazyFrame
    multipliers: pl.LazyFrame
    listings: pl.LazyFrame
    splits: pl.LazyFrame


def conform(frame: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
    """``frame`` reduced to ``schema``'s columns, cast to its types (Int64 ns → Datetime)."""
    return frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items())


def compute_basis(
    token_quotes: pl.LazyFrame, context: BasisContext, params: BasisParams
) -> pl.LazyFrame:
    """One basis row (``BASIS_SCHEMA``) per token observation, ordered by ts_event.

    Token observations follow ``TOKEN_QUOTES_SCHEMA`` (book tops, and pool tops from
    :func:`divergence.metrics.pool.compute_pool_quotes`); extra columns are ignored.
    Observations of instruments that are not listings, or that precede their listing's
    first multiplier, produce no row.
    """
    calendar = conform(context.calendar, CALENDAR_SCHEMA)
    tokens = _with_listing(
        conform(token_quotes, TOKEN_QUOTES_SCHEMA),
        conform(context.listings, LISTINGS_SCHEMA),
        conform(context.multipliers, MULTIPLIERS_SCHEMA),
    )
    tokens = _with_fx(tokens, conform(context.fx, FX_SCHEMA), params)
    tokens = _with_session(
        tokens, calendar, conform(context.announcements, SESSIONS_SCHEMA), params
    )
    tokens = _with_reference(tokens, context, calendar, params)
    tokens = _with_split_factor(tokens, conform(context.splits, SPLITS_SCHEMA))
    return (
        _with_basis(_with_ref_state(tokens, params), params)
        .select(pl.col(name).cast(dtype) for name, dtype in BASIS_SCHEMA.items())
        .sort(["ts_event", "source_seq", "instrument_id"], maintain_order=True)
    )


def _asof(
    left: pl.LazyFrame,
    right: pl.LazyFrame,
    *,
    left_on: str = "ts_event",
    right_on: str,
    by: str | list[str] | None,
    tolerance_ms: int | None = None,
) -> pl.LazyFrame:
    """Backward as-of join of ``left`` on ``right`` within ``by`` (both sorted here)."""
    keys = [] if by is None else [by] if isinstance(by, str) else by
    return left.sort(left_on, maintain_order=True).join_asof(
        right.sort([*keys, right_on], maintain_order=True),
        left_on=left_on,
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
    """Underlying, quote currency, fee and k in force at each ts_event (tracking applied)."""
    listed = tokens.join(listings, on="instrument_id", how="inner").sort(
        ["ts_event", "source_seq", "instrument_id"], maintain_order=True
    )
    m = multipliers.rename({"effective_from": "_k_from", "multiplier": "_m"})
    joined = _asof(listed, m, right_on="_k_from", by="instrument_id")
    k = pl.when(pl.col("tracking") == "rebasing").then(pl.lit(1.0)).otherwise(pl.col("_m"))
    return (
        joined.filter(pl.col("_m").is_not_null())
        .with_columns(k.alias("multiplier"))
        .drop("_k_from", "_m")
    )


def _with_fx(tokens: pl.LazyFrame, fx: pl.LazyFrame, params: BasisParams) -> pl.LazyFrame:
    """fx_rate (median of fresh sources), fx_sources, fx_age_ms and fx_state.

    fx_state: ``usd``; ``live`` (at least ``fx_min_sources`` fresh); ``single`` (fewer, but
    one or more: a single venue's print, not protected against its misprint); ``stale``
    (rates exist within max age, none fresh); ``missing``.
    """
    indexed = tokens.with_row_index("_row")
    medians = fx_median_at(
        indexed.filter(pl.col("quote_currency") != "USD").select(
            "_row", "ts_event", pl.col("quote_currency").alias("currency")
        ),
        fx,
        max_staleness_ms=params.fx_max_staleness_ms,
        max_age_ms=params.max_ref_age_ms,
    )
    joined = indexed.join(medians, on="_row", how="left")
    usd = pl.col("quote_currency") == "USD"
    sources = pl.col("fx_sources").fill_null(0)
    return joined.with_columns(
        pl.when(usd)
        .then(pl.lit(1.0))
        .when(sources > 0)
        .then(pl.col("fx_median"))
        .otherwise(pl.col("fx_median_any"))
        .alias("fx_rate"),
        pl.when(usd).then(None).otherwise(sources).alias("fx_sources"),
        pl.when(usd)
        .then(None)
        .when(sources > 0)
        .then(_age_ns("fx_oldest_ts") / NS_PER_MS)
        .otherwise(_age_ns("fx_newest_ts") / NS_PER_MS)
        .alias("fx_age_ms"),
        pl.when(usd)
        .then(pl.lit("usd"))
        .when(sources >= params.fx_min_sources)
        .then(pl.lit("live"))
        .when(sources > 0)
        .then(pl.lit("single"))
        .when(pl.col("fx_newest_ts").is_not_null())
        .then(pl.lit("stale"))
        .otherwise(pl.lit("missing"))
        .alias("fx_state"),
    ).drop("_row", "fx_median", "fx_median_any", "fx_oldest_ts", "fx_newest_ts")


def _label_sessions(
    frame: pl.LazyFrame,
    calendar: pl.LazyFrame,
    announcements: pl.LazyFrame | None,
    params: BasisParams,
    *,
    on: str = "ts_event",
    out: str = "session",
) -> pl.LazyFrame:
    """The session at ``on``: the calendar's, unless an announcement (a halt) was made
    for the underlying within the current calendar interval. Adds ``_cal_start`` and
    ``_ann_ts`` (when an announcement applies)."""
    cal = calendar.select(
        pl.col("ts_start").alias("_cal_start"),
        pl.col("ts_end").alias("_cal_end"),
        pl.col("session").alias("_cal_session"),
    )
    labelled = _asof(frame, cal, left_on=on, right_on="_cal_start", by=None)
    inside = pl.col(on) < pl.col("_cal_end")
    labelled = labelled.with_columns(
        pl.when(inside).then(pl.col("_cal_session")).alias("_cal_session"),
        pl.when(inside).then(pl.col("_cal_start")).alias("_cal_start"),
    ).drop("_cal_end")
    if announcements is None:
        return labelled.with_columns(
            pl.col("_cal_session").fill_null(UNKNOWN_SESSION).alias(out),
            pl.lit(None, dtype=TS).alias("_ann_ts"),
        ).drop("_cal_session")
    ann = announcements.rename({"ts_event": "_ann_at", "session": "_ann_session"})
    joined = _asof(
        labelled,
        ann,
        left_on=on,
        right_on="_ann_at",
        by="underlying",
        tolerance_ms=params.max_ref_age_ms,
    )
    applies = pl.col("_ann_at").is_not_null() & (
        pl.col("_cal_start").is_null() | (pl.col("_ann_at") >= pl.col("_cal_start"))
    )
    return joined.with_columns(
        pl.when(applies)
        .then(pl.col("_ann_session"))
        .otherwise(pl.col("_cal_session").fill_null(UNKNOWN_SESSION))
        .alias(out),
        pl.when(applies).then(pl.col("_ann_at")).alias("_ann_ts"),
    ).drop("_cal_session", "_ann_session", "_ann_at")


def _with_session(
    tokens: pl.LazyFrame, calendar: pl.LazyFrame, announcements: pl.LazyFrame, params: BasisParams
) -> pl.LazyFrame:
    """``session`` at ts_event and ``_close_ts``, the last regular close at or before it."""
    labelled = _label_sessions(tokens, calendar, announcements, params)
    closes = calendar.filter(pl.col("session") == "regular").select(
        pl.col("ts_end").alias("_close_ts")
    )
    return _asof(labelled, closes, right_on="_close_ts", by=None).drop("_cal_start")


def _with_reference(
    tokens: pl.LazyFrame, context: BasisContext, calendar: pl.LazyFrame, params: BasisParams
) -> pl.LazyFrame:
    """The reference the session's policy picks, with its kind, confidence and session."""
    eligible = conform(context.reference_sessions, REFERENCE_SESSIONS_SCHEMA)
    refs = _label_sessions(
        conform(context.references, REFERENCES_SCHEMA), calendar, None, params, out="ref_session"
    ).join(
        eligible.drop("underlying"),
        on=["ref_instrument_id", "ref_session"],
        how="inner",
    )
    day = refs.filter(pl.col("ref_session").is_in(DAY_SESSIONS))
    night = refs.filter(pl.col("ref_session") == "overnight")
    # A halt, or a closure a venue announced off the calendar: freeze at the announcement.
    halted = pl.col("_ann_ts").is_not_null() & pl.col("session").is_in(["closed", "halted"])
    tokens = tokens.with_columns(
        pl.when(halted).then(pl.col("_ann_ts")).otherwise(pl.col("ts_event")).alias("_day_key")
    )
    tokens = _asof(
        tokens,
        _prefixed(day, "_d"),
        left_on="_day_key",
        right_on="_d_ts",
        by="underlying",
        tolerance_ms=params.max_ref_age_ms,
    )
    tokens = _asof(
        tokens,
        _prefixed(night, "_n"),
        right_on="_n_ts",
        by="underlying",
        tolerance_ms=params.max_ref_age_ms,
    )
    closes = (
        conform(context.closes, CLOSES_SCHEMA)
        .sort(["underlying", "close_ts", "ts_event", "ref_instrument_id"], maintain_order=True)
        .group_by(["underlying", "close_ts"], maintain_order=True)
        .last()
        .rename(
            {
                "close_ts": "_close_ts",
                "ts_event": "_c_ts",
                "ref_instrument_id": "_c_id",
                "bid": "_c_bid",
                "ask": "_c_ask",
            }
        )
        .with_columns(pl.lit("regular").alias("_c_session"))
    )
    tokens = tokens.join(closes, on=["underlying", "_close_ts"], how="left")
    has_night = eligible.filter(pl.col("ref_session") == "overnight").select(
        "underlying", pl.lit(True).alias("_has_night")
    )
    tokens = tokens.join(has_night.unique(), on="underlying", how="left")
    session = pl.col("session")
    kind = (
        pl.when(halted)
        .then(pl.lit("halt"))
        .when(session.is_in(DAY_SESSIONS))
        .then(session.replace_strict(_KIND, default=None, return_dtype=pl.String))
        .when((session == "overnight") & pl.col("_has_night").fill_null(False))
        .then(pl.lit("overnight"))
        .otherwise(pl.lit("last_close"))
    )
    tokens = tokens.with_columns(kind.alias("ref_kind"))
    source = {"nbbo": "_d", "extended": "_d", "halt": "_d", "overnight": "_n", "last_close": "_c"}

    def pick(field: str) -> pl.Expr:
        expr = pl.lit(None)
        for name, prefix in source.items():
            expr = (
                pl.when(pl.col("ref_kind") == name)
                .then(pl.col(f"{prefix}_{field}"))
                .otherwise(expr)
            )
        return expr

    return tokens.with_columns(
        pick("ts").alias("ref_ts"),
        pick("id").alias("ref_instrument_id"),
        pick("bid").alias("ref_bid"),
        pick("ask").alias("ref_ask"),
        pick("session").alias("ref_session"),
        pl.col("ref_kind")
        .replace_strict(_CONFIDENCE, default=None, return_dtype=pl.String)
        .alias("ref_confidence"),
    )


def _prefixed(refs: pl.LazyFrame, prefix: str) -> pl.LazyFrame:
    return refs.select(
        "underlying",
        pl.col("ts_event").alias(f"{prefix}_ts"),
        pl.col("ref_instrument_id").alias(f"{prefix}_id"),
        pl.col("bid").alias(f"{prefix}_bid"),
        pl.col("ask").alias(f"{prefix}_ask"),
        pl.col("ref_session").alias(f"{prefix}_session"),
    )


def _with_split_factor(tokens: pl.LazyFrame, splits: pl.LazyFrame) -> pl.LazyFrame:
    """split_factor: product of the ratios of splits effective in (ref_ts, ts_event]."""
    cumulative = (
        splits.sort(["underlying", "effective_from"], maintain_order=True)
        .with_columns(pl.col("ratio").cum_prod().over("underlying").alias("_cum"))
        .select("underlying", "effective_from", "_cum")
    )
    at_token = _asof(tokens, cumulative, right_on="effective_from", by="underlying").rename(
        {"_cum": "_cum_t"}
    )
    at_ref = _asof(
        at_token.drop("effective_from"),
        cumulative,
        left_on="ref_ts",
        right_on="effective_from",
        by="underlying",
    ).rename({"_cum": "_cum_r"})
    factor = pl.col("_cum_t").fill_null(1.0) / pl.col("_cum_r").fill_null(1.0)
    return at_ref.with_columns(
        pl.when(pl.col("ref_ts").is_not_null()).then(factor).alias("split_factor")
    ).with_columns(
        (pl.col("ref_bid") / pl.col("split_factor")).alias("ref_bid"),
        (pl.col("ref_ask") / pl.col("split_factor")).alias("ref_ask"),
    )


def _with_ref_state(tokens: pl.LazyFrame, params: BasisParams) -> pl.LazyFrame:
    """missing; closed (last_close, halt); else stale or live by the session's limit."""
    limits = {s: ms * NS_PER_MS for s, ms in params.max_staleness_ms.items()}
    limit = pl.col("session").replace_strict(limits, default=None, return_dtype=pl.Int64)
    too_old = (_age_ns("ref_ts") > limit).fill_null(True)
    return tokens.with_columns(
        ((pl.col("ref_bid") + pl.col("ref_ask")) / 2).alias("ref_mid"),
        (_age_ns("ref_ts") / NS_PER_MS).alias("ref_age_ms"),
        pl.when(pl.col("ref_ts").is_null())
        .then(pl.lit("missing"))
        .when(pl.col("ref_kind").is_in(["last_close", "halt"]))
        .then(pl.lit("closed"))
        .when(too_old)
        .then(pl.lit("stale"))
        .otherwise(pl.lit("live"))
        .alias("ref_state"),
    )


def _with_basis(tokens: pl.LazyFrame, params: BasisParams) -> pl.LazyFrame:
    """USD prices, mid basis, executable basis and the stablecoin split."""
    rate = pl.col("fx_rate")
    mid = (pl.col("bid_px") + pl.col("ask_px")) / 2
    priced = tokens.with_columns(
        (pl.col("bid_px") * rate).alias("bid_usd"),
        (pl.col("ask_px") * rate).alias("ask_usd"),
        (mid * rate).alias("mid_usd"),
    )
    k = pl.col("multiplier")
    fx_ok = pl.col("fx_state").is_in(["usd", "live", "single"])
    state = pl.col("ref_state")
    usable = state.is_in(["live", "closed"])
    fee = (
        pl.when(pl.col("source_kind") == "pool").then(0.0).otherwise(pl.col("taker_fee_bps") / 1e4)
    )
    prem = (pl.col("bid_usd") * (1 - fee) - k * pl.col("ref_ask")) / (k * pl.col("ref_ask"))
    disc = (pl.col("ask_usd") * (1 + fee) - k * pl.col("ref_bid")) / (k * pl.col("ref_bid"))
    executable = pl.when(prem > 0).then(prem * 1e4).when(disc < 0).then(disc * 1e4).otherwise(0.0)
    coin = pl.col("quote_currency") != "USD"
    out = priced.with_columns(
        pl.when(usable & fx_ok)
        .then((pl.col("mid_usd") / (k * pl.col("ref_mid")) - 1) * 1e4)
        .alias("basis_bps"),
        pl.when((state == "live") & fx_ok).then(executable).alias("exec_basis_bps"),
        pl.when(usable & coin)
        .then((mid / (k * pl.col("ref_mid")) - 1) * 1e4)
        .alias("basis_sc_bps"),
        pl.when(coin & rate.is_not_null())
        .then((rate - 1).abs() * 1e4 > params.depeg_bps)
        .alias("fx_depeg"),
    )
    return out.with_columns((pl.col("basis_sc_bps") - pl.col("basis_bps")).alias("sc_effect_bps"))
