"""GET /api/instruments and /health over real HTTP."""

from __future__ import annotations

import httpx


def test_routes_api_instruments_lists_multiplier_history(client: httpx.Client) -> None:
    response = client.get("/api/instruments")
    assert response.status_code == 200
    by_id = {row["id"]: row for row in response.json()["instruments"]}
    token = by_id["AAPLx@simx-b"]
    assert (token["venue"], token["symbol"], token["underlying"], token["quote_currency"]) == (
        "simx-b",
        "AAPLXUSDT",
        "AAPL",
        "USDT",
    )
    assert [(m["effective_from"], m["value"]) for m in token["multipliers"]] == [
        ("2025-06-30T00:00:00.000000000Z", "1"),
        ("2025-08-11T00:00:00.000000000Z", "1.0033"),
    ]
    assert by_id["AAPLx@simdex"]["chain"] == "solana"
    assert by_id["AAPL@sim-sip"]["role"] == "reference"


def test_routes_api_instruments_filters_by_underlying(client: httpx.Client) -> None:
    rows = client.get("/api/instruments", params={"underlying": "TSLA"}).json()["instruments"]
    assert rows and {r["underlying"] for r in rows} == {"TSLA"}
    assert client.get("/api/instruments", params={"underlying": "ZZZ"}).status_code == 404


def test_routes_api_health_merges_runtime_health(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok", "writer": {"flushes": 0}, "feeds": {}}
