"""Token trade-throughs, Rule 611 style, and their daily summary (pure polars; §4.3).

:func:`compute_trade_throughs` checks every token trade (``USD_TRADES_SCHEMA``) against
the quotes of the *other* venues of its underlying (``USD_QUOTES_SCHEMA``; USD per share,
``fee_bps`` the taker fee). A trade at ``t`` on venue ``v`` with ``D = +1`` (buy)::

    W_j      = the highest ask venue j showed at any instant of [t - 1 s, t): the price at
               which j was continuously present, "at that price or better", for 1 s
    limit_j  = W_j · (1 + (fee_bps_j + buffer_bps) / 1e4)     (fee_bps_j of j's quote at t-)
    protected = the venue j != v with the lowest limit_j (ties: venue, instrument)
    traded_through    = P > limit_protected
    trade_through_bps = (P - W_protected) / W_protected × 1e4     (when traded through)

Sells mirror it (lowest bid over the second, ``limit = W · (1 - ...)``, ``P < limit``).
A quote better than ``P`` that was not present for the whole second is the flickering
quote of Rule 611(b)(8): no trade-through, but ``flicker_exempt`` is set. Venue j is
*present* when it has a quote in force at ``t - 1 s`` (its latest update at or before
then, at most ``max_quote_age`` old) and its latest update before ``t`` is at most
``max_quote_age`` old at ``t``; a quote with no ask (bid) offers nothing on that side.
A trade whose side is not ``buy``/``sell`` is not evaluated (``traded_through`` null).

**Windows.** A row depends on quotes in ``[t - 1 s - max_quote_age, t)``:
:data:`TRADE_THROUGH_LOOKBACK_NS` (61 s for the defaults). :func:`compute_trade_through_summary`
aggregates per (ET day, underlying, venue); a day's row depends only on that day's
trade rows (:data:`TRADE_THROUGH_SUMMARY_LOOKBACK_NS` = 0 on its input).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from divergence.clock import NS_PER_SECOND
from divergence.errors import ConfigError
from divergence.metrics.basis import conform
from divergence.metrics.execution import side_direction, trading_day_et
from divergence.metrics.schemas import TS, USD_QUOTES_SCHEMA, USD_TRADES_SCHEMA

DEFAULT_MIN_QUOTE_AGE_NS = NS_PER_SECOND
"""§9: better quotes present for less than 1 s are ignored (Rule 611(b)(8) analogue)."""
DEFAULT_MAX_QUOTE_AGE_NS = 60 * NS_PER_SECOND
"""Default (project choice): a venue quote older than 60 s is not a protected quote."""
TRADE_THROUGH_LOOKBACK_NS = DEFAULT_MIN_QUOTE_AGE_NS + DEFAULT_MAX_QUOTE_AGE_NS
"""Quote history a trade's row needs, default parameters: 61 s."""
TRADE_THROUGH_SUMMARY_LOOKBACK_NS = 0
"""A day's summary row needs only that ET day's trade-through rows."""

TRADE_THROUGH_SCHEMA = pl.Schema(
    {
        "ts_event": TS,
        "underlying": pl.String(),
        "venue": pl.String(),
        "instrument_id": pl.String(),
        "trade_id": pl.String(),
        "source_seq": pl.Int64(),
        "price": pl.Float64(),
        "size": pl.Float64(),
        "notional_usd": pl.Float64(),
        "direction": pl.Int8(),
        "protected_price_usd": pl.Float64(),
        "protected_limit_usd": pl.Float64(),
        "protected_venue": pl.String(),
        "protected_instrument_id": pl.String(),
        "traded_through": pl.Boolean(),
        "trade_through_bps": pl.Float64(),
        "flicker_exempt": pl.Boolean(),
    }
)
"""One row per trade; ``protected_*`` describe the best protected other-venue quote."""
TRADE_THROUGH_SUMMARY_SCHEMA = pl.Schema(
    {
        "day": pl.Date(),
        "underlying": pl.String(),
        "venue": pl.String(),
        "trades": pl.Int64(),
        "trades_evaluated": pl.Int64(),
        "trades_through": pl.Int64(),
        "notional_usd": pl.Float64(),
        "notional_through_usd": pl.Float64(),
        "rate_trades_pct": pl.Float64(),
        "rate_notional_pct": pl.Float64(),
        "mean_trade_through_bps": pl.Float64(),
    }
)
"""Per (ET day, underlying, venue); rates over the evaluated trades (side known)."""
SUMMARY_INPUT_COLUMNS = (
    "ts_event",
    "underlying",
    "venue",
    "notional_usd",
    "traded_through",
    "trade_through_bps",
)
"""The columns of the trade-through rows the summary and the scorecard read."""
ORDER = ["ts_event", "underlying", "venue", "instrument_id", "source_seq", "trade_id"]
_KEYS = ["underlying", "_j_venue", "_j_instrument"]


