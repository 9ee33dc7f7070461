"""Canned-query headers are parsed strictly, and parameters typed and validated."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from divergence.errors import BadRequestError, ConfigError
from divergence.sandbox.canned import load_canned_queries, parse_canned

GOOD = """-- demo: a demo query
-- title: Demo
-- description: first line
--   second line
-- params: underlying (text, default AAPL), since (timestamp, optional), n (integer), on (date, optional), wide (boolean, default false), bps (number, default 2.5)
-- Grain: one row per thing.
SELECT $underlying, $since, $n, $on, $wide, $bps
"""  # noqa: E501


def test_canned_header_parses_every_key() -> None:
    query = parse_canned("demo", GOOD, source="demo.sql")
    assert (query.title, query.description, query.purpose, query.grain) == (
        "Demo",
        "first line second line",
        "a demo query",
        "one row per thing.",
    )
    assert [(p.name, p.type, p.default, p.required) for p in query.params] == [
        ("underlying", "text", "AAPL", False),
        ("since", "timestamp", None, False),
        ("n", "integer", None, True),
        ("on", "date", None, False),
        ("wide", "boolean", False, False),
        ("bps", "number", 2.5, False),
    ]


def test_canned_bind_types_and_defaults() -> None:
    query = parse_canned("demo", GOOD, source="demo.sql")
    bound = query.bind(
        {"n": "3", "since": "2025-10-10T20:00:00.5Z", "on": "2025-10-10", "wide": "yes"}
    )
    assert bound == {
        "underlying": "AAPL",
        "since": datetime(2025, 10, 10, 20, 0, 0, 500_000),
        "n": 3,
        "on": date(2025, 10, 10),
        "wide": True,
        "bps": 2.5,
    }


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, "n: required (integer)"),
        ({"n": "x"}, "n: expected integer, found 'x'"),
        ({"n": "1", "bps": "nan"}, "bps: expected number"),
        ({"n": "1", "wide": "maybe"}, "wide: expected boolean"),
        ({"n": "1", "on": "10/10/2025"}, "on: expected date"),
        ({"n": "1", "since": "yesterday"}, "since: expected ISO 8601"),
        ({"n": "1", "venue": "x"}, "unknown parameter 'venue'"),
        ({"n": "1", "underlying": "A" * 201}, "longer than 200"),
    ],
)
def test_canned_bind_refuses_bad_values(given: dict[str, str], message: str) -> None:
    query = parse_canned("demo", GOOD, source="demo.sql")
    with pytest.raises(BadRequestError) as bad:
        query.bind(given)
    assert message in bad.value.message


@pytest.mark.parametrize(
    ("replace", "by", "key", "message"),
    [
        ("-- demo: a demo query", "-- other: a demo query", "name", "first line must be"),
        ("-- title: Demo\n", "", "title", "title"),
        ("-- Grain: one row per thing.\n", "", "grain", "Grain"),
        ("n (integer)", "n (int)", "params.n", "type must be one of"),
        ("n (integer)", "n integer", "params.n integer", "expected 'name (type"),
        ("n (integer)", "n (integer, maybe)", "params.n", "expected 'default VALUE'"),
        ("bps (number, default 2.5)", "bps (number, default wide)", "params.bps", "expected"),
        ("n (integer)", "underlying (integer)", "params.underlying", "declared twice"),
        ("$n, $on", "$n, $m, $on", "params", "$m is used but not declared"),
        ("$n, $on", "$on", "params", "n is declared but never used"),
    ],
)
def test_canned_bad_header_is_a_config_error_naming_file_and_key(
    replace: str, by: str, key: str, message: str
) -> None:
    assert replace in GOOD
    with pytest.raises(ConfigError) as bad:
        parse_canned("demo", GOOD.replace(replace, by, 1), source="sql/queries/demo.sql")
    assert bad.value.key == key
    assert bad.value.source == "sql/queries/demo.sql"
    assert message in bad.value.message


def test_canned_only_files_with_params_line_are_loaded(tmp_path: Path) -> None:
    (tmp_path / "demo.sql").write_text(GOOD)
    (tmp_path / "internal.sql").write_text("-- internal: x\n-- Params: $a\n-- Grain: y\nSELECT $a")
    assert list(load_canned_queries(tmp_path)) == ["demo"]
    (tmp_path / "broken.sql").write_text(
        GOOD.replace("-- demo:", "-- broken:").replace("(text", "(txt")
    )
    with pytest.raises(ConfigError, match=r"broken\.sql: params\.underlying"):
        load_canned_queries(tmp_path)


def test_canned_shipped_queries_are_at_least_ten_and_all_typed() -> None:
    shipped = load_canned_queries()
    assert len(shipped) >= 10
    for query in shipped.values():
        assert query.title and query.description and query.grain, query.name
