"""``divergence export`` on a real database file, in a subprocess."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from export_seed import make_db

from divergence.cli_export import export
from divergence.errors import ConfigError


@pytest.fixture(scope="module")
def db_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-export") / "cli.duckdb"
    make_db(path).close()
    return path


def divergence(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "divergence", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_cli_export_writes_the_tables_asked(db_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = divergence("export", "--db", db_file, "--dir", out, "--tables", "daily_premium,alerts")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    summary = r"{}: 2 partitions, 2 rewritten \(2 rows, [1-9]\d* bytes\)"
    assert re.fullmatch(summary.format("daily_premium"), lines[0])
    assert re.fullmatch(summary.format("alerts"), lines[1])
    assert lines[2:] == [f"export at {out}"]
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.parquet")) == [
        "alerts/date=2025-10-09/data.parquet",
        "alerts/date=2025-10-10/data.parquet",
        "daily_premium/date=2025-10-09/underlying=AAPL/data.parquet",
        "daily_premium/date=2025-10-10/underlying=TSLA/data.parquet",
    ]
    manifest = (out / "_manifest.json").read_text()
    assert '"date=2025-10-10/underlying=TSLA"' in manifest


def test_cli_export_unknown_table_is_refused_before_opening(db_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no export query for 'nope'"):
        export(db=db_file, out=tmp_path, tables=["basis,nope"])
    assert list(tmp_path.iterdir()) == []  # refused before anything was written
