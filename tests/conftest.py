"""Fixtures shared by every test folder: the real catalog, real DuckDB files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from divergence.catalog import Catalog, load_catalog
from divergence.content import default_catalog_path
from divergence.store.db import Store


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(default_catalog_path())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A real DuckDB file with the whole schema applied."""
    db = Store(tmp_path / "test.duckdb")
    db.migrate()
    yield db
    db.close()


@pytest.fixture(scope="session")
def realdata() -> Path:
    """../shared/realdata (or $DIVERGENCE_REALDATA); skips with the reason when absent."""
    default = Path(__file__).resolve().parents[2] / "shared" / "realdata"
    path = Path(os.environ.get("DIVERGENCE_REALDATA", default))
    if not path.is_dir():
        pytest.skip(f"real venue recordings not found at {path} (set DIVERGENCE_REALDATA)")
    return path
