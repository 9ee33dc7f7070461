"""``/api/alerts`` on a real uvicorn server, with a real AlertsJob stepped on its loop.

Timeline (``at(s)`` = 2025-10-10 19:56:00Z + s, Friday, regular session): one listing,
AAPLx@simx-a, one basis row per second, executable basis 80 bps from 20 s on. Default
rule ``basis_exec_live`` (> 50 bps for 15 s): pending at 20 s, firing at 35 s, its
group's first notice at 35 + 10 = 45 s.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import polars as pl
import pytest
from harness import RunningServer, StandInRuntime, make_runtime, running_server

from divergence.alerts.model import fingerprint
from divergence.jobs.alerts_job import AlertsJob
from divergence.metrics.basis import BASIS_SCHEMA
from divergence.settings import AlertSettings
from divergence.store.db import Store
from divergence.webhooks.config import WebhookSettings
from divergence.webhooks.manager import WebhookService

S = 1_000_000_000
T0 = 1_760_126_160 * S
LISTING = {
    "underlying": "AAPL",
    "venue": "simx-a",
    "instrument_id": "AAPLx@simx-a",
    "quote_currency": "USD",
}
FP = fingerprint("basis_exec_live", LISTING)


def at(seconds: float) -> int:
    return T0 + round(seconds * S)


def basis_rows(seconds: range) -> pl.DataFrame:
    bps = [80.0 if s >= 20 else 2.0 for s in seconds]
    data: dict[str, list[Any]] = {name: [None] * len(seconds) for name in BASIS_SCHEMA}
    data |= {k: [v] * len(seconds) for k, v in LISTING.items()}
    data |= {
        "ts_event": [at(s) for s in seconds],
        "ts_recv": [at(s) for s in seconds],
        "source_kind": ["book"] * len(seconds),
        "fx_state": ["usd"] * len(seconds),
        "multiplier": [1.0] * len(seconds),
        "session": ["regular"] * len(seconds),
        "ref_state": ["live"] * len(seconds),
        "basis_bps": bps,
        "exec_basis_bps": bps,
        "source_seq": list(seconds),
    }
    times = ("ts_event", "ts_recv", "ref_ts")
    return (
        pl.DataFrame(data)
        .select(
            pl.col(n).cast(pl.Int64).cast(t) if n in times else pl.col(n).cast(t)
            for n, t in BASIS_SCHEMA.items()
        )
        .with_columns(ts_ingest=pl.col("ts_recv"))
    )


@dataclass
class AlertsRuntime(StandInRuntime):
    """The stand-in runtime plus what the alerts routes use: the job and webhooks."""

    alerts_job: AlertsJob | None = None


@pytest.fixture
def alerts_server(tmp_path: Path) -> Iterator[RunningServer]:
    base = make_runtime(tmp_path, seeded=False)
    base.store.store.append("basis", basis_rows(range(0, 120)))
    runtime = AlertsRuntime(base.settings, base.catalog, base.store)
    webhooks = WebhookService(runtime.store, WebhookSettings())
    runtime.alerts_job = AlertsJob(runtime.store, AlertSettings(), notifier=webhooks)
    with running_server(runtime) as running:
        yield running


def step_to(server: RunningServer, seconds: int) -> None:
    """Move the basis watermark to ``at(seconds)`` and let the job catch up (on the
    server's loop, as the runtime runs it)."""
    store: Store = server.runtime.store.store
    job = server.runtime.alerts_job  # type: ignore[attr-defined]
    params = {"job": "basis", "watermark_ns": at(seconds), "seq": 1, "updated_at": at(seconds)}
    server.call(server.runtime.store.write(lambda s: s.execute(
        store.sql_text("basis_job_state_save"), params
    )))  # fmt: skip
    while server.call(job.step(), timeout=60):
        pass


def error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"]["status"] == status
    message: str = body["error"]["message"]
    return message


def outbox(server: RunningServer) -> list[tuple[str, dict[str, Any]]]:
    rows = server.call(
        server.runtime.store.query("SELECT event_type, body FROM webhook_events ORDER BY 1")
    )
    return [(r["event_type"], orjson.loads(r["body"])) for r in rows.to_dicts()]


@pytest.mark.slow
def test_routes_alerts_case_operations_show_in_the_audit_trail(
    alerts_server: RunningServer,
) -> None:
    step_to(alerts_server, 0)
    step_to(alerts_server, 40)  # firing since 35 s, not yet notified (45 s)
    with httpx.Client(base_url=alerts_server.url, timeout=30) as http:
        listed = http.get("/api/alerts").json()
        assert [(a["fingerprint"], a["state"]) for a in listed["alerts"]] == [(FP, "firing")]
        assert listed["alerts"][0]["labels"]["rule"] == "basis_exec_live"
        assert listed["now"] == "2025-10-10T19:56:40.000000000Z"
        ack = http.post(f"/api/alerts/{FP}/acknowledge", json={"actor": "ana", "note": "on it"})
        assert ack.status_code == 200 and ack.json()["action"] == "acknowledged"
        assign = http.post(f"/api/alerts/{FP}/assign", json={"actor": "ana", "assignee": "bob"})
        assert assign.json()["detail"] == {"assignee": "bob"}
        note = http.post(f"/api/alerts/{FP}/notes", json={"actor": "bob", "text": "venue ok"})
        assert note.status_code == 201
        step_to(alerts_server, 50)  # the engine keeps the case fields through its steps
        alert = http.get(f"/api/alerts/{FP}").json()
        assert (alert["acknowledged_by"], alert["assignee"]) == ("ana", "bob")
        trail = http.get(f"/api/alerts/{FP}/audit").json()["records"]
        assert [(r["action"], r["actor"]) for r in trail] == [
            ("pending", "engine"),  # 20 s
            ("firing", "engine"),  # 35 s
            ("notified", "engine"),  # 45 s (data time, before the wall-clock actions)
            ("acknowledged", "ana"),
            ("assigned", "ana"),
            ("note", "bob"),
        ]
        assert trail[3]["detail"] == {"note": "on it"}
        assert trail[5]["detail"] == {"text": "venue ok"}
        # strict bodies, unknown alerts, bad fingerprints: JSON errors with a status
        assert "assignee" in error(http.post(f"/api/alerts/{FP}/assign", json={"actor": "a"}), 422)
        extra = http.post(f"/api/alerts/{FP}/notes", json={"actor": "a", "text": "x", "y": 1})
        assert "y" in error(extra, 422)
        missing = "0123456789abcdef"
        assert missing in error(
            http.post(f"/api/alerts/{missing}/acknowledge", json={"actor": "a"}), 404
        )
        assert "16 hex digits" in error(http.get("/api/alerts/nope/audit"), 400)
    [(kind, body)] = outbox(alerts_server)
    assert kind == "alert.firing"
    assert body["data"]["alerts"][0]["fingerprint"] == FP


@pytest.mark.slow
def test_routes_alerts_silence_suppresses_and_expires(alerts_server: RunningServer) -> None:
    step_to(alerts_server, 0)
    with httpx.Client(base_url=alerts_server.url, timeout=30) as http:
        spec = {
            "matchers": [{"name": "rule", "value": "basis_exec_live"}],
            "created_by": "ana",
            "comment": "known venue issue",
            "starts_at": str(at(0)),
            "ends_at": str(at(3600)),
        }
        created = http.post("/api/alerts/silences", json=spec)
        assert created.status_code == 201, created.text
        silence = created.json()
        assert silence["starts_at"] == "2025-10-10T19:56:00.000000000Z"
        # both an end and a duration, or a bad matcher: refused naming the field
        both = http.post("/api/alerts/silences", json={**spec, "duration_s": 60})
        assert "ends_at, duration_s" in error(both, 400)
        bad = http.post("/api/alerts/silences", json={**spec, "matchers": [{"name": "Rule"}]})
        assert "matchers.0" in error(bad, 422)
        step_to(alerts_server, 60)  # firing since 35 s: the notice would go out at 45 s
        [alert] = http.get("/api/alerts").json()["alerts"]
        assert (alert["state"], alert["silenced_by"]) == ("firing", [silence["id"]])
        assert outbox(alerts_server) == []
        assert [s["id"] for s in http.get("/api/alerts/silences").json()["silences"]] == [
            silence["id"]
        ]
        assert http.delete(f"/api/alerts/silences/{silence['id']}").status_code == 204
        assert http.get("/api/alerts/silences").json()["silences"] == []
        assert silence["id"] in error(http.delete(f"/api/alerts/silences/{silence['id']}"), 404)
        trail = http.get(f"/api/alerts/{FP}/audit").json()["records"]
        # the alert was silenced from its first step (20 s; same-ts records sort by id)
        assert sorted((r["ts"][14:19], r["action"]) for r in trail) == [
            ("56:20", "pending"),
            ("56:20", "silenced"),
            ("56:35", "firing"),
        ]


@pytest.mark.slow
def test_routes_alerts_episodes_and_evidence_bundle(alerts_server: RunningServer) -> None:
    step_to(alerts_server, 0)
    step_to(alerts_server, 40)
    with httpx.Client(base_url=alerts_server.url, timeout=30) as http:
        [alert] = http.get("/api/alerts").json()["alerts"]
        assert alert["evidence_path"] == f"/api/alerts/{FP}/evidence?episode={at(20)}"
        episodes = http.get("/api/alerts/episodes", params={"fingerprint": FP}).json()
        assert [(e["episode"], e["state"]) for e in episodes["episodes"]] == [(at(20), "firing")]
        bundle = http.get(alert["evidence_path"])
        assert bundle.status_code == 200
        assert bundle.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(bundle.content)) as zipped:
            manifest = orjson.loads(zipped.read("manifest.json"))
            basis_csv = pl.read_csv(zipped.read("basis.csv"))
        assert (manifest["fingerprint"], manifest["rule_id"]) == (FP, "basis_exec_live")
        # window: [active_at 20 s - LOOKBACK 45 s - 60 s, now 40 s + 60 s) = [-85 s, 100 s),
        # of which the table has rows 0..99 s
        assert basis_csv.height == 100
        assert manifest["missing_tables"] == []
        gone = http.get(f"/api/alerts/{FP}/evidence", params={"episode": at(21)})
        assert "episode" in error(gone, 404)


def test_routes_alerts_without_the_job_is_a_json_503(client: httpx.Client) -> None:
    assert "alert engine" in error(client.get("/api/alerts"), 503)
