"""Access control over real HTTP and websockets: 401, 403 and 200 by bearer header,
X-API-Key and the login cookie; websocket refusals; CORS off by default and on when set;
dev mode's header. One server with keys and one in dev mode with CORS, per module."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from harness import RunningServer, make_runtime, running_server
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from divergence.auth.config import ApiKeySpec, ServiceSettings
from divergence.auth.keys import key_hash, new_key

ORIGIN = "https://desk.example.com"


@dataclass(frozen=True)
class Keys:
    viewer: str
    analyst: str
    admin: str


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(viewer=new_key(), analyst=new_key(), admin=new_key())


def key_specs(keys: Keys) -> tuple[ApiKeySpec, ...]:
    return tuple(
        ApiKeySpec.model_validate({"name": f"{role}-1", "role": role, "sha256": key_hash(key)})
        for role, key in (("viewer", keys.viewer), ("analyst", keys.analyst), ("admin", keys.admin))
    )


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[RunningServer]:
    runtime = make_runtime(
        tmp_path_factory.mktemp("secured"), service=ServiceSettings(api_keys=key_specs(keys))
    )
    with running_server(runtime) as running:
        yield running


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    service = ServiceSettings(dev_mode=True, cors_origins=(ORIGIN,))
    with running_server(make_runtime(tmp_path_factory.mktemp("dev"), service=service)) as running:
        yield running


@pytest.fixture
def http(secured: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=secured.url, timeout=10, trust_env=False) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# -- HTTP ------------------------------------------------------------------------------------
def test_health_is_open(http: httpx.Client) -> None:
    response = http.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_no_key_is_401_json_with_a_bearer_challenge(http: httpx.Client) -> None:
    response = http.get("/api/instruments")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="divergence"'
    error = response.json()["error"]
    assert error["status"] == 401
    assert "Authorization: Bearer" in error["message"]


def test_unknown_key_is_401_invalid_token(http: httpx.Client) -> None:
    for headers, message in (
        (bearer(new_key()), "unknown API key (given in authorization)"),
        ({"X-API-Key": "dvg_guess"}, "unknown API key (given in x-api-key)"),
        ({"Cookie": "divergence_key=dvg_guess"}, "unknown API key (given in cookie)"),
        ({"Authorization": "Basic eA=="}, "Authorization: only the Bearer scheme is accepted"),
    ):
        response = http.get("/api/instruments", headers=headers)
        assert response.status_code == 401, headers
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
        assert response.json()["error"]["message"] == message


def test_cookie_is_found_among_malformed_cookies(http: httpx.Client, keys: Keys) -> None:
    cookie = f'junk="unterminated; other=1; divergence_key={keys.viewer}; x=y'
    assert http.get("/api/instruments", headers={"Cookie": cookie}).status_code == 200


def test_keys_by_bearer_header_and_x_api_key(http: httpx.Client, keys: Keys) -> None:
    assert http.get("/api/instruments", headers=bearer(keys.viewer)).status_code == 200
    assert http.get("/api/instruments", headers={"X-API-Key": keys.viewer}).status_code == 200
    body = http.get("/api/instruments", headers={"X-API-Key": keys.analyst}).json()
    assert "AAPL" in orjson.dumps(body).decode()


def test_role_too_low_is_403_naming_both_roles(http: httpx.Client, keys: Keys) -> None:
    response = http.post(
        "/api/alerts/silences", headers=bearer(keys.analyst), json={"matchers": []}
    )
    assert response.status_code == 403
    assert response.json()["error"] == {
        "status": 403,
        "message": "POST /api/alerts/silences needs the admin role; key 'analyst-1' holds analyst",
        "needed_role": "admin",
        "held_role": "analyst",
    }
    response = http.post("/api/alerts/0123456789abcdef/notes", headers=bearer(keys.viewer), json={})
    assert response.status_code == 403
    assert response.json()["error"]["needed_role"] == "analyst"
    # the analyst passes the check and reaches the route (no alert engine in this runtime)
    response = http.post(
        "/api/alerts/0123456789abcdef/notes",
        headers=bearer(keys.analyst),
        json={"actor": "a", "text": "t"},
    )
    assert response.status_code == 503


def test_browser_page_without_key_gets_the_login_form(http: httpx.Client) -> None:
    response = http.get("/dashboards/overview?underlying=AAPL", headers={"Accept": "text/html"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert '<form method="post" action="/login">' in response.text
    assert 'name="next" value="/dashboards/overview?underlying=AAPL"' in response.text


def test_login_sets_an_http_only_strict_cookie_that_authenticates(
    secured: RunningServer, keys: Keys
) -> None:
    with httpx.Client(base_url=secured.url, timeout=10, trust_env=False) as browser:
        form = browser.get("/login?next=/api/instruments")
        assert form.status_code == 200
        assert 'value="/api/instruments"' in form.text
        wrong = browser.post("/login", data={"key": new_key(), "next": "/api/instruments"})
        assert wrong.status_code == 401
        assert "That key is not valid." in wrong.text
        assert "set-cookie" not in wrong.headers
        response = browser.post("/login", data={"key": keys.viewer, "next": "/api/instruments"})
        assert response.status_code == 303
        assert response.headers["location"] == "/api/instruments"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"divergence_key={keys.viewer};")
        assert {"HttpOnly", "Path=/", "SameSite=strict"} <= {
            part.strip() for part in cookie.split(";")
        }
        assert browser.get("/api/instruments").status_code == 200
        refused = browser.post("/api/alerts/silences", json={})
        assert refused.status_code == 403
        assert refused.json()["error"]["held_role"] == "viewer"
        out = browser.post("/logout")
        assert out.status_code == 303
        assert browser.get("/api/instruments").status_code == 401


def test_login_never_redirects_off_site(http: httpx.Client, keys: Keys) -> None:
    for target in ("https://evil.example.com/", "//evil.example.com", "/\\evil.example.com"):
        response = http.post("/login", data={"key": keys.viewer, "next": target})
        assert response.status_code == 303
        assert response.headers["location"] == "/"


def test_unknown_paths_are_401_before_404(http: httpx.Client, keys: Keys) -> None:
    assert http.get("/no/such/route").status_code == 401
    assert http.get("/no/such/route", headers=bearer(keys.viewer)).status_code == 404
    assert http.delete("/no/such/route", headers=bearer(keys.analyst)).status_code == 403
    assert http.delete("/no/such/route", headers=bearer(keys.admin)).status_code == 404


def test_keys_never_reach_the_logs(
    http: httpx.Client, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stranger = new_key()
    http.get("/api/instruments", headers=bearer(stranger))
    http.post("/api/alerts/silences", headers=bearer(keys.viewer), json={})
    http.post("/login", data={"key": keys.analyst})
    http.post("/login", data={"key": stranger})
    ours = [r for r in caplog.records if r.name.startswith(("divergence", "uvicorn"))]
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in ours)  # not httpx's own
    assert "access refused" in logged and "login" in logged
    for key in (stranger, keys.viewer, keys.analyst):
        assert key not in logged


# -- websockets ------------------------------------------------------------------------------
def ws_outcome(url: str, headers: dict[str, str]) -> tuple[int | None, list[Any]]:
    """(close code, messages) of a websocket that the server closes."""
    messages: list[Any] = []
    with connect(url, additional_headers=headers, open_timeout=5) as ws:
        try:
            while True:
                messages.append(orjson.loads(ws.recv(timeout=5)))
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
    return code, messages


def test_websocket_without_key_closes_4401(secured: RunningServer) -> None:
    code, messages = ws_outcome(f"{secured.ws_url}/ws/live?underlying=AAPL", {})
    assert code == 4401
    assert messages[0]["type"] == "error"
    assert messages[0]["error"]["status"] == 401


def test_websocket_with_viewer_key_by_header_or_cookie(secured: RunningServer, keys: Keys) -> None:
    url = f"{secured.ws_url}/ws/live?underlying=NOPE"
    for headers in (bearer(keys.viewer), {"Cookie": f"divergence_key={keys.viewer}"}):
        code, messages = ws_outcome(url, headers)
        assert code == 4404, headers  # past the access check: the route's own answer
        assert messages[0]["error"]["status"] == 404


def test_websocket_cookie_from_another_origin_closes_4403(
    secured: RunningServer, keys: Keys
) -> None:
    url = f"{secured.ws_url}/ws/live?underlying=NOPE"
    cookie = {"Cookie": f"divergence_key={keys.viewer}"}
    code, messages = ws_outcome(url, {**cookie, "Origin": "https://evil.example.com"})
    assert code == 4403
    assert "another origin" in messages[0]["error"]["message"]
    code, _ = ws_outcome(url, {**cookie, "Origin": secured.url})
    assert code == 4404


# -- CORS and dev mode ------------------------------------------------------------------------
def preflight(client: httpx.Client, origin: str) -> httpx.Response:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    return client.options("/api/instruments", headers=headers)


def test_cors_is_off_by_default(http: httpx.Client, keys: Keys) -> None:
    response = preflight(http, ORIGIN)
    assert "access-control-allow-origin" not in response.headers
    simple = http.get("/api/instruments", headers={**bearer(keys.viewer), "Origin": ORIGIN})
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers


def test_cors_allows_exactly_the_configured_origins(dev: RunningServer) -> None:
    with httpx.Client(base_url=dev.url, timeout=10, trust_env=False) as client:
        allowed = preflight(client, ORIGIN)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == ORIGIN
        assert allowed.headers["access-control-allow-credentials"] == "true"
        other = preflight(client, "https://evil.example.com")
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers


def test_dev_mode_marks_every_response_and_lets_everything_through(dev: RunningServer) -> None:
    with httpx.Client(base_url=dev.url, timeout=10, trust_env=False) as client:
        for response in (
            client.get("/health"),
            client.get("/api/instruments"),
            client.get("/no/such/route"),
            client.post("/api/alerts/silences", json={}),
        ):
            assert response.headers["x-divergence-dev-mode"] == "1", response.url
            assert response.status_code not in (401, 403), response.url
    with connect(f"{dev.ws_url}/ws/live?underlying=NOPE") as ws:
        assert ws.response is not None
        assert ws.response.headers["X-Divergence-Dev-Mode"] == "1"


def test_secured_server_has_no_dev_mode_header(http: httpx.Client) -> None:
    assert "x-divergence-dev-mode" not in http.get("/health").headers


def test_login_page_is_self_contained() -> None:
    """The login form page needs nothing but itself: no script, no external asset."""
    from divergence.auth.login import login_page

    page = bytes(login_page("/x").body).decode()
    assert "<script" not in page and "src=" not in page and "href=" not in page


def test_openapi_describes_the_policy(http: httpx.Client, keys: Keys) -> None:
    assert http.get("/openapi.json").status_code == 401
    schema = http.get("/openapi.json", headers=bearer(keys.viewer)).json()
    assert schema["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key",
    }
    paths = schema["paths"]
    assert paths["/health"]["get"]["security"] == []
    assert paths["/api/instruments"]["get"]["x-required-role"] == "viewer"
    assert paths["/api/alerts/{fp}/acknowledge"]["post"]["x-required-role"] == "analyst"
    silence = paths["/api/alerts/silences"]["post"]
    assert silence["x-required-role"] == "admin"
    assert {"401", "403"} <= set(silence["responses"])
