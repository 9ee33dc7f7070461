"""Conformance: the catalog's real listings agree with the venues' own recorded data."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from divergence.catalog import Catalog
from divergence.clock import NS_PER_MS, ns_from_datetime


def test_catalog_bybit_multiplier_matches_recorded_instruments(
    catalog: Catalog, realdata: Path
) -> None:
    record = json.loads(
        (realdata / "vectors" / "bybit_spot_xstocks_instruments_2026-08-09.json").read_text()
    )
    recorded = {row["symbol"]: row for row in record["xstocks"]}
    recorded_at = int(record["time"]) * NS_PER_MS
    for token in catalog.tokens_on("bybit"):
        row = recorded[token.venue_symbol]
        assert row["symbolType"] == "xstocks"
        assert row["baseCoin"] + row["quoteCoin"] == token.venue_symbol
        assert row["quoteCoin"] == token.quote_currency
        in_force = [
            m for m in token.multipliers if ns_from_datetime(m.effective_from) <= recorded_at
        ]
        assert in_force[-1].value == Decimal(row["xstockMultiplier"]), token.id
