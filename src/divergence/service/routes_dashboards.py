"""Dashboard pages, their chart data, plotly.js from our own server, and the live socket.

The page (``dashboards/templates/dashboard.html`` + ``dashboards/static/dashboard.js``)
fetches ``/api/charts/<name>`` once, drawn from the spec's queries and downsampled on
the server to about ``width`` points per trace, then appends live deltas from
``/ws/live`` with ``Plotly.extendTraces``. plotly.js comes from the plotly package
(``plotly.offline.get_plotlyjs()``): nothing is fetched from a CDN.
"""

from __future__ import annotations

import functools
import gzip
import html
import string
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import polars as pl
from fastapi import APIRouter, Query, Request, WebSocket
from starlette.responses import HTMLResponse, RedirectResponse, Response

from divergence import __version__
from divergence.clock import NS_PER_SECOND, now_ns
from divergence.content import content_dir
from divergence.dashboards import Dashboard
from divergence.errors import NotFoundError
from divergence.service.charts import (
    bucket_ns_for,
    colours_for,
    latest_status,
    render_figure,
    render_session_shapes,
)
from divergence.service.deps import (
    CatalogDep,
    DashboardsDep,
    HubDep,
    StoreDep,
    check_underlying,
)
from divergence.service.live import run_client
from divergence.service.routes_api import JsonResponse, parse_optional_time
from divergence.store.db import AsyncStore

router = APIRouter()
DEFAULT_DASHBOARD = "underlying"
EMPTY_WINDOW_NS = 3_600 * NS_PER_SECOND


def load_page_template(path: Path | None = None) -> string.Template:
    path = path or content_dir("dashboards") / "templates" / "dashboard.html"
    return string.Template(path.read_text(encoding="utf-8"))


def find_dashboard(dashboards: dict[str, Dashboard], name: str) -> Dashboard:
    if name not in dashboards:
        known = ", ".join(sorted(dashboards))
        raise NotFoundError(f"unknown dashboard {name!r} (known: {known})")
    return dashboards[name]


@router.get("/", include_in_schema=False)
async def index(dashboards: DashboardsDep) -> RedirectResponse:
    dash = find_dashboard(dashboards, DEFAULT_DASHBOARD)
    target = f"/dashboards/{dash.name}?underlying={quote(dash.spec.default_underlying)}"
    return RedirectResponse(target, status_code=307)


@router.get("/dashboards/{name}", response_class=HTMLResponse)
async def dashboard_page(
    request: Request,
    name: str,
    dashboards: DashboardsDep,
    catalog: CatalogDep,
    underlying: Annotated[str | None, Query(description="e.g. AAPL")] = None,
) -> HTMLResponse:
    dash = find_dashboard(dashboards, name)
    chosen = check_underlying(catalog, underlying or dash.spec.default_underlying)
    options = "".join(
        f'<option value="{html.escape(u)}"{" selected" if u == chosen else ""}>'
        f"{html.escape(u)}</option>"
        for u in sorted(catalog.underlyings)
    )
    template: string.Template = request.app.state.page_template
    page = template.substitute(
        title=html.escape(dash.spec.title_for(chosen)),
        description=html.escape(dash.spec.description),
        dashboard=html.escape(dash.name),
        underlying=html.escape(chosen),
        options=options,
        version=html.escape(__version__),
    )
    return HTMLResponse(page)


@router.get("/api/charts/{name}", response_class=JsonResponse)
async def charts(
    name: str,
    dashboards: DashboardsDep,
    catalog: CatalogDep,
    store: StoreDep,
    underlying: Annotated[str, Query(description="e.g. AAPL")],
    start: Annotated[str | None, Query(description="ISO 8601 or epoch ns")] = None,
    end: Annotated[str | None, Query(description="ISO 8601 or epoch ns, exclusive")] = None,
    width: Annotated[int | None, Query(ge=10, le=10_000, description="points per trace")] = None,
) -> JsonResponse:
    dash = find_dashboard(dashboards, name)
    check_underlying(catalog, underlying)
    start_ns, end_ns = await _window(store, dash, underlying, start, end)
    bucket_ns = bucket_ns_for(start_ns, end_ns, width or dash.spec.width)
    given = {"underlying": underlying, "start": start_ns, "end": end_ns, "bucket_ns": bucket_ns}
    sessions = await _run(store, dash, dash.spec.sessions_query, given)
    status = await _run(store, dash, dash.spec.status_query, given)
    shapes = render_session_shapes(sessions, dash.spec.shading.colours())
    colours = colours_for(t.venue for t in catalog.tokens_for(underlying))
    panels = []
    for panel in dash.spec.panel:
        series = await _run(store, dash, panel.query, given)
        figure = render_figure(panel, series, shapes=shapes, colours=colours)
        panels.append({"id": panel.id, "live": panel.live, "figure": figure})
    payload: dict[str, Any] = {
        "dashboard": dash.name,
        "underlying": underlying,
        "title": dash.spec.title_for(underlying),
        "window": {"start_ns": str(start_ns), "end_ns": str(end_ns), "bucket_ns": bucket_ns},
        "status": latest_status(status),
        "colours": colours,
        "shading": dash.spec.shading.colours(),
        "panels": panels,
    }
    return JsonResponse(payload)


async def _run(
    store: AsyncStore, dash: Dashboard, query: str, given: dict[str, Any]
) -> pl.DataFrame:
    """Run one spec query with exactly the parameters it uses."""
    return await store.named(query, {k: given[k] for k in dash.params[query]})


async def _window(
    store: AsyncStore, dash: Dashboard, underlying: str, start: str | None, end: str | None
) -> tuple[int, int]:
    """The requested window, defaulting to the underlying's whole basis history."""
    start_ns = parse_optional_time(start, name="start")
    end_ns = parse_optional_time(end, name="end")
    if start_ns is None or end_ns is None:
        extent = await _run(store, dash, dash.spec.extent_query, {"underlying": underlying})
        first, last = extent.row(0) if extent.height else (None, None)
        fallback_end = now_ns() if last is None else int(last) + 1
        end_ns = fallback_end if end_ns is None else end_ns
        fallback_start = end_ns - EMPTY_WINDOW_NS if first is None else int(first)
        start_ns = fallback_start if start_ns is None else start_ns
    if end_ns <= start_ns:
        end_ns = start_ns + 1
    return start_ns, end_ns


@router.get("/static/plotly.min.js", include_in_schema=False)
async def plotly_js(request: Request) -> Response:
    """plotly.js from the installed plotly package, gzipped once when the browser allows."""
    headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(
            plotly_js_bytes(gzipped=True), media_type="text/javascript", headers=headers
        )
    return Response(plotly_js_bytes(gzipped=False), media_type="text/javascript", headers=headers)


@functools.cache
def plotly_js_bytes(*, gzipped: bool) -> bytes:
    from plotly.offline import get_plotlyjs

    raw: bytes = get_plotlyjs().encode("utf-8")
    return gzip.compress(raw, compresslevel=6, mtime=0) if gzipped else raw


@router.websocket("/ws/live")
async def live(websocket: WebSocket, hub: HubDep, catalog: CatalogDep, underlying: str) -> None:
    """Push basis deltas and status for ``underlying``; errors close with 4000 + status."""
    await websocket.accept()
    if underlying not in catalog.underlyings:
        message = f"unknown underlying {underlying!r}"
        await websocket.send_json({"type": "error", "error": {"status": 404, "message": message}})
        await websocket.close(code=4404)
        return
    await run_client(websocket, hub, underlying)
