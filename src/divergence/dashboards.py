"""Dashboard specs (``dashboards/*.toml``), loaded and validated strictly at start-up.

A spec is content: a title, a scope (one underlying, or global), the session shading
colours and a list of panels, each naming a query in ``sql/queries/`` (or, for the feed
tables, the runtime's live feeds report). Every model forbids unknown keys, every query
must exist, every query may only use the parameters its role provides, and every key
must suit its panel's chart kind, so a typo fails when the service starts with a
:class:`~divergence.errors.ConfigError` naming the file and the key, never as a broken
chart. docs/dashboards.md describes every key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from divergence.content import content_dir
from divergence.errors import ConfigError
from divergence.validation import load_toml, validate_model

_STRICT = ConfigDict(extra="forbid", frozen=True)
_NAME = r"^[a-z][a-z0-9_]*$"
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_COMMENT = re.compile(r"--[^\n]*")
_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

LiveSeries = Literal["price_per_share", "basis_bps", "exec_basis_bps"]
"""What a lines panel appends from the live ``basis`` frames (see service/charts.py)."""
Trigger = Literal["basis", "alerts", "events", "second"]
"""What makes a table, heatmap or bars panel refresh live: a bus topic, or every second."""
ChartKind = Literal["lines", "area", "bars", "heatmap", "table"]
Source = Literal["sql", "feeds", "stale_feeds"]
"""Where a panel's rows come from: its query, or the runtime's feeds report (every
stream, or only those neither live nor waiting)."""
Action = Literal["acknowledge", "assign", "note", "evidence"]
Scope = Literal["underlying", "global"]
YUnit = Literal["bps", "USD", "%", "ratio"]

WINDOW_PARAMS = frozenset({"venue", "start", "end", "bucket_ns"})
UNDERLYING_PARAMS = frozenset({"underlying"})
SESSIONS_PARAMS = frozenset({"underlying", "start", "end"})
SERIES_KINDS = frozenset({"lines", "area"})


class Panel(BaseModel):
    """One chart or table; ``chart`` selects the kind and the columns its query returns."""

    model_config = _STRICT
    id: str = Field(pattern=_NAME)
    title: str
    chart: ChartKind = "lines"
    source: Source = "sql"
    query: str | None = Field(default=None, pattern=_NAME)
    description: str = ""
    y_title: str = ""
    y_unit: YUnit | None = None
    live: LiveSeries | None = None
    refresh_on: tuple[Trigger, ...] = ()
    key: tuple[str, ...] = ()
    band_query: str | None = Field(default=None, pattern=_NAME)
    markers_query: str | None = Field(default=None, pattern=_NAME)
    zero_line: bool = False
    zmax: float | None = Field(default=None, gt=0)
    link: str | None = None
    link_column: str | None = None
    links: dict[str, str] = Field(default_factory=dict)
    actions: tuple[Action, ...] = ()
    height: int = Field(default=340, ge=150, le=1_200)

    def all_links(self) -> dict[str, str]:
        """Column -> URL template, ``link``/``link_column`` included."""
        extra = {self.link_column: self.link} if self.link and self.link_column else {}
        return {**self.links, **extra}

    def y_label(self) -> str:
        unit = f" ({self.y_unit})" if self.y_unit and self.y_unit not in self.y_title else ""
        return f"{self.y_title}{unit}" if self.y_title else (self.y_unit or "")


class Shading(BaseModel):
    """Fill colours of the session bands; ``regular`` is never shaded."""

    model_config = _STRICT
    closed: str = "rgba(110, 110, 110, 0.28)"
    halted: str = "rgba(200, 60, 60, 0.25)"
    pre: str = "rgba(110, 110, 110, 0.10)"
    post: str = "rgba(110, 110, 110, 0.10)"
    overnight: str = "rgba(110, 110, 110, 0.16)"

    def colours(self) -> dict[str, str]:
        return self.model_dump()


class DashboardSpec(BaseModel):
    """A whole dashboard page, for one underlying or global."""

    model_config = _STRICT
    title: str = Field(description="may contain {underlying}")
    nav: str = Field(default="", description="the nav bar's label (default: the name)")
    order: int = Field(default=50, description="position in the nav bar")
    description: str = ""
    scope: Scope = "underlying"
    default_underlying: str | None = None
    width: int = Field(default=1_200, ge=50, le=10_000, description="points per trace")
    extent_query: str | None = Field(default=None, pattern=_NAME)
    sessions_query: str | None = Field(default=None, pattern=_NAME)
    status_query: str | None = Field(default=None, pattern=_NAME)
    shading: Shading = Shading()
    panel: tuple[Panel, ...] = Field(min_length=1)

    def title_for(self, underlying: str | None) -> str:
        return self.title.replace("{underlying}", underlying or "")


@dataclass(frozen=True)
class Dashboard:
    """A validated spec with its name (the file stem) and each query's parameter names."""

    name: str
    path: Path
    spec: DashboardSpec
    params: dict[str, frozenset[str]]

    @property
    def label(self) -> str:
        return self.spec.nav or self.name.capitalize()


def load_dashboards(
    folder: Path | None = None, *, queries: Path | None = None
) -> dict[str, Dashboard]:
    """Every ``*.toml`` spec in ``folder`` (default: the installed ``dashboards/``), by name,
    in nav order."""
    folder = folder or content_dir("dashboards")
    loaded = [load_dashboard(path, queries=queries) for path in sorted(folder.glob("*.toml"))]
    return {d.name: d for d in sorted(loaded, key=lambda d: (d.spec.order, d.name))}


