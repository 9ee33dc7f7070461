"""The JSON API: health, the instrument catalog and basis rows.

Times go out twice: ``ts_event`` as ISO 8601 UTC with nine fractional digits and
``ts_event_ns`` as epoch nanoseconds. Time parameters accept either form
(:func:`divergence.clock.parse_time_param`); ``start`` is inclusive, ``end`` exclusive.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import polars as pl
from fastapi import APIRouter, Query
from starlette.responses import JSONResponse

from divergence.catalog import Catalog, Reference, Token
from divergence.clock import NS_PER_SECOND, datetime_from_ns, ns_from_datetime
from divergence.errors import NotFoundError
from divergence.service.api_models import COMMON_ERRORS, error_responses, page_response
from divergence.service.api_schemas import HealthOut, InstrumentsOut
from divergence.service.deps import CatalogDep, RuntimeDep, StoreDep, check_underlying
from divergence.service.paging import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    EndParam,
    LimitParam,
    StartParam,
    fetch_page,
    parse_optional_time,
    parse_range,
)

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "JsonResponse", "iso_ns", "parse_optional_time"]
router = APIRouter()


class JsonResponse(JSONResponse):
    """JSON through orjson (NaN and infinities become null instead of failing); a
    ``JSONResponse`` so the OpenAPI document declares its body as JSON."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def iso_ns(ts_ns: int) -> str:
    """Epoch ns -> ``2025-10-10T14:30:00.123456789Z``."""
    seconds, fraction = divmod(ts_ns, NS_PER_SECOND)
    whole = datetime_from_ns(seconds * NS_PER_SECOND).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{fraction:09d}Z"


@router.get(
    "/health",
    response_class=JsonResponse,
    tags=["operations"],
    summary="Liveness and runtime counters",
    response_model=HealthOut,
    responses={
        200: {
            "description": "`status: ok` and the runtime's counters (feeds, writer, jobs)",
            "content": {"application/json": {"example": {"status": "ok", "feeds": {}}}},
        },
        **error_responses(503),
    },
)
async def health(runtime: RuntimeDep) -> JsonResponse:
    """Answers 200 while the service runs, with each part's counters (feeds, writer,
    basis/metrics/depth/alerts jobs, webhooks). Needs no API key."""
    return JsonResponse({"status": "ok", **runtime.health()})


@router.get(
    "/api/instruments",
    response_class=JsonResponse,
    tags=["reference data"],
    summary="The instrument catalog",
    response_model=InstrumentsOut,
    responses={
        200: {"description": "tokens, then reference instruments"},
        **error_responses(404),
        **COMMON_ERRORS,
    },
)
async def instruments(
    catalog: CatalogDep,
    underlying: Annotated[
        str | None, Query(description="only this underlying", examples=["AAPL"])
    ] = None,
) -> JsonResponse:
    """Every token listing (venue, symbol, quote currency, issuer, chain, multiplier
    history as exact decimal strings) and every reference instrument of the catalog."""
    if underlying is not None:
        check_underlying(catalog, underlying)
    return JsonResponse({"instruments": render_instruments(catalog, underlying)})


def render_instruments(catalog: Catalog, underlying: str | None) -> list[dict[str, Any]]:
    """Tokens then references, as JSON rows (multipliers as exact decimal strings)."""
    rows = [_token_row(t) for t in catalog.token] + [_reference_row(r) for r in catalog.reference]
    return [r for r in rows if underlying is None or r["underlying"] == underlying]


def _token_row(token: Token) -> dict[str, Any]:
    history = []
    for m in token.multipliers:
        ts = ns_from_datetime(m.effective_from)
        history.append(
            {"effective_from": iso_ns(ts), "effective_from_ns": ts, "value": str(m.value)}
        )
    return {
        "id": token.id,
        "role": "token",
        "venue": token.venue,
        "symbol": token.venue_symbol,
        "underlying": token.underlying,
        "quote_currency": token.quote_currency,
        "issuer": token.issuer,
        "product": token.product,
        "chain": token.chain,
        "contract": token.contract,
        "trading_hours": token.trading_hours,
        "multipliers": history,
    }


def _reference_row(ref: Reference) -> dict[str, Any]:
    return {
        "id": ref.id,
        "role": "reference",
        "venue": ref.venue,
        "symbol": ref.symbol,
        "underlying": ref.underlying,
        "quote_currency": "USD",
        "issuer": None,
        "product": None,
        "chain": None,
        "contract": None,
        "trading_hours": "market",
        "multipliers": [],
    }


_BASIS_EXAMPLE = {
    "ts_event": "2025-10-10T13:30:00.000000000Z",
    "ts_event_ns": 1760103000000000000,
    "instrument_id": "AAPLx@simx-a",
    "venue": "simx-a",
    "underlying": "AAPL",
    "session": "regular",
    "mid_usd": 250.35,
    "ref_mid": 250.1,
    "basis_bps": 10.0,
}


@router.get(
    "/api/basis",
    response_class=JsonResponse,
    tags=["analytics"],
    summary="Basis of an underlying's tokens",
    responses=page_response("one page of basis rows in time order", _BASIS_EXAMPLE),
)
async def basis(
    store: StoreDep,
    catalog: CatalogDep,
    underlying: Annotated[str, Query(description="the underlying", examples=["AAPL"])],
    start: StartParam = None,
    end: EndParam = None,
    venue: Annotated[str | None, Query(description="only this venue", examples=["simx-a"])] = None,
    limit: LimitParam = DEFAULT_LIMIT,
) -> JsonResponse:
    """Each token quote or pool state in USD against the underlying's reference, in bps
    (``basis_bps``, ``exec_basis_bps``), with the session, reference kind and fx used."""
    check_underlying(catalog, underlying)
    span = parse_range(start, end)
    if venue is not None and venue not in {t.venue for t in catalog.tokens_for(underlying)}:
        raise NotFoundError(f"venue: no {underlying} token is listed on {venue!r}")
    params = {"underlying": underlying, **span.params(), "venue": venue}
    page, next_start = await fetch_page(store, "api_basis", params, limit)
    return JsonResponse(
        {"underlying": underlying, "rows": render_basis_rows(page), "next_start": next_start}
    )


def render_basis_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [{"ts_event": iso_ns(row["ts_event_ns"]), **row} for row in frame.iter_rows(named=True)]
