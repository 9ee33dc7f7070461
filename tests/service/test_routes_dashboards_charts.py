"""The dashboard page, its chart data (downsampled on the server) and plotly.js, over HTTP."""

from __future__ import annotations

import re
from typing import Any

import httpx
import plotly.graph_objects as go
from harness import MULTIPLIER, STEP_S, STEPS, VENUE_BPS, at, ref_mid


def _charts(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get("/api/charts/underlying", params={"underlying": "AAPL", **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _traces(body: dict[str, Any], panel: str) -> dict[str, dict[str, Any]]:
    figure = next(p["figure"] for p in body["panels"] if p["id"] == panel)
    return {trace["name"]: trace for trace in figure["data"]}


def test_routes_dashboards_charts_full_resolution_values(client: httpx.Client) -> None:
    body = _charts(client, width=1000)  # more buckets than points: nothing is merged
    price, basis = _traces(body, "price"), _traces(body, "basis")
    assert list(price) == ["reference", "simdex", "simx-a", "simx-b"]
    assert list(basis) == ["simdex", "simx-a", "simx-b"]
    times_ms = [at(step * STEP_S) // 1_000_000 for step in range(STEPS)]
    assert price["reference"]["x"] == times_ms
    assert price["reference"]["y"] == [ref_mid(step) for step in range(STEPS)]
    for venue, bps in VENUE_BPS.items():
        # mid in USD divided by k: per share, so k never shows up as a fake premium
        per_share = [
            MULTIPLIER[venue] * ref_mid(s) * (1 + bps / 1e4) / MULTIPLIER[venue]
            for s in range(STEPS)
        ]
        assert price[venue]["x"] == times_ms
        assert all(abs(a - b) < 1e-9 for a, b in zip(price[venue]["y"], per_share, strict=True))
        assert basis[venue]["y"] == [bps] * STEPS
    assert body["status"] == {"session": "post", "ref_state": "live", "ts_ms": times_ms[-1]}
    assert body["window"]["start_ns"] == str(at(0))


def test_routes_dashboards_charts_shade_closed_and_extended_sessions(client: httpx.Client) -> None:
    body = _charts(client)
    for panel in body["panels"]:
        shapes = panel["figure"]["layout"]["shapes"]
        bands = [(s["name"], s["x0"], s["x1"]) for s in shapes]
        ms = 1_000_000
        assert bands == [
            ("closed", at(0) // ms, at(600) // ms),
            ("pre", at(600) // ms, at(1200) // ms),
            ("post", at(1800) // ms, (at(2400) + 1) // ms),
        ]
        closed = shapes[0]
        assert closed["fillcolor"] == body["shading"]["closed"] != body["shading"]["pre"]
        assert (closed["yref"], closed["y0"], closed["y1"]) == ("paper", 0, 1)


def test_routes_dashboards_charts_downsample_to_width(client: httpx.Client) -> None:
    body = _charts(client, width=10)
    span = at(2400) + 1 - at(0)
    bucket = -(-span // 10)
    assert body["window"]["bucket_ns"] == bucket
    price = _traces(body, "price")
    for name, trace in price.items():
        assert len(trace["x"]) <= 2 * 10, name
        assert trace["x"] == sorted(trace["x"])
    # the reference rises steadily: each bucket keeps its first (min) and last (max) point
    expected = []
    for b in range(10):
        steps = [
            s for s in range(STEPS) if b * bucket <= s * STEP_S * 1_000_000_000 < (b + 1) * bucket
        ]
        expected += sorted({steps[0], steps[-1]})
    assert price["reference"]["x"] == [at(s * STEP_S) // 1_000_000 for s in expected]
    assert price["reference"]["y"] == [ref_mid(s) for s in expected]


def test_routes_dashboards_charts_window_and_valid_figures(client: httpx.Client) -> None:
    body = _charts(client, start="2025-10-10T12:10:00Z", end=str(at(1500)), width=500)
    price = _traces(body, "price")
    assert price["reference"]["x"][0] == at(600) // 1_000_000
    assert price["reference"]["x"][-1] == at(1440) // 1_000_000
    bands = [(s["name"], s["x0"]) for s in body["panels"][0]["figure"]["layout"]["shapes"]]
    assert bands == [("pre", at(600) // 1_000_000)]
    for panel in body["panels"]:
        go.Figure(panel["figure"])  # plotly's own validator accepts the figure


def test_routes_dashboards_page_uses_local_plotly_only(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 307
    assert response.headers["location"] == "/dashboards/overview"
    page = client.get("/dashboards/underlying", params={"underlying": "TSLA"})
    assert page.status_code == 200
    assert "<h1>TSLA: tokens vs the underlying</h1>" in page.text
    assert '<option value="TSLA" selected>' in page.text
    scripts = re.findall(r'<script src="([^"]+)"', page.text)
    assert scripts == ["/static/plotly.min.js", "/static/dashboard.js"]
    assert "http" not in " ".join(re.findall(r'(?:src|href)="([^"]+)"', page.text))
    assert client.get("/static/dashboard.js").status_code == 200
    assert client.get("/static/dashboard.css").status_code == 200


def test_routes_dashboards_serve_bundled_plotly(client: httpx.Client) -> None:
    from plotly.offline import get_plotlyjs

    plain = client.get("/static/plotly.min.js", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    assert plain.text == get_plotlyjs()
    zipped = httpx.get(
        str(client.base_url) + "/static/plotly.min.js",
        headers={"Accept-Encoding": "gzip"},
    )
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == plain.content  # httpx decoded it
    assert int(zipped.headers["content-length"]) < len(plain.content) // 2
