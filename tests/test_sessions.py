from __future__ import annotations

import subprocess
import sys

import pytest

from divergence.clock import parse_rfc3339_ns
from divergence.sessions import session_at, session_transitions


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2025-10-10T13:29:59Z", "pre"),  # Fri 09:29:59 EDT
        ("2025-10-10T13:30:00Z", "regular"),
        ("2025-10-10T20:00:00Z", "post"),  # Fri 16:00 EDT
        ("2025-10-11T00:00:00Z", "closed"),  # Fri 20:00 EDT: no Friday overnight session
        ("2025-10-12T23:59:59Z", "closed"),  # Sun 19:59:59 EDT
        ("2025-10-13T00:00:00Z", "overnight"),  # Sun 20:00 EDT
        ("2025-12-15T14:29:00Z", "pre"),  # Mon 09:29 EST (winter offset)
        ("2025-12-15T14:30:00Z", "regular"),
    ],
)
def test_sessions_labels_by_eastern_time(when: str, expected: str) -> None:
    assert session_at(parse_rfc3339_ns(when)) == expected


def test_sessions_transitions_over_a_weekend() -> None:
    start = parse_rfc3339_ns("2025-10-10T19:56:00Z")
    end = parse_rfc3339_ns("2025-10-13T14:00:00Z")
    got = [(ts, s) for ts, s in session_transitions(start, end)]
    assert got == [
        (start, "regular"),
        (parse_rfc3339_ns("2025-10-10T20:00:00Z"), "post"),
        (parse_rfc3339_ns("2025-10-11T00:00:00Z"), "closed"),
        (parse_rfc3339_ns("2025-10-13T00:00:00Z"), "overnight"),
        (parse_rfc3339_ns("2025-10-13T08:00:00Z"), "pre"),
        (parse_rfc3339_ns("2025-10-13T13:30:00Z"), "regular"),
    ]


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2025-11-27T15:00:00Z", "closed"),  # Thanksgiving, 10:00 EST
        ("2025-11-28T01:00:00Z", "overnight"),  # Thanksgiving night into the half day
        ("2025-11-28T18:00:00Z", "post"),  # 13:00 EST early close
        ("2025-11-28T22:00:00Z", "closed"),  # 17:00 EST: extended hours end early
        ("2025-12-25T15:00:00Z", "closed"),  # Christmas
        ("2026-01-19T01:00:00Z", "closed"),  # Sunday night before MLK day
        ("2026-01-20T01:00:00Z", "overnight"),  # MLK day night into Tuesday
    ],
)
def test_sessions_follow_the_exchange_calendar(when: str, expected: str) -> None:
    assert session_at(parse_rfc3339_ns(when)) == expected


def test_sessions_oct10_scenario_day_is_a_normal_friday() -> None:
    start = parse_rfc3339_ns("2025-10-10T04:00:00Z")  # Fri 00:00 EDT
    end = parse_rfc3339_ns("2025-10-11T04:00:00Z")
    assert session_transitions(start, end) == [
        (start, "overnight"),
        (parse_rfc3339_ns("2025-10-10T08:00:00Z"), "pre"),
        (parse_rfc3339_ns("2025-10-10T13:30:00Z"), "regular"),
        (parse_rfc3339_ns("2025-10-10T20:00:00Z"), "post"),
        (parse_rfc3339_ns("2025-10-11T00:00:00Z"), "closed"),
    ]


def test_sessions_transitions_include_a_change_at_end_and_not_at_start() -> None:
    open_ = parse_rfc3339_ns("2025-10-10T13:30:00Z")
    assert session_transitions(open_ - 5, open_) == [(open_ - 5, "pre"), (open_, "regular")]
    assert session_transitions(open_, open_ + 5) == [(open_, "regular")]
    assert session_transitions(open_, open_ - 5) == [(open_, "regular")]


def test_sessions_import_does_not_load_the_calendar_package() -> None:
    code = (
        "import sys, divergence.sessions, divergence.sim.scenario\n"
        "assert 'exchange_calendars' not in sys.modules\n"
        "assert 'pandas' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
