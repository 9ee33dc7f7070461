"""Rule 6c-11-style premium/discount and spread disclosure for tokens (pure polars).

Shared reference metrics.md §6 (token version) and §9::

    PD            = (token consolidated mid at the regular close − official close) / close
    persistent    = |PD| > 2 % on more than 7 consecutive XNYS trading days
    median spread = median over the last 30 calendar days of (ask − bid) / mid,
                    sampled at the end of every 10-second interval

Prices are USD per underlying share (:mod:`divergence.metrics.schemas`), so no
multiplier appears. The regular close is 16:00 ET, or 13:00 ET on early-close days,
when the official close is struck (XNYS calendar, :mod:`divergence.sessions`).

Live = backfill: :data:`DAILY_PREMIUM_LOOKBACK_NS` (the mid's maximum age),
:data:`PERSISTENT_PREMIUM_LOOKBACK_NS` (the trading day before a run) and
:data:`MEDIAN_SPREAD_30D_LOOKBACK_NS` (30 days of samples and the quote before them).
A run's end is open (no finite lookahead): its row is final once a trading day without
a deviation follows it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import polars as pl

from divergence.clock import NS_PER_SECOND
from divergence.errors import ConfigError
from divergence.metrics.basis import conform
from divergence.metrics.calendar_frames import (
    DAY_NS,
    HOUR_NS,
    asof,
    et_date,
    et_midnight,
    trading_sessions,
)
from divergence.metrics.schemas import CONSOLIDATED_BBO_SCHEMA, OFFICIAL_CLOSES_SCHEMA, TS
from divergence.sessions import MarketCalendar, default_calendar

log = logging.getLogger(__name__)

DAILY_PREMIUM_LOOKBACK_NS = 60 * NS_PER_SECOND
"""The consolidated mid at the close may be at most this old (the default max age)."""
PERSISTENT_PREMIUM_LOOKBACK_NS = 8 * DAY_NS
"""A run starting on day D needs D's previous trading day (at most 7 days earlier)."""
MEDIAN_SPREAD_30D_LOOKBACK_NS = 31 * DAY_NS
"""30 calendar days of samples, the quote in force at the first, and a DST hour."""

DAILY_PREMIUM_SCHEMA = pl.Schema(
    {
        "underlying": pl.String(),
        "trading_day": pl.Date(),
        "close_ts": TS,
        "close": pl.Float64(),
        "mid_ts": TS,
        "mid": pl.Float64(),
        "pd": pl.Float64(),
    }
)
"""One row per official close; ``pd`` is a fraction (0.02 = 2 %)."""
PERSISTENT_PREMIUM_SCHEMA = pl.Schema(
    {
        "underlying": pl.String(),
        "start_date": pl.Date(),
        "end_date": pl.Date(),
        "length_days": pl.Int32(),
        "max_abs_pd": pl.Float64(),
        "persistent": pl.Boolean(),
        "flagged_on": pl.Date(),
    }
)
"""One row per run of consecutive trading days with ``|pd| > threshold``."""
MEDIAN_SPREAD_SCHEMA = pl.Schema(
    {
        "underlying": pl.String(),
        "date": pl.Date(),
        "ts_event": TS,
        "samples": pl.Int32(),
        "median_spread": pl.Float64(),
    }
)
"""Per sampled day: the median relative spread of the 30 days ending that day."""


@dataclass(frozen=True)
class PremiumParams:
    """Premium and spread-disclosure parameters (metrics.md §6 and §9).

    - ``max_mid_age_ns``: the consolidated BBO at the close may be this old (60 s);
    - ``sample_interval_ns``: spread sampling step (10 s, Rule 6c-11);
    - ``spread_window_days``: calendar days in the median (30, Rule 6c-11);
    - ``max_quote_age_ns``: a spread sample needs a BBO at most this old (1 h);
    - ``spread_hours``: sample the ``regular`` session of XNYS trading days (as the
      rule samples the NBBO), or ``all`` hours of every ET calendar day.
    """

    max_mid_age_ns: int = DAILY_PREMIUM_LOOKBACK_NS
    sample_interval_ns: int = 10 * NS_PER_SECOND
    spread_window_days: int = 30
    max_quote_age_ns: int = HOUR_NS
    spread_hours: Literal["regular", "all"] = "regular"

    def __post_init__(self) -> None:
        limits = {
            "max_mid_age_ns": (self.max_mid_age_ns, DAILY_PREMIUM_LOOKBACK_NS),
            "sample_interval_ns": (self.sample_interval_ns, HOUR_NS),
            "spread_window_days": (self.spread_window_days, 30),
            "max_quote_age_ns": (self.max_quote_age_ns, HOUR_NS),
        }
        for key, (value, high) in limits.items():
            if not 0 < value <= high:
                raise ConfigError(
                    f"must be in (0, {high}] (found {value})", key=key, source="params"
                )
        if self.spread_hours not in ("regular", "all"):
            raise ConfigError(
                f"must be 'regular' or 'all' (found {self.spread_hours!r})",
                key="spread_hours",
                source="params",
            )


