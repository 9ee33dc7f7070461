"""The role matrix: every route of ``create_app`` with every method, called with no key and
with a viewer, analyst and admin key against one real server.

Expected: open routes never answer 401/403; otherwise no key is 401, a role below the
route's is 403, and a role at or above it gets past the check (the route may then answer
404 or 422 for the dummy parameters: that is fine). Websockets: 4401/4403 when refused.
The policy itself must fit the app: its tables name only routes that exist, and routes
that are SQL or alert case work are never left to the admin-only default.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import orjson
import pytest
from fastapi.routing import RouteContext, iter_route_contexts
from harness import RunningServer, make_runtime, running_server
from starlette.routing import Mount, WebSocketRoute
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from divergence.auth.config import ApiKeySpec, ServiceSettings
from divergence.auth.keys import key_hash, new_key
from divergence.auth.middleware import route_context_template
from divergence.auth.policy import ANALYST_ROUTES, OPEN_ROUTES, WEBSOCKET, required_role
from divergence.auth.roles import Role

KEYS = {role: new_key() for role in Role}
CALLERS: tuple[Role | None, ...] = (None, Role.VIEWER, Role.ANALYST, Role.ADMIN)
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")


@dataclass(frozen=True)
class Call:
    method: str  # an HTTP method or WEBSOCKET
    template: str
    query: tuple[str, ...] = ()  # required query parameters

    @property
    def path(self) -> str:
        """The template with dummy values for its path parameters."""
        return _PARAM.sub(lambda m: "0123456789abcdef" if m[1] == "fp" else "dummy", self.template)

    def __str__(self) -> str:
        return f"{self.method} {self.template}"


def route_calls(context: RouteContext) -> list[Call]:
    template = route_context_template(context)
    route = context.original_route
    if isinstance(route, Mount):
        return [Call("GET", template)]
    query = tuple(p.name for p in getattr(getattr(route, "dependant", None), "query_params", ()))
    if isinstance(route, WebSocketRoute) or type(route).__name__ == "APIWebSocketRoute":
        return [Call(WEBSOCKET, template, query)]
    methods = sorted(context.methods or ())
    assert methods, f"route {template} has no methods"
    return [Call(method, template) for method in methods]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    specs = tuple(
        ApiKeySpec.model_validate({"name": f"{role}-key", "role": role, "sha256": key_hash(key)})
        for role, key in KEYS.items()
    )
    runtime = make_runtime(
        tmp_path_factory.mktemp("matrix"), seeded=False, service=ServiceSettings(api_keys=specs)
    )
    with running_server(runtime) as running:
        yield running


@pytest.fixture(scope="module")
def calls(server: RunningServer) -> list[Call]:
    found = [c for ctx in iter_route_contexts(server.app.routes) for c in route_calls(ctx)]
    found.append(Call("GET", "/no/such/route"))
    found.append(Call("DELETE", "/no/such/route"))
    return found


def expected(call: Call, caller: Role | None) -> str:
    needed = required_role(call.method, call.template)
    if needed is None:
        return "allowed"
    if caller is None:
        return "401"
    return "allowed" if caller.allows(needed) else "403"


def http_outcome(http: httpx.Client, call: Call, caller: Role | None) -> tuple[str, int]:
    headers = {"Authorization": f"Bearer {KEYS[caller]}"} if caller else {}
    content = b"{}" if call.method not in ("GET", "HEAD") else None
    if content is not None:
        headers["Content-Type"] = "application/json"
    response = http.request(call.method, call.path, headers=headers, content=content)
    status = response.status_code
    if status in (401, 403) and call.method != "HEAD":
        assert response.headers["content-type"].startswith("application/json"), call
        assert response.json()["error"]["status"] == status, call
    return (str(status) if status in (401, 403) else "allowed"), status


def ws_outcome(server: RunningServer, call: Call, caller: Role | None) -> tuple[str, int]:
    headers = {"Authorization": f"Bearer {KEYS[caller]}"} if caller else {}
    query = "&".join(f"{name}=dummy" for name in call.query)
    url = f"{server.ws_url}{call.path}" + (f"?{query}" if query else "")
    try:
        with connect(url, additional_headers=headers, open_timeout=5) as ws:
            try:
                first = ws.recv(timeout=3)
            except TimeoutError:
                return "allowed", 0  # open and quiet: the route has it
            except ConnectionClosed as closed:
                return "allowed", closed.rcvd.code if closed.rcvd else 0
            try:
                ws.recv(timeout=3)
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else 0
                if code in (4401, 4403):
                    assert orjson.loads(first)["error"]["status"] == code - 4000, call
                    return str(code - 4000), code
                return "allowed", code
            except TimeoutError:
                pass
            return "allowed", 0
    except InvalidStatus as refused:  # the route refused the handshake itself
        return "allowed", refused.response.status_code


def test_role_matrix_covers_every_route(server: RunningServer, calls: list[Call]) -> None:
    wrong: list[str] = []
    with httpx.Client(base_url=server.url, timeout=10, trust_env=False) as http:
        for call in calls:
            for caller in CALLERS:
                want = expected(call, caller)
                if call.method == WEBSOCKET:
                    got, status = ws_outcome(server, call, caller)
                else:
                    got, status = http_outcome(http, call, caller)
                if got != want:
                    wrong.append(f"{call} as {caller or 'no key'}: want {want}, got {status}")
    assert wrong == []
    assert len(calls) >= 50  # the enumeration found the app's routes, not a shell


def test_matrix_sees_every_kind_of_route(calls: list[Call]) -> None:
    seen = {str(c) for c in calls}
    for must in (
        "GET /health",
        "POST /login",
        "GET /openapi.json",
        "GET /static/{path}",
        "WEBSOCKET /ws/live",
        "POST /api/alerts/{fp}/notes",
        "DELETE /api/webhooks/endpoints/{endpoint_id}",
    ):
        assert must in seen


def test_policy_tables_name_only_routes_that_exist(calls: list[Call]) -> None:
    routes = {(c.method, c.template) for c in calls}
    stale = {
        (method, path)
        for method, path in OPEN_ROUTES | ANALYST_ROUTES
        if (method, path) not in routes and not (method == "HEAD" and ("GET", path) in routes)
    }
    assert stale == set()


def test_only_health_and_login_are_open(calls: list[Call]) -> None:
    open_routes = {str(c) for c in calls if required_role(c.method, c.template) is None}
    assert open_routes == {"GET /health", "GET /login", "POST /login", "POST /logout"}


def test_analyst_work_is_never_left_to_the_admin_default(calls: list[Call]) -> None:
    """SQL and alert case work must be listed for analysts; a new route of that kind that
    only an admin may call is a policy that was forgotten, not a decision."""
    case_work = re.compile(
        r"^/api/(sql|queries)(/|$)|^/api/alerts/\{fp\}/(acknowledge|assign|notes)$"
    )
    for call in calls:
        if case_work.search(call.template):
            role = required_role(call.method, call.template)
            assert role in (Role.VIEWER, Role.ANALYST), f"{call} needs {role}"


def test_every_change_needs_more_than_a_viewer(calls: list[Call]) -> None:
    for call in calls:
        role = required_role(call.method, call.template)
        if call.method not in ("GET", "HEAD", WEBSOCKET) and role is not None:
            assert role in (Role.ANALYST, Role.ADMIN), call
            if role is Role.ANALYST:
                assert (call.method, call.template) in ANALYST_ROUTES, call
