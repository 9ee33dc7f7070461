"""Derived metrics in the JSON API: fragmentation, best execution and shadow LULD bands.

``/api/fragmentation``, ``/api/bestex`` (with ``/scorecard`` and ``/sweeps``),
``/api/bands`` and ``/api/bands/events`` read the tables the metrics and depth jobs write
(docs/metrics.md). Each is a time-range read paginated by ``next_start``
(:mod:`divergence.service.paging`); times go out as ISO 8601 and ``*_ns`` epoch ints.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from divergence.service.api_models import page_response
from divergence.service.deps import CatalogDep, StoreDep
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
from divergence.service.routes_market import (
    InstrumentParam,
    UnderlyingParam,
    VenueParam,
    check_filters,
)

router = APIRouter(tags=["analytics"])
MAX_SPAN_NS = {"1s": 7 * DAY_NS, "1m": 93 * DAY_NS}
MAX_SPAN_BESTEX_NS = 31 * DAY_NS
MAX_SPAN_SWEEPS_NS = 93 * DAY_NS
MAX_SPAN_BANDS_NS = 93 * DAY_NS
MAX_SPAN_SCORECARD_NS = 3_660 * DAY_NS

_T = "2025-10-10T13:30:00.000000000Z"
_T_NS = 1760103000000000000
_FRAG_EXAMPLE = {
    "bucket_start": _T,
    "bucket_start_ns": _T_NS,
    "underlying": "AAPL",
    "active_venues": 3,
    "volume_usd": 125000.0,
    "hhi_volume": 0.41,
    "ffi_volume": 2.44,
    "crossed_frac": 0.0,
}
_BESTEX_EXAMPLE = {
    "ts_event": _T,
    "ts_event_ns": _T_NS,
    "underlying": "AAPL",
    "venue": "simx-a",
    "instrument_id": "AAPLx@simx-a",
    "trade_id": "t-1",
    "notional_bucket": 1,
    "effective_spread_bps": 4.2,
    "realized_spread_1m_bps": 1.1,
    "execution_class": "at_quote",
}
_SCORECARD_EXAMPLE = {
    "day": "2025-10-10",
    "day_ns": 1760054400000000000,
    "underlying": "AAPL",
    "venue": "simx-a",
    "notional_bucket": 1,
    "trades": 120,
    "effective_spread_bps": 4.2,
    "trade_through_rate_pct": 0.5,
    "material_difference": False,
}
_SWEEP_EXAMPLE = {
    "ts_event": _T,
    "ts_event_ns": _T_NS,
    "underlying": "AAPL",
    "side": "buy",
    "notional_usd": 10000.0,
    "fillable": True,
    "cost_of_fragmentation_bps": 3.5,
    "best_venue": "simx-a",
}
_BAND_EXAMPLE = {
    "ts_event": _T,
    "ts_event_ns": _T_NS,
    "underlying": "AAPL",
    "et_date": "2025-10-10",
    "lower_band_usd": 237.5,
    "upper_band_usd": 262.5,
}
_EVENT_EXAMPLE = {
    "ts_start": _T,
    "ts_start_ns": _T_NS,
    "ts_end": None,
    "ts_end_ns": None,
    "event": "band_breach",
    "underlying": "AAPL",
    "side": "upper",
    "price_usd": 263.0,
    "venue": "simx-a",
}


@router.get(
    "/api/fragmentation",
    response_class=JsonResponse,
    summary="Market fragmentation per bucket",
    responses=page_response("one page of fragmentation buckets in time order", _FRAG_EXAMPLE),
)
async def fragmentation(
    store: StoreDep,
    catalog: CatalogDep,
    start: StartParam = None,
    end: EndParam = None,
    underlying: UnderlyingParam = None,
    grain: Annotated[
        Literal["1m", "1s"], Query(description="bucket size: fragmentation_1m or _1s")
    ] = "1m",
    limit: LimitParam = DEFAULT_LIMIT,
) -> JsonResponse:
    """HHI and 1/HHI of volume and depth across venues, venue-mid dispersion, and the time
    the consolidated token book was locked or crossed, per bucket (docs/metrics.md).
    ``end - start`` is at most 7 days for ``1s`` and 93 days for ``1m`` (413 beyond)."""
    check_filters(catalog, underlying=underlying)
    span = parse_range(start, end, max_span_ns=MAX_SPAN_NS[grain])
    params = {**span.params(), "underlying": underlying}
    page, next_start = await fetch_page(
        store, f"api_fragmentation_{grain}", params, limit, key="bucket_start_ns"
    )
    rows = render_rows(page, times=("bucket_start",))
    return JsonResponse({"grain": grain, "rows": rows, "next_start": next_start})


@router.get(
    "/api/bestex",
    response_class=JsonResponse,
    summary="Execution quality per token trade",
    responses=page_response("one page of execution-quality rows in time order", _BESTEX_EXAMPLE),
)
async def bestex(
    store: StoreDep,
    catalog: CatalogDep,
    start: StartParam = None,
    end: EndParam = None,
    underlying: UnderlyingParam = None,
    venue: VenueParam = None,
    instrument: InstrumentParam = None,
    limit: LimitParam = DEFAULT_LIMIT,
) -> JsonResponse:
    """Rule 605-style execution quality of every token trade: quoted, effective and
    realized spreads, price impact and improvement against the consolidated token BBO
    and the underlying NBBO (execution_quality). ``end - start`` is at most 31 days."""
    check_filters(catalog, underlying=underlying, venue=venue, instrument=instrument)
    span = parse_range(start, end, max_span_ns=MAX_SPAN_BESTEX_NS)
    params = {**span.params(), "underlying": underlying, "venue": venue, "instrument": instrument}
    page, next_start = await fetch_page(store, "api_bestex", params, limit)
    rows = render_rows(page, times=("ts_event", "bbo_ts", "ref_ts"))
    return JsonResponse({"rows": rows, "next_start": next_start})


@router.get(
    "/api/bestex/scorecard",
    response_class=JsonResponse,
    summary="Daily venue scorecard",
    responses=page_response("one page of scorecard rows in day order", _SCORECARD_EXAMPLE),
)
async def scorecard(
    store: StoreDep,
    catalog: CatalogDep,
    start: StartParam = None,
    end: EndParam = None,
    underlying: UnderlyingParam = None,
    venue: VenueParam = None,
    limit: LimitParam = DEFAULT_LIMIT,
) -> JsonResponse:
    """The FINRA 5310-style venue scorecard per ET day and Rule 605 notional bucket
    (venue_scorecard_daily). ``start``/``end`` bound the day at 00:00 UTC (``day_ns``);
    ``end - start`` is at most 3,660 days."""
    check_filters(catalog, underlying=underlying, venue=venue)
    span = parse_range(start, end, max_span_ns=MAX_SPAN_SCORECARD_NS)
    params = {**span.params(), "underlying": underlying, "venue": venue}
    page, next_start = await fetch_page(store, "api_scorecard", params, limit, key="day_ns")
    return JsonResponse({"rows": render_rows(page), "next_start": next_start})


@router.get(
    "/api/bestex/sweeps",
    response_class=JsonResponse,
    summary="Sweep costs by notional bucket",
    responses=page_response("one page of sweep-cost samples in time order", _SWEEP_EXAMPLE),
)
async def sweeps(
    store: StoreDep,
    catalog: CatalogDep,
    start: StartParam = None,
    end: EndParam = None,
    underlying: UnderlyingParam = None,
    side: Annotated[Literal["buy", "sell"] | None, Query(description="only this side")] = None,
    limit: LimitParam = DEFAULT_LIMIT,
) -> JsonResponse:
    """Cost of sweeping the token's liquidity for each Rule 605 notional, consolidated
    and on the best single venue, against the underlying's NBBO mid (sweep_costs_1m).
    ``end - start`` is at most 93 days."""
    check_filters(catalog, underlying=underlying)
    span = parse_range(start, end, max_span_ns=MAX_SPAN_SWEEPS_NS)
    params = {**span.params(), "underlying": underlying, "side": side}
    page, next_start = await fetch_page(store, "api_sweeps", params, limit)
    return JsonResponse({"rows": render_rows(page, times=("ts_event",)), "next_start": next_start})


@router.get(
    "/api/bands",
    response_class=JsonResponse,
    summary="Shadow LULD bands",
    responses=page_response("one page of band states in time order", _BAND_EXAMPLE),
)
async def bands(
    store: StoreDep,
    catalog: CatalogDep,
    start: StartParam = None,
    end: EndParam = None,
    underlying: UnderlyingParam = None,
    limit: LimitParam = DEFAULT_LIMIT,
) -> JsonResponse:
    """Changes of the shadow LULD band state per underlying, each in force until the
    next row of the underlying (luld_bands, docs/metrics.md). ``end - start`` is at
    most 93 days."""
    check_filters(catalog, underlying=underlying)
    span = parse_range(start, end, max_span_ns=MAX_SPAN_BANDS_NS)
    params = {**span.params(), "underlying": underlying}
    page, next_start = await fetch_page(store, "api_bands", params, limit)
    return JsonResponse({"rows": render_rows(page, times=("ts_event",)), "next_start": next_start})


@router.get(
    "/api/bands/events",
    response_class=JsonResponse,
    summary="Shadow LULD events",
    responses=page_response("one page of band events by start time", _EVENT_EXAMPLE),
)
async def band_events(
    store: StoreDep,
    catalog: CatalogDep,
    start: StartParam = None,
    end: EndParam = None,
    underlying: UnderlyingParam = None,
    venue: VenueParam = None,
    event: Annotated[
        Literal["band_breach", "limit_state_equiv", "pause_equiv", "off_hours_band"] | None,
        Query(description="only this kind of event"),
    ] = None,
    limit: LimitParam = DEFAULT_LIMIT,
) -> JsonResponse:
    """What an equity venue would have done against the token's shadow LULD bands:
    band breaches, limit states, pauses and off-hours band trades (luld_events), by
    ``ts_start``. ``end - start`` is at most 93 days."""
    check_filters(catalog, underlying=underlying, venue=venue)
    span = parse_range(start, end, max_span_ns=MAX_SPAN_BANDS_NS)
    params = {**span.params(), "underlying": underlying, "venue": venue, "event": event}
    page, next_start = await fetch_page(store, "api_band_events", params, limit, key="ts_start_ns")
    rows = render_rows(page, times=("ts_start", "ts_end"))
    return JsonResponse({"rows": rows, "next_start": next_start})