@dataclass(frozen=True, kw_only=True)
class TradeThroughParams:
    """Parameters of :func:`compute_trade_throughs` (defaults: metrics.md §9, §4.3).

    - ``min_quote_age_ns``: how long a better quote must have been continuously present
      to be protected, default 1 s;
    - ``max_quote_age_ns``: a quote older than this is not in force, default 60 s;
    - ``buffer_bps``: tolerance added to the other venue's taker fee, default 0.
    """

    min_quote_age_ns: int = DEFAULT_MIN_QUOTE_AGE_NS
    max_quote_age_ns: int = DEFAULT_MAX_QUOTE_AGE_NS
    buffer_bps: float = 0.0

    def __post_init__(self) -> None:
        for key in ("min_quote_age_ns", "max_quote_age_ns"):
            if getattr(self, key) <= 0:
                raise ConfigError(
                    f"must be positive, found {getattr(self, key)}",
                    key=f"trade_through.{key}",
                    source="params",
                )
        if not self.buffer_bps >= 0:
            raise ConfigError(
                f"must be >= 0, found {self.buffer_bps}",
                key="trade_through.buffer_bps",
                source="params",
            )

    @property
    def lookback_ns(self) -> int:
        """How far before a trade its row reads quotes."""
        return self.min_quote_age_ns + self.max_quote_age_ns


DEFAULT_TRADE_THROUGH_PARAMS = TradeThroughParams()


def compute_trade_throughs(
    trades: pl.LazyFrame,
    quotes: pl.LazyFrame,
    *,
    params: TradeThroughParams = DEFAULT_TRADE_THROUGH_PARAMS,
) -> pl.LazyFrame:
    """One row per trade (``TRADE_THROUGH_SCHEMA``), ordered by ``ORDER`` (§4.3)."""
    rows = (
        conform(trades, USD_TRADES_SCHEMA)
        .with_columns(side_direction(pl.col("side")).alias("direction"))
        .with_row_index("_row")
        .with_columns(pl.col("_row").cast(pl.Int64))
    )
    streams = _streams(conform(quotes, USD_QUOTES_SCHEMA))
    pairs = rows.select("_row", "ts_event", "underlying", "venue", "direction").join(
        streams.select(_KEYS).unique(), on="underlying", how="inner"
    )
    pairs = pairs.filter(pl.col("_j_venue") != pl.col("venue")).sort("ts_event")
    pairs = _with_current(pairs, streams, params)
    pairs = _with_window(_with_start(pairs, streams, params), streams, params)
    best = _best_per_trade(_with_limits(pairs, params))
    flagged = _flag(rows.join(best, on="_row", how="left"))
    return flagged.select(pl.col(n).cast(t) for n, t in TRADE_THROUGH_SCHEMA.items()).sort(
        ORDER, maintain_order=True
    )


def _streams(quotes: pl.LazyFrame) -> pl.LazyFrame:
    """Quote updates per (underlying, venue, instrument); a missing side is +-inf."""
    return quotes.select(
        "underlying",
        pl.col("venue").alias("_j_venue"),
        pl.col("instrument_id").alias("_j_instrument"),
        pl.col("ts_event").alias("_q_ts"),
        pl.col("ask").fill_null(float("inf")).alias("_ask"),
        pl.col("bid").fill_null(float("-inf")).alias("_bid"),
        pl.col("fee_bps").fill_null(0.0).alias("_fee"),
    ).sort("_q_ts", maintain_order=True)


