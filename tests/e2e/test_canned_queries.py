"""Every shipped canned query on the simulated oct10 scenario, through a real server.

The expected values are computed here from the base tables with polars, independently of
the queries' SQL: the depeg report names USDC and the three simdex pools, the weekend gap
is the last token price after Friday's close against the last regular-session reference,
and so on.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

from divergence.auth.config import ServiceSettings
from divergence.catalog import load_catalog
from divergence.content import default_catalog_path
from divergence.sandbox.canned import load_canned_queries
from divergence.settings import Settings
from divergence.store.db import AsyncStore, Store
from service.harness import RunningServer, StandInRuntime, running_server

pytestmark = pytest.mark.slow
SHIPPED = sorted(load_canned_queries())
EMPTY_ON_SCENARIO = {"luld_events_report"}  # no shadow LULD event in the scenario


@pytest.fixture(scope="module")
def scenario_server(
    scenario_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A server on a copy of the scenario file (the other e2e modules open the original
    with DuckDB's default configuration, which one process cannot mix with the store's)."""
    root = tmp_path_factory.mktemp("canned")
    db = root / "scenario.duckdb"
    for suffix in ("", ".wal"):
        if Path(f"{scenario_db}{suffix}").exists():
            shutil.copy(f"{scenario_db}{suffix}", f"{db}{suffix}")
    settings = Settings(
        db_path=db, archive_dir=root / "archive", service=ServiceSettings(dev_mode=True)
    )
    store = Store(db, read_only=True)
    runtime = StandInRuntime(
        settings=settings, catalog=load_catalog(default_catalog_path()), store=AsyncStore(store)
    )
    with running_server(runtime) as server:
        yield server


