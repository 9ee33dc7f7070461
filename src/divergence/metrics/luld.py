"""Shadow LULD on token trades, at all hours, and the off-hours ±20% band (pure polars).

What an equity venue *would* have imposed on the token (shared reference metrics.md §5.1,
§5.4, §5.5; docs/_draft_volatility.md has the worked examples). Prices are USD per
underlying share (:mod:`divergence.metrics.schemas`). In short::

    ref(u)   = mean of the day's trade prices in [u − 5 min, u)   (first: the first trade)
    ref      moves to ref(u) only when |ref(u) − ref| ≥ 1 % · ref
    w        = ref · pct(tier, prior close)  or  min($0.15, 0.75 · ref) below $0.75
    bands    = round_penny(ref ∓ 2w in the opening/closing windows, ref ∓ w otherwise)

The band day is the **ET calendar date**: at ET midnight the reference resets and the
bands are absent until the day's first trade. Sessions, opens and closes come from the
XNYS calendar (:mod:`divergence.sessions`): the opening window is the regular open + 15
min, the closing window the last 25 min before the regular close (12:35-13:00 ET on
early-close days). Every row carries the calendar session of its instant.

Live = backfill: :data:`LULD_BANDS_LOOKBACK_NS` and :data:`LULD_EVENTS_LOOKBACK_NS` reach
back past the start of the ET day, which resets all state; limit states look ahead
:data:`LULD_EVENTS_LOOKAHEAD_NS`; the off-hours band needs the last regular-session
reference within :data:`OFF_HOURS_BAND_LOOKBACK_NS`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import polars as pl

from divergence.clock import NS_PER_SECOND
from divergence.errors import ConfigError
from divergence.metrics.basis import conform
from divergence.metrics.schemas import CONSOLIDATED_BBO_SCHEMA, TS, USD_TRADES_SCHEMA
from divergence.sessions import ET, MarketCalendar, default_calendar

log = logging.getLogger(__name__)

MINUTE_NS = 60 * NS_PER_SECOND
HOUR_NS = 60 * MINUTE_NS
DAY_NS = 24 * HOUR_NS
ET_DAY_MAX_NS = 25 * HOUR_NS
"""The longest ET calendar day (the November DST change)."""
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

TIERS_SCHEMA = pl.Schema({"underlying": pl.String(), "tier": pl.Int32()})
OFFICIAL_CLOSES_SCHEMA = pl.Schema(
    {"underlying": pl.String(), "trading_day": pl.Date(), "close": pl.Float64()}
)
"""The underlying's official closing price (USD per share) of each XNYS trading day."""
REFERENCE_LAST_SCHEMA = pl.Schema(
    {"ts_event": TS, "underlying": pl.String(), "ref_price": pl.Float64()}
)
"""A regular-session reference price (e.g. the closing mid) and when it was set."""
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
LULD_EVENTS_SCHEMA = pl.Schema(
    {
        "event": pl.String(),
        "underlying": pl.String(),
        "ts_start": TS,
        "ts_end": TS,
        "side": pl.String(),
        "price": pl.Float64(),
        "ref_price": pl.Float64(),
        "lower_band": pl.Float64(),
        "upper_band": pl.Float64(),
        "session": pl.String(),
        "venue": pl.String(),
        "trade_id": pl.String(),
    }
)
"""``band_breach``, ``limit_state_equiv``, ``pause_equiv`` and ``off_hours_band`` rows."""


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
            _check(key, getattr(self, key), 0, HOUR_NS)
        _check("limit_state_ns", self.limit_state_ns, 0, LULD_EVENTS_LOOKAHEAD_NS)
        _check("pause_ns", self.pause_ns, 0, DAY_NS)
        _check("update_threshold", self.update_threshold, 0, 1)


def _check(key: str, value: float, low: float, high: float) -> None:
    if not low < value <= high:
        raise ConfigError(f"must be in ({low}, {high}] (found {value})", key=key, source="params")


# ---------------------------------------------------------------- calendar frames
@lru_cache(maxsize=4)
def calendar_sessions(calendar: MarketCalendar) -> pl.DataFrame:
    """Every session interval the calendar covers: ``ts_start`` (Datetime ns), ``session``."""
    frame = calendar.frame(calendar.start_ns, calendar.end_ns)
    return frame.select(pl.col("ts_start").cast(TS), "session", "trading_day")


