"""Pure figure building for every chart kind but plain lines (service/charts.py draws those):
stacked areas, grouped bars, heatmaps, tables, LULD-style bands and time-axis markers.

Inputs are the query frames the spec's queries return (columns per kind in
docs/dashboards.md); outputs are Plotly JSON (``data`` and ``layout``), or, for tables,
``{"columns": [...], "rows": [[...]]}`` that the page draws as an HTML table. Epoch-ns
columns (``*_ns``) go out as strings: JavaScript numbers cannot hold them exactly.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import polars as pl

from divergence.clock import NS_PER_MS
from divergence.dashboards import Panel

Json = dict[str, Any]
MARKER_COLOURS = {
    "alert": "#d62728",
    "feed_gap": "#9467bd",
    "depeg": "#ff7f0e",
    "multiplier_change": "#2ca02c",
    "halt": "#8c564b",
    "luld": "#e377c2",
}
MARKER_FALLBACK = "#7f7f7f"
SPAN_STRIP = (0.95, 1.0)
"""Where marker spans sit, in paper coordinates: a strip along the top of the plot."""
BAND_FILL = "rgba(31, 119, 180, 0.12)"
DIVERGING = [[0.0, "#2166ac"], [0.5, "#f7f7f7"], [1.0, "#b2182b"]]


def base_layout(panel: Panel) -> Json:
    """The layout keys every plotted kind shares."""
    return {
        "title": {"text": panel.title, "x": 0.01, "font": {"size": 15}},
        "height": panel.height,
        "margin": {"l": 64, "r": 16, "t": 40, "b": 36},
        "legend": {"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
        "uirevision": panel.id,
    }


# -- bars ---------------------------------------------------------------------------------
def render_bars(panel: Panel, frame: pl.DataFrame, colours: Mapping[str, str]) -> Json:
    """Grouped bars from ``series, category, value``; categories in the rows' order."""
    categories = frame["category"].unique(maintain_order=True).to_list() if frame.height else []
    traces = []
    for name in frame["series"].unique(maintain_order=True).to_list() if frame.height else []:
        part = frame.filter(pl.col("series") == name)
        by_category = dict(zip(part["category"].to_list(), part["value"].to_list(), strict=True))
        trace: Json = {
            "type": "bar",
            "name": str(name),
            "x": [str(c) for c in categories],
            "y": [by_category.get(c) for c in categories],
        }
        if str(name) in colours:
            trace["marker"] = {"color": colours[str(name)]}
        traces.append(trace)
    layout = base_layout(panel) | {
        "barmode": "group",
        "xaxis": {"type": "category"},
        "yaxis": {"title": {"text": panel.y_label()}, "zeroline": panel.zero_line},
    }
    return {"data": traces, "layout": layout}


# -- heatmap ------------------------------------------------------------------------------
def render_heatmap(panel: Panel, frame: pl.DataFrame) -> Json:
    """A heatmap from ``row, column, value, text``: rows and columns sorted, missing cells
    empty, a diverging colour scale centred on 0 (symmetric to ``zmax`` when given)."""
    rows = sorted({str(r) for r in frame["row"].to_list()}) if frame.height else []
    columns = sorted({str(c) for c in frame["column"].to_list()}) if frame.height else []
    z: list[list[float | None]] = [[None] * len(columns) for _ in rows]
    text: list[list[str]] = [[""] * len(columns) for _ in rows]
    has_text = "text" in frame.columns
    for record in frame.iter_rows(named=True):
        i, j = rows.index(str(record["row"])), columns.index(str(record["column"]))
        value = record["value"]
        z[i][j] = None if value is None or _nan(value) else float(value)
        label = record["text"] if has_text else None
        text[i][j] = str(label) if label is not None else _fmt(z[i][j])
    trace: Json = {
        "type": "heatmap",
        "x": columns,
        "y": rows,
        "z": z,
        "text": text,
        "texttemplate": "%{text}",
        "hovertemplate": "%{y} @ %{x}: %{z:.2f}<extra>%{text}</extra>",
        "colorscale": DIVERGING,
        "zmid": 0,
        "colorbar": {"title": {"text": panel.y_unit or ""}},
        "xgap": 2,
        "ygap": 2,
    }
    if panel.zmax is not None:
        trace |= {"zmin": -panel.zmax, "zmax": panel.zmax}
    layout = base_layout(panel) | {
        "xaxis": {"type": "category", "side": "top", "title": {"text": ""}},
        "yaxis": {"type": "category", "autorange": "reversed"},
        "margin": {"l": 80, "r": 16, "t": 64, "b": 16},
    }
    return {"data": [trace], "layout": layout}


def heatmap_cells(frame: pl.DataFrame) -> list[Json]:
    """The cells of a heatmap frame as ``{row, column, value, text}`` (live deltas)."""
    has_text = "text" in frame.columns
    cells = []
    for record in frame.iter_rows(named=True):
        value = record["value"]
        number = None if value is None or _nan(value) else float(value)
        label = record["text"] if has_text else None
        cells.append(
            {
                "row": str(record["row"]),
                "column": str(record["column"]),
                "value": number,
                "text": str(label) if label is not None else _fmt(number),
            }
        )
    return cells


