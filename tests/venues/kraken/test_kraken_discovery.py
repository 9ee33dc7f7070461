"""discover(): Kraken's REST AssetPairs response to DiscoveredListing values."""

from __future__ import annotations

import pytest

from divergence.content import recordings_dir
from divergence.errors import QuarantineError
from divergence.venue_servers.kraken import ASSET_PAIRS
from divergence.venues.contract import DiscoveredListing
from divergence.venues.kraken import DISCOVERY_PATH, KrakenAdapter, discover

MIXED = (
    '{"error":[],"result":{'
    '"AAPLxUSD":{"altname":"AAPLxUSD","wsname":"AAPLx/USD","aclass_base":"tokenized_asset",'
    '"base":"AAPLx","aclass_quote":"currency","quote":"ZUSD","pair_decimals":2,'
    '"lot_decimals":8,"tick_size":"0.01","status":"online"},'
    '"USDTZUSD":{"altname":"USDTUSD","wsname":"USDT/USD","aclass_base":"currency",'
    '"base":"USDT","aclass_quote":"currency","quote":"ZUSD","pair_decimals":4,'
    '"lot_decimals":8,"status":"online"},'
    '"SPYxUSD":{"altname":"SPYxUSD","wsname":"SPYx/USD","aclass_base":"tokenized_asset",'
    '"base":"SPYx","quote":"ZUSD","pair_decimals":2,"lot_decimals":8,"status":"cancel_only"},'
    '"XBTUSD.d":{"altname":"XBTUSD.d","aclass_base":"currency","pair_decimals":1}}}'
)


def test_kraken_discover_recorded_asset_pairs() -> None:
    body = (recordings_dir() / ASSET_PAIRS).read_bytes()
    assert discover(body) == [
        DiscoveredListing(
            venue_symbol=f"{base}/USD",
            base=base,
            quote="USD",
            status="online",
            product="tokenized_asset",
            price_decimals=2,
            size_decimals=8,
        )
        for base in ("AAPLx", "NVDAx", "TSLAx")
    ]
    assert KrakenAdapter.discovery_path == DISCOVERY_PATH
    assert DISCOVERY_PATH == "/0/public/AssetPairs?aclass_base=tokenized_asset"


def test_kraken_discover_keeps_tokenized_assets_unless_asked() -> None:
    tokenized = discover(MIXED)
    assert [(x.venue_symbol, x.status) for x in tokenized] == [
        ("AAPLx/USD", "online"),
        ("SPYx/USD", "cancel_only"),
    ]
    every = discover(MIXED, tokenized_only=False)
    usdt = next(x for x in every if x.venue_symbol == "USDT/USD")
    assert (usdt.base, usdt.quote, usdt.product, usdt.price_decimals) == (
        "USDT",
        "USD",
        "currency",
        4,
    )
    assert [x.venue_symbol for x in every] == [
        "AAPLx/USD",
        "SPYx/USD",
        "USDT/USD",
    ]  # no wsname: skipped


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"error":["EGeneral:Invalid arguments"],"result":{}}', "venue error"),
        ('{"error":[]}', "missing field"),
        ('{"error":[],"result":[]}', "bad shape"),
        (
            '{"error":[],"result":{"X":{"wsname":"AAPLxUSD","aclass_base":"tokenized_asset"}}}',
            "bad field",
        ),
        ('{"error":[],"result":{"X":{"wsname":"A/B","pair_decimals":"2"}}}', "bad shape"),
        ("<html>503</html>", "malformed json"),
    ],
)
def test_kraken_discover_refuses_bad_bodies(body: str, reason: str) -> None:
    with pytest.raises(QuarantineError) as caught:
        discover(body, tokenized_only=False)
    assert caught.value.reason == reason
