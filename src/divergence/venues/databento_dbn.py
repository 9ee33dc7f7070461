"""Databento DBN files as reference data: a pure decoder from DBN records to events.

Design. Databento is a *reference* source read from files, not a websocket feed: there
is no network to Databento here, so nothing streams. A catalog venue with
``kind = "reference"`` and ``adapter = "databento"`` (one per dataset, e.g.
``databento-xnas`` for ``XNAS.ITCH``) names where the rows go, and each
``[[reference]]`` on it maps a Databento raw symbol (``symbol = "NVDA"``) to a catalog
instrument. The ``databento`` adapter name is *not* registered in the
``divergence.adapters`` entry point group: a FeedSession can never stream it, and
``divergence load-dbn`` (:mod:`divergence.cli_dbn`) is the only way in. It writes
through the same bus and writer as a live feed, into the same ``quotes`` and
``trades`` tables.

What is read (schemas ``mbp-1``, ``tbbo``, ``bbo-1s``, ``bbo-1m``, ``trades``; a ``.dbn``
or ``.dbn.zst`` file, DBN v1 to v3, upgraded on decode):

- Prices are int64 in units of 1e-9, turned into an exact ``Decimal`` with
  ``Decimal(px).scaleb(-9)``, never through a float. ``UNDEF_PRICE`` (2^63 - 1) is an
  empty side, never 0.
- Both timestamps are kept: ``ts_event`` is the matching-engine receive time,
  ``ts_recv`` the Databento capture-server receive time (our "receive" time for these
  rows). ``bbo-*`` records carry ``ts_event`` = UNDEF (2^64 - 1): ``ts_recv``, the
  interval end, is used as ``ts_event`` and counted in ``ts_event_from_recv``.
- A **Quote** comes from ``levels[0]`` when both sides are defined; a one-sided or empty
  book is skipped with a counted reason. ``mbp-1`` records are book events and the level
  is the book *after* the event: a quote is emitted only on a record with ``F_LAST``
  (0x80), so the records of one event coalesce into one quote. ``tbbo`` levels are the
  book *before* the trade: one quote per (instrument, ``ts_event``). ``bbo-*``: one per
  interval record.
- A **Trade** comes from every ``trades`` and ``tbbo`` record and every ``mbp-1`` record
  with action ``T``. ``side`` is the aggressor's (Databento: A = sell aggressor, B = buy
  aggressor, N = unspecified). ``trade_id`` is
  ``"<publisher_id>-<instrument_id>-<ts_recv>-<sequence>"`` (the same trade has the
  same id in ``trades``, ``tbbo`` and ``mbp-1``), with ``-<n>`` appended if a record
  repeats the previous one's id.
- Quarantined, with a reason: ``F_BAD_TS_RECV`` (0x08) records, book quotes flagged
  ``F_MAYBE_BAD_BOOK`` (0x04), and events that fail :func:`check_event`.
- Symbols: the metadata's mappings (raw symbol -> instrument_id per UTC date, looked up
  by the date of ``ts_recv``). Records whose raw symbol has no reference on the venue
  are skipped and counted by symbol: a file may hold more symbols than the catalog.

Databento reference data (JSON Lines) is parsed too: corporate actions and adjustment
factors, as small frozen dataclasses with exact decimals, for split adjustments.
"""

from __future__ import annotations

import io
import itertools
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, TypeVar

import databento_dbn as dbn
import zstandard

from divergence.catalog import Catalog, Reference
from divergence.errors import ConfigError, QuarantineError
from divergence.events import Event, Quote, Side, Trade
from divergence.quarantine import QuarantineRecord, check_event, record_for

log = logging.getLogger(__name__)
T = TypeVar("T")

ADAPTER = "databento"
SCHEMAS = ("mbp-1", "tbbo", "bbo-1s", "bbo-1m", "trades")
PRICE_EXPONENT = -9
UNDEF_PRICE: int = dbn.UNDEF_PRICE
UNDEF_TIMESTAMP: int = dbn.UNDEF_TIMESTAMP
F_LAST: int = dbn.F_LAST
F_BAD_TS_RECV: int = dbn.F_BAD_TS_RECV
F_MAYBE_BAD_BOOK: int = dbn.F_MAYBE_BAD_BOOK
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
CHUNK_BYTES = 1 << 20
_MAX_TS = 2**63 - 1
_SIDES: dict[str, Side] = {"A": "sell", "B": "buy", "N": "unknown"}
_RECORD_TYPE: dict[str, type[Any]] = {
    "mbp-1": dbn.MBP1Msg,
    "tbbo": dbn.MBP1Msg,
    "bbo-1s": dbn.BBOMsg,
    "bbo-1m": dbn.BBOMsg,
    "trades": dbn.TradeMsg,
}


