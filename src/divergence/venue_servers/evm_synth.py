"""A deterministic synthetic Ethereum session: Uniswap v3 ``Swap`` logs of the catalog's pools.

:func:`synthesize` walks 12-second slots. Each slot's block holds a Poisson number of
swaps per pool; every swap runs the pool's real v3 maths inside one liquidity range
(exact input, fee taken from the input, ``sqrtPriceX96`` moved by the net amount and
``L``, the output rounded down as ``SwapMath`` does), so the logs are internally
consistent and the price drifts around a target (AAPLx about 230 USDC, TSLAx about
430 USDC) with mean reversion.

Half-way through, one block is orphaned: the next slot carries the same logs again with
``removed: true`` (what a node sends on a reorg), then the replacement block at the same
height with a new hash, holding the same transactions re-executed on the pre-reorg
state at new log positions. Frames are the log objects themselves, in the exact
``eth_getLogs``/``eth_subscription`` shape, with ``blockTimestamp`` from a fixed base time.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

from divergence.catalog import Catalog, Token, load_catalog
from divergence.content import recordings_dir
from divergence.venue_servers.recording import RecordedFrame
from divergence.venues.uniswap_v3 import SWAP_TOPIC
from divergence.venues.uniswap_v3_math import Q96, Q192

VENUE = "uniswap-eth"
BLOCK_MS = 12_000
FIRST_BLOCK = 21_600_000
START_S = 1_751_378_400
"""2025-07-01T14:00:00Z: ``blockTimestamp`` of the first slot."""
ROUTER = "68b3465833fb72a70ecdf485e0e4c7bd8665fc45"
"""Uniswap SwapRouter02, the ``sender`` topic of every swap."""
TARGET_PRICES = {"AAPL": Decimal(230), "TSLA": Decimal(430), "NVDA": Decimal(180)}
QUOTE_DEPTH = 10_000_000
"""Virtual quote reserve of each pool at the start, in quote units (USDC)."""
SWAPS_PER_BLOCK = 1.6


@dataclass(frozen=True)
class SimPool:
    """One pool's static terms and its mutable state (``sqrt_price``, ``liquidity``)."""

    token: Token
    sqrt_price: int
    liquidity: int
    target: float

    @property
    def base_is_token0(self) -> bool:
        assert self.token.pool is not None
        return self.token.pool.base_is_token0

    def decimals(self) -> tuple[int, int]:
        """(base decimals, quote decimals)."""
        pool = self.token.pool
        assert pool is not None
        if pool.base_is_token0:
            return pool.token0_decimals, pool.token1_decimals
        return pool.token1_decimals, pool.token0_decimals

    def price(self) -> float:
        """Human price of the base in the quote (float: only for random choices)."""
        base_dec, quote_dec = self.decimals()
        raw = Fraction(self.sqrt_price * self.sqrt_price, Q192)
        if not self.base_is_token0:
            raw = 1 / raw
        return float(raw * Fraction(10**base_dec, 10**quote_dec))


@dataclass(frozen=True)
class Intent:
    """A swap a trader sends: pool, whether they buy the stock, gross input in raw units."""

    symbol: str
    buy: bool
    amount_in: int
    tx_hash: str
    recipient: str


