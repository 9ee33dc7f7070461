"""Row deltas for live tables and heatmaps (pure): what changed between two refreshes.

A table row is named by its panel's ``key`` columns, a heatmap cell by ``(row, column)``.
A delta holds the rows that are new or changed (whole rows, in the table's column order)
and the keys that are gone; unchanged rows are never sent.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from divergence.dashboards import Panel
from divergence.service.charts_kinds import heatmap_cells, json_value

Json = dict[str, Any]
Snapshot = dict[tuple[Any, ...], tuple[Any, ...]]


def table_snapshot(panel: Panel, frame: pl.DataFrame) -> tuple[list[str], Snapshot]:
    """The table's columns and ``key -> row`` (JSON values)."""
    columns = frame.columns
    index = [columns.index(k) for k in panel.key if k in columns]
    snapshot: Snapshot = {}
    for raw in frame.rows():
        row = tuple(json_value(c, v) for c, v in zip(columns, raw, strict=True))
        snapshot[tuple(row[i] for i in index)] = row
    return columns, snapshot


def heatmap_snapshot(frame: pl.DataFrame) -> Snapshot:
    return {
        (c["row"], c["column"]): (c["row"], c["column"], c["value"], c["text"])
        for c in heatmap_cells(frame)
    }


def diff(previous: Snapshot, current: Snapshot) -> tuple[list[tuple[Any, ...]], list[Any]]:
    """(new or changed rows, keys gone), in ``current``'s order."""
    changed = [row for key, row in current.items() if previous.get(key) != row]
    gone = [list(key) for key in previous if key not in current]
    return changed, gone


def render_rows_delta(
    panel: Panel, columns: list[str], changed: list[tuple[Any, ...]], gone: list[Any]
) -> Json:
    return {
        "type": "rows",
        "panel": panel.id,
        "columns": columns,
        "key": list(panel.key),
        "upsert": [list(r) for r in changed],
        "delete": gone,
    }


def render_cells_delta(panel: Panel, changed: list[tuple[Any, ...]]) -> Json:
    cells = [{"row": r, "column": c, "value": v, "text": t} for r, c, v, t in changed]
    return {"type": "cells", "panel": panel.id, "cells": cells}