def _mid() -> pl.Expr:
    return (pl.col("best_bid") + pl.col("best_ask")) / 2


def compute_daily_premium(
    consolidated: pl.LazyFrame,
    closes: pl.LazyFrame,
    *,
    params: PremiumParams = PremiumParams(),
    calendar: MarketCalendar | None = None,
) -> pl.LazyFrame:
    """Daily premium/discount (``DAILY_PREMIUM_SCHEMA``) per official close (§6).

    ``closes`` (``OFFICIAL_CLOSES_SCHEMA``) rows on XNYS trading days only; ``close_ts``
    is that day's regular close; ``mid`` is the consolidated token BBO
    (``CONSOLIDATED_BBO_SCHEMA``) in force then, at most ``max_mid_age_ns`` old, with
    both sides; ``pd = (mid − close) / close``, null without a mid. Ordered by
    (underlying, trading_day).
    """
    cal = calendar or default_calendar()
    days = trading_sessions(cal).lazy().select("trading_day", pl.col("close").alias("close_ts"))
    rows = conform(closes, OFFICIAL_CLOSES_SCHEMA).join(days, on="trading_day")
    book = (
        conform(consolidated, CONSOLIDATED_BBO_SCHEMA)
        .select("underlying", pl.col("ts_event").alias("mid_ts"), _mid().alias("mid"))
        .filter(pl.col("mid").is_not_null())
    )
    joined = asof(
        rows,
        book,
        on="close_ts",
        right_on="mid_ts",
        by=["underlying"],
        tolerance_ns=params.max_mid_age_ns,
    )
    return (
        joined.with_columns(
            ((pl.col("mid") - pl.col("close")) / pl.col("close")).alias("pd"),
        )
        .select(pl.col(name).cast(dtype) for name, dtype in DAILY_PREMIUM_SCHEMA.items())
        .sort(["underlying", "trading_day"])
    )


def compute_persistent_premium(
    daily: pl.LazyFrame,
    *,
    threshold: float = 0.02,
    days: int = 7,
    calendar: MarketCalendar | None = None,
) -> pl.LazyFrame:
    """Runs of ``|pd| > threshold`` on consecutive trading days (``PERSISTENT_PREMIUM_SCHEMA``).

    ``daily``: :func:`compute_daily_premium` rows. Weekends and holidays are not trading
    days, so they neither break nor lengthen a run; a trading day without a ``pd`` (no
    row, or no mid) breaks it. ``persistent`` when the run is longer than ``days``
    trading days; ``flagged_on`` is then its ``days + 1``-th day, when the condition is
    first met (the disclosure is due the next trading day). Ordered by (underlying,
    start_date).
    """
    if not 0 < threshold < 1 or days < 1:
        raise ConfigError(
            f"needs 0 < threshold < 1 and days >= 1 (found {threshold}, {days})",
            key="threshold",
            source="params",
        )
    cal = calendar or default_calendar()
    ordinals = trading_sessions(cal).lazy().select("trading_day", "ordinal")
    above = (
        daily.select("underlying", "trading_day", pl.col("pd").cast(pl.Float64))
        .filter(pl.col("pd").abs() > threshold)
        .join(ordinals, on="trading_day")
        .sort(["underlying", "trading_day"])
    )
    gap = pl.col("ordinal").diff().over("underlying").fill_null(0) != 1
    runs = above.with_columns(gap.cast(pl.Int32).cum_sum().over("underlying").alias("_run"))
    return (
        runs.group_by("underlying", "_run")
        .agg(
            pl.col("trading_day").min().alias("start_date"),
            pl.col("trading_day").max().alias("end_date"),
            pl.len().cast(pl.Int32).alias("length_days"),
            pl.col("pd").abs().max().alias("max_abs_pd"),
            pl.col("trading_day").sort().slice(days, 1).first().alias("flagged_on"),
        )
        .with_columns((pl.col("length_days") > days).alias("persistent"))
        .select(pl.col(name).cast(dtype) for name, dtype in PERSISTENT_PREMIUM_SCHEMA.items())
        .sort(["underlying", "start_date"])
    )


