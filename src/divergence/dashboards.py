"""Dashboard specs (``dashboards/*.toml``), loaded and validated strictly at start-up.

A spec is content: a title, the session shading colours and a list of panels, each
naming a query in ``sql/queries/``. Every model forbids unknown keys, every query must
exist, and every query may only use the parameters its role provides, so a typo fails
when the service starts with a :class:`~divergence.errors.ConfigError` naming the file
and the key, never as a broken chart.
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

LiveSeries = Literal["price_per_share", "basis_bps"]
"""What a panel appends from the live ``basis`` frames (see service/charts.py)."""

PANEL_PARAMS = frozenset({"underlying", "start", "end", "bucket_ns"})
SESSIONS_PARAMS = frozenset({"underlying", "start", "end"})
UNDERLYING_PARAMS = frozenset({"underlying"})


class Panel(BaseModel):
    """One chart. Its query returns ``series, ts_ns, value`` rows, one trace per series."""

    model_config = _STRICT
    id: str = Field(pattern=_NAME)
    title: str
    query: str = Field(pattern=_NAME)
    y_title: str
    live: LiveSeries | None = None
    zero_line: bool = False
    height: int = Field(default=340, ge=150, le=1_200)


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
    """A whole dashboard page, parametrised by one underlying."""

    model_config = _STRICT
    title: str = Field(description="may contain {underlying}")
    description: str = ""
    default_underlying: str
    width: int = Field(default=1_200, ge=50, le=10_000, description="points per trace")
    extent_query: str = Field(pattern=_NAME)
    sessions_query: str = Field(pattern=_NAME)
    status_query: str = Field(pattern=_NAME)
    shading: Shading = Shading()
    panel: tuple[Panel, ...] = Field(min_length=1)

    def title_for(self, underlying: str) -> str:
        return self.title.replace("{underlying}", underlying)


@dataclass(frozen=True)
class Dashboard:
    """A validated spec with its name (the file stem) and each query's parameter names."""

    name: str
    path: Path
    spec: DashboardSpec
    params: dict[str, frozenset[str]]


def load_dashboards(
    folder: Path | None = None, *, queries: Path | None = None
) -> dict[str, Dashboard]:
    """Every ``*.toml`` spec in ``folder`` (default: the installed ``dashboards/``), by name."""
    folder = folder or content_dir("dashboards")
    return {
        path.stem: load_dashboard(path, queries=queries) for path in sorted(folder.glob("*.toml"))
    }


def load_dashboard(path: Path, *, queries: Path | None = None) -> Dashboard:
    """Read and validate one spec; every problem names the file and the key."""
    source = str(path)
    spec = validate_model(DashboardSpec, load_toml(path), source=source)
    _unique_panels(spec, source)
    params = _check_queries(spec, queries or content_dir("sql") / "queries", source)
    return Dashboard(name=path.stem, path=path, spec=spec, params=params)


def query_params(sql: str) -> frozenset[str]:
    """The ``$name`` parameters a statement uses (comments ignored)."""
    return frozenset(_PARAM.findall(_COMMENT.sub("", sql)))


def _unique_panels(spec: DashboardSpec, source: str) -> None:
    seen: set[str] = set()
    for i, panel in enumerate(spec.panel):
        if panel.id in seen:
            raise ConfigError(
                f"duplicate panel id {panel.id!r}", key=f"panel[{i}].id", source=source
            )
        seen.add(panel.id)


def _check_queries(spec: DashboardSpec, folder: Path, source: str) -> dict[str, frozenset[str]]:
    roles = [
        ("extent_query", spec.extent_query, UNDERLYING_PARAMS),
        ("sessions_query", spec.sessions_query, SESSIONS_PARAMS),
        ("status_query", spec.status_query, UNDERLYING_PARAMS),
    ] + [(f"panel[{i}].query", p.query, PANEL_PARAMS) for i, p in enumerate(spec.panel)]
    params: dict[str, frozenset[str]] = {}
    for key, name, allowed in roles:
        file = folder / f"{name}.sql"
        if not file.is_file():
            known = ", ".join(sorted(f.stem for f in folder.glob("*.sql")))
            raise ConfigError(f"unknown query {name!r} (known: {known})", key=key, source=source)
        used = query_params(file.read_text(encoding="utf-8"))
        extra = sorted(used - allowed)
        if extra:
            raise ConfigError(
                f"query {name!r} uses parameter ${extra[0]}, expected only "
                + ", ".join(f"${p}" for p in sorted(allowed)),
                key=key,
                source=source,
            )
        params[name] = used
    return params
