"""``divergence sql`` as a command: through a running service, and directly on a file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from service.harness import STEPS, VENUE_BPS, RunningServer, make_runtime, running_server

QUERY = (
    "SELECT venue, count(*) AS n, avg(basis_bps) AS bps FROM basis GROUP BY venue ORDER BY venue"
)
EXPECTED_CSV = ["venue,n,bps", *[f"{v},{STEPS},{VENUE_BPS[v]}" for v in sorted(VENUE_BPS)]]


def divergence_sql(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "divergence", "sql", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DIVERGENCE_LOG_LEVEL": "WARNING", **(env or {})},
        check=False,
    )


@pytest.fixture(scope="module")
def db_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded database file that no process holds."""
    root = tmp_path_factory.mktemp("cli-direct")
    make_runtime(root).store.close()
    db = root / "direct.duckdb"
    shutil.move(root / "service.duckdb", db)
    return db


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(make_runtime(tmp_path_factory.mktemp("cli-service"))) as server:
        yield server


def test_cli_sql_direct_when_no_service_answers(db_file: Path) -> None:
    done = divergence_sql(
        QUERY, "--db", str(db_file), "--format", "csv", env={"DIVERGENCE_PORT": "1"}
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == EXPECTED_CSV
    assert f"divergence sql: directly (read-only) on {db_file}" in done.stderr


def test_cli_sql_direct_refuses_and_caps(db_file: Path, tmp_path: Path) -> None:
    refused = divergence_sql(
        "SELECT * FROM read_text('/etc/passwd')", "--db", str(db_file), env={"DIVERGENCE_PORT": "1"}
    )
    assert refused.returncode == 2
    assert "error: function read_text() is not allowed: it reads files" in refused.stderr
    out = tmp_path / "capped.parquet"
    capped = divergence_sql(
        "SELECT ts_event, venue FROM basis WHERE venue = $venue ORDER BY ts_event",
        "--param",
        "venue=simdex",
        "--db",
        str(db_file),
        "--format",
        "parquet",
        "--out",
        str(out),
        env={"DIVERGENCE_PORT": "1", "DIVERGENCE_SQL__MAX_ROWS": "4"},
    )
    assert capped.returncode == 0, capped.stderr
    assert "truncated at 4 rows (sql.max_rows)" in capped.stderr
    assert pq.read_table(out).column("venue").to_pylist() == ["simdex"] * 4


def test_cli_sql_through_a_running_service(served: RunningServer) -> None:
    done = divergence_sql(QUERY, "--url", served.url, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {"venue": v, "n": STEPS, "bps": VENUE_BPS[v]} for v in sorted(VENUE_BPS)
    ]
    assert f"divergence sql: through the service at {served.url}" in done.stderr
    # the settings' host and port find the same service without --url
    found = divergence_sql(
        QUERY,
        "--format",
        "csv",
        env={"DIVERGENCE_HOST": "127.0.0.1", "DIVERGENCE_PORT": str(served.port)},
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.splitlines() == EXPECTED_CSV
    assert f"through the service at {served.url}" in found.stderr
    refused = divergence_sql("DROP TABLE basis", "--url", served.url)
    assert refused.returncode == 2
    assert "error: 400: statement type DROP is not allowed" in refused.stderr
