"""Feed and stream health counters: what ``/api/feeds`` and ``/health`` show.

:class:`FeedSession <divergence.feeds.session.FeedSession>` updates them; the stale
threshold of a stream (its learned cadence between a floor and a ceiling) is computed
here, so it can be read and tested without a socket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from divergence.clock import NS_PER_SECOND
from divergence.settings import VenueSettings

_EWMA = 0.1
"""Weight of the newest gap in a stream's learned cadence."""
StreamState = Literal["waiting", "live", "stale", "invalid"]
FeedState = Literal["connecting", "up", "down", "rejected"]


@dataclass
class StreamStats:
    """One stream's health: state, last message, learned cadence, rate."""

    state: StreamState = "waiting"
    messages: int = 0
    last_recv_ns: int | None = None
    gap_ewma_s: float | None = None
    stale_since_ns: int | None = None
    stale_periods: int = 0
    rate_per_s: float = 0.0
    _rate_mark: tuple[float, int] = (0.0, 0)

    def observe(self, ts_recv: int, rate: float = 1.0) -> None:
        """A message arrived at ``ts_recv``: learn the gap, count it, end any stale period.

        ``rate`` is the feed clock's seconds per wall second: the cadence is learned in
        wall seconds (a simulator's activity is paced by the wall clock, so its cadence
        in sim seconds changes with its speed schedule)."""
        if self.last_recv_ns is not None:
            gap = (ts_recv - self.last_recv_ns) / NS_PER_SECOND / rate
            self.gap_ewma_s = (
                gap if self.gap_ewma_s is None else (1 - _EWMA) * self.gap_ewma_s + _EWMA * gap
            )
        self.messages += 1
        self.last_recv_ns = ts_recv
        self.stale_since_ns = None

    def sample_rate(self, now: float) -> None:
        """Fold the messages since the last sample (at least 1 s ago) into ``rate_per_s``."""
        mark_time, mark_count = self._rate_mark
        if mark_time == 0.0:
            self._rate_mark = (now, self.messages)
            return
        elapsed = now - mark_time
        if elapsed >= 1.0:
            instant = (self.messages - mark_count) / elapsed
            self.rate_per_s = 0.7 * self.rate_per_s + 0.3 * instant
            self._rate_mark = (now, self.messages)

    def threshold_s(
        self, settings: VenueSettings, session: str, default_floor: float, rate: float = 1.0
    ) -> float:
        """Seconds of silence (feed clock) before the stream is stale: the floor in clock
        seconds; the learned cadence and ``stale_max_s`` in wall seconds, times ``rate``."""
        floor = settings.stale_after_s.get(session)  # type: ignore[call-overload]
        if floor is None:
            floor = settings.stale_min_s or default_floor
        learned = settings.stale_factor * self.gap_ewma_s * rate if self.gap_ewma_s else 0.0
        cap = settings.stale_max_s * rate
        return float(min(max(floor, learned), max(cap, floor)))

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "messages": self.messages,
            "last_recv_ns": self.last_recv_ns,
            "learned_gap_s": None if self.gap_ewma_s is None else round(self.gap_ewma_s, 6),
            "stale_periods": self.stale_periods,
            "rate_per_s": round(self.rate_per_s, 3),
        }


@dataclass
class FeedStats:
    """Counters of one feed, as shown by ``/api/feeds`` and ``/health``."""

    state: FeedState = "connecting"
    connects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    reconnects: int = 0
    silent_restarts: int = 0
    frames: int = 0
    events: int = 0
    quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    gaps: int = 0
    checksum_mismatches: int = 0
    resyncs: int = 0
    stale_periods: int = 0
    backpressure_s: float = 0.0
    last_frame_ns: int | None = None
    last_event_ts: int | None = None
    last_error: str | None = None
    down_since_ns: int | None = None
    streams: dict[str, StreamStats] = field(default_factory=dict)

    @property
    def connected(self) -> bool:
        return self.state == "up"

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "streams"}
        out["connected"] = self.connected
        out["quarantine_reasons"] = dict(self.quarantine_reasons)
        out["streams"] = {name: s.as_dict() for name, s in sorted(self.streams.items())}
        return out