@lru_cache(maxsize=4)
def trading_sessions(calendar: MarketCalendar) -> pl.DataFrame:
    """One row per XNYS trading day: ``trading_day``, ``ordinal``, ``open``, ``close``."""
    frame = calendar.frame(calendar.start_ns, calendar.end_ns).filter(
        pl.col("session") == "regular"
    )
    return frame.select(
        "trading_day",
        pl.int_range(pl.len(), dtype=pl.Int64).alias("ordinal"),
        pl.col("ts_start").cast(TS).alias("open"),
        pl.col("ts_end").cast(TS).alias("close"),
    )


def et_date(column: str) -> pl.Expr:
    """The America/New_York calendar date of a UTC ``Datetime("ns")`` column."""
    return pl.col(column).dt.replace_time_zone("UTC").dt.convert_time_zone(str(ET)).dt.date()


def et_midnight(date: pl.Expr) -> pl.Expr:
    """The instant (UTC, Datetime ns) at which the ET date ``date`` starts."""
    local = date.cast(TS).dt.replace_time_zone(str(ET))
    return local.dt.convert_time_zone("UTC").dt.replace_time_zone(None)


def with_session(frame: pl.LazyFrame, calendar: MarketCalendar, on: str) -> pl.LazyFrame:
    """``frame`` plus the calendar ``session`` at its ``on`` instant."""
    sessions = calendar_sessions(calendar).lazy().select("ts_start", "session")
    return (
        frame.sort(on, maintain_order=True)
        .join_asof(sessions, left_on=on, right_on="ts_start", check_sortedness=False)
        .drop("ts_start")
    )


def duration_ns(ns: int) -> pl.Expr:
    return pl.duration(nanoseconds=ns, time_unit="ns")


def asof(
    left: pl.LazyFrame,
    right: pl.LazyFrame,
    *,
    on: str,
    by: list[str],
    right_on: str | None = None,
    exact: bool = True,
    tolerance_ns: int | None = None,
) -> pl.LazyFrame:
    """Backward as-of join of ``left`` on ``right`` within ``by``, both sorted here."""
    key = right_on or on
    return left.sort([*by, on], maintain_order=True).join_asof(
        right.sort([*by, key], maintain_order=True),
        left_on=on,
        right_on=key,
        by=by,
        allow_exact_matches=exact,
        tolerance=tolerance_ns,
        check_sortedness=False,
    )


# ---------------------------------------------------------------- bands
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


# ---------------------------------------------------------------- events
def compute_luld_events(
    trades: pl.LazyFrame,
    consolidated: pl.LazyFrame,
    bands: pl.LazyFrame,
    *,
    params: LuldParams = LuldParams(),
    horizon_ns: int | None = None,
) -> pl.LazyFrame:
    """``band_breach``, ``limit_state_equiv``, ``pause_equiv`` rows (``LULD_EVENTS_SCHEMA``, §5.5).

    - ``band_breach``: a trade strictly outside the band in force at its instant (a trade
      exactly at a band is inside); ``ts_start = ts_end`` = the trade's.
    - ``limit_state_equiv``: the consolidated best ask at or below the lower band
      (``side = lower``) or the best bid at or above the upper band (``upper``), from the
      instant it starts to the instant it stops, at most ``limit_state_ns`` (15 s).
    - ``pause_equiv``: a limit state that lasts ``limit_state_ns`` becomes a pause from
      then for ``pause_ns`` (5 min); no limit state starts during it, and one still in
      force when it ends starts again there. Pauses and limit states reset with the ET day.

    ``bands``: :func:`compute_luld_bands` on the same trades. ``consolidated``: the token
    consolidated BBO (``CONSOLIDATED_BBO_SCHEMA``); a row older than
    :data:`QUOTE_MAX_AGE_NS` counts as absent. ``horizon_ns`` (default: the last trade or
    quote) is where the inputs end: a limit state still in force there has ``ts_end``
    null unless it already lasted 15 s. Prices, band values and session are those at the
    start of the (first) limit state. Ordered by (underlying, ts_start, event).
    """
    trades = conform(trades, USD_TRADES_SCHEMA)
    bands = conform(bands, LULD_BANDS_SCHEMA)
    events = pl.concat(
        [
            _band_breaches(trades, bands),
            _limit_events(conform(consolidated, CONSOLIDATED_BBO_SCHEMA), trades, bands, params,
                          horizon_ns),
        ],
        how="diagonal",
    )  # fmt: skip
    return finish_events(events)


def finish_events(events: pl.LazyFrame) -> pl.LazyFrame:
    """``events`` cast to ``LULD_EVENTS_SCHEMA`` in a deterministic order."""
    return events.select(
        pl.col(name).cast(dtype) for name, dtype in LULD_EVENTS_SCHEMA.items()
    ).sort(
        ["underlying", "ts_start", "event", "venue", "trade_id"],
        nulls_last=True,
        maintain_order=True,
    )


