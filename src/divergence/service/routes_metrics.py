"""``GET /metrics``: the service's state in the Prometheus text format, for operations.

Gathered at scrape time from what already exists: the runtime's feeds report and
``health()`` counters (writer, basis/metrics/depth/alerts jobs, webhooks), the bus's
queues, three small store queries (webhook outbox by state, delivery attempts by
outcome, open alerts by severity) and the HTTP middleware's counters. Every metric name
is listed in docs/operations.md ("/metrics").
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from divergence.clock import NS_PER_SECOND, now_ns
from divergence.feeds.report import FEED_COUNTERS
from divergence.service.api_models import error_responses
from divergence.service.deps import RuntimeDep
from divergence.service.metrics_http import HttpMetrics
from divergence.service.prometheus import CONTENT_TYPE, Family, render_text

router = APIRouter(tags=["operations"])
FEED_STATES = ("connecting", "up", "down", "rejected")
WRITER_TOPICS = ("events", "quarantine")


def feed_families(report: list[dict[str, Any]]) -> list[Family]:
    """Per feed: state, counters, last message age; per stream: state, messages, age, rate."""
    state = Family("divergence_feed_state", "gauge", "1 for the feed's current state.")
    age = Family(
        "divergence_feed_last_message_age_seconds", "gauge", "Seconds since the last frame."
    )
    counters = {
        name: Family(f"divergence_feed_{name}_total", "counter", f"Feed {name}, since start.")
        for name in FEED_COUNTERS
    }
    s_state = Family("divergence_feed_stream_state", "gauge", "1 for the stream's state.")
    s_msgs = Family(
        "divergence_feed_stream_messages_total", "counter", "Messages received per stream."
    )
    s_age = Family(
        "divergence_feed_stream_age_seconds", "gauge", "Seconds since the stream's last message."
    )
    s_rate = Family(
        "divergence_feed_stream_rate_per_second", "gauge", "Recent message rate per stream."
    )
    for feed in report:
        venue = str(feed["venue"])
        states = {*FEED_STATES, str(feed.get("state"))}
        for name in sorted(states):
            state.add(1 if feed.get("state") == name else 0, venue=venue, state=name)
        age.add(feed.get("last_message_age_s"), venue=venue)
        for name, family in counters.items():
            family.add(feed.get(name), venue=venue)
        for stream in feed.get("streams", []):
            labels = {"venue": venue, "stream": str(stream["stream"])}
            s_state.add(1, **labels, state=str(stream["state"]))
            s_msgs.add(stream.get("messages"), **labels)
            s_age.add(stream.get("last_message_age_s"), **labels)
            s_rate.add(stream.get("rate_per_s"), **labels)
    return [state, age, *counters.values(), s_state, s_msgs, s_age, s_rate]


def writer_families(health: dict[str, Any], queues: dict[str, int]) -> list[Family]:
    writer = health.get("writer") or {}
    flushes = Family("divergence_writer_flushes_total", "counter", "Writer flushes (commits).")
    flushes.add(writer.get("flushes"))
    rows = Family("divergence_writer_rows_written_total", "counter", "Rows written, by table.")
    for table, n in sorted((writer.get("rows_written") or {}).items()):
        rows.add(n, table=table)
    last_seq = Family("divergence_writer_last_seq", "gauge", "Highest ingest_seq written.")
    last_seq.add(writer.get("last_seq"))
    depth = Family(
        "divergence_writer_queue_depth",
        "gauge",
        "Batches queued on the bus for the writer (topics events and quarantine).",
    )
    depth.add(sum(queues.get(t, 0) for t in WRITER_TOPICS))
    bus = Family("divergence_bus_queue_depth", "gauge", "Items queued on the bus, by topic.")
    for topic, n in sorted(queues.items()):
        bus.add(n, topic=topic)
    return [flushes, rows, last_seq, depth, bus]


def job_watermarks(health: dict[str, Any]) -> list[tuple[str, str, int | None]]:
    """(job, table, watermark ns) for every job that reports one ('' = the job's own)."""
    out: list[tuple[str, str, int | None]] = []
    out.append(("basis", "", (health.get("basis_job") or {}).get("last_watermark_ns")))
    metrics_done = (health.get("metrics_job") or {}).get("done_until_ns") or {}
    out.extend(("metrics", table, ns) for table, ns in sorted(metrics_done.items()))
    out.append(("depth", "", (health.get("depth_job") or {}).get("done_until_ns")))
    out.append(("alerts", "", (health.get("alerts_job") or {}).get("last_instant_ns")))
    return out


def job_families(health: dict[str, Any], now: int) -> list[Family]:
    """Each job's watermark, its lag behind the wall clock, steps and errors."""
    mark = Family("divergence_job_watermark_seconds", "gauge", "How far a job is final (epoch s).")
    lag = Family(
        "divergence_job_lag_seconds", "gauge", "Wall clock minus the job's watermark, in seconds."
    )
    for job, table, ns in job_watermarks(health):
        if isinstance(ns, int):
            mark.add(ns / NS_PER_SECOND, job=job, table=table)
            lag.add((now - ns) / NS_PER_SECOND, job=job, table=table)
    steps = Family("divergence_job_steps_total", "counter", "Job steps run.")
    errors = Family("divergence_job_errors_total", "counter", "Job steps that failed.")
    step_ms = Family("divergence_job_last_step_seconds", "gauge", "Duration of the last step.")
    for job in ("basis", "metrics", "depth", "alerts"):
        stats = health.get(f"{job}_job") or {}
        steps.add(stats.get("steps"), job=job)
        errors.add(stats.get("errors"), job=job)
        ms = stats.get("last_step_ms")
        step_ms.add(None if ms is None else ms / 1000, job=job)
    return [mark, lag, steps, errors, step_ms]


def store_families(
    outbox: list[dict[str, Any]], attempts: list[dict[str, Any]], alerts: list[dict[str, Any]]
) -> list[Family]:
    pending = Family(
        "divergence_webhook_outbox_messages", "gauge", "Webhook outbox messages, by state."
    )
    for state in ("pending", "delivered", "failed", "skipped", "cancelled"):
        pending.add(next((r["messages"] for r in outbox if r["state"] == state), 0), state=state)
    tries = Family(
        "divergence_webhook_delivery_attempts_total",
        "counter",
        "Webhook delivery attempts recorded, by outcome (delivered, retry, failed).",
    )
    for row in attempts:
        tries.add(row["attempts"], outcome=str(row["outcome"]))
    open_alerts = Family(
        "divergence_alerts_open", "gauge", "Open alerts (pending, firing, stale-data) by severity."
    )
    by_severity: dict[tuple[str, str], int] = defaultdict(int)
    for row in alerts:
        by_severity[(str(row["severity"]), str(row["state"]))] += int(row["alerts"])
    for severity in ("info", "warning", "critical"):
        for state in ("pending", "firing", "stale-data"):
            by_severity.setdefault((severity, state), 0)
    for (severity, state), n in sorted(by_severity.items()):
        open_alerts.add(n, severity=severity, state=state)
    return [pending, tries, open_alerts]


def webhook_worker_families(health: dict[str, Any]) -> list[Family]:
    stats = health.get("webhooks") or {}
    made = Family(
        "divergence_webhook_attempts_made_total",
        "counter",
        "Webhook delivery attempts made by this process since it started.",
    )
    made.add(stats.get("attempts"))
    in_flight = Family("divergence_webhook_in_flight", "gauge", "Deliveries in flight.")
    in_flight.add(stats.get("in_flight"))
    return [made, in_flight]


def queue_depths(runtime: Any) -> dict[str, int]:
    depths: dict[str, int] = defaultdict(int)
    for sub in runtime.bus.subscriptions():
        depths[sub.topic] += sub.queue.qsize()
    return dict(depths)


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics",
    responses={
        200: {
            "description": "The Prometheus text exposition format (0.0.4)",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **error_responses(401, 403, 503),
    },
)
async def metrics(request: Request, runtime: RuntimeDep) -> Response:
    """Feeds, writer, jobs, webhooks, open alerts and HTTP traffic, for Prometheus to
    scrape (docs/operations.md lists every metric with its type and labels)."""
    store = runtime.store
    outbox = (await store.named("api_metrics_outbox", {})).to_dicts()
    attempts = (await store.named("api_metrics_webhook_attempts", {})).to_dicts()
    alerts = (await store.named("api_metrics_alerts", {})).to_dicts()
    health = runtime.health()
    families = [
        *feed_families(runtime.feeds_report()),
        *writer_families(health, queue_depths(runtime)),
        *job_families(health, now_ns()),
        *store_families(outbox, attempts, alerts),
        *webhook_worker_families(health),
    ]
    http: HttpMetrics | None = getattr(request.app.state, "http_metrics", None)
    if http is not None:
        families.extend(http.families())
    return Response(render_text(families), media_type=CONTENT_TYPE)
