"""With API keys on (not dev mode), a browser logs in once and then uses the dashboards.

The first page answers 401 with the login form; the key entered there becomes an HttpOnly
cookie, after which the page's own fetches and its live websocket are authenticated. A
viewer's key reads the dashboards but cannot run analyst SQL.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import RunningServer, make_runtime, running_server

from divergence.auth.config import ApiKeySpec, ServiceSettings

VIEWER_KEY = secrets.token_urlsafe(32)
PAGE = "/dashboards/underlying?underlying=AAPL"


@pytest.fixture
def keyed_server(tmp_path: Path) -> Iterator[RunningServer]:
    digest = hashlib.sha256(VIEWER_KEY.encode()).hexdigest()
    service = ServiceSettings(api_keys=(ApiKeySpec(name="desk", role="viewer", sha256=digest),))
    with running_server(make_runtime(tmp_path, service=service)) as running:
        yield running


@pytest.mark.browser
def test_dashboard_login_then_charts_live_and_no_sql(
    browser: Any, keyed_server: RunningServer
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))

    first = page.goto(keyed_server.url + PAGE)
    assert first is not None and first.status == 401
    assert page.title() == "divergence: log in"
    page.fill("#key", "not-a-key")
    page.click("button[type=submit]")
    assert page.text_content(".error") == "That key is not valid."
    assert context.cookies() == []

    page.fill("#key", VIEWER_KEY)
    page.click("button[type=submit]")
    page.wait_for_function("window.divergence && window.divergence.ready", timeout=30_000)
    assert page.url == keyed_server.url + PAGE
    cookie = next(c for c in context.cookies() if c["name"] == "divergence_key")
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
    assert cookie["value"] == VIEWER_KEY

    # the page's data came through the cookie: every venue is drawn, and live is open
    names = page.evaluate("document.getElementById('panel-basis').data.map(t => t.name)")
    assert names == ["simdex", "simx-a", "simx-b"]
    page.wait_for_selector("#live[data-state='open']")
    assert problems == []

    # the same cookie is a viewer's: analyst SQL is refused, reads are not
    jar = {"divergence_key": VIEWER_KEY}
    refused = httpx.post(keyed_server.url + "/api/sql", json={"sql": "SELECT 1"}, cookies=jar)
    assert refused.status_code == 403
    assert refused.json()["error"]["status"] == 403
    assert httpx.get(keyed_server.url + "/api/instruments", cookies=jar).status_code == 200
    context.close()
