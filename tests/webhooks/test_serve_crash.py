"""Crash safety of the whole service (issue #6): ``divergence serve`` is SIGKILLed at
seeded-random moments while alert notifications are pending, restarted on the same
database each time, and in the end every pending alert has been delivered, once per id.

The alerts come from the real pipeline: the built-in simulator's oct10 scenario (its
scripted 80 bps AAPLx episode) streamed into ``serve``, the alert engine with the
default rules (compute, enqueue into the DuckDB outbox, save), the delivery worker. A
real receiver on 127.0.0.1 (its own event-loop thread) verifies every request with the
official ``standardwebhooks`` package and deduplicates by ``webhook-id``; it answers 503
until the receiver "comes back" after the second kill, then 204 after a short delay that
widens the window a kill can land in while a request is in flight.

Runs, one process each, all on one DuckDB file:

0. ``serve --no-sim``: the endpoint is created through ``POST /api/webhooks/endpoints``
   (before any alert exists, so every notification is queued for it); clean SIGTERM.
1. ``serve --sim``: once the basis watermark has passed the episode's resolved notice
   (plus a margin, so the data every notice of the episode needs is committed) and the
   first notice has been attempted (503), SIGKILL after a random delay. The alert engine
   needs tens of milliseconds per instant, so it is still catching up with the data
   (compute, enqueue, save) when the kills of runs 1 to 4 land.
2. ``serve --no-sim``: SIGKILL at a random moment of start-up or shortly after (restore,
   catch-up, the worker retrying against 503).
3. and 4. ``serve --no-sim``, receiver answering 2xx: SIGKILL at a random moment after the
   run's first request reached the receiver (a delivery may be in flight).
5. ``serve --no-sim``, SIGTERM at a random moment: the clean stop's last alert step
   brings the engine up to the basis watermark (its notices go out at the next start).
6. ``serve --no-sim`` with nothing left to compute (it evaluates no instant), until the
   endpoint has no pending message; SIGTERM.

Then, from the receiver and the stopped service's DuckDB file: one ``alert.firing`` and
one ``alert.resolved`` for ``basis_exec_live`` on AAPL; every outbox row ``delivered``;
the ids received are exactly the outbox's; every request carried the stored body of its
id; at most one resend per kill or stop; and no notice (type, group, alert fingerprints)
under two ids.

**Why the restarts run without the simulator.** The simulator always starts at the
scenario's first tick (there is no resume offset) and the writer appends what it
receives, so a second run would send the same sim times again: duplicate ``quotes`` and
``trades`` rows with new ``ingest_seq``, which the basis job treats as late data and
computes again, so the alert windows would hold duplicated rows the uninterrupted run
never had. Instead the first run's data is the whole market (its tail after the kill is
simply never received), and each restart works on the stored data alone: the basis job
brings ``basis`` up to the stored ``venue_clock``, the alert engine resumes from its saved
state up to that watermark, and the worker drains the outbox. Data time does not move
after the first kill, so no alert can go stale or resolve because the process was down.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from webhook_harness import SECRET, ThreadReceiver

from divergence.alerts.rules import load_default_rules
from divergence.clock import NS_PER_SECOND
from divergence.sim import scenario
from divergence.store.db import Store
from divergence.webhooks.outbox import webhook_id_for
from divergence.webhooks.receiver import Delivery

pytestmark = pytest.mark.slow
SEED = int(os.environ.get("DIVERGENCE_CRASH_SEED", "20251010"))  # explore other moments
RULE_ID = "basis_exec_live"
BASIS_TYPES = ("alert.firing", "alert.resolved")
RULES = load_default_rules()
_rule = RULES.rule(RULE_ID)
assert _rule is not None
BASIS_RULE = _rule
BASIS_GROUP = RULES.group(BASIS_RULE.group)
# As in tests/e2e/test_alerts_demo_acceptance.py: the firing notice goes out about
# for_s + wait_s after RICH_START, the resolved one interval_s after that.
RESOLVED_DUE_NS = scenario.RICH_START_NS + round(
    (BASIS_RULE.condition.for_s + BASIS_GROUP.wait_s + BASIS_GROUP.interval_s) * 1e9
)
KILL_AFTER_NS = max(RESOLVED_DUE_NS, scenario.RICH_END_NS) + 10 * NS_PER_SECOND
STOP_AT_NS = KILL_AFTER_NS + 20 * NS_PER_SECOND
STOP_AFTER_S = (STOP_AT_NS - scenario.START_NS) / 1e9
RETRIES = 400  # attempts per message; 0.25 s apart, so 503 for a while never gives up
KILLS = 4


class FlakyReceiver(ThreadReceiver):
    """A verifying receiver that answers 503 while ``down``, else 204 after ``delay_s``
    (a request in flight for a while)."""

    def __init__(self, delay_s: float = 0.15) -> None:
        self.down = True
        self.ok: Counter[str] = Counter()
        """Per webhook-id, the requests answered 2xx."""

        async def respond(delivery: Delivery) -> int:
            if self.down:
                return 503
            await asyncio.sleep(delay_s)
            self.ok[delivery.webhook_id] += 1
            return 204

        super().__init__(respond)


@pytest.fixture
def receiver() -> Iterator[FlakyReceiver]:
    server = FlakyReceiver()
    yield server
    server.close()


class Service:
    """One ``divergence serve`` process on a fresh port, its output in a log file."""

    def __init__(self, config: Path, log: Path, *, sim: bool) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        command = [sys.executable, "-m", "divergence", "serve", "--config", str(config)]
        command += ["--port", str(self.port), "--sim" if sim else "--no-sim"]
        env = {**os.environ, "DIVERGENCE_LOG_LEVEL": "INFO"}  # "runtime stopped" is INFO
        env["DIVERGENCE_SERVICE__DEV_MODE"] = "true"  # no API keys in this test
        with log.open("wb") as out:
            self.proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.http = httpx.Client(base_url=self.base, timeout=5.0, trust_env=False)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-3_000:]

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def health(self) -> dict[str, Any] | None:
        """``/health`` once the service answers, else None."""
        if self.proc.poll() is not None:
            raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.output()}")
        try:
            body: dict[str, Any] = self.get("/health")
        except httpx.HTTPError:
            return None
        return body

    def wait_healthy(self, limit_s: float = 60.0) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def ready() -> bool:
            body = self.health()
            if body is not None:
                found.append(body)
            return bool(found)

        _wait(ready, f"serve did not answer /health within {limit_s} s", limit_s)
        return found[-1]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=15)
        self.http.close()
        assert self.proc.returncode == -signal.SIGKILL, self.output()

    def stop(self) -> None:
        """SIGTERM: uvicorn's graceful shutdown, then the runtime's clean stop (uvicorn
        re-raises the signal once it has shut down, so the status may be -SIGTERM)."""
        self.http.close()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        output = self.log_path.read_text(errors="replace")
        assert self.proc.returncode in (0, -signal.SIGTERM), self.output()
        assert "Traceback" not in output, self.output()
        assert "runtime stopped" in output, self.output()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(
    condition: Callable[[], bool], message: str, limit_s: float, *, required: bool = True
) -> None:
    """Poll ``condition`` (no event to await across processes), bounded by ``limit_s``;
    raise ``message`` when it never held, unless not ``required``."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            if required:
                raise AssertionError(message)
            return
        time.sleep(0.02)


