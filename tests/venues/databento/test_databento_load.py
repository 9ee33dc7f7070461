"""``divergence load-dbn`` into a real DuckDB file, read back with SQL.

The command is registered in cli.py as ``load-dbn``; here the same function runs under
typer's CliRunner in a one-command app, so the test does not depend on that wiring.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from divergence.cli_dbn import load_dbn
from divergence.errors import ConfigError
from divergence.store.db import Store

app = typer.Typer()
app.command("load-dbn")(load_dbn)
app.command("unused")(lambda: None)  # two commands: typer keeps "load-dbn" as a sub-command


def _load(db: Path, catalog: Path, venue: str, *files: Path, force: bool = False) -> list[str]:
    args = ["load-dbn", *map(str, files), "--venue", venue, "--db", str(db)]
    args += ["--catalog", str(catalog), *(["--force"] if force else [])]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return [line for line in result.output.splitlines() if ".dbn.zst: " in line]


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    store = Store(db, read_only=True)
    try:
        return list(store.query(sql).iter_rows())
    finally:
        store.close()


@pytest.fixture
def loaded(
    equities: Path, catalog_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, list[str]]:
    """NVDA trades + mbp-1 into databento-xnas, QQQ trades + bbo-1s into databento-equs."""
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "dbn.duckdb"
    lines = _load(
        db,
        catalog_path,
        "databento-xnas",
        equities / "XNAS.ITCH.trades.dbn.zst",
        equities / "XNAS.ITCH.mbp-1.dbn.zst",
    )
    lines += _load(
        db,
        catalog_path,
        "databento-equs",
        equities / "EQUS.MINI.trades.dbn.zst",
        equities / "EQUS.MINI.bbo-1s.dbn.zst",
    )
    return db, lines


def test_dbn_load_prints_one_summary_line_per_file(loaded: tuple[Path, list[str]]) -> None:
    _, lines = loaded
    assert lines == [
        "XNAS.ITCH.trades.dbn.zst: XNAS.ITCH trades into databento-xnas, 4 records: "
        "0 quotes, 4 trades; 0 quarantined; 0 skipped",
        "XNAS.ITCH.mbp-1.dbn.zst: XNAS.ITCH mbp-1 into databento-xnas, 4 records: "
        "2 quotes, 0 trades; 0 quarantined; 2 skipped (no two-sided quote (no ask): 2)",
        "EQUS.MINI.trades.dbn.zst: EQUS.MINI trades into databento-equs, 4 records: "
        "0 quotes, 4 trades; 0 quarantined; 0 skipped",
        "EQUS.MINI.bbo-1s.dbn.zst: EQUS.MINI bbo-1s into databento-equs, 4 records: "
        "0 quotes, 0 trades; 0 quarantined; 4 skipped (no two-sided quote (no ask): 3, "
        "no two-sided quote (no bid and no ask): 1); 4 with ts_event = ts_recv (UNDEF ts_event)",
    ]


def test_dbn_load_writes_exact_trades_with_both_timestamps(
    loaded: tuple[Path, list[str]],
) -> None:
    db, _ = loaded
    rows = _rows(
        db,
        "SELECT instrument_id, epoch_ns(ts_event), epoch_ns(ts_recv), price, size, side, "
        "trade_id FROM trades ORDER BY ts_event, trade_id",
    )
    assert rows[0] == (
        "NVDA@databento-xnas",
        1609146312576690768,
        1609146312576701886,
        Decimal("521.00"),
        Decimal(36),
        "buy",
        "2-6155-1609146312576701886-362933",
    )
    qqq = [r for r in rows if r[0] == "QQQ@databento-equs"]
    assert [(r[3], r[4], r[5]) for r in qqq] == [
        (Decimal("307.83"), 900, "sell"),
        (Decimal("307.80"), 900, "sell"),
        (Decimal("307.97"), 700, "buy"),
        (Decimal("307.97"), 200, "buy"),
    ]
    assert qqq[2][1] == qqq[3][1] == 1680001831124032275
    assert all(r[2] >= r[1] for r in rows)  # type: ignore[operator]
    assert len(rows) == 8


def test_dbn_load_writes_the_final_top_of_book(loaded: tuple[Path, list[str]]) -> None:
    db, _ = loaded
    rows = _rows(
        db,
        "SELECT venue, symbol, epoch_ns(ts_event), epoch_ns(ts_recv), bid_px, bid_sz, "
        "ask_px, ask_sz FROM quotes ORDER BY ts_event",
    )
    assert rows[-1] == (
        "databento-xnas",
        "NVDA",
        1609146112948319734,
        1609146112948330298,
        Decimal("519.75"),
        Decimal(1),
        Decimal("539.00"),
        Decimal(17),
    )
    assert len(rows) == 2
    clock = _rows(db, "SELECT venue, epoch_ns(ts_event_max) FROM venue_clock ORDER BY venue")
    assert clock == [
        ("databento-equs", 1680001831124032275),
        ("databento-xnas", 1609146515938352105),
    ]


def test_dbn_load_refuses_a_file_loaded_before(
    loaded: tuple[Path, list[str]], equities: Path, catalog_path: Path
) -> None:
    db, _ = loaded
    again = _load(db, catalog_path, "databento-xnas", equities / "XNAS.ITCH.trades.dbn.zst")
    assert len(again) == 1 and "already loaded into databento-xnas" in again[0]
    assert _rows(db, "SELECT count(*) FROM trades") == [(8,)]
    markers = _rows(
        db, "SELECT venue, stream, value FROM feed_events WHERE event = 'backfill' ORDER BY ts"
    )
    assert [(m[0], m[2]) for m in markers] == [
        ("databento-xnas", 4.0),
        ("databento-xnas", 2.0),
        ("databento-equs", 4.0),
        ("databento-equs", 0.0),
    ]
    assert all(str(m[1]).startswith("dbn:") and len(str(m[1])) == 4 + 64 for m in markers)
    forced = _load(
        db, catalog_path, "databento-xnas", equities / "XNAS.ITCH.trades.dbn.zst", force=True
    )
    assert "4 trades" in forced[0]
    assert _rows(db, "SELECT count(*) FROM trades") == [(12,)]


@pytest.mark.parametrize(
    ("venue", "second", "message"),
    [
        ("kraken", "XNAS.ITCH.mbp-1.dbn.zst", 'adapter = "databento"'),
        ("databento-xnas", "XNAS.ITCH.ohlcv-1m.dbn.zst", "schema must be one of"),
        ("databento-xnas", "XNAS.ITCH.nothing.dbn.zst", "DBN file not found"),
    ],
    ids=["venue", "schema", "missing"],
)
def test_dbn_load_checks_venue_and_files_before_touching_the_database(
    equities: Path, catalog_path: Path, tmp_path: Path, venue: str, second: str, message: str
) -> None:
    db = tmp_path / "never.duckdb"
    files = [str(equities / "XNAS.ITCH.trades.dbn.zst"), str(equities / second)]
    args = ["load-dbn", *files, "--venue", venue, "--db", str(db)]
    result = CliRunner().invoke(app, [*args, "--catalog", str(catalog_path)])
    assert isinstance(result.exception, ConfigError)
    assert message in result.exception.message
    assert not db.exists()
