"""The JSON-RPC node on 127.0.0.1 with a real websockets client, and the adapter against it."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from uniswap_harness import AAPL_POOL, TSLA_POOL, RpcClient
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from divergence.catalog import Catalog, Venue
from divergence.events import FeedEvent, PoolState, Trade
from divergence.feeds.pipeline import FramePipeline
from divergence.venue_servers import build_server
from divergence.venue_servers.evm import EvmRpcServer
from divergence.venue_servers.recording import RecordedFrame
from divergence.venues.uniswap_v3 import SWAP_TOPIC, UniswapV3Adapter

FIRST = 21_600_000


def trade_id(log: dict[str, Any]) -> str:
    return f"{log['transactionHash']}:{int(log['logIndex'], 16)}"


def parse_all(adapter: UniswapV3Adapter, frames: list[str]) -> list[Any]:
    return [e for f in frames for e in adapter.parse(f, ts_recv=time.time_ns())]


async def subscribe(client: RpcClient, adapter: UniswapV3Adapter) -> list[Any]:
    """Send the adapter's subscribe messages; parse everything up to the last reply."""
    messages = adapter.subscribe_messages()
    for message in messages:
        await client.ws.send(message)
    last_id = json.loads(messages[-1])["id"]
    start = len(client.frames)
    await client.read_until(lambda m: m.get("id") == last_id)
    return parse_all(adapter, client.frames[start:])


async def test_uniswap_server_control_methods(evm_server: EvmRpcServer) -> None:
    async with connect(evm_server.url) as ws:
        client = RpcClient(ws)
        assert (await client.call("eth_blockNumber", []))["result"] == hex(FIRST - 1)
        assert (await client.call("eth_chainId", []))["result"] == "0x1"
        reply = await client.call("eth_sendRawTransaction", ["0x00"])
        assert reply["error"] == {
            "code": -32601,
            "message": "the method eth_sendRawTransaction does not exist/is not available",
        }
        reply = await client.call("eth_subscribe", ["newHeads"])
        assert reply["error"]["code"] == -32602 and "newHeads" in reply["error"]["message"]
        reply = await client.call("eth_subscribe", ["logs", {"address": "0x12"}])
        assert reply["error"]["code"] == -32602
        reply = await client.call("eth_getLogs", [{"fromBlock": "0x10", "toBlock": "0x1"}])
        assert (
            reply["error"]["code"] == -32602
            and "fromBlock 16 > toBlock 1" in reply["error"]["message"]
        )
        for hostile in (
            [{"fromBlock": "yesterday"}],
            [{"fromBlock": ["0x1"]}],
            [{"toBlock": {"a": 1}}],
            [{"address": {"a": 1}}],
            [{"topics": [[1]]}],
            [{"topics": "0x1"}],
            [{"blockHash": "0x12"}],
            ["0x1"],
            [],
        ):
            reply = await client.call("eth_getLogs", hostile)
            assert reply["error"]["code"] == -32602, hostile
        reply = await client.call("eth_getLogs", {"fromBlock": "0x0"})
        assert reply["error"] == {
            "code": -32602,
            "message": "invalid params: params must be an array",
        }
        assert (await client.call("eth_unsubscribe", ["0x1234"]))["result"] is False
        await ws.send("not json")
        assert json.loads(await client.recv()) == {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32700, "message": "parse error"},
        }
        await ws.send("[1]")
        assert json.loads(await client.recv())["error"]["code"] == -32600


