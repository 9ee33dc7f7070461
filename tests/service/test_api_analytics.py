"""GET /api/fragmentation, /api/bestex (+ /scorecard, /sweeps), /api/bands (+ /events) and
the paginated /api/alerts/episodes over real HTTP against seeded DuckDB tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from harness import RunningServer, at, make_runtime, running_server
from seed_market import seed_market
from test_api_market import all_pages, direct, ok, refused

from divergence.jobs.alerts_job import AlertsJob
from divergence.service.paging import DAY_NS
from divergence.settings import AlertSettings
from divergence.webhooks.config import WebhookSettings
from divergence.webhooks.manager import WebhookService


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    runtime = make_runtime(Path(tmp_path_factory.mktemp("analytics")), seeded=False)
    seed_market(runtime.store.store, runtime.catalog)
    with running_server(runtime) as running:
        yield running


@pytest.fixture(scope="module")
def http(market: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=market.url, timeout=10) as client:
        yield client


def test_api_fragmentation_by_grain_and_underlying(http: httpx.Client) -> None:
    minute = ok(http, "/api/fragmentation", underlying="AAPL", start=str(at(60)), end=str(at(180)))
    assert minute["grain"] == "1m" and minute["next_start"] is None
    assert [(r["bucket_start"], r["volume_usd"]) for r in minute["rows"]] == [
        ("2025-10-10T12:01:00.000000000Z", 2000.0),
        ("2025-10-10T12:02:00.000000000Z", 3000.0),
    ]
    assert minute["rows"][1]["bucket_start_ns"] == at(120)
    assert minute["rows"][1]["crossed_ns"] == 500_000_000
    second = ok(http, "/api/fragmentation", grain="1s")
    assert [r["bucket_start_ns"] for r in second["rows"]] == [at(s) for s in range(5)]
    assert "at most 7 days" in refused(
        http, "/api/fragmentation", 413, grain="1s", start=str(at(0)), end=str(at(0) + 8 * DAY_NS)
    )
    # the same span is fine at the 1m grain (93 days)
    ok(http, "/api/fragmentation", grain="1m", start=str(at(0)), end=str(at(0) + 8 * DAY_NS))


def test_api_fragmentation_pages_never_split_a_bucket(
    market: RunningServer, http: httpx.Client
) -> None:
    rows, pages = all_pages(http, "/api/fragmentation", limit=1)
    expected = direct(
        market,
        "SELECT epoch_ns(bucket_start) AS t, underlying FROM fragmentation_1m ORDER BY 1, 2",
    )
    assert [(r["bucket_start_ns"], r["underlying"]) for r in rows] == [
        (e["t"], e["underlying"]) for e in expected
    ]
    assert pages == 5  # AAPL and TSLA share each bucket: one page per minute


def test_api_bestex_rows_and_filters(http: httpx.Client) -> None:
    rows = ok(http, "/api/bestex", venue="simx-b", end=str(at(30)))["rows"]
    assert [(r["trade_id"], r["effective_spread_bps"], r["ref_state"]) for r in rows] == [
        ("t0-1", 5.0, "stale"),
        ("t1-1", 7.0, "stale"),
        ("t2-1", 9.0, "stale"),
    ]
    assert rows[0]["ts_event"] == "2025-10-10T12:00:05.000000000Z"
    assert rows[0]["bbo_ts_ns"] == at(5) - 1_000
    assert rows[0]["bbo_ts"] == "2025-10-10T12:00:04.999999000Z"
    assert (rows[0]["ref_ts"], rows[0]["ref_ts_ns"]) == (None, None)
    one = ok(http, "/api/bestex", instrument="AAPLx@simx-a", start=str(at(95)))["rows"]
    assert [r["trade_id"] for r in one] == ["t9-0"]


def test_api_bestex_scorecard_pages_by_day(http: httpx.Client) -> None:
    rows, pages = all_pages(http, "/api/bestex/scorecard", limit=1)
    assert [(r["day"], r["venue"], r["trades"]) for r in rows] == [
        ("2025-10-09", "simx-a", 10),
        ("2025-10-09", "simx-b", 11),
        ("2025-10-10", "simx-a", 10),
        ("2025-10-10", "simx-b", 11),
    ]
    assert pages == 2
    day = ok(http, "/api/bestex/scorecard", start="2025-10-10", venue="simx-b")["rows"]
    assert [(r["day"], r["effective_spread_bps"]) for r in day] == [("2025-10-10", 5.0)]


def test_api_bestex_sweeps(http: httpx.Client) -> None:
    body = ok(http, "/api/bestex/sweeps", side="sell", start=str(at(60)), limit=2)
    assert [(r["ts_event_ns"], r["notional_usd"]) for r in body["rows"]] == [
        (at(60), 1_000.0),
        (at(60), 10_000.0),
    ]
    assert body["next_start"] == str(at(120))
    assert {r["cost_of_fragmentation_bps"] for r in body["rows"]} == {1.5}
    assert "side" in refused(http, "/api/bestex/sweeps", 422, side="both")


def test_api_bands_and_events(http: httpx.Client) -> None:
    bands = ok(http, "/api/bands", underlying="AAPL", start=str(at(120)))["rows"]
    assert [(r["ts_event"], r["lower_band_usd"], r["upper_band_usd"]) for r in bands] == [
        ("2025-10-10T12:02:00.000000000Z", 239.5, 264.5),
        ("2025-10-10T12:03:00.000000000Z", 240.5, 265.5),
    ]
    assert bands[0]["et_date"] == "2025-10-10"
    events = ok(http, "/api/bands/events")["rows"]
    assert [(e["event"], e["ts_start_ns"], e["ts_end"]) for e in events] == [
        ("band_breach", at(30), "2025-10-10T12:00:30.000000000Z"),
        ("limit_state_equiv", at(30), "2025-10-10T12:00:40.000000000Z"),
        ("off_hours_band", at(90), None),
    ]
    tied = ok(http, "/api/bands/events", limit=1)
    assert [e["event"] for e in tied["rows"]] == ["band_breach", "limit_state_equiv"]
    assert tied["next_start"] == str(at(30) + 1)  # a tied page: the next ns
    only = ok(http, "/api/bands/events", event="off_hours_band", venue="simx-a")["rows"]
    assert [e["trade_id"] for e in only] == ["t9-0"]
    assert "event" in refused(http, "/api/bands/events", 422, event="halt")


def insert_episode(market: RunningServer, fp: str, active_ns: int) -> None:
    sql = (
        "INSERT INTO alerts (fingerprint, active_at, rule_id, state, labels, scope, summary, "
        "explained_by, notes, inhibited_by, silenced_by, muted, updated_at) VALUES ($fp, "
        "make_timestamp_ns($a), 'r', 'resolved', '{}', '{}', '', '[]', '[]', '[]', '[]', "
        "false, make_timestamp_ns($a))"
    )
    market.call(market.runtime.store.write(lambda s: s.execute(sql, {"fp": fp, "a": active_ns})))


def test_api_alert_episodes_page_with_next_end(market: RunningServer, http: httpx.Client) -> None:
    """The episodes list is cut between start times; next_end continues it."""
    for i in range(6):  # two episodes per start time
        insert_episode(market, f"{i:016x}", at(10 * (i // 2)))
    webhooks = WebhookService(market.runtime.store, WebhookSettings())
    market.runtime.alerts_job = AlertsJob(  # type: ignore[attr-defined]
        market.runtime.store, AlertSettings(), notifier=webhooks
    )
    seen: list[str] = []
    end: str | None = None
    pages = 0
    try:
        while True:
            body = ok(http, "/api/alerts/episodes", limit=3, **({"end": end} if end else {}))
            seen += [a["fingerprint"] for a in body["episodes"]]
            pages += 1
            end = body["next_end"]
            if end is None:
                break
    finally:
        market.runtime.alerts_job = None  # type: ignore[attr-defined]
    assert seen == [f"{i:016x}" for i in (4, 5, 2, 3, 0, 1)]
    assert pages == 3


def test_api_rules_lists_the_rules_the_engine_runs(
    market: RunningServer, http: httpx.Client
) -> None:
    webhooks = WebhookService(market.runtime.store, WebhookSettings())
    job = AlertsJob(market.runtime.store, AlertSettings(), notifier=webhooks)
    market.runtime.alerts_job = job  # type: ignore[attr-defined]
    try:
        listed = ok(http, "/api/rules")
        one = ok(http, "/api/rules/basis_exec_live")
        missing = refused(http, "/api/rules/nope", 404)
    finally:
        market.runtime.alerts_job = None  # type: ignore[attr-defined]
    assert [r["id"] for r in listed["rules"]] == [r.id for r in job.engine.rules.rules]
    assert listed["disabled_rules"] == list(job.stats.disabled_rules)
    assert one["metric"] == "basis.exec_basis_bps"
    assert (one["condition"]["op"], one["condition"]["threshold"]) == (">", 50.0)
    assert "unknown rule 'nope'" in missing and "basis_exec_live" in missing
