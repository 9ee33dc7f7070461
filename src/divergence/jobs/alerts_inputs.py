"""What the alerts job reads per step: the data watermark, the instants to evaluate, and
each input table's rows over the step's window (docs/alerts.md, "Running alerts in the
service"). Pure planning plus store reads; the job itself is :mod:`.alerts_job`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import polars as pl

from divergence.alerts.engine import AlertEngine
from divergence.alerts.sources import SOURCES
from divergence.clock import NS_PER_SECOND
from divergence.errors import StoreError
from divergence.jobs.basis_inputs import INITIAL_STATE
from divergence.jobs.basis_job import JOB_NAME as BASIS_JOB
from divergence.jobs.basis_job import load_job_state
from divergence.metrics.registry import METRIC_SPECS
from divergence.store.db import Store

MAX_CATCHUP_INSTANTS = 300
"""Instants (seconds of data time) one step evaluates at most: about 5 minutes of data.
Behind by more (a restart after downtime), the job steps again at once, so the catch-up
is bounded per transaction batch but not delayed."""
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
_STORED_NAMES: Mapping[str, Mapping[str, str]] = {
    spec.name: {stored: name for name, stored in spec.columns.items() if stored != name}
    for spec in METRIC_SPECS
}
"""Per metric table, stored column -> the metric's own name (``pd_frac`` -> ``pd``): the
metrics job stores some columns with units in their names; rules use the metric's."""


def data_watermark(store: Store) -> int | None:
    """The basis job's committed watermark floored to a whole second (None: never ran)."""
    state = load_job_state(store, BASIS_JOB)
    if state == INITIAL_STATE:
        return None
    return state.watermark_ns // NS_PER_SECOND * NS_PER_SECOND


def plan_instants(
    last_ns: int | None,
    watermark_ns: int | None,
    *,
    cap: int = MAX_CATCHUP_INSTANTS,
    max_stride_s: int = 1,
) -> list[int]:
    """The instants of the next step: whole seconds in ``(last, watermark]``, at most
    ``cap`` of them; only ``watermark`` when the engine never stepped.

    They are one second apart while the backlog fits in ``cap`` instants; behind by more,
    ``ceil(backlog / cap)`` seconds apart, at most ``max_stride_s``."""
    if watermark_ns is None:
        return []
    if last_ns is None:
        return [watermark_ns]
    first = (last_ns // NS_PER_SECOND + 1) * NS_PER_SECOND
    backlog = (watermark_ns - first) // NS_PER_SECOND + 1
    if backlog <= 0:
        return []
    stride = min(max(1, -(-backlog // cap)), max(1, max_stride_s))
    start = first + (stride - 1) * NS_PER_SECOND
    return list(range(start, watermark_ns + 1, stride * NS_PER_SECOND))[:cap]


def input_sql(table: str) -> str:
    """``SELECT *`` of an input table over ``($start, $end]`` (interval tables: rows
    overlapping it). Identifiers come from :data:`SOURCES` (an allow-list)."""
    spec = SOURCES.get(table)
    names = (table, spec.time_column, spec.end_column or "x") if spec else (table,)
    if spec is None or not all(_IDENTIFIER.match(n) for n in names):
        raise StoreError(f"not an alert input table: {table!r} (known: {', '.join(SOURCES)})")
    ts, end = spec.time_column, spec.end_column
    if end is None:
        where = f"{ts} > make_timestamp_ns($start) AND {ts} <= make_timestamp_ns($end)"
    else:
        where = (
            f"{ts} <= make_timestamp_ns($end) "
            f"AND ({end} IS NULL OR {end} > make_timestamp_ns($start))"
        )
    return f"SELECT * FROM {table} WHERE {where} ORDER BY {ts}"


def load_inputs(store: Store, windows: Mapping[str, tuple[int, int]]) -> dict[str, pl.LazyFrame]:
    """Each table's rows in its window ``(start, end]``, stored columns renamed to the
    names the rules use."""
    frames: dict[str, pl.LazyFrame] = {}
    for table, (start, end) in sorted(windows.items()):
        rows = store.query(input_sql(table), {"start": start, "end": end})
        renames = {k: v for k, v in _STORED_NAMES.get(table, {}).items() if k in rows.columns}
        frames[table] = rows.rename(renames).lazy()
    return frames


def batch_windows(engine: AlertEngine, instants: Sequence[int]) -> dict[str, tuple[int, int]]:
    """The union over ``instants`` of the engine's input windows, per table."""
    first = engine.input_windows(instants[0])
    return {table: (start, instants[-1]) for table, (start, _) in first.items()}
