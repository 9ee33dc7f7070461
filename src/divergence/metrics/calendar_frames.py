"""XNYS calendar frames, ET calendar dates and the as-of join the volatility metrics share.

The shadow LULD bands and events (:mod:`divergence.metrics.luld`,
:mod:`divergence.metrics.luld_events`), the MWCB context (:mod:`divergence.metrics.mwcb`)
and the premium/discount disclosure (:mod:`divergence.metrics.premium`) all place UTC
``Datetime("ns")`` instants on the same two clocks:

- the **XNYS calendar** (:mod:`divergence.sessions`): :func:`calendar_sessions` lists
  every session interval it covers (``pre``, ``regular``, ``post``, ``overnight``,
  ``closed``) and :func:`trading_sessions` every trading day with its regular open and
  close (13:00 ET on early-close days) and its ordinal; :func:`with_session` labels an
  instant with the session it falls in;
- the **ET calendar date** (America/New_York, so 23 or 25 h on DST changes, at most
  :data:`ET_DAY_MAX_NS`): :func:`et_date` and :func:`et_midnight` convert both ways.

:func:`asof` is the backward as-of join they all use (sorted inside, so callers need not
sort), and :func:`duration_ns` the ns duration literal. These helpers hold no state of
their own: the calendar frames are cached per :class:`~divergence.sessions.MarketCalendar`.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import polars as pl

from divergence.clock import NS_PER_SECOND
from divergence.metrics.schemas import TS
from divergence.sessions import ET, MarketCalendar

log = logging.getLogger(__name__)

MINUTE_NS = 60 * NS_PER_SECOND
HOUR_NS = 60 * MINUTE_NS
DAY_NS = 24 * HOUR_NS
ET_DAY_MAX_NS = 25 * HOUR_NS
"""The longest ET calendar day (the November DST change)."""


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
    """A ``Duration("ns")`` literal of ``ns`` nanoseconds."""
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
