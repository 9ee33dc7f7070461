"""One refresh of the export: fingerprint partitions, rewrite those that changed.

For each table, the partitions of the dates checked (every date, or only the recent
ones) are fingerprinted in DuckDB on the store's reader thread. A partition whose
fingerprint differs from the manifest's, or whose file is missing, is rewritten with its
current rows (so the jobs' recomputations replace the file's content), streamed in
batches: DuckDB fetches on the reader thread, Parquet encoding in a worker thread. A
partition that has lost all its rows gets an empty file, so a reader that listed it
never fails. Dates before the checked range are left alone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import duckdb

from divergence.errors import StoreError
from divergence.export.files import PartitionWriter, partition_file
from divergence.export.manifest import Manifest, save_manifest
from divergence.export.tables import DAY_MAX, DAY_MIN, ExportTable, Fingerprint, Partition
from divergence.store.db import AsyncStore, Store

log = logging.getLogger(__name__)
BATCH_ROWS = 100_000  # rows per DuckDB fetch: the longest the export holds the reader thread


@dataclass
class TableReport:
    """What one refresh did to one table."""

    table: str
    checked: int = 0
    written: list[str] = field(default_factory=list)
    rows_written: int = 0
    bytes_written: int = 0
    seconds: float = 0.0


async def refresh_table(
    store: AsyncStore,
    table: ExportTable,
    *,
    root: Path,
    manifest: Manifest,
    since: dt.date | None,
    stopping: Callable[[], bool] = lambda: False,
) -> TableReport:
    """Bring ``root/<table>`` up to date for the dates from ``since`` (None: every date)."""
    started = time.monotonic()
    report = TableReport(table.name)
    day_from = since or DAY_MIN
    current = await store.read(lambda s: _fingerprints(s, table, day_from))
    known = manifest.partitions(table.name)
    report.checked = len(current)
    stale = await asyncio.to_thread(_stale, root, table.name, known, current, day_from)
    for key, (partition, fp) in sorted(stale.items()):
        if stopping():
            break
        rows, size = await _rewrite(store, table, partition, partition_file(root, table.name, key))
        report.rows_written += rows
        report.bytes_written += size
        report.written.append(key)
        known[key] = fp  # an emptied partition (0 rows) keeps its empty file
    await asyncio.to_thread(save_manifest, root, manifest)
    report.seconds = time.monotonic() - started
    if report.written:
        log.info(
            "export refreshed",
            extra={
                "table": table.name,
                "partitions": len(report.written),
                "rows": report.rows_written,
            },
        )
    return report


def latest_day(manifest: Manifest, table: str) -> dt.date | None:
    """The last date exported for ``table`` (None when nothing was exported)."""
    days = [dt.date.fromisoformat(key[5:15]) for key in manifest.partitions(table)]
    return max(days) if days else None


def _stale(
    root: Path,
    table: str,
    known: dict[str, Fingerprint],
    current: dict[str, tuple[Partition, Fingerprint]],
    day_from: dt.date,
) -> dict[str, tuple[Partition, Fingerprint]]:
    """The partitions to rewrite: changed, missing on disk, or emptied since last time."""
    stale = {
        key: item
        for key, item in current.items()
        if known.get(key) != item[1] or not partition_file(root, table, key).is_file()
    }
    for key, fp in known.items():
        if key in current or fp.rows == 0:
            continue
        partition = _parse_key(key)
        if partition.day >= day_from:
            stale[key] = (partition, Fingerprint(rows=0, digest="0"))
    return stale


def _fingerprints(
    store: Store, table: ExportTable, day_from: dt.date
) -> dict[str, tuple[Partition, Fingerprint]]:
    params = {"day_from": day_from, "day_to": DAY_MAX}
    found: dict[str, tuple[Partition, Fingerprint]] = {}
    for day, underlying, rows, digest in _run(store, table.fingerprint_sql, params):
        partition = Partition(day=day, underlying=underlying)
        found[partition.key] = (partition, Fingerprint(rows=int(rows), digest=str(digest)))
    return found


async def _rewrite(
    store: AsyncStore, table: ExportTable, partition: Partition, path: Path
) -> tuple[int, int]:
    """Stream one partition's current rows into its file: DuckDB batches on the reader
    thread (API reads run between two batches), Parquet in a worker thread."""
    stream = await store.read(functools.partial(_open_rows, table=table, partition=partition))
    try:
        writer = await asyncio.to_thread(PartitionWriter, path, stream.reader.schema)
        rows = 0
        try:
            while (batch := await store.read(lambda _: stream.next_batch())) is not None:
                await asyncio.to_thread(writer.write, batch)
                rows += batch.num_rows
        except BaseException:
            writer.abort()
            raise
        return rows, await asyncio.to_thread(writer.commit)
    finally:
        await store.read(lambda _: stream.close())


@dataclass
class _RowStream:
    """A partition's rows as arrow batches, on a cursor of its own (so the API's queries
    on the reader thread's cursor can run between two batches)."""

    cursor: duckdb.DuckDBPyConnection
    reader: Any

    def next_batch(self) -> Any:
        try:
            return self.reader.read_next_batch()
        except StopIteration:
            return None
        except duckdb.Error as exc:
            raise StoreError(f"export read failed: {exc}") from exc

    def close(self) -> None:
        self.cursor.close()


def _open_rows(store: Store, *, table: ExportTable, partition: Partition) -> _RowStream:
    params = {
        "day_from": partition.day,
        "day_to": partition.day + dt.timedelta(days=1),
        "underlying": partition.underlying,
    }
    cursor = store.cursor().cursor()
    try:
        reader = cursor.sql(table.rows_sql, params=params).to_arrow_reader(BATCH_ROWS)
    except duckdb.Error as exc:
        cursor.close()
        raise StoreError(f"export query failed: {exc}") from exc
    return _RowStream(cursor=cursor, reader=reader)


def _run(store: Store, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run an export statement on this thread's cursor; its rows."""
    try:
        rows: list[tuple[Any, ...]] = store.cursor().sql(sql, params=params).fetchall()
    except duckdb.Error as exc:
        raise StoreError(f"export query failed: {exc}") from exc
    return rows


def _parse_key(key: str) -> Partition:
    parts = dict(part.split("=", 1) for part in key.split("/"))
    underlying = parts.get("underlying")
    return Partition(
        day=dt.date.fromisoformat(parts["date"]),
        underlying=None if underlying is None else unquote(underlying),
    )