@dataclass
class DbnStats:
    """What one file held and what became of each record."""

    source: str
    venue: str
    dataset: str = ""
    schema: str = ""
    records: int = 0
    quotes: int = 0
    trades: int = 0
    ts_event_from_recv: int = 0
    """Records whose ts_event was UNDEF (bbo-*) and took ts_recv, the interval end."""
    skipped: Counter[str] = field(default_factory=Counter)
    quarantined: Counter[str] = field(default_factory=Counter)
    unmapped: Counter[str] = field(default_factory=Counter)
    """Skipped records by raw symbol (or ``instrument_id=N`` when the file has no mapping)."""


@dataclass
class DbnBatch:
    """The events and quarantined records decoded from one chunk."""

    events: list[Event] = field(default_factory=list)
    rejects: list[QuarantineRecord] = field(default_factory=list)


@dataclass(frozen=True)
class DbnRead:
    """A whole file decoded: its events, quarantined records and counts."""

    stats: DbnStats
    events: list[Event]
    rejects: list[QuarantineRecord]

    @property
    def quotes(self) -> list[Quote]:
        return [e for e in self.events if isinstance(e, Quote)]

    @property
    def trades(self) -> list[Trade]:
        return [e for e in self.events if isinstance(e, Trade)]


_VENUE = {"key": "venue", "source": "catalog"}


def databento_venue(venue: str, catalog: Catalog) -> tuple[Reference, ...]:
    """The references on ``venue``, after checking it is a Databento reference venue."""
    found = catalog.venues.get(venue)
    if found is None:
        known = ", ".join(v.id for v in catalog.venue if v.adapter == ADAPTER) or "none"
        raise ConfigError(f"unknown venue {venue!r} (databento venues: {known})", **_VENUE)
    if found.adapter != ADAPTER or found.kind != "reference":
        raise ConfigError(
            f"venue {venue!r} has adapter {found.adapter!r} and kind {found.kind!r}; "
            f'DBN files load into a venue with adapter = "{ADAPTER}" and kind = "reference"',
            **_VENUE,
        )
    return catalog.references_on(venue)


