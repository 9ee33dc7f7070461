"""Everything that happens to one raw frame after it is archived: the live feed and replay share it.

:class:`FramePipeline` runs, for one venue:

1. :func:`~divergence.feeds.process.process_frame`: the adapter's pure ``parse`` and the
   venue-independent checks; rejects become quarantine records *and* ``quarantine``
   feed events;
2. the :class:`~divergence.feeds.books.BookKeeper` for book updates (gaps, checksums,
   INVALID books excluded, derived top-of-book quotes);
3. trade de-duplication by ``trade_id`` (venues resend recent trades as a snapshot after
   every subscribe), counted as ``duplicate`` feed events per frame.

It is deterministic in the frames it is given, so replaying an archive reproduces the
events the live feed published.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from divergence.events import BookUpdate, Event, FeedEvent, FeedEventKind, Trade, feed_event
from divergence.feeds.books import BookKeeper
from divergence.feeds.process import process_frame
from divergence.quarantine import QuarantineRecord
from divergence.venues.registry import Adapter

TRADE_IDS_KEPT = 50_000
"""Recent trade ids remembered per venue for de-duplication (bounded memory)."""


@dataclass
class PipelineOutput:
    events: list[Event] = field(default_factory=list)
    rejects: list[QuarantineRecord] = field(default_factory=list)
    resync: list[str] = field(default_factory=list)
    """Streams to resubscribe (``book:<symbol>``) because their book became INVALID."""


class FramePipeline:
    """Parse, check, maintain books and de-duplicate trades for one venue."""

    def __init__(self, adapter: Adapter, venue: str) -> None:
        self.adapter = adapter
        self.venue = venue
        self.books = BookKeeper(venue, adapter.book_spec)
        self._trade_ids: OrderedDict[tuple[str, str], None] = OrderedDict()

    def process(self, frame: str | bytes, *, ts_recv: int) -> PipelineOutput:
        out = PipelineOutput()
        parsed, out.rejects = process_frame(
            self.adapter, venue=self.venue, frame=frame, ts_recv=ts_recv
        )
        duplicates = 0
        for event in parsed:
            if isinstance(event, BookUpdate):
                outcome = self.books.apply(event)
                out.events.extend(outcome.events)
                if outcome.resync:
                    out.resync.append(f"book:{event.symbol}")
            elif isinstance(event, Trade) and self._seen(event):
                duplicates += 1
            else:
                out.events.append(event)
        for record in out.rejects:
            out.events.append(
                self._event(ts_recv, "", "quarantine", f"{record.reason}: {record.detail}"[:500])
            )
        if duplicates:
            out.events.append(
                self._event(ts_recv, "", "duplicate", "trades already seen", duplicates)
            )
        return out

    def connection_reset(self, ts_ns: int, reason: str) -> list[FeedEvent]:
        """A new connection: every local book waits for its next snapshot."""
        return self.books.reset(ts_ns, reason)

    def _seen(self, trade: Trade) -> bool:
        key = (trade.instrument_id, trade.trade_id)
        if key in self._trade_ids:
            return True
        self._trade_ids[key] = None
        if len(self._trade_ids) > TRADE_IDS_KEPT:
            self._trade_ids.popitem(last=False)
        return False

    def _event(
        self, ts: int, stream: str, kind: FeedEventKind, detail: str, value: float = 0.0
    ) -> FeedEvent:
        return feed_event(self.venue, ts, stream, kind, detail, value)
