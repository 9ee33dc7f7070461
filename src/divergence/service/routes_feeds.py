"""Feed health: ``/api/feeds`` (live state) and ``/api/feeds/events`` (the event log).

``/api/feeds`` joins two views of the same truth: the running sessions' live state
(each stream's state, last message age, message rate) and the ``feed_events`` table's
counts over the database's whole history (so gaps and outages from before a restart
still count).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from divergence.errors import BadRequestError
from divergence.events import FEED_EVENT_KINDS
from divergence.service.api_models import COMMON_ERRORS, error_responses
from divergence.service.api_schemas import FeedEventsOut, FeedsOut
from divergence.service.deps import RuntimeDep, StoreDep
from divergence.service.routes_api import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    JsonResponse,
    iso_ns,
    parse_optional_time,
)

router = APIRouter(tags=["feeds"], responses={**error_responses(400), **COMMON_ERRORS})
_FAR_FUTURE = 2**62


@router.get(
    "/api/feeds",
    response_class=JsonResponse,
    summary="Feed health, live and historic",
    response_model=FeedsOut,
)
async def feeds(runtime: RuntimeDep, store: StoreDep) -> JsonResponse:
    """Each running feed and stream: state, last message age, rate, gaps, checksum
    failures and reconnects, with the event log's counts over the whole database
    (``history``; ``history_only`` for venues not running now)."""
    counts = await store.named("api_feed_event_counts", {})
    history: dict[str, dict[str, dict[str, Any]]] = {}
    for row in counts.iter_rows(named=True):
        per_venue = history.setdefault(row["venue"], {})
        per_venue.setdefault(row["stream"] or "connection", {})[row["event"]] = {
            "count": row["n"],
            "last": iso_ns(row["last_ts_ns"]),
            "total_value": row["total_value"],
        }
    live = runtime.feeds_report()
    for feed in live:
        feed["history"] = history.pop(feed["venue"], {})
    return JsonResponse(
        {
            "healthy": all(f["healthy"] for f in live),
            "feeds": live,
            "history_only": history,
        }
    )


@router.get(
    "/api/feeds/events",
    response_class=JsonResponse,
    summary="The feed event log",
    response_model=FeedEventsOut,
)
async def feed_events(
    store: StoreDep,
    venue: Annotated[str | None, Query(description="only this venue")] = None,
    event: Annotated[str | None, Query(description="only this kind, e.g. gap")] = None,
    start: Annotated[str | None, Query(description="ISO 8601 or epoch ns, inclusive")] = None,
    end: Annotated[str | None, Query(description="ISO 8601 or epoch ns, exclusive")] = None,
    before_seq: Annotated[int | None, Query(description="page cursor: next_before_seq")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> JsonResponse:
    """Connects, disconnects, gaps, checksum failures, resyncs and stale periods, newest
    first; page on with ``before_seq`` = the previous page's ``next_before_seq``."""
    if event is not None and event not in FEED_EVENT_KINDS:
        raise BadRequestError(
            f"event: unknown kind {event!r} (known: {', '.join(FEED_EVENT_KINDS)})"
        )
    params = {
        "venue": venue or "",
        "event": event or "",
        "start": parse_optional_time(start, name="start") or 0,
        "end": parse_optional_time(end, name="end") or _FAR_FUTURE,
        "before_seq": before_seq if before_seq is not None else _FAR_FUTURE,
        "limit": limit + 1,
    }
    frame = await store.named("api_feed_events", params)
    rows = [{"ts": iso_ns(row["ts_ns"]), **row} for row in frame.head(limit).iter_rows(named=True)]
    more = frame.height > limit
    return JsonResponse(
        {"events": rows, "next_before_seq": rows[-1]["ingest_seq"] if more else None}
    )
