"""DuckDB's own access controls on the store's instance, beneath the sandbox's checks.

These statements go straight to :class:`Store` (no sandbox guard): what refuses them is
DuckDB's configuration (``LOCKED_DOWN``) and the read-only transaction. The last test
records the one hole DuckDB leaves (the database's own files stay readable), which is why
the sandbox also refuses every file-reading function.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from divergence.errors import StoreError
from divergence.store.db import Store


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_blob('/etc/hostname')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM read_parquet('/etc/passwd')",
        "SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')",
    ],
)
def test_store_lockdown_refuses_host_files(sql: str, store: Store) -> None:
    with pytest.raises(StoreError, match="Permission Error"):
        store.query(sql)


def test_store_lockdown_refuses_writing_files_and_extensions(store: Store, tmp_path: Path) -> None:
    for sql in [
        f"COPY (SELECT 1) TO '{tmp_path}/out.csv'",
        f"ATTACH '{tmp_path}/other.duckdb' AS other",
        f"EXPORT DATABASE '{tmp_path}/export'",
        "INSTALL httpfs",
        "LOAD httpfs",
    ]:
        with pytest.raises(StoreError, match="Permission Error"):
            store.execute(sql)
    created = {"out.csv", "other.duckdb", "export"} & {p.name for p in tmp_path.iterdir()}
    assert created == set()


def test_store_lockdown_settings_are_locked(store: Store) -> None:
    for sql in ["SET enable_external_access = true", "SET threads = 4", "RESET threads"]:
        with pytest.raises(StoreError, match=r"(?i)cannot"):
            store.execute(sql)
    rows = store.query(
        "SELECT current_setting('enable_external_access') AS ext, "
        "current_setting('lock_configuration') AS locked"
    ).rows()
    assert rows == [(False, True)]


def test_store_lockdown_read_only_transaction_refuses_writes(store: Store) -> None:
    cur = store.cursor()
    cur.execute("BEGIN TRANSACTION READ ONLY")
    with pytest.raises(duckdb.TransactionException, match="read-only"):
        cur.execute("INSERT INTO job_state VALUES ('x', 1, 1, now()::TIMESTAMP_NS)")
    cur.execute("ROLLBACK")
    assert store.query("SELECT count(*) FROM job_state").rows() == [(0,)]


def test_store_lockdown_own_files_stay_readable_to_duckdb(store: Store) -> None:
    """DuckDB lets a locked-down instance read its own file; the sandbox refuses read_blob."""
    rows = store.query(f"SELECT size FROM read_blob('{store.path}')").rows()
    assert rows == [(store.path.stat().st_size,)]
