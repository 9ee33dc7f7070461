"""Analyst SQL over HTTP: ``POST /api/sql``, the canned queries, and their pages.

Every statement, ad hoc or canned, runs through :func:`divergence.sandbox.runner.
run_sandboxed` on the store's sandbox threads (``AsyncStore.sandboxed``), never on the
dashboards' reader thread, under ``settings.sql`` (time limit, row cap, text size).
Results are JSON (``{columns, rows, row_count, truncated, max_rows, elapsed_ms}``), CSV
or Parquet; CSV and Parquet carry the same facts in ``X-Divergence-*`` headers. Refusals
are 400 naming why, DuckDB's own permission refusals 403, the time limit 504.
"""

from __future__ import annotations

import html
import string
from functools import cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import HTMLResponse, Response

from divergence import __version__
from divergence.content import content_dir
from divergence.errors import DivergenceError
from divergence.sandbox.canned import CannedQuery, find_query
from divergence.sandbox.config import SqlSettings
from divergence.sandbox.guard import HIDDEN_TABLES
from divergence.sandbox.render import MEDIA_TYPES, Format, json_rows, render, result_headers
from divergence.sandbox.runner import SqlResult, run_sandboxed
from divergence.service.deps import RuntimeDep, StoreDep
from divergence.store.db import AsyncStore, Store

router = APIRouter()
PAGE_ROWS = 1_000
TABLES_SQL = """
SELECT table_name, column_name, data_type
FROM duckdb_columns()
WHERE schema_name = 'main' AND database_name = current_database() AND NOT internal
ORDER BY table_name, column_index
"""
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "refused (not one read-only query) or DuckDB could not run it"},
    403: {"description": "refused by DuckDB's own access controls (files, extensions)"},
    504: {"description": "interrupted after sql.timeout_s"},
}


class SqlRequest(BaseModel):
    """One analyst statement."""

    model_config = ConfigDict(extra="forbid")
    sql: str = Field(min_length=1, description="one read-only DuckDB query")
    format: Literal["json", "csv", "parquet"] = Field(default="json")
    params: dict[str, str | int | float | bool | None] | None = Field(
        default=None, description="named parameters, written $name in the statement"
    )


async def run_statement(
    store: AsyncStore, sql: str, params: dict[str, Any] | None, settings: SqlSettings, fmt: Format
) -> tuple[SqlResult, bytes]:
    """Run on a sandbox thread and render there too (a large result is not the loop's work)."""

    def work(s: Store) -> tuple[SqlResult, bytes]:
        result = run_sandboxed(s.cursor(), sql, params, settings)
        return result, render(result, fmt)

    return await store.sandboxed(work)


