"""The Alpaca v2 protocol server on 127.0.0.1, driven by a real ``websockets`` client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from divergence.clock import now_ns, parse_rfc3339_ns
from divergence.venue_servers.alpaca import LAP_TRADE_IDS, AlpacaServer
from divergence.venue_servers.recording import RecordedFrame

AUTH = {"action": "auth", "key": "test-key", "secret": "test-secret"}


@pytest.fixture
async def server(recording: list[RecordedFrame]) -> AsyncIterator[AlpacaServer]:
    alpaca = AlpacaServer(recording, speed=0)
    await alpaca.start()
    yield alpaca
    await alpaca.stop()


async def recv(ws: ClientConnection) -> list[dict[str, Any]]:
    async with asyncio.timeout(5):
        return json.loads(await ws.recv())  # type: ignore[no-any-return]


async def send(ws: ClientConnection, **body: Any) -> None:
    await ws.send(json.dumps(body))


async def closed(ws: ClientConnection) -> tuple[int | None, str | None]:
    """Wait for the server's close; (code, reason)."""
    async with asyncio.timeout(5):
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    return ws.close_code, ws.close_reason


def ack(**lists: list[str]) -> list[dict[str, Any]]:
    """The ack Alpaca sends: every channel list, corrections and cancels following trades."""
    trades, quotes, statuses = (lists.get(k, []) for k in ("trades", "quotes", "statuses"))
    body = {"T": "subscription", "trades": trades, "quotes": quotes}
    body |= {"bars": [], "updatedBars": [], "dailyBars": [], "statuses": statuses, "lulds": []}
    return [body | {"corrections": trades, "cancelErrors": trades}]


async def test_alpaca_server_connect_auth_and_errors(server: AlpacaServer) -> None:
    async with connect(server.url) as ws:
        assert await recv(ws) == [{"T": "success", "msg": "connected"}]
        await send(ws, action="subscribe", quotes=["AAPL"])
        assert await recv(ws) == [{"T": "error", "code": 401, "msg": "not authenticated"}]
        await send(ws, **AUTH)
        assert await recv(ws) == [{"T": "success", "msg": "authenticated"}]
        await send(ws, **AUTH)
        assert await recv(ws) == [{"T": "error", "code": 403, "msg": "already authenticated"}]
        for bad in ("{not json", '{"action":"dance"}', '{"action":"subscribe","news":["AAPL"]}'):
            await ws.send(bad)
            assert await recv(ws) == [{"T": "error", "code": 400, "msg": "invalid syntax"}]
        await send(ws, action="subscribe", quotes=[])
        assert (await recv(ws))[0]["code"] == 400  # nothing to subscribe
    assert server.auth_log == ["authenticated"]


async def test_alpaca_server_wrong_credentials_402_then_close(server: AlpacaServer) -> None:
    async with connect(server.url) as ws:
        await recv(ws)
        await send(ws, action="auth", key="test-key", secret="wrong")
        assert await recv(ws) == [{"T": "error", "code": 402, "msg": "auth failed"}]
        assert await closed(ws) == (1008, "auth failed")
    assert server.auth_log == ["402"]


async def test_alpaca_server_auth_timeout_404(recording: list[RecordedFrame]) -> None:
    alpaca = AlpacaServer(recording, speed=0, auth_timeout_s=0.2)
    await alpaca.start()
    try:
        async with connect(alpaca.url) as ws:
            assert await recv(ws) == [{"T": "success", "msg": "connected"}]
            assert await recv(ws) == [{"T": "error", "code": 404, "msg": "auth timeout"}]
            assert await closed(ws) == (1008, "auth timeout")
    finally:
        await alpaca.stop()
    assert alpaca.auth_log == ["404"]


async def test_alpaca_server_one_authenticated_connection(server: AlpacaServer) -> None:
    async with connect(server.url) as first:
        await recv(first)
        await send(first, **AUTH)
        await recv(first)
        async with connect(server.url) as second:
            await recv(second)
            await send(second, **AUTH)
            assert await recv(second) == [
                {"T": "error", "code": 406, "msg": "connection limit exceeded"}
            ]
            assert await closed(second) == (1008, "connection limit exceeded")
    async with connect(server.url) as third:  # the first one is gone: room again
        await recv(third)
        await send(third, **AUTH)
        assert await recv(third) == [{"T": "success", "msg": "authenticated"}]
    assert server.auth_log == ["authenticated", "406", "authenticated"]


async def test_alpaca_server_many_connections_when_allowed(
    recording: list[RecordedFrame],
) -> None:
    alpaca = AlpacaServer(recording, speed=0, one_connection=False)
    await alpaca.start()
    try:
        async with connect(alpaca.url) as first, connect(alpaca.url) as second:
            for ws in (first, second):
                await recv(ws)
                await send(ws, **AUTH)
                assert await recv(ws) == [{"T": "success", "msg": "authenticated"}]
    finally:
        await alpaca.stop()


