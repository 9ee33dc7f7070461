"""Shadow LULD bands on token trades, at all hours (pure polars).

The price bands an equity venue *would* have imposed on the token (shared reference
metrics.md §5.1; docs/_draft_volatility.md has the worked examples). Prices are USD per
underlying share (:mod:`divergence.metrics.schemas`). In short::

    ref(u)   = mean of the day's trade prices in [u − 5 min, u)   (first: the first trade)
    ref      moves to ref(u) only when |ref(u) − ref| ≥ 1 % · ref
    w        = ref · pct(tier, prior close)  or  min($0.15, 0.75 · ref) below $0.75
    bands    = round_penny(ref ∓ 2w in the opening/closing windows, ref ∓ w otherwise)

The band day is the **ET calendar date**: at ET midnight the reference resets and the
bands are absent until the day's first trade. Sessions, opens and closes come from the
XNYS calendar (:mod:`divergence.metrics.calendar_frames`): the opening window is the
regular open + 15 min, the closing window the last 25 min before the regular close
(12:35-13:00 ET on early-close days). Every row carries the calendar session of its
instant. What trades and quotes do against these bands (breaches, limit states, pauses)
and the off-hours ±20% band are in :mod:`divergence.metrics.luld_events`.

This module also holds :class:`LuldParams`, which both use, and the live = backfill
windows of both modules: :data:`LULD_BANDS_LOOKBACK_NS` and
:data:`LULD_EVENTS_LOOKBACK_NS` reach back past the start of the ET day, which resets
all state; limit states look ahead :data:`LULD_EVENTS_LOOKAHEAD_NS` (the bound of
``LuldParams.limit_state_ns``); the off-hours band needs the last regular-session
reference within :data:`OFF_HOURS_BAND_LOOKBACK_NS`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import polars as pl

from divergence.clock import NS_PER_SECOND
from divergence.errors import ConfigError
from divergence.metrics.basis import conform
from divergence.metrics.calendar_frames import (
    DAY_NS,
    ET_DAY_MAX_NS,
    HOUR_NS,
    MINUTE_NS,
    asof,
    calendar_sessions,
    duration_ns,
    et_date,
    et_midnight,
    trading_sessions,
    with_session,
)
from divergence.metrics.schemas import (
    OFFICIAL_CLOSES_SCHEMA,
    TIERS_SCHEMA,
    TS,
    USD_TRADES_SCHEMA,
)
from divergence.sessions import MarketCalendar, default_calendar

log = logging.getLogger(__name__)

QUOTE_MAX_AGE_NS = HOUR_NS
"""A consolidated BBO row older than this counts as absent (no limit state on it)."""

LULD_BANDS_LOOKBACK_NS = ET_DAY_MAX_NS
"""Bands at ``t`` depend only on the trades of ``t``'s ET date (the day resets them)."""
LULD_EVENTS_LOOKBACK_NS = ET_DAY_MAX_NS + QUOTE_MAX_AGE_NS
"""Events at ``t``: the ET day's trades, bands and pauses, plus the quote in force at its start."""
LULD_EVENTS_LOOKAHEAD_NS = 15 * NS_PER_SECOND
"""A limit state is final (and its pause known) 15 s after it starts."""
OFF_HOURS_BAND_LOOKBACK_NS = 8 * DAY_NS
"""The last regular-session reference may be this old (2001-09-10 → 09-17 is 7 days)."""

TIER_PCT = {1: 0.05, 2: 0.10}
"""Percentage above $3.00 by LULD tier (§5.1); $0.75-$3.00 is 20 % for both."""
MID_PRICE_PCT = 0.20
LOW_PRICE_PCT = 0.75
LOW_PRICE_CAP_USD = 0.15
HIGH_PRICE_USD = 3.00
LOW_PRICE_USD = 0.75
_EPS = 1e-9
"""Relative slack on threshold comparisons, so float noise does not decide them."""

