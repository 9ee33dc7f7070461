"""Exact backward as-of lookup of the reference for token rows, by binary search (issue #5).

For each token row ``(on = t, by = u)`` :func:`asof_reference` finds the latest reference
row of the same ``u`` with timestamp ``τ ≤ t`` (docs/metrics.md, "As-of join";
../shared/reference/metrics.md §1.3, "take the latest reference with τ ≤ t (backward)")
and returns its ``ref_ts``, ``ref_bid`` (``nbb``), ``ref_ask`` (``nbo``) and
``ref_mid = (nbb + nbo) / 2``. A reference older than ``max_age_ns`` (``t − τ >
max_age_ns``) is not joined: the row gets nulls, exactly like polars ``join_asof`` with
``strategy="backward"`` and ``tolerance=max_age_ns``.

Why not ``join_asof``: references arrive, and are stored, in time order per underlying,
and there are far fewer token rows (M) than reference rows (N). Each underlying's
references are one contiguous, sorted run, so a ``numpy.searchsorted`` of the token
timestamps in that run costs O(M log N) and reads only M rows of the reference columns,
where a join sorts or scans all N rows. The layout check is the only O(N) step: each
run holds only its key and has sorted timestamps, the rows between runs are sorted,
no nulls. It runs in the per-key tasks, with the searches, on :data:`THREADS` threads
(figures in docs/benchmarks.md).

Rules, all identical to ``join_asof(strategy="backward", by=by, tolerance=max_age_ns)``:

- **Ties**: several references of one key at the same timestamp: the last one in input
  order wins (``searchsorted(side="right") − 1``).
- **No earlier reference**, a key absent from the references, a null ``on`` or ``by`` in
  a token row: nulls. Null keys never match each other.
- **Age limit**: ``t − τ ≤ max_age_ns`` joins (inclusive), anything older is null.
- **Unsorted tokens** need nothing: the output keeps the token rows in input order.
- **Keys**: ``String``, ``Categorical`` or ``Enum`` (one type in both frames). A
  dictionary key is searched by its physical code, so its runs must come in ascending
  code order for the fast path.
- **References in another layout** (time order across keys, shuffled, nulls in
  ``by``/``on``): the kernel logs it at DEBUG and falls back to one hash ``group_by`` of
  the rows of the keys it needs, with a stable sort inside each group (nulls dropped).
  Exact, but it touches every row: over ten times the in-place lookup at 100M rows.
  Store or load references ordered by ``(by, on)`` to avoid it.

The kernel is eager: it takes and returns ``DataFrame``; a caller holding lazy frames
collects them first (the references only need ``by``, ``on``, ``nbb`` and ``nbo``).

**LOOKBACK**: a token row depends only on reference rows with ``τ ∈ [t − max_age_ns,
t]``, so a micro-batch needs references from ``batch_start − max_age_ns``:
:data:`ASOF_REFERENCE_LOOKBACK_NS` for the default age limit. It never looks forward.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import pairwise

import numpy as np
import numpy.typing as npt
import polars as pl

from divergence.clock import NS_PER_SECOND
from divergence.errors import BadRequestError
from divergence.metrics.schemas import REFERENCE_NBBO_SCHEMA, TS

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE_NS = 60 * NS_PER_SECOND
"""The longest ``max_staleness`` of metrics.md §1.3 (overnight, 60 s)."""
ASOF_REFERENCE_LOOKBACK_NS = DEFAULT_MAX_AGE_NS
"""Reference history :func:`asof_reference` needs before a batch, at the default age
limit; in general it is ``max_age_ns``."""

REFERENCE_VALUE_COLUMNS = ("nbb", "nbo")
ASOF_REFERENCE_SCHEMA = pl.Schema(
    {"ref_ts": TS, "ref_bid": pl.Float64(), "ref_ask": pl.Float64(), "ref_mid": pl.Float64()}
)
"""The columns :func:`asof_reference` appends to the token rows."""

IntArray = npt.NDArray[np.int64]
Key = str | int
"""A ``by`` value: the string, or the physical code of a Categorical or Enum."""
THREADS = 2
"""Worker threads of one lookup (numpy's search and polars' checks release the GIL)."""


@dataclass(frozen=True)
class ReferenceIndex:
    """References laid out for lookups.

    ``ts`` holds the timestamps (int64 ns) in ``(by, on)`` order; ``bounds`` maps each
    key to its ``[start, end)`` range in ``ts``; ``rows`` maps a position in ``ts`` to
    the reference row, or is None when the input already was in ``(by, on)`` order.
    """

    ts: pl.Series
    bounds: dict[Key, tuple[int, int]]
    rows: IntArray | None


def asof_reference(
    tokens: pl.DataFrame,
    references: pl.DataFrame,
    *,
    by: str = "underlying",
    on: str = "ts_event",
    max_age_ns: int = DEFAULT_MAX_AGE_NS,
) -> pl.DataFrame:
    """``tokens`` with :data:`ASOF_REFERENCE_SCHEMA` appended, rows in input order.

    ``references`` follows :data:`~divergence.metrics.schemas.REFERENCE_NBBO_SCHEMA` (USD
    per share; other columns are ignored). ``by`` is the key both frames share (String,
    Categorical or Enum), ``on`` their ``Datetime("ns")`` time column. Eager: collect lazy
    inputs first.
    """
    _check_values(tokens, references)
    rows = asof_rows(tokens, references, by=by, on=on, max_age_ns=max_age_ns)
    bid, ask = REFERENCE_VALUE_COLUMNS
    picked = references.select(
        pl.col(on).gather(rows).alias("ref_ts"),
        pl.col(bid).gather(rows).alias("ref_bid"),
        pl.col(ask).gather(rows).alias("ref_ask"),
    ).with_columns(((pl.col("ref_bid") + pl.col("ref_ask")) / 2).alias("ref_mid"))
    return tokens.hstack(picked.get_columns())


def asof_rows(
    tokens: pl.DataFrame,
    references: pl.DataFrame,
    *,
    by: str,
    on: str,
    max_age_ns: int,
) -> pl.Series:
    """Per token row, the row number (Int64) of its as-of reference, null when none.

    The lookup behind :func:`asof_reference`, for callers that want other reference
    columns: ``references[col].gather(asof_rows(...))``. The layout check runs in the
    per-key search tasks; if it fails, their results are dropped and the fallback runs.
    """
    _check_keys(tokens, references, by=by, on=on, max_age_ns=max_age_ns)
    groups = _token_groups(tokens, by=by, on=on)
    keys: list[Key] = groups[by].to_list()
    stamps = [s.to_numpy() for s in groups[on]]
    in_place = partial(_search_in_place, references, by=by, on=on, max_age_ns=max_age_ns)
    hits = in_place(keys=keys, stamps=stamps) if keys else []
    if hits is None:
        index = _grouped_index(references, by=by, on=on, keys=keys)
        lookup = partial(_search, index, max_age_ns=max_age_ns)
        hits = [lookup(key, s) for key, s in zip(keys, stamps, strict=True)]
    found = np.full(tokens.height, -1, dtype=np.int64)
    for rows, hit in zip(groups["_row"], hits, strict=True):
        matched = hit >= 0
        found[rows.to_numpy()[matched]] = hit[matched]
    return pl.Series("ref_row", np.ma.masked_array(found, found < 0), dtype=pl.Int64)


def _search_in_place(
    references: pl.DataFrame,
    *,
    by: str,
    on: str,
    keys: list[Key],
    stamps: list[IntArray],
    max_age_ns: int,
) -> list[IntArray] | None:
    """The fast path: the searches, or None if the references are not in (by, on) order.

    ``by`` is sorted iff each key's run (found by binary search) holds only that key,
    the rows between the runs are sorted, and the pieces meet in order. The run checks,
    the bulk of that O(N) work, run in the per-key tasks with the searches.
    """
    by_col, ts_col = references[by].to_physical(), references[on].to_physical()
    if by_col.null_count() or ts_col.null_count():
        return None
    index = ReferenceIndex(ts=ts_col, bounds=_bounds(by_col, keys), rows=None)
    if not _sorted_outside_runs(by_col, list(index.bounds.values())):
        return None
    search = partial(_search_checked_run, index, by_col, max_age_ns=max_age_ns)
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        hits = list(pool.map(search, keys, stamps))
    checked = [h for h in hits if h is not None]
    return checked if len(checked) == len(hits) else None


def _sorted_outside_runs(by_col: pl.Series, runs: list[tuple[int, int]]) -> bool:
    """Whether the rows outside ``runs`` are sorted and every piece meets the next in order.

    The pieces are the gaps and the runs, alternating over ``[0, N)``; a run that ends
    before it starts or overlaps the next one can only come from an unsorted column. The
    edge comparisons (O(keys)) guard against how ``search_sorted`` behaves on unsorted
    data; a textbook binary search already leaves ordered edges around its runs.
    """
    if any(end < start for start, end in runs):
        return False
    spans = sorted(span for span in runs if span[1] > span[0])
    edges = [0, *(edge for span in spans for edge in span), by_col.len()]
    pieces = list(pairwise(edges))
    if any(end < start for start, end in pieces):
        return False
    gaps = pieces[::2]
    if not all(by_col.slice(s, e - s).is_sorted() for s, e in gaps if e > s):
        return False
    ends = [(by_col[s], by_col[e - 1]) for s, e in pieces if e > s]
    return all(last <= first for (_, last), (first, _) in pairwise(ends))


def _token_groups(tokens: pl.DataFrame, *, by: str, on: str) -> pl.DataFrame:
    """One row per key: the token row numbers (``_row``) and their int64 stamps (``on``)."""
    return (
        tokens.select(pl.col(by).to_physical(), pl.col(on).to_physical())
        .with_row_index("_row")
        .filter(pl.col(by).is_not_null() & pl.col(on).is_not_null())
        .group_by(by)
        .agg("_row", on)
    )


def _grouped_index(
    references: pl.DataFrame, *, by: str, on: str, keys: list[Key]
) -> ReferenceIndex:
    """The slow path: the rows of ``keys`` with a non-null ``on``, stably sorted per key.

    One hash ``group_by`` and a sort within each group (cheap when already in time
    order), instead of a global sort by ``(by, on)``.
    """
    log.debug("references not in (%s, %s) order: grouping %d rows", by, on, references.height)
    groups = (
        references.select(pl.col(by).to_physical(), pl.col(on).to_physical())
        .with_row_index("_row")
        .filter(pl.col(by).is_in(keys) & pl.col(on).is_not_null())
        .group_by(by)
        .agg(pl.col("_row").sort_by(on, maintain_order=True), pl.col(on).sort())
    )
    lengths = groups[on].list.len().cast(pl.Int64).to_numpy()
    ends = np.cumsum(lengths)
    spans = zip((ends - lengths).tolist(), ends.tolist(), strict=True)
    bounds = dict.fromkeys(keys, (0, 0)) | dict(zip(groups[by].to_list(), spans, strict=True))
    rows = groups["_row"].explode().cast(pl.Int64).to_numpy()
    return ReferenceIndex(ts=groups[on].explode(), bounds=bounds, rows=rows)


def _bounds(sorted_keys: pl.Series, keys: list[Key]) -> dict[Key, tuple[int, int]]:
    """``[start, end)`` of each key in a sorted key column (empty when absent)."""
    wanted = pl.Series(keys, dtype=sorted_keys.dtype)
    starts = sorted_keys.search_sorted(wanted, side="left")
    ends = sorted_keys.search_sorted(wanted, side="right")
    spans = zip(starts.to_list(), ends.to_list(), strict=True)
    return dict(zip(keys, spans, strict=True))


def _search_checked_run(
    index: ReferenceIndex, by_col: pl.Series, key: Key, stamps: IntArray, *, max_age_ns: int
) -> IntArray | None:
    """:func:`_search`, or None unless ``key``'s run is all ``key`` with sorted stamps."""
    start, end = index.bounds[key]
    if end > start:
        if not (by_col.slice(start, end - start) == key).all():
            return None
        if not index.ts.slice(start, end - start).is_sorted():
            return None
    return _search(index, key, stamps, max_age_ns=max_age_ns)


