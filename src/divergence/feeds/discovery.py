"""Instrument discovery at start-up: a venue's REST instrument list into ``venue_listings``.

An adapter module that supports discovery has a pure ``discover(body) ->
list[DiscoveredListing]``, and its adapter class a ``discovery_path`` and a default
``rest_url``. This module does the one HTTP GET (in a thread, with a timeout), parses the
body with that function, and marks which listings the catalog already has. Discovery
is best effort: a venue whose REST API is unreachable still streams; the failure is
logged. Bybit's ``xstockMultiplier`` arrives here and is the raw input of the
multiplier history.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import urllib.request
from collections.abc import Callable
from typing import Any

import polars as pl

from divergence.catalog import Catalog, Venue
from divergence.clock import now_ns
from divergence.store.frames import DEC, TS
from divergence.venues.contract import DiscoveredListing

log = logging.getLogger(__name__)
TIMEOUT_S = 10.0
MAX_BODY = 64 * 2**20

LISTINGS_SCHEMA: dict[str, Any] = {
    "observed_at": pl.Int64,
    "venue": pl.String,
    "venue_symbol": pl.String,
    "base": pl.String,
    "quote": pl.String,
    "status": pl.String,
    "product": pl.String,
    "price_decimals": pl.Int32,
    "size_decimals": pl.Int32,
    "multiplier": DEC,
    "in_catalog": pl.Boolean,
}


def discoverer(adapter: object) -> tuple[str, Callable[[bytes], list[DiscoveredListing]]] | None:
    """(discovery path, parse function) of an adapter, or None when it has no discovery."""
    path = getattr(type(adapter), "discovery_path", None)
    module = importlib.import_module(type(adapter).__module__)
    parse = getattr(module, "discover", None)
    if not isinstance(path, str) or parse is None:
        return None
    return path, parse


def listings_frame(
    venue: Venue, catalog: Catalog, listings: list[DiscoveredListing], *, observed_at: int
) -> pl.DataFrame:
    """Rows of ``venue_listings`` for one venue's discovered listings (pure)."""
    known = {t.venue_symbol for t in catalog.tokens_on(venue.id)} | {
        f.symbol for f in catalog.fx_on(venue.id)
    }
    rows = [
        (
            observed_at,
            venue.id,
            x.venue_symbol,
            x.base,
            x.quote,
            x.status,
            x.product,
            x.price_decimals,
            x.size_decimals,
            x.multiplier,
            x.venue_symbol in known,
        )
        for x in listings
    ]
    frame = pl.DataFrame(rows, schema=LISTINGS_SCHEMA, orient="row")
    return frame.with_columns(pl.col("observed_at").cast(TS))


def _get(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "divergence"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        body: bytes = response.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise ValueError(f"response larger than {MAX_BODY} bytes")
    return body


async def discover_listings(
    venue: Venue, adapter: object, catalog: Catalog, *, rest_url: str | None
) -> pl.DataFrame | None:
    """Fetch and parse one venue's instrument list; None when unsupported or failed."""
    found = discoverer(adapter)
    base = rest_url or getattr(type(adapter), "rest_url", None)
    if found is None or not base:
        return None
    path, parse = found
    url = base.rstrip("/") + path
    try:
        body = await asyncio.to_thread(_get, url)
        listings = parse(body)
    except Exception as exc:  # best effort: the feed streams anyway
        log.warning(
            "instrument discovery failed",
            extra={"venue": venue.id, "url": url, "error": f"{type(exc).__name__}: {exc}"},
        )
        return None
    frame = listings_frame(venue, catalog, listings, observed_at=now_ns())
    missing = sorted(
        {t.venue_symbol for t in catalog.tokens_on(venue.id)} - set(frame["venue_symbol"])
    )
    if missing:
        log.warning(
            "catalog listings not offered by the venue",
            extra={"venue": venue.id, "symbols": ",".join(missing)},
        )
    log.info("instruments discovered", extra={"venue": venue.id, "listings": frame.height})
    return frame
