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

REFERENCE = "reference"
REFERENCE_COLOUR = "#222222"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
SERIES_SCHEMA = {"series": pl.String, "ts_ns": pl.Int64, "value": pl.Float64}
LIVE_KINDS: tuple[LiveSeries, ...] = ("price_per_share", "basis_bps")

Json = dict[str, Any]


def bucket_ns_for(start_ns: int, end_ns: int, width: int) -> int:
    """Bucket width so that ``[start_ns, end_ns)`` splits into at most ``width`` buckets."""
    span = max(end_ns - start_ns, 1)
    return max(1, -(-span // max(width, 1)))


def colours_for(venues: Iterable[str]) -> dict[str, str]:
    """A stable colour per venue (sorted ids over the palette), and the reference's."""
    colours = {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(sorted(set(venues)))}
    colours[REFERENCE] = REFERENCE_COLOUR
    return colours


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


def render_trace(name: str, xy: Json, colour: str) -> Json:
    """One line trace; the reference is drawn thicker."""
    return {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "legendgroup": name,
        "x": xy["x"],
        "y": xy["y"],
        "line": {"color": colour, "width": 2.2 if name == REFERENCE else 1.4},
    }


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
) -> Json:
    """A Plotly figure (``data`` and ``layout``) for one panel."""
    traces = [
        render_trace(name, xy, colours.get(name, PALETTE[0]))
        for name, xy in render_series_xy(series).items()
    ]
    layout: Json = {
        "title": {"text": panel.title, "x": 0.01, "font": {"size": 15}},
        "height": panel.height,
        "margin": {"l": 64, "r": 16, "t": 40, "b": 36},
        "xaxis": {"type": "date", "title": {"text": "time (UTC)"}},
        "yaxis": {"title": {"text": panel.y_title}, "zeroline": panel.zero_line},
        "legend": {"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
        "hovermode": "x unified",
        "shapes": shapes,
        "uirevision": panel.id,
    }
    return {"data": traces, "layout": layout}


# -- live deltas ------------------------------------------------------------------------
def with_ts_ns(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``ts_ns`` (epoch ns, Int64) from ``ts_event``, a datetime or an integer column."""
    dtype = frame.schema["ts_event"]
    if isinstance(dtype, pl.Datetime):
        return frame.with_columns(ts_ns=pl.col("ts_event").dt.epoch("ns"))
    return frame.with_columns(ts_ns=pl.col("ts_event").cast(pl.Int64))


def compute_live_series(frame: pl.DataFrame, live: LiveSeries) -> pl.DataFrame:
    """Series rows from basis rows (needs ``ts_ns``), the same values the chart queries give."""
    if live == "basis_bps":
        parts = [
            frame.filter(pl.col("basis_bps").is_not_null()).select(
                series=pl.col("venue"), ts_ns="ts_ns", value=pl.col("basis_bps")
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
