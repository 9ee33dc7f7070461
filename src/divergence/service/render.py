"""Query frames -> JSON rows for the API: times as ISO 8601 and epoch ns, decimals as text.

Every time goes out twice: ``<name>`` as ISO 8601 UTC with nine fractional digits
(``2025-10-10T14:30:00.123456789Z``) and ``<name>_ns`` as epoch nanoseconds. Exact
decimals (prices and sizes of quotes, trades and fx rates) go out as strings without
trailing zeros, so no client reads them through a binary float. Both conversions are
vectorized in polars: a page of 50,000 rows costs one pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import polars as pl

ISO_FORMAT = "%Y-%m-%dT%H:%M:%S%.9fZ"


def iso_column(ns_column: str, name: str) -> pl.Expr:
    """The ISO 8601 text of an epoch-ns column (null stays null)."""
    return pl.col(ns_column).cast(pl.Datetime("ns")).dt.strftime(ISO_FORMAT).alias(name)


def decimal_text(column: str) -> pl.Expr:
    """An exact decimal as its shortest text (``250.120000`` -> ``"250.12"``)."""
    text = pl.col(column).cast(pl.String)
    trimmed = text.str.strip_chars_end("0").str.strip_chars_end(".")
    return pl.when(text.str.contains(".", literal=True)).then(trimmed).otherwise(text).alias(column)


def render_rows(
    frame: pl.DataFrame, *, times: Sequence[str] = (), decimals: Sequence[str] = ()
) -> orjson.Fragment:
    """The rows as a JSON array of objects, ready to embed in an orjson answer; each ``t``
    in ``times`` is added as ISO text from its ``t_ns`` column (first in the row), each
    column in ``decimals`` becomes text. polars writes the JSON itself (NaN and
    infinities as null, 64-bit ints exact, dates as ``YYYY-MM-DD``): no Python object
    per row, about three times faster than dicts through orjson on a 50,000-row page."""
    isos = [iso_column(f"{t}_ns", t) for t in times]
    out = frame.with_columns(decimal_text(c) for c in decimals) if decimals else frame
    out = out.select([*isos, pl.all()]) if isos else out
    return orjson.Fragment(out.write_json().encode())