async def test_uniswap_server_notifies_each_subscription(
    evm_server: EvmRpcServer, uni_adapter: UniswapV3Adapter
) -> None:
    async with connect(evm_server.url) as ws:
        client = RpcClient(ws)
        assert await subscribe(client, uni_adapter) == []
        await evm_server.wait_subscribed(["pool:AAPLx/USDC", "pool:TSLAx/USDC"], timeout=5)
        produced = evm_server.mine(blocks=4)
        notes = await client.sync()
        assert [n["params"]["result"] for n in notes] == produced
        subs = {n["params"]["result"]["address"]: n["params"]["subscription"] for n in notes}
        assert set(subs) == {AAPL_POOL, TSLA_POOL} and len(set(subs.values())) == 2
        events = parse_all(uni_adapter, client.frames[-len(notes) - 1 : -1])
        assert [e.trade_id for e in events if isinstance(e, Trade)] == [
            trade_id(lg) for lg in produced
        ]
        assert [e.block_number for e in events if isinstance(e, PoolState)] == [
            int(lg["blockNumber"], 16) for lg in produced
        ]
        assert (await client.call("eth_blockNumber", []))["result"] == produced[-1]["blockNumber"]


async def test_uniswap_server_unsubscribe_stops_one_pool(evm_server: EvmRpcServer) -> None:
    async with connect(evm_server.url) as ws:
        client = RpcClient(ws)
        aapl = (await client.call("eth_subscribe", ["logs", {"address": AAPL_POOL}]))["result"]
        both = await client.call(
            "eth_subscribe", ["logs", {"address": [AAPL_POOL, TSLA_POOL], "topics": [[SWAP_TOPIC]]}]
        )
        assert (await client.call("eth_unsubscribe", [both["result"]]))["result"] is True
        produced = evm_server.mine(blocks=6)
        notes = await client.sync()
        assert {n["params"]["subscription"] for n in notes} == {aapl}
        assert [n["params"]["result"] for n in notes] == [
            lg for lg in produced if lg["address"] == AAPL_POOL
        ]
        assert evm_server.subscribe_counts == {"pool:AAPLx/USDC": 2, "pool:TSLAx/USDC": 1}
        assert [c.streams for c in evm_server.connections] == [{"pool:AAPLx/USDC"}]


async def test_uniswap_server_get_logs_by_range_address_and_hash(evm_server: EvmRpcServer) -> None:
    produced = evm_server.mine(blocks=8)
    async with connect(evm_server.url) as ws:
        client = RpcClient(ws)
        everything = await client.call("eth_getLogs", [{"fromBlock": "earliest"}])
        assert everything["result"] == produced
        block = produced[3]["blockNumber"]
        ranged = await client.call(
            "eth_getLogs", [{"fromBlock": block, "toBlock": "latest", "address": TSLA_POOL}]
        )
        assert ranged["result"] == [
            lg
            for lg in produced
            if int(lg["blockNumber"], 16) >= int(block, 16) and lg["address"] == TSLA_POOL
        ]
        by_hash = await client.call("eth_getLogs", [{"blockHash": produced[0]["blockHash"]}])
        assert by_hash["result"] == [
            lg for lg in produced if lg["blockHash"] == produced[0]["blockHash"]
        ]
        wrong_topic = await client.call(
            "eth_getLogs", [{"fromBlock": "0x0", "topics": ["0x" + "00" * 32]}]
        )
        assert wrong_topic["result"] == []


async def test_uniswap_server_whole_recording_through_pipeline(
    uni_recording: list[RecordedFrame], uni_venue: Venue, uni_catalog: Catalog
) -> None:
    server = EvmRpcServer(uni_recording, speed=0)
    await server.start()
    adapter = UniswapV3Adapter(uni_venue, uni_catalog)
    pipeline = FramePipeline(adapter, uni_venue.id)
    try:
        async with connect(server.url) as ws:
            client = RpcClient(ws)
            for message in adapter.subscribe_messages():
                await ws.send(message)
            await server.wait_subscribed(["pool:AAPLx/USDC", "pool:TSLAx/USDC"], timeout=5)
            server.start_streaming()
            await asyncio.wait_for(server.finished.wait(), timeout=20)
            await client.sync()
    finally:
        await server.stop()
    events: list[Any] = []
    for frame in client.frames[:-1]:
        out = pipeline.process(frame, ts_recv=time.time_ns())
        assert out.rejects == []
        events += out.events
    logs = [f.frame for f in uni_recording]
    assert [e.trade_id for e in events if isinstance(e, Trade)] == [
        trade_id(lg) for lg in logs if not lg["removed"]
    ]
    assert [(e.block_hash, e.log_index, e.removed) for e in events if isinstance(e, PoolState)] == [
        (lg["blockHash"], int(lg["logIndex"], 16), lg["removed"]) for lg in logs
    ]
    assert [e.stream for e in events if isinstance(e, FeedEvent)] == [
        f.stream for f in uni_recording if f.frame["removed"]
    ]


