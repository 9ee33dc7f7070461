"""Alpaca fixtures: the recordings catalog, the committed session, configured adapters."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from divergence.catalog import Catalog, Reference, Underlying, Venue, load_catalog
from divergence.content import recordings_dir
from divergence.settings import VenueSettings
from divergence.venue_servers.alpaca import RECORDING, VALID_KEY, VALID_SECRET
from divergence.venue_servers.recording import RecordedFrame, load_recording
from divergence.venues.alpaca import AlpacaAdapter

CREDENTIALS = {"api_key": VALID_KEY, "api_secret": VALID_SECRET}
"""What AlpacaServer accepts by default."""
MakeAdapter = Callable[..., AlpacaAdapter]


def make_catalog(symbols: Iterable[str], *, venue: str = "alpaca") -> Catalog:
    """A catalog with one reference venue on the ``alpaca`` adapter, every symbol on ``X``."""
    return Catalog(
        underlying=(Underlying(symbol="X", name="test underlying"),),
        venue=(Venue(id=venue, name=venue, kind="reference", adapter="alpaca"),),
        reference=tuple(
            Reference(id=f"{s}@{venue}", venue=venue, symbol=s, underlying="X") for s in symbols
        ),
    )


@pytest.fixture(scope="session")
def recorded_catalog() -> Catalog:
    """ingest/recordings/catalog.toml: AAPL, TSLA and NVDA on alpaca."""
    return load_catalog(recordings_dir() / "catalog.toml")


@pytest.fixture
def make_adapter(recorded_catalog: Catalog) -> MakeAdapter:
    """``make_adapter(symbols=None, retry_after_s=60, **settings)``: configured like the
    runtime does (``configure(VenueSettings)``), on the recordings catalog by default."""

    def make(
        symbols: Iterable[str] | None = None, *, retry_after_s: float = 60.0, **settings: Any
    ) -> AlpacaAdapter:
        catalog = recorded_catalog if symbols is None else make_catalog(symbols)
        adapter = AlpacaAdapter(catalog.venues["alpaca"], catalog, retry_after_s=retry_after_s)
        adapter.configure(VenueSettings.model_validate({**CREDENTIALS, **settings}))
        return adapter

    return make


@pytest.fixture
def adapter(make_adapter: MakeAdapter) -> AlpacaAdapter:
    return make_adapter()


@pytest.fixture(scope="session")
def recording() -> list[RecordedFrame]:
    """The committed session, ingest/recordings/alpaca_v2.jsonl."""
    return load_recording(recordings_dir() / RECORDING)
