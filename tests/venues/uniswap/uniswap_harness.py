"""Builders for Swap logs and a small JSON-RPC websocket client, for the Uniswap v3 tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from fractions import Fraction
from math import isqrt
from typing import Any

from websockets.asyncio.client import ClientConnection

from divergence.venues.uniswap_v3 import SWAP_TOPIC

AAPL_POOL = "0x1111111111111111111111111111111111110a01"
TSLA_POOL = "0x1111111111111111111111111111111111110b02"
BLOCK_HASH = "0x" + "ab" * 32
TX_HASH = "0x" + "cd" * 32
SENDER = "0x" + "00" * 12 + "68b3465833fb72a70ecdf485e0e4c7bd8665fc45"
RECIPIENT = "0x" + "00" * 12 + "2c9ca6a13e7e5b3a5d2e1bb25e04e08efa077f5d"
TIMESTAMP_S = 1_751_378_400  # 2025-07-01T14:00:00Z


def word(value: int) -> str:
    """One ABI word, two's complement for negatives."""
    return (value % (1 << 256)).to_bytes(32, "big").hex()


def swap_data(amount0: int, amount1: int, sqrt_price: int, liquidity: int, tick: int) -> str:
    return "0x" + "".join(word(v) for v in (amount0, amount1, sqrt_price, liquidity, tick))


def swap_log(
    address: str = AAPL_POOL,
    *,
    amount0: int = -(10**18),
    amount1: int = 230 * 10**6,
    sqrt_price: int | None = None,
    liquidity: int = 65_938_047_339_578_700,
    tick: int = -221_537,
    block: int = 21_600_000,
    log_index: int = 7,
    block_hash: str = BLOCK_HASH,
    tx_hash: str = TX_HASH,
    removed: bool = False,
    timestamp: int | None = TIMESTAMP_S,
) -> dict[str, Any]:
    """A Swap log in the exact node shape (``removed``, hex quantities, 3 topics)."""
    if sqrt_price is None:
        sqrt_price = sqrt_price_x96(Fraction(230), 18, 6)
    log: dict[str, Any] = {
        "address": address,
        "topics": [SWAP_TOPIC, SENDER, RECIPIENT],
        "data": swap_data(amount0, amount1, sqrt_price, liquidity, tick),
        "blockNumber": hex(block),
        "transactionHash": tx_hash,
        "transactionIndex": "0x3",
        "blockHash": block_hash,
        "logIndex": hex(log_index),
        "removed": removed,
    }
    if timestamp is not None:
        log["blockTimestamp"] = hex(timestamp)
    return log


def sqrt_price_x96(price0_in_1: Fraction, dec0: int, dec1: int) -> int:
    """sqrtPriceX96 for a human price of token0 in token1 (rounded down)."""
    raw = price0_in_1 * Fraction(10**dec1, 10**dec0)
    return isqrt(raw.numerator * 2**192 // raw.denominator)


def notification(sub_id: str, log: dict[str, Any]) -> str:
    params = {"subscription": sub_id, "result": log}
    return json.dumps({"jsonrpc": "2.0", "method": "eth_subscription", "params": params})


def response(request_id: int | str, result: Any) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result})


def error_response(request_id: int | str | None, code: int, message: str) -> str:
    body = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    return json.dumps(body)


class RpcClient:
    """A raw websockets client that keeps every frame it reads, in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[str] = []
        self._next_id = 90_000

    async def recv(self, timeout: float = 5.0) -> str:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            frame = await self.ws.recv()
        text = frame if isinstance(frame, str) else frame.decode()
        self.frames.append(text)
        return text

    async def read_until(self, done: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Read frames until one satisfies ``done``; returns them all, decoded."""
        read: list[dict[str, Any]] = []
        while True:
            read.append(json.loads(await self.recv()))
            if done(read[-1]):
                return read

    async def call(self, method: str, params: list[Any]) -> dict[str, Any]:
        """Send a request with a fresh id; return its reply (frames before it are kept)."""
        self._next_id += 1
        request_id = self._next_id
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        await self.ws.send(json.dumps(body))
        return (await self.read_until(lambda m: m.get("id") == request_id))[-1]

    async def sync(self) -> list[dict[str, Any]]:
        """Everything the server queued before an ``eth_blockNumber`` reply (FIFO socket)."""
        self._next_id += 1
        request_id = self._next_id
        await self.ws.send(
            json.dumps(
                {"jsonrpc": "2.0", "id": request_id, "method": "eth_blockNumber", "params": []}
            )
        )
        return (await self.read_until(lambda m: m.get("id") == request_id))[:-1]


SUBS = {"pool:AAPLx/USDC": "0x" + "a1" * 16, "pool:TSLAx/USDC": "0x" + "b2" * 16}


def session_frames(recording: list[Any]) -> list[str]:
    """The recording as one client receives it: two acks, then one notification per log."""
    acks = [
        response(f"sub:{AAPL_POOL}", SUBS["pool:AAPLx/USDC"]),
        response(f"sub:{TSLA_POOL}", SUBS["pool:TSLAx/USDC"]),
    ]
    return acks + [notification(SUBS[f.stream], f.frame) for f in recording]