LULD_BANDS_SCHEMA = pl.Schema(
    {
        "ts_event": TS,
        "underlying": pl.String(),
        "et_date": pl.Date(),
        "session": pl.String(),
        "window": pl.String(),
        "tier": pl.Int32(),
        "prior_close": pl.Float64(),
        "ref_price": pl.Float64(),
        "doubled": pl.Boolean(),
        "lower_band": pl.Float64(),
        "upper_band": pl.Float64(),
    }
)
"""One row per change of the band state, in force from ``ts_event`` until the next row."""


@dataclass(frozen=True)
class LuldParams:
    """Shadow LULD parameters (metrics.md §5.1, §5.5 and §9); defaults are the Plan's.

    - ``reference_window_ns``: averaging window of the reference price (5 min);
    - ``update_threshold``: the reference moves when the mean differs by ≥ this (1 %);
    - ``opening_window_ns`` / ``closing_window_ns``: doubling after the open (15 min)
      and before the close (25 min);
    - ``tier2_closing_doubling``: double Tier 2 bands above $3.00 in the closing window
      too (True, as metrics.md states the Plan; later amendments dropped it (verify));
    - ``limit_state_ns``: a limit state this long becomes a pause (15 s);
    - ``pause_ns``: the pause length (5 min).
    """

    reference_window_ns: int = 5 * MINUTE_NS
    update_threshold: float = 0.01
    opening_window_ns: int = 15 * MINUTE_NS
    closing_window_ns: int = 25 * MINUTE_NS
    tier2_closing_doubling: bool = True
    limit_state_ns: int = 15 * NS_PER_SECOND
    pause_ns: int = 5 * MINUTE_NS

    def __post_init__(self) -> None:
        for key in ("reference_window_ns", "opening_window_ns", "closing_window_ns"):
            check_param(key, getattr(self, key), 0, HOUR_NS)
        check_param("limit_state_ns", self.limit_state_ns, 0, LULD_EVENTS_LOOKAHEAD_NS)
        check_param("pause_ns", self.pause_ns, 0, DAY_NS)
        check_param("update_threshold", self.update_threshold, 0, 1)


def check_param(key: str, value: float, low: float, high: float) -> None:
    """Raise :class:`ConfigError` naming ``key`` unless ``low < value <= high``."""
    if not low < value <= high:
        raise ConfigError(f"must be in ({low}, {high}] (found {value})", key=key, source="params")


def compute_luld_bands(
    trades: pl.LazyFrame,
    *,
    tiers: pl.LazyFrame,
    prior_closes: pl.LazyFrame,
    params: LuldParams = LuldParams(),
    calendar: MarketCalendar | None = None,
) -> pl.LazyFrame:
    """The shadow LULD band state (``LULD_BANDS_SCHEMA``) per underlying, at all hours (§5.1).

    ``trades``: the token's consolidated USD trades (``USD_TRADES_SCHEMA``), all venues
    of each underlying. ``tiers``: ``TIERS_SCHEMA``. ``prior_closes``:
    ``OFFICIAL_CLOSES_SCHEMA``; a date's percentage uses the latest close of a trading
    day before it. A row exists at each reference move (in force 1 ns after the trade
    that moved it, so a trade never sees its own price), at every calendar session
    change and doubling-window boundary of a day with trades, and at ET midnight (reset:
    bands null) of those days and the following ones. Without a tier or prior close the
    bands are null. Ordered by (underlying, ts_event).
    """
    cal = calendar or default_calendar()
    ticks = _ticks(conform(trades, USD_TRADES_SCHEMA))
    refs = _reference_changes(ticks, params)
    days = ticks.select("underlying", "et_date").unique()
    instants = (
        pl.concat([refs.select("underlying", "ts_event"), _boundaries(days, cal, params)])
        .unique()
        .with_columns(et_date("ts_event").alias("et_date"))
    )
    state = asof(instants, refs, on="ts_event", by=["underlying", "et_date"])
    state = with_session(state, cal, "ts_event")
    state = state.join(
        trading_sessions(cal).lazy(), left_on="et_date", right_on="trading_day", how="left"
    )
    closes = conform(prior_closes, OFFICIAL_CLOSES_SCHEMA).rename({"close": "prior_close"})
    state = asof(
        state.with_columns(pl.col("et_date").alias("trading_day")),
        closes,
        on="trading_day",
        by=["underlying"],
        exact=False,
    ).join(conform(tiers, TIERS_SCHEMA), on="underlying", how="left")
    return (
        _with_bands(state, params)
        .select(pl.col(name).cast(dtype) for name, dtype in LULD_BANDS_SCHEMA.items())
        .sort(["underlying", "ts_event"], maintain_order=True)
    )


