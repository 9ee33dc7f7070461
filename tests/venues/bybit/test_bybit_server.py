"""BybitServer on 127.0.0.1 with a real websockets client, parsed by the real adapter."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import httpx
from websockets.asyncio.client import ClientConnection, connect

from divergence.clock import now_ns
from divergence.content import recordings_dir
from divergence.events import BookUpdate, FeedEvent, FxRate, Trade
from divergence.feeds.books import BookStatus
from divergence.feeds.pipeline import FramePipeline
from divergence.venue_servers.bybit import REST, BybitServer
from divergence.venue_servers.recording import RecordedFrame
from divergence.venues.bybit import DISCOVERY_PATH, BybitAdapter, discover

SYMBOLS = ("AAPLXUSDT", "NVDAXUSDT", "TSLAXUSDT")


async def recv(ws: ClientConnection) -> str:
    async with asyncio.timeout(5):
        text = await ws.recv()
    assert isinstance(text, str)
    return str(text)


def initial(recording: list[RecordedFrame], stream: str) -> str:
    return str(next(f.frame for f in recording if f.at_ms == 0 and f.stream == stream))


async def test_bybit_server_acks_sends_snapshots_and_pongs(
    server: BybitServer, adapter: BybitAdapter, recording: list[RecordedFrame]
) -> None:
    async with connect(server.url) as ws:
        [subscribe] = adapter.subscribe_messages()
        await ws.send(subscribe)
        assert json.loads(await recv(ws)) == {
            "success": True,
            "ret_msg": "",
            "conn_id": "local000001-bybit",
            "req_id": "sub-1",
            "op": "subscribe",
        }
        for symbol in SYMBOLS:  # snapshots of the current books: nothing streamed yet
            assert await recv(ws) == initial(recording, f"book:{symbol}")
        ticker = await recv(ws)
        assert ticker == initial(recording, "ticker:USDCUSDT")
        await ws.send('{"op":"ping","req_id":"p-7"}')
        pong = await recv(ws)
        assert json.loads(pong) == {
            "success": True,
            "ret_msg": "pong",
            "conn_id": "local000001-bybit",
            "req_id": "p-7",
            "op": "ping",
        }
    data = json.loads(ticker)["data"]
    usdc, usdt = adapter.parse(ticker, ts_recv=1)
    assert isinstance(usdc, FxRate) and isinstance(usdt, FxRate)
    assert usdc.rate_usd == Decimal(data["usdIndexPrice"])
    expected = Decimal(data["usdIndexPrice"]) / Decimal(data["lastPrice"])
    assert abs(usdt.rate_usd - expected) < Decimal("1e-18")
    assert adapter.parse(pong, ts_recv=1) == []


async def test_bybit_server_refuses_like_bybit(server: BybitServer, adapter: BybitAdapter) -> None:
    eleven = [f"publicTrade.{s}" for s in SYMBOLS] * 3 + ["tickers.USDCUSDT"] * 2
    requests = [
        ({"op": "subscribe", "req_id": "big", "args": eleven}, "args size >10"),
        (
            {"op": "subscribe", "req_id": "d", "args": ["orderbook.200.AAPLXUSDT"]},
            "error:handler not found,topic:orderbook.200.AAPLXUSDT",
        ),
        (
            {"op": "subscribe", "req_id": "s", "args": ["orderbook.50.ETHUSDT"]},
            "Invalid symbol :[orderbook.50.ETHUSDT]",
        ),
        (
            {"op": "subscribe", "req_id": "k", "args": ["kline.1.AAPLXUSDT"]},
            "error:handler not found,topic:kline.1.AAPLXUSDT",
        ),
    ]
    async with connect(server.url) as ws:
        for request, message in requests:
            await ws.send(json.dumps(request))
            text = await recv(ws)
            assert json.loads(text) == {
                "success": False,
                "ret_msg": message,
                "conn_id": "local000001-bybit",
                "req_id": request["req_id"],
                "op": "subscribe",
            }
        await ws.send('{"op":"subscribe","req_id":"t1","args":["publicTrade.AAPLXUSDT"]}')
        assert json.loads(await recv(ws))["success"] is True
        await ws.send('{"op":"subscribe","req_id":"t2","args":["publicTrade.AAPLXUSDT"]}')
        duplicate = json.loads(await recv(ws))
        assert duplicate["ret_msg"] == "error:already subscribed,topic:publicTrade.AAPLXUSDT"
        await ws.send('{"op":"unsubscribe","req_id":"u1","args":["publicTrade.AAPLXUSDT"]}')
        assert json.loads(await recv(ws)) == {
            "success": True,
            "ret_msg": "",
            "conn_id": "local000001-bybit",
            "req_id": "u1",
            "op": "unsubscribe",
        }
        assert all(not c.streams for c in server.connections)
        await ws.send("hello")
        assert json.loads(await recv(ws)) == {
            "success": False,
            "ret_msg": "error:invalid request",
            "conn_id": "local000001-bybit",
            "op": "",
        }


async def read_until(ws: ClientConnection, last: str, into: list[str]) -> None:
    async with asyncio.timeout(20):
        while True:
            text = await ws.recv()
            assert isinstance(text, str)
            into.append(text)
            if text == last:
                return


async def test_bybit_server_whole_session_parses_and_books_match(
    server: BybitServer, adapter: BybitAdapter, recording: list[RecordedFrame]
) -> None:
    received: list[str] = []
    async with connect(server.url, max_size=None) as ws:
        for message in adapter.subscribe_messages():
            await ws.send(message)
        await server.wait_subscribed({f.stream for f in recording})
        server.start_streaming()
        await read_until(ws, recording[-1].frame, received)
    streamed = [f for f in recording if f.at_ms > 0]
    assert len(received) == 1 + 4 + len(streamed)  # ack, 3 snapshots + ticker, the session
    assert received[5:] == [f.frame for f in streamed]
    pipeline = FramePipeline(adapter, "bybit")
    events = []
    for text in received:
        out = pipeline.process(text, ts_recv=now_ns())
        assert out.rejects == [] and out.resync == []
        events += out.events
    assert [e for e in events if isinstance(e, FeedEvent)] == []
    for symbol in SYMBOLS:
        assert pipeline.books.status(symbol) is BookStatus.VALID
        mine, theirs = pipeline.books.books[symbol], server.books[symbol]
        bids, asks = theirs.levels(50)
        assert [(str(lv.price), str(lv.size)) for lv in mine.sorted_bids()] == bids
        assert [(str(lv.price), str(lv.size)) for lv in mine.sorted_asks()] == asks
        updates = [e for e in events if isinstance(e, BookUpdate) and e.symbol == symbol]
        assert updates[-1].sequence == theirs.u
    resets = [e for e in events if isinstance(e, BookUpdate) and e.sequence == 1]
    assert [(e.symbol, e.is_snapshot, len(e.bids), len(e.asks)) for e in resets] == [
        ("NVDAXUSDT", False, 50, 50)
    ]
    trades = [e for e in events if isinstance(e, Trade)]
    last = json.loads(next(f.frame for f in reversed(recording) if f.stream.startswith("trade:")))
    item = last["data"][-1]
    assert (trades[-1].trade_id, trades[-1].price, trades[-1].size, trades[-1].side) == (
        item["i"],
        Decimal(item["p"]),
        Decimal(item["v"]),
        item["S"].lower(),
    )
    assert trades[-1].ts_event == item["T"] * 1_000_000


async def test_bybit_server_corrupt_book_frame_is_a_gap_then_resync(
    server: BybitServer, adapter: BybitAdapter, recording: list[RecordedFrame]
) -> None:
    first_u = json.loads(initial(recording, "book:AAPLXUSDT"))["data"]["u"]
    pipeline = FramePipeline(adapter, "bybit")
    events: list[object] = []
    async with connect(server.url, max_size=None) as ws:
        for message in adapter.subscribe_messages():
            await ws.send(message)
        await server.wait_subscribed({f.stream for f in recording})
        server.corrupt_next("book:AAPLXUSDT")
        server.start_streaming()
        last, seen_last = recording[-1].frame, False
        async with asyncio.timeout(20):  # read on to the end so the close handshake is quick
            while not (seen_last and any(getattr(e, "event", "") == "resync" for e in events)):
                text = await ws.recv()
                seen_last = seen_last or text == last
                out = pipeline.process(text, ts_recv=now_ns())
                events += out.events
                for stream in out.resync:
                    for message in adapter.resync_messages(stream):
                        await ws.send(message)
    feed = [(e.event, e.stream, e.detail) for e in events if isinstance(e, FeedEvent)]
    gap = f"expected sequence {first_u + 1}, received {first_u + 2}"
    assert feed[:2] == [
        ("gap", "book:AAPLXUSDT", gap),
        ("book_invalid", "book:AAPLXUSDT", f"gap: {gap}"),
    ]
    assert [f[0] for f in feed] == ["gap", "book_invalid", "resync"]
    assert pipeline.books.status("AAPLXUSDT") is BookStatus.VALID


async def test_bybit_server_restamps_to_wall_clock(recording: list[RecordedFrame]) -> None:
    live = BybitServer(recording, speed=1.0, restamp=True)
    await live.start()
    try:
        async with connect(live.url) as ws:
            before = now_ns() // 1_000_000
            await ws.send('{"op":"subscribe","args":["orderbook.50.AAPLXUSDT"]}')
            ack = json.loads(await recv(ws))
            snapshot = json.loads(await recv(ws))
            live.start_streaming()
            delta = json.loads(await recv(ws))
            after = now_ns() // 1_000_000
    finally:
        await live.stop()
    assert ack == {
        "success": True,
        "ret_msg": "",
        "conn_id": "local000001-bybit",
        "op": "subscribe",
    }
    recorded = json.loads(initial(recording, "book:AAPLXUSDT"))
    assert before <= snapshot["ts"] <= after
    assert snapshot["ts"] - snapshot["cts"] == recorded["ts"] - recorded["cts"]
    assert (snapshot["data"], snapshot["type"]) == (recorded["data"], "snapshot")
    frame = next(f for f in recording if f.at_ms > 0 and f.stream == "book:AAPLXUSDT")
    original = json.loads(frame.frame)
    assert before <= delta["ts"] <= after
    assert delta["ts"] - delta["cts"] == original["ts"] - original["cts"]
    assert delta["data"] == original["data"]


async def test_bybit_server_serves_recorded_instruments(server: BybitServer) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
        found = await client.get(DISCOVERY_PATH)
        missing = await client.get("/v5/market/instruments-info?category=linear")
    assert found.status_code == 200
    assert found.content == (recordings_dir() / REST[DISCOVERY_PATH]).read_bytes()
    aapl = next(x for x in discover(found.content) if x.venue_symbol == "AAPLXUSDT")
    assert aapl.multiplier == Decimal("1.0032690125398187")
    assert missing.status_code == 404


def test_bybit_server_new_lap_forgets_books_and_renews_trade_ids(
    recording: list[RecordedFrame],
) -> None:
    looping = BybitServer(recording, loop=True)
    for frame in recording:
        looping.observe(frame)
    trade = next(f for f in recording if f.stream == "trade:AAPLXUSDT")
    assert looping.render(trade) == trade.frame
    looping.reset_state()  # what the base pump calls before re-observing the initial frames
    assert (looping.lap, looping.books, looping.tickers) == (1, {}, {})
    for frame in [f for f in recording if f.at_ms == 0]:
        looping.observe(frame)
    start_u = json.loads(initial(recording, "book:AAPLXUSDT"))["data"]["u"]
    assert looping.books["AAPLXUSDT"].u == start_u
    assert looping.snapshot_text("AAPLXUSDT") == initial(recording, "book:AAPLXUSDT")
    renewed, original = json.loads(looping.render(trade)), json.loads(trade.frame)
    assert [
        int(x["i"]) - int(y["i"]) for x, y in zip(renewed["data"], original["data"], strict=True)
    ] == [10**12] * len(original["data"])
    assert [{**x, "i": ""} for x in renewed["data"]] == [{**y, "i": ""} for y in original["data"]]
