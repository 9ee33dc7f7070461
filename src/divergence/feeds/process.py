"""One raw frame to events and quarantine records (pure): the live feed and replay share it.

A parse error quarantines the whole frame; otherwise each parsed event must pass
:func:`divergence.quarantine.check_event`, and only the events that fail are
quarantined. An unexpected exception inside an adapter is a bug, but it still must not
stop the feed: it becomes an ``adapter error`` record.
"""

from __future__ import annotations

import logging

from divergence.errors import QuarantineError, VenueRejectedError
from divergence.events import Event
from divergence.quarantine import QuarantineRecord, check_event, record_for
from divergence.venues.registry import Adapter

log = logging.getLogger(__name__)


def process_frame(
    adapter: Adapter, *, venue: str, frame: str | bytes, ts_recv: int
) -> tuple[list[Event], list[QuarantineRecord]]:
    """Parse ``frame`` with ``adapter`` and check each event; returns (good, rejected)."""
    try:
        parsed = adapter.parse(frame, ts_recv=ts_recv)
    except QuarantineError as exc:
        return [], [record_for(exc, raw=frame, venue=venue, ts_recv=ts_recv)]
    except VenueRejectedError:
        raise  # the session's business: it ends this connection (docs/venues.md)
    except Exception as exc:  # an adapter bug: record it, keep the feed alive
        log.exception("adapter raised an unexpected error", extra={"venue": venue})
        error = QuarantineError("adapter error", detail=f"{type(exc).__name__}: {exc}")
        return [], [record_for(error, raw=frame, venue=venue, ts_recv=ts_recv)]
    events: list[Event] = []
    rejects: list[QuarantineRecord] = []
    for event in parsed:
        try:
            check_event(event)
        except QuarantineError as exc:
            rejects.append(record_for(exc, raw=frame, venue=venue, ts_recv=ts_recv))
        else:
            events.append(event)
    return events, rejects