def _asof(
    pairs: pl.LazyFrame, streams: pl.LazyFrame, *, on: str, within_ns: int, strict: bool
) -> pl.LazyFrame:
    return pairs.join_asof(
        streams,
        left_on=on,
        right_on="_q_ts",
        by=_KEYS,
        strategy="backward",
        tolerance=f"{within_ns}ns",
        allow_exact_matches=not strict,
        coalesce=False,
        check_sortedness=False,
    )


def _with_current(
    pairs: pl.LazyFrame, streams: pl.LazyFrame, params: TradeThroughParams
) -> pl.LazyFrame:
    """Venue j's quote in force just before t (strictly), if at most max age old."""
    joined = _asof(pairs, streams, on="ts_event", within_ns=params.max_quote_age_ns, strict=True)
    return joined.rename({"_ask": "_cur_ask", "_bid": "_cur_bid", "_fee": "_cur_fee"}).drop("_q_ts")


def _with_start(
    pairs: pl.LazyFrame, streams: pl.LazyFrame, params: TradeThroughParams
) -> pl.LazyFrame:
    """Venue j's quote in force at t - min_quote_age (that instant included)."""
    start = (pl.col("ts_event") - pl.duration(nanoseconds=params.min_quote_age_ns)).alias("_at")
    joined = _asof(
        pairs.with_columns(start),
        streams.select(*_KEYS, "_q_ts", "_ask", "_bid"),
        on="_at",
        within_ns=params.max_quote_age_ns,
        strict=False,
    )
    return joined.rename({"_ask": "_start_ask", "_bid": "_start_bid"}).drop("_q_ts", "_at")


def _with_window(
    pairs: pl.LazyFrame, streams: pl.LazyFrame, params: TradeThroughParams
) -> pl.LazyFrame:
    """Worst ask / bid of venue j's updates strictly inside (t - min_quote_age, t).

    Each (trade, venue) pair becomes a probe row, with null prices, in j's update
    stream; a rolling window open at both ends, ending at the probe, sees exactly the
    updates inside the second (the probe's own instant excluded).
    """
    columns = [*_KEYS, "_q_ts", "_row", "_ask", "_bid"]
    updates = streams.with_columns(pl.lit(None, dtype=pl.Int64).alias("_row")).select(columns)
    probes = pairs.select(
        *_KEYS,
        pl.col("ts_event").alias("_q_ts"),
        "_row",
        pl.lit(None, dtype=pl.Float64).alias("_ask"),
        pl.lit(None, dtype=pl.Float64).alias("_bid"),
    )
    size = f"{params.min_quote_age_ns}ns"
    rolled = (
        pl.concat([updates, probes], how="vertical")
        .sort([*_KEYS, "_q_ts"], maintain_order=True)
        .with_columns(
            pl.col("_ask")
            .rolling_max_by("_q_ts", window_size=size, closed="none")
            .over(_KEYS)
            .alias("_win_ask"),
            pl.col("_bid")
            .rolling_min_by("_q_ts", window_size=size, closed="none")
            .over(_KEYS)
            .alias("_win_bid"),
        )
        .filter(pl.col("_row").is_not_null())
        .select("_row", *_KEYS, "_win_ask", "_win_bid")
    )
    return pairs.join(rolled, on=["_row", *_KEYS], how="left")


def _with_limits(pairs: pl.LazyFrame, params: TradeThroughParams) -> pl.LazyFrame:
    """Per pair: the worst price over the second, its fee-adjusted limit, and the score
    ``D · limit`` (lower is better for the trader) of the protected and current quotes."""
    present = pl.col("_cur_ask").is_not_null() & pl.col("_start_ask").is_not_null()
    worst_ask = pl.when(present).then(pl.max_horizontal("_start_ask", "_win_ask"))
    worst_bid = pl.when(present).then(pl.min_horizontal("_start_bid", "_win_bid"))
    fee = (pl.col("_cur_fee") + params.buffer_bps) / 1e4
    d = pl.col("direction")
    worst = pl.when(d == 1).then(worst_ask).when(d == -1).then(worst_bid)
    current = pl.when(d == 1).then(pl.col("_cur_ask")).when(d == -1).then(pl.col("_cur_bid"))
    allin = 1 + d * fee
    return pairs.with_columns(
        pl.when(worst.is_finite()).then(worst).alias("_price"),
        pl.when(worst.is_finite()).then(worst * allin).alias("_limit"),
        pl.when(current.is_finite()).then(d * current * allin).alias("_cur_score"),
    ).with_columns((d * pl.col("_limit")).alias("_score"))


