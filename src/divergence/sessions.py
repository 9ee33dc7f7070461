"""US equity market sessions from the NYSE (XNYS) exchange calendar.

The trading days, regular opens and regular closes come from the maintained
``exchange_calendars`` package (calendar ``XNYS``: holidays, 13:00 ET early closes,
ad hoc closures such as the 2025-01-09 national day of mourning). The extended-hours
sessions around them follow fixed Eastern Time rules. On an XNYS trading day ``D``:

- ``pre``: 04:00 ET → the regular open (09:30 ET).
- ``regular``: open → close. The close is 16:00 ET, or 13:00 ET on early-close days
  (the day before Independence Day, the day after Thanksgiving, Christmas Eve, as the
  calendar lists them: 2025-07-03, 2025-11-28 and 2025-12-24 in 2025; any close before
  16:00 ET counts as an early close).
- ``post``: close → 20:00 ET; on early-close days close → 17:00 ET, and nothing runs
  from 17:00 to 20:00 (``closed``). Source: NYSE Group's holiday calendars ("NYSE
  American Equities, NYSE Arca Equities, NYSE Chicago, and NYSE National late trading
  sessions will close at 5:00 p.m.": press release of 2024-11-08 for 2025-2027,
  mondovisione.com/media-and-resources/news/
  nyse-group-announces-2025-2026-and-2027-holiday-and-early-closings-calendar/; the
  2025-12-23 release for 2026-2028 says the same, naming NYSE Texas for Chicago);
  brokers document Nasdaq half-day after-hours ending at 17:00 as well.
- ``overnight``: 20:00 ET on calendar day ``C`` → 04:00 ET on ``C + 1``, only when
  ``C + 1`` is an XNYS trading day, whatever ``C`` is. So Sunday night runs when Monday
  trades, Friday and Saturday nights are closed, the night before a holiday is
  cancelled, and Thanksgiving night runs into the Friday half day. This is the Blue
  Ocean ATS schedule (Sun-Thu 20:00-04:00 ET on the NYSE holiday calendar, see
  ``venues.md`` §9 and ``metrics.md`` §1.3 of the shared reference); the label
  describes the schedule rule even for years before overnight venues existed (2021).
- ``closed``: everything else (weekends, holidays, the 17:00-20:00 gap on early-close
  days). ``halted`` never comes from the calendar: it comes from venue status messages.

An overnight interval belongs to the trading day it runs into (``trading_day`` in
:func:`calendar_frame`); ``pre``, ``regular`` and ``post`` belong to their own day.

Performance: importing this module is cheap; the first lookup imports
``exchange_calendars`` and pandas and turns the calendar into one sorted list of
transition instants (int ns) with their labels for the whole covered range (0.7-0.9 s
in all, once per process, thread-safe); after that :func:`session_at` is a range check
and a bisect (under a microsecond). Long-running async services should call
:func:`default_calendar` once at start-up so the first lookup does not stall the loop.

Covered range: fixed, :data:`FIRST_DAY` through :data:`LAST_DAY` (ET dates); outside it
every lookup raises :class:`~divergence.errors.BadRequestError` rather than guess.
Years beyond those the exchange has announced (about three ahead) are the package's
rule-based projection: regular holidays are right, future ad hoc closures are unknown.
"""

from __future__ import annotations

import threading
import warnings
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from divergence.clock import NS_PER_SECOND, ns_from_datetime
from divergence.errors import BadRequestError, ConfigError
from divergence.events import Session

if TYPE_CHECKING:
    import polars as pl

ET = ZoneInfo("America/New_York")
EXCHANGE = "XNYS"
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2040, 12, 31)

PRE_START = time(4)
REGULAR_CLOSE = time(16)
EARLY_POST_END = time(17)
POST_END = time(20)

# The calendar is fetched a little past LAST_DAY: the last night needs the next day.
_LOOKAHEAD = timedelta(days=10)
_NOON = time(12)
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class SessionBounds:
    """The session instants (epoch ns, UTC) of one XNYS trading day.

    ``pre_start`` → ``open`` is ``pre``, ``open`` → ``close`` is ``regular``,
    ``close`` → ``post_end`` is ``post``; ``post_end`` is 17:00 ET on early-close days.
    """

    day: date
    pre_start: int
    open: int
    close: int
    post_end: int
    early_close: bool


def _wall_ns(day: date, clock: time) -> int:
    """Epoch ns of an Eastern wall-clock time at or after 03:00 (past any DST switch).

    US clocks change at 02:00 local, so every session boundary (04:00 and later) has
    the same UTC offset as noon; computing it once per day keeps the build fast.
    """
    offset = ET.utcoffset(datetime.combine(day, _NOON)) or timedelta(0)  # never None for ET
    seconds = (day - _EPOCH).days * 86_400 + clock.hour * 3_600 + clock.minute * 60 + clock.second
    return (seconds - offset.days * 86_400 - offset.seconds) * NS_PER_SECOND


