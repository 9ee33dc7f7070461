"""Uniswap v3 pool maths, exact: ``Swap`` log words to prices, virtual reserves and trade terms.

Everything is integer arithmetic on the raw words; a value becomes a
:class:`~decimal.Decimal` only at the end, rounded half-even to 18 decimals (the store's
``DECIMAL(38, 18)``) by one integer division, so there is no double rounding and no float.

With ``S = sqrtPriceX96``, ``L = liquidity`` and ``d0``/``d1`` the ERC-20 decimals:

- price of token0 in token1 (human units): ``S**2 / 2**192 * 10**(d0 - d1)``;
  inverted when the tokenized stock is token1;
- virtual reserves at the current price, raw: ``x = L * 2**96 / S`` (token0),
  ``y = L * S / 2**96`` (token1); human: divided by ``10**d``. ``x * y = L**2`` and
  ``y / x`` is the price, so depth near the price follows the constant-product formula
  as long as a trade stays inside the current tick range;
- a swap's ``amount0``/``amount1`` are deltas of the *pool's* balances: the trader
  bought the stock when the pool's base balance went down.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Literal, NamedTuple

from divergence.errors import QuarantineError

Q96 = 1 << 96
Q192 = 1 << 192
MIN_SQRT_RATIO = 4_295_128_739
MAX_SQRT_RATIO = 1_461_446_703_485_210_103_287_273_052_203_988_822_378_723_970_342
MIN_TICK = -887_272
MAX_TICK = 887_272
SCALE = 18
WORD_HEX = 64
SWAP_WORDS = 5
_ONE = 10**SCALE
_CTX = Context(prec=120)
_UINT160 = 1 << 160
_UINT128 = 1 << 128
_INT24 = 1 << 23


class SwapWords(NamedTuple):
    """The five non-indexed words of a ``Swap`` event."""

    amount0: int
    amount1: int
    sqrt_price_x96: int
    liquidity: int
    tick: int


class TradeTerms(NamedTuple):
    price: Decimal
    size: Decimal
    side: Literal["buy", "sell"]


def decode_swap_data(data: str) -> SwapWords:
    """ABI-decode ``data`` (``0x`` + 5 x 32-byte words); raise QuarantineError if invalid."""
    if not data.startswith("0x"):
        raise QuarantineError("bad hex", detail=f"data must start with 0x, found {data[:12]!r}")
    digits = len(data) - 2
    if digits != WORD_HEX * SWAP_WORDS:
        raise QuarantineError(
            "bad data",
            detail=f"expected {SWAP_WORDS} words ({WORD_HEX * SWAP_WORDS} hex digits), "
            f"found {digits} hex digits ({digits / WORD_HEX:g} words)",
        )
    try:
        raw = bytes.fromhex(data[2:])
    except ValueError:
        raise QuarantineError("bad hex", detail=f"data is not hex: {data[:40]!r}...") from None
    if len(raw) != 32 * SWAP_WORDS:  # fromhex skips whitespace; the length catches it
        raise QuarantineError("bad hex", detail="data contains whitespace")
    words = SwapWords(
        amount0=int.from_bytes(raw[0:32], "big", signed=True),
        amount1=int.from_bytes(raw[32:64], "big", signed=True),
        sqrt_price_x96=int.from_bytes(raw[64:96], "big"),
        liquidity=int.from_bytes(raw[96:128], "big"),
        tick=int.from_bytes(raw[128:160], "big", signed=True),
    )
    _check_ranges(words)
    return words


def _check_ranges(words: SwapWords) -> None:
    if words.sqrt_price_x96 >= _UINT160:
        raise QuarantineError("bad data", detail="sqrtPriceX96 exceeds uint160")
    if words.liquidity >= _UINT128:
        raise QuarantineError("bad data", detail="liquidity exceeds uint128")
    if not -_INT24 <= words.tick < _INT24:
        raise QuarantineError("bad data", detail=f"tick {words.tick} is not a sign-extended int24")
    if not MIN_TICK <= words.tick <= MAX_TICK:
        raise QuarantineError(
            "bad data", detail=f"tick {words.tick} outside [{MIN_TICK}, {MAX_TICK}]"
        )
    if not MIN_SQRT_RATIO <= words.sqrt_price_x96 < MAX_SQRT_RATIO:
        raise QuarantineError(
            "bad price",
            detail=f"sqrtPriceX96 {words.sqrt_price_x96} outside "
            f"[{MIN_SQRT_RATIO}, {MAX_SQRT_RATIO})",
        )
    if (words.amount0 > 0 and words.amount1 > 0) or (words.amount0 < 0 and words.amount1 < 0):
        raise QuarantineError(
            "bad amounts",
            detail=f"amount0 {words.amount0} and amount1 {words.amount1} have the same sign",
        )


def ratio(num: int, den: int) -> Decimal:
    """``num / den`` rounded half-even to 18 decimals, exactly (one integer division)."""
    if den <= 0 or num < 0:
        raise ValueError(f"ratio expects num >= 0 and den > 0, found {num}/{den}")
    quotient, remainder = divmod(num * _ONE, den)
    twice = 2 * remainder
    if twice > den or (twice == den and quotient % 2 == 1):
        quotient += 1
    return Decimal(quotient).scaleb(-SCALE, _CTX)


@dataclass(frozen=True)
class PoolMath:
    """One pool's decimals and orientation: which token is the tokenized stock (base)."""

    token0_decimals: int
    token1_decimals: int
    base_is_token0: bool

    def price(self, sqrt_price_x96: int) -> Decimal:
        """Stock price in the quote token, human units."""
        s2 = sqrt_price_x96 * sqrt_price_x96
        if self.base_is_token0:
            return ratio(s2 * 10**self.token0_decimals, Q192 * 10**self.token1_decimals)
        return ratio(Q192 * 10**self.token1_decimals, s2 * 10**self.token0_decimals)

    def reserves(self, liquidity: int, sqrt_price_x96: int) -> tuple[Decimal, Decimal]:
        """Virtual reserves ``(base, quote)`` in human units at the current price."""
        x = ratio(liquidity * Q96, sqrt_price_x96 * 10**self.token0_decimals)
        y = ratio(liquidity * sqrt_price_x96, Q96 * 10**self.token1_decimals)
        return (x, y) if self.base_is_token0 else (y, x)

    def trade(self, amount0: int, amount1: int) -> TradeTerms | None:
        """Execution price, base size and aggressor side; None if an amount is zero."""
        if amount0 == 0 or amount1 == 0:
            return None
        if self.base_is_token0:
            base, quote = amount0, amount1
            base_dec, quote_dec = self.token0_decimals, self.token1_decimals
        else:
            base, quote = amount1, amount0
            base_dec, quote_dec = self.token1_decimals, self.token0_decimals
        price = ratio(abs(quote) * 10**base_dec, abs(base) * 10**quote_dec)
        size = ratio(abs(base), 10**base_dec)
        return TradeTerms(price, size, "buy" if base < 0 else "sell")
