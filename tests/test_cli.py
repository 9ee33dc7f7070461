"""The command line: one clear line and exit status 2 on bad input, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from divergence.store.db import Store


def _cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "divergence", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=full_env,
        cwd=cwd,
    )


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_cli_bad_time_names_the_option(tmp_path: Path) -> None:
    line = _one_error_line(
        _cli(
            "backfill",
            "--start",
            "last tuesday",
            "--end",
            "now",
            "--db",
            str(tmp_path / "x.duckdb"),
        )
    )
    assert line.startswith("error: --start: expected ISO 8601 time or epoch nanoseconds")


def test_cli_unknown_setting_names_the_key(tmp_path: Path) -> None:
    line = _one_error_line(
        _cli("sql", "SELECT 1", env={"DIVERGENCE_WRITER__FLUSH_ROW": "5"}, cwd=tmp_path)
    )
    assert line == "error: environment: writer.flush_row: unknown key"


def test_cli_missing_argument_is_one_line() -> None:
    line = _one_error_line(_cli("replay"))
    assert line == "error: Missing argument 'file'. (see 'divergence replay --help')"


def test_cli_missing_config_file(tmp_path: Path) -> None:
    line = _one_error_line(_cli("serve", "--config", str(tmp_path / "none.toml")))
    assert line == f"error: {tmp_path / 'none.toml'}: --config: file not found"


def test_cli_replay_missing_archive(tmp_path: Path) -> None:
    line = _one_error_line(
        _cli("replay", str(tmp_path / "nope.jsonl.zst"), "--db", str(tmp_path / "r.duckdb"))
    )
    assert line.endswith("nope.jsonl.zst: FILE: archive file not found")


def test_cli_sql_reads_values_as_csv(tmp_path: Path) -> None:
    db = tmp_path / "q.duckdb"
    Store(db).close()
    result = _cli(
        "sql", "--db", str(db), "--format", "csv", "SELECT 40 + 2 AS answer, 'AAPLx' AS token"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "answer,token\n42,AAPLx\n"


def test_cli_sql_refuses_writes(tmp_path: Path) -> None:
    db = tmp_path / "ro.duckdb"
    Store(db).close()
    line = _one_error_line(_cli("sql", "--db", str(db), "CREATE TABLE t (x INT)"))
    assert "read-only" in line.lower()


@pytest.mark.parametrize("command", ["demo", "serve", "backfill", "replay", "sql"])
def test_cli_every_command_has_help(command: str) -> None:
    result = _cli(command, "--help")
    assert result.returncode == 0
    assert f"divergence {command}" in result.stdout
