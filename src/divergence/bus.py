"""The bus between stages: adapters -> store and metrics -> alerts and the live view.

Stages only see :class:`Bus`; the in-process implementation below is backed by bounded
asyncio queues. A networked bus (NATS JetStream) can implement the same protocol later,
which is why everything published is a serialisable event, record or frame.

Topics used today:

- ``events``: ``list[Event]`` parsed from one frame;
- ``quarantine``: ``list[QuarantineRecord]``;
- ``flushed``: ``int``, the highest ``ingest_seq`` the writer has committed;
- ``basis``: ``polars.DataFrame`` of basis rows the live job just wrote.

Backpressure policy per subscription: ``block`` makes the publisher wait when the
queue is full (used by the store writer: nothing is dropped), ``drop_oldest`` discards
the oldest item and counts it in ``dropped`` (used by live views, which only want the
newest data).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any, Literal, Protocol

log = logging.getLogger(__name__)
Policy = Literal["block", "drop_oldest"]


class Subscription:
    """A bounded queue of one subscriber, readable with ``await sub.get()`` or ``async for``."""

    def __init__(self, topic: str, *, maxsize: int, policy: Policy) -> None:
        self.topic = topic
        self.policy = policy
        self.dropped = 0
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize)

    async def put(self, item: Any) -> None:
        if self.policy == "block":
            await self.queue.put(item)
            return
        while True:
            try:
                self.queue.put_nowait(item)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()
                self.dropped += 1

    async def get(self) -> Any:
        return await self.queue.get()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Any:
        return await self.queue.get()


class Bus(Protocol):
    def subscribe(
        self, topic: str, *, maxsize: int = 10_000, policy: Policy = "block"
    ) -> Subscription: ...

    def unsubscribe(self, sub: Subscription) -> None: ...

    def subscriptions(self) -> list[Subscription]: ...

    async def publish(self, topic: str, item: Any) -> None: ...


class InProcessBus:
    """Fan-out of each published item to every subscription of its topic."""

    def __init__(self) -> None:
        self._subs: dict[str, list[Subscription]] = defaultdict(list)

    def subscribe(
        self, topic: str, *, maxsize: int = 10_000, policy: Policy = "block"
    ) -> Subscription:
        sub = Subscription(topic, maxsize=maxsize, policy=policy)
        self._subs[topic].append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.topic, [])
        if sub in subs:
            subs.remove(sub)

    def subscriptions(self) -> list[Subscription]:
        return [sub for subs in self._subs.values() for sub in subs]

    async def publish(self, topic: str, item: Any) -> None:
        for sub in tuple(self._subs.get(topic, ())):
            await sub.put(item)
