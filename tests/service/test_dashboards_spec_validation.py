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
    assert list(dashboards) == ["underlying"]
    dash = dashboards["underlying"]
    assert [(p.id, p.query, p.live) for p in dash.spec.panel] == [
        ("price", "chart_price", "price_per_share"),
        ("basis", "chart_basis", "basis_bps"),
    ]
    assert dash.params["chart_price"] == {"underlying", "start", "end", "bucket_ns"}
    assert dash.params["chart_status"] == {"underlying"}
    assert dash.spec.title_for("TSLA") == "TSLA: tokens vs the underlying"


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