class DbnDecoder:
    """DBN bytes in (any chunking, uncompressed), canonical events out; no I/O."""

    def __init__(self, *, venue: str, catalog: Catalog, source: str = "<bytes>") -> None:
        self._refs = {r.symbol: r for r in databento_venue(venue, catalog)}
        self._venue = venue
        self._source = source
        self._decoder = dbn.DBNDecoder()  # default policy: upgrade v1/v2 records to v3
        self._head = b""
        self._symbols: dict[int, list[tuple[date, date, str]]] | None = None
        self._day_cache: dict[tuple[int, int], str | None] = {}
        self._quote_event: dict[int, int] = {}
        self._trade_id: dict[int, tuple[str, int]] = {}
        self.stats = DbnStats(source=source, venue=venue)

    def feed(self, data: bytes) -> DbnBatch:
        """Decode the complete records in ``data`` plus what earlier calls left over."""
        if len(self._head) < 3:
            self._head += data[: 3 - len(self._head)]
            if len(self._head) == 3 and self._head != b"DBN":
                raise self._error(f"expected a DBN file (starts with b'DBN'), found {self._head!r}")
        self._decoder.write(data)
        try:
            records = self._decoder.decode()
        except dbn.DBNError as exc:
            raise self._error(f"cannot decode DBN: {exc}") from exc
        batch = DbnBatch()
        for rec in records:
            if isinstance(rec, dbn.Metadata):
                self._start(rec)
            else:
                self._on_record(rec, batch)
        return batch

    @property
    def has_metadata(self) -> bool:
        """Whether the header was decoded (and its schema and symbology accepted)."""
        return self._symbols is not None

    def finish(self) -> DbnStats:
        """Check the input ended cleanly (metadata seen, no partial record) and return counts."""
        if self._symbols is None:
            raise self._error("no DBN metadata: empty or truncated file")
        if self._decoder.buffer():
            raise self._error(
                f"truncated: {len(self._decoder.buffer())} bytes after the last record"
            )
        log.debug(
            "dbn decoded",
            extra={"venue": self._venue, "source": self._source, "records": self.stats.records},
        )
        return self.stats

    def _error(self, message: str) -> ConfigError:
        return ConfigError(message, key="FILE", source=self._source)

    def _start(self, metadata: dbn.Metadata) -> None:
        schema = metadata.schema
        if schema not in SCHEMAS:
            raise self._error(f"schema must be one of {', '.join(SCHEMAS)}, found {schema}")
        stype_in, stype_out = str(metadata.stype_in), str(metadata.stype_out)
        if stype_in not in ("raw_symbol", "None") or stype_out != "instrument_id":
            raise self._error(
                f"symbology must map raw_symbol to instrument_id, found {stype_in} to {stype_out}"
            )
        self.stats.dataset, self.stats.schema = metadata.dataset, str(schema)
        symbols: dict[int, list[tuple[date, date, str]]] = defaultdict(list)
        for raw_symbol, intervals in metadata.mappings.items():
            for interval in intervals:
                if interval["symbol"].isdigit():
                    symbols[int(interval["symbol"])].append(
                        (interval["start_date"], interval["end_date"], raw_symbol)
                    )
        self._symbols = dict(symbols)

    def _raw_symbol(self, instrument_id: int, ts: int) -> str | None:
        key = (instrument_id, ts // 86_400_000_000_000)
        if key not in self._day_cache:
            day = datetime.fromtimestamp(key[1] * 86_400, tz=UTC).date()
            spans = (self._symbols or {}).get(instrument_id, [])
            self._day_cache[key] = next((s for lo, hi, s in spans if lo <= day < hi), None)
        return self._day_cache[key]

    def _on_record(self, rec: Any, batch: DbnBatch) -> None:
        stats = self.stats
        stats.records += 1
        if not isinstance(rec, _RECORD_TYPE[stats.schema]):
            stats.skipped[f"record type {type(rec).__name__}"] += 1
            return
        if rec.flags & F_BAD_TS_RECV or rec.ts_recv > _MAX_TS:
            self._reject(QuarantineError("bad ts_recv", detail=f"flags={rec.flags}"), rec, batch)
            return
        symbol = self._raw_symbol(rec.instrument_id, rec.ts_recv)
        ref = self._refs.get(symbol) if symbol is not None else None
        if ref is None:
            stats.skipped["unmapped symbol"] += 1
            stats.unmapped[symbol or f"instrument_id={rec.instrument_id}"] += 1
            return
        ts_event = rec.ts_event
        if ts_event == UNDEF_TIMESTAMP:
            ts_event = rec.ts_recv
            stats.ts_event_from_recv += 1
        if stats.schema == "tbbo":
            self._book(rec, ref, ts_event, batch)
        if stats.schema in ("trades", "tbbo") or (stats.schema == "mbp-1" and rec.action == "T"):
            self._emit(self._trade(rec, ref, ts_event), rec, batch)
        if stats.schema in ("mbp-1", "bbo-1s", "bbo-1m"):
            self._book(rec, ref, ts_event, batch)

    def _book(self, rec: Any, ref: Reference, ts_event: int, batch: DbnBatch) -> None:
        schema = self.stats.schema
        if schema == "mbp-1" and not rec.flags & F_LAST:
            self.stats.skipped["not the last record of its event (coalesced)"] += 1
            return
        if schema == "tbbo":
            if self._quote_event.get(rec.instrument_id) == ts_event:
                self.stats.skipped["same event as the previous tbbo quote"] += 1
                return
            self._quote_event[rec.instrument_id] = ts_event
        top = rec.levels[0]
        if top.bid_px == UNDEF_PRICE or top.ask_px == UNDEF_PRICE:
            missing = [
                s for s, px in (("bid", top.bid_px), ("ask", top.ask_px)) if px == UNDEF_PRICE
            ]
            self.stats.skipped[f"no two-sided quote (no {' and no '.join(missing)})"] += 1
            return
        if rec.flags & F_MAYBE_BAD_BOOK:
            self._reject(QuarantineError("maybe bad book", detail=f"flags={rec.flags}"), rec, batch)
            return
        quote = Quote(
            ts_event=ts_event,
            ts_recv=rec.ts_recv,
            venue=self._venue,
            instrument_id=ref.id,
            symbol=ref.symbol,
            bid_px=price(top.bid_px),
            bid_sz=Decimal(top.bid_sz),
            ask_px=price(top.ask_px),
            ask_sz=Decimal(top.ask_sz),
        )
        self._emit(quote, rec, batch)

    def _trade(self, rec: Any, ref: Reference, ts_event: int) -> Trade:
        trade_id = f"{rec.publisher_id}-{rec.instrument_id}-{rec.ts_recv}-{rec.sequence}"
        last, repeats = self._trade_id.get(rec.instrument_id, ("", 0))
        repeats = repeats + 1 if last == trade_id else 0
        self._trade_id[rec.instrument_id] = (trade_id, repeats)
        return Trade(
            ts_event=ts_event,
            ts_recv=rec.ts_recv,
            venue=self._venue,
            instrument_id=ref.id,
            symbol=ref.symbol,
            price=price(rec.price),
            size=Decimal(rec.size),
            side=_SIDES.get(str(rec.side), "unknown"),
            trade_id=f"{trade_id}-{repeats}" if repeats else trade_id,
        )

    def _emit(self, event: Quote | Trade, rec: Any, batch: DbnBatch) -> None:
        try:
            check_event(event)
        except QuarantineError as exc:
            self._reject(exc, rec, batch)
            return
        batch.events.append(event)
        if isinstance(event, Quote):
            self.stats.quotes += 1
        else:
            self.stats.trades += 1

    def _reject(self, error: QuarantineError, rec: Any, batch: DbnBatch) -> None:
        self.stats.quarantined[error.reason] += 1
        ts_recv = rec.ts_recv if rec.ts_recv <= _MAX_TS else min(rec.ts_event, _MAX_TS)
        batch.rejects.append(record_for(error, raw=repr(rec), venue=self._venue, ts_recv=ts_recv))


def price(fixed: int) -> Decimal:
    """A DBN fixed-point price (1 unit = 1e-9) as an exact Decimal; UNDEF is an error."""
    if fixed == UNDEF_PRICE:
        raise QuarantineError("undefined price", detail="UNDEF_PRICE")
    return Decimal(fixed).scaleb(PRICE_EXPONENT)


def dbn_chunks(
    stream: IO[bytes], *, source: str = "<stream>", chunk_bytes: int = CHUNK_BYTES
) -> Iterator[bytes]:
    """Uncompressed DBN bytes from a stream of ``.dbn`` or ``.dbn.zst`` (one or more frames)."""
    first = stream.read(chunk_bytes)
    chunks = itertools.chain([first], iter(lambda: stream.read(chunk_bytes), b""))
    if first.startswith(ZSTD_MAGIC):
        yield from _unzstd(chunks, source)
    else:
        yield from chunks


def _unzstd(chunks: Iterable[bytes], source: str) -> Iterator[bytes]:
    zstd = zstandard.ZstdDecompressor()
    frame, started = zstd.decompressobj(), False
    try:
        for chunk in chunks:
            while chunk:
                out, started = frame.decompress(chunk), True
                if out:
                    yield out
                if not frame.eof:
                    break
                chunk, frame, started = frame.unused_data, zstd.decompressobj(), False
    except zstandard.ZstdError as exc:
        raise ConfigError(f"bad zstd data: {exc}", key="FILE", source=source) from exc
    if started:
        raise ConfigError("truncated zstd frame", key="FILE", source=source)


def read_dbn(source: Path | bytes, *, venue: str, catalog: Catalog) -> DbnRead:
    """Decode a whole ``.dbn`` / ``.dbn.zst`` file (or its bytes) into events, in memory.

    For large files use :class:`DbnDecoder` with :func:`dbn_chunks` batch by batch, as
    ``divergence load-dbn`` does.
    """
    name = str(source) if isinstance(source, Path) else "<bytes>"
    decoder = DbnDecoder(venue=venue, catalog=catalog, source=name)
    events: list[Event] = []
    rejects: list[QuarantineRecord] = []
    with source.open("rb") if isinstance(source, Path) else io.BytesIO(source) as stream:
        for chunk in dbn_chunks(stream, source=name):
            batch = decoder.feed(chunk)
            events += batch.events
            rejects += batch.rejects
    return DbnRead(stats=decoder.finish(), events=events, rejects=rejects)
