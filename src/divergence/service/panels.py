"""A dashboard view (its parameters) and its panels' rows and figures: the I/O edge of
the dashboards, shared by ``/api/charts`` (figures), the CSV downloads (rows) and the
live panel socket (row deltas).

A panel's *rows* are its query's result for the view (or, for ``source = "feeds"`` and
``"stale_feeds"``, the runtime's feeds report with the event history); its *payload* is
what the page draws: a Plotly figure, or the table's columns and rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from divergence.clock import NS_PER_SECOND
from divergence.dashboards import Dashboard, Panel
from divergence.service.chart_reader import ChartReader
from divergence.service.charts import render_figure
from divergence.service.charts_feeds import event_counts, feed_rows
from divergence.service.charts_kinds import render_bars, render_heatmap, render_table

Json = dict[str, Any]
ROLLUP_TWINS = {
    query: f"{query}_1s" for query in ("chart_price", "chart_basis", "chart_underlying_exec_basis")
}
"""Chart queries with a twin that reads the one-second rollup ``basis_1s`` where a bucket
holds whole seconds: the same rows, faster (sql/queries/*_1s.sql, docs/dashboards.md)."""


@dataclass(frozen=True)
class View:
    """What the URL chose: the dashboard, underlying (underlying scope), venue, window."""

    dashboard: Dashboard
    underlying: str | None
    venue: str | None
    start_ns: int
    end_ns: int
    bucket_ns: int

    def given(self) -> dict[str, Any]:
        return {
            "underlying": self.underlying,
            "venue": self.venue,
            "start": self.start_ns,
            "end": self.end_ns,
            "bucket_ns": self.bucket_ns,
        }


async def run_query(reader: ChartReader, view: View, query: str) -> pl.DataFrame:
    """Run one spec query with exactly the parameters it uses; for buckets of a second
    or more, through its ``basis_1s`` twin when it has one (same parameters, same rows)."""
    given = view.given()
    params = {k: given[k] for k in view.dashboard.params[query]}
    if view.bucket_ns >= NS_PER_SECOND:
        query = ROLLUP_TWINS.get(query, query)
    return await reader.named(query, params)


async def panel_rows(reader: ChartReader, view: View, panel: Panel) -> pl.DataFrame:
    """The panel's main rows for ``view`` (what its CSV download holds)."""
    if panel.source == "sql":
        assert panel.query is not None  # checked at load
        return await run_query(reader, view, panel.query)
    counts = event_counts(await reader.named("api_feed_event_counts", {}))
    report = reader.runtime.feeds_report()
    if view.venue is not None:
        report = [f for f in report if f["venue"] == view.venue]
    return feed_rows(report, counts, only_unhealthy=panel.source == "stale_feeds")


async def panel_payload(
    reader: ChartReader,
    view: View,
    panel: Panel,
    *,
    shapes: list[Json],
    colours: Mapping[str, str],
) -> Json:
    """What the page draws for one panel (``figure`` or ``table``), with its live keys."""
    rows = await panel_rows(reader, view, panel)
    out: Json = {
        "id": panel.id,
        "chart": panel.chart,
        "title": panel.title,
        "description": panel.description,
        "live": panel.live,
        "refresh_on": list(panel.refresh_on),
        "rows": rows.height,
    }
    if panel.chart == "table":
        return out | {"table": render_table(panel, rows)}
    if panel.chart == "heatmap":
        return out | {"figure": render_heatmap(panel, rows)}
    if panel.chart == "bars":
        return out | {"figure": render_bars(panel, rows, colours)}
    band, markers = await asyncio.gather(
        _optional_query(reader, view, panel.band_query),
        _optional_query(reader, view, panel.markers_query),
    )
    figure = render_figure(
        panel,
        rows,
        shapes=shapes if view.dashboard.spec.scope == "underlying" else [],
        colours=colours,
        band=band,
        markers=markers,
        end_ns=view.end_ns,
    )
    return out | {"figure": figure}


async def _optional_query(
    reader: ChartReader, view: View, query: str | None
) -> pl.DataFrame | None:
    return await run_query(reader, view, query) if query else None
