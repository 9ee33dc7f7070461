"""Real parts for webhook tests: a manual clock, the official verifier, scripted receivers.

- :class:`ManualClock` is the worker's clock in retry tests: time moves only when a test
  calls ``advance``, and ``sleep_until`` wakes on that (no real sleeps).
- :func:`official_verifier` checks requests with the ``standardwebhooks`` package (the
  reference implementation), at a given "now" so old test timestamps still verify.
- :class:`Recorder` is an ``httpx.MockTransport`` handler that records every request,
  checks its signature with ``standardwebhooks`` and answers from a script.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import standardwebhooks
import standardwebhooks.webhooks as official

from divergence.webhooks.outbox import Message
from divergence.webhooks.receiver import Delivery, ReceiverLog, ReceiverServer, create_receiver_app
from divergence.webhooks.retry import AttemptResult, Decision

T0_NS = 1_760_097_600 * 10**9  # 2025-10-10T12:00:00Z
PUBLIC_IP = "93.184.216.34"
SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()
LOOPBACK = ("127.0.0.0/8", "::1/128")


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, start_ns: int = T0_NS) -> None:
        self.now = start_ns
        self._moved = asyncio.Event()

    def now_ns(self) -> int:
        return self.now

    async def sleep_until(self, ts_ns: int) -> None:
        while self.now < ts_ns:
            moved = self._moved
            await moved.wait()

    def advance(self, seconds: float) -> None:
        self.now += round(seconds * 10**9)
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()


@contextmanager
def frozen_official_clock(now_s: int) -> Iterator[None]:
    """Make ``standardwebhooks`` see ``now_s`` as the current time (tolerance check)."""

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Frozen:
            value = datetime.fromtimestamp(now_s, tz or UTC)
            return cls(*value.timetuple()[:6], tzinfo=value.tzinfo)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(official, "datetime", Frozen)
        yield


def official_verify(secret: str, body: bytes, headers: Mapping[str, str], *, now_s: int) -> str:
    """Verify with the official package at ``now_s``; return the webhook-id."""
    with frozen_official_clock(now_s):
        official.Webhook(secret).verify(body, dict(headers))
    return headers["webhook-id"]


async def public_resolver(host: str, port: int) -> list[str]:
    """Every host name is one public address (no real DNS in unit tests)."""
    return [PUBLIC_IP]


@dataclass
class Recorder:
    """An httpx MockTransport handler: verifies, records and answers from a script."""

    secret: str
    clock: ManualClock
    script: list[int] = field(default_factory=list)
    """Statuses to answer, in order; 204 once exhausted."""
    default: int = 204
    requests: list[httpx.Request] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    headers: dict[int, dict[str, str]] = field(default_factory=dict)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        webhook_id = official_verify(
            self.secret,
            request.content,
            request.headers,
            now_s=self.clock.now // 10**9,
        )
        self.requests.append(request)
        self.ids.append(webhook_id)
        status = self.script.pop(0) if self.script else self.default
        headers = {"location": "http://elsewhere.example/"} if 300 <= status < 400 else {}
        return httpx.Response(status, headers=headers, text="" if status < 300 else "nope")

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self), follow_redirects=False)


@dataclass
class AttemptLog:
    """Collects the worker's attempts; ``await wait(n)`` until n have happened."""

    seen: list[tuple[Message, AttemptResult, Decision]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, message: Message, result: AttemptResult, decision: Decision) -> None:
        self.seen.append((message, result, decision))
        self.changed.set()

    async def wait(self, count: int, limit_s: float = 20.0) -> None:
        async with asyncio.timeout(limit_s):
            while len(self.seen) < count:
                self.changed.clear()
                await self.changed.wait()

    async def wait_for(self, predicate: Callable[[], bool], limit_s: float = 20.0) -> None:
        async with asyncio.timeout(limit_s):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


def alert_data(seed: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    """A one-alert notification ``data`` in the alert engine's contract
    (divergence.alerts.payload.ALERT_DATA_SCHEMA); ``seed`` picks the fingerprint."""
    fingerprint = hashlib.sha256(seed.encode()).hexdigest()[:16]
    alert = {
        "fingerprint": fingerprint,
        "rule": "basis_live",
        "severity": "warning",
        "status": status,
        "labels": dict(sorted({"underlying": "AAPL", "severity": "warning", **labels}.items())),
        "summary": "AAPL executable basis beyond 50 bps",
        "value": 81.5,
        "value_text": None,
        "threshold": 50.0,
        "session": "regular",
        "active_at": "2025-10-10T12:00:00.000000000Z",
        "starts_at": "2025-10-10T12:00:30.000000000Z",
        "ends_at": "2025-10-10T12:05:00.000000000Z" if status == "resolved" else None,
        "stale_since": None,
        "explained_by": [],
        "annotations": {},
        "acknowledged_by": None,
        "assignee": None,
        "evidence_path": f"/api/alerts/{fingerprint}/evidence?episode=1",
    }
    return {
        "version": "1",
        "status": status,
        "group": {"name": "basis", "key": "basis:AAPL", "labels": {"underlying": "AAPL"}},
        "seq": 0,
        "repeat": False,
        "alerts": [alert],
    }


class ThreadReceiver:
    """A receiver verifying every request with the official ``standardwebhooks``
    package, served from its own event-loop thread (so a test's blocking waits and
    subprocesses do not stall it); ``respond`` answers each verified request."""

    def __init__(self, respond: Callable[[Delivery], Awaitable[int]]) -> None:
        self.log = ReceiverLog()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        def verify(body: bytes, headers: Mapping[str, str]) -> str:
            standardwebhooks.Webhook(SECRET).verify(body, dict(headers))
            return headers["webhook-id"]

        async def build() -> ReceiverServer:
            self.log = ReceiverLog()
            server = ReceiverServer(create_receiver_app(verify, received=self.log, respond=respond))
            await server.start()
            return server

        self.server = asyncio.run_coroutine_threadsafe(build(), self.loop).result(15)

    def requests(self) -> int:
        return len(self.log.requests)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(15)
