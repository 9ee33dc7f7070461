"""``create_app(settings)``: the FastAPI application, built from settings, never at import.

The app owns its runtime unless one is passed in: its lifespan then builds
``Runtime(settings)``, starts it before serving and stops it after. Tests (and tools that
already run a runtime) pass ``runtime=`` and keep control of starting and stopping it.
The live hub and the dashboard specs belong to the app either way.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from divergence import __version__
from divergence.auth.install import install_access_control
from divergence.content import content_dir
from divergence.dashboards import load_dashboards
from divergence.sandbox.canned import load_canned_queries
from divergence.service.deps import ServiceRuntime
from divergence.service.errors import install_error_handlers
from divergence.service.live import LiveHub
from divergence.service.metrics_http import install_http_metrics
from divergence.service.routes_alerts import router as alerts_router
from divergence.service.routes_analytics import router as analytics_router
from divergence.service.routes_api import router as api_router
from divergence.service.routes_dashboards import load_page_template
from divergence.service.routes_dashboards import router as dashboards_router
from divergence.service.routes_feeds import router as feeds_router
from divergence.service.routes_market import router as market_router
from divergence.service.routes_metrics import router as metrics_router
from divergence.service.routes_rules import router as rules_router
from divergence.service.routes_sql import router as sql_router
from divergence.service.routes_webhooks import router as webhooks_router
from divergence.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, runtime: ServiceRuntime | None = None) -> FastAPI:
    """The service for ``settings``; ``runtime`` (optional) is used but not started or stopped."""
    app = FastAPI(
        title="divergence",
        version=__version__,
        description="Tokenized stocks against their underlyings: basis, sessions, live charts.",
        lifespan=_lifespan(settings, runtime),
    )
    app.state.settings = settings
    app.state.dashboards = load_dashboards()
    app.state.page_template = load_page_template()
    app.state.canned_queries = load_canned_queries()
    install_error_handlers(app)
    install_access_control(app, settings)
    install_http_metrics(app)
    app.include_router(api_router)
    app.include_router(market_router)
    app.include_router(analytics_router)
    app.include_router(metrics_router)
    app.include_router(rules_router)
    app.include_router(feeds_router)
    app.include_router(webhooks_router)
    app.include_router(alerts_router)
    app.include_router(sql_router)
    app.include_router(dashboards_router)
    static = content_dir("dashboards") / "static"
    app.mount("/static", StaticFiles(directory=static), name="static")
    return app


def _lifespan(
    settings: Settings, runtime: ServiceRuntime | None
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = None
        if runtime is None:
            from divergence.runtime import Runtime

            owned = Runtime(settings)
            await owned.start()
            active: ServiceRuntime = owned
        else:
            active = runtime
        hub = LiveHub(active.bus)
        hub.start()
        app.state.runtime, app.state.hub = active, hub
        log.info("service started", extra={"owns_runtime": owned is not None})
        try:
            yield
        finally:
            await hub.stop()
            app.state.runtime = app.state.hub = None
            if owned is not None:
                await owned.stop()

    return lifespan
