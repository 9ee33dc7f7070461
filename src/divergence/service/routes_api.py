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
from starlette.responses import Response

from divergence.catalog import Catalog, Reference, Token
from divergence.clock import NS_PER_SECOND, datetime_from_ns, ns_from_datetime, parse_time_param
from divergence.errors import BadRequestError, NotFoundError
from divergence.service.deps import CatalogDep, RuntimeDep, StoreDep, check_underlying
from divergence.store.db import AsyncStore

router = APIRouter()
DEFAULT_LIMIT = 5_000
MAX_LIMIT = 50_000


class JsonResponse(Response):
    """JSON through orjson (NaN and infinities become null instead of failing)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def iso_ns(ts_ns: int) -> str:
    """Epoch ns -> ``2025-10-10T14:30:00.123456789Z``."""
    seconds, fraction = divmod(ts_ns, NS_PER_SECOND)
    whole = datetime_from_ns(seconds * NS_PER_SECOND).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{fraction:09d}Z"


def parse_optional_time(text: str | None, *, name: str) -> int | None:
    return None if text is None or not text.strip() else parse_time_param(text, name=name)


@router.get("/health", response_class=JsonResponse)
async def health(runtime: RuntimeDep) -> JsonResponse:
    return JsonResponse({"status": "ok", **runtime.health()})


@router.get("/api/instruments", response_class=JsonResponse)
async def instruments(
    catalog: CatalogDep,
    underlying: Annotated[str | None, Query(description="only this underlying")] = None,
) -> JsonResponse:
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


@router.get("/api/basis", response_class=JsonResponse)
async def basis(
    store: StoreDep,
    catalog: CatalogDep,
    underlying: Annotated[str, Query(description="e.g. AAPL")],
    start: Annotated[str | None, Query(description="ISO 8601 or epoch ns, inclusive")] = None,
    end: Annotated[str | None, Query(description="ISO 8601 or epoch ns, exclusive")] = None,
    venue: Annotated[str | None, Query(description="only this venue")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> JsonResponse:
    check_underlying(catalog, underlying)
    start_ns = parse_optional_time(start, name="start")
    end_ns = parse_optional_time(end, name="end")
    if start_ns is not None and end_ns is not None and end_ns <= start_ns:
        raise BadRequestError(f"end: must be after start, found start={start!r} end={end!r}")
    if venue is not None and venue not in {t.venue for t in catalog.tokens_for(underlying)}:
        raise NotFoundError(f"venue: no {underlying} token is listed on {venue!r}")
    params = {"underlying": underlying, "start": start_ns, "end": end_ns, "venue": venue}
    frame = await store.named("api_basis", {**params, "limit": limit + 1})
    page, next_start = await _page(store, frame, params, limit)
    return JsonResponse(
        {"underlying": underlying, "rows": render_basis_rows(page), "next_start": next_start}
    )


async def _page(
    store: AsyncStore, frame: pl.DataFrame, params: dict[str, Any], limit: int
) -> tuple[pl.DataFrame, str | None]:
    """Cut at a timestamp boundary so rows sharing a time never straddle two pages.

    ``next_start`` is the first time not returned. If more than ``limit`` rows share
    the first time, that whole time is returned and the page runs over ``limit``.
    """
    if frame.height <= limit:
        return frame, None
    boundary = int(frame["ts_event_ns"][limit])
    page = frame.filter(pl.col("ts_event_ns") < boundary)
    if page.is_empty():
        tied = {**params, "start": boundary, "end": boundary + 1, "limit": MAX_LIMIT + 1}
        page = await store.named("api_basis", tied)
        boundary += 1
        rest = await store.named("api_basis", {**params, "start": boundary, "limit": 1})
        return page, (str(boundary) if rest.height else None)
    return page, str(boundary)


def render_basis_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [{"ts_event": iso_ns(row["ts_event_ns"]), **row} for row in frame.iter_rows(named=True)]