@pytest.fixture(scope="module")
def api(scenario_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=scenario_server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def tables(scenario_server: RunningServer) -> Any:
    store = scenario_server.runtime.store.store

    def table(name: str) -> pl.DataFrame:
        return store.query(f"SELECT * FROM {name}")

    return table


def run(api: httpx.Client, name: str, **params: str) -> list[dict[str, Any]]:
    response = api.get(f"/api/queries/{name}", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["truncated"] is False
    names = [c["name"] for c in body["columns"]]
    return [dict(zip(names, row, strict=True)) for row in body["rows"]]


@pytest.mark.parametrize("name", SHIPPED)
def test_canned_query_runs_on_the_scenario(name: str, api: httpx.Client) -> None:
    rows = run(api, name)
    assert (rows == []) == (name in EMPTY_ON_SCENARIO), name
    as_csv = api.get(f"/api/queries/{name}", params={"format": "csv"})
    assert len(as_csv.text.splitlines()) == len(rows) + 1


def test_canned_depeg_impact_names_usdc_and_the_simdex_pools(
    api: httpx.Client, tables: Any
) -> None:
    rows = [r for r in run(api, "depeg_impact", currency="USDC")]
    events = (
        tables("stablecoin_events")
        .filter((pl.col("currency") == "USDC") & (pl.col("kind") == "stablecoin_depeg"))
        .sort("ts_event")
    )
    start, end = events["ts_event"][0], events["ts_event"][1]
    assert events["state"].to_list()[:2] == ["start", "end"]
    during = tables("basis").filter(
        (pl.col("quote_currency") == "USDC")
        & (pl.col("ts_event") >= start)
        & (pl.col("ts_event") < end)
        & pl.col("basis_bps").is_not_null()
        & pl.col("fx_rate").is_not_null()
    )
    expected = (
        during.group_by("instrument_id")
        .agg(n=pl.len(), low=pl.col("fx_rate").min(), mean=pl.col("basis_bps").mean())
        .sort("instrument_id")
    )
    assert expected["instrument_id"].to_list() == ["AAPLx@simdex", "NVDAx@simdex", "TSLAx@simdex"]
    assert [(r["kind"], r["currency"], r["instrument_id"]) for r in rows] == [
        ("stablecoin_depeg", "USDC", i) for i in expected["instrument_id"]
    ]
    for row, exp in zip(rows, expected.iter_rows(named=True), strict=True):
        assert row["observations"] == exp["n"]
        assert row["lowest_rate"] == pytest.approx(exp["low"], abs=1e-6)
        assert row["mean_basis_bps"] == pytest.approx(exp["mean"], abs=0.01)
        assert row["flagged_fx_depeg"] is True
        assert (
            row["depeg_effect_bps"] < -1000
        )  # the coin at ~0.88 USD: basis as if pegged is ~+12 %


def test_canned_weekend_gap_against_fridays_close(api: httpx.Client, tables: Any) -> None:
    rows = run(api, "weekend_gap")
    close = datetime(2025, 10, 10, 20, 0)
    basis = tables("basis")
    before = (
        basis.filter(
            (pl.col("session") == "regular")
            & (pl.col("ref_state") == "live")
            & (pl.col("ts_event") < close)
        )
        .sort("ts_event")
        .group_by("instrument_id")
        .agg(close_ref=pl.col("ref_mid").last())
    )
    after = (
        basis.filter((pl.col("ts_event") >= close) & pl.col("mid_usd").is_not_null())
        .sort("ts_event")
        .group_by("instrument_id")
        .agg(last_px=(pl.col("mid_usd") / pl.col("multiplier")).last())
    )
    expected = before.join(after, on="instrument_id").with_columns(
        gap=(pl.col("last_px") / pl.col("close_ref") - 1) * 100
    )
    got = {r["instrument_id"]: r for r in rows}
    assert set(got) == set(expected["instrument_id"]) and len(got) == 9
    for exp in expected.iter_rows(named=True):
        row = got[exp["instrument_id"]]
        assert row["close_day"] == "2025-10-10"
        assert row["reopen_ts"] == "2025-10-13T13:30:00.000000000Z"
        assert row["close_ref_mid"] == pytest.approx(exp["close_ref"], abs=1e-4)
        assert row["predicted_gap_pct"] == pytest.approx(exp["gap"], abs=1e-3)
        assert row["realized_gap_pct"] is None  # the scenario ends before Monday
    # the sell-off after the close: every token priced its stock lower
    assert all(r["predicted_gap_pct"] < -2 for r in rows)


def test_canned_daily_premium(api: httpx.Client, tables: Any) -> None:
    rows = run(api, "daily_premium_report")
    premium = tables("daily_premium").sort("underlying")
    assert [(r["underlying"], r["trading_day"]) for r in rows] == [
        (u, "2025-10-10") for u in premium["underlying"]
    ]
    for row, exp in zip(rows, premium.iter_rows(named=True), strict=True):
        assert row["premium_bps"] == pytest.approx(exp["pd_frac"] * 1e4, abs=0.01)
        assert row["beyond_2pct"] is (abs(exp["pd_frac"]) > 0.02)
    assert run(api, "daily_premium_report", underlying="NVDA")[0]["underlying"] == "NVDA"
    assert exp["trading_day"] == date(2025, 10, 10)


def test_canned_top_divergences(api: httpx.Client, tables: Any) -> None:
    rows = run(api, "top_divergences", min_abs_bps="25", limit="4")
    live = tables("basis").filter(
        (pl.col("ref_state") == "live") & pl.col("basis_bps").is_not_null()
    )
    peaks = (
        live.group_by("instrument_id")
        .agg(peak=pl.col("basis_bps").abs().max())
        .filter(pl.col("peak") >= 25)
        .sort(["peak", "instrument_id"], descending=[True, False])
        .head(4)
    )
    assert [r["instrument_id"] for r in rows] == peaks["instrument_id"].to_list()
    for row, exp in zip(rows, peaks.iter_rows(named=True), strict=True):
        assert abs(row["peak_basis_bps"]) == pytest.approx(exp["peak"], abs=0.01)
    assert rows[0]["venue"] == "simdex" and rows[0]["peak_session"] == "post"  # the USDC depeg


def test_canned_trade_through_report(api: httpx.Client, tables: Any) -> None:
    rows = run(api, "trade_through_report")
    expected = (
        tables("trade_throughs")
        .group_by(["underlying", "venue"])
        .agg(
            trades=pl.len(),
            through=pl.col("traded_through").sum(),
            evaluated=pl.col("traded_through").count(),
        )
        .sort(["underlying", "venue"])
    )
    assert [(r["underlying"], r["venue"]) for r in rows] == list(
        zip(expected["underlying"], expected["venue"], strict=True)
    )
    for row, exp in zip(rows, expected.iter_rows(named=True), strict=True):
        assert (row["trades"], row["trades_through"]) == (exp["trades"], exp["through"])
        assert row["rate_trades_pct"] == pytest.approx(
            100 * exp["through"] / exp["evaluated"], abs=0.01
        )
    by_venue = {r["venue"]: r["rate_trades_pct"] for r in rows if r["underlying"] == "AAPL"}
    assert by_venue["simdex"] > by_venue["simx-a"]  # the pools print through the books


def test_canned_venue_scorecard(api: httpx.Client, tables: Any) -> None:
    rows = run(api, "venue_scorecard", underlying="TSLA")
    eq = tables("execution_quality").filter(pl.col("underlying") == "TSLA")
    expected = (
        eq.group_by(["venue", "notional_bucket"])
        .agg(
            trades=pl.len(),
            es=(pl.col("effective_spread_bps") * pl.col("size_shares")).sum()
            / pl.col("size_shares").filter(pl.col("effective_spread_bps").is_not_null()).sum(),
        )
        .sort(["venue", "notional_bucket"])
    )
    assert [(r["venue"], r["notional_bucket"], r["trades"]) for r in rows] == list(
        zip(expected["venue"], expected["notional_bucket"], expected["trades"], strict=True)
    )
    for row, exp in zip(rows, expected.iter_rows(named=True), strict=True):
        assert row["effective_spread_bps"] == pytest.approx(exp["es"], abs=0.001)


def test_canned_stress_fragmentation_bestex_alerts_feeds_luld(
    api: httpx.Client, tables: Any
) -> None:
    stress = run(api, "stress_episodes_report")
    episodes = tables("stress_episodes")
    assert (
        [r["symbols"] for r in stress]
        == [",".join(sorted(s)) for s in episodes["symbols"].to_list()]
        == ["AAPL,NVDA,TSLA"]
    )
    assert stress[0]["market_closed"] is True

    frag = run(api, "fragmentation_summary")
    f1m = (
        tables("fragmentation_1m")
        .group_by("underlying")
        .agg(minutes=pl.len(), crossed=pl.col("crossed_ns").sum() / 1e9)
        .sort("underlying")
    )
    assert [(r["underlying"], r["minutes"]) for r in frag] == list(
        zip(f1m["underlying"], f1m["minutes"], strict=True)
    )
    assert [r["crossed_s"] for r in frag] == pytest.approx(f1m["crossed"].to_list(), abs=1e-3)

    bestex = run(api, "bestex_by_bucket", underlying="AAPL")
    sweeps = tables("sweep_costs_1m").filter(pl.col("underlying") == "AAPL")
    counts = sweeps.group_by(["side", "notional_usd"]).len().sort(["side", "notional_usd"])
    assert [(r["side"], r["notional_usd"], r["samples"]) for r in bestex] == list(
        zip(counts["side"], counts["notional_usd"], counts["len"], strict=True)
    )

    alerts = run(api, "alert_history")
    stored = tables("alerts")
    assert sorted(r["fingerprint"] for r in alerts) == sorted(stored["fingerprint"].to_list())
    depegs = run(api, "alert_history", rule_id="stablecoin_depeg")
    assert [r["rule_id"] for r in depegs] == ["stablecoin_depeg"]

    feeds = run(api, "feed_outages", event="stale")
    stale = tables("feed_events").filter(pl.col("event") == "stale")
    per_stream = stale.group_by(["venue", "stream"]).len().sort(["venue", "stream"])
    assert [(r["venue"], r["stream"], r["events"]) for r in feeds] == list(
        zip(per_stream["venue"], per_stream["stream"], per_stream["len"], strict=True)
    )

    assert run(api, "luld_events_report") == [] and tables("luld_events").height == 0
