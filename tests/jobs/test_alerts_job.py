"""The alerts job on a real DuckDB file: basis rows and the basis job's watermark in, the
webhook outbox (``webhook_events``) and the alert tables out.

Timeline (``at(s)`` = 2025-10-10 19:56:00Z + s, a Friday in the regular session): one
listing, AAPLx@simx-a, one basis row per second, executable basis 80 bps from 20 s to
65 s and 2 bps otherwise. Default rule ``basis_exec_live``: |exec basis| > 50 bps for
15 s, group ``basis`` waits 10 s and flushes at most every 60 s. So: pending at 20 s,
firing at 20 + 15 = 35 s, firing notice at 35 + 10 = 45 s; back in band at 65 s
(resolved), resolved notice at the group's next flush 45 + 60 = 105 s.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest

import divergence.alerts.store as alert_store
from divergence.alerts.engine import AlertEngine
from divergence.alerts.model import Notification, fingerprint
from divergence.alerts.rules import load_default_rules
from divergence.errors import ConfigError, StoreError
from divergence.jobs.alerts_inputs import (
    data_watermark,
    input_sql,
    load_inputs,
    plan_instants,
)
from divergence.jobs.alerts_job import (
    AlertsJob,
)
from divergence.metrics.basis import BASIS_SCHEMA
from divergence.settings import AlertSettings
from divergence.store.db import AsyncStore, Store
from divergence.webhooks.config import WebhookSettings
from divergence.webhooks.manager import WebhookService

S = 1_000_000_000
T0 = 1_760_126_160 * S  # 2025-10-10T19:56:00Z = 15:56:00 ET, Friday, regular session
WALL = 1_800_000_000 * S
LISTING = {
    "underlying": "AAPL",
    "venue": "simx-a",
    "instrument_id": "AAPLx@simx-a",
    "quote_currency": "USD",
}
SCOPE_LABELS = dict(LISTING)


def at(seconds: float) -> int:
    return T0 + round(seconds * S)


def exec_bps(s: int) -> float:
    return 80.0 if 20 <= s < 65 else 2.0


def basis_rows(seconds: range, bps: Any = exec_bps) -> pl.DataFrame:
    """``basis`` rows as the basis job writes them (only what the rule reads is real)."""
    rows = [
        {
            **LISTING,
            "ts_event": at(s),
            "ts_recv": at(s) + 1_000_000,
            "source_kind": "book",
            "fx_state": "usd",
            "multiplier": 1.0,
            "session": "regular",
            "ref_state": "live",
            "basis_bps": bps(s),
            "exec_basis_bps": bps(s),
            "source_seq": s,
        }
        for s in seconds
    ]
    frame = pl.DataFrame(
        {name: [row.get(name) for row in rows] for name in BASIS_SCHEMA}, schema_overrides={}
    )
    times = ("ts_event", "ts_recv", "ref_ts")
    return frame.select(
        pl.col(n).cast(pl.Int64).cast(t) if n in times else pl.col(n).cast(t)
        for n, t in BASIS_SCHEMA.items()
    ).with_columns(ts_ingest=pl.col("ts_recv"))


def set_watermark(store: Store, watermark_ns: int) -> None:
    """What the basis job commits with its rows: job_state row ``basis``."""
    store.execute(
        store.sql_text("basis_job_state_save"),
        {"job": "basis", "watermark_ns": watermark_ns, "seq": 1, "updated_at": WALL},
    )


def events(store: Store) -> list[tuple[str, str, dict[str, Any]]]:
    """``(event_id, type, body)`` of every event in the webhook outbox, by id."""
    rows = store.query("SELECT event_id, event_type, body FROM webhook_events ORDER BY event_id")
    return [(r["event_id"], r["event_type"], orjson.loads(r["body"])) for r in rows.to_dicts()]


def reference_notices(until: int) -> list[Notification]:
    """The notices a pure engine stepped at every second 0..until gives (LIVE = BACKFILL)."""
    engine = AlertEngine(load_default_rules().restricted_to({"basis"}))
    frames = {"basis": basis_rows(range(0, until + 1)).lazy()}
    return [n for s in range(until + 1) for n in engine.step(frames, now_ns=at(s)).notifications]


@pytest.fixture
def db(tmp_path: Path) -> Store:
    store = Store(tmp_path / "alerts.duckdb")
    store.migrate()
    store.append("basis", basis_rows(range(0, 200)))
    return store


def make_job(store: Store, settings: AlertSettings | None = None, **kwargs: Any) -> AlertsJob:
    async_store = AsyncStore(store)
    service = WebhookService(async_store, WebhookSettings())
    return AlertsJob(
        async_store, settings or AlertSettings(), notifier=service, clock=lambda: WALL, **kwargs
    )


async def catch_up(job: AlertsJob) -> int:
    """Step until the job has nothing left to do; returns the instants stepped."""
    total = 0
    while stepped := await job.step():
        total += stepped
    return total


def test_alerts_job_plan_instants_whole_seconds_capped() -> None:
    assert plan_instants(None, at(7)) == [at(7)]  # first start: the watermark only
    assert plan_instants(at(7), at(10)) == [at(8), at(9), at(10)]
    assert plan_instants(at(7), at(7)) == []  # watermark did not advance
    assert plan_instants(at(7), None) == []  # the basis job never ran
    assert plan_instants(at(7), at(100), cap=3) == [at(8), at(9), at(10)]


def test_alerts_job_plan_instants_spread_out_when_far_behind() -> None:
    # 93 s behind with 10 instants per step: 10 s apart, capped by max_stride_s
    assert plan_instants(at(7), at(100), cap=10, max_stride_s=60) == [
        at(s) for s in range(17, 101, 10)
    ]
    assert plan_instants(at(7), at(100), cap=10, max_stride_s=4) == [
        at(s) for s in range(11, 48, 4)
    ]
    # caught up again: back to every second
    assert plan_instants(at(97), at(100), cap=10, max_stride_s=60) == [at(98), at(99), at(100)]


def test_alerts_job_watermark_floors_the_basis_watermark(db: Store) -> None:
    assert data_watermark(db) is None
    set_watermark(db, at(12) + 999_999_999)
    assert data_watermark(db) == at(12)


@pytest.mark.slow
async def test_alerts_job_one_firing_then_one_resolved_event(db: Store) -> None:
    job = make_job(db)
    set_watermark(db, at(0))
    assert await job.step() == 1  # first start: at the watermark only
    set_watermark(db, at(60) + 400_000_000)  # 60.4 s: floored to 60 s
    assert await catch_up(job) == 60
    expected = reference_notices(199)
    assert [(n.type, (n.timestamp - T0) // S) for n in expected] == [
        ("alert.firing", 45),
        ("alert.resolved", 105),
    ]
    firing, resolved = expected
    found = events(db)
    assert [(i, t) for i, t, _ in found] == [(firing.id, "alert.firing")]
    body = found[0][2]
    assert body["type"] == "alert.firing"
    [alert] = body["data"]["alerts"]
    assert alert["fingerprint"] == fingerprint("basis_exec_live", SCOPE_LABELS)
    assert alert["labels"] == {
        **SCOPE_LABELS,
        "family": "basis",
        "rule": "basis_exec_live",
        "severity": "critical",
    }
    assert (alert["status"], alert["value"], alert["starts_at"]) == (
        "firing",
        80.0,
        "2025-10-10T19:56:35.000000000Z",  # 20 s + for_s 15 s
    )
    # the condition clears at 65 s; the resolved notice goes out at 105 s
    set_watermark(db, at(199))
    assert await catch_up(job) == 139
    assert sorted((i, t) for i, t, _ in events(db)) == sorted(
        [(firing.id, "alert.firing"), (resolved.id, "alert.resolved")]
    )
    assert job.engine.state.alerts == {}
    state = db.query("SELECT watermark_ns FROM job_state WHERE job = 'alerts'").item()
    assert state == at(199)


@pytest.mark.slow
async def test_alerts_job_failed_save_keeps_no_notice_and_sends_no_second_id(
    db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = alert_store._append_audit
    armed = [True]

    def failing(store: Store, records: Any, now_ns: int) -> None:
        # inside save_step's transaction, on the step that notified: it rolls back
        if armed[0] and any(r.action == "notified" for r in records):
            armed[0] = False
            raise StoreError("disk full (test)")
        real(store, records, now_ns)

    monkeypatch.setattr(alert_store, "_append_audit", failing)
    job = make_job(db)
    set_watermark(db, at(0))
    await job.step()
    set_watermark(db, at(60))
    with pytest.raises(StoreError, match="disk full"):
        await catch_up(job)
    # the firing notice (45 s) and its step are one transaction: neither was kept, so
    # a re-run with changed inputs (late rows) cannot leave a notice under another id
    assert events(db) == []
    saved = db.query("SELECT watermark_ns FROM job_state WHERE job = 'alerts'").item()
    assert saved == at(44)
    assert job.engine.state.now_ns == at(44)  # the failed step's state was not kept
    # a restart: a new job restores the saved state and re-runs the step at 45 s
    restarted = make_job(db)
    assert restarted.engine.state.now_ns == at(44)
    set_watermark(db, at(199))
    assert await catch_up(restarted) == 155
    firing, resolved = reference_notices(199)
    assert sorted((i, t) for i, t, _ in events(db)) == sorted(
        [(firing.id, "alert.firing"), (resolved.id, "alert.resolved")]
    )
    notified = db.query("SELECT count(*) FROM alert_audit WHERE action = 'notified'").item()
    assert notified == 2  # the 45 s record once (re-appended after the restart), 105 s once


async def test_alerts_job_first_start_begins_at_the_watermark(db: Store) -> None:
    job = make_job(db)
    set_watermark(db, at(150))  # the episode (20 s to 65 s) is history
    assert await catch_up(job) == 1
    assert events(db) == []
    assert job.engine.state.now_ns == at(150)
    assert await job.step() == 0  # watermark did not advance: nothing to do


async def test_alerts_job_catch_up_is_capped_per_step(db: Store) -> None:
    job = make_job(db, AlertSettings(max_stride_s=1), max_catchup=25)
    set_watermark(db, at(0))
    await job.step()
    set_watermark(db, at(60))
    assert [await job.step() for _ in range(4)] == [25, 25, 10, 0]
    assert job.engine.state.now_ns == at(60)


async def test_alerts_job_far_behind_steps_wider_instants(db: Store) -> None:
    job = make_job(db, AlertSettings(max_stride_s=60), max_catchup=25)
    set_watermark(db, at(0))
    await job.step()
    set_watermark(db, at(60))
    # 60 s behind, 25 instants a step: every 3 s, so one step catches up
    assert [await job.step() for _ in range(2)] == [20, 0]
    assert job.engine.state.now_ns == at(60)


def test_alerts_job_disables_rules_without_a_table(
    db: Store, caplog: pytest.LogCaptureFixture
) -> None:
    assert make_job(db).stats.disabled_rules == ()  # every default rule's table exists
    db.execute("DROP TABLE stress_states")  # e.g. a database from before the stress detector
    with caplog.at_level(logging.WARNING, logger="divergence.jobs.alerts_job"):
        job = make_job(db)
    assert job.stats.disabled_rules == ("stress_episode",)
    [record] = [r for r in caplog.records if "disabled" in r.getMessage()]
    assert record.__dict__["rules"] == "stress_episode"
    assert record.__dict__["tables"] == "stress_states"
    assert job.engine.rules.rule("stress_episode").enabled is False  # type: ignore[union-attr]
    assert job.engine.rules.rule("basis_exec_live").enabled is True  # type: ignore[union-attr]


def test_alerts_job_bad_rules_file_fails_at_construction_naming_the_key(
    db: Store, tmp_path: Path
) -> None:
    rules = tmp_path / "alerts.toml"
    rules.write_text(
        '[[rules]]\nid = "x"\nmetric = "basis.exec_basis_bps"\n[rules.condition]\nop = ">"\n'
    )
    settings = AlertSettings(rules_path=rules)
    with pytest.raises(ConfigError) as err:
        AlertsJob(
            AsyncStore(db), settings, notifier=WebhookService(AsyncStore(db), WebhookSettings())
        )
    assert err.value.key == "rules[0].condition.threshold"
    assert err.value.source == str(rules)
    missing = AlertSettings(rules_path=tmp_path / "nope.toml")
    with pytest.raises(ConfigError) as err:
        AlertsJob(
            AsyncStore(db), missing, notifier=WebhookService(AsyncStore(db), WebhookSettings())
        )
    assert err.value.key == "alerts.rules_path"


def test_alerts_job_inputs_use_the_rules_column_names(db: Store) -> None:
    # daily_premium stores pd as pd_frac; luld_events stores prices with _usd
    db.execute(
        "INSERT INTO daily_premium VALUES ('AAPL', DATE '2025-10-10', make_timestamp_ns($c),"
        " 250.0, NULL, 255.0, 0.02)",
        {"c": at(0)},
    )
    db.execute(
        "INSERT INTO luld_events (event, underlying, ts_start, ts_end, price_usd) VALUES"
        " ('pause_equiv', 'AAPL', make_timestamp_ns($a), make_timestamp_ns($b), 240.0),"
        " ('pause_equiv', 'AAPL', make_timestamp_ns($c), NULL, 239.0),"
        " ('pause_equiv', 'AAPL', make_timestamp_ns($d), make_timestamp_ns($e), 238.0)",
        {"a": at(-100), "b": at(-50), "c": at(-20), "d": at(-400), "e": at(-60)},
    )
    frames = load_inputs(db, {"daily_premium": (at(-1), at(0)), "luld_events": (at(-60), at(10))})
    premium = frames["daily_premium"].collect()
    assert premium.select("underlying", "pd").to_dicts() == [{"underlying": "AAPL", "pd": 0.02}]
    # overlapping (-60 s, 10 s]: the one ending at -50 s and the open one, not the one
    # that ended at -60 s exactly
    luld = frames["luld_events"].collect()
    assert luld["price"].to_list() == [240.0, 239.0]
    with pytest.raises(StoreError, match="not an alert input table"):
        input_sql("alerts")
