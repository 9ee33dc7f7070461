"""Trade-level execution quality, Rule 605 style (pure polars; metrics.md §4.1, §1.2).

:func:`compute_execution_quality` gives one row per token trade (``USD_TRADES_SCHEMA``)
measured against the consolidated token BBO (``CONSOLIDATED_BBO_SCHEMA``) and, while the
stock trades in its regular session, against the underlying NBBO
(``REFERENCE_NBBO_SCHEMA``). Prices are USD per underlying share; sizes are shares::

    D        = +1 buy, -1 sell (side unknown: Lee-Ready quote rule vs M, null at M)
    BB, BA   = consolidated token BBO in force just before the trade (t-, strictly)
    M        = (BB + BA) / 2                      QS = BA - BB,  QS% = QS / M
    ES       = 2·D·(P - M)                        ES% = ES / M
    RS_h     = 2·D·(P - M(t + h))                 RS_h% = RS_h / M
    PI_h     = ES - RS_h                          (price impact, PI_h% = PI_h / M)
    improvement = D·(quote - P), quote = BA for buys, BB for sells:
                  > 0 improved, = 0 at the quote, < 0 outside by |improvement|
    XES      = 2·D·(P - M_ref) / M_ref × 1e4      (underlying regular session only)

``M(t + h)`` is the BBO mid in force at ``t + h`` (backward as-of, that instant included).
The trade's own instant is excluded for ``M``: the quote a trade meets is the one before
it, and an update stamped with the trade's time already shows the trade's effect.

**Windows.** A BBO (or reference) older than its limit counts as absent. A row depends
only on consolidated rows in ``[t - max_quote_age, t + max horizon]`` and reference rows
in ``[t - lookback, t)``: :data:`EXECUTION_LOOKBACK_NS` and :data:`EXECUTION_LOOKAHEAD_NS`
(for the default parameters; :attr:`ExecutionParams.lookback_ns` and ``lookahead_ns`` in
general). A horizon past the end of the data is null once the last mid is older than
``max_quote_age``: it is never extrapolated further.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

import polars as pl

from divergence.clock import NS_PER_MS, NS_PER_SECOND
from divergence.errors import ConfigError
from divergence.metrics.basis import conform
from divergence.metrics.schemas import (
    CONSOLIDATED_BBO_SCHEMA,
    REFERENCE_NBBO_SCHEMA,
    TS,
    USD_TRADES_SCHEMA,
)


class Horizon(NamedTuple):
    """A realized-spread horizon: the column label (``15s``) and its length in ns."""

    label: str
    ns: int


REALIZED_HORIZONS: tuple[Horizon, ...] = (
    Horizon("50ms", 50 * NS_PER_MS),
    Horizon("1s", NS_PER_SECOND),
    Horizon("15s", 15 * NS_PER_SECOND),
    Horizon("1m", 60 * NS_PER_SECOND),
    Horizon("5m", 300 * NS_PER_SECOND),
)
"""Rule 605 horizons (metrics.md §4.1, §9): 50 ms, 1 s, 15 s, 1 min, 5 min."""
NOTIONAL_BUCKETS: tuple[int, ...] = (0, 250, 1_000, 5_000, 10_000, 20_000, 50_000, 200_000)
"""Rule 605 notional bucket codes (§4.1): code c holds notionals in [c, next code)."""
ET_ZONE = "America/New_York"
DEFAULT_MAX_QUOTE_AGE_NS = 60 * NS_PER_SECOND
"""Default: a consolidated BBO older than 60 s is absent (project choice, the §1.3
overnight limit; a token BBO changes far more often in practice)."""
DEFAULT_MAX_REF_AGE_NS = 2 * NS_PER_SECOND
"""Default: the underlying NBBO is live up to 2 s old (§1.3, ``REGULAR``)."""

EXECUTION_LOOKBACK_NS = max(DEFAULT_MAX_QUOTE_AGE_NS, DEFAULT_MAX_REF_AGE_NS)
"""Input history a trade's row needs, default parameters: 60 s."""
EXECUTION_LOOKAHEAD_NS = max(h.ns for h in REALIZED_HORIZONS)
"""Input future a trade's row needs, default parameters: 5 min (the longest horizon)."""


def _bad(key: str, message: str) -> ConfigError:
    return ConfigError(message, key=f"execution.{key}", source="params")


