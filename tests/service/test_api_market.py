"""GET /api/quotes, /api/trades and /api/fx over real HTTP against seeded DuckDB tables
(tests/service/seed_market.py): values, filters, pagination across tied times, limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import RunningServer, at, make_runtime, running_server
from seed_market import QUOTED, STEP_S, STEPS, TSLA, seed_market

from divergence.service.paging import DAY_NS, MAX_LIMIT


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    runtime = make_runtime(Path(tmp_path_factory.mktemp("market")), seeded=False)
    seed_market(runtime.store.store, runtime.catalog)
    with running_server(runtime) as running:
        yield running


@pytest.fixture(scope="module")
def http(market: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=market.url, timeout=10) as client:
        yield client


def ok(http: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    response = http.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refused(http: httpx.Client, path: str, status: int, **params: Any) -> str:
    response = http.get(path, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"]["status"] == status
    message: str = body["error"]["message"]
    return message


def all_pages(http: httpx.Client, path: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    rows: list[dict[str, Any]] = []
    pages = 0
    cursor: str | None = params.pop("start", None)
    while True:
        body = ok(http, path, **params, **({"start": cursor} if cursor else {}))
        rows += body["rows"]
        pages += 1
        cursor = body["next_start"]
        if cursor is None:
            return rows, pages


def direct(server: RunningServer, sql: str) -> list[dict[str, Any]]:
    return server.call(server.runtime.store.query(sql)).to_dicts()


def test_api_quotes_returns_exact_decimal_strings_and_both_time_forms(http: httpx.Client) -> None:
    body = ok(http, "/api/quotes", underlying="AAPL", start=str(at(20)), end=str(at(30)))
    rows = body["rows"]
    assert body["next_start"] is None
    assert [r["instrument_id"] for r in rows] == sorted(QUOTED)
    first = rows[0]
    assert first["ts_event"] == "2025-10-10T12:00:20.000000000Z"
    assert first["ts_event_ns"] == at(20)
    assert first["ts_recv"] == "2025-10-10T12:00:20.000001000Z"
    assert (first["bid_px"], first["ask_px"], first["bid_sz"], first["ask_sz"]) == (
        "252.12",
        "252.13",
        "10.5",
        "3",
    )
    assert {(r["instrument_id"], r["role"], r["underlying"]) for r in rows} == {
        ("AAPL@sim-sip", "reference", "AAPL"),
        ("AAPLx@simx-a", "token", "AAPL"),
        ("AAPLx@simx-b", "token", "AAPL"),
    }


def test_api_quotes_filters_by_role_venue_and_instrument(http: httpx.Client) -> None:
    refs = ok(http, "/api/quotes", role="reference")["rows"]
    assert [r["instrument_id"] for r in refs] == ["AAPL@sim-sip"] * STEPS
    tsla = ok(http, "/api/quotes", underlying="TSLA")["rows"]
    assert [r["bid_px"] for r in tsla] == [f"{400 + i}.12" for i in range(STEPS)]
    on_b = ok(http, "/api/quotes", venue="simx-b", end=str(at(STEP_S)))["rows"]
    assert [r["instrument_id"] for r in on_b] == ["AAPLx@simx-b"]
    one = ok(http, "/api/quotes", instrument=TSLA, start=str(at(90)))["rows"]
    assert [(r["ts_event_ns"], r["ask_px"]) for r in one] == [(at(90), "409.13")]


def test_api_quotes_pages_concatenate_to_the_direct_query(
    market: RunningServer, http: httpx.Client
) -> None:
    expected = direct(
        market,
        "SELECT epoch_ns(ts_event) AS t, instrument_id, ingest_seq FROM quotes "
        "ORDER BY ts_event, instrument_id, ingest_seq",
    )
    for limit in (1, 3, 5, 7, 40, 41):
        rows, pages = all_pages(http, "/api/quotes", limit=limit)
        got = [
            {
                "t": r["ts_event_ns"],
                "instrument_id": r["instrument_id"],
                "ingest_seq": r["ingest_seq"],
            }
            for r in rows
        ]
        assert got == expected, f"limit={limit}"
        # four rows share each time: a page never splits them
        assert pages == {1: STEPS, 3: STEPS, 5: STEPS, 7: STEPS, 40: 1, 41: 1}[limit]


def test_api_quotes_cursor_is_the_first_time_not_returned(http: httpx.Client) -> None:
    first = ok(http, "/api/quotes", limit=6)
    assert len(first["rows"]) == 4  # the cut falls before the second time's four rows
    assert first["next_start"] == str(at(STEP_S))
    tied = ok(http, "/api/quotes", limit=2)
    assert [r["ts_event_ns"] for r in tied["rows"]] == [at(0)] * 4
    assert tied["next_start"] == str(at(0) + 1)


def test_api_trades_values_and_pagination(market: RunningServer, http: httpx.Client) -> None:
    body = ok(http, "/api/trades", start="2025-10-10T12:00:00Z", end="2025-10-10T12:00:10Z")
    assert [(r["trade_id"], r["side"], r["price"], r["size"]) for r in body["rows"]] == [
        ("t0-0", "buy", "250.125", "2"),
        ("t0-1", "sell", "250.125", "0.000000000000000001"),
    ]
    assert body["rows"][0]["ts_event"] == "2025-10-10T12:00:05.000000000Z"
    rows, pages = all_pages(http, "/api/trades", limit=3)
    expected = direct(market, "SELECT trade_id FROM trades ORDER BY ts_event, instrument_id")
    assert [r["trade_id"] for r in rows] == [e["trade_id"] for e in expected]
    assert pages == STEPS
    sells = ok(http, "/api/trades", venue="simx-b", underlying="AAPL")["rows"]
    assert {r["side"] for r in sells} == {"sell"} and len(sells) == STEPS


def test_api_fx_rates_and_composite(http: httpx.Client) -> None:
    rates = ok(http, "/api/fx", venue="sim-fx-b", end=str(at(20)))
    assert rates["source"] == "rates"
    assert [(r["ts_event_ns"], r["rate_usd"]) for r in rates["rows"]] == [
        (at(0), "1.0001"),
        (at(10), "1.0001"),
    ]
    comp = ok(http, "/api/fx", source="composite", currency="USDC", end=str(at(10)))
    assert [(r["venue"], r["median_usd"], r["sources"]) for r in comp["rows"]] == [
        ("sim-fx", 0.99995, 2),
        ("sim-fx-b", 0.99995, 2),
    ]
    assert comp["rows"][0]["deviation_bps"] == pytest.approx((0.9998 / 0.99995 - 1) * 1e4)
    assert ok(http, "/api/fx", currency="USDT")["rows"] == []


def test_api_market_limits_are_refused_with_json_naming_the_limit(http: httpx.Client) -> None:
    span = refused(http, "/api/quotes", 413, start=str(at(0)), end=str(at(0) + 8 * DAY_NS))
    assert "at most 7 days" in span and "max_span" in span and "found 8 days" in span
    assert "at most 31 days" in refused(
        http, "/api/fx", 413, start="2025-01-01T00:00:00Z", end="2025-03-01T00:00:00Z"
    )
    assert "limit" in refused(http, "/api/trades", 422, limit=MAX_LIMIT + 1)
    assert "end: must be after start" in refused(
        http, "/api/trades", 400, start=str(at(10)), end=str(at(10))
    )
    assert "start:" in refused(http, "/api/quotes", 400, start="yesterday")
    assert "out of range" in refused(http, "/api/quotes", 400, end="9" * 25)
    assert "unknown venue 'nope'" in refused(http, "/api/quotes", 404, venue="nope")
    assert "unknown underlying" in refused(http, "/api/trades", 404, underlying="MSFT")
    assert "instrument" in refused(http, "/api/quotes", 404, instrument="X@y")
    assert "role" in refused(http, "/api/quotes", 422, role="issuer")