_BAND_COLUMNS = ["session", "et_date", "ref_price", "lower_band", "upper_band"]


def _band_breaches(trades: pl.LazyFrame, bands: pl.LazyFrame) -> pl.LazyFrame:
    rows = trades.select("ts_event", "underlying", "venue", "trade_id", "price")
    joined = asof(
        rows,
        bands.select("ts_event", "underlying", *_BAND_COLUMNS),
        on="ts_event",
        by=["underlying"],
    )
    price = pl.col("price")
    side = (
        pl.when(price < pl.col("lower_band"))
        .then(pl.lit("lower"))
        .when(price > pl.col("upper_band"))
        .then(pl.lit("upper"))
    )
    return (
        joined.with_columns(side.alias("side"))
        .filter(pl.col("side").is_not_null())
        .with_columns(
            pl.lit("band_breach").alias("event"),
            pl.col("ts_event").alias("ts_start"),
            pl.col("ts_event").alias("ts_end"),
        )
    )


def _limit_events(
    quotes: pl.LazyFrame,
    trades: pl.LazyFrame,
    bands: pl.LazyFrame,
    params: LuldParams,
    horizon_ns: int | None,
) -> pl.LazyFrame:
    state = _limit_timeline(quotes, trades, bands, horizon_ns)
    runs = state.with_columns(pl.col("side").rle_id().over("underlying").alias("_run"))
    episodes = (
        runs.group_by("underlying", "_run")
        .agg(
            pl.col("side").first(),
            pl.col("et_date").first(),
            pl.col("ts_event").first().cast(pl.Int64).alias("start"),
            pl.col("_horizon").first().cast(pl.Int64).alias("horizon"),
        )
        .sort(["underlying", "_run"])
        .with_columns(pl.col("start").shift(-1).over("underlying").alias("end"))
        .filter(pl.col("side").is_not_null())
        .select("underlying", "et_date", "start", "end", "horizon")
    )
    limit, pause = params.limit_state_ns, params.pause_ns
    spans = episodes.map_batches(
        lambda frame: _pause_machine(frame, limit, pause),
        schema=pl.Schema(
            {
                "event": pl.String(),
                "underlying": pl.String(),
                "ts_start": pl.Int64(),
                "ts_end": pl.Int64(),
                "anchor": pl.Int64(),
            }
        ),
    ).with_columns(pl.col("ts_start", "ts_end", "anchor").cast(TS))
    values = state.select("underlying", "ts_event", "side", "price", "venue", *_BAND_COLUMNS)
    return asof(spans, values, on="anchor", right_on="ts_event", by=["underlying"]).with_columns(
        pl.lit(None, dtype=pl.String).alias("trade_id")
    )


def _limit_timeline(
    quotes: pl.LazyFrame, trades: pl.LazyFrame, bands: pl.LazyFrame, horizon_ns: int | None
) -> pl.LazyFrame:
    """Quote and band state at every instant either changes, with the limit-state side."""
    instants = (
        pl.concat(
            [
                quotes.select("underlying", "ts_event"),
                quotes.select("underlying", pl.col("ts_event") + duration_ns(QUOTE_MAX_AGE_NS + 1)),
                bands.select("underlying", "ts_event"),
            ]
        )
        .unique()
        .join(_horizon(quotes, trades, horizon_ns), how="cross")
        .filter(pl.col("ts_event") <= pl.col("_horizon"))
    )
    book = quotes.select(
        "underlying", "ts_event", "best_bid", "best_bid_venue", "best_ask", "best_ask_venue"
    )
    state = asof(instants, book, on="ts_event", by=["underlying"], tolerance_ns=QUOTE_MAX_AGE_NS)
    state = asof(
        state,
        bands.select("underlying", "ts_event", *_BAND_COLUMNS),
        on="ts_event",
        by=["underlying"],
    )
    lower_hit = pl.col("best_ask") <= pl.col("lower_band")
    upper_hit = pl.col("best_bid") >= pl.col("upper_band")
    return state.with_columns(
        pl.when(lower_hit)
        .then(pl.lit("lower"))
        .when(upper_hit)
        .then(pl.lit("upper"))
        .alias("side"),
        pl.when(lower_hit).then("best_ask").when(upper_hit).then("best_bid").alias("price"),
        pl.when(lower_hit)
        .then("best_ask_venue")
        .when(upper_hit)
        .then("best_bid_venue")
        .alias("venue"),
    ).sort(["underlying", "ts_event"])


