"""The delivery worker's retry logic on a manual clock and a mock transport (no sleeps).

Every request the worker makes is verified with the official ``standardwebhooks``
package inside the transport (``Recorder``), at the manual clock's time.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from webhook_harness import (
    OTHER_SECRET,
    PUBLIC_IP,
    SECRET,
    T0_NS,
    AttemptLog,
    ManualClock,
    Recorder,
    alert_data,
    official_verify,
    public_resolver,
)

from divergence.store.db import AsyncStore, Store
from divergence.webhooks.config import WebhookSettings
from divergence.webhooks.endpoints import EndpointChange
from divergence.webhooks.manager import WebhookService
from divergence.webhooks.outbox import webhook_id_for
from divergence.webhooks.retry import AttemptResult, decide, parse_retry_after
from divergence.webhooks.url_policy import Resolver

S = 10**9


@dataclass
class Rig:
    service: WebhookService
    clock: ManualClock
    recorder: Recorder
    attempts: AttemptLog

    async def endpoint(self, name: str = "a", **kwargs: Any) -> str:
        created = await self.service.create_endpoint(
            url=f"https://{name}.hooks.example/in", secret=SECRET, **kwargs
        )
        return created.endpoint_id

    async def enqueue(self, event_id: str, **labels: str) -> None:
        await self.service.enqueue(
            "alert.firing", alert_data(event_id, **labels), event_id=event_id
        )

    async def outbox(self) -> list[tuple[Any, ...]]:
        frame = await self.service.store.query(
            "SELECT event_id, state, attempts, epoch_ns(next_attempt_at) AS next_ns, "
            "last_status, last_error FROM webhook_outbox ORDER BY seq"
        )
        return [tuple(r) for r in frame.iter_rows()]


RigFactory = Callable[..., Rig]


@pytest.fixture
async def make_rig(store: Store) -> AsyncIterator[RigFactory]:
    services: list[WebhookService] = []
    astore = AsyncStore(store)

    def build(
        *, handler: Any = None, resolver: Resolver = public_resolver, seed: int = 7, **settings: Any
    ) -> Rig:
        clock = ManualClock()
        recorder = Recorder(SECRET, clock)
        transport = httpx.MockTransport(handler or recorder)
        attempts = AttemptLog()
        service = WebhookService(
            astore,
            WebhookSettings(**{"jitter": 0.0, **settings}),
            clock=clock,
            client=httpx.AsyncClient(transport=transport, follow_redirects=False),
            resolver=resolver,
            rng=random.Random(seed),
            on_attempt=attempts,
        )
        services.append(service)
        return Rig(service, clock, recorder, attempts)

    yield build
    for service in services:
        await service.worker.aclose()
    astore._writer.shutdown(wait=True)
    astore._reader.shutdown(wait=True)


async def test_delivery_retry_follows_the_schedule_then_gives_up(make_rig: RigFactory) -> None:
    rig = make_rig(disable_after_failures=100)
    rig.recorder.script = [500] * 8
    await rig.endpoint()
    await rig.enqueue("e0")
    await rig.enqueue("e1")
    # Default schedule (s): 0, 5, 300, 1800, 7200, 18000, 36000, 36000. Attempt n+1 waits
    # schedule[n] after attempt n: attempts at 0, 5, 305, 2105, 9305, 27305, 63305, 99305.
    expected_at = [0, 5, 305, 2_105, 9_305, 27_305, 63_305, 99_305]
    for n, at in enumerate(expected_at):
        rig.clock.now = T0_NS + at * S - 1
        assert await rig.service.worker.run_once() == 0  # not due 1 ns early
        if n == 0:
            rig.clock.now = T0_NS  # the first attempt is due at enqueue time itself
        else:
            rig.clock.advance(1e-9)
        assert await rig.service.worker.run_once() == (1 if n < 7 else 2)
    assert [a[2].outcome for a in rig.attempts.seen] == ["retry"] * 7 + ["failed", "delivered"]
    assert [a[2].next_attempt_ns for a in rig.attempts.seen[:7]] == [
        T0_NS + at * S for at in expected_at[1:]
    ]
    # e1 waited until e0 was given up: 8 requests for e0, then e1.
    assert rig.recorder.ids == [webhook_id_for("e0")] * 8 + [webhook_id_for("e1")]
    assert await rig.outbox() == [
        ("e0", "failed", 8, T0_NS + 99_305 * S, 500, "HTTP 500: nope"),
        ("e1", "delivered", 1, T0_NS + 99_305 * S, 204, None),
    ]


async def test_delivery_retry_jitter_is_uniform_and_seeded(make_rig: RigFactory) -> None:
    rig = make_rig(jitter=0.2, seed=11)
    rig.recorder.default = 500
    await rig.endpoint()
    await rig.enqueue("e0")
    await rig.service.worker.run_once()
    u = random.Random(11).uniform(-0.2, 0.2)
    expected = T0_NS + round(5 * (1 + u) * S)  # 5 s * (1 + u), u in [-0.2, 0.2]
    assert rig.attempts.seen[0][2].next_attempt_ns == expected
    assert T0_NS + 4 * S <= expected <= T0_NS + 6 * S


def test_delivery_retry_decide_rules() -> None:
    schedule = (0.0, 5.0, 300.0)
    rng = random.Random(1)

    def after(result: AttemptResult, attempts_before: int) -> tuple[str, int]:
        d = decide(
            result,
            attempts_before=attempts_before,
            schedule=schedule,
            jitter=0.0,
            rng=rng,
            now_ns=1_000,
        )
        return d.outcome, d.next_attempt_ns - 1_000

    assert after(AttemptResult(200, 1.0, None), 2) == ("delivered", 0)
    assert after(AttemptResult(500, 1.0, "x"), 0) == ("retry", 5 * S)
    assert after(AttemptResult(500, 1.0, "x"), 1) == ("retry", 300 * S)
    assert after(AttemptResult(500, 1.0, "x"), 2) == ("failed", 0)
    # Retry-After lengthens the delay (60 s > 5 s) but never past the longest step (300 s).
    assert after(AttemptResult(429, 1.0, "x", retry_after_s=60.0), 0) == ("retry", 60 * S)
    assert after(AttemptResult(429, 1.0, "x", retry_after_s=9e9), 0) == ("retry", 300 * S)
    assert after(AttemptResult(429, 1.0, "x", retry_after_s=1.0), 0) == ("retry", 5 * S)
    assert (
        parse_retry_after("120"),
        parse_retry_after("Wed, 21 Oct 2015"),
        parse_retry_after(None),
    ) == (
        120.0,
        None,
        None,
    )


async def test_delivery_disables_after_consecutive_failures(make_rig: RigFactory) -> None:
    rig = make_rig(retry_schedule_s=(0, 1, 1, 1, 1, 1), disable_after_failures=3)
    rig.recorder.script = [500, 500, 500]
    endpoint_id = await rig.endpoint()
    await rig.enqueue("e0")
    for _ in range(3):
        assert await rig.service.worker.run_once() == 1
        rig.clock.advance(1)
    rig.clock.advance(3_600)
    assert await rig.service.worker.run_once() == 0  # disabled: nothing more is sent
    endpoint = await rig.service.get_endpoint(endpoint_id)
    assert (endpoint.enabled, endpoint.consecutive_failures) == (False, 3)
    assert endpoint.disabled_reason == "3 consecutive failed attempts (last: HTTP 500: nope)"
    log = await rig.service.attempts(
        endpoint_id, start_ns=0, end_ns=2**62, before_id=2**62, limit=9
    )
    assert [(r["attempt"], r["status"], r["disabled"]) for r in log] == [
        (3, 500, True),
        (2, 500, False),
        (1, 500, False),
    ]
    await rig.service.update_endpoint(endpoint_id, EndpointChange(enabled=True))
    assert await rig.service.worker.run_once() == 1
    assert (await rig.outbox())[0][:3] == ("e0", "delivered", 1)


async def test_delivery_success_resets_the_failure_count(make_rig: RigFactory) -> None:
    rig = make_rig(retry_schedule_s=(0, 1, 1), disable_after_failures=3)
    rig.recorder.script = [500, 500, 204, 500, 500]
    endpoint_id = await rig.endpoint()
    await rig.enqueue("e0")
    await rig.enqueue("e1")
    # e0: 500, 500, 204 (count back to 0); then e1: 500, 500 -> 2, never 3 in a row.
    for _ in range(4):
        await rig.service.worker.run_once()
        rig.clock.advance(1)
    endpoint = await rig.service.get_endpoint(endpoint_id)
    assert (endpoint.enabled, endpoint.consecutive_failures) == (True, 2)
    assert len(rig.recorder.requests) == 5


async def test_delivery_410_disables_at_once_and_keeps_the_message(make_rig: RigFactory) -> None:
    rig = make_rig()
    rig.recorder.script = [410]
    endpoint_id = await rig.endpoint()
    await rig.enqueue("e0")
    assert await rig.service.worker.run_once() == 1
    endpoint = await rig.service.get_endpoint(endpoint_id)
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "the endpoint answered 410 Gone")
    assert (await rig.outbox())[0][:5] == ("e0", "pending", 1, T0_NS + 5 * S, 410)


async def test_delivery_redirect_is_a_failure_and_not_followed(make_rig: RigFactory) -> None:
    rig = make_rig()
    rig.recorder.script = [302]
    await rig.endpoint()
    await rig.enqueue("e0")
    await rig.service.worker.run_once()
    assert len(rig.recorder.requests) == 1
    assert (await rig.outbox())[0][4:] == (302, "HTTP 302: nope (redirects are not followed)")


async def test_delivery_a_failing_endpoint_does_not_block_others(make_rig: RigFactory) -> None:
    seen: list[tuple[str, str]] = []
    clock_holder: list[ManualClock] = []

    def handler(request: httpx.Request) -> httpx.Response:
        now_s = clock_holder[0].now // S
        webhook_id = official_verify(SECRET, request.content, request.headers, now_s=now_s)
        host = request.headers["host"]
        seen.append((host, webhook_id))
        return httpx.Response(500 if host.startswith("down.") else 204)

    rig = make_rig(handler=handler)
    clock_holder.append(rig.clock)
    await rig.endpoint("down")
    await rig.endpoint("up")
    for i in range(3):
        await rig.enqueue(f"e{i}")
    await rig.service.worker.run_once()
    ids = [webhook_id_for(f"e{i}") for i in range(3)]
    assert [w for h, w in seen if h.startswith("up.")] == ids
    assert [w for h, w in seen if h.startswith("down.")] == [ids[0]]


async def test_delivery_rebinding_to_a_private_address_is_refused(make_rig: RigFactory) -> None:
    answers = [[PUBLIC_IP], ["10.0.0.9"]]

    async def rebinding(host: str, port: int) -> list[str]:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    rig = make_rig(resolver=rebinding)
    await rig.endpoint()  # checked at creation: public
    await rig.enqueue("e0")
    await rig.service.worker.run_once()
    assert rig.recorder.requests == []  # nothing left the process
    error = (await rig.outbox())[0][5]
    assert error.endswith(
        "resolves to 10.0.0.9, which is private; allow it with webhooks.allowed_networks"
    )


async def test_delivery_request_is_pinned_signed_and_byte_stable(make_rig: RigFactory) -> None:
    rig = make_rig()
    rig.recorder.script = [503]
    await rig.endpoint()
    await rig.enqueue("e0")
    await rig.service.worker.run_once()
    rig.clock.advance(5)
    await rig.service.worker.run_once()
    first, second = rig.recorder.requests
    assert str(first.url) == f"https://{PUBLIC_IP}/in"
    assert first.headers["host"] == "a.hooks.example"
    assert first.extensions["sni_hostname"] == "a.hooks.example"
    assert first.headers["content-type"] == "application/json"
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == webhook_id_for("e0")
    assert (first.headers["webhook-timestamp"], second.headers["webhook-timestamp"]) == (
        str(T0_NS // S),
        str(T0_NS // S + 5),
    )
    assert first.content == second.content  # the stored body, byte for byte


async def test_delivery_rotation_signs_with_both_secrets_during_overlap(
    make_rig: RigFactory,
) -> None:
    rig = make_rig(secret_overlap_s=60)
    rig.recorder.script = [500]
    endpoint_id = await rig.endpoint()
    await rig.service.rotate_secret(endpoint_id, OTHER_SECRET)
    await rig.enqueue("e0")
    await rig.service.worker.run_once()  # verified with SECRET by the recorder
    request = rig.recorder.requests[0]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert official_verify(OTHER_SECRET, request.content, request.headers, now_s=T0_NS // S)
    rig.clock.advance(61)
    rig.recorder.secret = OTHER_SECRET
    await rig.service.worker.run_once()
    late = rig.recorder.requests[1]
    assert len(late.headers["webhook-signature"].split(" ")) == 1


@pytest.mark.parametrize(
    ("error", "logged"),
    [
        (httpx.ReadTimeout("slow"), "timeout after 15 s"),
        (httpx.ConnectError("refused"), "ConnectError: refused"),
    ],
)
async def test_delivery_network_errors_are_failures(
    make_rig: RigFactory, error: Exception, logged: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    rig = make_rig(handler=handler)
    await rig.endpoint()
    await rig.enqueue("e0")
    await rig.service.worker.run_once()
    assert (await rig.outbox())[0] == ("e0", "pending", 1, T0_NS + 5 * S, None, logged)


async def test_delivery_run_loop_sleeps_on_the_clock(make_rig: RigFactory) -> None:
    rig = make_rig()
    rig.recorder.script = [500]
    await rig.endpoint()
    task = asyncio.create_task(rig.service.run())
    try:
        await rig.enqueue("e0")  # wakes the loop
        await rig.attempts.wait(1)
        await asyncio.wait_for(rig.service.worker.idle.wait(), 10)
        assert rig.service.worker.next_due_ns == T0_NS + 5 * S  # sleeping on the clock
        rig.clock.advance(5)
        await rig.attempts.wait(2)
        assert [d.outcome for _, _, d in rig.attempts.seen] == ["retry", "delivered"]
        stats = rig.service.stats()
        assert (stats["enabled"], stats["attempts"]) == (True, 2)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
