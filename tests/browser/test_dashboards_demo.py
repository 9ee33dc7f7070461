"""Every dashboard in a real chromium against a running demo service (the simulator).

For each view: it loads with no console error, its charts hold data that matches the JSON
API for the same parameters, a live update arrives (awaited, never slept for), and a
screenshot is saved. Across views: an alert row opens the underlying view at the alert
time, the URL round-trips the view (zoom, back, paste), and the CSV and PNG downloads
hold the panel's data.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

pytestmark = pytest.mark.browser
DemoServer = Any  # tests/browser/conftest.py's DemoServer
MS = 1_000_000
SETTLED_NS = 10 * 1_000_000_000
"""A fixed view ends this long before the newest data, so no late row changes it."""
TIMEOUT_MS = 20_000


class Tab:
    """A page with its console errors and page errors collected."""

    def __init__(self, browser: Any, *, width: int = 1280, height: int = 900) -> None:
        self.context = browser.new_context(
            viewport={"width": width, "height": height}, accept_downloads=True
        )
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.chart_requests: list[str] = []
        self.chart_responses: list[Any] = []
        self.page.on("pageerror", lambda error: self.problems.append(f"pageerror: {error}"))
        self.page.on(
            "console",
            lambda msg: (
                self.problems.append(f"console: {msg.text}") if msg.type == "error" else None
            ),
        )
        self.page.on(
            "request",
            lambda r: self.chart_requests.append(r.url) if "/api/charts/" in r.url else None,
        )
        self.page.on(
            "response",
            lambda r: (
                self.chart_responses.append(r)
                if "/api/charts/" in r.url and ".csv" not in r.url
                else None
            ),
        )

    def last_payload(self) -> dict[str, Any]:
        """The JSON of the page's latest ``/api/charts`` response (what it drew)."""
        payload: dict[str, Any] = self.chart_responses[-1].json()
        return payload

    def open(self, url: str, loads: int = 1) -> None:
        self.page.goto(url)
        self.wait_loads(loads)

    def wait_loads(self, loads: int) -> None:
        self.page.wait_for_function(
            f"window.divergence && window.divergence.loads >= {loads}", timeout=TIMEOUT_MS
        )

    def js(self, expression: str) -> Any:
        return self.page.evaluate(
            f"(() => {{ const d = window.divergence; return {expression}; }})()"
        )

    def plot(self, panel: str, expression: str) -> Any:
        find = f"document.getElementById('panel-{panel}')"
        return self.page.evaluate(f"(() => {{ const gd = {find}; return {expression}; }})()")

    def shot(self, folder: Path, name: str, *, full_page: bool = True) -> Path:
        path = folder / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        assert path.stat().st_size > 10_000
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    opened = Tab(browser)
    yield opened
    opened.close()


def _fixed(demo: DemoServer, name: str, **params: Any) -> dict[str, Any]:
    """The API's payload, and its window made explicit (a fixed, reproducible view)."""
    body: dict[str, Any] = demo.get(f"/api/charts/{name}", **params)
    return body


def _panel(body: dict[str, Any], panel: str) -> dict[str, Any]:
    return next(p for p in body["panels"] if p["id"] == panel)


def _points(tab: Tab, panel: str) -> int:
    return int(
        tab.plot(
            panel,
            "gd.data.reduce((n, t) => n + (t.type === 'heatmap'"
            " ? t.z.flat().filter(v => v !== null).length : (t.x || []).length), 0)",
        )
    )


def _csv(tab: Tab, panel: str) -> list[dict[str, str]]:
    href = tab.page.get_attribute(f"#box-{panel} a.csv", "href")
    assert href and href.startswith("/api/charts/")
    origin = "{0.scheme}://{0.netloc}".format(urlparse(tab.page.url))
    response = tab.page.request.get(origin + href)
    assert response.status == 200
    return list(csv.DictReader(io.StringIO(response.text())))


