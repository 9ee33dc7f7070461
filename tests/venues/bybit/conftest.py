"""Bybit fixtures: the recordings catalog, the committed session, a live BybitServer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import zstandard

from divergence.catalog import (
    Catalog,
    FxListing,
    Multiplier,
    Token,
    Underlying,
    Venue,
    load_catalog,
)
from divergence.content import recordings_dir
from divergence.venue_servers.bybit import RECORDING, BybitServer
from divergence.venue_servers.recording import RecordedFrame, load_recording
from divergence.venues.bybit import BybitAdapter


def make_catalog(
    symbols: Iterable[str], *, venue: str = "bybit", fx: Iterable[tuple[str, tuple[str, ...]]] = ()
) -> Catalog:
    """A catalog with one book venue using the ``bybit`` adapter and the given listings."""
    since = (Multiplier(effective_from=datetime(2025, 1, 1, tzinfo=UTC), value=1),)
    return Catalog(
        underlying=(Underlying(symbol="X", name="test underlying"),),
        venue=(Venue(id=venue, name=venue, kind="book", adapter="bybit"),),
        token=tuple(
            Token(
                id=f"{s}@{venue}",
                venue=venue,
                venue_symbol=s,
                issuer="test",
                product="spot",
                underlying="X",
                quote_currency="USDT",
                multipliers=since,
            )
            for s in symbols
        ),
        fx=tuple(FxListing(venue=venue, symbol=s, currencies=c) for s, c in fx),
    )


@pytest.fixture(scope="session")
def bybit_catalog() -> Catalog:
    return load_catalog(recordings_dir() / "catalog.toml")


@pytest.fixture(scope="session")
def recording() -> list[RecordedFrame]:
    return load_recording(recordings_dir() / RECORDING)


@pytest.fixture
def adapter(bybit_catalog: Catalog) -> BybitAdapter:
    return BybitAdapter(bybit_catalog.venues["bybit"], bybit_catalog)


@pytest.fixture
def make_adapter() -> Callable[..., BybitAdapter]:
    """``make_adapter(symbols, fx=..., depth=...)``: an adapter on a test catalog."""

    def build(
        symbols: Iterable[str],
        *,
        venue: str = "bybit",
        fx: Iterable[tuple[str, tuple[str, ...]]] = (),
        depth: int = 50,
    ) -> BybitAdapter:
        catalog = make_catalog(symbols, venue=venue, fx=fx)
        return BybitAdapter(catalog.venues[venue], catalog, depth=depth)

    return build


@pytest.fixture
async def server(recording: list[RecordedFrame]) -> AsyncIterator[BybitServer]:
    """The committed session served as fast as clients read (``start_streaming`` to begin)."""
    bybit = BybitServer(recording, speed=0)
    await bybit.start()
    yield bybit
    await bybit.stop()


@pytest.fixture(scope="session")
def bybit_real(realdata: Path) -> list[dict[str, Any]]:
    """Every record of ``cryptofeed_v3/BYBIT.jsonl.zst``, read in place."""
    path = realdata / "cryptofeed_v3" / "BYBIT.jsonl.zst"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    text = zstandard.ZstdDecompressor().decompress(path.read_bytes(), max_output_size=2**26)
    return [json.loads(line) for line in text.decode().splitlines()]
