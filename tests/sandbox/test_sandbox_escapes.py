"""Escape attempts against the analyst SQL sandbox: every one refused, and nothing changed.

Each attempt runs twice, through a real uvicorn server (``POST /api/sql``) and on the
direct path of ``divergence sql`` (the database file opened read-only in-process, as the
CLI does when no service answers; a few also through the CLI's own function, which opens
the file itself; tests/sandbox/test_cli_sql.py runs the command). After each: the
``basis`` rows, the catalog (tables, views, sequences and their values), the attached
databases and the settings are exactly what they were, and no file appeared where the
attempt tried to write one.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from divergence.errors import DivergenceError
from divergence.sandbox.client import run_cli_sql
from divergence.sandbox.runner import run_sandboxed
from divergence.settings import Settings
from divergence.store.db import Store
from service.harness import RunningServer, make_runtime, running_server

# (id, statement with {db} {dbdir} {tmp} placeholders, statuses allowed, a fragment of the
# refusal message)
ATTEMPTS: list[tuple[str, str, set[int], str]] = [
    ("read_csv", "SELECT * FROM read_csv('/etc/passwd')", {400}, "reads files"),
    ("read_csv_auto", "SELECT * FROM read_csv_auto('/etc/passwd')", {400}, "reads files"),
    ("read_text", "SELECT * FROM read_text('/etc/passwd')", {400}, "reads files"),
    ("read_blob", "SELECT * FROM read_blob('/etc/passwd')", {400}, "reads files"),
    ("read_json", "SELECT * FROM read_json('/etc/passwd')", {400}, "reads files"),
    ("read_parquet", "SELECT * FROM read_parquet('/etc/passwd')", {400}, "reads files"),
    ("glob_etc", "SELECT * FROM glob('/etc/*')", {400}, "lists files"),
    ("read_text_dbdir", "SELECT * FROM read_text('{dbdir}/*')", {400}, "reads files"),
    ("glob_dbdir", "SELECT * FROM glob('{dbdir}/*')", {400}, "lists files"),
    ("read_blob_db", "SELECT content FROM read_blob('{db}')", {400}, "reads files"),
    ("read_blob_wal", "SELECT content FROM read_blob('{db}.wal')", {400}, "reads files"),
    ("scan_db_file", "FROM '{db}'", {400}, "looks like a file"),
    ("parquet_meta", "SELECT * FROM parquet_metadata('{db}')", {400}, "reads files"),
    ("http_read", "SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')", {400}, "reads files"),
    ("replacement_scan", "FROM '/etc/passwd'", {400}, "looks like a file"),
    ("attach_memory", "ATTACH ':memory:' AS m", {400}, "statement type ATTACH"),
    ("attach_file", "ATTACH '{tmp}/attached.duckdb' AS x", {400}, "statement type ATTACH"),
    ("detach", "DETACH m", {400}, "statement type DETACH"),
    ("copy_to", "COPY basis TO '{tmp}/out.csv'", {400}, "statement type COPY"),
    ("copy_query_to", "COPY (SELECT 1) TO '{tmp}/out.parquet' (FORMAT parquet)", {400}, "COPY"),
    ("copy_from", "COPY basis FROM '/etc/passwd'", {400}, "statement type COPY"),
    ("export", "EXPORT DATABASE '{tmp}/export'", {400}, "statement type EXPORT"),
    ("install", "INSTALL httpfs", {400}, "statement type LOAD"),
    ("load", "LOAD httpfs", {400}, "statement type LOAD"),
    ("load_file", "LOAD '{tmp}/evil.duckdb_extension'", {400}, "statement type LOAD"),
    ("pragma", "PRAGMA enable_profiling", {400}, "statement type PRAGMA"),
    ("set_external", "SET enable_external_access = true", {400}, "statement type SET"),
    ("set_threads", "SET threads = 4", {400}, "statement type SET"),
    ("set_variable", "SET VARIABLE x = 1", {400}, "statement type SET"),
    ("reset", "RESET threads", {400}, "statement type SET"),
    ("use", "USE memory", {400}, "statement type SET"),
    ("create_table", "CREATE TABLE evil AS SELECT 1 AS x", {400}, "statement type CREATE"),
    ("create_view", "CREATE VIEW evil AS SELECT 1 AS x", {400}, "statement type CREATE"),
    ("create_macro", "CREATE MACRO evil(x) AS x", {400}, "statement type CREATE"),
    (
        "create_secret",
        "CREATE SECRET evil (TYPE s3, KEY_ID 'a', SECRET 'b')",
        {400},
        "statement type CREATE",
    ),
    ("create_temp", "CREATE TEMP TABLE evil (x INT)", {400}, "statement type CREATE"),
    ("insert", "INSERT INTO basis SELECT * FROM basis LIMIT 1", {400}, "statement type INSERT"),
    ("update", "UPDATE basis SET basis_bps = 0", {400}, "statement type UPDATE"),
    ("delete", "DELETE FROM basis", {400}, "statement type DELETE"),
    ("drop", "DROP TABLE basis", {400}, "statement type DROP"),
    ("alter", "ALTER TABLE basis RENAME TO gone", {400}, "statement type ALTER"),
    ("two_statements", "SELECT 1; DROP TABLE basis", {400}, "2 statements"),
    (
        "cte_delete",
        "WITH d AS (DELETE FROM basis RETURNING *) SELECT count(*) FROM d",
        {400},
        "DELETE inside the query",
    ),
    (
        "cte_insert",
        "WITH d AS (INSERT INTO basis SELECT * FROM basis RETURNING 1) SELECT * FROM d",
        {400},
        "INSERT inside the query",
    ),
    ("query_fn", "SELECT * FROM query('DELETE FROM basis')", {400}, "function query()"),
    ("query_table", "SELECT * FROM query_table('basis')", {400}, "function query_table()"),
    ("nextval", "SELECT nextval('webhook_outbox_seq')", {400}, "function nextval()"),
    ("setseed", "SELECT setseed(0.5)", {400}, "function setseed()"),
    ("call", "CALL pragma_version()", {400}, "statement type CALL"),
    ("checkpoint", "CHECKPOINT", {400}, "statement type CALL"),
    ("checkpoint_fn", "SELECT * FROM force_checkpoint()", {400}, "force_checkpoint"),
    ("begin", "BEGIN TRANSACTION", {400}, "statement type TRANSACTION"),
    ("prepare", "PREPARE p AS SELECT 1", {400}, "statement type PREPARE"),
    ("vacuum", "VACUUM", {400}, "statement type VACUUM"),
    ("secrets_table", "SELECT secret FROM webhook_secrets", {400}, "webhook_secrets"),
    (
        "secrets_nested",
        "SELECT (SELECT max(secret) FROM main.WEBHOOK_SECRETS) AS s",
        {400},
        "webhook_secrets",
    ),
    ("enable_logging", "SELECT * FROM enable_logging()", {400}, "enable_logging"),
]
CREATED = ["attached.duckdb", "out.csv", "out.parquet", "export", "evil.duckdb_extension"]
STATE_SQL = {
    "basis": "SELECT count(*) AS n, sum(hash(ts_event, instrument_id, basis_bps)) AS h FROM basis",
    "catalog": (
        "SELECT database_name, schema_name, table_name, 'table' AS kind FROM duckdb_tables() "
        "UNION ALL SELECT database_name, schema_name, view_name, 'view' FROM duckdb_views() "
        "UNION ALL SELECT database_name, schema_name, sequence_name, 'sequence' "
        "FROM duckdb_sequences() ORDER BY ALL"
    ),
    "databases": "SELECT database_name, path FROM duckdb_databases() ORDER BY ALL",
    "settings": "SELECT name, value FROM duckdb_settings() ORDER BY name",
    "sequence": "SELECT sequence_name, last_value FROM duckdb_sequences() ORDER BY ALL",
}


def fill(sql: str, db: Path, tmp: Path) -> str:
    return sql.format(db=db, dbdir=db.parent, tmp=tmp)


def snapshot(store: Store) -> dict[str, Any]:
    return {name: store.query(sql).rows() for name, sql in STATE_SQL.items()}


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, Path, dict[str, Any]]]:
    """A real server on a seeded file, and that file's state before any attempt."""
    root = tmp_path_factory.mktemp("escapes-http")
    with running_server(make_runtime(root)) as server:
        yield server, root, snapshot(server.runtime.store.store)


