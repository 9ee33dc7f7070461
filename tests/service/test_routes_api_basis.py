"""GET /api/basis over real HTTP against a seeded DuckDB file."""

from __future__ import annotations

from typing import Any

import httpx
from harness import MULTIPLIER, STEP_S, VENUE_BPS, at, ref_mid

from divergence.service.routes_api import iso_ns


def _get(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get("/api/basis", params={"underlying": "AAPL", **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_routes_api_basis_returns_seeded_values_for_range(client: httpx.Client) -> None:
    body = _get(client, start="2025-10-10T12:05:00Z", end=str(at(900)))
    rows = body["rows"]
    assert body["underlying"] == "AAPL"
    assert body["next_start"] is None
    # [300 s, 900 s): steps 5..14, three venues each, ordered by time then instrument_id
    expected_times = [at(step * STEP_S) for step in range(5, 15) for _ in range(3)]
    assert [r["ts_event_ns"] for r in rows] == expected_times
    assert rows[0]["ts_event"] == "2025-10-10T12:05:00.000000000Z"
    assert [r["instrument_id"] for r in rows[:3]] == [
        "AAPLx@simdex",
        "AAPLx@simx-a",
        "AAPLx@simx-b",
    ]
    for row in rows:
        step = (row["ts_event_ns"] - at(0)) // (STEP_S * 1_000_000_000)
        venue = row["venue"]
        k = MULTIPLIER[venue]
        assert row["ref_mid"] == ref_mid(step)
        assert row["multiplier"] == k
        assert row["basis_bps"] == VENUE_BPS[venue]
        assert abs(row["mid_usd"] - k * ref_mid(step) * (1 + VENUE_BPS[venue] / 1e4)) < 1e-9
        assert row["session"] == ("closed" if step * STEP_S < 600 else "pre")
        assert row["ts_event"] == iso_ns(row["ts_event_ns"])


def test_routes_api_basis_filters_by_venue(client: httpx.Client) -> None:
    rows = _get(client, venue="simx-b", start=str(at(0)), end=str(at(180)))["rows"]
    assert [(r["venue"], r["ts_event_ns"], r["basis_bps"]) for r in rows] == [
        ("simx-b", at(0), -20.0),
        ("simx-b", at(60), -20.0),
        ("simx-b", at(120), -20.0),
    ]


def test_routes_api_basis_cursor_pages_through_without_gaps_or_repeats(
    client: httpx.Client,
) -> None:
    full = _get(client, limit=50_000)["rows"]
    pages, params = [], {"limit": 7}
    while True:
        body = _get(client, **params)
        pages.append(body["rows"])
        if body["next_start"] is None:
            break
        params = {"limit": 7, "start": body["next_start"]}
    # 7 rows would split a timestamp (3 venues each): pages stop at the boundary, 6 rows
    assert [len(p) for p in pages[:-1]] == [6] * (len(pages) - 1)
    assert pages[0][-1]["ts_event_ns"] == at(60)
    assert [r for page in pages for r in page] == full
    assert len(full) == 41 * 3


def test_routes_api_basis_page_smaller_than_one_timestamp_returns_that_timestamp(
    client: httpx.Client,
) -> None:
    first = _get(client, limit=2)
    assert [r["ts_event_ns"] for r in first["rows"]] == [at(0)] * 3
    assert first["next_start"] == str(at(0) + 1)
    second = _get(client, limit=2, start=first["next_start"])
    assert [r["ts_event_ns"] for r in second["rows"]] == [at(60)] * 3
