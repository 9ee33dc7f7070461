"""Turn batches of events into polars frames shaped like the store's tables (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from divergence.events import (
    BookUpdate,
    Event,
    FeedEvent,
    FxRate,
    PoolState,
    Quote,
    SessionState,
    Trade,
)
from divergence.quarantine import QuarantineRecord

DEC = pl.Decimal(38, 18)
TS = pl.Datetime("ns")

TABLE_OF: dict[type, str] = {
    Quote: "quotes",
    Trade: "trades",
    BookUpdate: "book_levels",
    PoolState: "pool_states",
    FxRate: "fx_rates",
    SessionState: "session_states",
    FeedEvent: "feed_events",
}


def _ts(values: list[int]) -> pl.Series:
    return pl.Series(values, dtype=pl.Int64).cast(TS)


def _frame(columns: dict[str, list[Any]], types: dict[str, Any]) -> pl.DataFrame:
    series = []
    for name, values in columns.items():
        kind = types.get(name, pl.String)
        if kind is TS:
            series.append(_ts(values).alias(name))
        else:
            series.append(pl.Series(name, values, dtype=kind))
    return pl.DataFrame(series)


_TIMES = ("ts_event", "ts_recv")
_TYPES: dict[str, Any] = {
    "ts_event": TS,
    "ts_recv": TS,
    "ts_ingest": TS,
    "ingest_seq": pl.Int64,
    "bid_px": DEC,
    "bid_sz": DEC,
    "ask_px": DEC,
    "ask_sz": DEC,
    "price": DEC,
    "size": DEC,
    "reserve_base": DEC,
    "reserve_quote": DEC,
    "liquidity": DEC,
    "fee_bps": DEC,
    "rate_usd": DEC,
    "is_snapshot": pl.Boolean,
    "sequence": pl.Int64,
    "tick": pl.Int64,
    "block_number": pl.Int64,
    "log_index": pl.Int64,
    "removed": pl.Boolean,
    "value": pl.Float64,
}


def _columns(
    events: Sequence[Any], fields: tuple[str, ...], ts_ingest: int, seq: list[int]
) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {f: [getattr(e, f) for e in events] for f in fields}
    cols["ts_ingest"] = [ts_ingest] * len(events)
    cols["ingest_seq"] = seq
    return cols


def frame_for(
    kind: type, events: Sequence[Event], *, ts_ingest: int, first_seq: int
) -> pl.DataFrame:
    """The table rows for a batch of events of one type, numbered from ``first_seq``."""
    if kind is BookUpdate:
        return _book_frame(events, ts_ingest=ts_ingest, first_seq=first_seq)
    fields = _FIELDS[kind]
    seq = list(range(first_seq, first_seq + len(events)))
    frame = _frame(_columns(events, fields, ts_ingest, seq), _TYPES)
    return frame.rename({"ts_event": "ts"}) if kind is FeedEvent else frame


_FIELDS: dict[type, tuple[str, ...]] = {
    Quote: (
        *_TIMES,
        "venue",
        "instrument_id",
        "symbol",
        "bid_px",
        "bid_sz",
        "ask_px",
        "ask_sz",
    ),
    Trade: (*_TIMES, "venue", "instrument_id", "symbol", "price", "size", "side", "trade_id"),
    PoolState: (
        *_TIMES,
        "venue",
        "instrument_id",
        "symbol",
        "pool",
        "reserve_base",
        "reserve_quote",
        "price",
        "liquidity",
        "fee_bps",
        "tick",
        "block_number",
        "log_index",
        "block_hash",
        "removed",
    ),
    FxRate: (*_TIMES, "venue", "currency", "rate_usd"),
    SessionState: (*_TIMES, "venue", "underlying", "session"),
    FeedEvent: ("ts_event", "venue", "stream", "event", "detail", "value"),
}


def _book_frame(events: Sequence[Any], *, ts_ingest: int, first_seq: int) -> pl.DataFrame:
    rows: dict[str, list[Any]] = {
        k: []
        for k in (
            "ts_event",
            "ts_recv",
            "venue",
            "instrument_id",
            "symbol",
            "is_snapshot",
            "sequence",
            "side",
            "price",
            "size",
            "ingest_seq",
        )
    }
    for offset, event in enumerate(events):
        for side, levels in (("bid", event.bids), ("ask", event.asks)):
            for level in levels:
                for key in (
                    "ts_event",
                    "ts_recv",
                    "venue",
                    "instrument_id",
                    "symbol",
                    "is_snapshot",
                    "sequence",
                ):
                    rows[key].append(getattr(event, key))
                rows["side"].append(side)
                rows["price"].append(level.price)
                rows["size"].append(level.size)
                rows["ingest_seq"].append(first_seq + offset)
    rows["ts_ingest"] = [ts_ingest] * len(rows["side"])
    return _frame(rows, _TYPES)


def quarantine_frame(
    records: Sequence[QuarantineRecord], *, ts_ingest: int, first_seq: int
) -> pl.DataFrame:
    fields = ("ts_recv", "venue", "reason", "detail", "raw")
    seq = list(range(first_seq, first_seq + len(records)))
    return _frame(_columns(records, fields, ts_ingest, seq), _TYPES)
