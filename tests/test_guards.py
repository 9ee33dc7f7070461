"""Guards: every setting is documented, every SQL file has its header and runs."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import polars as pl
import pytest
from pydantic import BaseModel

from divergence.settings import Settings
from divergence.store.db import Store

ROOT = Path(__file__).resolve().parents[1]
SQL_FILES = sorted((ROOT / "sql").rglob("*.sql"))
QUERY_FILES = sorted((ROOT / "sql" / "queries").glob("*.sql"))
# Relations a statement expects to be registered by its caller, and the table they mirror.
REGISTERED = {"_clock": "venue_clock", "_batch": "quotes"}


def _setting_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += _setting_keys(annotation, f"{prefix}{name}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


def test_guards_every_setting_is_documented() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    missing = [key for key in _setting_keys(Settings) if f"`{key}`" not in doc]
    assert missing == []


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_guards_sql_file_has_header(path: Path) -> None:
    lines = path.read_text().splitlines()
    assert lines[0].startswith("-- "), "first line must be a '-- name: purpose' header"
    header = "\n".join(line for line in lines if line.startswith("--")).lower()
    assert "grain" in header, "the header must state the grain"


@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda p: p.name)
def test_guards_query_prepares_against_schema(path: Path, store: Store) -> None:
    text = path.read_text()
    cur = store.cursor()
    for name, table in REGISTERED.items():
        if re.search(rf"\b{name}\b", text):
            cur.register(name, store.query(f"SELECT * FROM {table} LIMIT 0").to_arrow())
    try:
        cur.execute(f"PREPARE guard_q AS {text.strip().rstrip(';')}")
    except duckdb.Error as exc:
        pytest.fail(f"{path.name} does not prepare: {exc}")


def test_guards_schema_matches_event_frames(store: Store) -> None:
    """Every table the writer fills has exactly the columns the frames produce."""
    from decimal import Decimal

    from divergence.events import FxRate, PoolState, Quote, SessionState, Trade
    from divergence.store.frames import TABLE_OF, frame_for

    d = Decimal("1")
    samples = [
        Quote(
            ts_event=1,
            ts_recv=1,
            venue="v",
            instrument_id="i",
            symbol="s",
            bid_px=d,
            bid_sz=d,
            ask_px=d,
            ask_sz=d,
        ),
        Trade(
            ts_event=1,
            ts_recv=1,
            venue="v",
            instrument_id="i",
            symbol="s",
            price=d,
            size=d,
            side="buy",
            trade_id="t",
        ),
        PoolState(
            ts_event=1,
            ts_recv=1,
            venue="v",
            instrument_id="i",
            symbol="s",
            pool="p",
            reserve_base=d,
            reserve_quote=d,
            price=d,
            liquidity=None,
            fee_bps=d,
        ),
        FxRate(ts_event=1, ts_recv=1, venue="v", currency="USDC", rate_usd=d),
        SessionState(ts_event=1, ts_recv=1, venue="v", underlying="AAPL", session="closed"),
    ]
    for event in samples:
        frame = frame_for(type(event), [event], ts_ingest=1, first_seq=1)
        table = TABLE_OF[type(event)]
        columns = store.query(f"SELECT * FROM {table} LIMIT 0").columns
        assert sorted(frame.columns) == sorted(columns), table
        assert isinstance(frame, pl.DataFrame)
