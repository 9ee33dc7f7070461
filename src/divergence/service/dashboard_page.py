"""The HTML of a dashboard page (pure): the shared template filled with the nav bar, the
dev-mode banner, the pickers and the page's data attributes. The page's script draws
everything else from ``/api/charts/<name>``."""

from __future__ import annotations

import html
import string
from collections.abc import Iterable, Mapping
from pathlib import Path

from divergence.content import content_dir
from divergence.dashboards import Dashboard

EXTRA_NAV = (("SQL", "/sql"), ("Queries", "/queries"), ("API", "/docs"))
DEV_BANNER = (
    '<div id="dev-banner" class="dev-banner" role="alert">'
    "DEV MODE: no authentication. Anyone who can reach this port can read everything.</div>"
)


def load_page_template(path: Path | None = None) -> string.Template:
    path = path or content_dir("dashboards") / "templates" / "dashboard.html"
    return string.Template(path.read_text(encoding="utf-8"))


def render_nav(dashboards: Mapping[str, Dashboard], current: str) -> str:
    """Links to every dashboard (nav order), then SQL, canned queries and the API docs."""
    here = ' aria-current="page"'
    links = [
        f'<a href="/dashboards/{html.escape(d.name)}"{here if d.name == current else ""}>'
        f"{html.escape(d.label)}</a>"
        for d in dashboards.values()
    ]
    links += [f'<a href="{href}">{label}</a>' for label, href in EXTRA_NAV]
    return "".join(links)


def render_options(values: Iterable[str], chosen: str | None, *, blank: str | None) -> str:
    """``<option>`` elements; ``blank`` (e.g. "all venues") first with an empty value."""
    out = [f'<option value="">{html.escape(blank)}</option>'] if blank is not None else []
    out += [
        f'<option value="{html.escape(v)}"{" selected" if v == chosen else ""}>'
        f"{html.escape(v)}</option>"
        for v in values
    ]
    return "".join(out)


def render_page(
    template: string.Template,
    *,
    dash: Dashboard,
    dashboards: Mapping[str, Dashboard],
    underlying: str | None,
    underlyings: Iterable[str],
    venue: str | None,
    venues: Iterable[str],
    dev_mode: bool,
    version: str,
) -> str:
    scoped = dash.spec.scope == "underlying"
    picker = (
        '<label class="picker">Underlying <select id="underlying-picker" name="underlying">'
        f"{render_options(sorted(underlyings), underlying, blank=None)}</select></label>"
        if scoped
        else ""
    )
    picker += (
        '<label class="picker">Venue <select id="venue-picker" name="venue">'
        f"{render_options(sorted(venues), venue, blank='all venues')}</select></label>"
    )
    return template.substitute(
        title=html.escape(dash.spec.title_for(underlying)),
        description=html.escape(dash.spec.description),
        dashboard=html.escape(dash.name),
        scope=dash.spec.scope,
        underlying=html.escape(underlying or ""),
        venue=html.escape(venue or ""),
        nav=render_nav(dashboards, dash.name),
        banner=DEV_BANNER if dev_mode else "",
        pickers=picker,
        version=html.escape(version),
    )
