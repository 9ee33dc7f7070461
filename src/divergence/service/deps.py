"""Typed dependencies for routes: ``Annotated[..., Depends(...)]`` aliases, in one place.

Everything a route needs hangs off ``app.state``, set by ``create_app`` and its lifespan:
the runtime (catalog, store, bus), the dashboard specs and the live hub. Routes never
open DuckDB themselves; they go through ``runtime.store``.
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol

from fastapi import Depends
from starlette.requests import HTTPConnection

from divergence.bus import Bus
from divergence.catalog import Catalog
from divergence.dashboards import Dashboard
from divergence.errors import DivergenceError, NotFoundError
from divergence.service.live import LiveHub
from divergence.settings import Settings
from divergence.store.db import AsyncStore


class ServiceRuntime(Protocol):
    """What the service uses of :class:`divergence.runtime.Runtime`."""

    @property
    def settings(self) -> Settings: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def store(self) -> AsyncStore: ...

    @property
    def bus(self) -> Bus: ...

    def health(self) -> dict[str, Any]: ...

    def feeds_report(self) -> list[dict[str, Any]]: ...


class ServiceNotReady(DivergenceError):
    """The app is used without its lifespan (no runtime yet)."""

    http_status = 503
    retryable = True


def get_runtime(conn: HTTPConnection) -> ServiceRuntime:
    runtime: ServiceRuntime | None = getattr(conn.app.state, "runtime", None)
    if runtime is None:
        raise ServiceNotReady("the service is starting or stopping (no runtime)")
    return runtime


def get_store(conn: HTTPConnection) -> AsyncStore:
    return get_runtime(conn).store


def get_catalog(conn: HTTPConnection) -> Catalog:
    return get_runtime(conn).catalog


def get_hub(conn: HTTPConnection) -> LiveHub:
    hub: LiveHub | None = getattr(conn.app.state, "hub", None)
    if hub is None:
        raise ServiceNotReady("the live hub is not running")
    return hub


def get_dashboards(conn: HTTPConnection) -> dict[str, Dashboard]:
    dashboards: dict[str, Dashboard] = conn.app.state.dashboards
    return dashboards


RuntimeDep = Annotated[ServiceRuntime, Depends(get_runtime)]
StoreDep = Annotated[AsyncStore, Depends(get_store)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
HubDep = Annotated[LiveHub, Depends(get_hub)]
DashboardsDep = Annotated[dict[str, Dashboard], Depends(get_dashboards)]


def check_underlying(catalog: Catalog, underlying: str) -> str:
    """``underlying`` if the catalog knows it, else a 404 naming the known ones."""
    if underlying not in catalog.underlyings:
        known = ", ".join(sorted(catalog.underlyings))
        raise NotFoundError(f"unknown underlying {underlying!r} (known: {known})")
    return underlying
