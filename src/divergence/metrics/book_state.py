"""Order books rebuilt from the stored updates, as of sample times (docs/metrics.md, Depth).

The store's ``book_levels`` table (sql/schema/0003_book_levels.sql) holds what the live
:class:`~divergence.feeds.books.BookKeeper` accepted: snapshots and the deltas applied to
a VALID book, one row per (message, side, price level). :func:`compute_book_state`
replays them the way the keeper does, per book (venue, instrument_id):

1. a snapshot message (``is_snapshot``), or a delta whose ``sequence`` is the venue's
   ``reset_sequence`` (Bybit ``u == 1``), replaces the whole book; size-0 rows are skipped;
2. a delta applies row by row (size 0 deletes the level, otherwise sets it); then each
   side is truncated to the venue's book depth (venues send no delete for levels that fall
   out of range), exactly as the keeper truncates after every message;
3. a book is *unknown* until its first snapshot (or ``seed``), and again from an
   invalidation (a ``book_invalid`` feed event: gap, checksum mismatch, reconnect) until
   the next snapshot: unknown books have no rows.

Messages apply in ``(ts_event, ingest_seq)`` order (the keeper uses arrival order; they
agree while a book's venue timestamps do not go backwards). A sample at ``t`` sees every
message with ``ts_event <= t``. The output holds each known book's best ``max_levels``
levels per side at each sample, in raw venue units; :func:`to_usd_per_share` converts
them into :data:`~divergence.metrics.schemas.BOOK_LEVELS_SCHEMA`.

The replay is sequential (a truncated level never comes back unless the venue resends
it, so the state after a message depends on the whole path since the last snapshot),
which polars expressions cannot express; it runs as one small pure Python kernel,
:func:`replay_books`, inside :meth:`polars.LazyFrame.map_batches`, so the function stays
LazyFrame to LazyFrame.

**Window.** A book's state depends on every message since its last snapshot, which can
be hours old. The live job therefore passes the state it computed at the end of the
previous batch as ``seed`` (a snapshot at its ``ts_event``), and only the updates after
it: :data:`BOOK_STATE_LOOKBACK_NS` is 0 *given the seed*. The seed must be uncapped
(``max_levels`` at least the venue depth), otherwise it drops levels a later message
may uncover.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import polars as pl

from divergence.errors import ConfigError
from divergence.metrics.schemas import BOOK_LEVELS_SCHEMA

TS: pl.DataType = pl.Datetime("ns")

BOOK_STATE_LOOKBACK_NS = 0
"""Input window before a sample, given ``seed`` = the state at the window start (above)."""

BOOK_UPDATES_SCHEMA = pl.Schema(
    {
        "ts_event": TS,
        "venue": pl.String(),
        "instrument_id": pl.String(),
        "is_snapshot": pl.Boolean(),
        "sequence": pl.Int64(),
        "side": pl.String(),
        "price": pl.Float64(),
        "size": pl.Float64(),
        "ingest_seq": pl.Int64(),
    }
)
"""The ``book_levels`` columns the replay reads (prices and sizes cast to Float64)."""
BOOK_SAMPLES_SCHEMA = pl.Schema(
    {"ts_event": TS, "venue": pl.String(), "instrument_id": pl.String()}
)
"""When to read which book; also the schema of the invalidations (``book_invalid`` times)."""
BOOK_STATE_SCHEMA = pl.Schema(
    {
        "ts_event": TS,
        "venue": pl.String(),
        "instrument_id": pl.String(),
        "side": pl.String(),
        "level": pl.Int32(),
        "price": pl.Float64(),
        "size": pl.Float64(),
    }
)
"""One row per level of a known book at a sample: ``level`` 1 is the best price."""

_UPDATE, _SEED, _INVALID, _SAMPLE = 0, 1, 2, 3
"""Kinds of replay rows; at one ``ts_event`` they apply in this order."""
_KERNEL_SCHEMA = pl.Schema({**BOOK_STATE_SCHEMA, "ts_event": pl.Int64()})
_EVENT_SCHEMA = pl.Schema(
    {
        "venue": pl.String(),
        "instrument_id": pl.String(),
        "ts_event": TS,
        "kind": pl.Int8(),
        "ingest_seq": pl.Int64(),
        "is_snapshot": pl.Boolean(),
        "sequence": pl.Int64(),
        "side": pl.String(),
        "price": pl.Float64(),
        "size": pl.Float64(),
    }
)


@dataclass(frozen=True)
class BookStateParams:
    """How to replay and cap the books.

    - ``max_levels``: levels per side in the output (default 50, Bybit's spot depth);
    - ``venue_depth``: per venue, the keeper's ``BookSpec.depth``, to truncate after every
      message like the keeper (a venue absent here is not truncated);
    - ``reset_sequences``: per venue, ``BookSpec.reset_sequence`` (Bybit: 1).
    """

    max_levels: int = 50
    venue_depth: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    reset_sequences: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        limits = {"book_state.max_levels": self.max_levels}
        limits.update({f"book_state.venue_depth.{v}": d for v, d in self.venue_depth.items()})
        for key, value in limits.items():
            if value <= 0:
                raise ConfigError(f"must be positive (found {value})", key=key, source="params")


def compute_book_state(
    levels: pl.LazyFrame,
    samples: pl.LazyFrame,
    *,
    params: BookStateParams,
    seed: pl.LazyFrame | None = None,
    invalidations: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    """Each known book's levels (``BOOK_STATE_SCHEMA``) at each of its samples.

    ``levels`` are ``book_levels`` rows (``BOOK_UPDATES_SCHEMA``; extra columns ignored),
    ``samples`` and ``invalidations`` follow ``BOOK_SAMPLES_SCHEMA``, ``seed`` is an
    earlier output of this function (each book's rows at one ``ts_event`` act as a
    snapshot then). Sorted by ts_event, venue, instrument_id, side, level.
    """
    parts = [_events(levels, _UPDATE)]
    if seed is not None:
        parts.append(_events(seed.with_columns(pl.lit(True).alias("is_snapshot")), _SEED))
    if invalidations is not None:
        parts.append(_events(invalidations, _INVALID))
    parts.append(_events(samples, _SAMPLE))
    events = pl.concat(parts, how="vertical").sort(
        ["venue", "instrument_id", "ts_event", "kind", "ingest_seq"], maintain_order=True
    )
    return (
        events.with_columns(pl.col("ts_event").cast(pl.Int64))
        .map_batches(lambda frame: replay_books(frame, params=params), schema=_KERNEL_SCHEMA)
        .with_columns(pl.col("ts_event").cast(TS))
        .sort(["ts_event", "venue", "instrument_id", "side", "level"])
    )


def _events(frame: pl.LazyFrame, kind: int) -> pl.LazyFrame:
    """``frame`` as replay rows of ``kind``; columns it lacks are null."""
    names = frame.collect_schema().names()
    return frame.select(
        pl.col(name).cast(dtype) if name in names else pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in _EVENT_SCHEMA.items()
        if name != "kind"
    ).with_columns(pl.lit(kind, dtype=pl.Int8).alias("kind"))


@dataclass
class _Book:
    """One book during the replay: ``None`` sides while the book is unknown."""

    bids: dict[float, float] | None = None
    asks: dict[float, float] | None = None

    def replace(self) -> None:
        self.bids, self.asks = {}, {}

    def forget(self) -> None:
        self.bids, self.asks = None, None

    def apply(self, side: str, price: float, size: float) -> None:
        levels = self.bids if side == "bid" else self.asks if side == "ask" else None
        if levels is None:
            return
        if size == 0:
            levels.pop(price, None)
        else:
            levels[price] = size

    def truncate(self, depth: int | None) -> None:
        if depth is None or self.bids is None or self.asks is None:
            return
        if len(self.bids) > depth:
            self.bids = {p: self.bids[p] for p in sorted(self.bids, reverse=True)[:depth]}
        if len(self.asks) > depth:
            self.asks = {p: self.asks[p] for p in sorted(self.asks)[:depth]}

    def top(self, max_levels: int) -> list[tuple[str, int, float, float]]:
        """(side, level, price, size) rows, best first, or none while unknown."""
        if self.bids is None or self.asks is None:
            return []
        bids = sorted(self.bids, reverse=True)[:max_levels]
        asks = sorted(self.asks)[:max_levels]
        return [("bid", i + 1, p, self.bids[p]) for i, p in enumerate(bids)] + [
            ("ask", i + 1, p, self.asks[p]) for i, p in enumerate(asks)
        ]


def replay_books(events: pl.DataFrame, *, params: BookStateParams) -> pl.DataFrame:
    """The pure replay kernel: sorted replay rows (``_EVENT_SCHEMA``, ``ts_event`` as
    Int64 ns) to book states (``BOOK_STATE_SCHEMA``, ``ts_event`` as Int64 ns)."""
    out: list[tuple[object, ...]] = []
    book, key, message, replacing = _Book(), None, None, False
    rows = events.select(_EVENT_SCHEMA.names()).iter_rows()
    for venue, instrument, ts, kind, seq, snapshot, sequence, side, price, size in rows:
        if (venue, instrument) != key:
            book, key, message = _Book(), (venue, instrument), None
        this = (ts, kind, seq) if kind in (_UPDATE, _SEED) else None
        if this != message:  # the previous message ended: truncate like the keeper
            book.truncate(params.venue_depth.get(venue))
            message = this
            reset = params.reset_sequences.get(venue)
            replacing = this is not None and (
                bool(snapshot) or (reset is not None and sequence == reset)
            )
            if replacing:
                book.replace()
        if kind == _SAMPLE:
            out.extend((ts, venue, instrument, *level) for level in book.top(params.max_levels))
        elif kind == _INVALID:
            book.forget()
        elif not (replacing and size == 0):  # a snapshot skips size-0 rows, never deletes
            book.apply(side, price, size)
    return pl.DataFrame(out, schema=_KERNEL_SCHEMA, orient="row")


def to_usd_per_share(levels: pl.LazyFrame) -> pl.LazyFrame:
    """Raw levels to ``BOOK_LEVELS_SCHEMA``: USD per underlying share and shares.

    ``levels`` carry the ``BOOK_LEVELS_SCHEMA`` columns in venue units (price in quote
    currency per token unit, size in token units) plus ``fx_rate`` (USD per unit of the
    quote currency, 1 for USD) and ``k`` (shares per token unit as quoted; 1 for
    rebasing tokens)::

        price_usd_per_share = price × fx_rate / k        size_shares = size × k
    """
    return levels.with_columns(
        (pl.col("price") * pl.col("fx_rate") / pl.col("k")).alias("price"),
        (pl.col("size") * pl.col("k")).alias("size"),
    ).select(pl.col(name).cast(dtype) for name, dtype in BOOK_LEVELS_SCHEMA.items())
