from __future__ import annotations

from pathlib import Path

import pytest

from divergence.content import content_dir
from divergence.errors import NotFoundError, StoreError
from divergence.store.db import Store


def test_db_migrations_applied_once_and_tracked(tmp_path: Path) -> None:
    path = tmp_path / "m.duckdb"
    first = Store(path)
    applied = first.migrate()
    first.close()
    files = sorted(p.name for p in (content_dir("sql") / "schema").glob("0*.sql"))
    assert applied == files[1:]  # 0000 bootstraps the tracking table itself
    again = Store(path)
    assert again.migrate() == []
    recorded = again.query("SELECT version, name FROM schema_migrations ORDER BY version")
    again.close()
    assert recorded["name"].to_list() == files[1:]
    assert recorded["version"].to_list() == [int(f[:4]) for f in files[1:]]


def test_db_second_writer_process_gets_clear_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "locked.duckdb"
    owner = Store(path)
    owner.migrate()
    code = (
        "import sys\nfrom pathlib import Path\nfrom divergence.store.db import Store\n"
        "from divergence.errors import StoreError\n"
        f"try:\n    Store(Path({str(path)!r}), read_only=True)\n"
        "except StoreError as e:\n    print(e.message); sys.exit(3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    owner.close()
    assert result.returncode == 3, result.stderr
    assert "is locked by another process" in result.stdout


def test_db_sql_text_refuses_path_tricks(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.sql_text("../schema/0001_quotes")
    with pytest.raises(NotFoundError, match=r"no SQL file queries/nope\.sql"):
        store.sql_text("nope")


def test_db_query_error_is_store_error(store: Store) -> None:
    with pytest.raises(StoreError, match="query failed"):
        store.query("SELECT * FROM no_such_table")
