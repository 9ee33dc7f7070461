"""The frames the metrics engine passes between its pure functions (issue #5).

Every price here is **USD per underlying share**: a token quote in its quote currency is
converted with the stablecoin median (``fx_rate``) and divided by the token's multiplier
``k`` (1 for rebasing tokens), so a token venue, a pool and the stock's NBBO are directly
comparable. Sizes are **underlying shares** (token units × k). Timestamps are
``Datetime("ns")`` UTC, venue event time.

- :data:`USD_QUOTES_SCHEMA`: one row per top-of-book observation of one venue (a CEX book
  top or a pool's marginal bid/ask), valid books only. ``source_kind`` is ``book`` or
  ``pool``; ``fee_bps`` the taker fee (0 for a pool: its LP fee is inside bid/ask).
- :data:`USD_TRADES_SCHEMA`: one row per token trade; ``side`` is the aggressor
  (``buy``/``sell``/``unknown``), ``notional_usd = price × size``.
- :data:`REFERENCE_NBBO_SCHEMA`: the underlying's NBBO (the reference feed), with the
  calendar ``session`` at that instant.
- :data:`CONSOLIDATED_BBO_SCHEMA`: the consolidated token BBO per underlying, one row per
  change, with the venue at each side (ties: the venue that reached the price first).
- :data:`BOOK_LEVELS_SCHEMA` / :data:`POOL_CURVES_SCHEMA`: depth inputs at sample times.
- :data:`TIERS_SCHEMA`, :data:`OFFICIAL_CLOSES_SCHEMA`, :data:`REFERENCE_LAST_SCHEMA`: the
  underlying's LULD tier, official closes and last regular-session reference price, the
  inputs of the shadow volatility controls and the premium/discount disclosure.
"""

from __future__ import annotations

import polars as pl

TS: pl.DataType = pl.Datetime("ns")

USD_QUOTES_SCHEMA = pl.Schema(
    {
        "ts_event": TS,
        "underlying": pl.String(),
        "venue": pl.String(),
        "instrument_id": pl.String(),
        "source_kind": pl.String(),
        "bid": pl.Float64(),
        "bid_sz": pl.Float64(),
        "ask": pl.Float64(),
        "ask_sz": pl.Float64(),
        "fee_bps": pl.Float64(),
        "source_seq": pl.Int64(),
    }
)
USD_TRADES_SCHEMA = pl.Schema(
    {
        "ts_event": TS,
        "underlying": pl.String(),
        "venue": pl.String(),
        "instrument_id": pl.String(),
        "trade_id": pl.String(),
        "price": pl.Float64(),
        "size": pl.Float64(),
        "notional_usd": pl.Float64(),
        "side": pl.String(),
        "source_seq": pl.Int64(),
    }
)
REFERENCE_NBBO_SCHEMA = pl.Schema(
    {
        "ts_event": TS,
        "underlying": pl.String(),
        "nbb": pl.Float64(),
        "nbo": pl.Float64(),
        "session": pl.String(),
    }
)
CONSOLIDATED_BBO_SCHEMA = pl.Schema(
    {
        "ts_event": TS,
        "underlying": pl.String(),
        "best_bid": pl.Float64(),
        "best_bid_sz": pl.Float64(),
        "best_bid_venue": pl.String(),
        "best_ask": pl.Float64(),
        "best_ask_sz": pl.Float64(),
        "best_ask_venue": pl.String(),
        "venues": pl.Int32(),
    }
)
BOOK_LEVELS_SCHEMA = pl.Schema(
    {
        "ts_event": TS,
        "underlying": pl.String(),
        "venue": pl.String(),
        "instrument_id": pl.String(),
        "side": pl.String(),
        "price": pl.Float64(),
        "size": pl.Float64(),
        "fee_bps": pl.Float64(),
    }
)
"""A book's levels at one sample time (``ts_event``): ``side`` is ``bid`` or ``ask``."""
POOL_CURVES_SCHEMA = pl.Schema(
    {
        "ts_event": TS,
        "underlying": pl.String(),
        "venue": pl.String(),
        "instrument_id": pl.String(),
        "kind": pl.String(),
        "price": pl.Float64(),
        "reserve_base": pl.Float64(),
        "reserve_quote": pl.Float64(),
        "liquidity": pl.Float64(),
        "fee_bps": pl.Float64(),
    }
)
"""A pool's state at one sample time, in USD per share and shares: ``kind`` is
``constant_product`` (reserves) or ``concentrated`` (virtual liquidity ``L`` in range)."""
TIERS_SCHEMA = pl.Schema({"underlying": pl.String(), "tier": pl.Int32()})
"""The underlying's LULD tier (1 or 2, metrics.md §5.1); it sets the band percentage."""
OFFICIAL_CLOSES_SCHEMA = pl.Schema(
    {"underlying": pl.String(), "trading_day": pl.Date(), "close": pl.Float64()}
)
"""The underlying's official closing price (USD per share) of each XNYS trading day."""
REFERENCE_LAST_SCHEMA = pl.Schema(
    {"ts_event": TS, "underlying": pl.String(), "ref_price": pl.Float64()}
)
"""A regular-session reference price (e.g. the closing mid) and when it was set."""
