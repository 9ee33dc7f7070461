"""Every query in docs/sql-cookbook.md runs against a real scenario database."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "sql-cookbook.md"
BLOCKS = re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
# The quarantine query is empty on a clean run; every other query must return rows.
MAY_BE_EMPTY = ("FROM quarantine",)


@pytest.mark.slow
@pytest.mark.parametrize("sql", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_sql_cookbook_query_runs(sql: str, scenario_db: Path) -> None:
    with duckdb.connect(str(scenario_db), read_only=True) as con:
        rows = con.sql(sql).fetchall()
    if not any(marker in sql for marker in MAY_BE_EMPTY):
        assert rows, "a cookbook query returned nothing on the scenario data"


def test_sql_cookbook_has_queries() -> None:
    assert len(BLOCKS) >= 8
