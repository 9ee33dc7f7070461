"""A synthetic Kraken REST ``AssetPairs`` response for the catalog's Kraken xStocks listings.

``GET /0/public/AssetPairs?aclass_base=tokenized_asset`` lists only tokenized assets
(xStocks are hidden from the plain list), so the response holds exactly the token
listings of the venue, in Kraken's field order and compact JSON: ``altname``
(``AAPLxUSD``), ``wsname`` (``AAPLx/USD``, the WebSocket v2 symbol), ``aclass_base``
``tokenized_asset``, ``pair_decimals`` / ``lot_decimals`` from the catalog, ``tick_size``,
``status``. Fee tiers are Kraken's published spot schedule at the time of writing.
"""

from __future__ import annotations

from typing import Any

import orjson

from divergence.catalog import Catalog, Token

FEES = [
    [0, 0.4],
    [10000, 0.35],
    [50000, 0.24],
    [100000, 0.22],
    [250000, 0.2],
    [500000, 0.18],
    [1000000, 0.16],
    [2500000, 0.14],
    [5000000, 0.12],
    [10000000, 0.1],
]
FEES_MAKER = [
    [0, 0.25],
    [10000, 0.2],
    [50000, 0.14],
    [100000, 0.12],
    [250000, 0.1],
    [500000, 0.08],
    [1000000, 0.06],
    [2500000, 0.04],
    [5000000, 0.02],
    [10000000, 0],
]
QUOTE_ASSET = {"USD": "ZUSD", "EUR": "ZEUR"}


def _pair(token: Token) -> tuple[str, dict[str, Any]]:
    base, _, quote = token.venue_symbol.partition("/")
    price_decimals = token.price_decimals if token.price_decimals is not None else 2
    size_decimals = token.size_decimals if token.size_decimals is not None else 8
    altname = base + quote
    return altname, {
        "altname": altname,
        "wsname": token.venue_symbol,
        "aclass_base": "tokenized_asset",
        "base": base,
        "aclass_quote": "currency",
        "quote": QUOTE_ASSET.get(quote, quote),
        "lot": "unit",
        "cost_decimals": 5,
        "pair_decimals": price_decimals,
        "lot_decimals": size_decimals,
        "lot_multiplier": 1,
        "leverage_buy": [],
        "leverage_sell": [],
        "fees": FEES,
        "fees_maker": FEES_MAKER,
        "fee_volume_currency": "ZUSD",
        "margin_call": 80,
        "margin_stop": 40,
        "ordermin": "0.01",
        "costmin": "0.5",
        "tick_size": format(10**-price_decimals, f".{price_decimals}f"),
        "status": "online",
    }


def asset_pairs_body(catalog: Catalog, venue: str = "kraken") -> bytes:
    """The response body, pairs ordered by ``altname`` as Kraken orders them."""
    pairs = dict(sorted(_pair(t) for t in catalog.tokens_on(venue)))
    return orjson.dumps({"error": [], "result": pairs})