def test_dashboards_demo_alerts_live_and_link(demo: DemoServer, tab: Tab, artifacts: Path) -> None:
    tab.open(demo.url + "/dashboards/alerts")
    tab.page.wait_for_selector("#live[data-state='open']", timeout=TIMEOUT_MS)
    columns = tab.js("d.tables.alerts.columns")
    rows = tab.js("d.tables.alerts.rows")
    assert rows, "the alerts table is empty"
    col = {name: i for i, name in enumerate(columns)}
    assert tab.page.locator("#box-alerts tbody tr").count() == len(rows)

    # live: an acknowledgement through the API appears in its row, without a reload
    active = demo.get("/api/alerts")["alerts"]
    assert active, "no active alert to acknowledge"
    fp = active[0]["fingerprint"]
    loads = tab.js("d.loads")
    demo.post(f"/api/alerts/{fp}/acknowledge", {"actor": "browser-test"})
    acked = (
        f"window.divergence.tables.alerts.rows.find(r => r[{col['fingerprint']}] === '{fp}'"
        f" && r[{col['ack']}] === 'browser-test')"
    )
    tab.page.wait_for_function(f"Boolean({acked})", timeout=TIMEOUT_MS)
    assert tab.js("d.loads") == loads  # a delta, not a reload
    acked_row = tab.page.evaluate(acked)
    key = f'["{fp}","{acked_row[col["active_at_ns"]]}"]'
    cell = tab.page.locator(f"#box-alerts tr[data-key='{key}'] td[data-column='ack']")
    assert cell.text_content() == "browser-test"
    assert demo.get(f"/api/alerts/{fp}")["acknowledged_by"] == "browser-test"

    # the link: an episode of an underlying (any state)
    rows = tab.js("d.tables.alerts.rows")
    row = next(r for r in rows if r[col["underlying"]])
    key = f'["{row[col["fingerprint"]]}","{row[col["active_at_ns"]]}"]'
    # the filter box narrows the table
    tab.page.fill(
        "#box-alerts input.filter", f"rule:{row[col['rule']]} underlying:{row[col['underlying']]}"
    )
    shown = tab.page.locator("#box-alerts tbody tr").count()
    assert 1 <= shown <= len(rows)
    tab.shot(artifacts, "alerts")
    assert tab.problems == []

    # the row's underlying opens the underlying view at the alert time
    link = tab.page.locator(f"#box-alerts tr[data-key='{key}'] td[data-column='underlying'] a")
    href = link.get_attribute("href")
    assert href and href.startswith("/dashboards/underlying?")
    link.click()
    tab.page.wait_for_url("**/dashboards/underlying?**", timeout=TIMEOUT_MS)
    tab.wait_loads(1)
    assert tab.page.url == demo.url + href
    query = parse_qs(urlparse(tab.page.url).query)
    assert query["underlying"] == [row[col["underlying"]]]
    assert query["start"] == [row[col["view_start_ns"]]]
    alert_ns = int(row[col["active_at_ns"]])
    assert int(query["start"][0]) < alert_ns < int(query["end"][0])
    x0, x1 = tab.plot("basis", "gd.layout.xaxis.range")
    alert_ms = int(row[col["active_at_ns"]]) // MS
    assert _as_ms(x0) <= alert_ms <= _as_ms(x1)
    assert _points(tab, "basis") > 0
    tab.shot(artifacts, "underlying-at-alert")
    assert tab.problems == []


def test_dashboards_demo_overview(demo: DemoServer, browser: Any, artifacts: Path) -> None:
    tab = Tab(browser, width=1400, height=900)
    tab.open(demo.url + "/")
    assert tab.page.url == demo.url + "/dashboards/overview"
    banner = tab.page.text_content("#dev-banner") or ""
    assert "DEV MODE: no authentication" in banner and tab.page.is_visible("#dev-banner")
    nav = tab.page.eval_on_selector_all("#nav a", "links => links.map(a => a.textContent)")
    assert nav[:6] == [
        "Overview",
        "Alerts",
        "Fragmentation",
        "Best execution",
        "Underlying",
        "Feeds",
    ]
    assert {"SQL", "Queries"} <= set(nav)
    # live: heatmap cells change after the first sync (the simulator moves the market)
    tab.page.wait_for_selector("#live[data-state='open']", timeout=TIMEOUT_MS)
    tab.page.wait_for_function("(window.divergence.updates.heatmap || 0) >= 2", timeout=TIMEOUT_MS)
    assert _points(tab, "heatmap") >= 3
    assert tab.js("d.tables.fx.rows.length") > 0
    shot = tab.shot(artifacts, "screenshot-overview", full_page=False)
    assert shot.exists()
    assert tab.problems == []
    tab.close()

    # a fixed window: the heatmap and the tables are the API's, cell for cell
    window = _fixed(demo, "overview")["window"]
    params = {"start": window["start_ns"], "end": str(int(window["end_ns"]) - SETTLED_NS)}
    body = _fixed(demo, "overview", **params)
    fixed = Tab(browser)
    fixed.open(demo.url + "/dashboards/overview?start={start}&end={end}".format(**params))
    heatmap = _panel(body, "heatmap")["figure"]["data"][0]
    assert fixed.plot("heatmap", "[gd.data[0].y, gd.data[0].x, gd.data[0].z]") == [
        heatmap["y"],
        heatmap["x"],
        heatmap["z"],
    ]
    assert any(v is not None for row in heatmap["z"] for v in row)
    assert fixed.js("d.tables.fx.rows") == _panel(body, "fx")["table"]["rows"]
    assert fixed.page.text_content("#live") == "live: off"
    rows = _csv(fixed, "heatmap")
    assert {(r["row"], r["column"]) for r in rows} == {
        (y, x)
        for i, y in enumerate(heatmap["y"])
        for j, x in enumerate(heatmap["x"])
        if heatmap["text"][i][j] != ""
    }
    fixed.shot(artifacts, "overview-fixed")
    assert fixed.problems == []
    fixed.close()


