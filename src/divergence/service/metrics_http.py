"""HTTP request metrics: an ASGI middleware counting requests and timing them per route.

Requests are labelled by method, route *template* (``/api/alerts/{fp}``, never the raw
path, so the label set stays bounded; ``<unmatched>`` when no route matched) and status.
Latency runs from the request's arrival to the end of its response body. Websockets are
not counted. The counts live in :class:`HttpMetrics`, one per app (``app.state``).
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from dataclasses import dataclass, field

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from divergence.service.prometheus import Family, histogram_samples

LATENCY_BOUNDS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "<unmatched>"


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS_S) + 1))
    total_s: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BOUNDS_S, seconds)] += 1
        self.total_s += seconds


@dataclass
class HttpMetrics:
    """Request counters by (method, route, status) and latency by (method, route)."""

    requests: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    latency: dict[tuple[str, str], _Histogram] = field(
        default_factory=lambda: defaultdict(_Histogram)
    )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests[(method, route, str(status))] += 1
        self.latency[(method, route)].observe(seconds)

    def families(self) -> list[Family]:
        requests = Family(
            "divergence_http_requests_total",
            "counter",
            "HTTP requests answered, by method, route template and status.",
        )
        for (method, route, status), n in sorted(self.requests.items()):
            requests.add(n, method=method, route=route, status=status)
        latency = Family(
            "divergence_http_request_duration_seconds",
            "histogram",
            "Time from a request's arrival to the end of its response, by method and route.",
        )
        for (method, route), hist in sorted(self.latency.items()):
            labels = {"method": method, "route": route}
            histogram_samples(latency, labels, LATENCY_BOUNDS_S, hist.counts, hist.total_s)
        return [requests, latency]


def route_template(scope: Scope) -> str:
    """The matched route's path template (set in ``scope`` by routing), else ``<unmatched>``."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class HttpMetricsMiddleware:
    """Count and time every HTTP request into ``metrics``."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe(scope["method"], route_template(scope), status, elapsed)


def install_http_metrics(app: FastAPI) -> HttpMetrics:
    """Count every request of ``app`` (outermost middleware when installed last)."""
    metrics = HttpMetrics()
    app.state.http_metrics = metrics
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    return metrics
