"""Feed-health rows for the feeds tables (pure): the runtime's live report, one row per
stream, joined with the ``feed_events`` history counts (``api_feed_event_counts``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

Json = dict[str, Any]
LIVE_STATES = frozenset({"live", "waiting"})
FEED_COLUMNS = (
    "venue",
    "stream",
    "state",
    "age_s",
    "rate_per_s",
    "messages",
    "gaps",
    "checksum_failures",
    "reconnects",
    "stale_periods",
    "feed_state",
)
FEED_SCHEMA: dict[str, Any] = {
    "venue": pl.String,
    "stream": pl.String,
    "state": pl.String,
    "age_s": pl.Float64,
    "rate_per_s": pl.Float64,
    "messages": pl.Int64,
    "gaps": pl.Int64,
    "checksum_failures": pl.Int64,
    "reconnects": pl.Int64,
    "stale_periods": pl.Int64,
    "feed_state": pl.String,
}


def event_counts(counts: pl.DataFrame) -> dict[tuple[str, str, str], int]:
    """``(venue, stream, event) -> n`` from ``api_feed_event_counts`` rows."""
    return {
        (str(r["venue"]), str(r["stream"] or ""), str(r["event"])): int(r["n"])
        for r in counts.iter_rows(named=True)
    }


def feed_rows(
    report: Iterable[Mapping[str, Any]],
    counts: Mapping[tuple[str, str, str], int],
    *,
    only_unhealthy: bool = False,
) -> pl.DataFrame:
    """One row per stream (a feed with no stream yet gets one row with stream ``""``):
    live state, age and rate from the report; gaps and checksum failures from the event
    history of that stream; reconnects from the connection's history (``connect`` events
    after the first), never less than the running session's own count."""
    rows: list[Json] = []
    for feed in report:
        venue = str(feed["venue"])
        connects = counts.get((venue, "", "connect"), 0)
        reconnects = max(int(feed.get("reconnects") or 0), connects - 1)
        streams = feed.get("streams") or [
            {"stream": "", "state": feed["state"], "messages": 0, "rate_per_s": 0.0}
        ]
        for stream in streams:
            name = str(stream["stream"])
            row = {
                "venue": venue,
                "stream": name,
                "state": stream["state"],
                "age_s": stream.get("last_message_age_s"),
                "rate_per_s": stream.get("rate_per_s"),
                "messages": stream.get("messages"),
                "gaps": counts.get((venue, name, "gap"), 0),
                "checksum_failures": counts.get((venue, name, "checksum_mismatch"), 0),
                "reconnects": reconnects,
                "stale_periods": stream.get("stale_periods", 0),
                "feed_state": feed["state"],
            }
            if only_unhealthy and row["state"] in LIVE_STATES:
                continue
            rows.append(row)
    return (
        pl.DataFrame(rows, schema=FEED_SCHEMA, orient="row")
        if rows
        else pl.DataFrame(schema=FEED_SCHEMA)
    )