async def test_uniswap_server_reconnect_backfills_exactly_the_missed_logs(
    evm_server: EvmRpcServer, uni_adapter: UniswapV3Adapter
) -> None:
    async with connect(evm_server.url) as ws:
        client = RpcClient(ws)
        await subscribe(client, uni_adapter)
        seen = evm_server.mine(blocks=5)
        parse_all(uni_adapter, [json.dumps(n) for n in await client.sync()])
        assert uni_adapter.last_block == int(seen[-1]["blockNumber"], 16)
        assert await evm_server.drop_connections() == 1
        with pytest.raises(ConnectionClosed):
            await client.recv()
    missed = evm_server.mine(blocks=6)  # the chain moves on while nobody listens
    assert missed and int(missed[0]["blockNumber"], 16) > uni_adapter.last_block
    async with connect(evm_server.url) as ws:
        events = await subscribe(RpcClient(ws), uni_adapter)
    recovered = [e for e in events if isinstance(e, Trade)]
    assert [t.trade_id for t in recovered] == [trade_id(lg) for lg in missed]
    assert [e.block_number for e in events if isinstance(e, PoolState)] == [
        int(lg["blockNumber"], 16) for lg in missed
    ]
    backfill = events[-1]
    assert isinstance(backfill, FeedEvent) and backfill.event == "backfill"
    assert backfill.value == len(missed) and backfill.stream == ""
    assert backfill.detail.startswith(f"eth_getLogs from block {int(seen[-1]['blockNumber'], 16)}:")


async def test_uniswap_server_reconnect_across_a_reorg(
    evm_server: EvmRpcServer, uni_adapter: UniswapV3Adapter, uni_recording: list[RecordedFrame]
) -> None:
    """The orphaned block is seen live, the reorg happens while away: the backfill retracts it."""
    removed = [f.frame for f in uni_recording if f.frame["removed"]]
    orphan_at = next(
        i for i, f in enumerate(uni_recording) if f.frame["blockHash"] == removed[0]["blockHash"]
    )
    evm_server.mine(blocks=len({f.frame["blockHash"] for f in uni_recording[:orphan_at]}))
    async with connect(evm_server.url) as ws:
        client = RpcClient(ws)
        await subscribe(client, uni_adapter)
        orphaned = evm_server.mine(blocks=1)
        assert orphaned == [{**lg, "removed": False} for lg in removed]
        parse_all(uni_adapter, [json.dumps(n) for n in await client.sync()])
        await evm_server.drop_connections()
    retraction, replacement, after = evm_server.mine(1), evm_server.mine(1), evm_server.mine(2)
    assert retraction == removed
    async with connect(evm_server.url) as ws:
        events = await subscribe(RpcClient(ws), uni_adapter)
    retracted = [e for e in events if isinstance(e, PoolState) and e.removed]
    assert [(e.block_hash, e.log_index) for e in retracted] == [
        (lg["blockHash"], int(lg["logIndex"], 16)) for lg in removed
    ]
    reorgs = [e for e in events if isinstance(e, FeedEvent) and e.event == "reorg"]
    assert [e.detail.split("; ")[1] for e in reorgs] == [
        f"trade {trade_id(lg)} retracted" for lg in removed
    ]
    assert [e.trade_id for e in events if isinstance(e, Trade)] == [
        trade_id(lg) for lg in replacement + after
    ]


