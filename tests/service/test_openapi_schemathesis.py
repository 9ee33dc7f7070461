"""schemathesis against the live OpenAPI document of a real uvicorn server.

The server runs a real (unstarted) ``Runtime`` in dev mode, so the alerts engine and the
webhook service exist (their routes answer 2xx/4xx, not 503), over a store seeded with
basis rows (harness) and every market table the read endpoints serve (seed_market).
Every operation gets a bounded number of generated cases; each response must not be a
5xx, must use a status code the document declares, must carry the declared content type
(errors are JSON) and must match the declared schema.

Excluded, and why:
- ``/dashboards/{name}`` and ``/api/charts/...``: the dashboard pages and chart payloads
  (covered by their own browser and spec tests) do not yet declare their 404 (unknown
  dashboard or panel) in the OpenAPI document, so schemathesis reports an undocumented
  status; include them once they do;
- websocket routes are not in the OpenAPI document at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from harness import RunningServer, running_server, seed
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from seed_market import seed_market

from divergence.auth.config import ServiceSettings
from divergence.runtime import Runtime
from divergence.settings import Settings

MAX_EXAMPLES = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = Path(tmp_path_factory.mktemp("schemathesis"))
    config = Settings(
        db_path=tmp / "s.duckdb",
        archive_dir=tmp / "archive",
        service=ServiceSettings(dev_mode=True),
    )
    runtime = Runtime(config)
    seed(runtime.store.store)
    seed_market(runtime.store.store, runtime.catalog)
    with running_server(runtime) as running:  # type: ignore[arg-type]
        yield running


def run_operation(operation: Any, base_url: str) -> str | None:
    """Generated cases for one operation; the first failure's text, or None."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: Any) -> None:
        case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=10)

    try:
        check()
    except Exception as exc:  # a failed check: report it with the operation's label
        return f"{operation.label}: {type(exc).__name__}: {exc}"
    return None


@pytest.mark.slow
def test_openapi_schemathesis_no_5xx_and_responses_match_the_schema(
    server: RunningServer,
) -> None:
    loaded = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [r.ok() for r in loaded.get_all_operations()]
    labels = {op.label for op in operations}
    assert {"GET /api/quotes", "GET /metrics", "POST /api/alerts/silences"} <= labels
    failures = [f for op in operations if (f := run_operation(op, server.url)) is not None]
    assert failures == [], "\n\n".join(failures)
    # every operation was really called (the middleware counted it under its template)
    counted = server.app.state.http_metrics.requests
    called = {f"{method} {route}" for (method, route, _status) in counted}
    assert labels <= called, sorted(labels - called)
