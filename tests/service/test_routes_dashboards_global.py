"""The global dashboards over HTTP: pages (nav, dev banner), tables from the alerts table,
CSV downloads of any panel, parameter errors, and the live panel socket's row deltas."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from typing import Any

import httpx
import orjson
import pytest
from harness import VENUE_BPS, RunningServer, at
from websockets.asyncio.client import connect

MIN_NS = 60 * 10**9
HALF_HOUR_NS = 30 * MIN_NS


def _insert_alert(server: RunningServer, fp: str, active_s: int, state: str, **labels: str) -> None:
    labels = {"rule": "basis_exec_live", "severity": "critical", **labels}
    row = {
        "fingerprint": fp,
        "active_at": at(active_s),
        "rule_id": labels["rule"],
        "state": state,
        "labels": json.dumps(labels),
        "scope": json.dumps({k: v for k, v in labels.items() if k in ("underlying", "venue")}),
        "last_ts": at(active_s + 60),
        "value": 64.3456,
        "summary": f"{fp} summary",
        "explained_by": "[]",
        "notes": json.dumps([{"actor": "a", "text": "n1"}, {"actor": "b", "text": "n2"}]),
        "inhibited_by": "[]",
        "silenced_by": "[]",
        "muted": False,
        "assignee": "sam",
        "updated_at": at(active_s),
    }
    columns = ", ".join(row)
    values = ", ".join(
        f"make_timestamp_ns(${k})" if k in ("active_at", "last_ts", "updated_at") else f"${k}"
        for k in row
    )
    server.call(
        server.runtime.store.write(
            lambda s: s.execute(f"INSERT INTO alerts ({columns}) VALUES ({values})", row)
        )
    )


def _alerts_table(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get("/api/charts/alerts", params=params)
    assert response.status_code == 200, response.text
    table: dict[str, Any] = response.json()["panels"][0]["table"]
    return table


def test_routes_dashboards_global_pages_nav_and_banner(client: httpx.Client) -> None:
    page = client.get("/dashboards/overview")
    assert page.status_code == 200
    nav = re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', page.text.split("</nav>")[0])
    assert nav == [
        ("/dashboards/overview", "Overview"),
        ("/dashboards/alerts", "Alerts"),
        ("/dashboards/fragmentation", "Fragmentation"),
        ("/dashboards/bestex", "Best execution"),
        ("/dashboards/underlying", "Underlying"),
        ("/dashboards/feeds", "Feeds"),
        ("/sql", "SQL"),
        ("/queries", "Queries"),
        ("/docs", "API"),
    ]
    assert 'aria-current="page">Overview<' in page.text
    assert 'id="dev-banner"' in page.text and "DEV MODE: no authentication" in page.text
    assert "underlying-picker" not in page.text  # a global dashboard
    assert '<select id="venue-picker" name="venue"><option value="">all venues</option>' in (
        page.text
    )
    under = client.get("/dashboards/underlying", params={"underlying": "AAPL", "venue": "simx-a"})
    assert '<option value="simx-a" selected>' in under.text
    assert client.get("/dashboards/underlying", params={"venue": "nope"}).status_code == 404
    assert client.get("/dashboards/nope").status_code == 404


def test_routes_dashboards_global_alerts_table_and_csv(
    server: RunningServer, client: httpx.Client
) -> None:
    _insert_alert(server, "aaaaaaaaaaaaaaaa", 600, "firing", underlying="AAPL", venue="simx-a")
    _insert_alert(server, "bbbbbbbbbbbbbbbb", 1200, "resolved", venue="simx-b")
    table = _alerts_table(client)
    col = {c: i for i, c in enumerate(table["columns"])}
    assert [r[col["fingerprint"]] for r in table["rows"]] == [
        "bbbbbbbbbbbbbbbb",
        "aaaaaaaaaaaaaaaa",
    ]
    first = table["rows"][1]
    assert first[col["state"]] == "firing" and first[col["severity"]] == "critical"
    assert (first[col["underlying"]], first[col["venue"]]) == ("AAPL", "simx-a")
    assert (first[col["value"]], first[col["assignee"]], first[col["notes"]]) == (64.35, "sam", 2)
    assert first[col["since"]] == "2025-10-10 12:10:00"
    # epoch ns as text (exact in JavaScript), 30 minutes either side of the episode
    assert first[col["view_start_ns"]] == str(at(600) - HALF_HOUR_NS)
    assert first[col["view_end_ns"]] == str(at(660) + HALF_HOUR_NS)
    assert table["links"]["underlying"].startswith("/dashboards/underlying?underlying={underlying}")
    assert table["actions"] == ["acknowledge", "assign", "note", "evidence"]
    # the venue filter keeps that venue's alerts (and those with no venue label)
    only_b = _alerts_table(client, venue="simx-b")
    assert [r[col["fingerprint"]] for r in only_b["rows"]] == ["bbbbbbbbbbbbbbbb"]
    # the CSV holds the same rows
    response = client.get("/api/charts/alerts/alerts.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert 'filename="alerts-alerts.csv"' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == table["columns"]
    assert [r[col["fingerprint"]] for r in rows[1:]] == ["bbbbbbbbbbbbbbbb", "aaaaaaaaaaaaaaaa"]
    assert rows[2][col["view_end_ns"]] == str(at(660) + HALF_HOUR_NS)


def test_routes_dashboards_global_lines_csv_matches_figure(client: httpx.Client) -> None:
    params = {"underlying": "AAPL", "width": 10}
    body = client.get("/api/charts/underlying", params=params).json()
    figure = next(p for p in body["panels"] if p["id"] == "basis")["figure"]
    response = client.get("/api/charts/underlying/basis.csv", params=params)
    assert 'filename="underlying-basis-AAPL.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    drawn = {t["name"]: list(zip(t["x"], t["y"], strict=True)) for t in figure["data"]}
    from_csv: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        from_csv.setdefault(r["series"], []).append((int(r["ts_ns"]) // 10**6, float(r["value"])))
    assert from_csv == drawn
    assert all(len(points) <= 2 * 10 for points in drawn.values())
    assert {v for points in drawn.values() for _, v in points} == set(VENUE_BPS.values())
    # a venue narrows the venue series
    only = client.get("/api/charts/underlying", params={**params, "venue": "simx-a"}).json()
    basis = next(p for p in only["panels"] if p["id"] == "basis")["figure"]["data"]
    assert [t["name"] for t in basis] == ["simx-a"]


@pytest.mark.parametrize(
    ("path", "params", "status", "words"),
    [
        ("/api/charts/alerts/nope.csv", {}, 404, "no panel 'nope'"),
        ("/api/charts/nope", {}, 404, "unknown dashboard"),
        ("/api/charts/underlying", {"underlying": "NOPE"}, 404, "unknown underlying"),
        ("/api/charts/alerts", {"venue": "nope"}, 404, "unknown venue"),
        ("/api/charts/alerts", {"start": str(at(10)), "end": str(at(5))}, 400, "after start"),
        ("/api/charts/alerts", {"start": "yesterday"}, 400, "start"),
    ],
)
def test_routes_dashboards_global_errors_are_json(
    client: httpx.Client, path: str, params: dict[str, str], status: int, words: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == status
    assert words in response.json()["error"]["message"]


async def _recv(ws: Any) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), timeout=10))
    return message


async def test_routes_dashboards_global_live_rows_are_deltas(server: RunningServer) -> None:
    _insert_alert(server, "aaaaaaaaaaaaaaaa", 600, "firing", underlying="AAPL")
    async with connect(f"{server.ws_url}/ws/panels/alerts") as ws:
        hello = await _recv(ws)
        assert hello == {"type": "hello", "dashboard": "alerts", "panels": ["alerts"]}
        first = await _recv(ws)  # the first round: every row
        assert first["type"] == "rows" and first["panel"] == "alerts"
        assert [r[0] for r in first["upsert"]] == ["aaaaaaaaaaaaaaaa"] and first["delete"] == []
        assert first["key"] == ["fingerprint", "active_at_ns"]
        # a new episode, announced on the bus: only that row comes
        _insert_alert(server, "cccccccccccccccc", 900, "pending", underlying="AAPL")
        await server.apublish("alerts", {"now_ns": at(900), "fingerprints": ["cccccccccccccccc"]})
        delta = await _recv(ws)
    assert delta["type"] == "rows"
    assert [(r[0], r[1]) for r in delta["upsert"]] == [("cccccccccccccccc", "pending")]
    assert delta["delete"] == []


async def test_routes_dashboards_global_live_unknown_dashboard_closes(
    server: RunningServer,
) -> None:
    async with connect(f"{server.ws_url}/ws/panels/nope") as ws:
        error = await _recv(ws)
    assert error["type"] == "error" and error["error"]["status"] == 404
