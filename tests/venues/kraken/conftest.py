"""Fixtures for the Kraken adapter and protocol-server tests: the recorded catalog."""

from __future__ import annotations

import pytest

from divergence.catalog import Catalog, Venue, load_catalog
from divergence.content import recordings_dir
from divergence.venue_servers.kraken import RECORDING
from divergence.venue_servers.recording import RecordedFrame, load_recording
from divergence.venues.kraken import KrakenAdapter


@pytest.fixture(scope="session")
def recorded_catalog() -> Catalog:
    """ingest/recordings/catalog.toml: AAPLx/TSLAx/NVDAx on kraken, USDT and USDC FX."""
    return load_catalog(recordings_dir() / "catalog.toml")


@pytest.fixture
def kraken_venue(recorded_catalog: Catalog) -> Venue:
    return recorded_catalog.venues["kraken"]


@pytest.fixture
def adapter(kraken_venue: Venue, recorded_catalog: Catalog) -> KrakenAdapter:
    return KrakenAdapter(kraken_venue, recorded_catalog)


@pytest.fixture(scope="session")
def recording() -> list[RecordedFrame]:
    """The committed session, ingest/recordings/kraken_v2.jsonl."""
    return load_recording(recordings_dir() / RECORDING)


@pytest.fixture
def subscribed(recording: list[RecordedFrame], adapter: KrakenAdapter) -> list[RecordedFrame]:
    """The recorded frames a client of ``adapter.subscribe_messages()`` is sent."""
    streams = {f"book:{s}" for s in adapter.tokens} | {f"trade:{s}" for s in adapter.tokens}
    streams |= {f"ticker:{s}" for s in [*adapter.tokens, *adapter.fx]}
    return [f for f in recording if f.stream in streams]
