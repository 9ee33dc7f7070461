"""Every HTTP error is JSON with its status: DivergenceError, validation, routes, bugs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import StandInRuntime, make_runtime, running_server


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"]["status"] == status
    message: str = body["error"]["message"]
    return message


def test_service_errors_unknown_underlying_is_404(client: httpx.Client) -> None:
    message = _error(client.get("/api/basis", params={"underlying": "MSFT"}), 404)
    assert "'MSFT'" in message and "AAPL" in message


def test_service_errors_bad_time_is_400_naming_the_parameter(client: httpx.Client) -> None:
    response = client.get("/api/basis", params={"underlying": "AAPL", "end": "yesterday"})
    assert _error(response, 400).startswith("end: ")
    response = client.get("/api/basis", params={"underlying": "AAPL", "start": "12:00"})
    assert _error(response, 400).startswith("start: ")


def test_service_errors_validation_keeps_422_naming_the_parameter(client: httpx.Client) -> None:
    response = client.get("/api/basis", params={"underlying": "AAPL", "limit": "50001"})
    message = _error(response, 422)
    assert message.startswith("limit: ") and "50001" in message
    assert response.json()["error"]["params"][0]["param"] == "limit"
    assert _error(client.get("/api/basis"), 422).startswith("underlying: ")


def test_service_errors_unknown_route_and_method(client: httpx.Client) -> None:
    assert "/api/nothing-here" in _error(client.get("/api/nothing-here"), 404)
    assert "POST" in _error(client.post("/api/basis"), 405)


def test_service_errors_unknown_venue_and_dashboard_are_404(client: httpx.Client) -> None:
    response = client.get("/api/basis", params={"underlying": "AAPL", "venue": "nasdaq"})
    assert "nasdaq" in _error(response, 404)
    assert "nope" in _error(client.get("/dashboards/nope"), 404)


class BrokenHealthRuntime(StandInRuntime):
    """A runtime whose health report has a bug, to see what the service makes of it."""

    def health(self) -> dict[str, Any]:
        return {"ratio": 1 / 0}


def test_service_errors_unexpected_exception_is_generic_500_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base = make_runtime(tmp_path, seeded=False)
    broken = BrokenHealthRuntime(settings=base.settings, catalog=base.catalog, store=base.store)
    with (
        caplog.at_level(logging.ERROR, logger="divergence.service"),
        running_server(broken) as server,
    ):
        response = httpx.get(server.url + "/health", timeout=10)
    message = _error(response, 500)
    assert "ZeroDivision" not in message and "division" not in message
    logged = [r for r in caplog.records if r.name == "divergence.service.errors"]
    assert len(logged) == 1
    assert logged[0].exc_info is not None and logged[0].exc_info[0] is ZeroDivisionError
