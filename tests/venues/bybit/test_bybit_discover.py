"""discover(): Bybit's spot instruments-info response to DiscoveredListing rows."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from divergence.content import recordings_dir
from divergence.errors import QuarantineError
from divergence.venue_servers.bybit import REST
from divergence.venues.bybit import DISCOVERY_PATH, discover
from divergence.venues.contract import DiscoveredListing


def recorded_body() -> bytes:
    return (recordings_dir() / REST[DISCOVERY_PATH]).read_bytes()


def test_bybit_discover_recorded_response() -> None:
    listings = {x.venue_symbol: x for x in discover(recorded_body())}
    assert sorted(listings) == ["AAPLXUSDT", "BTCUSDT", "NVDAXUSDT", "TSLAXUSDT", "USDCUSDT"]
    assert listings["AAPLXUSDT"] == DiscoveredListing(
        venue_symbol="AAPLXUSDT",
        base="AAPLX",
        quote="USDT",
        status="Trading",
        product="xstocks",
        price_decimals=2,
        size_decimals=3,
        multiplier=Decimal("1.0032690125398187"),
    )
    assert listings["USDCUSDT"] == DiscoveredListing(
        venue_symbol="USDCUSDT",
        base="USDC",
        quote="USDT",
        status="Trading",
        product="",
        price_decimals=4,
        size_decimals=2,
        multiplier=Decimal("1"),
    )
    assert (listings["BTCUSDT"].price_decimals, listings["BTCUSDT"].size_decimals) == (1, 6)


def test_bybit_discover_recorded_response_is_bybit_shaped() -> None:
    body = json.loads(recorded_body())
    assert (body["retCode"], body["retMsg"], body["result"]["category"]) == (0, "OK", "spot")
    xstocks = [r for r in body["result"]["list"] if r["symbolType"] == "xstocks"]
    assert [r["symbol"] for r in xstocks] == ["AAPLXUSDT", "TSLAXUSDT", "NVDAXUSDT"]
    assert all(isinstance(r["xstockMultiplier"], str) for r in body["result"]["list"])


def row(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "symbol": "SPYXUSDT",
        "baseCoin": "SPYX",
        "quoteCoin": "USDT",
        "status": "PreLaunch",
        "lotSizeFilter": {"basePrecision": "0.0001"},
        "priceFilter": {"tickSize": "0.05"},
        "symbolType": "xstocks",
        "xstockMultiplier": "1.5",
    }
    return base | changes


def body_of(*rows: dict[str, object], code: int = 0) -> str:
    return json.dumps({"retCode": code, "retMsg": "OK", "result": {"list": list(rows)}})


def test_bybit_discover_decimals_status_and_optional_fields() -> None:
    [listing] = discover(body_of(row()))
    assert (listing.status, listing.price_decimals, listing.size_decimals) == ("PreLaunch", 2, 4)
    assert listing.multiplier == Decimal("1.5")
    [bare] = discover(
        body_of({"symbol": "ABCUSDT", "baseCoin": "ABC", "quoteCoin": "USDT", "status": "Trading"})
    )
    assert (bare.product, bare.price_decimals, bare.size_decimals, bare.multiplier) == (
        "",
        None,
        None,
        None,
    )
    [whole] = discover(body_of(row(priceFilter={"tickSize": "10"})))
    assert whole.price_decimals == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("<html>rate limited</html>", "malformed json"),
        (json.dumps({"retCode": 10001, "retMsg": "params error"}), "venue error"),
        (json.dumps({"retCode": 0, "retMsg": "OK"}), "missing field"),
        (json.dumps({"retMsg": "OK", "result": {"list": []}}), "missing field"),
        (body_of({"symbol": "X"}), "missing field"),
        (body_of(row(xstockMultiplier="NaN")), "bad decimal"),
        (body_of(row(priceFilter={"tickSize": "1e-2"})), "bad decimal"),
        (body_of(row(xstockMultiplier=1.5)), "bad decimal"),
        (json.dumps({"retCode": 0, "result": {"list": {}}}), "bad shape"),
    ],
)
def test_bybit_discover_rejects(body: str, reason: str) -> None:
    with pytest.raises(QuarantineError) as caught:
        discover(body)
    assert caught.value.reason == reason
