"""The dashboards' chart queries on the whole simulated day (the shared scenario database):
values recomputed here from the base tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from divergence.content import content_dir
from divergence.dashboards import query_params
from divergence.sim import scenario as sc

S = 1_000_000_000


def _run(con: duckdb.DuckDBPyConnection, name: str, **given: Any) -> list[tuple[Any, ...]]:
    sql = (content_dir("sql") / "queries" / f"{name}.sql").read_text()
    given = {"venue": None, **given}  # every chart query may filter by venue
    return con.execute(sql, {k: given[k] for k in query_params(sql)}).fetchall()


@pytest.fixture(scope="module")
def con(scenario_db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    # closed after the module: a Store opening the same file later must not find this
    # connection's (different) configuration still cached in the process
    connection = duckdb.connect(str(scenario_db), read_only=True)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def window(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    first, last = con.execute(
        "SELECT epoch_ns(min(ts_event)), epoch_ns(max(ts_event)) FROM basis"
    ).fetchone()  # type: ignore[misc]
    return int(first), int(last) + 1


@pytest.mark.slow
def test_dashboard_scenario_heatmap_is_the_latest_basis_row(
    con: duckdb.DuckDBPyConnection, window: tuple[int, int]
) -> None:
    end = sc.RICH_END_NS - 10 * S  # inside the 80 bps rich episode
    cells = {(r, c): v for r, c, v, *_ in _run(con, "chart_overview_basis_heatmap", end=end)}
    rows = con.execute(
        "SELECT underlying, venue, epoch_ns(ts_event), source_seq, basis_bps FROM basis"
    ).fetchall()
    latest: dict[tuple[str, str], tuple[int, int, float | None]] = {}
    for underlying, venue, ts, seq, bps in rows:
        if end - 900 * S <= ts < end and (
            (underlying, venue) not in latest or (ts, seq) > latest[(underlying, venue)][:2]
        ):
            latest[(underlying, venue)] = (ts, seq, bps)
    assert set(cells) == set(latest) and len(cells) >= 9
    assert cells == {key: bps for key, (_, _, bps) in latest.items()}
    assert cells[("AAPL", "simx-a")] == pytest.approx(sc.RICH_BPS, abs=15)


@pytest.mark.slow
def test_dashboard_scenario_sweep_bars_are_window_means(
    con: duckdb.DuckDBPyConnection, window: tuple[int, int]
) -> None:
    start, end = window
    bars = _run(con, "chart_bestex_sweep", underlying="AAPL", start=start, end=end)
    rows = con.execute(
        "SELECT notional_usd, token_vs_stock_gap_bps FROM sweep_costs_1m WHERE underlying = 'AAPL'"
        " AND fillable AND ref_mid_usd IS NOT NULL AND token_vs_stock_gap_bps IS NOT NULL"
    ).fetchall()
    by_notional: dict[float, list[float]] = {}
    for notional, gap in rows:
        by_notional.setdefault(notional, []).append(gap)
    consolidated = [(cat, v, n) for series, cat, v, n, _ in bars if series == "consolidated"]
    assert [n for *_, n in consolidated] == sorted(by_notional)
    for _, value, notional in consolidated:
        values = by_notional[notional]
        assert value == pytest.approx(sum(values) / len(values), rel=1e-9)


@pytest.mark.slow
def test_dashboard_scenario_price_bbo_keeps_extremes(
    con: duckdb.DuckDBPyConnection, window: tuple[int, int]
) -> None:
    start, end = window
    bucket = -(-(end - start) // 300)
    points = _run(con, "chart_price", underlying="AAPL", start=start, end=end, bucket_ns=bucket)
    lo, hi = con.execute(
        "SELECT min(best_bid_usd), max(best_bid_usd) FROM consolidated_bbo WHERE underlying = "
        "'AAPL' AND ts_event >= make_timestamp_ns($s) AND ts_event < make_timestamp_ns($e)",
        {"s": start, "e": end},
    ).fetchone()  # type: ignore[misc]
    bids = [(ts, v) for series, ts, v in points if series == "bbo_bid"]
    assert min(v for _, v in bids) == lo and max(v for _, v in bids) == hi
    per_bucket: dict[int, int] = {}
    for ts, _ in bids:
        per_bucket[(ts - start) // bucket] = per_bucket.get((ts - start) // bucket, 0) + 1
    assert max(per_bucket.values()) <= 2 and len(bids) <= 600


@pytest.mark.slow
def test_dashboard_scenario_markers_show_the_usdc_depeg(
    con: duckdb.DuckDBPyConnection, window: tuple[int, int]
) -> None:
    start, end = window
    markers = _run(
        con, "chart_underlying_markers", underlying="AAPL", venue=None, start=start, end=end
    )
    depegs = [(ts, stop, label) for ts, stop, kind, label in markers if kind == "depeg"]
    usdc = [(ts, stop) for ts, stop, label in depegs if label.startswith("USDC depeg")]
    assert len(usdc) == 1
    ts, stop = usdc[0]
    assert sc.DEPEG_START_NS <= ts < sc.DEPEG_START_NS + 5 * 60 * S
    assert stop > ts