class MarketCalendar:
    """Session labels for one exchange calendar over ``[first_day, last_day]`` (ET dates).

    Building it imports ``exchange_calendars`` and computes every transition once; use
    :func:`default_calendar` for the shared XNYS instance.
    """

    def __init__(
        self, exchange: str = EXCHANGE, first_day: date = FIRST_DAY, last_day: date = LAST_DAY
    ) -> None:
        if last_day < first_day:
            raise BadRequestError(f"calendar range is empty: {first_day} > {last_day}")
        self.exchange = exchange
        self.first_day = first_day
        self.last_day = last_day
        self.start_ns = ns_from_datetime(datetime.combine(first_day, time(0), tzinfo=ET))
        following = last_day + timedelta(days=1)
        self.end_ns = ns_from_datetime(datetime.combine(following, time(0), tzinfo=ET))
        days = _load_trading_days(exchange, first_day, last_day + _LOOKAHEAD)
        self._trading: dict[date, SessionBounds] = {}
        for day, open_ns, close_ns in days:
            early = close_ns < _wall_ns(day, REGULAR_CLOSE)
            post_end = _wall_ns(day, EARLY_POST_END if early else POST_END)
            self._trading[day] = SessionBounds(
                day=day,
                pre_start=min(_wall_ns(day, PRE_START), open_ns),
                open=open_ns,
                close=close_ns,
                post_end=max(post_end, close_ns),
                early_close=early,
            )
        self._closes = sorted(b.close for b in self._trading.values() if b.day <= last_day)
        self._starts: list[int] = []
        self._labels: list[Session] = []
        self._days: list[date | None] = []
        self._build()

    # ------------------------------------------------------------------ building
    def _emit(self, ts: int, label: Session, day: date | None) -> None:
        if self._labels and self._labels[-1] == label:
            return
        if self._starts and ts <= self._starts[-1]:
            raise ConfigError(
                f"session boundaries out of order at {ts}",
                key=self.exchange,
                source="exchange_calendars",
            )
        self._starts.append(ts)
        self._labels.append(label)
        self._days.append(day)

    def _build(self) -> None:
        first = self.first_day
        if first in self._trading:
            self._emit(self.start_ns, "overnight", first)
        else:
            self._emit(self.start_ns, "closed", None)
        day = first
        while day <= self.last_day:
            bounds = self._trading.get(day)
            if bounds is not None:
                self._emit(bounds.pre_start, "pre", day)
                self._emit(bounds.open, "regular", day)
                self._emit(bounds.close, "post", day)
            else:
                self._emit(_wall_ns(day, PRE_START), "closed", None)
            night = _wall_ns(day, POST_END)
            if bounds is not None and bounds.post_end < night:
                self._emit(bounds.post_end, "closed", None)
            following = day + timedelta(days=1)
            if following in self._trading:
                self._emit(night, "overnight", following)
            else:
                self._emit(night, "closed", None)
            day = following

    # ------------------------------------------------------------------ checks
    def _check_ts(self, ts_ns: int, name: str = "ts") -> None:
        if not self.start_ns <= ts_ns < self.end_ns:
            when = datetime.fromtimestamp(ts_ns // NS_PER_SECOND, tz=UTC).isoformat()
            raise BadRequestError(
                f"{name}={ts_ns} ({when}) is outside the {self.exchange} calendar, which covers"
                f" {self.first_day} to {self.last_day} (ET)"
            )

    def _check_day(self, day: date) -> None:
        if not self.first_day <= day <= self.last_day:
            raise BadRequestError(
                f"{day} is outside the {self.exchange} calendar, which covers"
                f" {self.first_day} to {self.last_day}"
            )

    # ------------------------------------------------------------------ queries
    def session_at(self, ts_ns: int) -> Session:
        """The session in force at ``ts_ns`` (epoch ns, UTC); intervals are ``[start, end)``."""
        self._check_ts(ts_ns)
        return self._labels[bisect_right(self._starts, ts_ns) - 1]

    def transitions(self, start_ns: int, end_ns: int) -> list[tuple[int, Session]]:
        """``(start_ns, session there)`` then every change in ``(start_ns, end_ns]``."""
        first = self.session_at(start_ns)
        if end_ns <= start_ns:
            return [(start_ns, first)]
        self._check_ts(end_ns, "end_ns")
        lo = bisect_right(self._starts, start_ns)
        hi = bisect_right(self._starts, end_ns)
        return [(start_ns, first), *zip(self._starts[lo:hi], self._labels[lo:hi], strict=True)]

    def is_trading_day(self, day: date) -> bool:
        """Whether ``day`` has a regular session."""
        self._check_day(day)
        return day in self._trading

    def session_bounds(self, day: date) -> SessionBounds | None:
        """The pre/regular/post instants of ``day``, or None when it does not trade."""
        self._check_day(day)
        return self._trading.get(day)

    def regular_close_of(self, day: date) -> int | None:
        """The regular close of ``day`` in epoch ns, or None when it does not trade."""
        bounds = self.session_bounds(day)
        return None if bounds is None else bounds.close

    def last_regular_close_before(self, ts_ns: int) -> int:
        """The most recent regular-session close at or before ``ts_ns`` (epoch ns).

        This is when the last official close was set; the basis freezes on it.
        """
        self._check_ts(ts_ns)
        index = bisect_right(self._closes, ts_ns) - 1
        if index < 0:
            raise BadRequestError(
                f"no {self.exchange} regular close at or before ts={ts_ns} in the calendar"
            )
        return self._closes[index]

    def frame(self, start_ns: int, end_ns: int) -> pl.DataFrame:
        """The sessions of ``[start_ns, end_ns)`` as contiguous rows; see :func:`calendar_frame`."""
        import polars as pl

        if end_ns < start_ns:
            raise BadRequestError(f"end_ns={end_ns} is before start_ns={start_ns}")
        self._check_ts(start_ns, "start_ns")
        if end_ns > self.end_ns:
            self._check_ts(end_ns, "end_ns")
        first = bisect_right(self._starts, start_ns) - 1
        stop = bisect_left(self._starts, end_ns)
        starts: list[int] = []
        ends: list[int] = []
        if end_ns == start_ns:
            stop = first
        for k in range(first, stop):
            nxt = self._starts[k + 1] if k + 1 < len(self._starts) else self.end_ns
            starts.append(max(self._starts[k], start_ns))
            ends.append(min(nxt, end_ns))
        rows = range(first, first + len(starts))
        return pl.DataFrame(
            {
                "ts_start": starts,
                "ts_end": ends,
                "session": [self._labels[k] for k in rows],
                "trading_day": [self._days[k] for k in rows],
            },
            schema={
                "ts_start": pl.Int64,
                "ts_end": pl.Int64,
                "session": pl.String,
                "trading_day": pl.Date,
            },
        )


def _load_trading_days(exchange: str, first: date, last: date) -> list[tuple[date, int, int]]:
    """``(day, open_ns, close_ns)`` of every session in ``[first, last]``, from the package."""
    import exchange_calendars

    with warnings.catch_warnings():
        # exchange_calendars 4.13 reads tz-aware ``Series.values``; pandas warns about it
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        calendar = exchange_calendars.get_calendar(
            exchange, start=first.isoformat(), end=last.isoformat()
        )
    days: list[date] = [d.date() for d in calendar.sessions]
    opens: list[int] = [int(x) for x in calendar.opens_nanos]
    closes: list[int] = [int(x) for x in calendar.closes_nanos]
    return list(zip(days, opens, closes, strict=True))


_default: MarketCalendar | None = None
_default_lock = threading.Lock()


def default_calendar() -> MarketCalendar:
    """The shared XNYS calendar, built on first use (about a second) and then cached."""
    global _default  # one lazily built, process-wide instance
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = MarketCalendar()
    return _default


def session_at(ts_ns: int) -> Session:
    """The session in force at ``ts_ns`` (epoch nanoseconds, UTC), from the XNYS calendar."""
    return default_calendar().session_at(ts_ns)


def session_transitions(start_ns: int, end_ns: int) -> list[tuple[int, Session]]:
    """The session at ``start_ns`` and every change up to ``end_ns``, as (ts, session)."""
    return default_calendar().transitions(start_ns, end_ns)


def calendar_frame(start_ns: int, end_ns: int) -> pl.DataFrame:
    """XNYS sessions of ``[start_ns, end_ns)``, one row per interval, contiguous.

    Columns: ``ts_start`` and ``ts_end`` (Int64 epoch ns, the first row starts at
    ``start_ns`` and the last ends at ``end_ns``), ``session`` (String) and
    ``trading_day`` (Date: the trading day a pre/regular/post interval belongs to; for
    overnight the next trading day it runs into; null when closed).
    """
    return default_calendar().frame(start_ns, end_ns)


__all__ = [
    "ET",
    "EXCHANGE",
    "FIRST_DAY",
    "LAST_DAY",
    "MarketCalendar",
    "SessionBounds",
    "calendar_frame",
    "default_calendar",
    "session_at",
    "session_transitions",
]
