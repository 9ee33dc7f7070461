"""A :class:`~divergence.sandbox.runner.SqlResult` as JSON, CSV or Parquet bytes.

JSON and CSV share one cell conversion (:func:`json_rows`): timestamps without a zone
are UTC and written ``2025-10-10T14:30:00.123456789Z``, decimals become numbers (exact
integers when they have no fraction), intervals and other rare types their text, bytes
hex, and in CSV nested values (lists, structs, maps) their JSON and null an empty cell.
Parquet keeps DuckDB's Arrow types as they are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from divergence.errors import BadRequestError
from divergence.sandbox.runner import SqlResult

Format = Literal["json", "csv", "parquet"]
MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
NS_PER_SECOND = 1_000_000_000


def json_rows(table: pa.Table) -> list[list[Any]]:
    """Rows as lists of JSON-ready values, in column order."""
    columns = [_column_values(table.column(i)) for i in range(table.num_columns)]
    return [list(row) for row in zip(*columns, strict=True)] if columns else []


def to_json(result: SqlResult) -> bytes:
    body = {
        "columns": [{"name": c.name, "type": c.type} for c in result.columns],
        "rows": json_rows(result.table),
        "row_count": result.row_count,
        "truncated": result.truncated,
        "max_rows": result.max_rows,
        "elapsed_ms": result.elapsed_ms,
    }
    return orjson.dumps(body, default=_fallback, option=orjson.OPT_NON_STR_KEYS)


def to_csv(result: SqlResult) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.name for c in result.columns])
    for row in json_rows(result.table):
        writer.writerow([csv_cell(value) for value in row])
    return out.getvalue().encode()


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict | tuple):
        return orjson.dumps(value, default=_fallback).decode()
    if isinstance(value, float) and value != value:  # NaN
        return ""
    return str(value)


def to_parquet(result: SqlResult) -> bytes:
    sink = io.BytesIO()
    table = result.table
    try:
        pq.write_table(table, sink)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        # types Parquet cannot hold (e.g. intervals): as their text
        sink = io.BytesIO()
        pq.write_table(_stringify_unsupported(table), sink)
    return sink.getvalue()


class RenderError(BadRequestError):
    """The result holds a value the format cannot carry."""


def render(result: SqlResult, fmt: Format) -> bytes:
    renderers: dict[str, Callable[[SqlResult], bytes]] = {
        "json": to_json,
        "csv": to_csv,
        "parquet": to_parquet,
    }
    try:
        return renderers[fmt](result)
    except (ValueError, OverflowError, OSError, TypeError, pa.ArrowException) as exc:
        raise RenderError(f"the result cannot be written as {fmt}: {exc}") from exc


def result_headers(result: SqlResult) -> dict[str, str]:
    """What a CSV or Parquet body cannot say itself."""
    return {
        "X-Divergence-Truncated": "true" if result.truncated else "false",
        "X-Divergence-Max-Rows": str(result.max_rows),
        "X-Divergence-Row-Count": str(result.row_count),
        "X-Divergence-Elapsed-Ms": f"{result.elapsed_ms:g}",
    }


def _column_values(column: pa.ChunkedArray) -> list[Any]:
    try:
        return _plain_values(column)
    except (ValueError, OverflowError, OSError, pa.ArrowException):
        # out of Python's range (DuckDB's infinity dates and timestamps): value by value
        return [_scalar_value(scalar) for scalar in column]


def _plain_values(column: pa.ChunkedArray) -> list[Any]:
    kind = column.type
    if pa.types.is_timestamp(kind) and kind.tz is None:
        ints = pc.cast(column, pa.timestamp(kind.unit)).cast(pa.int64()).to_pylist()
        scale = {"s": NS_PER_SECOND, "ms": 1_000_000, "us": 1_000, "ns": 1}[kind.unit]
        return [None if v is None else iso_ns(v * scale) for v in ints]
    if pa.types.is_interval(kind):
        return [None if v is None else str(v) for v in column.to_pylist()]
    values: list[Any] = column.to_pylist()
    if pa.types.is_decimal(kind):
        return [None if v is None else _decimal(v) for v in values]
    return values


def _scalar_value(scalar: pa.Scalar) -> Any:
    if not scalar.is_valid:
        return None
    try:
        return _plain_values(pa.chunked_array([pa.array([scalar.as_py()], scalar.type)]))[0]
    except (ValueError, OverflowError, OSError, pa.ArrowException):
        raw = getattr(scalar, "value", None)
        if isinstance(raw, int):
            return "infinity" if raw > 0 else "-infinity"
        return str(scalar)


def iso_ns(ts_ns: int) -> str:
    """Epoch ns -> ``2025-10-10T14:30:00.123456789Z``."""
    seconds, fraction = divmod(ts_ns, NS_PER_SECOND)
    whole = datetime.fromtimestamp(seconds, tz=UTC)
    return f"{whole:%Y-%m-%dT%H:%M:%S}.{fraction:09d}Z"


def _decimal(value: Decimal) -> int | float | str:
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= 0:
        whole = int(value)
        return whole if -(2**63) <= whole < 2**64 else str(whole)  # JSON numbers: 64 bits
    return float(value)


def _fallback(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _stringify_unsupported(table: pa.Table) -> pa.Table:
    """Columns Parquet cannot hold (intervals, unions, ...) as the JSON text of each value."""
    arrays = []
    for i, column in enumerate(table.columns):
        try:
            pq.write_table(table.select([i]).slice(0, 1), io.BytesIO())
            arrays.append(column)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            texts = [
                None
                if v is None
                else (v if isinstance(v, str) else orjson.dumps(v, default=_fallback).decode())
                for v in _column_values(column)
            ]
            arrays.append(pa.chunked_array([pa.array(texts, pa.string())]))
    return pa.table(arrays, names=table.column_names)
