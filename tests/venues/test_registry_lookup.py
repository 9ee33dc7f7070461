"""The adapter registry finds built-in adapters through the entry point group."""

from __future__ import annotations

import pytest

from divergence.catalog import Catalog
from divergence.errors import ConfigError
from divergence.venues.registry import available_adapters, load_adapter
from divergence.venues.sim import SimAdapter


def test_registry_finds_sim_through_entry_point(catalog: Catalog) -> None:
    assert "sim" in available_adapters()
    cls = load_adapter("sim")
    assert cls is SimAdapter
    adapter = cls(catalog.venues["simx-a"], catalog)
    assert adapter.subscribe_messages() == [
        '{"op":"subscribe","symbols":["AAPLx/USD","NVDAx/USD","TSLAx/USD"]}'
    ]


def test_registry_rejects_unknown_adapter_naming_it() -> None:
    with pytest.raises(ConfigError) as caught:
        load_adapter("krakenn")
    message = str(caught.value)
    assert "'krakenn'" in message
    assert "known: " in message and "sim" in message
    assert caught.value.key == "venue.adapter"
