"""``POST /api/sql``, the canned-query endpoints and the SQL pages, on a real server.

The server's sandbox limits are small (``sql.timeout_s`` 0.5 s, ``sql.max_rows`` 7) so
the time limit and the row cap are reached by real statements. The seeded ``basis``
table (tests/service/harness.py) holds 41 rows per venue with a constant basis per venue.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from harness import (
    STEP_S,
    STEPS,
    VENUE_BPS,
    RunningServer,
    at,
    make_runtime,
    running_server,
    session_at_offset,
)

from divergence.sandbox.config import SqlSettings

TIMEOUT_S = 0.5
MAX_ROWS = 7
SLOW = "SELECT count(*) FROM range(100000) a, range(100000) b WHERE (a.range * b.range) % 7 = 3"


@pytest.fixture(scope="module")
def sql_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    runtime = make_runtime(tmp_path_factory.mktemp("sql"))
    limits = SqlSettings(timeout_s=TIMEOUT_S, max_rows=MAX_ROWS)
    runtime = dataclasses.replace(
        runtime, settings=runtime.settings.model_copy(update={"sql": limits})
    )
    with running_server(runtime) as server:
        yield server


@pytest.fixture(scope="module")
def api(sql_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sql_server.url, timeout=20) as client:
        yield client


def post(api: httpx.Client, sql: str, **extra: Any) -> httpx.Response:
    return api.post("/api/sql", json={"sql": sql, **extra})


def test_routes_sql_json_result(api: httpx.Client) -> None:
    response = post(
        api,
        "SELECT venue, count(*) AS n, avg(basis_bps) AS bps FROM basis "
        "GROUP BY venue ORDER BY venue",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["columns"] == [
        {"name": "venue", "type": "VARCHAR"},
        {"name": "n", "type": "BIGINT"},
        {"name": "bps", "type": "DOUBLE"},
    ]
    assert body["rows"] == [[v, STEPS, VENUE_BPS[v]] for v in sorted(VENUE_BPS)]
    assert (body["row_count"], body["truncated"], body["max_rows"]) == (3, False, MAX_ROWS)
    assert body["elapsed_ms"] > 0


def test_routes_sql_row_cap_states_truncation(api: httpx.Client) -> None:
    cut = post(api, "SELECT range AS i FROM range(20)").json()
    assert cut["rows"] == [[i] for i in range(MAX_ROWS)]
    assert (cut["row_count"], cut["truncated"], cut["max_rows"]) == (MAX_ROWS, True, MAX_ROWS)
    exact = post(api, f"SELECT range AS i FROM range({MAX_ROWS})").json()
    assert (exact["row_count"], exact["truncated"]) == (MAX_ROWS, False)
    as_csv = post(api, "SELECT range AS i FROM range(20)", format="csv")
    assert as_csv.headers["x-divergence-truncated"] == "true"
    assert as_csv.headers["x-divergence-max-rows"] == str(MAX_ROWS)
    assert as_csv.text.splitlines() == ["i", *[str(i) for i in range(MAX_ROWS)]]


def test_routes_sql_json_csv_parquet_agree_value_by_value(api: httpx.Client) -> None:
    sql = (
        "SELECT ts_event, instrument_id, basis_bps, multiplier, ref_mid, fx_depeg, session "
        "FROM basis WHERE venue = $venue ORDER BY ts_event LIMIT 5"
    )
    params = {"venue": "simx-b"}
    as_json = post(api, sql, params=params).json()
    as_csv = post(api, sql, params=params, format="csv")
    as_parquet = post(api, sql, params=params, format="parquet")
    assert as_parquet.headers["content-type"] == "application/vnd.apache.parquet"
    assert as_csv.headers["content-type"].startswith("text/csv")
    table = pq.read_table(io.BytesIO(as_parquet.content))
    csv_rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert csv_rows[0] == table.column_names == [c["name"] for c in as_json["columns"]]
    assert len(as_json["rows"]) == len(csv_rows) - 1 == table.num_rows == 5
    for i, (json_row, csv_row, pq_row) in enumerate(
        zip(as_json["rows"], csv_rows[1:], table.to_pylist(), strict=True)
    ):
        ts_ns = at(i * 60)
        expected_ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_ns // 10**9))
        assert json_row[0] == csv_row[0] == f"{expected_ts}.000000000Z"
        assert pq_row["ts_event"].value == ts_ns  # pandas Timestamp keeps ns
        assert json_row[1] == csv_row[1] == pq_row["instrument_id"] == "AAPLx@simx-b"
        assert json_row[2] == float(csv_row[2]) == pq_row["basis_bps"] == VENUE_BPS["simx-b"]
        assert json_row[3] == float(csv_row[3]) == pq_row["multiplier"]
        assert json_row[4] == float(csv_row[4]) == pq_row["ref_mid"] == pytest.approx(250 + 0.1 * i)
        assert json_row[5] is None and csv_row[5] == "" and pq_row["fx_depeg"] is None
        assert json_row[6] == csv_row[6] == pq_row["session"] == "closed"


def test_routes_sql_unusual_types_render_in_every_format(api: httpx.Client) -> None:
    sql = (
        "SELECT union_value(k := 1) AS u, 'infinity'::TIMESTAMP AS t, "
        "170141183460469231731687303715884105727::HUGEINT AS h, INTERVAL 1 DAY AS i"
    )
    as_json = post(api, sql)
    assert as_json.status_code == 200
    assert as_json.json()["rows"][0][:3] == [
        1,
        "infinity",
        "170141183460469231731687303715884105727",
    ]
    as_csv = post(api, sql, format="csv")
    assert as_csv.text.splitlines()[1].startswith(
        "1,infinity,170141183460469231731687303715884105727,"
    )
    as_parquet = post(api, sql, format="parquet")
    assert pq.read_table(io.BytesIO(as_parquet.content)).column_names == ["u", "t", "h", "i"]


def test_routes_sql_params_are_bound_not_spliced(api: httpx.Client) -> None:
    bound = post(api, "SELECT count(*) FROM basis WHERE venue = $v", params={"v": "simdex"})
    assert bound.json()["rows"] == [[STEPS]]
    injected = post(
        api, "SELECT count(*) FROM basis WHERE venue = $v", params={"v": "x' OR '1'='1"}
    )
    assert injected.json()["rows"] == [[0]]
    typed = post(
        api, "SELECT $n + 1 AS n, $b AS b, $s IS NULL AS s", params={"n": 41, "b": True, "s": None}
    )
    assert typed.json()["rows"] == [[42, True, True]]


def test_routes_sql_time_limit_interrupts_and_next_query_works(api: httpx.Client) -> None:
    started = time.monotonic()
    response = post(api, SLOW)
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.json()["error"] == {
        "status": 504,
        "message": f"statement interrupted after {TIMEOUT_S:g} s (sql.timeout_s)",
        "retryable": False,
    }
    assert elapsed < TIMEOUT_S + 2.0
    assert post(api, "SELECT 42 AS answer").json()["rows"] == [[42]]


def test_routes_sql_slow_statement_does_not_hold_the_readers(api: httpx.Client) -> None:
    """The dashboards' reader thread keeps answering while a sandbox thread is busy."""
    slow_done = threading.Event()

    def slow() -> None:
        post(api, SLOW)
        slow_done.set()

    thread = threading.Thread(target=slow)
    thread.start()
    answered_while_busy = 0
    while not slow_done.is_set():
        assert api.get("/api/sql/tables").status_code == 200
        answered_while_busy += 0 if slow_done.is_set() else 1
    thread.join()
    # Were the reader queued behind the sandbox statement, no read could finish before it.
    assert answered_while_busy >= 1


