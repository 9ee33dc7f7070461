"""US equity market sessions from the clock alone (no holidays yet: see issue #4).

Eastern Time: ``pre`` 04:00-09:30, ``regular`` 09:30-16:00, ``post`` 16:00-20:00 on
weekdays; ``overnight`` 20:00-04:00 from Sunday night to Friday morning; ``closed``
from Friday 20:00 to Sunday 20:00. The simulator announces these as ``SessionState``
events; the exchange calendar with holidays and early closes replaces this in issue #4.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from divergence.clock import NS_PER_SECOND, ns_from_datetime
from divergence.events import Session

ET = ZoneInfo("America/New_York")
_PRE, _OPEN, _CLOSE, _POST_END = time(4), time(9, 30), time(16), time(20)


def session_at(ts_ns: int) -> Session:
    """The session in force at ``ts_ns`` (epoch nanoseconds, UTC)."""
    local = datetime.fromtimestamp(ts_ns / NS_PER_SECOND, tz=UTC).astimezone(ET)
    weekday, clock = local.weekday(), local.time()  # Monday = 0
    if weekday < 5 and _PRE <= clock < _OPEN:
        return "pre"
    if weekday < 5 and _OPEN <= clock < _CLOSE:
        return "regular"
    if weekday < 5 and _CLOSE <= clock < _POST_END:
        return "post"
    evening = clock >= _POST_END and weekday in (6, 0, 1, 2, 3)
    morning = clock < _PRE and weekday in (0, 1, 2, 3, 4)
    return "overnight" if evening or morning else "closed"


def session_transitions(start_ns: int, end_ns: int) -> list[tuple[int, Session]]:
    """The session at ``start_ns`` and every change up to ``end_ns``, as (ts, session)."""
    out: list[tuple[int, Session]] = [(start_ns, session_at(start_ns))]
    local = datetime.fromtimestamp(start_ns / NS_PER_SECOND, tz=UTC).astimezone(ET)
    day = local.date()
    while True:
        for boundary in (_PRE, _OPEN, _CLOSE, _POST_END):
            ts = ns_from_datetime(datetime.combine(day, boundary, tzinfo=ET))
            if ts <= start_ns:
                continue
            if ts > end_ns:
                return out
            session = session_at(ts)
            if session != out[-1][1]:
                out.append((ts, session))
        day += timedelta(days=1)
