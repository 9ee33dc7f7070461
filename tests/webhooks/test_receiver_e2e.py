"""The worker against a real HTTP receiver on 127.0.0.1 that verifies every request with
the official ``standardwebhooks`` package: down for a while, 500, a hang past the
sender's timeout, 410. Every event arrives after recovery, in order, exactly once by id
(the receiver deduplicates by ``webhook-id``; the per-id request counts prove the
retries reused the id and the body)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import standardwebhooks
from webhook_harness import LOOPBACK, SECRET, AttemptLog, alert_data

from divergence.store.db import AsyncStore, Store
from divergence.webhooks.config import WebhookSettings
from divergence.webhooks.endpoints import EndpointChange
from divergence.webhooks.manager import WebhookService
from divergence.webhooks.outbox import webhook_id_for
from divergence.webhooks.receiver import (
    Delivery,
    ReceiverLog,
    ReceiverServer,
    Responder,
    create_receiver_app,
)

FAST = WebhookSettings(
    retry_schedule_s=(0.0,) + (0.05,) * 60,
    jitter=0.1,
    timeout_s=2.0,
    disable_after_failures=1_000,
    allowed_networks=LOOPBACK,
)


def official(body: bytes, headers: Mapping[str, str]) -> str:
    standardwebhooks.Webhook(SECRET).verify(body, dict(headers))
    return headers["webhook-id"]


@dataclass
class Live:
    service: WebhookService
    attempts: AttemptLog
    received: ReceiverLog
    server: ReceiverServer
    endpoint_id: str = ""

    async def restart(self, respond: Responder) -> None:
        app = create_receiver_app(official, received=self.received, respond=respond)
        self.server = ReceiverServer(app, port=self.server.port)
        await self.server.start()

    async def enqueue(self, event_id: str) -> None:
        await self.service.enqueue("alert.firing", alert_data(event_id), event_id=event_id)

    async def arrived(self, count: int) -> None:
        async with asyncio.timeout(30):
            while len(self.received.accepted) < count:
                self.received.changed.clear()
                await self.received.changed.wait()


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    store = Store(tmp_path / "hooks.duckdb")
    store.migrate()
    astore = AsyncStore(store)
    attempts = AttemptLog()
    received = ReceiverLog()
    server = ReceiverServer(create_receiver_app(official, received=received))
    await server.start()
    service = WebhookService(astore, FAST, on_attempt=attempts)
    state = Live(service, attempts, received, server)
    created = await service.create_endpoint(url=server.url, secret=SECRET)
    state.endpoint_id = created.endpoint_id
    worker = asyncio.create_task(service.run())
    try:
        yield state
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker
        await state.server.stop()
        astore.close()


def _errors(live: Live) -> list[str]:
    return [r.error or str(r.status) for _, r, _ in live.attempts.seen]


async def test_receiver_every_event_arrives_once_after_down_500_and_timeout(live: Live) -> None:
    await live.server.stop()  # down for a while: connections are refused
    await live.enqueue("e0")
    await live.enqueue("e1")
    await live.attempts.wait(3)
    assert all(e.startswith("ConnectError") for e in _errors(live))
    await live.enqueue("e2")  # enqueued while the receiver is down

    release = asyncio.Event()
    answers = {"count": 0}

    async def flaky(delivery: Delivery) -> int:
        answers["count"] += 1
        if answers["count"] == 1:
            return 500
        if answers["count"] == 2:
            await release.wait()  # answer only after the sender gave up (timeout)
        return 204

    await live.restart(flaky)
    await live.attempts.wait_for(lambda: any(e.startswith("timeout") for e in _errors(live)))
    release.set()
    await live.enqueue("e3")  # enqueued after recovery
    await live.arrived(4)

    ids = [webhook_id_for(f"e{i}") for i in range(4)]
    assert live.received.accepted == ids  # in enqueue order, each once
    assert live.received.rejected == []  # every request verified with standardwebhooks
    # e0 reached the receiver three times (500, the timed-out one, the success), all with
    # the same id and the same bytes; the others once.
    assert dict(live.received.counts) == {ids[0]: 3, ids[1]: 1, ids[2]: 1, ids[3]: 1}
    for request in live.received.requests:
        assert request.body == live.received.first_body[request.webhook_id]
    e0 = [r.error or str(r.status) for m, r, _ in live.attempts.seen if m.webhook_id == ids[0]]
    assert e0[-3:] == ["HTTP 500", "timeout after 2 s", "204"]
    assert all(e.startswith("ConnectError") for e in e0[:-3]) and len(e0) >= 6
    delivered = lambda: sum(d.outcome == "delivered" for _, _, d in live.attempts.seen) == 4  # noqa: E731
    await live.attempts.wait_for(delivered)  # the worker recorded the last answer too
    states = await live.service.messages(live.endpoint_id, state="", before_seq=2**62, limit=9)
    assert [(m["event_id"], m["state"]) for m in states] == [
        ("e3", "delivered"),
        ("e2", "delivered"),
        ("e1", "delivered"),
        ("e0", "delivered"),
    ]


async def test_receiver_410_disables_until_enabled_then_all_arrive(live: Live) -> None:
    gone_once = {"sent": False}

    async def gone_then_ok(delivery: Delivery) -> int:
        if not gone_once["sent"]:
            gone_once["sent"] = True
            return 410
        return 204

    await live.server.stop()
    await live.restart(gone_then_ok)
    for i in range(3):
        await live.enqueue(f"e{i}")
    await live.attempts.wait(1)
    endpoint = await live.service.get_endpoint(live.endpoint_id)
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "the endpoint answered 410 Gone")
    await asyncio.wait_for(live.service.worker.idle.wait(), 10)
    assert len(live.attempts.seen) == 1 and live.received.accepted == []
    await live.service.update_endpoint(live.endpoint_id, EndpointChange(enabled=True))
    await live.arrived(3)
    ids = [webhook_id_for(f"e{i}") for i in range(3)]
    assert live.received.accepted == ids
    assert dict(live.received.counts) == {ids[0]: 2, ids[1]: 1, ids[2]: 1}