def _ticks(trades: pl.LazyFrame) -> pl.LazyFrame:
    """Per (underlying, ET date, instant): trade count and price sum, and their day totals."""
    per_ts = (
        trades.with_columns(et_date("ts_event").alias("et_date"))
        .group_by("underlying", "et_date", "ts_event")
        .agg(pl.len().cast(pl.Int64).alias("n"), pl.col("price").sum().alias("total"))
        .sort(["underlying", "et_date", "ts_event"])
    )
    keys = ["underlying", "et_date"]
    return per_ts.with_columns(
        pl.col("n").cum_sum().over(keys).alias("cum_n"),
        pl.col("total").cum_sum().over(keys).alias("cum_total"),
    )


def _reference_changes(ticks: pl.LazyFrame, params: LuldParams) -> pl.LazyFrame:
    """(underlying, et_date, ts_event, ref_price) at each move of the band reference.

    The window mean changes 1 ns after a trade (arrival) and 1 ns after the trade is
    ``reference_window_ns`` old (departure); both are evaluated, within the ET day.
    """
    window = params.reference_window_ns
    day_end = et_midnight(pl.col("et_date").dt.offset_by("1d"))
    instants = (
        pl.concat(
            [
                ticks.select("underlying", "et_date", pl.col("ts_event") + duration_ns(1)),
                ticks.select("underlying", "et_date", pl.col("ts_event") + duration_ns(window + 1)),
            ]
        )
        .filter(pl.col("ts_event") < day_end)
        .unique()
        .with_columns((pl.col("ts_event") - duration_ns(window)).alias("_from"))
    )
    cum = ticks.select("underlying", "et_date", "ts_event", "cum_n", "cum_total")
    by = ["underlying", "et_date"]
    upto = asof(instants, cum, on="ts_event", by=by, exact=False)
    start = cum.rename({"ts_event": "_ts0", "cum_n": "_n0", "cum_total": "_t0"})
    before = asof(upto, start, on="_from", by=by, right_on="_ts0", exact=False)
    means = (
        before.with_columns(
            (pl.col("cum_n") - pl.col("_n0").fill_null(0)).alias("_n"),
            (pl.col("cum_total") - pl.col("_t0").fill_null(0.0)).alias("_sum"),
        )
        .filter(pl.col("_n") > 0)
        .select(*by, "ts_event", (pl.col("_sum") / pl.col("_n")).alias("ref_price"))
        .sort([*by, "ts_event"])
    )
    threshold = params.update_threshold
    return means.map_batches(
        lambda frame: _apply_update_rule(frame, threshold),
        schema=pl.Schema(
            {
                "underlying": pl.String(),
                "et_date": pl.Date(),
                "ts_event": TS,
                "ref_price": pl.Float64(),
            }
        ),
    )


def _apply_update_rule(frame: pl.DataFrame, threshold: float) -> pl.DataFrame:
    """Keep a day's first mean, then each mean ≥ ``threshold`` away from the last kept one."""
    keep: list[bool] = []
    key: tuple[object, object] | None = None
    ref = 0.0
    columns = (frame["underlying"].to_list(), frame["et_date"].to_list())
    for underlying, day, mean in zip(*columns, frame["ref_price"].to_list(), strict=True):
        if (underlying, day) != key or abs(mean - ref) >= threshold * ref * (1 - _EPS):
            key, ref = (underlying, day), mean
            keep.append(True)
        else:
            keep.append(False)
    return frame.filter(pl.Series(keep, dtype=pl.Boolean))


