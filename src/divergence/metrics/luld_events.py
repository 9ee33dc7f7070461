"""Shadow LULD events on token trades and quotes, and the off-hours ±20% band (pure polars).

What an equity venue *would* have done against the token's shadow LULD bands
(:mod:`divergence.metrics.luld`; shared reference metrics.md §5.4, §5.5;
docs/_draft_volatility.md has the worked examples). Prices are USD per underlying share
(:mod:`divergence.metrics.schemas`). Every row is an event of ``LULD_EVENTS_SCHEMA``:

- ``band_breach``: a trade strictly outside the band in force at its instant;
- ``limit_state_equiv``: the consolidated best ask at or below the lower band, or the
  best bid at or above the upper band, for at most 15 s;
- ``pause_equiv``: a limit state that lasted 15 s becomes a 5 min pause;
- ``off_hours_band``: a trade off the regular session more than 20 % away from the last
  regular-session reference (Blue Ocean ATS's collar).

Pauses and limit states reset with the ET calendar date, like the bands. Live =
backfill: the windows, :data:`~divergence.metrics.luld.LULD_EVENTS_LOOKBACK_NS`,
:data:`~divergence.metrics.luld.LULD_EVENTS_LOOKAHEAD_NS` and
:data:`~divergence.metrics.luld.OFF_HOURS_BAND_LOOKBACK_NS`, are defined in
:mod:`divergence.metrics.luld` next to :class:`~divergence.metrics.luld.LuldParams`,
whose ``limit_state_ns`` the lookahead bounds.
"""

from __future__ import annotations

import logging

import polars as pl

from divergence.metrics.basis import conform
from divergence.metrics.calendar_frames import asof, duration_ns, with_session
from divergence.metrics.luld import (
    LULD_BANDS_SCHEMA,
    OFF_HOURS_BAND_LOOKBACK_NS,
    QUOTE_MAX_AGE_NS,
    LuldParams,
    check_param,
)
from divergence.metrics.schemas import (
    CONSOLIDATED_BBO_SCHEMA,
    REFERENCE_LAST_SCHEMA,
    TS,
    USD_TRADES_SCHEMA,
)
from divergence.sessions import MarketCalendar, default_calendar

log = logging.getLogger(__name__)

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


def compute_luld_events(
    trades: pl.LazyFrame,
    consolidated: pl.LazyFrame,
    bands: pl.LazyFrame,
    *,
    params: LuldParams = LuldParams(),  # noqa: B008 (a frozen dataclass, as in luld.py)
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

    ``bands``: :func:`~divergence.metrics.luld.compute_luld_bands` on the same trades.
    ``consolidated``: the token consolidated BBO (``CONSOLIDATED_BBO_SCHEMA``); a row older
    than :data:`QUOTE_MAX_AGE_NS` counts as absent. ``horizon_ns`` (default: the last trade or
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
    check_param("pct", pct, 0, 1)
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
