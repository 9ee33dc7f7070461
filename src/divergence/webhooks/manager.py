"""``WebhookService``: what the runtime, the alert engine and the API use of webhooks.

It owns the delivery worker and runs every DuckDB call through the runtime's
:class:`~divergence.store.db.AsyncStore` (writes on its writer thread, reads on its
reader thread), so nothing here blocks the event loop for longer than a small local
transaction. The alert engine calls :meth:`WebhookService.enqueue`; the routes call the
endpoint methods; the runtime starts :meth:`WebhookService.run` as a stage.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from divergence.store.db import AsyncStore, Store
from divergence.webhooks import endpoints as ep
from divergence.webhooks import outbox
from divergence.webhooks.config import WebhookSettings
from divergence.webhooks.delivery import AttemptObserver, Clock, DeliveryWorker, SystemClock
from divergence.webhooks.url_policy import Resolver, UrlPolicy, system_resolver

log = logging.getLogger(__name__)


class WebhookService:
    """Endpoints, the outbox and the delivery worker of one divergence process."""

    def __init__(
        self,
        store: AsyncStore,
        settings: WebhookSettings,
        *,
        clock: Clock | None = None,
        client: httpx.AsyncClient | None = None,
        resolver: Resolver | None = None,
        rng: random.Random | None = None,
        on_attempt: AttemptObserver | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock or SystemClock()
        self.policy = UrlPolicy(settings.allowed_networks, resolver=resolver or system_resolver)
        self.worker = DeliveryWorker(
            store,
            settings,
            policy=self.policy,
            clock=self.clock,
            client=client,
            rng=rng,
            on_attempt=on_attempt,
        )

    async def run(self) -> None:
        """The delivery worker (a runtime stage); idles when webhooks are disabled."""
        if not self.settings.enabled:
            log.info("webhook delivery is disabled (webhooks.enabled = false)")
            return
        await self.worker.run()

    def stats(self) -> dict[str, Any]:
        """For ``/health``: attempts made by this process, requests in flight, next look."""
        worker = self.worker
        return {
            "enabled": self.settings.enabled,
            "attempts": worker.attempts,
            "in_flight": worker.in_flight,
            "next_due_ns": worker.next_due_ns,
        }

    # -- events -----------------------------------------------------------------------
    async def enqueue(
        self,
        event_type: str,
        data: Mapping[str, Any],
        *,
        event_id: str,
        occurred_at_ns: int | None = None,
        endpoint_ids: Sequence[str] | None = None,
    ) -> outbox.Enqueued:
        """Queue an event for every matching endpoint; idempotent by ``event_id``."""
        now = self.clock.now_ns()
        limit = self.settings.max_body_bytes
        result = await self.store.write(
            lambda s: outbox.enqueue(
                s,
                event_type,
                data,
                event_id=event_id,
                now_ns=now,
                max_body_bytes=limit,
                occurred_at_ns=occurred_at_ns,
                endpoint_ids=endpoint_ids,
            )
        )
        if result.endpoint_ids:
            self.worker.wake()
        return result

    def enqueue_in(
        self,
        store: Store,
        event_type: str,
        data: Mapping[str, Any],
        *,
        event_id: str,
        occurred_at_ns: int | None = None,
    ) -> outbox.Enqueued:
        """:meth:`enqueue` inside the caller's open transaction on ``store`` (the alert
        job's step); the caller wakes the worker (:meth:`wake`) after its commit."""
        return outbox.write_event(
            store,
            event_type,
            data,
            event_id=event_id,
            now_ns=self.clock.now_ns(),
            max_body_bytes=self.settings.max_body_bytes,
            occurred_at_ns=occurred_at_ns,
        )

    def wake(self) -> None:
        """Have the delivery worker look at the outbox now."""
        self.worker.wake()

    async def send_test(self, endpoint_id: str) -> outbox.Enqueued:
        """Queue a ``webhook.test`` message for one endpoint (a new event id each time)."""
        await self.get_endpoint(endpoint_id)
        now = self.clock.now_ns()
        return await self.enqueue(
            "webhook.test",
            {"message": "test message from divergence", "endpoint_id": endpoint_id},
            event_id=f"test:{endpoint_id}:{now}",
            endpoint_ids=[endpoint_id],
        )

    # -- endpoints --------------------------------------------------------------------
    async def create_endpoint(
        self,
        *,
        url: str,
        secret: str,
        description: str = "",
        event_types: Sequence[str] = (),
        labels: Mapping[str, str] | None = None,
        enabled: bool = True,
    ) -> ep.Endpoint:
        """Check the URL against the policy now (and again at every attempt), then store."""
        await self.policy.check(url)
        now = self.clock.now_ns()
        return await self.store.write(
            lambda s: ep.create_endpoint(
                s,
                url=url,
                secret=secret,
                description=description,
                event_types=event_types,
                labels=labels,
                enabled=enabled,
                now_ns=now,
            )
        )

    async def list_endpoints(self) -> list[ep.Endpoint]:
        return await self.store.read(ep.list_endpoints)

    async def get_endpoint(self, endpoint_id: str) -> ep.Endpoint:
        return await self.store.read(lambda s: ep.get_endpoint(s, endpoint_id))

    async def update_endpoint(self, endpoint_id: str, change: ep.EndpointChange) -> ep.Endpoint:
        if change.url is not None:
            await self.policy.check(change.url)
        now = self.clock.now_ns()
        updated = await self.store.write(
            lambda s: ep.update_endpoint(s, endpoint_id, change, now_ns=now)
        )
        self.worker.wake()
        return updated

    async def delete_endpoint(self, endpoint_id: str) -> None:
        now = self.clock.now_ns()
        await self.store.write(lambda s: ep.delete_endpoint(s, endpoint_id, now_ns=now))

    async def rotate_secret(
        self, endpoint_id: str, secret: str, *, overlap_s: float | None = None
    ) -> None:
        overlap = self.settings.secret_overlap_s if overlap_s is None else overlap_s
        now = self.clock.now_ns()
        await self.store.write(
            lambda s: ep.rotate_secret(s, endpoint_id, secret, overlap_s=overlap, now_ns=now)
        )
        log.info("webhook secret rotated", extra={"endpoint_id": endpoint_id})

    async def secrets_meta(self, endpoint_id: str = "") -> list[dict[str, Any]]:
        now = self.clock.now_ns()
        return await self.store.read(
            lambda s: ep.secrets_meta(s, now_ns=now, endpoint_id=endpoint_id)
        )

    # -- delivery log and replay ------------------------------------------------------
    async def replay(self, endpoint_id: str, *, start_ns: int, end_ns: int) -> int:
        now = self.clock.now_ns()

        def apply(store: Store) -> int:
            endpoint = ep.get_endpoint(store, endpoint_id)
            return outbox.replay(store, endpoint, start_ns=start_ns, end_ns=end_ns, now_ns=now)

        count = await self.store.write(apply)
        self.worker.wake()
        log.info("webhook replay queued", extra={"endpoint_id": endpoint_id, "messages": count})
        return count

    async def attempts(
        self, endpoint_id: str, *, start_ns: int, end_ns: int, before_id: int, limit: int
    ) -> list[dict[str, Any]]:
        await self.get_endpoint(endpoint_id)
        return await self.store.read(
            lambda s: outbox.list_attempts(
                s, endpoint_id, start_ns=start_ns, end_ns=end_ns, before_id=before_id, limit=limit
            )
        )

    async def messages(
        self, endpoint_id: str, *, state: str, before_seq: int, limit: int
    ) -> list[dict[str, Any]]:
        await self.get_endpoint(endpoint_id)
        return await self.store.read(
            lambda s: outbox.list_messages(
                s, endpoint_id, state=state, before_seq=before_seq, limit=limit
            )
        )
