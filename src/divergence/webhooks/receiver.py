"""A local webhook receiver: verifies every signature, deduplicates by ``webhook-id``.

``divergence webhooks listen`` serves it (printing each new verified event as one JSON
line), and the tests run it with the official ``standardwebhooks`` verifier and a
scripted ``respond`` hook that answers 500, hangs past the sender's timeout or answers
410. It is also a small reference for writing a receiver: verify the raw body before
parsing it, answer 2xx quickly, and treat a ``webhook-id`` seen before as a duplicate.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from divergence.clock import now_ns

log = logging.getLogger(__name__)
Verifier = Callable[[bytes, Mapping[str, str]], str]
"""Checks a body and its headers; returns the webhook-id or raises."""


@dataclass(frozen=True)
class Delivery:
    """One verified request."""

    webhook_id: str
    payload: Any
    body: bytes
    headers: dict[str, str]
    received_at_ns: int


Responder = Callable[[Delivery], Awaitable[int]]
"""Chooses the HTTP status to answer a verified delivery with (tests script failures)."""


async def accept_all(delivery: Delivery) -> int:
    return 204


@dataclass
class ReceiverLog:
    """What a receiver saw: every verified request, and each id once when accepted."""

    requests: list[Delivery] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    accepted: list[str] = field(default_factory=list)
    """Ids answered with 2xx, in first-acceptance order, each once (the dedupe)."""
    first_body: dict[str, bytes] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    """Why each unverifiable request was refused."""
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, delivery: Delivery) -> None:
        self.requests.append(delivery)
        self.counts[delivery.webhook_id] += 1
        self.first_body.setdefault(delivery.webhook_id, delivery.body)
        self.changed.set()

    def accept(self, delivery: Delivery) -> bool:
        """Mark accepted; False when this id was accepted before (a duplicate)."""
        if delivery.webhook_id in self.accepted:
            return False
        self.accepted.append(delivery.webhook_id)
        self.changed.set()
        return True


def create_receiver_app(
    verify: Verifier,
    *,
    received: ReceiverLog,
    respond: Responder = accept_all,
    on_new: Callable[[Delivery], None] | None = None,
) -> Starlette:
    """An app that answers POST on any path: 401 if unverified, else ``respond``'s status."""

    async def receive(request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        try:
            webhook_id = verify(body, headers)
        except Exception as exc:  # the verifier's own error type varies by library
            received.rejected.append(str(exc))
            received.changed.set()
            return JSONResponse({"error": {"status": 401, "message": str(exc)}}, status_code=401)
        delivery = Delivery(webhook_id, orjson.loads(body), body, headers, now_ns())
        received.record(delivery)
        status = await respond(delivery)
        if 200 <= status < 300 and received.accept(delivery) and on_new is not None:
            on_new(delivery)
        return Response(status_code=status)

    return Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])


class ReceiverServer:
    """Serves a receiver app with uvicorn on the running event loop; stop and start again
    on the same port to simulate a receiver that is down for a while."""

    def __init__(self, app: Starlette, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            log_config=None,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = server = uvicorn.Server(config)
        self._task = asyncio.create_task(server.serve(), name="webhook-receiver")
        while not server.started:
            if self._task.done():
                await self._task
                raise RuntimeError(f"receiver did not start on {self.host}:{self.port}")
            await asyncio.sleep(0.01)
        self.port = server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        self._server = self._task = None
