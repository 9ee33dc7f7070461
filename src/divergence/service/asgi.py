"""ASGI entry point for ``uvicorn divergence.service.asgi:app``.

Nothing is built at import: the first lookup of ``app`` reads the settings from the
environment (``DIVERGENCE_*``), configures logging and calls ``create_app`` once.
"""

from __future__ import annotations

import functools
from typing import Any

from fastapi import FastAPI

from divergence.logs import configure_logging
from divergence.service.app import create_app
from divergence.settings import load_settings


@functools.cache
def build_app() -> FastAPI:
    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)


def __getattr__(name: str) -> Any:
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
