"""Enforcement: an ASGI middleware that checks every HTTP request and websocket.

For each connection it finds the route Starlette will dispatch to (the first route that
matches fully, else the first that matches the path only, as for a 405), takes that
route's path template, and asks :func:`~divergence.auth.policy.required_role`. A path no
route matches is judged by its raw path (a GET needs a viewer, anything else an admin),
so a 404 is never a way to probe without a key. Working at the ASGI level covers every
kind of route alike: API routes, pages, mounted static files and websockets.

Credentials, in this order: ``Authorization: Bearer <key>``, ``X-API-Key: <key>``, the
``divergence_key`` cookie set by ``POST /login``. No key or an unknown one: 401 (JSON with
``WWW-Authenticate: Bearer``, or the login form for a browser asking for a page). A role
too low: 403 naming the role needed and the role held. A websocket is accepted, sent one
``{"type": "error", ...}`` message and closed with 4401 or 4403. A websocket that
authenticates by cookie must come from this server's own origin (or a configured CORS
origin): a cookie alone does not prove which page opened the socket. The caller's
:class:`~divergence.auth.keys.Principal` is left in ``request.state.principal``. Keys are
never logged, only their names.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from fastapi.routing import RouteContext, iter_route_contexts
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from divergence.auth.keys import DEV_PRINCIPAL, KeyRing, Principal
from divergence.auth.login import COOKIE, login_page
from divergence.auth.policy import WEBSOCKET, required_role
from divergence.auth.roles import Role

log = logging.getLogger(__name__)
DEV_HEADER = "X-Divergence-Dev-Mode"


@dataclass(frozen=True)
class Credential:
    key: str
    source: str  # "authorization", "x-api-key" or "cookie"


class AccessMiddleware:
    """Refuse callers without the role their route needs (see the module docstring)."""

    def __init__(
        self, app: ASGIApp, *, ring: KeyRing, dev_mode: bool, origins: Sequence[str] = ()
    ) -> None:
        self.app = app
        self.ring = ring
        self.dev_mode = dev_mode
        self.origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self.dev_mode:
            scope.setdefault("state", {})["principal"] = DEV_PRINCIPAL
            await self.app(scope, receive, send)
            return
        websocket = scope["type"] == "websocket"
        method = WEBSOCKET if websocket else str(scope["method"]).upper()
        template = route_template(getattr(scope.get("app"), "routes", ()), scope)
        needed = required_role(method, template)
        headers = Headers(scope=scope)
        credential = read_credential(headers)
        principal = self.ring.lookup(credential.key) if credential else None
        if principal is not None and credential is not None:
            scope.setdefault("state", {})["principal"] = principal
        if needed is None:
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(method, template, needed, credential, principal, headers)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, message, extra = refusal
        log.info(
            "access refused",
            extra={
                "status": status,
                "route": f"{method} {template}",
                "key_name": principal.name if principal else None,
                "client": (scope.get("client") or ("?",))[0],
            },
        )
        if websocket:
            await _refuse_websocket(receive, send, status, message, extra)
            return
        if status == 401 and method == "GET" and "text/html" in headers.get("accept", ""):
            response: Response = login_page(_path_with_query(scope), message=message, status=401)
        else:
            challenge = 'Bearer realm="divergence"'
            if credential is not None and status == 401:
                challenge += ', error="invalid_token"'
            extra_headers = {"WWW-Authenticate": challenge} if status == 401 else None
            response = _error(status, message, extra_headers, extra)
        await response(scope, receive, send)

    def refusal(
        self,
        method: str,
        template: str,
        needed: Role,
        credential: Credential | None,
        principal: Principal | None,
        headers: Headers,
    ) -> tuple[int, str, dict[str, str]] | None:
        """(status, message, extra fields) when the caller may not go on, else None."""
        if credential is None:
            return (
                401,
                (
                    "an API key is required: send 'Authorization: Bearer <key>' or "
                    "'X-API-Key: <key>', or log in at /login"
                ),
                {},
            )
        if not credential.key:
            return 401, "Authorization: only the Bearer scheme is accepted", {}
        if principal is None:
            return 401, f"unknown API key (given in {credential.source})", {}
        if not principal.role.allows(needed):
            message = (
                f"{method} {template} needs the {needed} role; "
                f"key {principal.name!r} holds {principal.role}"
            )
            return 403, message, {"needed_role": str(needed), "held_role": str(principal.role)}
        if method == WEBSOCKET and credential.source == "cookie" and not self._same_origin(headers):
            return 403, "websocket from another origin refused (cookie credentials)", {}
        return None

    def _same_origin(self, headers: Headers) -> bool:
        origin = headers.get("origin")
        if origin is None:  # not a browser
            return True
        host = headers.get("host", "")
        return origin in self.origins or origin in (f"http://{host}", f"https://{host}")


class DevModeHeaderMiddleware:
    """Mark every response (and websocket handshake) ``X-Divergence-Dev-Mode: 1``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        async def marking_send(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                headers = list(message.get("headers", []))
                headers.append((DEV_HEADER.lower().encode(), b"1"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, marking_send)


def read_credential(headers: Headers) -> Credential | None:
    """The key the caller presents, and where; None when there is none."""
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return Credential(value.strip(), "authorization")
    if authorization:
        return Credential("", "authorization")  # some other scheme: not a key we know
    api_key = headers.get("x-api-key", "").strip()
    if api_key:
        return Credential(api_key, "x-api-key")
    cookie = _cookie(headers.get("cookie", ""))
    return Credential(cookie, "cookie") if cookie else None


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The path template of the route that will answer ``scope`` (its raw path if none).

    FastAPI (0.137+) keeps included routers as opaque nodes in ``app.routes``;
    :func:`fastapi.routing.iter_route_contexts` is its flattened view for this purpose,
    with the prefix applied. A mount answers for everything below it (``/static/{path}``).
    """
    partial: str | None = None
    for context in iter_route_contexts(routes):
        match, _ = context.matches(scope)
        if match is Match.NONE:
            continue
        template = route_context_template(context)
        if match is Match.FULL:
            return template
        partial = partial or template
    return partial or str(scope.get("path", ""))


def route_context_template(context: RouteContext) -> str:
    """The template the policy judges one route by: its declared path (a mount's with
    ``/{path}`` below it)."""
    if isinstance(context.original_route, Mount):
        return str(context.path_format)
    return str(context.path)


def _cookie(header: str) -> str:
    if COOKIE not in header:
        return ""
    return cookie_parser(header).get(COOKIE, "").strip()  # Starlette's lenient parser


def _error(
    status: int, message: str, headers: dict[str, str] | None, extra: dict[str, str]
) -> Response:
    """The service's JSON error (``divergence.service.errors``), built here: auth does not
    import the service package, which imports auth."""
    body = {"error": {"status": status, "message": message, **extra}}
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type="application/json"
    )


def _path_with_query(scope: Scope) -> str:
    path = str(scope.get("path", "/"))
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


async def _refuse_websocket(
    receive: Receive, send: Send, status: int, message: str, extra: dict[str, str]
) -> None:
    first = await receive()
    if first["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    body = {"type": "error", "error": {"status": status, "message": message, **extra}}
    await send({"type": "websocket.send", "text": orjson.dumps(body).decode()})
    await send({"type": "websocket.close", "code": 4000 + status, "reason": message[:120]})