def _boundaries(days: pl.LazyFrame, cal: MarketCalendar, params: LuldParams) -> pl.LazyFrame:
    """(underlying, ts_event): ET midnights, session changes and doubling-window edges."""
    sessions = (
        calendar_sessions(cal)
        .lazy()
        .select(pl.col("ts_start").alias("ts_event"))
        .with_columns(et_date("ts_event").alias("et_date"))
    )
    opens = days.join(trading_sessions(cal).lazy(), left_on="et_date", right_on="trading_day")
    edges = [
        pl.col("open"),
        pl.col("open") + duration_ns(params.opening_window_ns),
        pl.col("close") - duration_ns(params.closing_window_ns),
        pl.col("close"),
    ]
    return pl.concat(
        [
            days.select("underlying", et_midnight(pl.col("et_date")).alias("ts_event")),
            days.select(
                "underlying", et_midnight(pl.col("et_date").dt.offset_by("1d")).alias("ts_event")
            ),
            days.join(sessions, on="et_date").select("underlying", "ts_event"),
            *(opens.select("underlying", edge.alias("ts_event")) for edge in edges),
        ]
    )


def _penny(price: pl.Expr) -> pl.Expr:
    """Round to the nearest cent, halves away from zero (a 1e-12 nudge absorbs float noise).

    The final ``round(2)`` returns the double nearest to ``cents / 100``: polars divides
    by a scalar through its reciprocal, which is one ulp off for e.g. 35 / 100.
    """
    cents = (price * 100 * (1 + 1e-12)).round(0, mode="half_away_from_zero")
    return (cents / 100).round(2)


def band_width(ref: pl.Expr, prior_close: pl.Expr, tier: pl.Expr) -> pl.Expr:
    """Half-width of the (undoubled) band in USD: §5.1's table by tier and prior close."""
    high = tier.replace_strict(TIER_PCT, default=None, return_dtype=pl.Float64)
    return (
        pl.when(prior_close.is_null() | high.is_null())
        .then(None)
        .when(prior_close > HIGH_PRICE_USD)
        .then(ref * high)
        .when(prior_close >= LOW_PRICE_USD)
        .then(ref * MID_PRICE_PCT)
        .otherwise(pl.min_horizontal(pl.lit(LOW_PRICE_CAP_USD), ref * LOW_PRICE_PCT))
    )


def _with_bands(state: pl.LazyFrame, params: LuldParams) -> pl.LazyFrame:
    """window, doubled, lower_band, upper_band from ref_price, tier and prior_close."""
    ts = pl.col("ts_event")
    opening = (ts >= pl.col("open")) & (ts < pl.col("open") + duration_ns(params.opening_window_ns))
    closing = (ts >= pl.col("close") - duration_ns(params.closing_window_ns)) & (
        ts < pl.col("close")
    )
    state = state.with_columns(
        pl.when(opening)
        .then(pl.lit("opening"))
        .when(closing)
        .then(pl.lit("closing"))
        .alias("window"),
        band_width(pl.col("ref_price"), pl.col("prior_close"), pl.col("tier")).alias("_width"),
    )
    tier2_high = (pl.col("tier") == 2) & (pl.col("prior_close") > HIGH_PRICE_USD)
    doubled = pl.col("window").eq_missing("opening") | (
        pl.col("window").eq_missing("closing")
        & (pl.lit(params.tier2_closing_doubling) | ~tier2_high)
    )
    known = pl.col("_width").is_not_null()
    width = pl.col("_width") * pl.when(doubled).then(2.0).otherwise(1.0)
    lower = _penny(pl.col("ref_price") - width)
    return state.with_columns(
        pl.when(known).then(doubled).alias("doubled"),
        pl.when(known & (lower < 0)).then(0.0).when(known).then(lower).alias("lower_band"),
        pl.when(known).then(_penny(pl.col("ref_price") + width)).alias("upper_band"),
    )
