"""``install_access_control(app, settings)``: checks, login routes, middlewares, CORS.

Called by ``create_app``. It refuses an unsafe configuration before anything is served
(:func:`~divergence.auth.checks.check_service_settings`), logs a WARNING every time dev
mode is on, and wraps the app, from the outside in: the dev-mode header (dev mode only),
CORS (only when ``service.cors_origins`` is set, with exactly those origins), then the
access check. CORS sits outside the access check so that a preflight is answered, and a
refusal still carries the CORS headers the browser needs to read it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from divergence.auth.checks import check_service_settings
from divergence.auth.keys import KeyRing
from divergence.auth.login import router as login_router
from divergence.auth.middleware import AccessMiddleware, DevModeHeaderMiddleware
from divergence.auth.openapi import document_security

if TYPE_CHECKING:
    from divergence.settings import Settings

log = logging.getLogger(__name__)


def install_access_control(app: FastAPI, settings: Settings) -> None:
    service = settings.service
    check_service_settings(settings)
    ring = KeyRing(service.api_keys)
    app.state.key_ring = ring
    app.include_router(login_router)
    document_security(app)
    app.add_middleware(
        AccessMiddleware, ring=ring, dev_mode=service.dev_mode, origins=service.cors_origins
    )
    if service.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(service.cors_origins),
            allow_credentials=True,
            allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
            expose_headers=["WWW-Authenticate", "X-Divergence-Dev-Mode"],
            max_age=600,
        )
    if service.dev_mode:
        app.add_middleware(DevModeHeaderMiddleware)
        log.warning(
            "DEV MODE: authentication is OFF, every caller is admin "
            "(service.dev_mode = true); never expose this service beyond localhost",
            extra={"host": settings.host, "port": settings.port},
        )
    else:
        log.info("access control on", extra={"api_keys": len(ring)})
