"""Dashboard pages, their chart data and CSV downloads, plotly.js from our own server, and
the live sockets.

The page (``dashboards/templates/dashboard.html`` + ``dashboards/static/dashboard.js``)
fetches ``/api/charts/<name>`` with its URL's parameters (underlying, venue, start, end)
and its plot width in pixels; the server picks ``$bucket_ns`` so that every trace has at
most about two points per pixel (min and max per bucket). Live deltas arrive on
``/ws/live`` (basis points of one underlying) and ``/ws/panels/<name>`` (changed table
rows and heatmap cells). plotly.js comes from the plotly package: nothing is fetched from
a CDN.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, WebSocket
from starlette.responses import HTMLResponse, RedirectResponse, Response

from divergence import __version__
from divergence.catalog import Catalog
from divergence.clock import NS_PER_SECOND, now_ns
from divergence.dashboards import Dashboard, Panel
from divergence.errors import BadRequestError, NotFoundError
from divergence.service.api_models import PAGE_ERRORS, READ_ERRORS
from divergence.service.chart_reader import ChartReader, get_chart_reader
from divergence.service.charts import (
    bucket_ns_for,
    colours_for,
    latest_status,
    render_session_shapes,
)
from divergence.service.dashboard_page import load_page_template, render_page
from divergence.service.deps import (
    CatalogDep,
    DashboardsDep,
    HubDep,
    check_underlying,
)
from divergence.service.live import run_client
from divergence.service.live_panels import run_panels_client
from divergence.service.panels import View, panel_payload, panel_rows, run_query
from divergence.service.routes_api import JsonResponse, parse_optional_time

__all__ = ["load_page_template", "router"]

router = APIRouter()
ReaderDep = Annotated[ChartReader, Depends(get_chart_reader)]
DEFAULT_DASHBOARDS = ("overview", "underlying")
EMPTY_WINDOW_NS = 3_600 * NS_PER_SECOND
DEFAULT_PLOT_WIDTH = 1_200

Underlying = Annotated[str | None, Query(description="e.g. AAPL (underlying dashboards)")]
Venue = Annotated[str | None, Query(description="only this venue (default: all)")]
Start = Annotated[str | None, Query(description="ISO 8601 or epoch ns")]
End = Annotated[str | None, Query(description="ISO 8601 or epoch ns, exclusive")]
Width = Annotated[
    int | None, Query(ge=10, le=10_000, description="plot width in pixels: <= 2 points each")
]


def find_dashboard(dashboards: dict[str, Dashboard], name: str) -> Dashboard:
    if name not in dashboards:
        known = ", ".join(sorted(dashboards))
        raise NotFoundError(f"unknown dashboard {name!r} (known: {known})")
    return dashboards[name]


def find_panel(dash: Dashboard, panel_id: str) -> Panel:
    for panel in dash.spec.panel:
        if panel.id == panel_id:
            return panel
    known = ", ".join(p.id for p in dash.spec.panel)
    raise NotFoundError(f"dashboard {dash.name!r} has no panel {panel_id!r} (known: {known})")


def choose_underlying(dash: Dashboard, catalog: Catalog, underlying: str | None) -> str | None:
    if dash.spec.scope != "underlying":
        return None
    return check_underlying(catalog, underlying or dash.spec.default_underlying or "")


def check_venue(catalog: Catalog, venue: str | None) -> str | None:
    if venue is None or not venue.strip():
        return None
    if venue not in catalog.venues:
        known = ", ".join(sorted(catalog.venues))
        raise NotFoundError(f"unknown venue {venue!r} (known: {known})")
    return venue


def venues_of(catalog: Catalog, underlying: str | None) -> list[str]:
    if underlying is None:
        return sorted(catalog.venues)
    return sorted({t.venue for t in catalog.tokens_for(underlying)})


@router.get("/", include_in_schema=False)
async def index(dashboards: DashboardsDep) -> RedirectResponse:
    name = next((n for n in DEFAULT_DASHBOARDS if n in dashboards), next(iter(dashboards)))
    dash = dashboards[name]
    query = f"?underlying={dash.spec.default_underlying}" if dash.spec.default_underlying else ""
    return RedirectResponse(f"/dashboards/{name}{query}", status_code=307)


@router.get(
    "/dashboards/{name}",
    response_class=HTMLResponse,
    tags=["dashboards"],
    summary="A dashboard page",
    responses=PAGE_ERRORS,
)
async def dashboard_page(
    request: Request,
    name: str,
    dashboards: DashboardsDep,
    catalog: CatalogDep,
    underlying: Underlying = None,
    venue: Venue = None,
) -> HTMLResponse:
    dash = find_dashboard(dashboards, name)
    chosen = choose_underlying(dash, catalog, underlying)
    settings = request.app.state.settings
    page = render_page(
        request.app.state.page_template,
        dash=dash,
        dashboards=dashboards,
        underlying=chosen,
        underlyings=catalog.underlyings,
        venue=check_venue(catalog, venue),
        venues=venues_of(catalog, chosen),
        dev_mode=bool(getattr(getattr(settings, "service", None), "dev_mode", False)),
        version=__version__,
    )
    return HTMLResponse(page)


async def resolve_view(
    reader: ChartReader,
    dash: Dashboard,
    *,
    underlying: str | None,
    venue: str | None,
    start: str | None,
    end: str | None,
    width: int | None,
) -> View:
    """The view the parameters name; a missing start or end comes from the extent query."""
    catalog = reader.runtime.catalog
    chosen = choose_underlying(dash, catalog, underlying)
    venue_id = check_venue(catalog, venue)
    start_ns = parse_optional_time(start, name="start")
    end_ns = parse_optional_time(end, name="end")
    if start_ns is None or end_ns is None:
        first = last = None
        if dash.spec.extent_query is not None:
            probe = View(dash, chosen, venue_id, 0, 1, 1)
            extent = await run_query(reader, probe, dash.spec.extent_query)
            first, last = extent.row(0) if extent.height else (None, None)
        end_ns = (now_ns() if last is None else int(last) + 1) if end_ns is None else end_ns
        if start_ns is None:
            start_ns = end_ns - EMPTY_WINDOW_NS if first is None else int(first)
    if end_ns <= start_ns:
        raise BadRequestError(f"end ({end_ns}) must be after start ({start_ns})")
    bucket = bucket_ns_for(start_ns, end_ns, width or DEFAULT_PLOT_WIDTH)
    return View(dash, chosen, venue_id, start_ns, end_ns, bucket)


@router.get(
    "/api/charts/{name}",
    response_class=JsonResponse,
    tags=["dashboards"],
    summary="Every panel of a dashboard as Plotly figure JSON, downsampled to the plot width",
    responses=READ_ERRORS,
)
async def charts(
    name: str,
    dashboards: DashboardsDep,
    reader: ReaderDep,
    underlying: Underlying = None,
    venue: Venue = None,
    start: Start = None,
    end: End = None,
    width: Width = None,
) -> JsonResponse:
    """Every panel of a dashboard for one view: Plotly figures (downsampled to ``width``
    pixels) and tables."""
    dash = find_dashboard(dashboards, name)
    view = await resolve_view(
        reader, dash, underlying=underlying, venue=venue, start=start, end=end, width=width
    )
    spec = dash.spec
    shapes: list[dict[str, Any]] = []
    status = None
    if view.underlying is not None and spec.sessions_query and spec.status_query:
        sessions, latest = await asyncio.gather(
            run_query(reader, view, spec.sessions_query),
            run_query(reader, view, spec.status_query),
        )
        shapes = render_session_shapes(sessions, spec.shading.colours())
        status = latest_status(latest)
    colours = colours_for(venues_of(reader.runtime.catalog, view.underlying))
    # the panels' queries run concurrently on the chart reader's threads
    panels = await asyncio.gather(
        *(
            panel_payload(reader, view, panel, shapes=shapes, colours=colours)
            for panel in spec.panel
        )
    )
    payload: dict[str, Any] = {
        "dashboard": dash.name,
        "scope": spec.scope,
        "underlying": view.underlying,
        "venue": view.venue,
        "title": spec.title_for(view.underlying),
        "window": {
            "start_ns": str(view.start_ns),
            "end_ns": str(view.end_ns),
            "bucket_ns": view.bucket_ns,
        },
        "status": status,
        "colours": colours,
        "shading": spec.shading.colours(),
        "panels": panels,
    }
    return JsonResponse(payload)


@router.get(
    "/api/charts/{name}/{panel_id}.csv",
    tags=["dashboards"],
    summary="One panel's rows as CSV (the same parameters as the chart)",
    response_class=Response,
    responses={
        200: {"description": "the panel's rows", "content": {"text/csv": {}}},
        **PAGE_ERRORS,
    },
)
async def chart_csv(
    name: str,
    panel_id: str,
    dashboards: DashboardsDep,
    reader: ReaderDep,
    underlying: Underlying = None,
    venue: Venue = None,
    start: Start = None,
    end: End = None,
    width: Width = None,
) -> Response:
    """One panel's rows for the same parameters as ``/api/charts/<name>``, as CSV."""
    dash = find_dashboard(dashboards, name)
    panel = find_panel(dash, panel_id)
    view = await resolve_view(
        reader, dash, underlying=underlying, venue=venue, start=start, end=end, width=width
    )
    rows = await panel_rows(reader, view, panel)
    label = "-".join(p for p in (dash.name, panel.id, view.underlying) if p)
    return Response(
        rows.write_csv(),
        media_type="text/csv",
        headers={"content-disposition": f'attachment; filename="{label}.csv"'},
    )


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


@router.websocket("/ws/panels/{name}")
async def live_panels(
    websocket: WebSocket,
    name: str,
    dashboards: DashboardsDep,
    reader: ReaderDep,
    underlying: str | None = None,
    venue: str | None = None,
    start: str | None = None,
) -> None:
    """Push changed rows of the dashboard's live tables and heatmap cells (``refresh_on``)."""
    await websocket.accept()
    try:
        dash = find_dashboard(dashboards, name)
        view = await resolve_view(
            reader, dash, underlying=underlying, venue=venue, start=start, end=None, width=None
        )
    except NotFoundError as exc:
        error = {"status": exc.http_status, "message": exc.message}
        await websocket.send_json({"type": "error", "error": error})
        await websocket.close(code=4404)
        return
    await run_panels_client(websocket, reader, view)