def _as_ms(value: Any) -> int:
    if isinstance(value, int | float):
        return int(value)
    from datetime import UTC, datetime

    text = str(value).replace(" ", "T")
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


FROM_BASIS = ["reference", "simdex", "simx-a", "simx-b"]
"""Series from the basis table alone: the derived tables (consolidated BBO, LULD bands)
may still be catching up inside a window, so only these are compared exactly."""


def _from_basis_api(body: dict[str, Any], panel: str) -> list[list[Any]]:
    traces = _panel(body, panel)["figure"]["data"]
    return [[t["name"], t["x"], t["y"]] for t in traces if t["name"] in FROM_BASIS]


def _from_basis_page(tab: Tab, panel: str) -> list[list[Any]]:
    names = str(FROM_BASIS)
    drawn: list[list[Any]] = tab.plot(
        panel, f"gd.data.filter(t => {names}.includes(t.name)).map(t => [t.name, t.x, t.y])"
    )
    return drawn


def test_dashboards_demo_underlying_url_zoom_downloads(
    demo: DemoServer, tab: Tab, artifacts: Path
) -> None:
    whole = _fixed(demo, "underlying", underlying="AAPL")["window"]
    start, end = int(whole["start_ns"]), int(whole["end_ns"]) - SETTLED_NS
    url = f"{demo.url}/dashboards/underlying?underlying=AAPL&start={start}&end={end}"
    tab.open(url)
    assert _points(tab, "price") > 0 and _points(tab, "basis") > 0
    # the page drew what the API answered (its plot width included), and the downsampling
    # kept at most two points per pixel
    requested = tab.chart_requests[-1]
    api = tab.last_payload()
    for panel in ("price", "basis"):
        expected = _from_basis_api(api, panel)
        assert len(expected) >= 3
        assert _from_basis_page(tab, panel) == expected
    width = int(parse_qs(urlparse(requested).query)["width"][0])
    assert api["window"]["bucket_ns"] == -(-(end - start) // width)
    for trace in _panel(api, "basis")["figure"]["data"]:
        assert len(trace["x"]) <= 2 * width + 2

    # CSV: the panel's rows (the basis job may still rewrite a recent stretch, so a
    # mismatch is retried after a reload); PNG: an image
    for attempt in range(3):
        by_series: dict[str, list[list[float]]] = {}
        for r in _csv(tab, "basis"):
            point = [int(r["ts_ns"]) // MS, float(r["value"])]
            by_series.setdefault(r["series"], []).append(point)
        drawn = tab.plot(
            "basis",
            "Object.fromEntries(gd.data.map(t => [t.name, t.x.map((x, i) => [x, t.y[i]])]))",
        )
        if drawn == by_series or attempt == 2:
            break
        tab.open(url, loads=1)
    assert set(drawn) == set(by_series)
    for name, points in drawn.items():
        assert [x for x, _ in points] == [x for x, _ in by_series[name]], name
        assert [y for _, y in points] == pytest.approx([y for _, y in by_series[name]]), name
    with tab.page.expect_download() as download:
        tab.page.click("#box-basis button.png")
    png = Path(download.value.path()).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"

    # zoom: the URL takes the range, the window is refetched at full resolution
    zoom0, zoom1 = start + (end - start) // 3, start + (end - start) // 2
    tab.page.evaluate(
        f"Plotly.relayout(document.getElementById('panel-basis'), "
        f"{{'xaxis.range[0]': {zoom0 // MS}, 'xaxis.range[1]': {zoom1 // MS}}})"
    )
    tab.wait_loads(2)
    query = parse_qs(urlparse(tab.page.url).query)
    assert int(query["start"][0]) == zoom0 // MS * MS and int(query["end"][0]) == zoom1 // MS * MS
    zoomed = tab.plot("basis", "gd.data.map(t => [t.name, t.x, t.y])")
    assert all(zoom0 // MS <= x <= zoom1 // MS for _, xs, _ in zoomed for x in xs)
    zoomed_bucket = int(tab.js("d.window.bucket_ns"))
    assert zoomed_bucket < (end - start) // width
    zoomed_url = tab.page.url
    zoomed_window = tab.js("d.window")

    # back: the previous view again; forward/paste: the zoomed one
    loads = tab.js("d.loads")
    tab.page.go_back()
    tab.wait_loads(loads + 1)
    assert tab.page.url == url
    assert tab.js("d.window") == api["window"]
    assert _from_basis_page(tab, "basis") == _from_basis_api(tab.last_payload(), "basis")
    pasted = Tab(tab.page.context.browser)
    pasted.open(zoomed_url)
    assert pasted.js("d.window") == zoomed_window
    assert [t[0] for t in pasted.plot("basis", "gd.data.map(t => [t.name])")] == [
        t[0] for t in zoomed
    ]
    assert _from_basis_page(pasted, "basis") == _from_basis_api(pasted.last_payload(), "basis")
    assert pasted.problems == []
    pasted.close()
    tab.shot(artifacts, "underlying-window")
    assert tab.problems == []

    # live: without an end, basis points are appended from the websocket
    live = Tab(tab.page.context.browser)
    live.open(f"{demo.url}/dashboards/underlying?underlying=AAPL")
    live.page.wait_for_function("(window.divergence.updates.basis || 0) >= 1", timeout=TIMEOUT_MS)
    assert live.js("d.loads") == 1
    live.shot(artifacts, "underlying")
    assert live.problems == []
    live.close()


def test_dashboards_demo_feeds(demo: DemoServer, tab: Tab, artifacts: Path) -> None:
    tab.open(demo.url + "/dashboards/feeds")
    columns = tab.js("d.tables.streams.columns")
    assert columns[:3] == ["venue", "stream", "state"]
    rows = tab.js("d.tables.streams.rows")
    venues = {r[0] for r in rows}
    assert {"simx-a", "simx-b", "simdex"} <= venues
    assert _points(tab, "events") > 0
    # every second the changed rows arrive (ages and rates move)
    tab.page.wait_for_function("(window.divergence.updates.streams || 0) >= 2", timeout=TIMEOUT_MS)
    csv_rows = _csv(tab, "streams")
    assert [list(r) for r in csv_rows[:1]] == [columns]
    assert {(r["venue"], r["stream"]) for r in csv_rows} == {(r[0], r[1]) for r in rows}
    events = tab.plot("events", "gd.data.map(t => [t.name, t.x, t.y])")
    by_kind: dict[str, dict[str, float]] = {}
    for r in _csv(tab, "events"):
        by_kind.setdefault(r["series"], {})[r["category"]] = float(r["value"])
    # the bars were drawn from the page's load; the CSV is later: it can only have grown
    for name, xs, ys in events:
        for x, y in zip(xs, ys, strict=True):
            if y is not None:
                assert by_kind[name][x] >= y
    tab.shot(artifacts, "feeds")
    assert tab.problems == []


@pytest.mark.parametrize("name", ["fragmentation", "bestex"])
def test_dashboards_demo_metric_views(
    demo: DemoServer, tab: Tab, artifacts: Path, name: str
) -> None:
    tab.open(f"{demo.url}/dashboards/{name}?underlying=AAPL")
    panels = tab.page.eval_on_selector_all(
        "section.panel", "boxes => boxes.map(b => [b.id.slice(4), Number(b.dataset.rows)])"
    )
    assert panels, "no panel drawn"
    with_rows = [p for p, n in panels if n > 0]
    assert with_rows, f"every panel of {name} is empty: {panels}"
    for panel in with_rows:
        if tab.js(f"Boolean(d.tables['{panel}'])"):
            assert tab.js(f"d.tables['{panel}'].rows.length") > 0, panel
        else:
            assert _points(tab, panel) > 0, panel
    tab.shot(artifacts, name)
    assert tab.problems == []


def test_dashboards_demo_copy_screenshot(artifacts: Path) -> None:
    """The overview screenshot for the README is in the artifacts (docs copies it)."""
    shot = artifacts / "screenshot-overview.png"
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if target := __import__("os").environ.get("DIVERGENCE_SCREENSHOT_OVERVIEW"):
        shutil.copyfile(shot, target)
