"""GET /metrics on a real uvicorn server over a real (unstarted) ``Runtime``: the body
parses as Prometheus text, and the values are the ones the test caused (requests made,
batches queued on the bus, feed counters, outbox rows, open alerts, a job watermark)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import RunningServer, at, running_server
from prometheus_client.parser import text_string_to_metric_families

from divergence.auth.config import ServiceSettings
from divergence.feeds.health import StreamStats
from divergence.feeds.session import FeedSession
from divergence.runtime import Runtime
from divergence.service.prometheus import Family, render_text
from divergence.settings import Settings
from divergence.venues.registry import load_adapter

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = Path(tmp_path_factory.mktemp("metrics"))
    settings = Settings(
        db_path=tmp / "m.duckdb",
        archive_dir=tmp / "archive",
        service=ServiceSettings(dev_mode=True),
    )
    runtime = Runtime(settings)
    venue = runtime.catalog.venues["kraken"]
    adapter = load_adapter(venue.adapter)(venue, runtime.catalog)
    feed = FeedSession(venue, adapter, "ws://127.0.0.1:9/never", runtime.bus, None)
    runtime.feeds.append(feed)
    with running_server(runtime) as running:  # type: ignore[arg-type]
        yield running


def scrape(http: httpx.Client) -> Samples:
    response = http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in samples, f"duplicate sample {key}"
            samples[key] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def test_metrics_http_counters_rise_by_exactly_the_requests_made(http: httpx.Client) -> None:
    before = scrape(http)
    for _ in range(3):
        assert http.get("/api/basis", params={"underlying": "AAPL"}).status_code == 200
    assert http.get("/api/basis", params={"underlying": "MSFT"}).status_code == 404
    assert http.get("/api/alerts/0123456789abcdef/audit").status_code in (200, 404)
    assert http.get("/no/such/route").status_code == 404
    after = scrape(http)
    route = {"method": "GET", "route": "/api/basis"}
    name = "divergence_http_requests_total"
    assert (
        value(after, name, **route, status="200") - value(before, name, **route, status="200") == 3
    )
    assert (
        value(after, name, **route, status="404") - value(before, name, **route, status="404") == 1
    )
    count = "divergence_http_request_duration_seconds_count"
    assert value(after, count, **route) - value(before, count, **route) == 4
    inf = value(after, "divergence_http_request_duration_seconds_bucket", **route, le="+Inf")
    assert inf == value(after, count, **route)
    # templates, not raw paths: the fingerprint does not become a label value
    templated = {"method": "GET", "route": "/api/alerts/{fp}/audit"}
    assert (
        sum(
            v for (n, lbl), v in after.items() if n == name and ("route", templated["route"]) in lbl
        )
        == 1
    )
    assert value(after, name, method="GET", route="<unmatched>", status="404") >= 1
    # the scrape before this one counts too
    assert value(after, name, method="GET", route="/metrics", status="200") >= 1


def test_metrics_writer_queue_depth_is_what_waits_on_the_bus(
    server: RunningServer, http: httpx.Client
) -> None:
    for _ in range(5):
        server.publish("events", [])
    samples = scrape(http)
    assert value(samples, "divergence_writer_queue_depth") == 5
    assert value(samples, "divergence_bus_queue_depth", topic="events") == 5
    assert value(samples, "divergence_writer_flushes_total") == 0


def test_metrics_feed_counters_and_stream_state(server: RunningServer, http: httpx.Client) -> None:
    feed: FeedSession = server.runtime.feeds[0]  # type: ignore[attr-defined]
    feed.stats.state = "up"
    feed.stats.gaps, feed.stats.checksum_mismatches, feed.stats.reconnects = 2, 1, 4
    feed.stats.streams["trade:AAPLx/USD"] = StreamStats(state="live", messages=7)
    samples = scrape(http)
    venue = {"venue": "kraken"}
    assert value(samples, "divergence_feed_state", **venue, state="up") == 1
    assert value(samples, "divergence_feed_state", **venue, state="down") == 0
    assert value(samples, "divergence_feed_gaps_total", **venue) == 2
    assert value(samples, "divergence_feed_checksum_mismatches_total", **venue) == 1
    assert value(samples, "divergence_feed_reconnects_total", **venue) == 4
    stream = {**venue, "stream": "trade:AAPLx/USD"}
    assert value(samples, "divergence_feed_stream_messages_total", **stream) == 7
    assert value(samples, "divergence_feed_stream_state", **stream, state="live") == 1


def write(server: RunningServer, sql: str, params: dict[str, Any] | None = None) -> None:
    server.call(server.runtime.store.write(lambda s: s.execute(sql, params)))


def test_metrics_outbox_alerts_and_job_watermark(server: RunningServer, http: httpx.Client) -> None:
    for i, state in enumerate(("pending", "pending", "failed")):
        write(
            server,
            "INSERT INTO webhook_outbox (endpoint_id, webhook_id, event_id, state, attempts, "
            "next_attempt_at, created_at, updated_at) VALUES ('ep', $w, 'ev', $s, $i, "
            "now(), now(), now())",
            {"w": f"msg_{i}", "s": state, "i": i},
        )
    for outcome in ("delivered", "retry", "retry"):
        write(
            server,
            "INSERT INTO webhook_attempts (endpoint_id, webhook_id, event_id, attempt, ts, url, "
            "latency_ms, outcome, disabled) VALUES ('ep', 'msg_0', 'ev', 1, now(), 'u', 1.0, "
            "$o, false)",
            {"o": outcome},
        )
    alerts = [("critical", "firing"), ("critical", "firing"), ("warning", "pending")]
    for i, (severity, state) in enumerate([*alerts, ("critical", "resolved")]):
        write(
            server,
            "INSERT INTO alerts (fingerprint, active_at, rule_id, state, labels, scope, summary, "
            "explained_by, notes, inhibited_by, silenced_by, muted, updated_at) VALUES ($fp, "
            "make_timestamp_ns($a), 'r', $st, $labels, '{}', '', '[]', '[]', '[]', '[]', false, "
            "make_timestamp_ns($a))",
            {"fp": f"{i:016x}", "a": at(i), "st": state, "labels": f'{{"severity": "{severity}"}}'},
        )
    server.runtime.basis_job.stats.last_watermark = at(0)  # type: ignore[attr-defined]
    samples = scrape(http)
    assert value(samples, "divergence_webhook_outbox_messages", state="pending") == 2
    assert value(samples, "divergence_webhook_outbox_messages", state="failed") == 1
    assert value(samples, "divergence_webhook_outbox_messages", state="delivered") == 0
    attempts = "divergence_webhook_delivery_attempts_total"
    assert value(samples, attempts, outcome="retry") == 2
    assert value(samples, attempts, outcome="delivered") == 1
    assert value(samples, "divergence_alerts_open", severity="critical", state="firing") == 2
    assert value(samples, "divergence_alerts_open", severity="warning", state="pending") == 1
    assert value(samples, "divergence_alerts_open", severity="info", state="firing") == 0
    mark = value(samples, "divergence_job_watermark_seconds", job="basis", table="")
    assert mark == at(0) / 1e9
    assert value(samples, "divergence_job_lag_seconds", job="basis", table="") > 0
    assert value(samples, "divergence_job_errors_total", job="basis") == 0


def test_metrics_exposition_escapes_label_values_and_special_floats() -> None:
    family = Family("divergence_test", "gauge", 'help with "quotes" and \\ backslash')
    tricky = 'a"b\nc\\d'
    family.add(1.5, venue=tricky)
    family.add(float("nan"), venue="nan")
    family.add(float("inf"), venue="inf")
    family.add(None, venue="skipped")
    parsed = list(text_string_to_metric_families(render_text([family])))
    assert [f.name for f in parsed] == ["divergence_test"]
    got = {s.labels["venue"]: s.value for s in parsed[0].samples}
    assert set(got) == {tricky, "nan", "inf"}
    assert got[tricky] == 1.5 and got["inf"] == float("inf") and got["nan"] != got["nan"]