def result_response(result: SqlResult, body: bytes, fmt: Format, *, filename: str) -> Response:
    headers = result_headers(result)
    if fmt != "json":
        headers["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)


@router.post(
    "/api/sql",
    tags=["sql"],
    summary="Run one read-only DuckDB query (analyst)",
    responses={
        200: {
            "description": "JSON rows, or a CSV or Parquet body (X-Divergence-Truncated says "
            "whether the row cap cut it)",
            "content": {"text/csv": {}, "application/vnd.apache.parquet": {}},
        },
        **ERRORS,
    },
)
async def post_sql(body: SqlRequest, store: StoreDep, runtime: RuntimeDep) -> Response:
    """One SELECT-like statement, read-only, with ``sql.timeout_s`` and ``sql.max_rows``."""
    result, data = await run_statement(
        store, body.sql, body.params, runtime.settings.sql, body.format
    )
    return result_response(result, data, body.format, filename="result")


@router.get("/api/sql/tables", tags=["sql"], summary="Tables and views with their columns")
async def sql_tables(store: StoreDep) -> dict[str, Any]:
    return {"tables": await _tables(store)}


@router.get("/api/queries", tags=["sql"], summary="The canned queries and their parameters")
async def list_queries(request: Request) -> dict[str, Any]:
    queries: dict[str, CannedQuery] = request.app.state.canned_queries
    return {"queries": [q.describe() for q in queries.values()]}


@router.get(
    "/api/queries/{name}",
    tags=["sql"],
    summary="Run a canned query (parameters in the query string)",
    responses={404: {"description": "no such canned query"}, **ERRORS},
)
async def run_query(
    request: Request,
    name: str,
    store: StoreDep,
    runtime: RuntimeDep,
    fmt: Annotated[Literal["json", "csv", "parquet"], Query(alias="format")] = "json",
) -> Response:
    query = find_query(request.app.state.canned_queries, name)
    params = query.bind(_query_params(request))
    result, data = await run_statement(store, query.sql, params, runtime.settings.sql, fmt)
    return result_response(result, data, fmt, filename=name)


@router.get("/sql", response_class=HTMLResponse, include_in_schema=False)
async def sql_page(store: StoreDep, runtime: RuntimeDep) -> HTMLResponse:
    tables = await _tables(store)
    items = "".join(
        f"<li><details><summary>{html.escape(t['name'])}</summary><ul>"
        + "".join(
            f"<li><code>{html.escape(c['name'])}</code> <span class=type>"
            f"{html.escape(c['type'])}</span></li>"
            for c in t["columns"]
        )
        + "</ul></details></li>"
        for t in tables
    )
    page = _template("sql.html").substitute(
        tables=items,
        max_rows=runtime.settings.sql.max_rows,
        timeout_s=f"{runtime.settings.sql.timeout_s:g}",
        version=html.escape(__version__),
    )
    return HTMLResponse(page)


@router.get("/queries", response_class=HTMLResponse, include_in_schema=False)
async def queries_page(request: Request) -> HTMLResponse:
    queries: dict[str, CannedQuery] = request.app.state.canned_queries
    rows = "".join(
        f'<tr><td><a href="/queries/{html.escape(q.name)}">{html.escape(q.title)}</a></td>'
        f"<td>{html.escape(q.purpose)}</td>"
        f"<td>{html.escape(', '.join(p.name for p in q.params) or '-')}</td></tr>"
        for q in queries.values()
    )
    page = _template("queries.html").substitute(rows=rows, version=html.escape(__version__))
    return HTMLResponse(page)


@router.get("/queries/{name}", response_class=HTMLResponse, include_in_schema=False)
async def query_page(
    request: Request, name: str, store: StoreDep, runtime: RuntimeDep
) -> HTMLResponse:
    query = find_query(request.app.state.canned_queries, name)
    given = _query_params(request)
    error, results = "", ""
    try:
        params = query.bind(given)
        result, _ = await run_statement(store, query.sql, params, runtime.settings.sql, "json")
        results = _results_table(result)
    except DivergenceError as exc:
        error = f'<div class="error">{exc.http_status}: {html.escape(exc.message)}</div>'
    qs = str(request.url.query)
    link = f"/api/queries/{html.escape(query.name)}?{html.escape(qs)}{'&amp;' if qs else ''}"
    page = _template("queries_form.html").substitute(
        name=html.escape(query.name),
        title=html.escape(query.title),
        description=html.escape(query.description),
        grain=html.escape(query.grain),
        inputs=_inputs(query, given),
        error=error,
        results=results,
        csv=f"{link}format=csv",
        parquet=f"{link}format=parquet",
        json=f"{link}format=json",
        sql=html.escape(query.sql),
        version=html.escape(__version__),
    )
    return HTMLResponse(page, status_code=200)


def _query_params(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if k != "format"}


def _inputs(query: CannedQuery, given: dict[str, str]) -> str:
    fields = []
    kinds = {"integer": "number", "number": "number", "date": "date", "boolean": "text"}
    for p in query.params:
        default = p.describe()["default"]
        placeholder = "optional" if default is None and not p.required else str(default)
        value = given.get(p.name, "")
        step = ' step="any"' if p.type == "number" else ""
        fields.append(
            f'<label>{html.escape(p.name)} <span class="type">{p.type}</span>'
            f'<input name="{html.escape(p.name)}" type="{kinds.get(p.type, "text")}"{step}'
            f' value="{html.escape(value)}" placeholder="{html.escape(placeholder)}"'
            f"{' required' if p.required else ''}></label>"
        )
    return "".join(fields)


def _results_table(result: SqlResult) -> str:
    rows = json_rows(result.table.slice(0, PAGE_ROWS))
    head = "".join(f"<th>{html.escape(c.name)}</th>" for c in result.columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    note = f"{result.row_count} rows in {result.elapsed_ms:g} ms"
    if result.truncated:
        note += f"; truncated at sql.max_rows = {result.max_rows}"
    if result.row_count > PAGE_ROWS:
        note += f"; the first {PAGE_ROWS} shown, download for all"
    return (
        f'<p class="note" id="note" data-truncated="{str(result.truncated).lower()}">{note}</p>'
        f'<table id="results"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def _cell(value: Any) -> str:
    if value is None:
        return '<span class="null">NULL</span>'
    return html.escape(str(value))


async def _tables(store: AsyncStore) -> list[dict[str, Any]]:
    frame = await store.read(lambda s: s.query(TABLES_SQL))
    tables: dict[str, list[dict[str, str]]] = {}
    for row in frame.iter_rows(named=True):
        if row["table_name"] in HIDDEN_TABLES:
            continue
        tables.setdefault(row["table_name"], []).append(
            {"name": row["column_name"], "type": row["data_type"]}
        )
    return [{"name": name, "columns": columns} for name, columns in tables.items()]


@cache
def _template(name: str) -> string.Template:
    path = content_dir("dashboards") / "templates" / name
    return string.Template(path.read_text(encoding="utf-8"))