def _horizon(quotes: pl.LazyFrame, trades: pl.LazyFrame, horizon_ns: int | None) -> pl.LazyFrame:
    """One row, ``_horizon``: ``horizon_ns``, or the last trade or quote instant."""
    if horizon_ns is not None:
        return pl.LazyFrame({"_horizon": [horizon_ns]}).cast(TS)
    instants = pl.concat([quotes.select("ts_event"), trades.select("ts_event")])
    return instants.select(pl.col("ts_event").max().alias("_horizon"))


def _pause_machine(frame: pl.DataFrame, limit_ns: int, pause_ns: int) -> pl.DataFrame:
    """Limit-state episodes → limit_state_equiv and pause_equiv spans (int ns), in order.

    ``anchor`` is the start of the limit state a span belongs to.
    """
    out: dict[str, list[object]] = {k: [] for k in ("event", "underlying", "ts_start", "ts_end")}
    out["anchor"] = []

    def emit(event: str, underlying: str, start: int, end: int | None, anchor: int) -> None:
        for name, value in zip(out, (event, underlying, start, end, anchor), strict=True):
            out[name].append(value)

    key: tuple[object, object] | None = None
    pause_end: int | None = None
    names = ("underlying", "et_date", "start", "end", "horizon")
    rows = zip(*(frame[c].to_list() for c in names), strict=True)
    for underlying, day, start, end, horizon in rows:
        if (underlying, day) != key:
            key, pause_end = (underlying, day), None
        s = start if pause_end is None else max(start, pause_end)
        while (end is None or s < end) and s <= horizon:
            if (horizon if end is None else end) - s < limit_ns:
                emit("limit_state_equiv", underlying, s, end, s)
                break
            emit("limit_state_equiv", underlying, s, s + limit_ns, s)
            emit("pause_equiv", underlying, s + limit_ns, s + limit_ns + pause_ns, s)
            pause_end = s = s + limit_ns + pause_ns
    return pl.DataFrame(
        out,
        schema={
            "event": pl.String,
            "underlying": pl.String,
            "ts_start": pl.Int64,
            "ts_end": pl.Int64,
            "anchor": pl.Int64,
        },
    )


# ---------------------------------------------------------------- off-hours band
def compute_off_hours_band(
    trades: pl.LazyFrame,
    reference_last: pl.LazyFrame,
    *,
    pct: float = 0.20,
    calendar: MarketCalendar | None = None,
) -> pl.LazyFrame:
    """``off_hours_band`` rows (``LULD_EVENTS_SCHEMA``): trades off the regular session
    more than ``pct`` (20 %, Blue Ocean ATS, metrics.md §5.4) from the last reference.

    Off the regular session = any calendar session but ``regular`` (pre, post, overnight,
    closed; 13:00-16:00 ET on early-close days is ``post``). The reference is the latest
    ``reference_last`` row (``REFERENCE_LAST_SCHEMA``) at or before the trade and at most
    :data:`OFF_HOURS_BAND_LOOKBACK_NS` old; without one there is no band. Exactly ``pct``
    away is inside. ``ts_start = ts_end`` = the trade's instant.
    """
    _check("pct", pct, 0, 1)
    cal = calendar or default_calendar()
    rows = conform(trades, USD_TRADES_SCHEMA).select(
        "ts_event", "underlying", "venue", "trade_id", "price"
    )
    rows = with_session(rows, cal, "ts_event").filter(pl.col("session").ne_missing("regular"))
    refs = conform(reference_last, REFERENCE_LAST_SCHEMA).rename({"ts_event": "_ref_ts"})
    joined = asof(
        rows, refs, on="ts_event", right_on="_ref_ts", by=["underlying"],
        tolerance_ns=OFF_HOURS_BAND_LOOKBACK_NS,
    )  # fmt: skip
    ref, price = pl.col("ref_price"), pl.col("price")
    lower, upper = ref * (1 - pct), ref * (1 + pct)
    side = (
        pl.when(price < lower * (1 - 1e-12))
        .then(pl.lit("lower"))
        .when(price > upper * (1 + 1e-12))
        .then(pl.lit("upper"))
    )
    breaches = joined.with_columns(side.alias("side")).filter(pl.col("side").is_not_null())
    return finish_events(
        breaches.with_columns(
            pl.lit("off_hours_band").alias("event"),
            pl.col("ts_event").alias("ts_start"),
            pl.col("ts_event").alias("ts_end"),
            lower.alias("lower_band"),
            upper.alias("upper_band"),
        )
    )
