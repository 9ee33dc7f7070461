"""The adapter contract and the registry that finds adapters through entry points.

Built-in venues register exactly like an outside package would, in the
``divergence.adapters`` entry point group (``sim = "divergence.venues.sim:SimAdapter"``
in pyproject.toml). An adapter parses; it never does I/O: the generic
:class:`~divergence.feeds.session.FeedSession` owns the socket.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Protocol, cast

from divergence.catalog import Catalog, Venue
from divergence.errors import ConfigError
from divergence.events import Event
from divergence.venues.contract import AdapterSpec, BookSpec

ADAPTER_GROUP = "divergence.adapters"


class Adapter(Protocol):
    """What every venue adapter provides (docs/venues.md).

    - ``spec``: endpoint, ping and topic limits (:class:`~divergence.venues.contract.AdapterSpec`).
    - ``streams()``: every stream (``"book:AAPLx/USD"``) the subscriptions will produce;
      the stale-stream watchdog watches exactly these.
    - ``subscribe_messages()``: the frames to send after each connect, chunked to the
      venue's topic limit. It may depend on what was parsed before (a JSON-RPC adapter
      adds an ``eth_getLogs`` backfill from the last block it saw).
    - ``resync_messages(stream)``: unsubscribe and resubscribe one stream, sent after a
      sequence gap, a checksum mismatch or a stale period; the venue answers with a
      fresh snapshot.
    - ``book_spec(symbol)``: how that symbol's book is sequenced and checksummed, or
      ``None`` when the venue has no book for it.
    - ``parse``: one raw frame in, canonical events out (``[]`` for control frames). No
      I/O; any state it keeps (subscription ids, dedupe of replayed logs) is a function
      of the frames it has parsed, so replaying an archive reproduces the live output.
      It raises :class:`~divergence.errors.QuarantineError` with a clear ``reason`` for
      anything it cannot trust, and never guesses a symbol.
    """

    spec: AdapterSpec

    def __init__(self, venue: Venue, catalog: Catalog) -> None: ...

    def streams(self) -> list[str]: ...

    def subscribe_messages(self) -> list[str]: ...

    def resync_messages(self, stream: str) -> list[str]: ...

    def book_spec(self, symbol: str) -> BookSpec | None: ...

    def parse(self, frame: str | bytes, *, ts_recv: int) -> list[Event]: ...


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ADAPTER_GROUP)}


def available_adapters() -> list[str]:
    """Names of every registered adapter, sorted."""
    return sorted(_entry_points())


def load_adapter(name: str) -> type[Adapter]:
    """The adapter class registered as ``name``; a ConfigError names it and lists the known."""
    found = _entry_points().get(name)
    if found is None:
        known = ", ".join(available_adapters()) or "none"
        raise ConfigError(
            f"unknown adapter {name!r} (known: {known})",
            key="venue.adapter",
            source=f"entry points {ADAPTER_GROUP}",
        )
    try:
        loaded = found.load()
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"adapter {name!r} cannot be imported from {found.value!r}: {exc}",
            key="venue.adapter",
            source=f"entry points {ADAPTER_GROUP}",
        ) from exc
    if not isinstance(loaded, type):
        raise ConfigError(
            f"adapter {name!r} ({found.value}) is not a class",
            key="venue.adapter",
            source=f"entry points {ADAPTER_GROUP}",
        )
    return cast(type[Adapter], loaded)