def _config(tmp_path: Path) -> Path:
    """The settings every run shares (``--sim``/``--no-sim`` and ``--port`` vary)."""
    schedule = [0.0] + [0.25] * (RETRIES - 1)
    path = tmp_path / "divergence.toml"
    path.write_text(
        f"""
db_path = "{tmp_path / "serve.duckdb"}"
archive_dir = "{tmp_path / "archive"}"

[sim]
enabled = true
speed = 10.0
tick_ms = 20
stop_after_s = {STOP_AFTER_S}

[webhooks]
allowed_networks = ["127.0.0.0/8"]
retry_schedule_s = {schedule}
jitter = 0.0
disable_after_failures = {RETRIES * 10}
timeout_s = 5.0

[alerts]
step_ms = 200
"""
    )
    return path


def _nothing_pending(service: Service, endpoint_id: str) -> bool:
    """The endpoint has no pending message in the outbox (through the API)."""
    if service.health() is None:
        return False
    pending = service.get(f"/api/webhooks/endpoints/{endpoint_id}/messages", state="pending")
    return len(pending["messages"]) == 0


def _read_outbox(db: Path) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Every outbox row, and every event by webhook-id, from the stopped service's file."""
    store = Store(db, read_only=True)
    try:
        rows = store.query(
            "SELECT endpoint_id, webhook_id, event_id, state FROM webhook_outbox ORDER BY seq"
        ).rows(named=True)
        events = store.query(
            "SELECT webhook_id, event_id, event_type, body FROM webhook_events"
        ).rows(named=True)
    finally:
        store.close()
    return rows, {e["webhook_id"]: e for e in events}