async def test_uniswap_server_skip_and_corrupt(
    evm_server: EvmRpcServer, uni_adapter: UniswapV3Adapter
) -> None:
    async with connect(evm_server.url) as ws:
        client = RpcClient(ws)
        await subscribe(client, uni_adapter)
        evm_server.skip_next("pool:AAPLx/USDC")
        evm_server.corrupt_next("pool:TSLAx/USDC")
        produced = evm_server.mine(blocks=6)
        notes = await client.sync()
    aapl = [lg for lg in produced if lg["address"] == AAPL_POOL]
    tsla = [lg for lg in produced if lg["address"] == TSLA_POOL]
    got = [n["params"]["result"] for n in notes]
    assert aapl[0] not in got and aapl[1:] == [lg for lg in got if lg["address"] == AAPL_POOL]
    corrupted = next(lg for lg in got if lg["address"] == TSLA_POOL)
    assert corrupted["data"] == tsla[0]["data"][:-64]
    with pytest.raises(Exception, match="bad data"):
        uni_adapter.parse(json.dumps(notes[got.index(corrupted)]), ts_recv=1)
    assert evm_server.get_logs({"fromBlock": "earliest"}) == produced  # skipped is not lost


async def test_uniswap_server_restamps_block_times(uni_recording: list[RecordedFrame]) -> None:
    server = EvmRpcServer(uni_recording[:3], speed=0, restamp=True)  # as fast as read
    await server.start()
    try:
        async with connect(server.url) as ws:
            client = RpcClient(ws)
            await client.call("eth_subscribe", ["logs", {}])
            await server.wait_subscribed(["pool:AAPLx/USDC"], timeout=5)
            before = time.time()
            server.start_streaming()
            notes = await client.read_until(lambda m: len(client.frames) == 4)
    finally:
        await server.stop()
    logs = [n["params"]["result"] for n in notes]
    after = time.time()
    stamps = [int(lg["blockTimestamp"], 16) for lg in logs]
    assert all(int(before) <= t <= after for t in stamps)  # when produced, whole seconds
    assert [lg["data"] for lg in logs] == [f.frame["data"] for f in uni_recording[:3]]


async def test_uniswap_server_loop_laps_continue_the_chain(
    uni_recording: list[RecordedFrame],
) -> None:
    """Each lap is a restart of the feed, not of the chain: new blocks, hashes and times."""
    frames = uni_recording[:3]
    server = EvmRpcServer(frames, speed=0, loop=True)
    await server.start()
    try:
        for _ in range(3):  # what the pump does per lap
            for frame in frames:
                server.observe(frame)
            server.initial_state_done()
    finally:
        await server.stop()
    recorded = [int(f.frame["blockNumber"], 16) for f in frames]
    span = recorded[-1] - recorded[0] + 1
    assert [int(lg["blockNumber"], 16) for lg in server.history] == [
        n + lap * span for lap in range(3) for n in recorded
    ]
    times = [int(f.frame["blockTimestamp"], 16) for f in frames]
    lap_s = times[-1] - times[0] + 12
    assert [int(lg["blockTimestamp"], 16) for lg in server.history] == [
        t + lap * lap_s for lap in range(3) for t in times
    ]
    keys = [(lg["blockHash"], lg["logIndex"]) for lg in server.history]
    assert len(set(keys)) == len(keys) == 9
    assert server.history[:3] == [f.frame for f in frames]  # the first lap is the recording
    assert [lg["data"] for lg in server.history[6:]] == [f.frame["data"] for f in frames]
    assert server.head == recorded[-1] + 2 * span


async def test_uniswap_server_builds_from_the_entry_point() -> None:
    server = build_server("uniswap_v3", speed=0, restamp=False)
    assert isinstance(server, EvmRpcServer)
    assert server.head == FIRST - 1
    assert server.rest_responses == {}
