"""Figure building for every chart kind, row deltas and feed rows: pure, checked by value."""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go
import polars as pl

from divergence.dashboards import Panel
from divergence.service.charts import PALETTE, render_figure, series_colours
from divergence.service.charts_feeds import event_counts, feed_rows
from divergence.service.charts_kinds import (
    MARKER_COLOURS,
    json_value,
    render_band,
    render_bars,
    render_heatmap,
    render_markers,
    render_table,
)
from divergence.service.live_diff import diff, heatmap_snapshot, table_snapshot

MS = 1_000_000


def _panel(**keys: object) -> Panel:
    return Panel.model_validate({"id": "p", "title": "P", **keys})


def test_charts_kinds_bars_grouped_in_row_order() -> None:
    frame = pl.DataFrame(
        {
            "series": ["consolidated", "consolidated", "best_venue"],
            "category": ["<$5k", "$5k-$10k", "<$5k"],
            "value": [1.5, 2.5, 3.0],
        }
    )
    figure = render_bars(_panel(chart="bars", y_unit="bps"), frame, {"best_venue": "#123456"})
    assert [(t["name"], t["x"], t["y"]) for t in figure["data"]] == [
        ("consolidated", ["<$5k", "$5k-$10k"], [1.5, 2.5]),
        ("best_venue", ["<$5k", "$5k-$10k"], [3.0, None]),
    ]
    assert figure["data"][1]["marker"] == {"color": "#123456"}
    assert figure["layout"]["barmode"] == "group"
    assert figure["layout"]["yaxis"]["title"]["text"] == "bps"
    go.Figure(figure)


def test_charts_kinds_heatmap_matrix_text_and_symmetric_scale() -> None:
    frame = pl.DataFrame(
        {
            "row": ["TSLA", "AAPL", "AAPL"],
            "column": ["simx-a", "simx-b", "simx-a"],
            "value": [-12.0, None, 30.5],
            "text": ["-12.0 · post", "n/a (ref stale)", None],
        }
    )
    trace = render_heatmap(_panel(chart="heatmap", zmax=50.0), frame)["data"][0]
    assert trace["y"] == ["AAPL", "TSLA"] and trace["x"] == ["simx-a", "simx-b"]
    assert trace["z"] == [[30.5, None], [-12.0, None]]
    assert trace["text"] == [["30.5", "n/a (ref stale)"], ["-12.0 · post", ""]]
    assert (trace["zmin"], trace["zmid"], trace["zmax"]) == (-50.0, 0, 50.0)
    go.Figure({"data": [trace]})
    assert heatmap_snapshot(frame)[("AAPL", "simx-b")] == (
        "AAPL",
        "simx-b",
        None,
        "n/a (ref stale)",
    )


def test_charts_kinds_table_values_are_json_safe() -> None:
    frame = pl.DataFrame(
        {
            "fingerprint": ["ab"],
            "since": [dt.datetime(2025, 10, 10, 12, 0)],
            "view_start_ns": [1_760_097_600_123_456_789],
            "value": [float("nan")],
            "notes": [2],
        }
    )
    panel = _panel(chart="table", link="/x?s={view_start_ns}", link_column="fingerprint")
    table = render_table(panel, frame)
    assert table["rows"] == [["ab", "2025-10-10T12:00:00", "1760097600123456789", None, 2]]
    assert table["links"] == {"fingerprint": "/x?s={view_start_ns}"}
    assert json_value("n", 2**60) == 2**60  # only *_ns columns become text


def test_charts_kinds_band_is_a_step_until_the_window_end() -> None:
    band = pl.DataFrame(
        {
            "series": ["luld", "luld"],
            "ts_ns": [10 * MS, 20 * MS],
            "lower": [95.0, 96.0],
            "upper": [105.0, 106.0],
        }
    )
    lower, upper = render_band(band, end_ns=50 * MS)
    assert lower["x"] == upper["x"] == [10, 20, 50]
    assert lower["y"] == [95.0, 96.0, 96.0] and upper["y"] == [105.0, 106.0, 106.0]
    assert lower["line"]["shape"] == upper["line"]["shape"] == "hv"
    assert upper["fill"] == "tonexty" and "fill" not in lower


