"""Every HTTP error is JSON: ``{"error": {"status": 404, "message": "..."}}``.

:class:`~divergence.errors.DivergenceError` answers with its own ``http_status``;
FastAPI's validation errors keep 422 and name the parameter; unknown routes and methods
keep Starlette's status; anything unexpected becomes a generic 500, logged once with
its traceback by :class:`UnexpectedErrorMiddleware`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from divergence.errors import DivergenceError

log = logging.getLogger(__name__)


def error_response(
    status: int, message: str, *, headers: Mapping[str, str] | None = None, **extra: Any
) -> Response:
    body = {"error": {"status": status, "message": message, **extra}}
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type="application/json"
    )


async def on_divergence_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DivergenceError)
    if exc.http_status >= 500:
        log.error("request failed: %s", exc.message, extra={"path": request.url.path})
    return error_response(exc.http_status, exc.message, retryable=exc.retryable)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no such route: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} not allowed on {request.url.path}"
    return error_response(exc.status_code, message, headers=exc.headers)


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [describe_problem(e) for e in exc.errors()]
    message = "; ".join(p["message"] for p in problems) or "invalid request"
    return error_response(422, message, params=problems)


def describe_problem(error: dict[str, Any]) -> dict[str, str]:
    """One validation problem as ``{"param", "in", "message"}``, the message naming the param."""
    loc: Sequence[Any] = error.get("loc", ())
    where = str(loc[0]) if loc else "request"
    param = ".".join(str(p) for p in loc[1:]) or where
    text = f"{param}: {error.get('msg', 'invalid')}"
    if error.get("type") != "missing" and "input" in error:
        text += f" (found {error['input']!r})"
    return {"param": param, "in": where, "message": text}


class UnexpectedErrorMiddleware:
    """Turn an unhandled exception in an HTTP request into a logged, generic JSON 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unexpected error", extra={"path": scope.get("path", "")})
            if started:
                raise
            response = error_response(500, "internal server error (logged on the server)")
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DivergenceError, on_divergence_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_middleware(UnexpectedErrorMiddleware)
