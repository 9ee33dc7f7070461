"""``divergence.service.asgi``: nothing built at import, ``app`` built once from the env."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI


@pytest.fixture
def keep_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_asgi_lazy_app_builds_once_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep_logging: None
) -> None:
    monkeypatch.setenv("DIVERGENCE_DB_PATH", str(tmp_path / "asgi.duckdb"))
    monkeypatch.setenv("DIVERGENCE_SERVICE__DEV_MODE", "true")
    asgi = importlib.import_module("divergence.service.asgi")
    asgi.build_app.cache_clear()
    assert asgi.build_app.cache_info().currsize == 0
    app = asgi.app
    assert isinstance(app, FastAPI)
    assert app.state.settings.db_path == tmp_path / "asgi.duckdb"
    assert asgi.app is app
    assert not (tmp_path / "asgi.duckdb").exists()  # the runtime starts with the server
    with pytest.raises(AttributeError):
        _ = asgi.nothing
    asgi.build_app.cache_clear()
