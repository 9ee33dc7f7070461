from __future__ import annotations

from datetime import UTC, datetime

import pytest

from divergence.clock import ns_from_datetime, parse_rfc3339_ns, parse_time_param
from divergence.errors import BadRequestError


def test_clock_rfc3339_keeps_nanoseconds() -> None:
    base = ns_from_datetime(datetime(2023, 10, 6, 17, 35, 55, tzinfo=UTC))
    assert parse_rfc3339_ns("2023-10-06T17:35:55.440295123Z") == base + 440_295_123
    assert parse_rfc3339_ns("2021-02-22T15:51:45.335689322Z") % 1_000_000_000 == 335_689_322


def test_clock_rfc3339_offset_is_applied() -> None:
    assert parse_rfc3339_ns("2025-10-10T16:00:00-04:00") == parse_rfc3339_ns("2025-10-10T20:00:00Z")


@pytest.mark.parametrize(
    "bad", ["2025-10-10T16:00:00", "yesterday", "2025-10-10T16:00:00.1234567891Z"]
)
def test_clock_rfc3339_rejects_ambiguous_text(bad: str) -> None:
    with pytest.raises(BadRequestError):
        parse_rfc3339_ns(bad)


def test_clock_time_param_accepts_iso_and_ns() -> None:
    assert parse_time_param("2025-10-10T19:56:00Z", name="start") == 1_760_126_160_000_000_000
    assert parse_time_param("1760126160000000000", name="start") == 1_760_126_160_000_000_000


def test_clock_time_param_error_names_parameter() -> None:
    with pytest.raises(BadRequestError, match=r"^end: expected ISO 8601"):
        parse_time_param("10/10/2025", name="end")
