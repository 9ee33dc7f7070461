"""Fixtures for the Databento DBN tests: a catalog with two databento reference venues,
and the real sample files (../shared/realdata/databento_equities, read in place)."""

from __future__ import annotations

from pathlib import Path

import pytest

from divergence.catalog import Catalog, load_catalog
from venues.databento.dbn_builder import CATALOG_TOML


@pytest.fixture
def catalog_path(tmp_path: Path) -> Path:
    """The test catalog as a TOML file (ingest/instruments.toml format)."""
    path = tmp_path / "instruments.toml"
    path.write_text(CATALOG_TOML)
    return path


@pytest.fixture
def dbn_catalog(catalog_path: Path) -> Catalog:
    """NVDA on ``databento-xnas`` and QQQ on ``databento-equs``, both adapter databento."""
    return load_catalog(catalog_path)


@pytest.fixture(scope="session")
def equities(realdata: Path) -> Path:
    """../shared/realdata/databento_equities; skips with the reason when absent."""
    path = realdata / "databento_equities"
    if not path.is_dir():
        pytest.skip(f"Databento sample files not found at {path} (set DIVERGENCE_REALDATA)")
    return path
