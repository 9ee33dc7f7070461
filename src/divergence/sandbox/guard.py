"""What an analyst statement may be: one read-only query, checked on DuckDB's own parse.

This is the second line of defence. The first is DuckDB's configuration of the instance
(``divergence.store.db.LOCKED_DOWN``: no file or network access, no extensions, locked
settings); the third is the read-only transaction the statement runs in
(:mod:`divergence.sandbox.runner`). Here, on the statement's own cursor:

1. ``extract_statements``: exactly one statement, and of type SELECT (which covers
   ``FROM``-first queries, ``VALUES``, ``DESCRIBE``, ``SHOW`` and ``SUMMARIZE``); every
   other type (INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, ATTACH, DETACH, COPY, EXPORT,
   LOAD/INSTALL, PRAGMA, SET/RESET/USE, CALL/CHECKPOINT, transactions, PREPARE, EXECUTE,
   VACUUM/ANALYZE, PIVOT as a statement) is refused by name;
2. ``json_serialize_sql``: the parse tree. A write hidden in a CTE or subquery
   (``DELETE_QUERY_NODE`` and the like), functions with side effects (:data:`REFUSED`)
   and every function that reads files (``read_*``, ``parquet_*``, ``glob``) are refused
   wherever they appear, as is a table reference that is a path (``FROM 'x.csv'``). DuckDB
   refuses file access itself, except to the database's own files (the ``.duckdb`` file,
   its WAL and temporary directory), whose raw bytes ``read_blob`` would return: hence
   the check here too. Also refused: tables analysts may not read
   (:data:`HIDDEN_TABLES`: the webhook signing secrets, which would let an analyst sign
   as the service).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import duckdb
import orjson

from divergence.errors import BadRequestError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ALLOWED_NODES = frozenset(
    {"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE", "STATEMENT_NODE"}
)
REFUSED = {
    "nextval": "advances a sequence",
    "setseed": "changes the session's random state",
    "query": "runs SQL from a string",
    "query_table": "runs SQL from a string",
    "json_execute_serialized_sql": "runs SQL from a string",
    "checkpoint": "writes the database",
    "force_checkpoint": "writes the database",
    "truncate_duckdb_logs": "deletes the logs",
    "import_database": "imports a database",
    "copy_database": "copies a database",
    "add_parquet_key": "changes the session's keys",
    "add_grammar_extension": "changes the parser",
    "remove_grammar_extension": "changes the parser",
    "python_map_function": "runs Python",
    "pandas_scan": "reads Python memory",
    "arrow_scan": "reads Python memory",
    "arrow_scan_dumb": "reads Python memory",
    "python_arrow_scan": "reads Python memory",
    "glob": "lists files",
    "sniff_csv": "reads files",
    "storage_info": "reads raw column statistics (of hidden tables too)",
    "pragma_storage_info": "reads raw column statistics (of hidden tables too)",
}
HIDDEN_TABLES = {
    "webhook_secrets": "it holds the webhook signing secrets (admin only, never selected)",
}
REFUSED_PREFIXES = {
    "read_": "reads files",
    "parquet_": "reads files",
    "enable_": "changes the session's settings",
    "disable_": "changes the session's settings",
}
REFUSED_PARTS = {"external_resource": "changes the instance's resources"}


class SqlRefusedError(BadRequestError):
    """The statement is not one read-only query (400, naming why)."""


def check_statement(cursor: duckdb.DuckDBPyConnection, sql: str, *, max_chars: int) -> None:
    """Raise :class:`SqlRefusedError` unless ``sql`` is one read-only query."""
    if len(sql) > max_chars:
        raise SqlRefusedError(
            f"statement is {len(sql)} characters, the limit is {max_chars} (sql.max_sql_chars)"
        )
    try:
        statements = cursor.extract_statements(sql)
    except duckdb.Error as exc:
        raise SqlRefusedError(f"syntax error: {exc}") from exc
    except ValueError as exc:  # a statement type the Python client has no name for
        raise SqlRefusedError(f"statement type not allowed: {exc}") from exc
    if len(statements) != 1:
        raise SqlRefusedError(
            f"found {len(statements)} statements: analyst SQL runs exactly one query"
        )
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise SqlRefusedError(
            f"statement type {kind.name} is not allowed: analyst SQL is read-only "
            "(one SELECT-like query)"
        )
    check_tree(parse_tree(cursor, sql))


def parse_tree(cursor: duckdb.DuckDBPyConnection, sql: str) -> Any:
    """DuckDB's parse tree of ``sql`` as JSON (``json_serialize_sql``)."""
    try:
        rows = cursor.execute("SELECT json_serialize_sql($sql::VARCHAR)", {"sql": sql}).fetchall()
    except duckdb.Error as exc:
        raise SqlRefusedError(f"cannot parse the statement: {exc}") from exc
    tree = orjson.loads(rows[0][0]) if rows else {"error": True, "error_message": "no parse"}
    if tree.get("error"):
        raise SqlRefusedError(f"cannot parse the statement: {tree.get('error_message', '')}")
    return tree


def check_tree(tree: Any) -> None:
    """Refuse writes nested anywhere and functions with side effects."""
    for node in _dicts(tree):
        kind = node.get("type")
        if isinstance(kind, str) and kind.endswith("_NODE") and kind not in ALLOWED_NODES:
            verb = kind.removesuffix("_NODE").removesuffix("_QUERY")
            raise SqlRefusedError(
                f"{verb} inside the query is not allowed: analyst SQL is read-only"
            )
        table = node.get("table_name") if kind == "BASE_TABLE" else None
        if isinstance(table, str) and not _IDENTIFIER.match(table):
            raise SqlRefusedError(
                f"table {table!r} looks like a file: analyst SQL reads tables, never files"
            )
        if isinstance(table, str) and table.lower() in HIDDEN_TABLES:
            raise SqlRefusedError(
                f"table {table} is not readable from analyst SQL: {HIDDEN_TABLES[table.lower()]}"
            )
        name = node.get("function_name")
        if isinstance(name, str):
            why = refused_function(name)
            if why:
                raise SqlRefusedError(f"function {name}() is not allowed: it {why}")


def refused_function(name: str) -> str | None:
    """Why the function ``name`` may not be called, or None."""
    lowered = name.lower()
    if lowered in REFUSED:
        return REFUSED[lowered]
    for prefix, why in REFUSED_PREFIXES.items():
        if lowered.startswith(prefix):
            return why
    for part, why in REFUSED_PARTS.items():
        if part in lowered:
            return why
    return None


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
