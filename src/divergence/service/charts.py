"""Pure chart building: query frames -> Plotly figure JSON, and live deltas from basis frames.

Series frames everywhere have the columns ``series`` (a venue id or ``reference``),
``ts_ns`` (epoch ns, Int64) and ``value`` (Float64): the chart queries in
``sql/queries/chart_*.sql`` return them, and :func:`compute_live_series` builds the
same shape from the ``basis`` rows the live job publishes, so the initial chart and
the live deltas agree. Plotly receives times as epoch milliseconds on a date axis.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from divergence.clock import NS_PER_MS
from divergence.dashboards import LiveSeries, Panel
from divergence.service.charts_kinds import base_layout, marker_axis, render_band, render_markers

REFERENCE = "reference"
REFERENCE_COLOUR = "#222222"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
BBO_COLOURS = {"bbo_bid": "#4d7f3a", "bbo_ask": "#a34a28"}
"""The consolidated token BBO's two edges (series ``bbo_bid``, ``bbo_ask`` of chart_price)."""
SERIES_SCHEMA = {"series": pl.String, "ts_ns": pl.Int64, "value": pl.Float64}
LIVE_KINDS: tuple[LiveSeries, ...] = ("price_per_share", "basis_bps", "exec_basis_bps")

Json = dict[str, Any]