@pytest.fixture(scope="module")
def http(served: tuple[RunningServer, Path, dict[str, Any]]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[0].url, timeout=20) as client:
        yield client


@pytest.fixture(scope="module")
def direct_file(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A seeded database file no process holds, and a port nothing listens on."""
    root = tmp_path_factory.mktemp("escapes-direct")
    runtime = make_runtime(root)
    runtime.store.close()
    db = root / "direct.duckdb"
    shutil.move(root / "service.duckdb", db)
    return Settings(db_path=db, archive_dir=root / "archive", port=1)


@pytest.fixture(scope="module")
def direct_store(direct_file: Settings) -> Iterator[tuple[Store, dict[str, Any]]]:
    """The file opened read-only as ``divergence sql`` opens it without a service."""
    store = Store(direct_file.db_path, read_only=True)
    yield store, snapshot(store)
    store.close()


@pytest.mark.parametrize(
    ("sql", "statuses", "fragment"), [a[1:] for a in ATTEMPTS], ids=[a[0] for a in ATTEMPTS]
)
def test_sandbox_escape_refused_over_http(
    sql: str,
    statuses: set[int],
    fragment: str,
    served: tuple[RunningServer, Path, dict[str, Any]],
    http: httpx.Client,
) -> None:
    server, root, before = served
    store = server.runtime.store.store
    response = http.post("/api/sql", json={"sql": fill(sql, store.path, root)})
    body = response.json()
    assert response.status_code in statuses, body
    assert body["error"]["status"] == response.status_code
    assert fragment.lower() in body["error"]["message"].lower(), body
    assert snapshot(store) == before
    assert [name for name in CREATED if (root / name).exists()] == []


@pytest.mark.parametrize(
    ("sql", "statuses", "fragment"), [a[1:] for a in ATTEMPTS], ids=[a[0] for a in ATTEMPTS]
)
def test_sandbox_escape_refused_directly(
    sql: str,
    statuses: set[int],
    fragment: str,
    direct_file: Settings,
    direct_store: tuple[Store, dict[str, Any]],
) -> None:
    store, before = direct_store
    db = direct_file.db_path
    with pytest.raises(DivergenceError) as refused:
        run_sandboxed(store.cursor(), fill(sql, db, db.parent), None, direct_file.sql)
    assert refused.value.http_status in statuses, refused.value.message
    assert fragment.lower() in refused.value.message.lower()
    assert snapshot(store) == before
    assert [name for name in CREATED if (db.parent / name).exists()] == []


@pytest.mark.parametrize(
    "name", ["read_blob_db", "attach_file", "copy_to", "cte_delete", "set_external", "load"]
)
def test_sandbox_escape_refused_by_the_cli_direct_path(name: str, direct_file: Settings) -> None:
    """``divergence sql``'s own function, with no service answering: it opens the file."""
    sql = next(a[1] for a in ATTEMPTS if a[0] == name)
    db = direct_file.db_path
    with pytest.raises(DivergenceError) as refused:
        run_cli_sql(fill(sql, db, db.parent), settings=direct_file, params={}, url=None, key=None)
    assert refused.value.http_status == 400
    assert [name for name in CREATED if (db.parent / name).exists()] == []


def test_sandbox_escape_table_is_large_enough() -> None:
    assert len({a[0] for a in ATTEMPTS}) == len(ATTEMPTS) >= 25