def compute_median_spread_30d(
    consolidated: pl.LazyFrame,
    *,
    params: PremiumParams = PremiumParams(),
    calendar: MarketCalendar | None = None,
) -> pl.LazyFrame:
    """The 30-calendar-day median relative spread (``MEDIAN_SPREAD_SCHEMA``, §6).

    Samples: the consolidated BBO (``CONSOLIDATED_BBO_SCHEMA``) in force at the end of
    every ``sample_interval_ns`` interval (open + 10 s … close on each trading day
    between the first and last quote's ET dates; or 00:00:10 … 24:00 ET of every date
    with ``spread_hours = "all"``), at most ``max_quote_age_ns`` old and with both sides:
    ``(ask − bid) / ((ask + bid) / 2)`` (negative when crossed). One row per underlying
    and sampled date D: the median over D − 29 … D; ``ts_event`` = D's last sample
    instant. Ordered by (underlying, date).
    """
    cal = calendar or default_calendar()
    book = conform(consolidated, CONSOLIDATED_BBO_SCHEMA).filter(_mid() > 0)
    spread = ((pl.col("best_ask") - pl.col("best_bid")) / _mid()).alias("_spread")
    quotes = book.select("underlying", pl.col("ts_event").alias("_quote_ts"), spread)
    samples = asof(
        _sample_instants(book, cal, params),
        quotes,
        on="ts_event",
        right_on="_quote_ts",
        by=["underlying"],
        tolerance_ns=params.max_quote_age_ns,
    ).filter(pl.col("_spread").is_not_null())
    sampled_days = samples.group_by("underlying", "date").agg(pl.col("ts_event").max())
    period = params.spread_window_days
    windows = (
        samples.sort(["underlying", "date"])
        .group_by_dynamic(
            "date",
            every="1d",
            period=f"{period}d",
            offset=f"-{period - 1}d",
            closed="left",
            label="right",
            group_by="underlying",
        )
        .agg(
            pl.len().cast(pl.Int32).alias("samples"),
            pl.col("_spread").median().alias("median_spread"),
        )
        .with_columns(pl.col("date").dt.offset_by("-1d"))
    )
    return (
        windows.join(sampled_days, on=["underlying", "date"])
        .select(pl.col(name).cast(dtype) for name, dtype in MEDIAN_SPREAD_SCHEMA.items())
        .sort(["underlying", "date"])
    )


def _sample_instants(
    book: pl.LazyFrame, cal: MarketCalendar, params: PremiumParams
) -> pl.LazyFrame:
    """(underlying, date, ts_event): every sample instant of the quotes' date range."""
    step = params.sample_interval_ns
    span = book.group_by("underlying").agg(
        et_date("ts_event").min().alias("_first"), et_date("ts_event").max().alias("_last")
    )
    if params.spread_hours == "regular":
        sessions = (
            trading_sessions(cal)
            .lazy()
            .select(pl.col("trading_day").alias("date"), pl.col("open"), pl.col("close"))
        )
    else:
        sessions = (
            span.select(pl.date_ranges("_first", "_last").alias("date"))
            .explode("date")
            .unique()
            .select(
                "date",
                et_midnight(pl.col("date")).alias("open"),
                et_midnight(pl.col("date").dt.offset_by("1d")).alias("close"),
            )
        )
    days = span.join(sessions, how="cross").filter(
        (pl.col("date") >= pl.col("_first")) & (pl.col("date") <= pl.col("_last"))
    )
    ranges = pl.int_ranges(
        pl.col("open").cast(pl.Int64) + step, pl.col("close").cast(pl.Int64) + 1, step
    )
    return (
        days.select("underlying", "date", ranges.alias("ts_event"))
        .explode("ts_event")
        .with_columns(pl.col("ts_event").cast(TS))
        .sort(["underlying", "ts_event"])
    )