def bucket_ns_for(start_ns: int, end_ns: int, width: int) -> int:
    """Bucket width so that ``[start_ns, end_ns)`` splits into at most ``width`` buckets."""
    span = max(end_ns - start_ns, 1)
    return max(1, -(-span // max(width, 1)))


def colours_for(venues: Iterable[str]) -> dict[str, str]:
    """A stable colour per venue (sorted ids over the palette), and the reference's."""
    colours = {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(sorted(set(venues)))}
    colours[REFERENCE] = REFERENCE_COLOUR
    colours |= BBO_COLOURS
    return colours


def series_colours(names: Iterable[str], colours: Mapping[str, str]) -> dict[str, str]:
    """Each series' colour: its own (a venue, the reference) when it has one, else the
    next palette colour in order, so a panel's other series (``by depth``, ``by volume``)
    never share one."""
    chosen = list(names)
    spare = [c for c in PALETTE if c not in {colours[n] for n in chosen if n in colours}]
    spare = spare or list(PALETTE)
    others = [n for n in chosen if n not in colours]
    return {n: colours.get(n) or spare[others.index(n) % len(spare)] for n in chosen}


def series_order(names: Iterable[str]) -> list[str]:
    """The reference first, then venues in alphabetical order."""
    unique = set(names)
    return ([REFERENCE] if REFERENCE in unique else []) + sorted(unique - {REFERENCE})


def render_series_xy(series: pl.DataFrame) -> dict[str, Json]:
    """``{series: {"x": [epoch ms...], "y": [...]}}`` in time order, reference first."""
    out: dict[str, Json] = {}
    ordered = series.sort("series", "ts_ns", maintain_order=True)
    for name in series_order(ordered["series"].unique().to_list()):
        part = ordered.filter(pl.col("series") == name)
        out[name] = {
            "x": (part["ts_ns"] // NS_PER_MS).to_list(),
            "y": part["value"].to_list(),
        }
    return out


def render_trace(name: str, xy: Json, colour: str, *, stacked: bool = False) -> Json:
    """One line trace (the reference drawn thicker), or one layer of a stacked area."""
    trace: Json = {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "legendgroup": name,
        "x": xy["x"],
        "y": xy["y"],
        "line": {"color": colour, "width": 2.2 if name == REFERENCE else 1.4},
    }
    if stacked:
        trace |= {"stackgroup": "one", "line": {"color": colour, "width": 0.6}}
    return trace


def render_session_shapes(sessions: pl.DataFrame, shading: Mapping[str, str]) -> list[Json]:
    """Vertical bands for every non-regular session interval (``session, start_ns, end_ns``)."""
    shapes: list[Json] = []
    for row in sessions.iter_rows(named=True):
        colour = shading.get(row["session"])
        if colour is None or row["end_ns"] <= row["start_ns"]:
            continue
        shapes.append(
            {
                "type": "rect",
                "name": row["session"],
                "xref": "x",
                "yref": "paper",
                "x0": row["start_ns"] // NS_PER_MS,
                "x1": row["end_ns"] // NS_PER_MS,
                "y0": 0,
                "y1": 1,
                "fillcolor": colour,
                "line": {"width": 0},
                "layer": "below",
            }
        )
    return shapes


def render_figure(
    panel: Panel,
    series: pl.DataFrame,
    *,
    shapes: list[Json],
    colours: Mapping[str, str],
    band: pl.DataFrame | None = None,
    markers: pl.DataFrame | None = None,
    end_ns: int = 0,
) -> Json:
    """A Plotly figure (``data`` and ``layout``) for one lines or area panel, with its
    optional band (drawn first, under the lines) and time-axis markers."""
    stacked = panel.chart == "area"
    traces = render_band(band, end_ns) if band is not None else []
    xys = render_series_xy(series)
    palette = series_colours(xys, colours)
    traces += [render_trace(name, xy, palette[name], stacked=stacked) for name, xy in xys.items()]
    marker_shapes, hover = render_markers(markers) if markers is not None else ([], [])
    layout = base_layout(panel) | {
        "xaxis": {"type": "date", "title": {"text": "time (UTC)"}},
        "yaxis": {"title": {"text": panel.y_label()}, "zeroline": panel.zero_line},
        "hovermode": "x unified",
        "shapes": shapes + marker_shapes,
    }
    if hover:
        layout["yaxis2"] = marker_axis()
    return {"data": traces + hover, "layout": layout}


# -- live deltas ------------------------------------------------------------------------
def with_ts_ns(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``ts_ns`` (epoch ns, Int64) from ``ts_event``, a datetime or an integer column."""
    dtype = frame.schema["ts_event"]
    if isinstance(dtype, pl.Datetime):
        return frame.with_columns(ts_ns=pl.col("ts_event").dt.epoch("ns"))
    return frame.with_columns(ts_ns=pl.col("ts_event").cast(pl.Int64))


def compute_live_series(frame: pl.DataFrame, live: LiveSeries) -> pl.DataFrame:
    """Series rows from basis rows (needs ``ts_ns``), the same values the chart queries give."""
    if live in ("basis_bps", "exec_basis_bps"):
        parts = [
            frame.filter(pl.col(live).is_not_null()).select(
                series=pl.col("venue"), ts_ns="ts_ns", value=pl.col(live)
            )
        ]
    else:
        parts = [
            frame.filter(pl.col("mid_usd").is_not_null()).select(
                series=pl.col("venue"),
                ts_ns="ts_ns",
                value=pl.col("mid_usd") / pl.col("multiplier"),
            ),
            frame.filter(pl.col("ref_mid").is_not_null())
            .select(series=pl.lit(REFERENCE), ts_ns="ts_ns", value=pl.col("ref_mid"))
            .unique(["ts_ns"], keep="last", maintain_order=True),
        ]
    return pl.concat([p.cast(SERIES_SCHEMA) for p in parts]).sort("series", "ts_ns")  # type: ignore[arg-type]


def compute_thinned(series: pl.DataFrame, *, max_points: int) -> pl.DataFrame:
    """At most about ``max_points`` rows per series: min and max per time bucket, plus the last.

    Series already within the bound are returned whole.
    """
    counted = series.with_columns(n=pl.len().over("series"))
    small = counted.filter(pl.col("n") <= max_points).drop("n")
    large = counted.filter(pl.col("n") > max_points).drop("n")
    if large.is_empty():
        return small.sort("series", "ts_ns")
    buckets = max(1, (max_points - 1) // 2)
    lo, hi = pl.col("ts_ns").min().over("series"), pl.col("ts_ns").max().over("series")
    position = (pl.col("ts_ns") - lo).cast(pl.Float64) / (hi - lo + 1).cast(pl.Float64)
    keyed = large.with_columns(bucket=(position * buckets).floor().cast(pl.Int64))
    extremes = keyed.group_by("series", "bucket").agg(
        ts_lo=pl.col("ts_ns").get(pl.col("value").arg_min()),
        v_lo=pl.col("value").min(),
        ts_hi=pl.col("ts_ns").get(pl.col("value").arg_max()),
        v_hi=pl.col("value").max(),
    )
    kept = pl.concat(
        [
            extremes.select("series", ts_ns="ts_lo", value="v_lo"),
            extremes.select("series", ts_ns="ts_hi", value="v_hi"),
            large.sort("ts_ns").group_by("series").last().select(SERIES_SCHEMA.keys()),
        ]
    )
    return pl.concat([small, kept.unique()]).sort("series", "ts_ns", "value")


def latest_status(frame: pl.DataFrame) -> Json | None:
    """Session and reference state of the latest row (needs ``ts_ns``), for the badge."""
    if frame.is_empty():
        return None
    row = frame.sort("ts_ns").row(-1, named=True)
    return {
        "session": row["session"],
        "ref_state": row["ref_state"],
        "ts_ms": row["ts_ns"] // NS_PER_MS,
    }


def render_delta(underlying: str, frame: pl.DataFrame, *, max_points: int) -> Json:
    """The live message for one underlying's new basis rows (needs ``ts_ns``)."""
    series: dict[str, Json] = {}
    for live in LIVE_KINDS:
        thinned = compute_thinned(compute_live_series(frame, live), max_points=max_points)
        series[live] = render_series_xy(thinned)
    return {
        "type": "delta",
        "underlying": underlying,
        "series": series,
        "status": latest_status(frame),
    }
