"""Fixtures for the Massive adapter and protocol-server tests: the recorded catalog and session."""

from __future__ import annotations

import pytest

from divergence.catalog import Catalog, Venue, load_catalog
from divergence.content import recordings_dir
from divergence.settings import VenueSettings
from divergence.venue_servers.massive import RECORDING
from divergence.venue_servers.recording import RecordedFrame, load_recording
from divergence.venues.massive import MassiveAdapter

API_KEY = "test-key"
"""MassiveServer's default valid key."""


@pytest.fixture(scope="session")
def recorded_catalog() -> Catalog:
    """ingest/recordings/catalog.toml: AAPL@massive, TSLA@massive, NVDA@massive references."""
    return load_catalog(recordings_dir() / "catalog.toml")


@pytest.fixture
def massive_venue(recorded_catalog: Catalog) -> Venue:
    return recorded_catalog.venues["massive"]


@pytest.fixture
def adapter(massive_venue: Venue, recorded_catalog: Catalog) -> MassiveAdapter:
    """Configured with the server's key, as the runtime does from ``venues.massive``."""
    configured = MassiveAdapter(massive_venue, recorded_catalog)
    configured.configure(VenueSettings(api_key=API_KEY))
    return configured


@pytest.fixture(scope="session")
def recording() -> list[RecordedFrame]:
    """The committed session, ingest/recordings/massive_stocks.jsonl."""
    return load_recording(recordings_dir() / RECORDING)