@dataclass(frozen=True, kw_only=True)
class ExecutionParams:
    """Parameters of :func:`compute_execution_quality` (defaults: metrics.md §9, §1.3).

    - ``horizons``: realized-spread horizons, labels become column names;
    - ``max_quote_age_ns``: a consolidated BBO older than this is absent (at ``t-`` and
      at ``t + h``), default 60 s;
    - ``max_ref_age_ns``: an underlying NBBO older than this is ``stale``, default 2 s.
    """

    horizons: tuple[Horizon, ...] = REALIZED_HORIZONS
    max_quote_age_ns: int = DEFAULT_MAX_QUOTE_AGE_NS
    max_ref_age_ns: int = DEFAULT_MAX_REF_AGE_NS

    def __post_init__(self) -> None:
        labels = [h.label for h in self.horizons]
        if not labels or len(set(labels)) != len(labels):
            raise _bad("horizons", f"need distinct labels, found {labels}")
        for h in self.horizons:
            if h.ns <= 0 or not re.fullmatch(r"[a-z0-9]+", h.label):
                raise _bad(
                    "horizons",
                    f"need a positive length and a lowercase alphanumeric label, found {h}",
                )
        for key in ("max_quote_age_ns", "max_ref_age_ns"):
            if getattr(self, key) <= 0:
                raise _bad(key, f"must be positive, found {getattr(self, key)}")

    @property
    def lookback_ns(self) -> int:
        """How far before a trade its row reads inputs."""
        return max(self.max_quote_age_ns, self.max_ref_age_ns)

    @property
    def lookahead_ns(self) -> int:
        """How far after a trade its row reads inputs (the longest horizon)."""
        return max(h.ns for h in self.horizons)


DEFAULT_EXECUTION_PARAMS = ExecutionParams()


def execution_schema(horizons: tuple[Horizon, ...] = REALIZED_HORIZONS) -> pl.Schema:
    """The output columns of :func:`compute_execution_quality` for ``horizons``."""
    f64 = pl.Float64()
    per_horizon: dict[str, pl.DataType] = {}
    for h in horizons:
        per_horizon[f"mid_{h.label}_usd"] = f64
        for stem in ("realized_spread", "price_impact"):
            per_horizon[f"{stem}_{h.label}_usd"] = f64
            per_horizon[f"{stem}_{h.label}_bps"] = f64
    head: dict[str, pl.DataType] = {
        "ts_event": TS, "underlying": pl.String(), "venue": pl.String(),
        "instrument_id": pl.String(), "trade_id": pl.String(), "source_seq": pl.Int64(),
        "price": f64, "size": f64, "notional_usd": f64, "notional_bucket": pl.Int32(),
        "side": pl.String(), "direction": pl.Int8(), "side_inferred": pl.Boolean(),
        "bbo_ts": TS, "bbo_age_ms": f64, "best_bid": f64, "best_ask": f64, "mid_usd": f64,
        "quoted_spread_usd": f64, "quoted_spread_bps": f64,
        "effective_spread_usd": f64, "effective_spread_bps": f64,
    }  # fmt: skip
    tail: dict[str, pl.DataType] = {
        "price_improvement_usd": f64, "price_improvement_bps": f64,
        "execution_class": pl.String(),
        "ref_ts": TS, "ref_age_ms": f64, "ref_session": pl.String(), "ref_state": pl.String(),
        "ref_nbb": f64, "ref_nbo": f64, "ref_mid": f64,
        "ref_price_improvement_usd": f64, "ref_price_improvement_bps": f64,
        "ref_execution_class": pl.String(), "xes_bps": f64,
    }  # fmt: skip
    return pl.Schema({**head, **per_horizon, **tail})


EXECUTION_SCHEMA = execution_schema()
"""Output of :func:`compute_execution_quality` with the default horizons."""
EXECUTION_ORDER = ["ts_event", "underlying", "venue", "instrument_id", "source_seq", "trade_id"]


def notional_bucket(notional: pl.Expr) -> pl.Expr:
    """The Rule 605 bucket code of a USD notional (null stays null), as Int32."""
    index = pl.sum_horizontal([(notional >= b).cast(pl.Int32) for b in NOTIONAL_BUCKETS[1:]])
    code = index.replace_strict(dict(enumerate(NOTIONAL_BUCKETS)), return_dtype=pl.Int32)
    return pl.when(notional.is_not_null()).then(code)