@pytest.mark.parametrize(
    ("sql", "status", "fragment"),
    [
        ("SELEC 1", 400, "syntax error"),
        ("SELECT * FROM no_such_table", 400, "no_such_table"),
        ("SELECT * FROM duckdb_extensions()", 403, "Permission Error"),
        ("DELETE FROM basis", 400, "statement type DELETE is not allowed"),
        ("", 422, "sql"),
    ],
)
def test_routes_sql_errors_are_json_with_status(
    api: httpx.Client, sql: str, status: int, fragment: str
) -> None:
    response = post(api, sql)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["status"] == status
    assert fragment in error["message"]


def test_routes_sql_statement_size_is_limited(api: httpx.Client) -> None:
    long_sql = "SELECT 1 AS x" + " " * 100_000
    response = post(api, long_sql)
    assert response.status_code == 400
    assert "sql.max_sql_chars" in response.json()["error"]["message"]


def test_routes_sql_tables_hide_the_webhook_secrets(api: httpx.Client) -> None:
    tables = {t["name"]: t["columns"] for t in api.get("/api/sql/tables").json()["tables"]}
    assert "webhook_secrets" not in tables
    assert {"name": "basis_bps", "type": "DOUBLE"} in tables["basis"]


def test_routes_sql_canned_list_and_run(api: httpx.Client) -> None:
    listed = {q["name"]: q for q in api.get("/api/queries").json()["queries"]}
    assert len(listed) >= 10
    top = listed["top_divergences"]
    assert [p["name"] for p in top["params"]] == ["start", "end", "min_abs_bps", "limit"]
    assert top["params"][2] == {
        "name": "min_abs_bps",
        "type": "number",
        "required": False,
        "default": 25.0,
    }
    run = api.get("/api/queries/top_divergences", params={"min_abs_bps": "15"}).json()
    names = [c["name"] for c in run["columns"]]
    rows = [dict(zip(names, row, strict=True)) for row in run["rows"]]
    # live rows only (sessions pre, regular, post): simdex 35 bps and simx-b -20 bps reach 15
    assert [(r["venue"], r["peak_basis_bps"]) for r in rows] == [
        ("simdex", 35.0),
        ("simx-b", -20.0),
    ]
    live = sum(1 for step in range(STEPS) if session_at_offset(step * STEP_S) != "closed")
    assert [r["observations"] for r in rows] == [live, live]


