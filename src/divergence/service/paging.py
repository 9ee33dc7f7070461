"""Time-range pagination and query-size limits shared by the JSON API's list endpoints.

A page is cut at a timestamp boundary, so rows sharing a time never straddle two pages;
``next_start`` (epoch ns, as a string) is the first time not returned, to be passed back
as ``start``. ``start`` is inclusive and ``end`` exclusive; both accept ISO 8601 or epoch
ns (:func:`divergence.clock.parse_time_param`). Requests over a limit are refused with
the limit named: ``limit`` above its maximum (422, by validation) or a time span longer
than the endpoint's maximum (413).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import polars as pl
from fastapi import Query

from divergence.clock import NS_PER_SECOND, parse_time_param
from divergence.errors import BadRequestError, DivergenceError
from divergence.store.db import AsyncStore

DEFAULT_LIMIT = 5_000
MAX_LIMIT = 50_000
TIE_CAP = MAX_LIMIT
"""Most rows one timestamp may hold and still be returned whole on one page."""
DAY_NS = 86_400 * NS_PER_SECOND


class QueryTooLargeError(DivergenceError):
    """A request asks for more than a limit allows; the message names the limit."""

    http_status = 413


@dataclass(frozen=True)
class TimeRange:
    """``[start_ns, end_ns)``; ``None`` is unbounded on that side."""

    start_ns: int | None
    end_ns: int | None

    def params(self) -> dict[str, int | None]:
        return {"start": self.start_ns, "end": self.end_ns}


TIME_BOUND_NS = 2**62
"""Times outside ``[-2**62, 2**62)`` ns (about 1823 to 2116) are refused: DuckDB's
``TIMESTAMP_NS`` cannot hold them."""


def parse_optional_time(text: str | None, *, name: str) -> int | None:
    """``None`` for an absent or blank parameter, else epoch ns (400 naming ``name``)."""
    if text is None or not text.strip():
        return None
    value = parse_time_param(text, name=name)
    if not -TIME_BOUND_NS <= value < TIME_BOUND_NS:
        raise BadRequestError(f"{name}: time out of range (years 1823 to 2116), found {text!r}")
    return value


StartParam = Annotated[
    str | None,
    Query(
        description="first time, inclusive: ISO 8601 (UTC if no zone) or epoch ns",
        examples=["2025-10-10T13:30:00Z"],
    ),
]
EndParam = Annotated[
    str | None,
    Query(
        description="end time, exclusive: ISO 8601 (UTC if no zone) or epoch ns",
        examples=["1760117400000000000"],
    ),
]
LimitParam = Annotated[
    int,
    Query(
        ge=1,
        le=MAX_LIMIT,
        description=f"rows per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT}); a page "
        "never splits rows sharing a time, so it may run over",
    ),
]


def parse_range(start: str | None, end: str | None, *, max_span_ns: int | None = None) -> TimeRange:
    """The range of ``start``/``end`` parameters: 400 if ``end <= start``, 413 if both are
    given and further apart than ``max_span_ns``."""
    start_ns = parse_optional_time(start, name="start")
    end_ns = parse_optional_time(end, name="end")
    if start_ns is not None and end_ns is not None:
        if end_ns <= start_ns:
            raise BadRequestError(f"end: must be after start, found start={start!r} end={end!r}")
        if max_span_ns is not None and end_ns - start_ns > max_span_ns:
            raise QueryTooLargeError(
                f"end - start: at most {describe_span(max_span_ns)} per request "
                f"(max_span), found {describe_span(end_ns - start_ns)}; page through "
                "shorter ranges"
            )
    return TimeRange(start_ns, end_ns)


def describe_span(span_ns: int) -> str:
    if span_ns % DAY_NS == 0:
        return f"{span_ns // DAY_NS} days"
    return f"{span_ns / NS_PER_SECOND:g} s"


async def fetch_page(
    store: AsyncStore,
    query: str,
    params: dict[str, Any],
    limit: int,
    *,
    key: str = "ts_event_ns",
) -> tuple[pl.DataFrame, str | None]:
    """One page of the named query (params ``$start``, ``$end``, ``$limit``; rows in order
    of the epoch-ns column ``key``) and the ``next_start`` cursor, or ``None`` at the end."""
    frame = await store.named(query, {**params, "limit": limit + 1})
    return await cut_page(store, query, frame, params, limit, key=key)


async def cut_page(
    store: AsyncStore,
    query: str,
    frame: pl.DataFrame,
    params: dict[str, Any],
    limit: int,
    *,
    key: str = "ts_event_ns",
) -> tuple[pl.DataFrame, str | None]:
    """Cut ``frame`` (``limit + 1`` rows at most) at a timestamp boundary.

    If more than ``limit`` rows share the first time, that whole time is returned (up to
    :data:`TIE_CAP` rows) and the page runs over ``limit``.
    """
    if frame.height <= limit:
        return frame, None
    boundary = int(frame[key][limit])
    page = frame.filter(pl.col(key) < boundary)
    if page.is_empty():
        tied = {**params, "start": boundary, "end": boundary + 1, "limit": TIE_CAP + 1}
        page = await store.named(query, tied)
        boundary += 1
        rest = await store.named(query, {**params, "start": boundary, "limit": 1})
        return page, (str(boundary) if rest.height else None)
    return page, str(boundary)