def _search(index: ReferenceIndex, key: Key, stamps: IntArray, *, max_age_ns: int) -> IntArray:
    """Reference row of the last stamp ≤ each of ``stamps`` in ``key``'s run, or -1.

    -1 also when that stamp is more than ``max_age_ns`` older (the tolerance).
    """
    start, end = index.bounds[key]
    if end <= start:
        return np.full(len(stamps), -1, dtype=np.int64)
    ts: IntArray = index.ts.slice(start, end - start).to_numpy()
    hit = np.searchsorted(ts, stamps, side="right").astype(np.int64) - 1
    fresh = stamps - ts[np.maximum(hit, 0)] <= max_age_ns
    found = np.where((hit >= 0) & fresh, hit + start, -1)
    if index.rows is None:
        return found
    return np.where(found >= 0, index.rows[np.maximum(found, 0)], -1)


def _check_keys(
    tokens: pl.DataFrame, references: pl.DataFrame, *, by: str, on: str, max_age_ns: int
) -> None:
    """Refuse keys the lookup cannot use, naming the parameter and what was found."""
    if max_age_ns <= 0:
        raise BadRequestError(f"max_age_ns must be positive, found {max_age_ns}")
    for frame_name, frame in (("tokens", tokens), ("references", references)):
        found = frame.schema.get(on)
        if found != TS:
            raise BadRequestError(f"{frame_name}.{on} must be {TS}, found {found}")
        found = frame.schema.get(by)
        if not isinstance(found, pl.String | pl.Categorical | pl.Enum):
            raise BadRequestError(
                f"{frame_name}.{by} must be String, Categorical or Enum, found {found}"
            )
    if tokens.schema[by] != references.schema[by]:
        raise BadRequestError(
            f"tokens.{by} and references.{by} must have one type,"
            f" found {tokens.schema[by]} and {references.schema[by]}"
        )


def _check_values(tokens: pl.DataFrame, references: pl.DataFrame) -> None:
    """Refuse reference prices of the wrong type and tokens that already have the output."""
    for column in REFERENCE_VALUE_COLUMNS:
        dtype, found = REFERENCE_NBBO_SCHEMA[column], references.schema.get(column)
        if found != dtype:
            raise BadRequestError(f"references.{column} must be {dtype}, found {found}")
    clash = [c for c in ASOF_REFERENCE_SCHEMA if c in tokens.schema]
    if clash:
        raise BadRequestError(f"tokens already has output columns {clash}")
