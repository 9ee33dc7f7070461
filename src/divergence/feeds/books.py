"""Local order books: snapshot then deltas, sequence gaps, checksums, INVALID until resync.

Venue-agnostic: what a venue's book looks like is declared by its adapter as a
:class:`~divergence.venues.contract.BookSpec`. The keeper applies every
:class:`~divergence.events.BookUpdate` in arrival order:

1. A snapshot replaces the book (so does a delta whose sequence is the spec's
   ``reset_sequence``: a venue restart). The book becomes VALID.
2. A delta applies level by level in wire order; size 0 deletes the level. Then the
   book is truncated to ``depth`` per side (venues send no delete for levels that fall
   out of range).
3. With ``sequenced``, a delta whose sequence is not the previous one plus 1 is a
   *gap*. With a ``checksum``, a message carrying one is verified on the book after it.
4. After a gap or a mismatch the book is INVALID: it is excluded from metrics (no
   events leave the keeper for it), its later deltas are discarded and counted, and the
   caller is told to resync the stream (resubscribe; the venue answers with a snapshot).

Every transition is returned as a :class:`~divergence.events.FeedEvent`, so feed health
is data: ``gap``, ``checksum_mismatch``, ``book_invalid`` and ``resync`` (with the
seconds the book was invalid and the deltas discarded meanwhile).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from divergence.clock import NS_PER_SECOND
from divergence.events import BookUpdate, FeedEvent, FeedEventKind, Level, Quote, feed_event
from divergence.venues.contract import BookSpec


class BookStatus(enum.StrEnum):
    AWAITING_SNAPSHOT = "awaiting_snapshot"
    VALID = "valid"
    INVALID = "invalid"


@dataclass
class Book:
    """One symbol's book: levels keyed by price, keeping the venue's own level text."""

    spec: BookSpec
    bids: dict[Decimal, Level] = field(default_factory=dict)
    asks: dict[Decimal, Level] = field(default_factory=dict)
    sequence: int | None = None
    status: BookStatus = BookStatus.AWAITING_SNAPSHOT
    invalid_since_ns: int | None = None
    discarded: int = 0
    top: tuple[Decimal, Decimal, Decimal, Decimal] | None = None

    def sorted_asks(self, n: int | None = None) -> list[Level]:
        """Asks, best (lowest) first."""
        keys = sorted(self.asks)
        return [self.asks[k] for k in (keys if n is None else keys[:n])]

    def sorted_bids(self, n: int | None = None) -> list[Level]:
        """Bids, best (highest) first."""
        keys = sorted(self.bids, reverse=True)
        return [self.bids[k] for k in (keys if n is None else keys[:n])]

    def best(self) -> tuple[Level, Level] | None:
        """(best bid, best ask), or None while a side is empty."""
        if not self.bids or not self.asks:
            return None
        return self.bids[max(self.bids)], self.asks[min(self.asks)]

    def replace(self, update: BookUpdate) -> None:
        self.bids = {lv.price: lv for lv in update.bids if lv.size != 0}
        self.asks = {lv.price: lv for lv in update.asks if lv.size != 0}
        self._truncate()

    def apply(self, update: BookUpdate) -> None:
        for side, levels in ((self.bids, update.bids), (self.asks, update.asks)):
            for level in levels:
                if level.size == 0:
                    side.pop(level.price, None)
                else:
                    side[level.price] = level
        self._truncate()

    def _truncate(self) -> None:
        depth = self.spec.depth
        if len(self.bids) > depth:
            keep = sorted(self.bids, reverse=True)[:depth]
            self.bids = {k: self.bids[k] for k in keep}
        if len(self.asks) > depth:
            keep = sorted(self.asks)[:depth]
            self.asks = {k: self.asks[k] for k in keep}


@dataclass
class BookOutcome:
    """What one update did: events to publish and whether the stream needs a resync."""

    events: list[BookUpdate | Quote | FeedEvent] = field(default_factory=list)
    resync: bool = False


class BookKeeper:
    """Every book of one venue. ``spec_for(symbol)`` comes from the adapter."""

    def __init__(self, venue: str, spec_for: Callable[[str], BookSpec | None]) -> None:
        self.venue = venue
        self._spec_for = spec_for
        self.books: dict[str, Book] = {}

    def book(self, symbol: str) -> Book | None:
        if symbol not in self.books:
            spec = self._spec_for(symbol)
            if spec is None:
                return None
            self.books[symbol] = Book(spec)
        return self.books[symbol]

    def status(self, symbol: str) -> BookStatus | None:
        book = self.books.get(symbol)
        return None if book is None else book.status

    def reset(self, ts_ns: int, reason: str) -> list[FeedEvent]:
        """Forget every book (a reconnect): each waits for its next snapshot."""
        events = []
        for symbol, book in self.books.items():
            if book.status is BookStatus.VALID:
                events.append(
                    self._event(ts_ns, symbol, "book_invalid", f"{reason}; awaiting snapshot")
                )
                book.invalid_since_ns = ts_ns
            book.status = BookStatus.AWAITING_SNAPSHOT
            book.bids, book.asks, book.sequence, book.top = {}, {}, None, None
        return events

    def apply(self, update: BookUpdate) -> BookOutcome:
        """Apply ``update``; the outcome says what to publish and whether to resync."""
        book = self.book(update.symbol)
        out = BookOutcome()
        if book is None:  # the adapter has no book rules for it: pass it through
            out.events.append(update)
            return out
        spec = book.spec
        is_reset = (
            not update.is_snapshot
            and spec.reset_sequence is not None
            and update.sequence == spec.reset_sequence
        )
        if update.is_snapshot or is_reset:
            book.replace(update)
            book.sequence = update.sequence
            if not self._checksum_ok(book, update, out):
                return out
            if book.status is not BookStatus.VALID:
                self._resynced(book, update, out, "venue reset" if is_reset else "snapshot")
            book.status = BookStatus.VALID
            out.events.append(update)
            self._quote(book, update, out)
            return out
        if book.status is not BookStatus.VALID:
            book.discarded += 1
            return out
        if spec.sequenced and book.sequence is not None:
            expected = book.sequence + 1
            if update.sequence != expected:
                missing = update.sequence - expected
                detail = f"expected sequence {expected}, received {update.sequence}"
                out.events.append(
                    self._event(update.ts_recv, update.symbol, "gap", detail, float(missing))
                )
                self._invalidate(book, update, out, f"gap: {detail}")
                return out
        book.apply(update)
        book.sequence = update.sequence
        if not self._checksum_ok(book, update, out):
            return out
        out.events.append(update)
        self._quote(book, update, out)
        return out

    def _checksum_ok(self, book: Book, update: BookUpdate, out: BookOutcome) -> bool:
        checksum = book.spec.checksum
        if checksum is None or update.checksum is None:
            return True
        computed = checksum(book.sorted_asks(10), book.sorted_bids(10))
        if computed == update.checksum:
            return True
        detail = f"venue checksum {update.checksum}, computed {computed}"
        out.events.append(self._event(update.ts_recv, update.symbol, "checksum_mismatch", detail))
        self._invalidate(book, update, out, f"checksum mismatch: {detail}")
        return False

    def _invalidate(self, book: Book, update: BookUpdate, out: BookOutcome, why: str) -> None:
        book.status = BookStatus.INVALID
        book.invalid_since_ns = update.ts_recv
        book.discarded = 0
        book.top = None
        out.events.append(self._event(update.ts_recv, update.symbol, "book_invalid", why))
        out.resync = True

    def _resynced(self, book: Book, update: BookUpdate, out: BookOutcome, how: str) -> None:
        if book.invalid_since_ns is None:
            return
        seconds = (update.ts_recv - book.invalid_since_ns) / NS_PER_SECOND
        detail = f"{how} after {seconds:.3f} s invalid; {book.discarded} deltas discarded"
        out.events.append(self._event(update.ts_recv, update.symbol, "resync", detail, seconds))
        book.invalid_since_ns = None
        book.discarded = 0

    def _quote(self, book: Book, update: BookUpdate, out: BookOutcome) -> None:
        if not book.spec.derive_quotes:
            return
        best = book.best()
        if best is None:
            return
        bid, ask = best
        top = (bid.price, bid.size, ask.price, ask.size)
        if top == book.top:
            return
        book.top = top
        out.events.append(
            Quote(
                ts_event=update.ts_event,
                ts_recv=update.ts_recv,
                venue=update.venue,
                instrument_id=update.instrument_id,
                symbol=update.symbol,
                bid_px=bid.price,
                bid_sz=bid.size,
                ask_px=ask.price,
                ask_sz=ask.size,
            )
        )

    def _event(
        self, ts: int, symbol: str, kind: FeedEventKind, detail: str, value: float = 0.0
    ) -> FeedEvent:
        return feed_event(self.venue, ts, f"book:{symbol}", kind, detail, value)