async def test_alpaca_server_acks_list_the_whole_set(server: AlpacaServer) -> None:
    async with connect(server.url) as ws:
        await recv(ws)
        await send(ws, **AUTH)
        await recv(ws)
        await send(ws, action="subscribe", trades=["AAPL"], quotes=["AAPL", "NVDA"])
        assert await recv(ws) == ack(trades=["AAPL"], quotes=["AAPL", "NVDA"])
        await send(ws, action="subscribe", statuses=["*"])
        assert await recv(ws) == ack(trades=["AAPL"], quotes=["AAPL", "NVDA"], statuses=["*"])
        await send(ws, action="unsubscribe", quotes=["AAPL"])
        assert await recv(ws) == ack(trades=["AAPL"], quotes=["NVDA"], statuses=["*"])
        server.refuse("TSLA")
        await send(ws, action="subscribe", quotes=["TSLA"])
        assert await recv(ws) == ack(trades=["AAPL"], quotes=["NVDA"], statuses=["*"])


async def test_alpaca_server_symbol_limit_405_leaves_the_set(
    recording: list[RecordedFrame],
) -> None:
    alpaca = AlpacaServer(recording, speed=0, symbol_limit=2)
    await alpaca.start()
    try:
        async with connect(alpaca.url) as ws:
            await recv(ws)
            await send(ws, **AUTH)
            await recv(ws)
            await send(ws, action="subscribe", quotes=["AAPL", "NVDA"], statuses=["TSLA"])
            assert await recv(ws) == ack(quotes=["AAPL", "NVDA"], statuses=["TSLA"])
            await send(ws, action="subscribe", trades=["TSLA"])
            assert await recv(ws) == [{"T": "error", "code": 405, "msg": "symbol limit exceeded"}]
            await send(ws, action="subscribe", trades=["AAPL"])  # two symbols still
            assert await recv(ws) == ack(
                trades=["AAPL"], quotes=["AAPL", "NVDA"], statuses=["TSLA"]
            )
    finally:
        await alpaca.stop()


async def test_alpaca_server_sends_only_subscribed_streams(server: AlpacaServer) -> None:
    """Subscribed to AAPL quotes and NVDA statuses: exactly those recorded frames, in order."""
    received: list[str] = []
    async with connect(server.url, max_queue=None) as ws:
        await recv(ws)
        await send(ws, **AUTH)
        await recv(ws)
        await send(ws, action="subscribe", quotes=["AAPL"], statuses=["NVDA"])
        await recv(ws)
        server.start_streaming()
        await asyncio.wait_for(server.finished.wait(), 10)
        await send(ws, action="subscribe", quotes=["AAPL"])  # its ack ends the stream
        ack_prefix = '[{"T":"subscription"'
        while not (text := str(await asyncio.wait_for(ws.recv(), 5))).startswith(ack_prefix):
            received.append(text)
    wanted = {"quotes:AAPL", "statuses:NVDA"}
    assert received == [f.frame for f in server.recording if f.stream in wanted]
    assert [json.loads(t)[0]["sc"] for t in received if '"T":"s"' in t] == ["P", "Q", "T"]


async def test_alpaca_server_restamps_to_wall_time(recording: list[RecordedFrame]) -> None:
    alpaca = AlpacaServer(recording, speed=0, restamp=True)
    await alpaca.start()
    try:
        async with connect(alpaca.url, max_queue=None) as ws:
            await recv(ws)
            await send(ws, **AUTH)
            await recv(ws)
            await send(ws, action="subscribe", trades=["TSLA"])
            await recv(ws)
            alpaca.start_streaming()
            got = [await recv(ws) for _ in range(3)]
    finally:
        await alpaca.stop()
    recorded = [json.loads(f.frame) for f in recording if f.stream == "trades:TSLA"][:3]
    for items, original in zip(got, recorded, strict=True):
        offsets = set()
        for item, was in zip(items, original, strict=True):
            assert abs(parse_rfc3339_ns(item["t"]) - now_ns()) < 10 * 10**9
            assert {k: v for k, v in item.items() if k != "t"} == {
                k: v for k, v in was.items() if k != "t"
            }
            offsets.add(parse_rfc3339_ns(item["t"]) - parse_rfc3339_ns(was["t"]))
        assert len(offsets) == 1  # one shift per frame: the spacing inside it is kept


async def test_alpaca_server_corrupt_cuts_the_frame(server: AlpacaServer) -> None:
    async with connect(server.url, max_queue=None) as ws:
        await recv(ws)
        await send(ws, **AUTH)
        await recv(ws)
        await send(ws, action="subscribe", quotes=["NVDA"])
        await recv(ws)
        server.corrupt_next("quotes:NVDA")
        server.start_streaming()
        first, second = [await asyncio.wait_for(ws.recv(), 5) for _ in range(2)]
    recorded = [f.frame for f in server.recording if f.stream == "quotes:NVDA"]
    assert (first, second) == (recorded[0][: len(recorded[0]) // 2], recorded[1])


def test_alpaca_server_restamp_never_repeats_trade_ids(recording: list[RecordedFrame]) -> None:
    """Each lap of a looped recording is a venue restart; live trade ids never repeat."""
    frame = next(f for f in recording if f.stream.startswith("trades:"))
    live, plain = AlpacaServer(recording, restamp=True), AlpacaServer(recording)
    first = json.loads(live.render(frame))
    live.reset_state()  # the pump calls it when a new lap starts
    plain.reset_state()
    second = json.loads(live.render(frame))
    assert [t["i"] for t in second] == [t["i"] + LAP_TRADE_IDS for t in first]
    assert plain.render(frame) == frame.frame
