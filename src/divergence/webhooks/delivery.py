"""The delivery worker: an asyncio task that drains the outbox over HTTP.

Off the ingest path: it only reads the outbox (on the Store's reader thread) and records
attempts (short transactions on the writer thread); HTTP runs on the event loop through
``httpx.AsyncClient``. Each endpoint has at most one request in flight (order is kept
per endpoint) and at most ``webhooks.max_in_flight`` endpoints are served at once, so a
slow receiver delays only itself.

Each attempt: check the URL policy (resolve, refuse non-public addresses, pin the
address), sign the stored body with every active secret and a fresh timestamp, POST it
without following redirects, then record the result and the retry decision
(retry.py). A 2xx is a success; anything else, a timeout or a connection error is a
failure; 410 also disables the endpoint, as does ``disable_after_failures`` failures in
a row. Time comes from an injectable :class:`Clock`, so tests drive the schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Callable
from typing import Protocol

import httpx

from divergence import __version__
from divergence.clock import NS_PER_SECOND
from divergence.store.db import AsyncStore
from divergence.webhooks.config import WebhookSettings
from divergence.webhooks.endpoints import signing_keys
from divergence.webhooks.outbox import Message, heads, record_attempt
from divergence.webhooks.retry import AttemptResult, Decision, decide, parse_retry_after
from divergence.webhooks.signing import webhook_headers
from divergence.webhooks.url_policy import PinnedRequest, UrlPolicy, UrlRefusedError

log = logging.getLogger(__name__)
USER_AGENT = f"divergence-webhooks/{__version__}"
SNIPPET_BYTES = 256
AttemptObserver = Callable[[Message, AttemptResult, Decision], None]


class Clock(Protocol):
    """Wall time for timestamps and the retry schedule."""

    def now_ns(self) -> int: ...

    async def sleep_until(self, ts_ns: int) -> None: ...


class SystemClock:
    def now_ns(self) -> int:
        return time.time_ns()

    async def sleep_until(self, ts_ns: int) -> None:
        await asyncio.sleep(max(0.0, (ts_ns - time.time_ns()) / NS_PER_SECOND))


def new_client(settings: WebhookSettings) -> httpx.AsyncClient:
    """No redirects, no proxies from the environment, and no kept-alive connections: each
    request is pinned to an address checked for it, and a pooled TLS connection must not
    be reused for another host name that resolves to the same address."""
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        timeout=settings.timeout_s,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


class DeliveryWorker:
    """Delivers pending outbox messages until cancelled."""

    def __init__(
        self,
        store: AsyncStore,
        settings: WebhookSettings,
        *,
        policy: UrlPolicy,
        clock: Clock | None = None,
        client: httpx.AsyncClient | None = None,
        rng: random.Random | None = None,
        on_attempt: AttemptObserver | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._policy = policy
        self._clock = clock or SystemClock()
        self._client = client
        self._owns_client = client is None
        self._rng = rng or random.Random()
        self._on_attempt = on_attempt
        self._wake = asyncio.Event()
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._finishes = 0
        self._finished_at: dict[str, int] = {}
        """Per endpoint, the count of finished deliveries when its last one finished."""
        self.attempts = 0
        self.next_due_ns: int | None = None
        """When the running loop next looks at the outbox (unless woken earlier)."""
        self.idle = asyncio.Event()
        """Set while the loop waits with no request in flight."""

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def wake(self) -> None:
        """Look at the outbox now (called after an enqueue, a replay, an enable)."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver until cancelled; cancelling abandons in-flight requests (they are
        still pending in the outbox and are resent, same id, on the next start)."""
        try:
            while True:
                self._wake.clear()
                next_due = await self._dispatch()
                await self._wait(next_due)
        finally:
            for task in self._inflight.values():
                task.cancel()
            for task in list(self._inflight.values()):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.aclose()

    async def run_once(self) -> int:
        """Attempt every message due now, endpoint by endpoint until none is due; return
        the number of attempts (tests drive the schedule through this and the clock)."""
        made = 0
        while True:
            now = self._clock.now_ns()
            due = [m for m in await self._store.read(heads) if m.next_attempt_ns <= now]
            if not due:
                return made
            await asyncio.gather(*(self._deliver(m) for m in due))
            made += len(due)

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _dispatch(self) -> int:
        """Start a delivery for each due head not in flight; return the next due time."""
        now = self._clock.now_ns()
        next_due = now + int(self._settings.idle_poll_s * NS_PER_SECOND)
        before = self._finishes
        for message in await self._store.read(heads):
            if message.endpoint_id in self._inflight:
                continue
            if self._finished_at.get(message.endpoint_id, 0) > before:
                # Its delivery finished while the heads were read: this head may be the
                # message just recorded as delivered. The finish woke the loop, and the
                # next read sees the recorded state.
                continue
            if message.next_attempt_ns > now:
                next_due = min(next_due, message.next_attempt_ns)
            elif len(self._inflight) < self._settings.max_in_flight:
                task = asyncio.create_task(self._deliver(message), name="webhook-delivery")
                self._inflight[message.endpoint_id] = task
                task.add_done_callback(functools.partial(self._done, message.endpoint_id))
        return next_due

    def _done(self, endpoint_id: str, _task: asyncio.Task[None]) -> None:
        self._finishes += 1
        self._finished_at[endpoint_id] = self._finishes
        self._inflight.pop(endpoint_id, None)
        self._wake.set()

    async def _wait(self, next_due: int) -> None:
        self.next_due_ns = next_due
        if not self._inflight and not self._wake.is_set():
            self.idle.set()
        waiters = [
            asyncio.create_task(self._wake.wait()),
            asyncio.create_task(self._clock.sleep_until(next_due)),
        ]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.idle.clear()
            for waiter in waiters:
                waiter.cancel()

    async def _deliver(self, message: Message) -> None:
        try:
            now = self._clock.now_ns()
            keys = await self._store.read(
                lambda s: signing_keys(s, message.endpoint_id, now_ns=now)
            )
            result = await self.send(message, keys)
            await self._record(message, result)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook delivery failed", extra={"endpoint_id": message.endpoint_id})
            with contextlib.suppress(Exception):
                await self._clock.sleep_until(self._clock.now_ns() + NS_PER_SECOND)

    async def _record(self, message: Message, result: AttemptResult) -> None:
        now = self._clock.now_ns()
        decision = decide(
            result,
            attempts_before=message.attempts,
            schedule=self._settings.retry_schedule_s,
            jitter=self._settings.jitter,
            rng=self._rng,
            now_ns=now,
        )
        limit = self._settings.disable_after_failures
        disabled = await self._store.write(
            lambda s: record_attempt(s, message, result, decision, now_ns=now, disable_after=limit)
        )
        self.attempts += 1
        extra = {"endpoint_id": message.endpoint_id, "webhook_id": message.webhook_id}
        if disabled:
            log.warning("webhook endpoint disabled", extra={**extra, "error": result.error})
        if decision.outcome == "failed":
            log.warning("webhook message given up", extra={**extra, "error": result.error})
        if self._on_attempt is not None:
            self._on_attempt(message, result, decision)

    async def send(self, message: Message, keys: list[bytes]) -> AttemptResult:
        """One signed POST of ``message``; never raises for HTTP or network trouble."""
        started = time.monotonic()

        def failed(error: str) -> AttemptResult:
            return AttemptResult(None, (time.monotonic() - started) * 1e3, error)

        if not keys:
            return failed("the endpoint has no active secret")
        try:
            pinned = await self._policy.check(message.url)
        except UrlRefusedError as exc:
            return failed(exc.message)
        headers = webhook_headers(
            keys,
            msg_id=message.webhook_id,
            timestamp_s=self._clock.now_ns() // NS_PER_SECOND,
            body=message.body,
        )
        headers |= {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "host": pinned.host_header,
        }
        try:
            response, snippet = await self._post(pinned, message.body, headers)
        except (TimeoutError, httpx.TimeoutException):
            return failed(f"timeout after {self._settings.timeout_s:g} s")
        except httpx.HTTPError as exc:
            return failed(f"{type(exc).__name__}: {exc}")
        return classify(response, snippet, latency_ms=(time.monotonic() - started) * 1e3)

    async def _post(
        self, pinned: PinnedRequest, body: bytes, headers: dict[str, str]
    ) -> tuple[httpx.Response, str]:
        """POST to the pinned address within the total timeout; the answer's first bytes."""
        extensions = {"sni_hostname": pinned.sni_hostname} if pinned.sni_hostname else {}
        client = self._client = self._client or new_client(self._settings)
        async with (
            asyncio.timeout(self._settings.timeout_s),
            client.stream(
                "POST", pinned.url, content=body, headers=headers, extensions=extensions
            ) as response,
        ):
            return response, await _read_snippet(response)


def classify(response: httpx.Response, snippet: str, *, latency_ms: float) -> AttemptResult:
    """2xx is success; anything else a failure whose error quotes the answer's start."""
    status = response.status_code
    if 200 <= status < 300:
        return AttemptResult(status, latency_ms, None)
    error = f"HTTP {status}" + (f": {snippet}" if snippet else "")
    if 300 <= status < 400:
        error += " (redirects are not followed)"
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    return AttemptResult(status, latency_ms, error, retry_after)


async def _read_snippet(response: httpx.Response) -> str:
    """The first bytes of an answer, for the delivery log (never the whole body)."""
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= SNIPPET_BYTES:
            break
    return data[:SNIPPET_BYTES].decode("utf-8", "replace").strip()
