"""The dashboard in a real chromium: charts drawn, closed market shaded, live deltas appended."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from harness import RunningServer, at, basis_frame, basis_row, wait_until

NEW = 3_000  # seconds after T0, later than every seeded row
MS = 1_000_000


def _plot(page: Any, panel: str, expression: str) -> Any:
    return page.evaluate(
        f"(() => {{ const gd = document.getElementById('panel-{panel}'); return {expression}; }})()"
    )


@pytest.mark.browser
def test_dashboard_page_live_draws_shades_and_appends(
    browser: Any, server: RunningServer, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)

    page.goto(server.url + "/dashboards/underlying?underlying=AAPL")
    page.wait_for_function("window.divergence && window.divergence.ready", timeout=30_000)

    # both charts are drawn, with one trace per venue (and the reference on prices)
    assert _plot(page, "price", "gd.data.map(t => t.name)") == [
        "reference",
        "simdex",
        "simx-a",
        "simx-b",
    ]
    assert _plot(page, "basis", "gd.data.map(t => t.name)") == ["simdex", "simx-a", "simx-b"]
    assert _plot(page, "price", "gd.querySelectorAll('.scatterlayer .trace').length") == 4

    # the closed market is a shaded band in the layout, and drawn
    shapes = _plot(page, "basis", "gd.layout.shapes.map(s => [s.name, s.x0, s.x1])")
    assert ["closed", at(0) // MS, at(600) // MS] in shapes
    assert _plot(page, "basis", "gd.querySelectorAll('.shapelayer path').length") == len(shapes)
    assert page.text_content("#badge") == "session: post · reference: live"

    # a live delta from the bus is appended with extendTraces
    page.wait_for_selector("#live[data-state='open']")
    wait_until(lambda: server.hub_clients("AAPL") == 1, "the page did not subscribe")
    before = _plot(page, "price", "gd.data[2].x.length")
    frame = basis_frame(
        [
            basis_row("simx-a", NEW, 262.0),
            basis_row("simx-b", NEW, 262.0, ref_state="stale", basis_bps=None),
            basis_row("simdex", NEW, 262.0),
        ]
    )
    server.publish("basis", frame)
    new_ms = at(NEW) // MS
    page.wait_for_function(
        f"document.getElementById('panel-price').data[2].x.slice(-1)[0] === {new_ms}",
        timeout=10_000,
    )
    assert _plot(page, "price", "gd.data[2].name") == "simx-a"
    assert _plot(page, "price", "gd.data[2].x.length") == before + 1
    assert _plot(page, "price", "gd.data[2].y.slice(-1)[0]") == pytest.approx(262.0 * 1.001)
    assert _plot(page, "price", "gd.data[0].x.slice(-1)[0]") == new_ms  # the reference
    assert _plot(page, "basis", "gd.data.map(t => t.x.slice(-1)[0])") == [
        new_ms,
        new_ms,
        at(2400) // MS,  # simx-b's row is stale: no basis point
    ]
    # the post-market band grows with the live data; the badge follows the status
    assert _plot(page, "basis", "gd.layout.shapes.slice(-1)[0].x1") == new_ms
    assert page.text_content("#badge") == "session: post · reference: live"

    # everything came from our server: no CDN, no outside request
    assert requests and all(u.startswith((server.url, server.ws_url)) for u in requests), requests
    assert problems == []

    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if target := os.environ.get("DIVERGENCE_SCREENSHOT"):
        shutil.copyfile(shot, target)
    page.close()


@pytest.mark.browser
def test_dashboard_page_live_unknown_underlying_shows_error(
    browser: Any, server: RunningServer
) -> None:
    page = browser.new_page()
    response = page.goto(server.url + "/dashboards/underlying?underlying=NOPE")
    assert response is not None and response.status == 404
    assert "unknown underlying 'NOPE'" in page.text_content("body")
    page.close()
