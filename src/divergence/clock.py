"""Nanosecond UTC timestamps: the one time representation inside divergence.

Every event carries ``ts_event`` (venue time), ``ts_recv`` (when our process received the
frame) and ``ts_ingest`` (when the store wrote it), each as integer nanoseconds since the
Unix epoch, UTC. DuckDB stores them as ``TIMESTAMP_NS`` (UTC by convention).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

from divergence.errors import BadRequestError

NS_PER_SECOND = 1_000_000_000
NS_PER_MS = 1_000_000


def now_ns() -> int:
    """Wall-clock time in nanoseconds since the epoch."""
    return time.time_ns()


class FeedClock(Protocol):
    """The time a feed's health is measured in: when a frame arrived, how long a stream
    has been silent, and the time of its feed events.

    Live it is the wall clock. Under the simulator it is the simulated market's clock,
    so a venue that the scenario silences for 60 sim seconds is stale after the same
    number of sim seconds at any ``sim.speed``, and its feed events line up with the
    market data they describe (the alert engine steps on data time).
    """

    def now_ns(self) -> int:
        """The current time, epoch nanoseconds."""
        ...

    def rate(self) -> float:
        """Clock seconds per wall second (1 for the wall clock)."""
        ...

    def resolution_s(self) -> float:
        """The clock's granularity in clock seconds (0 for the wall clock): a silence
        shorter than a few of these cannot be told from the clock's own steps."""
        ...


class WallClock:
    """The wall clock as a :class:`FeedClock`."""

    def now_ns(self) -> int:
        return time.time_ns()

    def rate(self) -> float:
        return 1.0

    def resolution_s(self) -> float:
        return 0.0


WALL_CLOCK = WallClock()


def ns_from_datetime(value: datetime) -> int:
    """Convert an aware datetime to epoch nanoseconds; naive values are refused."""
    if value.tzinfo is None:
        raise BadRequestError(f"expected a timezone-aware datetime, found naive {value!r}")
    delta = value.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * 1_000


def datetime_from_ns(ts: int) -> datetime:
    """Epoch nanoseconds to an aware UTC datetime (microsecond precision)."""
    return datetime.fromtimestamp(ts / NS_PER_SECOND, tz=UTC)


def parse_rfc3339_ns(text: str) -> int:
    """Parse an RFC 3339 timestamp keeping all nine fractional digits.

    ``datetime.fromisoformat`` stops at microseconds, so the fraction is handled here.
    """
    body = text.strip()
    if body.endswith(("Z", "z")):
        body, offset = body[:-1], "+00:00"
    elif len(body) > 6 and body[-6] in "+-" and body[-3] == ":":
        body, offset = body[:-6], body[-6:]
    else:
        raise BadRequestError(f"expected an RFC 3339 timestamp with a zone, found {text!r}")
    fraction_ns = 0
    if "." in body:
        body, fraction = body.split(".", 1)
        if not fraction.isdigit() or len(fraction) > 9:
            raise BadRequestError(f"expected up to 9 fractional digits, found {text!r}")
        fraction_ns = int(fraction.ljust(9, "0"))
    try:
        whole = datetime.fromisoformat(body + offset)
    except ValueError as exc:
        raise BadRequestError(f"expected an RFC 3339 timestamp, found {text!r}") from exc
    return ns_from_datetime(whole) + fraction_ns


def parse_time_param(text: str, *, name: str) -> int:
    """Parse an API or CLI time: epoch nanoseconds, or ISO 8601 with a zone (``Z`` ok)."""
    stripped = text.strip()
    if stripped.lstrip("-").isdigit():
        return int(stripped)
    try:
        parsed = datetime.fromisoformat(stripped.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise BadRequestError(
            f"{name}: expected ISO 8601 time or epoch nanoseconds, found {text!r}"
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return ns_from_datetime(parsed)
