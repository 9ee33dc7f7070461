"""Uniswap v3 maths against values computed independently with fractions.Fraction."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from uniswap_harness import swap_data

from divergence.errors import QuarantineError
from divergence.venues.uniswap_v3_math import (
    MAX_SQRT_RATIO,
    MIN_SQRT_RATIO,
    PoolMath,
    SwapWords,
    TradeTerms,
    decode_swap_data,
    ratio,
)

Q96 = 2**96
USDC_WETH_SQRT = 2018382873588440326581633304624437
"""The Uniswap v3 math primer's USDC/WETH example (token0 USDC 6 dp, token1 WETH 18 dp)."""


def exact(value: Fraction) -> Decimal:
    """``value`` rounded half-even to 18 decimals, through Decimal only at the end."""
    scaled = value * 10**18
    floor = scaled.numerator // scaled.denominator
    rest = scaled - floor
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2 == 1):
        floor += 1
    return Decimal(f"{floor}E-18")  # exact: a string never rounds to the context


def test_uniswap_math_unit_sqrt_price_is_price_one_with_equal_decimals() -> None:
    for base_is_token0 in (True, False):
        pool = PoolMath(18, 18, base_is_token0)
        assert pool.price(Q96) == Decimal(1)
        assert pool.reserves(10**18, Q96) == (Decimal(1), Decimal(1))


def test_uniswap_math_docs_example_usdc_weth() -> None:
    price_usdc_in_weth = Fraction(USDC_WETH_SQRT**2, 2**192) * Fraction(10**6, 10**18)
    weth_is_base = PoolMath(6, 18, base_is_token0=False)
    usdc_is_base = PoolMath(6, 18, base_is_token0=True)
    assert weth_is_base.price(USDC_WETH_SQRT) == exact(1 / price_usdc_in_weth)
    assert weth_is_base.price(USDC_WETH_SQRT).quantize(Decimal("0.01")) == Decimal("1540.82")
    assert usdc_is_base.price(USDC_WETH_SQRT) == exact(price_usdc_in_weth)
    assert usdc_is_base.price(USDC_WETH_SQRT) == Decimal("0.000649004842701370")


def test_uniswap_math_virtual_reserves_are_constant_product_at_the_price() -> None:
    pool = PoolMath(18, 6, base_is_token0=True)
    sqrt_price, liquidity = 1_201_589_637_123_456_789_012_345, 65_938_047_339_578_700
    base, quote = pool.reserves(liquidity, sqrt_price)
    x = Fraction(liquidity * Q96, sqrt_price) / 10**18
    y = Fraction(liquidity * sqrt_price, Q96) / 10**6
    assert (base, quote) == (exact(x), exact(y))
    assert y / x == Fraction(sqrt_price**2, 2**192) * 10**12  # reserves ratio is the price
    inverted = PoolMath(6, 18, base_is_token0=False)
    assert inverted.reserves(liquidity, sqrt_price) == (
        exact(y * 10**6 / 10**18),
        exact(x * 10**18 / 10**6),
    )


def test_uniswap_math_depth_from_virtual_reserves_matches_a_swap_in_range() -> None:
    """Selling dx of token0 into the pool: v3 maths and x*y=k on the virtual reserves agree."""
    sqrt_price, liquidity = 1_201_589_637_123_456_789_012_345, 659_380_473_395_787_000
    dx = 25 * 10**18  # raw token0 in, fee already taken
    new_sqrt = Fraction(liquidity * Q96 * sqrt_price, liquidity * Q96 + dx * sqrt_price)
    v3_out = liquidity * (sqrt_price - new_sqrt) / Q96
    x = Fraction(liquidity * Q96, sqrt_price)
    y = Fraction(liquidity * sqrt_price, Q96)
    assert y - x * y / (x + dx) == v3_out


def test_uniswap_math_decodes_two_complement_and_sign_extended_tick() -> None:
    words = decode_swap_data(swap_data(-1, 5, Q96, 7, -887_272))
    assert words == SwapWords(amount0=-1, amount1=5, sqrt_price_x96=Q96, liquidity=7, tick=-887_272)
    data = swap_data(-(2**255), 2**255 - 1, MIN_SQRT_RATIO, 2**128 - 1, 887_272)
    assert decode_swap_data(data) == SwapWords(
        -(2**255), 2**255 - 1, MIN_SQRT_RATIO, 2**128 - 1, 887_272
    )


def test_uniswap_math_trade_terms_and_sides() -> None:
    aapl = PoolMath(18, 6, base_is_token0=True)
    # pool paid out 2.5 AAPLx and received 575.25 USDC: the trader bought at 230.10
    assert aapl.trade(-25 * 10**17, 575_250_000) == TradeTerms(
        Decimal("230.1"), Decimal("2.5"), "buy"
    )
    assert aapl.trade(10**18, -229_310_000) == TradeTerms(Decimal("229.31"), Decimal(1), "sell")
    tsla = PoolMath(6, 18, base_is_token0=False)
    # stock is token1: the pool received 3 TSLAx and paid 1288.71 USDC
    assert tsla.trade(-1_288_710_000, 3 * 10**18) == TradeTerms(
        Decimal("429.57"), Decimal(3), "sell"
    )
    assert aapl.trade(0, 5) is None
    odd = aapl.trade(-3 * 10**18, 1_000_000_000)
    assert odd is not None and odd.price == exact(Fraction(1000, 3))


def test_uniswap_math_ratio_rounds_half_even_once() -> None:
    assert ratio(1, 2 * 10**18) == Decimal(0)
    assert ratio(3, 2 * 10**18) == Decimal("0.000000000000000002")
    assert ratio(2, 3) == Decimal("0.666666666666666667")
    assert ratio(10**60 + 1, 10**40) == Decimal(10**20)  # 38 significant digits kept
    assert ratio(10**40 + 5, 10**22) == Decimal("1000000000000000000.000000000000000000")
    assert ratio(10**40 + 15 * 10**3, 10**22) == Decimal("1000000000000000000.000000000000000002")


@pytest.mark.parametrize(
    ("data", "reason", "needle"),
    [
        ("0x" + "00" * 128, "bad data", "found 256 hex digits (4 words)"),
        ("0x" + "00" * 192, "bad data", "(6 words)"),
        ("0x" + "zz" * 160, "bad hex", "not hex"),
        ("00" * 161, "bad hex", "must start with 0x"),
        ("0x" + " 0" * 160, "bad hex", "not hex"),
        (swap_data(-1, 1, 2**160, 1, 0), "bad data", "uint160"),
        (swap_data(-1, 1, Q96, 2**128, 0), "bad data", "uint128"),
        (swap_data(-1, 1, Q96, 1, 2**23), "bad data", "int24"),
        (swap_data(-1, 1, Q96, 1, 887_273), "bad data", "outside"),
        (swap_data(-1, 1, 0, 1, 0), "bad price", "sqrtPriceX96 0"),
        (swap_data(-1, 1, MAX_SQRT_RATIO, 1, 0), "bad price", "outside"),
        (swap_data(1, 1, Q96, 1, 0), "bad amounts", "same sign"),
        (swap_data(-1, -1, Q96, 1, 0), "bad amounts", "same sign"),
    ],
)
def test_uniswap_math_rejects_invalid_words(data: str, reason: str, needle: str) -> None:
    with pytest.raises(QuarantineError) as caught:
        decode_swap_data(data)
    assert caught.value.reason == reason
    assert needle in caught.value.detail
