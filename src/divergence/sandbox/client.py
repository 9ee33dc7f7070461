"""``divergence sql``: through a running service when one answers, else on the file directly.

With a service (``--url``, default ``http://<host>:<port>`` from settings), the statement
goes to ``POST /api/sql`` with the key from ``--key`` or ``DIVERGENCE_API_KEY``. When
nothing listens there (and ``--url`` was not given explicitly), or when ``--db`` names a
file (and no ``--url``), the database file is opened read-only in this process and the
statement runs under the same sandbox (:func:`~divergence.sandbox.runner.run_sandboxed`)
and limits. Either way the result is
one Arrow table, printed as a table, CSV or JSON, or written to ``--out`` as Parquet;
which path was taken, and any truncation, is said on stderr.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import polars as pl
import pyarrow as pa

from divergence.errors import BadRequestError, DivergenceError
from divergence.sandbox.render import csv_cell, json_rows, to_parquet
from divergence.sandbox.runner import Column, SqlResult, run_sandboxed
from divergence.settings import Settings
from divergence.store.db import Store

CliFormat = Literal["table", "csv", "json", "parquet"]
FORMATS: tuple[str, ...] = ("table", "csv", "json", "parquet")


class ServiceAnswerError(DivergenceError):
    """The service answered the statement with an error (its status is kept)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.http_status = status


@dataclass(frozen=True)
class CliAnswer:
    """One result and where it came from (``service`` or ``direct``)."""

    result: SqlResult
    path: Literal["service", "direct"]
    where: str


def parse_params(items: list[str]) -> dict[str, Any]:
    """``name=value`` pairs; the value is JSON when it parses (5, true, null), else text."""
    params: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise BadRequestError(f"--param must be name=value, found {item!r}")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        if isinstance(value, list | dict):
            value = text
        params[name.strip()] = value
    return params


def default_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}"


def run_cli_sql(
    sql: str,
    *,
    settings: Settings,
    params: dict[str, Any],
    url: str | None,
    key: str | None,
    direct_only: bool = False,
) -> CliAnswer:
    """The result from the service at ``url`` if it answers, else from the file directly
    (at once with ``direct_only``: the caller named a database file)."""
    if direct_only and url is None:
        return CliAnswer(direct(sql, params, settings), "direct", str(settings.db_path))
    target = url or default_url(settings)
    try:
        result = via_service(sql, params, url=target, key=key, timeout_s=settings.sql.timeout_s)
        return CliAnswer(result, "service", target)
    except httpx.TransportError as exc:
        if url is not None:
            raise DivergenceError(f"no service answered at {url}: {exc}") from exc
    return CliAnswer(direct(sql, params, settings), "direct", str(settings.db_path))


def via_service(
    sql: str, params: dict[str, Any], *, url: str, key: str | None, timeout_s: float
) -> SqlResult:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"sql": sql, "format": "parquet", "params": params or None}
    response = httpx.post(
        f"{url.rstrip('/')}/api/sql", json=body, headers=headers, timeout=timeout_s + 10
    )
    if response.status_code != 200:
        raise ServiceAnswerError(response.status_code, _error_message(response))
    # polars' reader: pyarrow's dataset reader leaves I/O threads that may abort the exit
    table = pl.read_parquet(io.BytesIO(response.content)).to_arrow()
    columns = tuple(
        Column(name, str(field.type))
        for name, field in zip(table.column_names, table.schema, strict=True)
    )
    return SqlResult(
        columns=columns,
        table=table,
        truncated=response.headers.get("X-Divergence-Truncated") == "true",
        max_rows=int(response.headers.get("X-Divergence-Max-Rows", "0")),
        elapsed_ms=float(response.headers.get("X-Divergence-Elapsed-Ms", "0")),
    )


def direct(sql: str, params: dict[str, Any], settings: Settings) -> SqlResult:
    """Open the file read-only (DuckDB's access controls on) and run under the sandbox."""
    if not settings.db_path.exists():
        raise DivergenceError(f"database {settings.db_path} does not exist")
    store = Store(settings.db_path, read_only=True)
    try:
        return run_sandboxed(store.cursor(), sql, params, settings.sql)
    finally:
        store.close()


def format_result(result: SqlResult, fmt: CliFormat) -> str:
    """The text ``divergence sql`` prints for ``table``, ``csv`` or ``json``."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([c.name for c in result.columns])
        for row in json_rows(result.table):
            writer.writerow([csv_cell(v) for v in row])
        return out.getvalue().removesuffix("\n")  # the caller ends the last line
    if fmt == "json":
        names = [c.name for c in result.columns]
        records = [dict(zip(names, row, strict=True)) for row in json_rows(result.table)]
        return json.dumps(records, default=str)
    try:
        frame = pl.from_arrow(_printable(result.table))
    except Exception:  # a type polars cannot show (unions, ...): print it as CSV instead
        return format_result(result, "csv")
    assert isinstance(frame, pl.DataFrame)
    with pl.Config(tbl_rows=50, tbl_cols=20, fmt_str_lengths=40):
        return str(frame)


def write_parquet(result: SqlResult, out: Path) -> None:
    out.write_bytes(to_parquet(result))


def _printable(table: pa.Table) -> pa.Table:
    """Types polars cannot show (intervals and the like) as text."""
    arrays = [
        pa.array([None if v is None else str(v) for v in col.to_pylist()])
        if pa.types.is_interval(col.type)
        else col
        for col in table.columns
    ]
    return pa.table(arrays, names=table.column_names)


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:500] or response.reason_phrase
