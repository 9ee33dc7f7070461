"""Fixtures for the Uniswap v3 adapter and the JSON-RPC node tests: the recorded catalog."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from divergence.catalog import Catalog, Venue, load_catalog
from divergence.content import recordings_dir
from divergence.venue_servers.evm import RECORDING, EvmRpcServer
from divergence.venue_servers.recording import RecordedFrame, load_recording
from divergence.venues.uniswap_v3 import UniswapV3Adapter


@pytest.fixture(scope="session")
def uni_catalog() -> Catalog:
    """ingest/recordings/catalog.toml: AAPLx/USDC (stock is token0), TSLAx/USDC (token1)."""
    return load_catalog(recordings_dir() / "catalog.toml")


@pytest.fixture
def uni_venue(uni_catalog: Catalog) -> Venue:
    return uni_catalog.venues["uniswap-eth"]


@pytest.fixture
def uni_adapter(uni_venue: Venue, uni_catalog: Catalog) -> UniswapV3Adapter:
    return UniswapV3Adapter(uni_venue, uni_catalog)


@pytest.fixture(scope="session")
def uni_recording() -> list[RecordedFrame]:
    return load_recording(recordings_dir() / RECORDING)


@pytest.fixture
async def evm_server(uni_recording: list[RecordedFrame]) -> AsyncIterator[EvmRpcServer]:
    """The node on 127.0.0.1, not streaming: tests advance it with ``mine`` or the pump."""
    server = EvmRpcServer(uni_recording, speed=0)
    await server.start()
    yield server
    await server.stop()