def trading_day_et(ts: pl.Expr) -> pl.Expr:
    """The US Eastern calendar date of a naive-UTC timestamp."""
    return ts.dt.replace_time_zone("UTC").dt.convert_time_zone(ET_ZONE).dt.date()


def side_direction(side: pl.Expr) -> pl.Expr:
    """D from an aggressor side: +1 ``buy``, -1 ``sell``, null otherwise (Int8)."""
    return pl.when(side == "buy").then(1).when(side == "sell").then(-1).cast(pl.Int8)


def execution_class(improvement: pl.Expr) -> pl.Expr:
    """``improved`` (> 0), ``at_quote`` (= 0) or ``outside`` (< 0); null stays null."""
    return (
        pl.when(improvement > 0)
        .then(pl.lit("improved"))
        .when(improvement == 0)
        .then(pl.lit("at_quote"))
        .when(improvement < 0)
        .then(pl.lit("outside"))
    )


def compute_execution_quality(
    trades: pl.LazyFrame,
    consolidated: pl.LazyFrame,
    reference: pl.LazyFrame,
    *,
    params: ExecutionParams = DEFAULT_EXECUTION_PARAMS,
) -> pl.LazyFrame:
    """One row per trade (:func:`execution_schema`), ordered by ``EXECUTION_ORDER``.

    Inputs follow ``USD_TRADES_SCHEMA``, ``CONSOLIDATED_BBO_SCHEMA`` and
    ``REFERENCE_NBBO_SCHEMA`` (extra columns ignored). Formulas: metrics.md §4.1 and
    §1.2 and this module's docstring. Within a key, among rows with the same timestamp
    the later one in input order wins.
    """
    bbo = conform(consolidated, CONSOLIDATED_BBO_SCHEMA).select(
        "underlying", pl.col("ts_event").alias("_q_ts"), "best_bid", "best_ask"
    )
    frame = conform(trades, USD_TRADES_SCHEMA).sort("ts_event", maintain_order=True)
    frame = _asof(frame, bbo, on="ts_event", within_ns=params.max_quote_age_ns, strict=True)
    frame = _with_token_costs(frame.rename({"_q_ts": "bbo_ts"}))
    mids = bbo.select(
        "underlying", "_q_ts", ((pl.col("best_bid") + pl.col("best_ask")) / 2).alias("_mid")
    )
    for horizon in params.horizons:
        frame = _with_horizon(frame, mids, horizon, params)
    frame = _with_reference(frame, conform(reference, REFERENCE_NBBO_SCHEMA), params)
    schema = execution_schema(params.horizons)
    return frame.select(pl.col(n).cast(t) for n, t in schema.items()).sort(
        EXECUTION_ORDER, maintain_order=True
    )


def _asof(
    left: pl.LazyFrame, right: pl.LazyFrame, *, on: str, within_ns: int, strict: bool
) -> pl.LazyFrame:
    """Backward as-of join of ``left[on]`` on ``right._q_ts`` per underlying, at most
    ``within_ns`` old; ``strict`` excludes ``right`` rows at exactly ``left[on]``."""
    return left.join_asof(
        right.sort("_q_ts", maintain_order=True),
        left_on=on,
        right_on="_q_ts",
        by="underlying",
        strategy="backward",
        tolerance=f"{within_ns}ns",
        allow_exact_matches=not strict,
        coalesce=False,
        check_sortedness=False,
    )


def _age_ms(since: str) -> pl.Expr:
    return (pl.col("ts_event") - pl.col(since)).dt.total_nanoseconds() / NS_PER_MS


def _with_token_costs(frame: pl.LazyFrame) -> pl.LazyFrame:
    """D (with the quote rule), M, QS, ES and price improvement vs the token BBO."""
    price, mid = pl.col("price"), pl.col("mid_usd")
    quote_rule = pl.when(price > mid).then(1).when(price < mid).then(-1).cast(pl.Int8)
    known = pl.col("side").is_in(["buy", "sell"]).fill_null(False)
    frame = frame.with_columns(
        ((pl.col("best_bid") + pl.col("best_ask")) / 2).alias("mid_usd"),
        (pl.col("best_ask") - pl.col("best_bid")).alias("quoted_spread_usd"),
        _age_ms("bbo_ts").alias("bbo_age_ms"),
        notional_bucket(pl.col("notional_usd")).alias("notional_bucket"),
        (~known).alias("side_inferred"),
    ).with_columns(
        pl.when(known).then(side_direction(pl.col("side"))).otherwise(quote_rule).alias("direction")
    )
    d = pl.col("direction")
    quote = pl.when(d == 1).then(pl.col("best_ask")).when(d == -1).then(pl.col("best_bid"))
    frame = frame.with_columns(
        (pl.col("quoted_spread_usd") / mid * 1e4).alias("quoted_spread_bps"),
        (2 * d * (price - mid)).alias("effective_spread_usd"),
        (d * (quote - price)).alias("price_improvement_usd"),
    )
    return frame.with_columns(
        (pl.col("effective_spread_usd") / mid * 1e4).alias("effective_spread_bps"),
        (pl.col("price_improvement_usd") / mid * 1e4).alias("price_improvement_bps"),
        execution_class(pl.col("price_improvement_usd")).alias("execution_class"),
    )