def _event_key(payload: Mapping[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    """What an alert notice is about: its type, its group and its alerts' fingerprints."""
    data = payload["data"]
    fingerprints = tuple(sorted(a["fingerprint"] for a in data["alerts"]))
    return payload["type"], data["group"]["key"], fingerprints


def _is_basis(delivery: Delivery) -> bool:
    payload = delivery.payload
    return payload["type"] in BASIS_TYPES and any(
        a["rule"] == RULE_ID for a in payload["data"]["alerts"]
    )


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[[str, bool], Service]]:
    """Starts ``serve`` runs (``spawn(name, sim)``); kills any still running at teardown."""
    config = _config(tmp_path)
    logs = tmp_path / "logs"
    logs.mkdir()
    started: list[Service] = []

    def start(name: str, sim: bool) -> Service:
        service = Service(config, logs / f"{name}.log", sim=sim)
        started.append(service)
        return service

    yield start
    for service in started:
        if service.proc.poll() is None:
            service.proc.kill()
            service.proc.wait(timeout=15)
        service.http.close()


def test_serve_sigkill_at_random_moments_delivers_every_alert_once(
    tmp_path: Path, receiver: FlakyReceiver, spawn: Callable[[str, bool], Service]
) -> None:
    rng = random.Random(SEED)

    # Run 0: the endpoint, through the real API, before any alert exists.
    run = spawn("run0", False)
    run.wait_healthy()
    created = run.http.post(
        "/api/webhooks/endpoints", json={"url": receiver.server.url, "secret": SECRET}
    )
    assert created.status_code == 201, created.text
    endpoint_id = created.json()["endpoint_id"]
    run.stop()

    # Run 1: the simulator; killed once the episode's data is committed and notices are
    # pending.
    run = spawn("run1", True)
    run.wait_healthy()

    def episode_committed() -> bool:
        health = run.health()
        watermark = None if health is None else health["basis_job"]["last_watermark_ns"]
        return watermark is not None and int(watermark) >= KILL_AFTER_NS

    _wait(episode_committed, "the basis watermark never passed the episode", 60)
    _wait(lambda: receiver.requests() > 0, "no alert notice was attempted", 60)
    time.sleep(rng.uniform(0.0, 1.5))
    run.kill()

    # Run 2: killed during start-up or just after (the receiver still answers 503).
    run = spawn("run2", False)
    time.sleep(rng.uniform(1.0, 5.0))
    run.kill()

    # Runs 3 and 4: the receiver is back; killed while deliveries flow.
    receiver.down = False
    for kill in range(3, KILLS + 1):
        before = receiver.requests()
        run = spawn(f"run{kill}", False)
        run.wait_healthy()
        # A run with nothing left to send is killed all the same, a little later.
        arrived = lambda b=before: receiver.requests() > b  # noqa: E731
        _wait(arrived, "no request", 10, required=False)
        time.sleep(rng.uniform(0.0, 2.0))
        run.kill()

    # Run 5 stops cleanly at a random moment: its last alert step brings the engine up to
    # the basis watermark (docs/alerts.md: its notices go out at the next start).
    run = spawn("run5", False)
    run.wait_healthy()
    time.sleep(rng.uniform(0.0, 1.0))
    run.stop()
    # Run 6 has no alert left to compute, only the outbox to drain.
    run = spawn("run6", False)
    run.wait_healthy()
    _wait(lambda: _nothing_pending(run, endpoint_id), "pending alerts were never delivered", 30)
    health = run.health()
    assert health is not None
    assert (health["alerts_job"]["instants"], health["alerts_job"]["notifications"]) == (0, 0)
    run.stop()

    outbox, events = _read_outbox(tmp_path / "serve.duckdb")
    where = f"seed {SEED}, logs in {tmp_path / 'logs'}"
    log = receiver.log
    assert log.rejected == [], where  # every request verified with standardwebhooks
    # The episode: one firing and one resolved notice for the basis rule on AAPL.
    accepted = {d.webhook_id: d for d in log.requests if d.webhook_id in receiver.ok}
    basis = sorted(
        (d for d in accepted.values() if _is_basis(d)), key=lambda d: d.payload["timestamp"]
    )
    assert [d.payload["type"] for d in basis] == list(BASIS_TYPES)
    firing, resolved = basis
    assert firing.webhook_id != resolved.webhook_id
    for delivery, status in ((firing, "firing"), (resolved, "resolved")):
        data = delivery.payload["data"]
        assert data["status"] == status
        assert data["group"]["key"] == "basis:underlying=AAPL"
        assert {a["rule"] for a in data["alerts"]} == {RULE_ID}
        assert {a["labels"]["underlying"] for a in data["alerts"]} == {"AAPL"}
        assert {a["status"] for a in data["alerts"]} == {status}
    fired = {a["fingerprint"] for a in firing.payload["data"]["alerts"]}
    assert {a["fingerprint"] for a in resolved.payload["data"]["alerts"]} == fired
    for alert in firing.payload["data"]["alerts"]:
        assert alert["threshold"] == 50.0
        assert 50.0 < abs(alert["value"]) < 90.0

    # Every outbox message delivered; the ids received are exactly the outbox's.
    assert {row["endpoint_id"] for row in outbox} == {endpoint_id}
    assert [row["state"] for row in outbox] == ["delivered"] * len(outbox), where
    outbox_ids = [row["webhook_id"] for row in outbox]
    assert len(set(outbox_ids)) == len(outbox_ids)
    assert set(log.counts) == set(outbox_ids), where
    assert set(receiver.ok) == set(outbox_ids), where
    assert log.accepted == outbox_ids, where  # each once, first accepted in queue order
    assert all(webhook_id_for(row["event_id"]) == row["webhook_id"] for row in outbox)
    # Every request (a repeated id too) carried the bytes stored for its id.
    for delivery in log.requests:
        assert delivery.body == events[delivery.webhook_id]["body"].encode()
        assert delivery.payload["type"] == events[delivery.webhook_id]["event_type"]
    # (A kill, or a clean stop, abandons at most the one request in flight.)
    assert 0 <= sum(receiver.ok.values()) - len(outbox_ids) <= KILLS + 1, receiver.ok
    # No notice arrived under two ids: one id per (type, group, alert fingerprints).
    keys = Counter(_event_key(orjson.loads(events[i]["body"])) for i in outbox_ids)
    assert [key for key, n in keys.items() if n > 1] == [], where
