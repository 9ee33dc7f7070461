"""Keeping ``basis_1s`` (the one-second min/max rollup of ``basis`` the charts read) in step
with ``basis``: every writer of ``basis`` recomputes the whole seconds it touched, from
``basis``, in the same transaction (sql/queries/basis_1s_delete.sql, basis_1s_insert.sql).

Recomputing whole seconds from ``basis`` (never merging into the stored row) makes it
right when a second's rows arrive over two steps, and the shared transaction keeps the
basis job's exactly-once and crash behaviour: both tables commit together or neither.
"""

from __future__ import annotations

import polars as pl

from divergence.clock import NS_PER_SECOND
from divergence.store.db import Store


def touched_seconds(rows: pl.DataFrame) -> pl.DataFrame:
    """The distinct (underlying, second) of basis ``rows``; second in epoch ns."""
    stamp = pl.col("ts_event").cast(pl.Int64)
    return (
        rows.select("underlying", second=stamp - stamp.mod(NS_PER_SECOND))
        .unique()
        .sort("underlying", "second")
    )


def refresh_seconds(store: Store, rows: pl.DataFrame) -> None:
    """Recompute basis_1s for the (underlying, second) pairs of freshly appended ``rows``.

    Call inside the transaction that appended them."""
    if rows.is_empty():
        return
    keys = touched_seconds(rows)
    seconds: list[int] = keys["second"].to_list()
    _refresh(
        store,
        {
            "lo": min(seconds),
            "hi": max(seconds) + NS_PER_SECOND,
            "underlyings": keys["underlying"].to_list(),
            "seconds": seconds,
        },
    )


def refresh_range(store: Store, start_ns: int, end_ns: int) -> None:
    """Recompute basis_1s, every underlying, for the whole seconds that hold any ts_event in
    ``[start_ns, end_ns]`` (a backfill's inclusive range). Call inside its transaction."""
    lo = start_ns - start_ns % NS_PER_SECOND
    hi = end_ns - end_ns % NS_PER_SECOND + NS_PER_SECOND
    _refresh(store, {"lo": lo, "hi": hi, "underlyings": None, "seconds": None})


def _refresh(store: Store, params: dict[str, object]) -> None:
    store.execute(store.sql_text("basis_1s_delete"), params)
    store.execute(store.sql_text("basis_1s_insert"), params)
