"""Crash safety: the delivery worker in a real subprocess (``divergence webhooks deliver``)
is SIGKILLed at random moments several times while events are pending, and restarted.

Two real receivers on 127.0.0.1 verify every request with ``standardwebhooks`` and
deduplicate by ``webhook-id``. In the end every enqueued event has arrived at every
endpoint it was meant for, the set of distinct ids equals the enqueued set, a repeated id
always carried the same bytes, and there are at most as many duplicates per endpoint as
kills (a kill can interrupt at most one in-flight message per endpoint).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from webhook_harness import SECRET, T0_NS, ThreadReceiver, alert_data

from divergence.store.db import Store
from divergence.webhooks import endpoints as ep
from divergence.webhooks import outbox
from divergence.webhooks.receiver import Delivery

pytestmark = pytest.mark.slow
KILLS = 5
SEED = 20251010


async def slow_ok(delivery: Delivery) -> int:
    await asyncio.sleep(0.02)  # widen the window a kill can land in
    return 204


@pytest.fixture
def receivers() -> Iterator[tuple[ThreadReceiver, ThreadReceiver]]:
    pair = (ThreadReceiver(slow_ok), ThreadReceiver(slow_ok))
    yield pair
    for receiver in pair:
        receiver.close()


def _enqueue(db: Path, first: int, count: int) -> list[tuple[str, str]]:
    """Enqueue events first..first+count-1 (every third on kraken); return (id, venue)."""
    store = Store(db)
    events = []
    try:
        for i in range(first, first + count):
            venue = "kraken" if i % 3 == 0 else "bybit"
            event_id = f"alert:{i}"
            outbox.enqueue(
                store,
                "alert.firing",
                alert_data(f"fp{i}", venue=venue),
                event_id=event_id,
                now_ns=T0_NS + i,
                max_body_bytes=65_536,
            )
            events.append((event_id, venue))
    finally:
        store.close()
    return events


def _worker(db: Path, *extra: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "divergence.cli_webhooks", "deliver", "--db", str(db)]
    command += ["--allow-network", "127.0.0.0/8", *extra]
    env = {**os.environ, "DIVERGENCE_LOG_LEVEL": "WARNING"}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait(condition: Callable[[], bool], message: str, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.01)


def test_crash_sigkill_at_random_moments_loses_nothing(
    tmp_path: Path, receivers: tuple[ThreadReceiver, ThreadReceiver]
) -> None:
    db = tmp_path / "crash.duckdb"
    every, kraken = receivers
    store = Store(db)
    store.migrate()
    ep.create_endpoint(
        store, url=every.server.url, secret=SECRET, now_ns=T0_NS, endpoint_id="ep_all"
    )
    ep.create_endpoint(
        store,
        url=kraken.server.url,
        secret=SECRET,
        labels={"venue": "kraken"},
        now_ns=T0_NS,
        endpoint_id="ep_kraken",
    )
    store.close()
    events = _enqueue(db, 0, 40)
    rng = random.Random(SEED)
    for kill in range(KILLS):
        before = every.requests()
        proc = _worker(db)
        if kill == 0:  # once during start-up (imports, migrations, first reads)
            time.sleep(rng.uniform(0.05, 1.0))
        else:  # otherwise while messages are flowing
            started = lambda b=before, p=proc: every.requests() > b or p.poll() is not None  # noqa: E731
            _wait(started, "the worker delivered nothing")
            time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        _, stderr = proc.communicate(timeout=15)
        assert proc.returncode == -signal.SIGKILL, stderr.decode()[-2_000:]
        events += _enqueue(db, len(events), 8)  # more work arrives between crashes
    final = _worker(db, "--once")
    _, stderr = final.communicate(timeout=120)
    assert final.returncode == 0, stderr.decode()[-2_000:]

    for receiver, wanted in (
        (every, [e for e, _ in events]),
        (kraken, [e for e, venue in events if venue == "kraken"]),
    ):
        ids = [outbox.webhook_id_for(e) for e in wanted]
        log = receiver.log
        assert log.rejected == []  # every request verified with standardwebhooks
        assert log.accepted == ids  # every event, once, in enqueue order
        assert set(log.counts) == set(ids)  # no id outside the enqueued set
        assert all(r.body == log.first_body[r.webhook_id] for r in log.requests)
        duplicates = sum(log.counts.values()) - len(ids)
        assert 0 <= duplicates <= KILLS
    store = Store(db, read_only=True)
    try:
        states = store.query("SELECT state, count(*) AS n FROM webhook_outbox GROUP BY state")
    finally:
        store.close()
    assert states.rows() == [
        ("delivered", len(events) + len([e for e in events if e[1] == "kraken"]))
    ]
