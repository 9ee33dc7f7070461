"""The multiplier history the basis applies: catalog rows, plus venue-reported ones for
tokens that opt in (docs/reference-prices.md), on a real DuckDB file."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl

from divergence.catalog import load_catalog
from divergence.clock import ns_from_datetime
from divergence.content import recordings_dir
from divergence.feeds.discovery import listings_frame
from divergence.runtime import sync_catalog_tables
from divergence.store.db import Store
from divergence.venues.contract import DiscoveredListing

OBSERVED = ns_from_datetime(datetime(2026, 8, 9, 12, 0, tzinfo=UTC))
CATALOG_FROM = ns_from_datetime(datetime(2025, 6, 30, tzinfo=UTC))


def _listing(symbol: str, base: str, multiplier: str) -> DiscoveredListing:
    return DiscoveredListing(
        venue_symbol=symbol,
        base=base,
        quote="USDT",
        status="Trading",
        product="xstocks",
        multiplier=Decimal(multiplier),
    )


def test_basis_multipliers_merge_venue_values_only_where_the_token_opts_in(
    tmp_path: Path,
) -> None:
    catalog = load_catalog(recordings_dir() / "catalog.toml")
    store = Store(tmp_path / "m.duckdb")
    store.migrate()
    sync_catalog_tables(store, catalog)
    frame = listings_frame(
        catalog.venues["bybit"],
        catalog,
        [
            _listing("AAPLXUSDT", "AAPLX", "1.0041"),  # opted in
            _listing("NVDAXUSDT", "NVDAX", "1.0009000000000001"),  # not opted in
        ],
        observed_at=OBSERVED,
    )
    store.append("venue_listings", frame)

    applied = store.query(store.sql_text("basis_multipliers")).filter(
        pl.col("instrument_id").str.ends_with("@bybit")
    )
    assert applied.rows() == [
        ("AAPLx@bybit", CATALOG_FROM, 1.0032690125398187),
        ("AAPLx@bybit", OBSERVED, 1.0041),
        ("NVDAx@bybit", CATALOG_FROM, float(catalog_value(catalog, "NVDAx@bybit"))),
        ("TSLAx@bybit", CATALOG_FROM, 1.0),
    ]
    history = store.query(
        "SELECT instrument_id, source, multiplier, applied, k, tracking FROM multiplier_history "
        "WHERE instrument_id IN ('AAPLx@bybit', 'NVDAx@bybit', 'AAPLx@kraken') "
        "ORDER BY instrument_id, source"
    )
    exact = Decimal("1.003269012539818700")  # DECIMAL(38, 18): every digit kept
    assert history.rows() == [
        ("AAPLx@bybit", "catalog", exact, True, exact, "total_return"),
        ("AAPLx@bybit", "venue:bybit", Decimal("1.0041"), True, Decimal("1.0041"), "total_return"),
        ("AAPLx@kraken", "catalog", Decimal(1), True, Decimal(1), "rebasing"),
        (
            "NVDAx@bybit",
            "catalog",
            catalog_value(catalog, "NVDAx@bybit"),
            True,
            catalog_value(catalog, "NVDAx@bybit"),
            "total_return",
        ),
        (
            "NVDAx@bybit",
            "venue:bybit",
            Decimal("1.000900000000000100"),
            False,
            Decimal("1.000900000000000100"),
            "total_return",
        ),
    ]


def catalog_value(catalog: object, instrument_id: str) -> Decimal:
    token = next(t for t in catalog.token if t.id == instrument_id)  # type: ignore[attr-defined]
    return Decimal(token.multipliers[-1].value).quantize(Decimal("1e-18"))
