"""Issue #6 acceptance: in the demo, the scripted 80 bps AAPLx episode produces exactly one
``alert.firing`` and one ``alert.resolved`` webhook for the basis rule.

The demo's pipeline (the built-in simulator's oct10 scenario streamed over local
websockets into the real :class:`~divergence.runtime.Runtime`, default alert rules) runs
at a higher speed, only until shortly after the episode's resolved notice is due:
``RICH_END_NS`` plus the basis group's ``interval_s`` (the resolved notice waits for it
after the firing one) plus a margin. A real HTTP receiver on 127.0.0.1 verifies every
request with the official ``standardwebhooks`` package.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks

from divergence.alerts.rules import load_default_rules
from divergence.clock import NS_PER_SECOND
from divergence.runtime import Runtime
from divergence.settings import AlertSettings, Settings, SimSettings
from divergence.sim import scenario
from divergence.webhooks.config import WebhookSettings
from divergence.webhooks.outbox import webhook_id_for
from divergence.webhooks.receiver import Delivery, ReceiverLog, ReceiverServer, create_receiver_app

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
RULE_ID = "basis_exec_live"
RULES = load_default_rules()
_rule = RULES.rule(RULE_ID)
assert _rule is not None
BASIS_RULE = _rule
BASIS_GROUP = RULES.group(BASIS_RULE.group)
MARGIN_S = 20.0
# The firing notice goes out about for_s + wait_s after RICH_START; the resolved one at the
# group's next flush, interval_s after that (the episode has ended by then: 45 s < 60 s).
RESOLVED_DUE_NS = scenario.RICH_START_NS + round(
    (BASIS_RULE.condition.for_s + BASIS_GROUP.wait_s + BASIS_GROUP.interval_s) * 1e9
)
STOP_AT_NS = max(RESOLVED_DUE_NS, scenario.RICH_END_NS) + round(MARGIN_S * 1e9)
STOP_AFTER_S = (STOP_AT_NS - scenario.START_NS) / 1e9
BASIS_TYPES = ("alert.firing", "alert.resolved")


def official(body: bytes, headers: Mapping[str, str]) -> str:
    """The official Standard Webhooks verifier (raises on a bad signature)."""
    standardwebhooks.Webhook(SECRET).verify(body, dict(headers))
    return headers["webhook-id"]


def _is_basis(delivery: Delivery) -> bool:
    payload: dict[str, Any] = delivery.payload
    if payload["type"] not in BASIS_TYPES:
        return False
    return any(a["rule"] == RULE_ID for a in payload["data"]["alerts"])


def _basis(received: ReceiverLog) -> list[Delivery]:
    return [d for d in received.requests if _is_basis(d)]


async def _until(received: ReceiverLog, done: Any, timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while not done():
            received.changed.clear()
            await received.changed.wait()


async def _alerts_caught_up(runtime: Runtime, endpoint_id: str, timeout_s: float) -> None:
    """Until the alert job has stepped to the last data second and the endpoint has no
    pending message left in the outbox."""
    async with asyncio.timeout(timeout_s):
        while True:
            watermark = runtime.basis_job.stats_dict()["last_watermark_ns"]
            last = runtime.alerts_job.stats.last_instant_ns
            stepped = (
                watermark is not None
                and last is not None
                and last >= int(watermark) // NS_PER_SECOND * NS_PER_SECOND
            )
            pending = await runtime.webhooks.messages(
                endpoint_id, state="pending", before_seq=2**62, limit=10
            )
            if stepped and not pending:
                return
            await asyncio.sleep(0.05)  # polling a condition, bounded by the timeout


@pytest.mark.slow
async def test_rich_episode_sends_one_firing_and_one_resolved_webhook(tmp_path: Path) -> None:
    received = ReceiverLog()
    server = ReceiverServer(create_receiver_app(official, received=received))
    await server.start()
    settings = Settings(
        db_path=tmp_path / "demo.duckdb",
        archive_dir=tmp_path / "archive",
        sim=SimSettings(enabled=True, speed=10.0, tick_ms=20, stop_after_s=STOP_AFTER_S),
        webhooks=WebhookSettings(allowed_networks=("127.0.0.0/8",)),
        alerts=AlertSettings(step_ms=200),
    )
    runtime = Runtime(settings)
    try:
        endpoint = await runtime.webhooks.create_endpoint(url=server.url, secret=SECRET)
        await runtime.start()
        assert runtime.sim is not None
        await asyncio.wait_for(runtime.sim.finished.wait(), timeout=60)
        await _until(
            received,
            lambda: any(d.payload["type"] == "alert.resolved" for d in _basis(received)),
            timeout_s=30,
        )
        await _alerts_caught_up(runtime, endpoint.endpoint_id, timeout_s=30)
        outbox = await runtime.webhooks.messages(
            endpoint.endpoint_id, state="", before_seq=2**62, limit=1_000
        )
    finally:
        await runtime.stop()
        await server.stop()

    assert received.rejected == []
    basis = _basis(received)
    assert [d.payload["type"] for d in basis] == ["alert.firing", "alert.resolved"]
    firing, resolved = basis
    # Every queued message was delivered once, under the id the outbox stored for it.
    assert {m["state"] for m in outbox} == {"delivered"}
    assert sorted(m["webhook_id"] for m in outbox) == sorted(received.counts)
    assert set(received.counts.values()) == {1}
    by_id = {m["webhook_id"]: m for m in outbox}
    assert [by_id[d.webhook_id]["event_type"] for d in basis] == list(BASIS_TYPES)
    assert all(webhook_id_for(by_id[d.webhook_id]["event_id"]) == d.webhook_id for d in basis)
    assert firing.webhook_id != resolved.webhook_id
    assert received.counts[firing.webhook_id] == received.counts[resolved.webhook_id] == 1
    assert firing.received_at_ns < resolved.received_at_ns
    assert firing.payload["timestamp"] < resolved.payload["timestamp"]
    for delivery, status in ((firing, "firing"), (resolved, "resolved")):
        data = delivery.payload["data"]
        assert data["status"] == status
        assert data["group"]["key"] == "basis:underlying=AAPL"
        assert data["group"]["labels"] == {"underlying": "AAPL"}
        assert {a["rule"] for a in data["alerts"]} == {RULE_ID}
        for alert in data["alerts"]:
            assert alert["labels"]["underlying"] == "AAPL"
            assert alert["labels"]["family"] == "basis"
            assert alert["status"] == status
    # Every AAPLx listing was 80 bps rich: each fired alert was above the 50 bps limit.
    for alert in firing.payload["data"]["alerts"]:
        assert alert["threshold"] == 50.0
        assert 50.0 < abs(alert["value"]) < 90.0
    # The same alerts resolve that fired, each one once.
    fired = {a["fingerprint"] for a in firing.payload["data"]["alerts"]}
    assert {a["fingerprint"] for a in resolved.payload["data"]["alerts"]} == fired
