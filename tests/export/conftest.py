"""Fixtures of the export tests: a seeded DuckDB file, copied for each test."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from export_seed import make_db

from divergence.store.db import AsyncStore, Store


@pytest.fixture(scope="session")
def seeded_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated and seeded database file, closed: tests copy it."""
    path = tmp_path_factory.mktemp("export-template") / "seeded.duckdb"
    make_db(path).close()
    return path


@pytest.fixture
async def seeded(seeded_file: Path, tmp_path: Path) -> AsyncIterator[AsyncStore]:
    """A copy of the seeded file behind a real AsyncStore (reader and writer threads)."""
    path = tmp_path / "export.duckdb"
    shutil.copyfile(seeded_file, path)
    store = AsyncStore(Store(path))
    yield store
    store.close()
