"""The Massive stocks protocol server on 127.0.0.1, driven by a real ``websockets`` client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from divergence.clock import now_ns
from divergence.events import FeedEvent, Quote, Trade
from divergence.feeds.pipeline import FramePipeline
from divergence.venue_servers.massive import BASE_MS, LAP_Q, LAP_TRADE_ID, MassiveServer
from divergence.venue_servers.recording import RecordedFrame
from divergence.venues.massive import MassiveAdapter

CONNECTED = [{"ev": "status", "status": "connected", "message": "Connected Successfully"}]
AUTHENTICATED = [{"ev": "status", "status": "auth_success", "message": "authenticated"}]


@pytest.fixture
async def server(recording: list[RecordedFrame]) -> AsyncIterator[MassiveServer]:
    massive = MassiveServer(recording, speed=0)
    await massive.start()
    yield massive
    await massive.stop()


async def recv(ws: ClientConnection) -> list[dict[str, Any]]:
    async with asyncio.timeout(5):
        return json.loads(await ws.recv())  # type: ignore[no-any-return]


async def act(ws: ClientConnection, action: str, params: str) -> None:
    await ws.send(json.dumps({"action": action, "params": params}))


def status(name: str, message: str) -> list[dict[str, str]]:
    return [{"ev": "status", "status": name, "message": message}]


async def authenticated(url: str) -> ClientConnection:
    ws = await connect(url, max_queue=None)
    assert await recv(ws) == CONNECTED
    await act(ws, "auth", "test-key")
    assert await recv(ws) == AUTHENTICATED
    return ws


async def closed(ws: ClientConnection) -> ConnectionClosed:
    with pytest.raises(ConnectionClosed) as caught:
        async with asyncio.timeout(5):
            while True:
                await ws.recv()
    return caught.value


async def test_massive_server_connect_auth_subscribe_statuses(server: MassiveServer) -> None:
    ws = await authenticated(server.url)
    async with ws:
        await act(ws, "subscribe", "Q.AAPL, T.NVDA,AM.AAPL,QAAPL,Q.MSFT")
        replies = [await recv(ws) for _ in range(5)]
        await server.wait_subscribed(["Q.AAPL", "T.NVDA", "Q.MSFT"], timeout=5)
        await act(ws, "unsubscribe", "Q.MSFT")
        unsubscribed = await recv(ws)
    assert replies == [
        status("success", "subscribed to: Q.AAPL"),
        status("success", "subscribed to: T.NVDA"),
        status("error", "unsupported subscription 'AM.AAPL': this server streams Q and T only"),
        status("error", "unsupported subscription 'QAAPL': this server streams Q and T only"),
        status("success", "subscribed to: Q.MSFT"),  # unknown tickers are accepted, as on Massive
    ]
    assert unsubscribed == status("success", "unsubscribed to: Q.MSFT")


async def test_massive_server_refuses_before_auth_and_odd_requests(server: MassiveServer) -> None:
    async with connect(server.url) as ws:
        assert await recv(ws) == CONNECTED
        await act(ws, "subscribe", "Q.AAPL")
        assert await recv(ws) == status("error", "not authorized")
        await ws.send("{not json")
        assert await recv(ws) == status("error", "invalid message")
        await act(ws, "ping", "")
        assert await recv(ws) == status("error", "unknown action: ping")
    assert server.subscribe_counts["Q.AAPL"] == 0


async def test_massive_server_wrong_key_fails_and_closes(server: MassiveServer) -> None:
    async with connect(server.url) as ws:
        await recv(ws)
        await act(ws, "auth", "wrong-key")
        await act(ws, "subscribe", "Q.AAPL")  # sent before the reply, like the session does
        assert await recv(ws) == status("auth_failed", "authentication failed")
        error = await closed(ws)
    assert error.rcvd is not None
    assert (error.rcvd.code, error.rcvd.reason) == (1008, "authentication failed")
    assert (server.auth_attempts, server.subscribe_counts["Q.AAPL"]) == (1, 0)


async def test_massive_server_one_connection_per_cluster(server: MassiveServer) -> None:
    """A second authenticated connection displaces the first, as Massive does."""
    first = await authenticated(server.url)
    await act(first, "subscribe", "Q.AAPL")
    assert await recv(first) == status("success", "subscribed to: Q.AAPL")
    second = await authenticated(server.url)
    [displaced] = await recv(first)
    assert (displaced["status"], displaced["message"][:53]) == (
        "max_connections",
        "Maximum number of websocket connections exceeded. You",
    )
    error = await closed(first)
    assert error.rcvd is not None and error.rcvd.code == 1008
    async with second:
        await act(second, "subscribe", "Q.AAPL")
        assert await recv(second) == status("success", "subscribed to: Q.AAPL")
        server.start_streaming()
        [quote] = await recv(second)
    assert quote["ev"] == "Q" and quote["sym"] == "AAPL"


async def test_massive_server_limit_can_be_disabled(recording: list[RecordedFrame]) -> None:
    massive = MassiveServer(recording, speed=0, max_connections=None)
    await massive.start()
    try:
        first, second = await authenticated(massive.url), await authenticated(massive.url)
        async with first, second:
            for ws in (first, second):
                await act(ws, "subscribe", "T.TSLA")
                assert await recv(ws) == status("success", "subscribed to: T.TSLA")
            massive.start_streaming()
            frames = [await recv(ws) for ws in (first, second)]
    finally:
        await massive.stop()
    assert frames[0] == frames[1] and frames[0][0]["sym"] == "TSLA"


async def test_massive_server_whole_session_parses_cleanly(
    server: MassiveServer, adapter: MassiveAdapter, recording: list[RecordedFrame]
) -> None:
    """A client subscribed like the adapter receives exactly the recording, in order, and
    the adapter parses all of it: no quarantine, every event a quote or a trade."""
    async with connect(server.url, max_queue=None) as ws:
        for message in adapter.subscribe_messages():
            await ws.send(message)
        await server.wait_subscribed([f"{c}.{s}" for c in "QT" for s in adapter.references])
        server.start_streaming()
        await asyncio.wait_for(server.finished.wait(), 30)
        received = [str(await asyncio.wait_for(ws.recv(), 5)) for _ in range(len(recording) + 8)]
    statuses = [json.loads(t)[0]["status"] for t in received[:8]]
    assert statuses == ["connected", "auth_success"] + ["success"] * 6
    assert received[8:] == [f.frame for f in recording]
    pipeline = FramePipeline(adapter, "massive")
    events = []
    for number, text in enumerate(received):
        out = pipeline.process(text, ts_recv=number)
        assert out.rejects == []
        events += out.events
    assert not [e for e in events if isinstance(e, FeedEvent)]
    wire = [item for f in recording for item in json.loads(f.frame)]
    assert len(events) == len(wire)
    assert {type(e) for e in events} == {Quote, Trade}


async def test_massive_server_wildcard_and_resync(
    server: MassiveServer, adapter: MassiveAdapter
) -> None:
    ws = await authenticated(server.url)
    async with ws:
        await act(ws, "subscribe", "T.*")
        assert await recv(ws) == status("success", "subscribed to: T.*")
        for message in adapter.resync_messages("quote:NVDA"):
            await ws.send(message)
        assert await recv(ws) == status("success", "unsubscribed to: Q.NVDA")
        assert await recv(ws) == status("success", "subscribed to: Q.NVDA")
        server.start_streaming()
        items = [item for _ in range(40) for item in await recv(ws)]
    assert {(i["ev"], i["sym"]) for i in items if i["ev"] == "Q"} == {("Q", "NVDA")}
    assert {i["sym"] for i in items if i["ev"] == "T"} == {"AAPL", "NVDA", "TSLA"}
    assert server.subscribe_counts["Q.NVDA"] == 1


async def test_massive_server_restamps_to_wall_time(recording: list[RecordedFrame]) -> None:
    massive = MassiveServer(recording, speed=0, restamp=True)
    await massive.start()
    try:
        ws = await authenticated(massive.url)
        async with ws:
            await act(ws, "subscribe", "T.AAPL")
            await recv(ws)
            massive.start_streaming()
            got = [await recv(ws) for _ in range(2)]
    finally:
        await massive.stop()
    frames = [f for f in recording if f.stream == "T.AAPL"][:2]
    for frame, recorded in zip(got, frames, strict=True):
        # t keeps its offset from the frame's market time (BASE_MS + at_ms), now wall time
        original = json.loads(recorded.frame)
        offset = frame[0]["t"] - original[0]["t"]
        assert abs(offset - (now_ns() // 1_000_000 - BASE_MS - recorded.at_ms)) < 10_000
        for item, was in zip(frame, original, strict=True):
            assert item["t"] - was["t"] == offset
            if "trft" in was:
                assert item["trft"] - was["trft"] == offset
            assert {k: v for k, v in item.items() if k not in ("t", "trft")} == {
                k: v for k, v in was.items() if k not in ("t", "trft")
            }


def test_massive_server_new_lap_is_new_data(recording: list[RecordedFrame]) -> None:
    massive = MassiveServer(recording, loop=True)
    trade = next(f for f in recording if f.stream.startswith("T."))
    assert massive.render(trade) == trade.frame  # lap 0: the recording itself
    massive.reset_state()  # what the pump calls at the start of lap 1
    [item], [was] = json.loads(massive.render(trade)), json.loads(trade.frame)
    assert item["q"] == was["q"] + LAP_Q
    assert item["i"] == str(int(was["i"]) + LAP_TRADE_ID)
    assert (item["t"], item["p"]) == (was["t"], was["p"])


async def test_massive_server_corrupt_cuts_a_frame(
    server: MassiveServer, adapter: MassiveAdapter
) -> None:
    ws = await authenticated(server.url)
    async with ws:
        await act(ws, "subscribe", "Q.TSLA")
        await recv(ws)
        server.corrupt_next("Q.TSLA")
        server.start_streaming()
        corrupted = str(await asyncio.wait_for(ws.recv(), 5))
        following = str(await asyncio.wait_for(ws.recv(), 5))
    first, second = [f.frame for f in server.recording if f.stream == "Q.TSLA"][:2]
    assert (corrupted, following) == (first[: len(first) // 2], second)
    out = FramePipeline(adapter, "massive").process(corrupted, ts_recv=1)
    assert [r.reason for r in out.rejects] == ["malformed json"]