def load_dashboard(path: Path, *, queries: Path | None = None) -> Dashboard:
    """Read and validate one spec; every problem names the file and the key."""
    source = str(path)
    spec = validate_model(DashboardSpec, load_toml(path), source=source)
    _check_scope(spec, source)
    _unique_panels(spec, source)
    for i, panel in enumerate(spec.panel):
        _check_panel(panel, f"panel[{i}]", source)
    params = _check_queries(spec, queries or content_dir("sql") / "queries", source)
    return Dashboard(name=path.stem, path=path, spec=spec, params=params)


def query_params(sql: str) -> frozenset[str]:
    """The ``$name`` parameters a statement uses (comments ignored)."""
    return frozenset(_PARAM.findall(_COMMENT.sub("", sql)))


def template_fields(template: str) -> frozenset[str]:
    """The ``{column}`` names a link template uses."""
    return frozenset(_FIELD.findall(template))


def _fail(message: str, key: str, source: str) -> None:
    raise ConfigError(message, key=key, source=source)


def _check_scope(spec: DashboardSpec, source: str) -> None:
    if spec.scope == "underlying":
        for key in ("default_underlying", "extent_query", "sessions_query", "status_query"):
            if getattr(spec, key) is None:
                _fail(f"{key} is required when scope = 'underlying'", key, source)
    else:
        for key in ("default_underlying", "sessions_query", "status_query"):
            if getattr(spec, key) is not None:
                _fail(f"{key} is only for scope = 'underlying'", key, source)


def _unique_panels(spec: DashboardSpec, source: str) -> None:
    seen: set[str] = set()
    for i, panel in enumerate(spec.panel):
        if panel.id in seen:
            _fail(f"duplicate panel id {panel.id!r}", f"panel[{i}].id", source)
        seen.add(panel.id)


def _check_panel(panel: Panel, at: str, source: str) -> None:
    """Keys that only some chart kinds take, and a query exactly when the source is SQL."""
    kind = panel.chart
    if (panel.source == "sql") != (panel.query is not None):
        _fail("a panel needs `query` exactly when source = 'sql'", f"{at}.query", source)
    if panel.source != "sql" and kind != "table":
        _fail(f"source = {panel.source!r} needs chart = 'table'", f"{at}.source", source)
    only = {
        "live": (panel.live is not None, SERIES_KINDS),
        "band_query": (panel.band_query is not None, SERIES_KINDS),
        "markers_query": (panel.markers_query is not None, SERIES_KINDS),
        "zero_line": (panel.zero_line, SERIES_KINDS | {"bars"}),
        "zmax": (panel.zmax is not None, {"heatmap"}),
        "link": (panel.link is not None, {"table"}),
        "link_column": (panel.link_column is not None, {"table"}),
        "links": (bool(panel.links), {"table"}),
        "actions": (bool(panel.actions), {"table"}),
        "key": (bool(panel.key), {"table"}),
        "refresh_on": (bool(panel.refresh_on), {"table", "heatmap", "bars"}),
    }
    for key, (given, kinds) in only.items():
        if given and kind not in kinds:
            allowed = " or ".join(repr(k) for k in sorted(kinds))
            _fail(f"{key} is only for chart = {allowed}, not {kind!r}", f"{at}.{key}", source)
    if (panel.link is None) != (panel.link_column is None):
        _fail("link and link_column go together", f"{at}.link_column", source)
    if panel.actions and "fingerprint" not in panel.key:
        _fail('actions need key = ["fingerprint", ...]', f"{at}.actions", source)
    if kind == "table" and panel.refresh_on and not panel.key:
        _fail("a live table needs `key` (the columns naming a row)", f"{at}.key", source)


def _check_queries(spec: DashboardSpec, folder: Path, source: str) -> dict[str, frozenset[str]]:
    local = UNDERLYING_PARAMS if spec.scope == "underlying" else frozenset()
    roles: list[tuple[str, str | None, frozenset[str]]] = [
        ("extent_query", spec.extent_query, local | {"venue"}),
        ("sessions_query", spec.sessions_query, SESSIONS_PARAMS),
        ("status_query", spec.status_query, UNDERLYING_PARAMS),
    ]
    for i, p in enumerate(spec.panel):
        allowed = WINDOW_PARAMS | local
        roles += [
            (f"panel[{i}].query", p.query, allowed),
            (f"panel[{i}].band_query", p.band_query, allowed),
            (f"panel[{i}].markers_query", p.markers_query, allowed),
        ]
    params: dict[str, frozenset[str]] = {}
    for key, name, allowed in roles:
        if name is None:
            continue
        file = folder / f"{name}.sql"
        if not file.is_file():
            known = ", ".join(sorted(f.stem for f in folder.glob("*.sql")))
            _fail(f"unknown query {name!r} (known: {known})", key, source)
        used = query_params(file.read_text(encoding="utf-8"))
        extra = sorted(used - allowed)
        if extra:
            _fail(
                f"query {name!r} uses parameter ${extra[0]}, expected only "
                + ", ".join(f"${p}" for p in sorted(allowed)),
                key,
                source,
            )
        params[name] = params.get(name, frozenset()) | used
    return params