def _best_per_trade(pairs: pl.LazyFrame) -> pl.LazyFrame:
    """Per trade: the protected quote with the best score (ties: venue, instrument), and
    the best current score."""
    rank = ["_score", "_j_venue", "_j_instrument"]

    def best(column: str, name: str) -> pl.Expr:
        return pl.col(column).sort_by(rank).first().alias(name)

    protected = (
        pairs.filter(pl.col("_score").is_not_null())
        .group_by("_row")
        .agg(
            best("_price", "protected_price_usd"),
            best("_limit", "protected_limit_usd"),
            best("_j_venue", "protected_venue"),
            best("_j_instrument", "protected_instrument_id"),
            pl.col("_score").min().alias("_best_score"),
        )
    )
    current = pairs.group_by("_row").agg(pl.col("_cur_score").min().alias("_best_cur"))
    return current.join(protected, on="_row", how="left")


def _flag(rows: pl.LazyFrame) -> pl.LazyFrame:
    d, price, protected = pl.col("direction"), pl.col("price"), pl.col("protected_price_usd")
    beyond = (d * price > pl.col("_best_score")).fill_null(False)
    flicker = (d * price > pl.col("_best_cur")).fill_null(False) & ~beyond
    return rows.with_columns(
        pl.when(d.is_not_null()).then(beyond).alias("traded_through"),
        pl.when(d.is_not_null() & beyond)
        .then(d * (price - protected) / protected * 1e4)
        .alias("trade_through_bps"),
        pl.when(d.is_not_null()).then(flicker).alias("flicker_exempt"),
    )


def compute_trade_through_summary(trade_throughs: pl.LazyFrame) -> pl.LazyFrame:
    """Per (ET day, underlying, venue): trade-through rate as % of the evaluated trades
    and of their notional, and the mean amount in bps (``TRADE_THROUGH_SUMMARY_SCHEMA``).

    Input: rows of :func:`compute_trade_throughs`. Rates are null when no trade of the
    group could be evaluated; the mean is over the traded-through trades.
    """
    rows = trade_throughs.select(
        pl.col(n).cast(TRADE_THROUGH_SCHEMA[n]) for n in SUMMARY_INPUT_COLUMNS
    ).with_columns(trading_day_et(pl.col("ts_event")).alias("day"))
    evaluated, through = pl.col("traded_through").is_not_null(), pl.col("traded_through")
    notional = pl.col("notional_usd")
    grouped = rows.group_by(["day", "underlying", "venue"]).agg(
        pl.len().alias("trades"),
        evaluated.sum().alias("trades_evaluated"),
        through.fill_null(False).sum().alias("trades_through"),
        notional.filter(evaluated).sum().alias("notional_usd"),
        notional.filter(through.fill_null(False)).sum().alias("notional_through_usd"),
        pl.col("trade_through_bps").filter(through.fill_null(False)).mean().alias("_mean"),
    )
    has = pl.col("trades_evaluated") > 0
    return (
        grouped.with_columns(
            pl.when(has)
            .then(pl.col("trades_through") / pl.col("trades_evaluated") * 100)
            .alias("rate_trades_pct"),
            pl.when(has & (pl.col("notional_usd") > 0))
            .then(pl.col("notional_through_usd") / pl.col("notional_usd") * 100)
            .alias("rate_notional_pct"),
            pl.col("_mean").alias("mean_trade_through_bps"),
        )
        .select(pl.col(n).cast(t) for n, t in TRADE_THROUGH_SUMMARY_SCHEMA.items())
        .sort(["day", "underlying", "venue"])
    )
