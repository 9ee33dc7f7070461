"""The Parquet export examples of docs/sql-cookbook.md run on an export of a real database
and give the same answer as the database itself."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from divergence.export.config import ExportSettings
from divergence.export.job import run_export
from divergence.export.tables import DAY_MAX, DAY_MIN, load_tables
from divergence.store.db import AsyncStore

DOC = Path(__file__).resolve().parents[2] / "docs" / "sql-cookbook.md"
SQL_BLOCKS = re.findall(r"```sql export\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
PY_BLOCKS = re.findall(r"```python export\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
READ = re.compile(r"read_parquet\('export/(\w+)/\*\*/\*\.parquet', hive_partitioning = true\)")


def from_database(sql: str) -> str:
    """The example with each export read replaced by the table's export query."""
    queries = {t.name: t.query for t in load_tables()}

    def inline(match: re.Match[str]) -> str:
        body = "\n".join(
            line for line in queries[match.group(1)].splitlines() if not line.startswith("--")
        )
        return f"({body.strip().rstrip(';')})"

    return READ.sub(inline, sql)


@pytest.fixture
async def exported(
    seeded: AsyncStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncStore:
    await run_export(seeded, ExportSettings(), root=tmp_path / "export")
    monkeypatch.chdir(tmp_path)
    return seeded


def test_export_cookbook_has_examples() -> None:
    assert len(SQL_BLOCKS) >= 2
    assert len(PY_BLOCKS) >= 1
    assert all(READ.search(sql) for sql in SQL_BLOCKS)


@pytest.mark.parametrize("sql", SQL_BLOCKS, ids=[f"sql{i}" for i in range(len(SQL_BLOCKS))])
async def test_export_cookbook_sql_matches_the_database(exported: AsyncStore, sql: str) -> None:
    with duckdb.connect() as con:
        got = con.sql(sql).fetchall()
    params = {"day_from": DAY_MIN, "day_to": DAY_MAX}
    want = exported.store.cursor().execute(from_database(sql), params).fetchall()
    assert got
    assert got == want


async def test_export_cookbook_polars_matches_the_database(exported: AsyncStore) -> None:
    namespace: dict[str, object] = {}
    exec(PY_BLOCKS[0], namespace)  # the documented snippet, as a reader would run it
    got = namespace["daily"]
    assert isinstance(got, pl.DataFrame)
    want = (
        exported.store.query(
            "SELECT CAST(ts_event AS DATE) AS date, venue, basis_bps FROM basis "
            "WHERE underlying = 'AAPL'"
        )
        .group_by("date", "venue")
        .agg(pl.len().alias("quotes"), pl.col("basis_bps").mean().alias("avg_basis_bps"))
        .sort("date", "venue")
    )
    assert got.height == 4
    assert_frame_equal(got, want, check_exact=False)
