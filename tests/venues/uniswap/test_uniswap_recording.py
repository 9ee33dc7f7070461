"""The committed recording: reproducible, internally consistent v3 swaps, and replayable."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from typing import Any

from uniswap_harness import session_frames

from divergence.catalog import Catalog, Venue
from divergence.content import recordings_dir
from divergence.events import FeedEvent, PoolState, Trade
from divergence.feeds.pipeline import FramePipeline
from divergence.venue_servers.evm import RECORDING, synthesize, write_recording
from divergence.venue_servers.recording import RecordedFrame
from divergence.venues.uniswap_v3 import SWAP_TOPIC, UniswapV3Adapter

Q96 = 2**96
FEES = {"pool:AAPLx/USDC": Fraction(30, 10_000), "pool:TSLAx/USDC": Fraction(5, 10_000)}


def words(log: dict[str, Any]) -> tuple[int, int, int, int, int]:
    raw = bytes.fromhex(log["data"][2:])
    a0, a1, s, liquidity, tick = (raw[i : i + 32] for i in range(0, 160, 32))
    return (
        int.from_bytes(a0, "big", signed=True),
        int.from_bytes(a1, "big", signed=True),
        int.from_bytes(s, "big"),
        int.from_bytes(liquidity, "big"),
        int.from_bytes(tick, "big", signed=True),
    )


def test_uniswap_recording_regenerates_byte_for_byte(tmp_path: Path) -> None:
    regenerated = write_recording(tmp_path / RECORDING)
    assert regenerated.read_bytes() == (recordings_dir() / RECORDING).read_bytes()


def test_uniswap_recording_is_deterministic_and_sized(uni_recording: list[RecordedFrame]) -> None:
    assert synthesize(seed=3, seconds=120) == synthesize(seed=3, seconds=120)
    assert synthesize(seed=3, seconds=120) != synthesize(seed=4, seconds=120)
    assert (recordings_dir() / RECORDING).stat().st_size < 1_000_000
    assert uni_recording[0].at_ms == 1_000 and uni_recording[-1].at_ms == 1_000 + 149 * 12_000
    first = uni_recording[0].frame
    assert (first["blockNumber"], first["blockTimestamp"]) == (hex(21_600_000), hex(1_751_378_400))
    assert all(f.frame["topics"][0] == SWAP_TOPIC for f in uni_recording)


def test_uniswap_recording_has_one_reorg(uni_recording: list[RecordedFrame]) -> None:
    logs = [f.frame for f in uni_recording]
    removed = [lg for lg in logs if lg["removed"]]
    assert removed, "the recording must contain a reorg"
    orphaned = [
        lg for lg in logs if not lg["removed"] and lg["blockHash"] == removed[0]["blockHash"]
    ]
    assert [{**lg, "removed": True} for lg in orphaned] == removed
    first_after = logs.index(removed[-1]) + 1
    replacement = [
        lg for lg in logs[first_after:] if lg["blockNumber"] == removed[0]["blockNumber"]
    ]
    assert {lg["blockHash"] for lg in replacement} != {removed[0]["blockHash"]}
    assert [lg["transactionHash"] for lg in replacement] == [
        lg["transactionHash"] for lg in removed
    ]
    assert [lg["data"] for lg in replacement] == [lg["data"] for lg in removed]
    assert {lg["logIndex"] for lg in replacement}.isdisjoint(lg["logIndex"] for lg in removed)
    numbers = [int(lg["blockNumber"], 16) for lg in logs if not lg["removed"]]
    assert numbers == sorted(numbers)


def test_uniswap_recording_swaps_follow_v3_maths(uni_recording: list[RecordedFrame]) -> None:
    """Each swap moves sqrtPrice by its net input and L; its output is what that move pays."""
    chain: dict[str, list[tuple[tuple[str, str], int]]] = defaultdict(list)
    checked = 0
    removed = [f for f in uni_recording if f.frame["removed"]]
    for frame in uni_recording:
        log, stack = frame.frame, chain[frame.stream]
        key = (log["blockHash"], log["logIndex"])
        a0, a1, s_new, liquidity, tick = words(log)
        if log["removed"]:
            assert key in [k for k, _ in stack[-len(removed) :]], "retracts one of the newest logs"
            stack[:] = [(k, v) for k, v in stack if k != key]
            continue
        if stack:
            assert_swap(stack[-1][1], s_new, liquidity, a0, a1, FEES[frame.stream])
            checked += 1
        assert_tick(tick, s_new)
        stack.append((key, s_new))
    assert checked == len(uni_recording) - len(removed) - 2  # all but each pool's first


def assert_swap(s: int, s_new: int, liquidity: int, a0: int, a1: int, fee: Fraction) -> None:
    """The price move implies a net input of the amount less the fee (2 raw units: roundings)."""
    if a0 > 0:  # token0 in: L / sqrtP rises by the net input; token1 out = L * drop of sqrtP
        net = Fraction(liquidity * Q96 * (s - s_new), s * s_new)
        assert abs(net - a0 * (1 - fee)) <= 2
        assert abs(-a1 - Fraction(liquidity * (s - s_new), Q96)) <= 1
    else:  # token1 in: L * sqrtP rises by the net input; token0 out = L * rise of 1/sqrtP
        net = Fraction(liquidity * (s_new - s), Q96)
        assert abs(net - a1 * (1 - fee)) <= 2
        assert abs(-a0 - Fraction(liquidity * Q96 * (s_new - s), s * s_new)) <= 1


def assert_tick(tick: int, sqrt_price: int) -> None:
    with localcontext() as ctx:
        ctx.prec = 50
        price = Decimal(sqrt_price) ** 2 / Decimal(2) ** 192
        assert Decimal("1.0001") ** tick <= price < Decimal("1.0001") ** (tick + 1)


def replay(frames: list[str], venue: Venue, catalog: Catalog) -> list[Any]:
    pipeline = FramePipeline(UniswapV3Adapter(venue, catalog), venue.id)
    events: list[Any] = []
    for i, frame in enumerate(frames):
        out = pipeline.process(frame, ts_recv=1_751_378_400_000_000_000 + i)
        assert out.rejects == []
        events += out.events
    return events


def test_uniswap_recording_replay_is_identical_and_exact(
    uni_recording: list[RecordedFrame], uni_venue: Venue, uni_catalog: Catalog
) -> None:
    frames = session_frames(uni_recording)
    first, second = replay(frames, uni_venue, uni_catalog), replay(frames, uni_venue, uni_catalog)
    assert first == second
    log = uni_recording[0].frame
    a0, a1, s, liquidity, tick = words(log)
    state, trade = first[0], first[1]
    assert isinstance(state, PoolState) and isinstance(trade, Trade)
    assert state.ts_event == trade.ts_event == 1_751_378_400 * 10**9
    assert state.price == q18(Fraction(s * s, 2**192) * 10**12)
    assert (state.tick, state.liquidity, state.block_number) == (
        tick,
        Decimal(liquidity),
        21_600_000,
    )
    assert trade.size == q18(Fraction(abs(a0), 10**18))
    assert trade.price == q18(Fraction(abs(a1), 10**6) / Fraction(abs(a0), 10**18))
    assert trade.side == ("buy" if a0 < 0 else "sell")
    assert trade.trade_id == f"{log['transactionHash']}:{int(log['logIndex'], 16)}"
    prices = {e.symbol: [] for e in first if isinstance(e, PoolState)}
    for e in first:
        if isinstance(e, PoolState):
            prices[e.symbol].append(e.price)
    assert Decimal(225) < min(prices["AAPLx/USDC"]) < max(prices["AAPLx/USDC"]) < Decimal(235)
    assert Decimal(420) < min(prices["TSLAx/USDC"]) < max(prices["TSLAx/USDC"]) < Decimal(440)
    reorgs = [e for e in first if isinstance(e, FeedEvent) and e.event == "reorg"]
    retracted = [e for e in first if isinstance(e, PoolState) and e.removed]
    assert [(e.block_hash, e.log_index) for e in retracted] == [
        (f.frame["blockHash"], int(f.frame["logIndex"], 16))
        for f in uni_recording
        if f.frame["removed"]
    ]
    assert len(reorgs) == len(retracted)
    trades = [e.trade_id for e in first if isinstance(e, Trade)]
    assert len(trades) == len(set(trades)) == sum(not f.frame["removed"] for f in uni_recording)


def q18(value: Fraction) -> Decimal:
    scaled = value * 10**18
    floor, rest = divmod(scaled.numerator, scaled.denominator)
    if 2 * rest > scaled.denominator or (2 * rest == scaled.denominator and floor % 2):
        floor += 1
    return Decimal(f"{floor}E-18")
