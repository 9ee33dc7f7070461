"""The live state of a feed and its streams, as ``/api/feeds`` shows it (pure)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from divergence.clock import NS_PER_SECOND
from divergence.venues.contract import split_stream

if TYPE_CHECKING:
    from divergence.feeds.session import FeedSession

FEED_COUNTERS = (
    "connects",
    "disconnects",
    "reconnects",
    "connect_failures",
    "silent_restarts",
    "frames",
    "events",
    "quarantined",
    "gaps",
    "checksum_mismatches",
    "resyncs",
    "stale_periods",
)


def _age(now_ns: int, ts: int | None) -> float | None:
    return None if ts is None else round((now_ns - ts) / NS_PER_SECOND, 3)


def feed_report(feed: FeedSession, now_ns: int) -> dict[str, Any]:
    """One feed: connection state, counters, and every stream with age, rate and state.

    A stream's state is ``down`` while its connection is down; otherwise ``waiting``
    (no message since connect), ``live``, ``stale`` or ``invalid`` (its book awaits a
    resync). The feed is ``healthy`` when connected and every stream is ``live`` or
    ``waiting`` for less than its stale threshold.
    """
    stats = feed.stats
    streams = []
    for name, stream in sorted(stats.streams.items()):
        channel, symbol = split_stream(name)
        state = stream.state if stats.connected else "down"
        book = feed.book_status(symbol) if channel == "book" else None
        streams.append(
            {
                "stream": name,
                "state": state,
                "book": None if book is None else book.value,
                "messages": stream.messages,
                "rate_per_s": round(stream.rate_per_s, 3),
                "last_message_age_s": _age(now_ns, stream.last_recv_ns),
                "learned_gap_s": None if stream.gap_ewma_s is None else round(stream.gap_ewma_s, 6),
                "stale_periods": stream.stale_periods,
            }
        )
    healthy = stats.connected and all(s["state"] in ("live", "waiting") for s in streams)
    return {
        "venue": feed.venue.id,
        "adapter": feed.venue.adapter,
        "url": feed.url,
        "state": stats.state,
        "healthy": healthy,
        "last_message_age_s": _age(now_ns, stats.last_frame_ns),
        "down_for_s": _age(now_ns, stats.down_since_ns),
        "last_error": stats.last_error,
        "backpressure_s": round(stats.backpressure_s, 3),
        "quarantine_reasons": dict(stats.quarantine_reasons),
        **{key: getattr(stats, key) for key in FEED_COUNTERS},
        "streams": streams,
    }