def test_charts_kinds_markers_lines_spans_and_hover() -> None:
    markers = pl.DataFrame(
        {
            "ts_ns": [30 * MS, 10 * MS],
            "end_ns": [None, 20 * MS],
            "kind": ["alert", "feed_gap"],
            "label": ["basis rich", "simx-b silent"],
        },
        schema_overrides={"end_ns": pl.Int64},
    )
    shapes, hover = render_markers(markers)
    assert [(s["type"], s["x0"], s["x1"]) for s in shapes] == [("rect", 10, 20), ("line", 30, 30)]
    # a span is a strip along the top of the plot; an instant a line over its whole height
    assert [(s["y0"], s["y1"]) for s in shapes] == [(0.95, 1.0), (0, 1)]
    assert shapes[1]["line"]["color"] == MARKER_COLOURS["alert"]
    assert hover[0]["x"] == [10, 30]
    assert hover[0]["text"] == ["feed_gap: simx-b silent", "alert: basis rich"]
    series = pl.DataFrame({"series": ["a"], "ts_ns": [15 * MS], "value": [1.0]})
    figure = render_figure(
        _panel(y_title="USD"), series, shapes=[], colours={}, markers=markers, end_ns=40 * MS
    )
    assert [t["name"] for t in figure["data"]] == ["a", "events"]
    assert figure["layout"]["yaxis2"]["overlaying"] == "y"
    go.Figure(figure)


def test_charts_kinds_area_stacks() -> None:
    series = pl.DataFrame(
        {"series": ["b", "a", "a"], "ts_ns": [MS, MS, 2 * MS], "value": [0.4, 0.6, 0.5]}
    )
    figure = render_figure(_panel(chart="area"), series, shapes=[], colours={"a": "#111111"})
    assert [(t["name"], t["stackgroup"], t["y"]) for t in figure["data"]] == [
        ("a", "one", [0.6, 0.5]),
        ("b", "one", [0.4]),
    ]


def test_charts_kinds_table_diff_upserts_changed_and_deletes_gone() -> None:
    panel = _panel(chart="table", key=["fp"], refresh_on=["alerts"])
    before = pl.DataFrame({"fp": ["a", "b", "c"], "state": ["firing", "pending", "firing"]})
    after = pl.DataFrame({"fp": ["a", "b", "d"], "state": ["firing", "firing", "pending"]})
    _, old = table_snapshot(panel, before)
    columns, new = table_snapshot(panel, after)
    changed, gone = diff(old, new)
    assert columns == ["fp", "state"]
    assert changed == [("b", "firing"), ("d", "pending")]
    assert gone == [["c"]]
    assert diff(new, new) == ([], [])


def test_charts_kinds_feed_rows_join_history() -> None:
    report = [
        {
            "venue": "simx-a",
            "state": "up",
            "reconnects": 0,
            "streams": [
                {
                    "stream": "book:AAPLx/USD",
                    "state": "live",
                    "messages": 10,
                    "rate_per_s": 2.5,
                    "last_message_age_s": 0.4,
                    "stale_periods": 1,
                },
                {"stream": "trade:AAPLx/USD", "state": "stale", "messages": 3, "rate_per_s": 0.1},
            ],
        },
        {"venue": "simdex", "state": "connecting", "reconnects": 2, "streams": []},
    ]
    counts = event_counts(
        pl.DataFrame(
            {
                "venue": ["simx-a", "simx-a", "simx-a", "simdex"],
                "stream": ["book:AAPLx/USD", "book:AAPLx/USD", "", ""],
                "event": ["gap", "checksum_mismatch", "connect", "connect"],
                "n": [4, 1, 3, 1],
            }
        )
    )
    rows = feed_rows(report, counts)
    assert rows.select(
        "venue", "stream", "state", "gaps", "checksum_failures", "reconnects"
    ).rows() == [
        ("simx-a", "book:AAPLx/USD", "live", 4, 1, 2),
        ("simx-a", "trade:AAPLx/USD", "stale", 0, 0, 2),
        ("simdex", "", "connecting", 0, 0, 2),
    ]
    assert rows["age_s"].to_list() == [0.4, None, None]
    unhealthy = feed_rows(report, counts, only_unhealthy=True)
    assert unhealthy.select("venue", "stream").rows() == [
        ("simx-a", "trade:AAPLx/USD"),
        ("simdex", ""),
    ]


def test_charts_kinds_series_without_colour_get_distinct_ones() -> None:
    colours = {"simx-a": PALETTE[0], "reference": "#222222"}
    got = series_colours(["reference", "by depth", "simx-a", "by volume"], colours)
    assert got["reference"] == "#222222" and got["simx-a"] == PALETTE[0]
    assert got["by depth"] == PALETTE[1] and got["by volume"] == PALETTE[2]