def test_routes_sql_canned_csv_parquet_and_errors(api: httpx.Client) -> None:
    as_csv = api.get("/api/queries/top_divergences", params={"min_abs_bps": "15", "format": "csv"})
    assert as_csv.headers["content-disposition"] == 'attachment; filename="top_divergences.csv"'
    assert as_csv.text.splitlines()[1].startswith("AAPLx@simdex,AAPL,simdex,35.0,")
    as_parquet = api.get("/api/queries/top_divergences", params={"format": "parquet"})
    assert pq.read_table(io.BytesIO(as_parquet.content)).column("venue").to_pylist() == ["simdex"]
    bad = api.get("/api/queries/top_divergences", params={"min_abs_bps": "wide"})
    assert bad.status_code == 400
    assert "min_abs_bps: expected number" in bad.json()["error"]["message"]
    unknown = api.get("/api/queries/top_divergences", params={"venue": "x"})
    assert unknown.status_code == 400
    assert "unknown parameter 'venue'" in unknown.json()["error"]["message"]
    missing = api.get("/api/queries/no_such_query")
    assert missing.status_code == 404


def test_routes_sql_pages_render(api: httpx.Client) -> None:
    page = api.get("/sql")
    assert page.status_code == 200
    assert '<script src="/static/sql.js" defer></script>' in page.text
    assert "<summary>basis</summary>" in page.text and "webhook_secrets" not in page.text
    assert api.get("/static/sql.js").status_code == 200
    index = api.get("/queries")
    assert '<a href="/queries/weekend_gap">Weekend gap at reopen</a>' in index.text
    form = api.get("/queries/top_divergences", params={"min_abs_bps": "30"})
    assert form.status_code == 200
    assert 'name="min_abs_bps" type="number" step="any" value="30"' in form.text
    assert "<td>AAPLx@simdex</td>" in form.text and "<td>AAPLx@simx-b</td>" not in form.text
    assert 'href="/api/queries/top_divergences?min_abs_bps=30&amp;format=csv"' in form.text
    bad = api.get("/queries/top_divergences", params={"limit": "many"})
    assert "400: limit: expected integer" in bad.text


def test_routes_sql_unknown_format_is_422(api: httpx.Client) -> None:
    response = api.post("/api/sql", json={"sql": "SELECT 1", "format": "xlsx"})
    assert response.status_code == 422
    assert "format" in response.json()["error"]["message"]
