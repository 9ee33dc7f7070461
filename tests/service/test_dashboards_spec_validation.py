"""Dashboard specs load strictly: unknown keys, queries and parameters fail by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from divergence.content import content_dir
from divergence.dashboards import load_dashboard, load_dashboards, query_params
from divergence.errors import ConfigError

REAL = content_dir("dashboards") / "underlying.toml"


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = REAL.read_text()
    assert old in text
    path = tmp_path / "broken.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_dashboards_spec_real_spec_loads() -> None:
    dashboards = load_dashboards()
    assert list(dashboards) == [
        "overview",
        "alerts",
        "fragmentation",
        "bestex",
        "underlying",
        "feeds",
    ]  # nav order
    dash = dashboards["underlying"]
    assert [(p.id, p.query, p.live) for p in dash.spec.panel][:2] == [
        ("price", "chart_price", "price_per_share"),
        ("basis", "chart_basis", "basis_bps"),
    ]
    assert dash.params["chart_price"] == {"underlying", "venue", "start", "end", "bucket_ns"}
    assert dash.params["chart_status"] == {"underlying"}
    assert dash.spec.title_for("TSLA") == "TSLA: tokens vs the underlying"
    overview = dashboards["overview"]
    assert overview.spec.scope == "global" and overview.label == "Overview"
    assert [(p.id, p.chart, p.source) for p in overview.spec.panel] == [
        ("heatmap", "heatmap", "sql"),
        ("alerts", "table", "sql"),
        ("stale_feeds", "table", "stale_feeds"),
        ("fx", "table", "sql"),
    ]
    assert overview.spec.panel[1].all_links()["underlying"].startswith("/dashboards/underlying?")


def test_dashboards_spec_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    path = _variant(tmp_path, 'y_title = "bps"', 'y_title = "bps"\ncolour = "red"')
    with pytest.raises(ConfigError) as err:
        load_dashboard(path)
    assert err.value.source == str(path)
    assert err.value.key == "panel[1].colour"
    assert "unknown key" in err.value.message


def test_dashboards_spec_unknown_query_names_it(tmp_path: Path) -> None:
    path = _variant(tmp_path, 'query = "chart_basis"', 'query = "chart_bassis"')
    with pytest.raises(ConfigError) as err:
        load_dashboard(path)
    assert (err.value.key, err.value.source) == ("panel[1].query", str(path))
    assert "'chart_bassis'" in err.value.message and "chart_basis" in err.value.message


def test_dashboards_spec_query_with_foreign_parameter_fails(tmp_path: Path) -> None:
    queries = tmp_path / "queries"
    queries.mkdir()
    for file in (content_dir("sql") / "queries").glob("chart_*.sql"):
        (queries / file.name).write_text(file.read_text())
    (queries / "chart_status.sql").write_text(
        "-- chart_status: test\n-- Grain: one row. Params: $underlying\n"
        "SELECT * FROM basis WHERE underlying = $underlying AND venue = $venue"
    )
    with pytest.raises(ConfigError) as err:
        load_dashboard(REAL, queries=queries)
    assert err.value.key == "status_query"
    assert "$venue" in err.value.message


def test_dashboards_spec_bad_value_and_bad_toml(tmp_path: Path) -> None:
    path = _variant(tmp_path, "width = 1200", "width = 3")
    with pytest.raises(ConfigError) as err:
        load_dashboard(path)
    assert err.value.key == "width" and "3" in err.value.message
    broken = tmp_path / "bad.toml"
    broken.write_text("title = ")
    with pytest.raises(ConfigError) as err:
        load_dashboard(broken)
    assert err.value.key == "<file>"


def test_dashboards_spec_query_params_ignore_comments() -> None:
    sql = "-- Params: $underlying, $nope\nSELECT $start, $end -- $also_not\nWHERE x = $start"
    assert query_params(sql) == {"start", "end"}


GLOBAL = """title = "G"
scope = "global"
extent_query = "chart_global_extent"
"""


def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("panel", "key", "words"),
    [
        ('chart = "heatmap"\nquery = "chart_basis"\nlive = "basis_bps"', "live", "only for"),
        ('chart = "table"\nquery = "chart_basis"\nzmax = 5.0', "zmax", "heatmap"),
        ('chart = "lines"\nquery = "chart_basis"\nlink = "/x"', "link", "table"),
        ('chart = "table"\nquery = "chart_basis"\nlink = "/x"', "link_column", "together"),
        ('chart = "table"\nsource = "feeds"\nquery = "chart_basis"', "query", "source"),
        ('chart = "lines"\nsource = "feeds"', "source", "table"),
        ('chart = "table"\nquery = "chart_basis"\nrefresh_on = ["alerts"]', "key", "key"),
        ('chart = "table"\nquery = "chart_basis"\nactions = ["note"]', "actions", "fingerprint"),
        ('chart = "pie"\nquery = "chart_basis"', "chart", "lines"),
        ('query = "chart_basis"\nrefresh_on = ["minute"]', "refresh_on", "second"),
    ],
)
def test_dashboards_spec_kind_keys_fail_by_name(
    tmp_path: Path, panel: str, key: str, words: str
) -> None:
    path = _spec(tmp_path, GLOBAL + f'[[panel]]\nid = "p"\ntitle = "P"\n{panel}\n')
    with pytest.raises(ConfigError) as err:
        load_dashboard(path)
    assert err.value.key.startswith(f"panel[0].{key}"), err.value.key
    assert words in err.value.message and err.value.source == str(path)


def test_dashboards_spec_scope_rules(tmp_path: Path) -> None:
    underlying_scope = 'title = "U"\nextent_query = "chart_extent"\n[[panel]]\nid = "p"\n'
    with pytest.raises(ConfigError) as err:
        load_dashboard(_spec(tmp_path, underlying_scope + 'title = "P"\nquery = "chart_basis"\n'))
    assert err.value.key == "default_underlying"
    with pytest.raises(ConfigError) as err:
        load_dashboard(
            _spec(
                tmp_path,
                GLOBAL + 'sessions_query = "chart_sessions"\n[[panel]]\nid = "p"\n'
                'title = "P"\nquery = "chart_feeds_events"\nchart = "bars"\n',
            )
        )
    assert err.value.key == "sessions_query" and "underlying" in err.value.message
    # a global panel may not use $underlying (its band and markers queries neither)
    with pytest.raises(ConfigError) as err:
        load_dashboard(
            _spec(
                tmp_path,
                GLOBAL + '[[panel]]\nid = "p"\ntitle = "P"\n'
                'query = "chart_feeds_events"\nmarkers_query = "chart_basis"\n',
            )
        )
    assert err.value.key == "panel[0].markers_query" and "$underlying" in err.value.message


def test_dashboards_spec_global_spec_with_every_kind_loads(tmp_path: Path) -> None:
    text = (
        GLOBAL
        + """
[[panel]]
id = "events"
title = "E"
chart = "bars"
query = "chart_feeds_events"
refresh_on = ["events", "second"]

[[panel]]
id = "streams"
title = "S"
chart = "table"
source = "feeds"
key = ["venue", "stream"]
refresh_on = ["second"]
links = { venue = "/dashboards/feeds?venue={venue}" }
"""
    )
    dash = load_dashboard(_spec(tmp_path, text))
    assert dash.params == {
        "chart_global_extent": {"venue"},
        "chart_feeds_events": {"venue", "start", "end"},
    }
    assert dash.spec.panel[1].all_links() == {"venue": "/dashboards/feeds?venue={venue}"}
