"""The XNYS market calendar on real calendar facts, with exact instants.

Facts checked against NYSE Group's published holiday calendars (2025-2027 and
2026-2028 releases): Thanksgiving 2025-11-27, early closes (13:00 ET) on 2025-07-03,
2025-11-28 and 2025-12-24, Christmas 2025-12-25, MLK day 2026-01-19; Columbus Day
2025-10-13 is a trading day; 2025-01-09 was the national day of mourning (closed).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import pairwise

import exchange_calendars
import polars as pl
import pytest

from divergence.clock import ns_from_datetime, parse_rfc3339_ns
from divergence.errors import BadRequestError
from divergence.sessions import (
    ET,
    FIRST_DAY,
    LAST_DAY,
    MarketCalendar,
    calendar_frame,
    default_calendar,
    session_at,
    session_transitions,
)

MINUTE = 60 * 1_000_000_000


def et(day: str, clock: str) -> int:
    """Epoch ns of a US Eastern wall-clock time, e.g. ``et("2025-11-28", "13:00")``."""
    return ns_from_datetime(datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=ET))


def utc(text: str) -> int:
    return parse_rfc3339_ns(text)


def minutes(start: int, end: int) -> list[int]:
    return list(range(start, end, MINUTE))


@pytest.fixture(scope="module")
def cal() -> MarketCalendar:
    return default_calendar()


# ---------------------------------------------------------------- Thanksgiving 2025
def test_day_after_thanksgiving_closes_at_13_and_post_ends_at_17(cal: MarketCalendar) -> None:
    day = "2025-11-28"
    assert cal.session_at(et(day, "03:59:59") + 999_999_999) == "overnight"
    assert cal.session_at(et(day, "04:00")) == "pre"
    assert cal.session_at(utc("2025-11-28T14:29:59.999999999Z")) == "pre"
    assert cal.session_at(utc("2025-11-28T14:30:00Z")) == "regular"  # 09:30 EST
    assert cal.session_at(et(day, "12:59:59")) == "regular"
    assert cal.session_at(et(day, "13:00")) == "post"
    assert et(day, "13:00") == utc("2025-11-28T18:00:00Z")
    assert cal.session_at(et(day, "16:59:59")) == "post"
    assert cal.session_at(et(day, "17:00")) == "closed"  # early close: no 17:00-20:00
    assert cal.session_at(et(day, "19:59")) == "closed"
    assert cal.session_at(et(day, "20:00")) == "closed"  # Friday night
    assert cal.session_at(et("2025-11-29", "12:00")) == "closed"


def test_thanksgiving_is_closed_until_its_night_runs_into_friday(cal: MarketCalendar) -> None:
    assert not cal.is_trading_day(date(2025, 11, 27))
    # the night before the holiday is cancelled: Wednesday 20:00 closes
    assert cal.session_at(et("2025-11-26", "19:59:59")) == "post"
    assert cal.session_at(et("2025-11-26", "20:00")) == "closed"
    day = minutes(et("2025-11-27", "00:00"), et("2025-11-27", "20:00"))
    assert {cal.session_at(ts) for ts in day} == {"closed"}
    assert cal.session_at(et("2025-11-27", "20:00")) == "overnight"
    assert et("2025-11-27", "20:00") == utc("2025-11-28T01:00:00Z")


def test_thanksgiving_week_transitions() -> None:
    start, end = et("2025-11-23", "00:00"), et("2025-11-30", "23:59")
    expected = [(start, "closed"), (et("2025-11-23", "20:00"), "overnight")]
    for day in ("2025-11-24", "2025-11-25"):
        expected += [
            (et(day, "04:00"), "pre"),
            (et(day, "09:30"), "regular"),
            (et(day, "16:00"), "post"),
            (et(day, "20:00"), "overnight"),
        ]
    expected += [
        (et("2025-11-26", "04:00"), "pre"),
        (et("2025-11-26", "09:30"), "regular"),
        (et("2025-11-26", "16:00"), "post"),
        (et("2025-11-26", "20:00"), "closed"),  # Thanksgiving eve: no overnight
        (et("2025-11-27", "20:00"), "overnight"),  # Thanksgiving night into Friday
        (et("2025-11-28", "04:00"), "pre"),
        (et("2025-11-28", "09:30"), "regular"),
        (et("2025-11-28", "13:00"), "post"),
        (et("2025-11-28", "17:00"), "closed"),
        (et("2025-11-30", "20:00"), "overnight"),
    ]
    assert session_transitions(start, end) == expected
    assert expected[-1][0] == utc("2025-12-01T01:00:00Z")


# ---------------------------------------------------------------- Christmas 2025
def test_christmas_eve_early_close_and_christmas_day(cal: MarketCalendar) -> None:
    assert cal.session_at(et("2025-12-24", "12:59:59")) == "regular"
    assert cal.session_at(et("2025-12-24", "13:00")) == "post"
    assert cal.session_at(et("2025-12-24", "17:00")) == "closed"
    assert cal.session_at(et("2025-12-24", "20:00")) == "closed"  # night into the holiday
    assert not cal.is_trading_day(date(2025, 12, 25))
    day = minutes(et("2025-12-25", "00:00"), et("2025-12-25", "20:00"))
    assert {cal.session_at(ts) for ts in day} == {"closed"}
    assert cal.session_at(et("2025-12-25", "20:00")) == "overnight"  # Friday 26th trades
    got = cal.transitions(et("2025-12-24", "12:00"), et("2025-12-26", "10:00"))
    assert got == [
        (et("2025-12-24", "12:00"), "regular"),
        (utc("2025-12-24T18:00:00Z"), "post"),
        (utc("2025-12-24T22:00:00Z"), "closed"),
        (utc("2025-12-26T01:00:00Z"), "overnight"),
        (utc("2025-12-26T09:00:00Z"), "pre"),
        (utc("2025-12-26T14:30:00Z"), "regular"),
    ]


def test_2025_early_closes_are_the_published_ones(cal: MarketCalendar) -> None:
    early = [
        d
        for d in (date(2025, 1, 1) + timedelta(days=i) for i in range(365))
        if (b := cal.session_bounds(d)) is not None and b.early_close
    ]
    assert early == [date(2025, 7, 3), date(2025, 11, 28), date(2025, 12, 24)]


# ---------------------------------------------------------------- weekends, holidays
def test_weekend_and_columbus_day(cal: MarketCalendar) -> None:
    saturday = minutes(et("2025-10-11", "00:00"), et("2025-10-12", "00:00"))
    assert {cal.session_at(ts) for ts in saturday} == {"closed"}
    assert cal.session_at(et("2025-10-12", "19:59")) == "closed"
    assert cal.session_at(et("2025-10-12", "20:00")) == "overnight"
    assert cal.is_trading_day(date(2025, 10, 13))  # Columbus Day: NYSE trades
    assert cal.session_at(utc("2025-10-13T13:30:00Z")) == "regular"


def test_friday_post_and_friday_night(cal: MarketCalendar) -> None:
    assert cal.session_at(utc("2025-10-10T20:50:00Z")) == "post"  # 16:50 EDT
    assert cal.session_at(et("2025-10-10", "20:00")) == "closed"


def test_mlk_day_2026(cal: MarketCalendar) -> None:
    assert not cal.is_trading_day(date(2026, 1, 19))
    assert cal.session_at(et("2026-01-18", "20:00")) == "closed"  # Sunday night: no
    monday = minutes(et("2026-01-18", "20:00"), et("2026-01-19", "20:00"))
    assert {cal.session_at(ts) for ts in monday} == {"closed"}
    assert cal.session_at(et("2026-01-19", "20:00")) == "overnight"  # into Tuesday
    assert et("2026-01-19", "20:00") == utc("2026-01-20T01:00:00Z")
    assert cal.session_at(utc("2026-01-20T14:30:00Z")) == "regular"


def test_national_day_of_mourning_2025_is_closed(cal: MarketCalendar) -> None:
    assert not cal.is_trading_day(date(2025, 1, 9))
    assert cal.session_at(et("2025-01-08", "20:00")) == "closed"
    assert cal.session_at(et("2025-01-09", "10:00")) == "closed"
    assert cal.session_at(et("2025-01-09", "20:00")) == "overnight"


# ---------------------------------------------------------------- daylight saving
def test_fall_back_2025(cal: MarketCalendar) -> None:
    start, end = utc("2025-11-01T00:00:00Z"), utc("2025-11-04T02:00:00Z")
    assert cal.transitions(start, end) == [
        (start, "closed"),  # Friday 20:00 EDT exactly
        (utc("2025-11-03T01:00:00Z"), "overnight"),  # Sunday 20:00 EST
        (utc("2025-11-03T09:00:00Z"), "pre"),  # Monday 04:00 EST
        (utc("2025-11-03T14:30:00Z"), "regular"),
        (utc("2025-11-03T21:00:00Z"), "post"),
        (utc("2025-11-04T01:00:00Z"), "overnight"),
    ]
    assert cal.session_at(utc("2025-11-03T00:59:59.999999999Z")) == "closed"
    # the repeated 01:00-02:00 hour on Sunday morning is inside the weekend
    assert cal.session_at(utc("2025-11-02T05:30:00Z")) == "closed"
    assert cal.session_at(utc("2025-11-02T06:30:00Z")) == "closed"


def test_spring_forward_2025(cal: MarketCalendar) -> None:
    start, end = utc("2025-03-09T12:00:00Z"), utc("2025-03-11T00:00:00Z")
    assert cal.transitions(start, end) == [
        (start, "closed"),
        (utc("2025-03-10T00:00:00Z"), "overnight"),  # Sunday 20:00 EDT
        (utc("2025-03-10T08:00:00Z"), "pre"),  # Monday 04:00 EDT
        (utc("2025-03-10T13:30:00Z"), "regular"),
        (utc("2025-03-10T20:00:00Z"), "post"),
        (utc("2025-03-11T00:00:00Z"), "overnight"),
    ]
    assert cal.session_at(utc("2025-03-10T13:29:59.999999999Z")) == "pre"


# ---------------------------------------------------------------- other queries
def test_session_bounds_and_regular_close(cal: MarketCalendar) -> None:
    bounds = cal.session_bounds(date(2025, 11, 28))
    assert bounds is not None
    assert bounds.early_close
    assert (bounds.pre_start, bounds.open, bounds.close, bounds.post_end) == (
        utc("2025-11-28T09:00:00Z"),
        utc("2025-11-28T14:30:00Z"),
        utc("2025-11-28T18:00:00Z"),
        utc("2025-11-28T22:00:00Z"),
    )
    normal = cal.session_bounds(date(2025, 10, 10))
    assert normal is not None
    assert not normal.early_close
    assert normal.post_end == utc("2025-10-11T00:00:00Z")
    assert cal.session_bounds(date(2025, 11, 27)) is None
    assert cal.regular_close_of(date(2025, 11, 28)) == utc("2025-11-28T18:00:00Z")
    assert cal.regular_close_of(date(2025, 10, 10)) == utc("2025-10-10T20:00:00Z")
    assert cal.regular_close_of(date(2025, 12, 25)) is None


def test_last_regular_close_before(cal: MarketCalendar) -> None:
    friday_close = utc("2025-11-28T18:00:00Z")
    wednesday_close = utc("2025-11-26T21:00:00Z")
    assert cal.last_regular_close_before(friday_close) == friday_close  # at: included
    assert cal.last_regular_close_before(friday_close - 1) == wednesday_close
    assert cal.last_regular_close_before(et("2025-11-27", "12:00")) == wednesday_close
    assert cal.last_regular_close_before(et("2025-11-29", "12:00")) == friday_close
    assert cal.last_regular_close_before(et("2025-12-01", "09:29")) == friday_close
    assert cal.last_regular_close_before(et("2025-12-01", "16:00")) == et("2025-12-01", "16:00")


def test_outside_the_covered_range_is_refused(cal: MarketCalendar) -> None:
    first = et(FIRST_DAY.isoformat(), "00:00")
    after = ns_from_datetime(
        datetime.combine(LAST_DAY + timedelta(days=1), datetime.min.time(), ET)
    )
    assert cal.session_at(first) in ("closed", "overnight")
    assert cal.session_at(after - 1) in ("closed", "overnight")
    for ts in (first - 1, after, 0):
        with pytest.raises(BadRequestError, match="outside the XNYS calendar"):
            cal.session_at(ts)
    with pytest.raises(BadRequestError, match="outside the XNYS calendar"):
        session_transitions(utc("2025-01-01T00:00:00Z"), after)
    with pytest.raises(BadRequestError):
        cal.is_trading_day(date(1999, 12, 31))
    with pytest.raises(BadRequestError):
        cal.last_regular_close_before(et("2000-01-03", "09:00"))  # before the first close


def test_a_narrow_calendar_covers_exactly_its_days() -> None:
    small = MarketCalendar(first_day=date(2025, 11, 27), last_day=date(2025, 11, 28))
    assert small.start_ns == et("2025-11-27", "00:00")
    assert small.end_ns == et("2025-11-29", "00:00")
    assert small.transitions(small.start_ns, small.end_ns - 1) == [
        (small.start_ns, "closed"),
        (et("2025-11-27", "20:00"), "overnight"),
        (et("2025-11-28", "04:00"), "pre"),
        (et("2025-11-28", "09:30"), "regular"),
        (et("2025-11-28", "13:00"), "post"),
        (et("2025-11-28", "17:00"), "closed"),
    ]
    with pytest.raises(BadRequestError):
        small.session_at(small.end_ns)
    with pytest.raises(BadRequestError):
        MarketCalendar(first_day=date(2025, 2, 1), last_day=date(2025, 1, 1))


# ---------------------------------------------------------------- calendar_frame
def test_calendar_frame_is_contiguous_and_agrees_with_session_at() -> None:
    start, end = et("2025-11-20", "12:34"), et("2026-01-21", "05:06")
    frame = calendar_frame(start, end)
    assert frame.schema == pl.Schema(
        {"ts_start": pl.Int64, "ts_end": pl.Int64, "session": pl.String, "trading_day": pl.Date}
    )
    rows = frame.rows(named=True)
    assert rows[0]["ts_start"] == start
    assert rows[-1]["ts_end"] == end
    for row, following in pairwise(rows):
        assert row["ts_end"] == following["ts_start"]
        assert row["session"] != following["session"]
    for row in rows:
        assert row["ts_start"] < row["ts_end"]
        assert session_at(row["ts_start"]) == row["session"]
        assert session_at(row["ts_end"] - 1) == row["session"]
        assert (row["trading_day"] is None) == (row["session"] == "closed")


def test_calendar_frame_trading_days() -> None:
    frame = calendar_frame(et("2025-11-26", "19:00"), et("2025-12-01", "10:00"))
    got = [(r["ts_start"], r["session"], r["trading_day"]) for r in frame.rows(named=True)]
    assert got == [
        (et("2025-11-26", "19:00"), "post", date(2025, 11, 26)),
        (et("2025-11-26", "20:00"), "closed", None),
        (et("2025-11-27", "20:00"), "overnight", date(2025, 11, 28)),
        (et("2025-11-28", "04:00"), "pre", date(2025, 11, 28)),
        (et("2025-11-28", "09:30"), "regular", date(2025, 11, 28)),
        (et("2025-11-28", "13:00"), "post", date(2025, 11, 28)),
        (et("2025-11-28", "17:00"), "closed", None),
        (et("2025-11-30", "20:00"), "overnight", date(2025, 12, 1)),  # Sunday night: Monday
        (et("2025-12-01", "04:00"), "pre", date(2025, 12, 1)),
        (et("2025-12-01", "09:30"), "regular", date(2025, 12, 1)),
    ]
    assert frame["ts_end"][-1] == et("2025-12-01", "10:00")


def test_calendar_frame_edges() -> None:
    at = et("2025-10-10", "10:00")
    assert calendar_frame(at, at).height == 0
    one = calendar_frame(at, at + 1)
    assert one.rows() == [(at, at + 1, "regular", date(2025, 10, 10))]
    with pytest.raises(BadRequestError):
        calendar_frame(at, at - 1)


# ---------------------------------------------------------------- property over real data
@pytest.mark.filterwarnings("ignore:Series.values returning an ndarray")
def test_every_trading_day_2024_2026_matches_the_package_schedule(cal: MarketCalendar) -> None:
    xnys = exchange_calendars.get_calendar("XNYS", start="2024-01-01", end="2027-01-31")
    schedule = xnys.schedule
    trading = {ts.date() for ts in schedule.index}
    early = {ts.date() for ts in xnys.early_closes}
    checked = 0
    for session, row in schedule.iterrows():
        day = session.date()
        if day.year > 2026:
            continue
        open_ns, close_ns = int(row["open"].value), int(row["close"].value)
        iso = day.isoformat()
        assert cal.session_at(open_ns - 1) == "pre", day
        assert cal.session_at(open_ns) == "regular", day
        assert cal.session_at(close_ns - 1) == "regular", day
        assert cal.session_at(close_ns) == "post", day
        assert cal.session_at(et(iso, "04:00") - 1) == "overnight", day
        assert cal.session_at(et(iso, "04:00")) == "pre", day
        post_end = et(iso, "17:00" if day in early else "20:00")
        assert (day in early) == (datetime.fromtimestamp(close_ns / 1e9, ET).hour < 16), day
        assert cal.session_at(post_end - 1) == "post", day
        assert cal.session_at(post_end) != "post", day
        assert cal.regular_close_of(day) == close_ns
        checked += 1
    assert checked > 700  # about 250 trading days a year
    day = date(2024, 1, 1)
    while day <= date(2026, 12, 31):
        iso = day.isoformat()
        assert cal.is_trading_day(day) == (day in trading), day
        if day not in trading:
            assert cal.session_at(et(iso, "12:00")) == "closed", day
        night = "overnight" if day + timedelta(days=1) in trading else "closed"
        assert cal.session_at(et(iso, "20:00")) == night, day
        assert cal.session_at(et(iso, "20:00") - 1) != "overnight", day
        day += timedelta(days=1)
