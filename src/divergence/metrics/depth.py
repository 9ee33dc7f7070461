"""Depth within X bps of a book (metrics.md §3.2) and of an AMM pool (metrics.md §3.3).

Both work on sampled states in USD per underlying share and shares
(:data:`~divergence.metrics.schemas.BOOK_LEVELS_SCHEMA`,
:data:`~divergence.metrics.schemas.POOL_CURVES_SCHEMA`); ``δ = X / 1e4``, X from
:attr:`DepthParams.bps` (default ±10, 25, 50, 100, 200 bps, metrics.md §9).

**Book** (§3.2), around the book's own mid ``m = (best bid + best ask) / 2``::

    ask_depth_usd = Σ p·q over ask levels with p ≤ m·(1 + δ)
    bid_depth_usd = Σ p·q over bid levels with p ≥ m·(1 − δ)

**Constant-product pool** (§3.3), reserves ``x`` shares and ``y`` USD, ``p = y / x``, LP
fee ``f = fee_bps / 1e4``::

    ask_depth_usd = Δy = y·(√(1 + δ) − 1)            USD in that moves p up by δ
    ask_depth_with_fee_usd = Δy / (1 − f)
    bid_depth_usd = Δx·p,  Δx = x·(1/√(1 − δ) − 1)    shares in that move p down by δ
    bid_depth_with_fee_usd = Δx·p / (1 − f)           (the same fee-on-input convention)

**Concentrated liquidity** (§3.3): inside the current range the pool is a constant-product
pool with virtual reserves ``x_v = L/√p``, ``y_v = L·√p``. The store keeps only the
current range's ``L`` (no tick-level ``liquidityNet``), so liquidity beyond the range is
*unknown*: with the range's curve-price bounds in the optional columns ``price_lower`` /
``price_upper`` (USD per share), depth counts only up to the bound; without them nothing
beyond the current price is provable and the depth is 0. A side whose band is not fully
inside the known range has ``*_complete = false``: its depth is a lower bound.

A book side is ``complete`` when a level lies beyond the band (so the visible book covers
the band); otherwise the depth is what the visible levels show, a lower bound.

Each output row depends only on input rows at the same ``ts_event``:
:data:`BOOK_DEPTH_LOOKBACK_NS` and :data:`POOL_DEPTH_LOOKBACK_NS` are 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from divergence.errors import ConfigError
from divergence.metrics.schemas import BOOK_LEVELS_SCHEMA, POOL_CURVES_SCHEMA

TS: pl.DataType = pl.Datetime("ns")

DEPTH_BPS: tuple[int, ...] = (10, 25, 50, 100, 200)
"""The depth grid, metrics.md §9."""
BOOK_DEPTH_LOOKBACK_NS = 0
"""A book depth row reads only the levels sampled at its own ``ts_event``."""
POOL_DEPTH_LOOKBACK_NS = 0
"""A pool depth row reads only the pool state sampled at its own ``ts_event``."""
BAND_TOLERANCE_BPS = 1e-9
"""A level this close to the band edge counts as inside it (absorbs float rounding of m·(1±δ))."""
POOL_KINDS = ("constant_product", "concentrated")

BOOK_KEYS = ["ts_event", "underlying", "venue", "instrument_id"]
BOOK_DEPTH_SCHEMA = pl.Schema(
    {
        "ts_event": TS,
        "underlying": pl.String(),
        "venue": pl.String(),
        "instrument_id": pl.String(),
        "bps": pl.Int32(),
        "mid_usd": pl.Float64(),
        "bid_depth_usd": pl.Float64(),
        "ask_depth_usd": pl.Float64(),
        "bid_complete": pl.Boolean(),
        "ask_complete": pl.Boolean(),
    }
)
"""Per book, sample and X; ``mid_usd`` and the depths are null while a side is empty."""
POOL_DEPTH_SCHEMA = pl.Schema(
    {
        "ts_event": TS,
        "underlying": pl.String(),
        "venue": pl.String(),
        "instrument_id": pl.String(),
        "kind": pl.String(),
        "bps": pl.Int32(),
        "price_usd": pl.Float64(),
        "bid_depth_usd": pl.Float64(),
        "ask_depth_usd": pl.Float64(),
        "bid_depth_with_fee_usd": pl.Float64(),
        "ask_depth_with_fee_usd": pl.Float64(),
        "bid_complete": pl.Boolean(),
        "ask_complete": pl.Boolean(),
    }
)
"""Per pool, sample and X; ``price_usd`` is the curve price p the band is centred on."""


@dataclass(frozen=True)
class DepthParams:
    """``bps``: the X grid (default :data:`DEPTH_BPS`, metrics.md §9), each in (0, 10000)."""

    bps: tuple[int, ...] = DEPTH_BPS

    def __post_init__(self) -> None:
        bad = [x for x in self.bps if not 0 < x < 10_000]
        if bad or not self.bps:
            raise ConfigError(
                f"needs values in (0, 10000) bps, found {list(self.bps)}",
                key="depth.bps",
                source="params",
            )


def _grid(params: DepthParams) -> pl.LazyFrame:
    return pl.LazyFrame({"bps": list(params.bps)}, schema={"bps": pl.Int32()})


def compute_book_depth(levels: pl.LazyFrame, *, params: DepthParams) -> pl.LazyFrame:
    """USD depth within X bps of each book's mid (``BOOK_DEPTH_SCHEMA``), metrics.md §3.2.

    ``levels`` follow ``BOOK_LEVELS_SCHEMA`` (extra columns ignored). Sorted by
    ts_event, venue, instrument_id, bps.
    """
    lv = levels.select(pl.col(n).cast(t) for n, t in BOOK_LEVELS_SCHEMA.items())
    side = pl.col("side")
    mids = (
        lv.group_by(BOOK_KEYS)
        .agg(
            pl.col("price").filter(side == "bid").max().alias("_bb"),
            pl.col("price").filter(side == "ask").min().alias("_ba"),
        )
        .with_columns(((pl.col("_bb") + pl.col("_ba")) / 2).alias("mid_usd"))
    )
    rows = mids.join(_grid(params), how="cross").join(lv, on=BOOK_KEYS, how="left")
    away_bps = (
        pl.when(side == "ask")
        .then(pl.col("price") / pl.col("mid_usd") - 1)
        .otherwise(1 - pl.col("price") / pl.col("mid_usd"))
        * 1e4
    )
    inside = away_bps <= pl.col("bps") + BAND_TOLERANCE_BPS
    notional = pl.col("price") * pl.col("size")
    aggs = [pl.col("mid_usd").first()]
    for name in ("bid", "ask"):
        aggs.append(notional.filter((side == name) & inside).sum().alias(f"{name}_depth_usd"))
        aggs.append(((side == name) & ~inside).any().alias(f"{name}_complete"))
    one_sided = pl.col("mid_usd").is_null()
    return (
        rows.group_by([*BOOK_KEYS, "bps"])
        .agg(aggs)
        .with_columns(
            pl.when(~one_sided).then(pl.col(c)).alias(c)
            for c in ("bid_depth_usd", "ask_depth_usd", "bid_complete", "ask_complete")
        )
        .select(pl.col(n).cast(t) for n, t in BOOK_DEPTH_SCHEMA.items())
        .sort(["ts_event", "venue", "instrument_id", "bps"])
    )


def _optional(names: list[str], name: str) -> pl.Expr:
    if name in names:
        return pl.col(name).cast(pl.Float64)
    return pl.lit(None, dtype=pl.Float64).alias(name)


def with_curve(pools: pl.LazyFrame) -> pl.LazyFrame:
    """Pools (``POOL_CURVES_SCHEMA`` + optional ``price_lower``/``price_upper``) with their
    curve in common terms: ``curve_x`` shares and ``curve_y`` USD (real or virtual
    reserves), ``curve_p = curve_y / curve_x``, the provable curve-price range
    [``curve_lo``, ``curve_hi``] and the LP fee ``curve_f`` as a fraction.

    Constant product: reserves, range (0, ∞). Concentrated: ``x_v = L/√p``,
    ``y_v = L·√p``, range = the known bounds, each replaced by ``p`` when unknown (nothing
    provable on that side). Pools of other kinds, or with non-positive curves, are dropped.
    """
    names = pools.collect_schema().names()
    base = pools.select(
        *(pl.col(n).cast(t) for n, t in POOL_CURVES_SCHEMA.items()),
        _optional(names, "price_lower"),
        _optional(names, "price_upper"),
    )
    cp = pl.col("kind") == "constant_product"
    root = pl.col("price").sqrt()
    x = pl.when(cp).then(pl.col("reserve_base")).otherwise(pl.col("liquidity") / root)
    y = pl.when(cp).then(pl.col("reserve_quote")).otherwise(pl.col("liquidity") * root)
    p = pl.when(cp).then(pl.col("curve_y") / pl.col("curve_x")).otherwise(pl.col("price"))
    lo = pl.when(cp).then(0.0).otherwise(pl.min_horizontal("price_lower", p).fill_null(p))
    hi = pl.when(cp).then(float("inf")).otherwise(pl.max_horizontal("price_upper", p))
    return (
        base.filter(pl.col("kind").is_in(POOL_KINDS))
        .with_columns(x.alias("curve_x"), y.alias("curve_y"))
        .filter((pl.col("curve_x") > 0) & (pl.col("curve_y") > 0))
        .with_columns(
            p.alias("curve_p"),
            lo.alias("curve_lo"),
            hi.alias("curve_hi"),
            (pl.col("fee_bps") / 1e4).alias("curve_f"),
        )
    )


def compute_pool_depth(pools: pl.LazyFrame, *, params: DepthParams) -> pl.LazyFrame:
    """USD depth within X bps of each pool's curve price (``POOL_DEPTH_SCHEMA``), §3.3.

    ``pools`` follow ``POOL_CURVES_SCHEMA``, optionally with ``price_lower`` and
    ``price_upper`` for concentrated pools. Sorted by ts_event, venue, instrument_id, bps.
    """
    delta = pl.col("bps").cast(pl.Float64) / 1e4
    p, fee = pl.col("curve_p"), 1 - pl.col("curve_f")
    up = p * (1 + delta)
    down = p * (1 - delta)
    ask = pl.col("curve_y") * ((pl.min_horizontal(up, "curve_hi") / p).sqrt() - 1)
    bid = pl.col("curve_x") * ((p / pl.max_horizontal(down, "curve_lo")).sqrt() - 1) * p
    return (
        with_curve(pools)
        .join(_grid(params), how="cross")
        .with_columns(
            p.alias("price_usd"),
            bid.alias("bid_depth_usd"),
            ask.alias("ask_depth_usd"),
            (bid / fee).alias("bid_depth_with_fee_usd"),
            (ask / fee).alias("ask_depth_with_fee_usd"),
            (down >= pl.col("curve_lo")).alias("bid_complete"),
            (up <= pl.col("curve_hi")).alias("ask_complete"),
        )
        .select(pl.col(n).cast(t) for n, t in POOL_DEPTH_SCHEMA.items())
        .sort(["ts_event", "venue", "instrument_id", "bps"])
    )