# -- tables -------------------------------------------------------------------------------
def json_value(name: str, value: Any) -> Any:
    """One table cell as JSON: epoch ns and times as text, NaN as null."""
    if value is None:
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and _nan(value):
        return None
    if isinstance(value, int) and not isinstance(value, bool) and name.endswith("_ns"):
        return str(value)
    if isinstance(value, list | dict | int | float | str | bool):
        return value
    return str(value)


def render_table(panel: Panel, frame: pl.DataFrame) -> Json:
    """``{"columns", "rows", "links", "key", "actions"}`` for the page's HTML table."""
    columns = frame.columns
    rows = [[json_value(c, v) for c, v in zip(columns, row, strict=True)] for row in frame.rows()]
    return {
        "columns": columns,
        "rows": rows,
        "links": panel.all_links(),
        "key": list(panel.key),
        "actions": list(panel.actions),
    }


def table_frame(rows: list[Json]) -> pl.DataFrame:
    """Rows (dicts) built in Python, e.g. from the feeds report, as a frame."""
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()


# -- bands and markers (layers on lines panels) --------------------------------------------
def render_band(band: pl.DataFrame, end_ns: int) -> list[Json]:
    """Step-shaped filled bands from ``series, ts_ns, lower, upper``: each row holds until
    the next row of its series (the last until ``end_ns``). Two traces per series: the
    lower edge (no fill) and the upper edge filled down to it."""
    traces: list[Json] = []
    for name in sorted({str(s) for s in band["series"].to_list()}) if band.height else []:
        part = band.filter(pl.col("series") == name).sort("ts_ns")
        x = [t // NS_PER_MS for t in part["ts_ns"].to_list()]
        x.append(max(end_ns // NS_PER_MS, x[-1]))
        lower, upper = part["lower"].to_list(), part["upper"].to_list()
        lower.append(lower[-1])
        upper.append(upper[-1])
        edge = {"type": "scatter", "mode": "lines", "legendgroup": f"band:{name}", "x": x}
        traces.append(
            edge
            | {
                "name": f"{name} lower",
                "y": lower,
                "line": {"shape": "hv", "width": 0.8, "color": "rgba(31,119,180,0.5)"},
                "showlegend": False,
            }
        )
        traces.append(
            edge
            | {
                "name": f"{name} band",
                "y": upper,
                "line": {"shape": "hv", "width": 0.8, "color": "rgba(31,119,180,0.5)"},
                "fill": "tonexty",
                "fillcolor": BAND_FILL,
            }
        )
    return traces


def render_markers(markers: pl.DataFrame) -> tuple[list[Json], list[Json]]:
    """Shapes and one hover trace from ``ts_ns, end_ns, kind, label``: a vertical line at
    ``ts_ns``, or a span to ``end_ns`` drawn as a strip along the top of the plot (so
    overlapping alerts and gaps never tint the data itself); colour by kind."""
    shapes: list[Json] = []
    xs: list[int] = []
    labels: list[str] = []
    colours: list[str] = []
    for row in markers.sort("ts_ns").iter_rows(named=True) if markers.height else []:
        colour = MARKER_COLOURS.get(str(row["kind"]), MARKER_FALLBACK)
        x0 = row["ts_ns"] // NS_PER_MS
        end = row.get("end_ns")
        base = {"xref": "x", "yref": "paper", "y0": 0, "y1": 1, "name": f"marker:{row['kind']}"}
        if end is not None and end > row["ts_ns"]:
            shapes.append(
                base
                | {
                    "type": "rect",
                    "x0": x0,
                    "x1": end // NS_PER_MS,
                    "y0": SPAN_STRIP[0],
                    "y1": SPAN_STRIP[1],
                    "fillcolor": colour,
                    "opacity": 0.45,
                    "line": {"width": 0},
                    "layer": "below",
                }
            )
        else:
            shapes.append(
                base
                | {
                    "type": "line",
                    "x0": x0,
                    "x1": x0,
                    "line": {"color": colour, "width": 1.2, "dash": "dot"},
                }
            )
        xs.append(x0)
        labels.append(f"{row['kind']}: {row['label']}")
        colours.append(colour)
    if not xs:
        return shapes, []
    hover = {
        "type": "scatter",
        "mode": "markers",
        "name": "events",
        "x": xs,
        "y": [0] * len(xs),
        "yaxis": "y2",
        "text": labels,
        "hovertemplate": "%{text}<extra></extra>",
        "marker": {"symbol": "triangle-up", "size": 9, "color": colours},
    }
    return shapes, [hover]


def marker_axis() -> Json:
    """The hidden second y axis the marker triangles sit on (at the bottom)."""
    return {"overlaying": "y", "range": [0, 1], "visible": False, "fixedrange": True}


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"
