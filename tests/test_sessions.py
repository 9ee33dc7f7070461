from __future__ import annotations

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
