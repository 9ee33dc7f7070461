"""A constant-product pool's top of book, from its price and LP fee (pure polars).

A pool has no order book, but for a marginal trade it behaves like one: selling a tiny
amount of the token into the pool pays the pool price less the LP fee, buying pays the
price grossed up by the fee. With pool price ``p`` (quote currency per token unit, raw
pool units) and LP fee ``f = fee_bps / 1e4``::

    bid = p · (1 − f)        ask = p / (1 − f)

so the spread is the round-trip fee and the mid stays within ``f²/2`` of ``p``. These rows
are token observations like any book quote (``source_kind = "pool"``); the fee is
already inside ``bid``/``ask``, so the executable basis does not charge it again.
"""

from __future__ import annotations

import polars as pl

TS: pl.DataType = pl.Datetime("ns")

POOL_STATES_SCHEMA = pl.Schema(
    {
        "ts_event": TS,
        "ts_recv": TS,
        "instrument_id": pl.String(),
        "venue": pl.String(),
        "price": pl.Float64(),
        "fee_bps": pl.Float64(),
        "ingest_seq": pl.Int64(),
    }
)


def compute_pool_quotes(pool_states: pl.LazyFrame) -> pl.LazyFrame:
    """Pool states (``POOL_STATES_SCHEMA``) as token observations (bid/ask, one per state)."""
    fee = pl.col("fee_bps").cast(pl.Float64) / 1e4
    price = pl.col("price").cast(pl.Float64)
    return pool_states.select(
        pl.col("ts_event").cast(TS),
        pl.col("ts_recv").cast(TS),
        pl.col("instrument_id").cast(pl.String),
        pl.col("venue").cast(pl.String),
        (price * (1.0 - fee)).alias("bid_px"),
        (price / (1.0 - fee)).alias("ask_px"),
        pl.lit("pool", dtype=pl.String).alias("source_kind"),
        pl.col("ingest_seq").cast(pl.Int64).alias("source_seq"),
    )
