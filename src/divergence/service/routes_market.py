"""Market data in the JSON API: ``/api/quotes``, ``/api/trades`` and ``/api/fx``.

Each is a time-range read paginated by ``next_start`` (:mod:`divergence.service.paging`).
Prices, sizes and rates are exact decimals in the store and go out as strings; times go
out as ISO 8601 and as ``*_ns`` epoch ints (:mod:`divergence.service.render`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from divergence.catalog import Catalog
from divergence.errors import NotFoundError
from divergence.service.api_models import page_response
from divergence.service.deps import CatalogDep, StoreDep, check_underlying
from divergence.service.paging import (
    DAY_NS,
    DEFAULT_LIMIT,
    EndParam,
    LimitParam,
    StartParam,
    fetch_page,
    parse_range,
)
from divergence.service.render import render_rows
from divergence.service.routes_api import JsonResponse

router = APIRouter(tags=["market data"])
MAX_SPAN_TICKS_NS = 7 * DAY_NS
"""Longest ``[start, end)`` of one quotes or trades request."""
MAX_SPAN_FX_NS = 31 * DAY_NS

UnderlyingParam = Annotated[
    str | None, Query(description="only instruments of this underlying", examples=["AAPL"])
]
VenueParam = Annotated[str | None, Query(description="only this venue", examples=["simx-a"])]
InstrumentParam = Annotated[
    str | None, Query(description="only this instrument id", examples=["AAPLx@simx-a"])
]
RoleParam = Annotated[
    Literal["token", "reference"] | None,
    Query(description="only token listings or only reference instruments"),
]

_QUOTE_EXAMPLE = {
    "ts_event": "2025-10-10T13:30:00.000000000Z",
    "ts_event_ns": 1760103000000000000,
    "ts_recv": "2025-10-10T13:30:00.001000000Z",
    "ts_recv_ns": 1760103000001000000,
    "venue": "simx-a",
    "instrument_id": "AAPLx@simx-a",
    "symbol": "AAPLx/USD",
    "underlying": "AAPL",
    "role": "token",
    "bid_px": "250.1",
    "bid_sz": "12.5",
    "ask_px": "250.2",
    "ask_sz": "3",
    "ingest_seq": 42,
}
_TRADE_EXAMPLE = {
    **{k: v for k, v in _QUOTE_EXAMPLE.items() if not k.startswith(("bid", "ask"))},
    "price": "250.15",
    "size": "0.5",
    "side": "buy",
    "trade_id": "t-1",
}
_FX_EXAMPLE = {
    "ts_event": "2025-10-10T13:30:00.000000000Z",
    "ts_event_ns": 1760103000000000000,
    "venue": "sim-fx",
    "currency": "USDC",
    "rate_usd": "0.9998",
}


def check_filters(
    catalog: Catalog,
    *,
    underlying: str | None = None,
    venue: str | None = None,
    instrument: str | None = None,
) -> None:
    """404 naming the filter if it names an underlying, venue or instrument not in the
    catalog (an empty page would hide a typo)."""
    if underlying is not None:
        check_underlying(catalog, underlying)
    if venue is not None and venue not in catalog.venues:
        known = ", ".join(sorted(catalog.venues))
        raise NotFoundError(f"venue: unknown venue {venue!r} (known: {known})")
    if instrument is not None:
        ids = {t.id for t in catalog.token} | {r.id for r in catalog.reference}
        if instrument not in ids:
            raise NotFoundError(f"instrument: unknown instrument id {instrument!r}")


@router.get(
    "/api/quotes",
    response_class=JsonResponse,
    summary="Quotes (token venues and references)",
    responses=page_response("one page of quotes in time order", _QUOTE_EXAMPLE),
)
async def quotes(
    store: StoreDep,
    catalog: CatalogDep,
    start: StartParam = None,
    end: EndParam = None,
    underlying: UnderlyingParam = None,
    venue: VenueParam = None,
    instrument: InstrumentParam = None,
    role: RoleParam = None,
    limit: LimitParam = DEFAULT_LIMIT,
) -> JsonResponse:
    """Best bid and offer as received, for token listings and reference instruments, in
    ``ts_event`` order. Prices and sizes are exact decimal strings in the venue's quote
    currency. ``end - start`` is at most 7 days per request (413 beyond)."""
    check_filters(catalog, underlying=underlying, venue=venue, instrument=instrument)
    span = parse_range(start, end, max_span_ns=MAX_SPAN_TICKS_NS)
    params = {
        **span.params(),
        "underlying": underlying,
        "venue": venue,
        "instrument": instrument,
        "role": role,
    }
    page, next_start = await fetch_page(store, "api_quotes", params, limit)
    rows = render_rows(
        page, times=("ts_event", "ts_recv"), decimals=("bid_px", "bid_sz", "ask_px", "ask_sz")
    )
    return JsonResponse({"rows": rows, "next_start": next_start})


@router.get(
    "/api/trades",
    response_class=JsonResponse,
    summary="Trades (token venues and references)",
    responses=page_response("one page of trades in time order", _TRADE_EXAMPLE),
)
async def trades(
    store: StoreDep,
    catalog: CatalogDep,
    start: StartParam = None,
    end: EndParam = None,
    underlying: UnderlyingParam = None,
    venue: VenueParam = None,
    instrument: InstrumentParam = None,
    role: RoleParam = None,
    limit: LimitParam = DEFAULT_LIMIT,
) -> JsonResponse:
    """Executions on token venues and reference markets, in ``ts_event`` order; ``side``
    is the aggressor's (buy, sell or unknown). Price and size are exact decimal strings.
    ``end - start`` is at most 7 days per request (413 beyond)."""
    check_filters(catalog, underlying=underlying, venue=venue, instrument=instrument)
    span = parse_range(start, end, max_span_ns=MAX_SPAN_TICKS_NS)
    params = {
        **span.params(),
        "underlying": underlying,
        "venue": venue,
        "instrument": instrument,
        "role": role,
    }
    page, next_start = await fetch_page(store, "api_trades", params, limit)
    rows = render_rows(page, times=("ts_event", "ts_recv"), decimals=("price", "size"))
    return JsonResponse({"rows": rows, "next_start": next_start})


@router.get(
    "/api/fx",
    response_class=JsonResponse,
    summary="Stablecoin rates (raw or composite)",
    responses=page_response("one page of stablecoin rates in time order", _FX_EXAMPLE),
)
async def fx(
    store: StoreDep,
    catalog: CatalogDep,
    start: StartParam = None,
    end: EndParam = None,
    currency: Annotated[
        str | None, Query(description="only this stablecoin", examples=["USDC"])
    ] = None,
    venue: VenueParam = None,
    source: Annotated[
        Literal["rates", "composite"],
        Query(
            description="`rates`: each observation (fx_rates, exact decimal rate_usd); "
            "`composite`: each observation next to the median of all fresh sources, its "
            "deviation and the depeg flags (fx_composite)"
        ),
    ] = "rates",
    limit: LimitParam = DEFAULT_LIMIT,
) -> JsonResponse:
    """USD per unit of each stablecoin, in ``ts_event`` order. ``end - start`` is at most
    31 days per request (413 beyond)."""
    check_filters(catalog, venue=venue)
    span = parse_range(start, end, max_span_ns=MAX_SPAN_FX_NS)
    params: dict[str, Any] = {**span.params(), "currency": currency, "venue": venue}
    if source == "rates":
        page, next_start = await fetch_page(store, "api_fx_rates", params, limit)
        rows = render_rows(page, times=("ts_event", "ts_recv"), decimals=("rate_usd",))
    else:
        page, next_start = await fetch_page(store, "api_fx_composite", params, limit)
        rows = render_rows(page, times=("ts_event",))
    return JsonResponse({"source": source, "rows": rows, "next_start": next_start})
