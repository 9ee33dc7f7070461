"""Run one analyst statement under the sandbox's limits, on a cursor of its own.

The statement is checked (:func:`~divergence.sandbox.guard.check_statement`), then run
inside ``BEGIN TRANSACTION READ ONLY`` (DuckDB refuses any write in it), always rolled
back. A timer interrupts the cursor after ``sql.timeout_s``; rows are streamed as Arrow
record batches and at most ``sql.max_rows + 1`` are fetched, so a huge result is never
materialised: the answer holds ``max_rows`` rows and says it was truncated.

DuckDB's errors become the service's: a permission refusal (file access, extensions) is
403 with DuckDB's message, the time limit 504, anything else about the statement 400.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import duckdb
import pyarrow as pa

from divergence.errors import BadRequestError, DivergenceError
from divergence.sandbox.config import SqlSettings
from divergence.sandbox.guard import check_statement

log = logging.getLogger(__name__)
BATCH_ROWS = 10_000
Param = str | int | float | bool | date | datetime | None


class SqlPermissionError(DivergenceError):
    """DuckDB's own access controls refused the statement (files, extensions, writes)."""

    http_status = 403


class SqlTimeoutError(DivergenceError):
    """The statement ran longer than ``sql.timeout_s`` and was interrupted.

    504 rather than 408: browsers and HTTP clients may repeat a request answered 408.
    """

    http_status = 504


class SqlStatementError(BadRequestError):
    """DuckDB could not run the statement (syntax, unknown table or column, types)."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass(frozen=True)
class SqlResult:
    """At most ``max_rows`` rows of one statement, and whether more were cut."""

    columns: tuple[Column, ...]
    table: pa.Table
    truncated: bool
    max_rows: int
    elapsed_ms: float

    @property
    def row_count(self) -> int:
        return int(self.table.num_rows)


def check_params(params: Mapping[str, Any] | None) -> dict[str, Param]:
    """Named parameters (``$name`` in the statement): scalars only, names checked."""
    checked: dict[str, Param] = {}
    for name, value in (params or {}).items():
        if not isinstance(name, str) or not name.isidentifier():
            raise BadRequestError(f"params: {name!r} is not a parameter name")
        if value is not None and not isinstance(value, str | int | float | bool | date):
            raise BadRequestError(
                f"params.{name}: must be a string, number, boolean or null, "
                f"found {type(value).__name__}"
            )
        checked[name] = value
    return checked


def run_sandboxed(
    cursor: duckdb.DuckDBPyConnection,
    sql: str,
    params: Mapping[str, Any] | None,
    settings: SqlSettings,
) -> SqlResult:
    """Run ``sql`` on ``cursor`` (no other statement may use it meanwhile) under the limits."""
    bound = check_params(params)
    started = time.monotonic()
    check_statement(cursor, sql, max_chars=settings.max_sql_chars)
    watchdog = _Watchdog(cursor, settings.timeout_s)
    cursor.execute("BEGIN TRANSACTION READ ONLY")
    try:
        watchdog.start()
        columns, table, truncated = _fetch(cursor, sql, bound, settings.max_rows)
    except duckdb.Error as exc:
        raise _translate(exc, watchdog, settings) from exc
    finally:
        watchdog.stop()
        _rollback(cursor)
    elapsed_ms = round((time.monotonic() - started) * 1e3, 3)
    log.info(
        "analyst statement",
        extra={"rows": table.num_rows, "truncated": truncated, "elapsed_ms": elapsed_ms},
    )
    return SqlResult(columns, table, truncated, settings.max_rows, elapsed_ms)


def _fetch(
    cursor: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Param], max_rows: int
) -> tuple[tuple[Column, ...], pa.Table, bool]:
    relation = cursor.sql(sql, params=params or None)
    if relation is None:
        raise SqlStatementError("the statement returned no result")
    columns = tuple(
        Column(name, str(kind)) for name, kind in zip(relation.columns, relation.types, strict=True)
    )
    reader = relation.to_arrow_reader(BATCH_ROWS)
    batches: list[pa.RecordBatch] = []
    rows = 0
    try:
        while rows <= max_rows:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            batches.append(batch)
            rows += batch.num_rows
    finally:
        reader.close()
    table = pa.Table.from_batches(batches, schema=reader.schema)
    truncated = table.num_rows > max_rows
    return columns, table.slice(0, max_rows) if truncated else table, truncated


class _Watchdog:
    """Interrupts the cursor once ``timeout_s`` passed, unless stopped first."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, timeout_s: float) -> None:
        self._cursor = cursor
        self._lock = threading.Lock()
        self._done = False
        self.fired = False
        self._timer = threading.Timer(timeout_s, self._fire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._done = True

    def _fire(self) -> None:
        with self._lock:
            if not self._done:
                self.fired = True
                self._cursor.interrupt()


def _translate(exc: duckdb.Error, watchdog: _Watchdog, settings: SqlSettings) -> DivergenceError:
    if isinstance(exc, duckdb.InterruptException) and watchdog.fired:
        return SqlTimeoutError(
            f"statement interrupted after {settings.timeout_s:g} s (sql.timeout_s)"
        )
    if isinstance(exc, duckdb.PermissionException):
        return SqlPermissionError(f"refused by DuckDB: {exc}")
    if isinstance(exc, duckdb.TransactionException) and "read-only" in str(exc):
        return SqlPermissionError(f"refused by DuckDB (read-only transaction): {exc}")
    return SqlStatementError(f"statement failed: {exc}")


def _rollback(cursor: duckdb.DuckDBPyConnection) -> None:
    try:
        cursor.execute("ROLLBACK")
    except duckdb.Error as exc:  # the interrupt may have ended the transaction already
        log.debug("rollback after analyst statement: %s", exc)