def _with_horizon(
    frame: pl.LazyFrame, mids: pl.LazyFrame, horizon: Horizon, params: ExecutionParams
) -> pl.LazyFrame:
    """M(t + h) (as-of ``t + h``, inclusive), RS_h and PI_h in USD and bps of M."""
    h = horizon.label
    at = frame.with_columns((pl.col("ts_event") + pl.duration(nanoseconds=horizon.ns)).alias("_at"))
    joined = _asof(
        at,
        mids.rename({"_mid": f"mid_{h}_usd"}),
        on="_at",
        within_ns=params.max_quote_age_ns,
        strict=False,
    ).drop("_at", "_q_ts")
    d, mid = pl.col("direction"), pl.col("mid_usd")
    realized = 2 * d * (pl.col("price") - pl.col(f"mid_{h}_usd"))
    impact = pl.col("effective_spread_usd") - realized
    return joined.with_columns(
        realized.alias(f"realized_spread_{h}_usd"),
        (realized / mid * 1e4).alias(f"realized_spread_{h}_bps"),
        impact.alias(f"price_impact_{h}_usd"),
        (impact / mid * 1e4).alias(f"price_impact_{h}_bps"),
    )


def _with_reference(
    frame: pl.LazyFrame, reference: pl.LazyFrame, params: ExecutionParams
) -> pl.LazyFrame:
    """Underlying NBBO at t- (within the lookback), its state and the costs against it.

    ``ref_state``: ``missing`` (none within the lookback), ``not_regular`` (its session
    is not ``regular``), ``stale`` (older than ``max_ref_age_ns``), else ``live``. Only
    ``live`` rows get improvement and XES; the NBBO itself is kept for diagnosis.
    """
    right = reference.select(
        "underlying",
        pl.col("ts_event").alias("_q_ts"),
        pl.col("nbb").alias("ref_nbb"),
        pl.col("nbo").alias("ref_nbo"),
        pl.col("session").alias("ref_session"),
    )
    frame = _asof(frame, right, on="ts_event", within_ns=params.lookback_ns, strict=True)
    frame = frame.with_columns(
        _ref_state(params.max_ref_age_ns).alias("ref_state"),
        _age_ms("_q_ts").alias("ref_age_ms"),
        ((pl.col("ref_nbb") + pl.col("ref_nbo")) / 2).alias("ref_mid"),
    ).rename({"_q_ts": "ref_ts"})
    d, price, ref_mid = pl.col("direction"), pl.col("price"), pl.col("ref_mid")
    live = pl.col("ref_state") == "live"
    quote = pl.when(d == 1).then(pl.col("ref_nbo")).when(d == -1).then(pl.col("ref_nbb"))
    improvement = pl.when(live).then(d * (quote - price))
    return frame.with_columns(
        improvement.alias("ref_price_improvement_usd"),
        (improvement / ref_mid * 1e4).alias("ref_price_improvement_bps"),
        execution_class(improvement).alias("ref_execution_class"),
        pl.when(live).then(2 * d * (price - ref_mid) / ref_mid * 1e4).alias("xes_bps"),
    )


def _ref_state(max_age_ns: int) -> pl.Expr:
    """missing, not_regular, stale or live (in this order) for the joined ``_q_ts``."""
    age = (pl.col("ts_event") - pl.col("_q_ts")).dt.total_nanoseconds()
    return (
        pl.when(pl.col("_q_ts").is_null())
        .then(pl.lit("missing"))
        .when((pl.col("ref_session") != "regular").fill_null(True))
        .then(pl.lit("not_regular"))
        .when(age > max_age_ns)
        .then(pl.lit("stale"))
        .otherwise(pl.lit("live"))
    )