def synthesize(
    seed: int = 1,
    seconds: float = 60.0,
    *,
    catalog: Catalog | None = None,
    venue: str = VENUE,
    swaps_per_block: float = SWAPS_PER_BLOCK,
) -> list[RecordedFrame]:
    """The recorded session: one frame per log, ``stream`` = ``pool:<venue symbol>``."""
    cat = catalog or load_catalog(recordings_dir() / "catalog.toml")
    rng = random.Random(seed)
    pools = {t.venue_symbol: _initial_pool(t) for t in cat.tokens_on(venue) if t.pool}
    streams = {p.token.pool.address: f"pool:{s}" for s, p in pools.items() if p.token.pool}
    slots = max(3, int(seconds * 1000) // BLOCK_MS)
    reorg_slot = slots // 2
    frames: list[RecordedFrame] = []
    number = FIRST_BLOCK
    orphan: tuple[list[Intent], dict[str, SimPool], list[dict[str, Any]]] | None = None
    for slot in range(slots):
        at_ms = 1_000 + slot * BLOCK_MS
        timestamp = START_S + slot * BLOCK_MS // 1000
        for symbol, pool in pools.items():
            pools[symbol] = replace(pool, target=pool.target * math.exp(rng.gauss(0, 0.0004)))
        if orphan is not None:  # the reorg: retract the orphaned block, replay its txs
            intents, before, logs = orphan
            frames += [
                RecordedFrame(at_ms=at_ms, stream=streams[lg["address"]], frame=lg) for lg in logs
            ]
            pools.update(before)
            number -= 1
            block_hash = _hash(f"{seed}:block:{number}:replacement")
            logs = _build_block(rng, pools, intents, number, block_hash, timestamp)
            orphan = None
        else:
            intents = _intents(rng, pools, seed, slot, swaps_per_block, force=slot == reorg_slot)
            before = dict(pools)
            block_hash = _hash(f"{seed}:block:{number}")
            logs = _build_block(rng, pools, intents, number, block_hash, timestamp)
            if slot == reorg_slot:
                orphan = (intents, before, [{**lg, "removed": True} for lg in logs])
        frames += [
            RecordedFrame(at_ms=at_ms, stream=streams[lg["address"]], frame=lg) for lg in logs
        ]
        number += 1
    return frames


def _initial_pool(token: Token) -> SimPool:
    pool = token.pool
    assert pool is not None
    price = TARGET_PRICES.get(token.underlying, Decimal(100))
    base_dec, quote_dec = (
        (pool.token0_decimals, pool.token1_decimals)
        if pool.base_is_token0
        else (pool.token1_decimals, pool.token0_decimals)
    )
    base_raw = int(Fraction(QUOTE_DEPTH) / Fraction(price) * 10**base_dec)
    quote_raw = QUOTE_DEPTH * 10**quote_dec
    token0_raw, token1_raw = (base_raw, quote_raw) if pool.base_is_token0 else (quote_raw, base_raw)
    sqrt_price = math.isqrt(token1_raw * Q192 // token0_raw)
    liquidity = math.isqrt(token0_raw * token1_raw)
    return SimPool(token, sqrt_price, liquidity, float(price))


def _intents(
    rng: random.Random,
    pools: Mapping[str, SimPool],
    seed: int,
    slot: int,
    rate: float,
    *,
    force: bool,
) -> list[Intent]:
    intents: list[Intent] = []
    for symbol, pool in pools.items():
        count = _poisson(rng, rate)
        if force and not intents:
            count = max(count, 1)
        for _ in range(count):
            price = pool.price()
            lean = 0.5 + 20.0 * math.log(pool.target / price)
            buy = rng.random() < min(0.85, max(0.15, lean))
            notional = min(50_000.0, rng.lognormvariate(math.log(3_000.0), 0.8))
            base_dec, quote_dec = pool.decimals()
            amount = notional * 10**quote_dec if buy else notional / price * 10**base_dec
            tx = _hash(f"{seed}:tx:{slot}:{len(intents)}")
            trader = _hash(f"{seed}:trader:{rng.randrange(64)}")[2:42]
            intents.append(Intent(symbol, buy, int(amount), tx, trader))
    rng.shuffle(intents)
    return intents


def _build_block(
    rng: random.Random,
    pools: dict[str, SimPool],
    intents: list[Intent],
    number: int,
    block_hash: str,
    timestamp: int,
) -> list[dict[str, Any]]:
    logs: list[dict[str, Any]] = []
    log_index = rng.randrange(0, 40)
    for tx_index, intent in enumerate(intents):
        log_index += rng.randrange(1, 6)  # each swap tx also logs ERC-20 transfers
        pool = pools[intent.symbol]
        amount0, amount1, sqrt_price = swap(pool, buy=intent.buy, amount_in=intent.amount_in)
        pools[intent.symbol] = pool = replace(pool, sqrt_price=sqrt_price)
        words = (amount0, amount1, sqrt_price, pool.liquidity, tick_at(sqrt_price))
        assert pool.token.pool is not None
        logs.append(
            {
                "address": pool.token.pool.address,
                "blockHash": block_hash,
                "blockNumber": hex(number),
                "blockTimestamp": hex(timestamp),
                "data": "0x" + "".join(_word(w) for w in words),
                "logIndex": hex(log_index),
                "removed": False,
                "topics": [
                    SWAP_TOPIC,
                    "0x" + ROUTER.rjust(64, "0"),
                    "0x" + intent.recipient.rjust(64, "0"),
                ],
                "transactionHash": intent.tx_hash,
                "transactionIndex": hex(tx_index * 3 + rng.randrange(0, 3)),
            }
        )
    return logs


def swap(pool: SimPool, *, buy: bool, amount_in: int) -> tuple[int, int, int]:
    """(amount0, amount1, new sqrtPriceX96) of an exact-input swap inside the current range."""
    assert pool.token.pool is not None
    fee_pips = int(pool.token.pool.fee_bps * 100)
    fee = -(-amount_in * fee_pips // 1_000_000)
    net = amount_in - fee
    zero_for_one = buy != pool.base_is_token0  # buying the stock pays in the quote token
    s, liquidity = pool.sqrt_price, pool.liquidity
    if zero_for_one:
        numerator = liquidity * Q96
        s_new = -(-numerator * s // (numerator + net * s))
        out1 = liquidity * (s - s_new) // Q96
        return amount_in, -out1, s_new
    s_new = s + net * Q96 // liquidity
    out0 = liquidity * Q96 * (s_new - s) // (s_new * s)
    return -out0, amount_in, s_new


def tick_at(sqrt_price: int) -> int:
    """The greatest tick whose price ``1.0001**tick`` is at or below ``(S / 2**96)**2``."""
    tick = math.floor(2 * math.log(sqrt_price / Q96) / math.log(1.0001))
    with localcontext() as ctx:
        ctx.prec = 60
        price = Decimal(sqrt_price * sqrt_price) / Decimal(Q192)
        base = Decimal("1.0001")
        while base**tick > price:
            tick -= 1
        while base ** (tick + 1) <= price:
            tick += 1
    return tick


def _poisson(rng: random.Random, rate: float) -> int:
    limit, count, product = math.exp(-rate), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _word(value: int) -> str:
    return (value % (1 << 256)).to_bytes(32, "big").hex()


def _hash(text: str) -> str:
    return "0x" + hashlib.sha256(text.encode()).hexdigest()
