"""The Kraken v2 protocol server on 127.0.0.1, driven by a real ``websockets`` client."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from divergence.catalog import Catalog
from divergence.clock import now_ns, parse_rfc3339_ns
from divergence.content import recordings_dir
from divergence.errors import QuarantineError
from divergence.events import BookUpdate, FeedEvent
from divergence.feeds.books import BookStatus
from divergence.feeds.discovery import discover_listings
from divergence.feeds.pipeline import FramePipeline
from divergence.venue_servers.kraken import ASSET_PAIRS, KrakenServer
from divergence.venue_servers.recording import RecordedFrame
from divergence.venues.kraken import DISCOVERY_PATH, KrakenAdapter

RFC3339_US = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture
async def server(recording: list[RecordedFrame]) -> AsyncIterator[KrakenServer]:
    kraken = KrakenServer(recording, speed=0, heartbeat_s=None)
    await kraken.start()
    yield kraken
    await kraken.stop()


async def recv(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(5):
        return json.loads(await ws.recv())  # type: ignore[no-any-return]


async def request(ws: ClientConnection, **body: Any) -> None:
    await ws.send(json.dumps(body))


def without_times(reply: dict[str, Any]) -> dict[str, Any]:
    assert RFC3339_US.match(reply["time_in"]) and RFC3339_US.match(reply["time_out"])
    return {k: v for k, v in reply.items() if k not in ("time_in", "time_out")}


async def test_kraken_server_status_then_pong(server: KrakenServer) -> None:
    async with connect(server.url) as ws:
        status = await recv(ws)
        assert status["channel"] == "status" and status["type"] == "update"
        assert {k: status["data"][0][k] for k in ("system", "api_version")} == {
            "system": "online",
            "api_version": "v2",
        }
        await request(ws, method="ping", req_id=42)
        pong = await recv(ws)
        assert list(pong) == ["method", "req_id", "time_in", "time_out"]
        assert without_times(pong) == {"method": "pong", "req_id": 42}


async def test_kraken_server_subscribe_acks_and_snapshot(
    server: KrakenServer, adapter: KrakenAdapter
) -> None:
    async with connect(server.url) as ws:
        await recv(ws)  # status
        params = {"channel": "book", "symbol": ["AAPLx/USD", "FOO/USD"], "depth": 10}
        await request(ws, method="subscribe", params={**params, "snapshot": True}, req_id=1)
        ack = await recv(ws)
        assert list(ack) == ["method", "result", "success", "time_in", "time_out", "req_id"]
        assert without_times(ack) == {
            "method": "subscribe",
            "result": {"channel": "book", "depth": 10, "snapshot": True, "symbol": "AAPLx/USD"},
            "success": True,
            "req_id": 1,
        }
        snapshot_text = await asyncio.wait_for(ws.recv(), 5)
        refusal = await recv(ws)
    initial = next(f for f in server.recording if f.stream == "book:AAPLx/USD")
    assert snapshot_text == initial.frame  # the recorded view, rebuilt by the server
    (update,) = adapter.parse(snapshot_text, ts_recv=1)
    assert isinstance(update, BookUpdate) and update.is_snapshot
    assert (len(update.bids), len(update.asks), str(update.bids[0].price)) == (10, 10, "229.89")
    spec = adapter.book_spec("AAPLx/USD")
    assert spec is not None and spec.checksum is not None
    assert spec.checksum(update.asks, update.bids) == update.checksum
    assert without_times(refusal) == {
        "error": "Currency pair not supported FOO/USD",
        "method": "subscribe",
        "req_id": 1,
        "success": False,
        "symbol": "FOO/USD",
    }
    with pytest.raises(QuarantineError) as caught:
        adapter.parse(json.dumps(refusal), ts_recv=1)
    assert caught.value.reason == "subscription refused"
    assert "Currency pair not supported FOO/USD" in caught.value.detail


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"channel": "book", "depth": 7}, "Invalid depth 7"),
        ({"channel": "book", "depth": 25}, "Depth 25 not recorded by this server (only 10)"),
        ({"channel": "ticker"}, "event_trigger trades not recorded by this server (only bbo)"),
        ({"channel": "ohlc"}, "Channel ohlc not supported by this server"),
    ],
)
async def test_kraken_server_refuses_what_it_cannot_serve(
    server: KrakenServer, params: dict[str, Any], error: str
) -> None:
    async with connect(server.url) as ws:
        await recv(ws)
        await request(ws, method="subscribe", params={**params, "symbol": ["AAPLx/USD"]}, req_id=5)
        reply = await recv(ws)
    assert (reply["success"], reply["error"], reply["symbol"], reply["req_id"]) == (
        False,
        error,
        "AAPLx/USD",
        5,
    )


async def test_kraken_server_double_subscribe_and_unsubscribe(server: KrakenServer) -> None:
    trade = {"channel": "trade", "symbol": ["NVDAx/USD"]}
    async with connect(server.url) as ws:
        await recv(ws)
        await request(ws, method="unsubscribe", params=trade, req_id=1)
        assert (await recv(ws))["error"] == "Subscription Not Found"
        await request(ws, method="subscribe", params={**trade, "snapshot": False}, req_id=2)
        ack = await recv(ws)
        assert ack["result"] == {"channel": "trade", "snapshot": False, "symbol": "NVDAx/USD"}
        await request(ws, method="subscribe", params=trade, req_id=3)
        assert (await recv(ws))["error"] == "Already subscribed"  # no snapshot came before it
        await server.wait_subscribed(["trade:NVDAx/USD"], timeout=5)
        await request(ws, method="unsubscribe", params=trade, req_id=4)
        unsubscribed = without_times(await recv(ws))
        assert unsubscribed == {
            "method": "unsubscribe",
            "result": {"channel": "trade", "symbol": "NVDAx/USD"},
            "success": True,
            "req_id": 4,
        }
        assert all("trade:NVDAx/USD" not in c.streams for c in server.connections)
        await ws.send("{not json")
        assert without_times(await recv(ws)) == {"error": "Malformed request", "success": False}
        await request(ws, method="add_order", req_id=9)
        assert (await recv(ws))["error"] == "Unsupported method add_order"


async def test_kraken_server_whole_session_parses_cleanly(
    server: KrakenServer, adapter: KrakenAdapter, subscribed: list[RecordedFrame]
) -> None:
    """Everything the server sends to a client subscribed like the adapter: the recording
    itself, parsed with zero quarantines, every checksum verified, books VALID."""
    received: list[str] = []
    async with connect(server.url, max_size=None) as ws:
        for message in adapter.subscribe_messages():
            await ws.send(message)
        await server.wait_subscribed([f"book:{s}" for s in adapter.tokens], timeout=5)
        await server.wait_subscribed([f"ticker:{s}" for s in adapter.fx], timeout=5)
        await server.wait_subscribed([f"trade:{s}" for s in adapter.tokens], timeout=5)
        server.start_streaming()
        await asyncio.wait_for(server.finished.wait(), 30)
        await ws.send(adapter.spec.ping_message or "")
        while True:
            text = str(await asyncio.wait_for(ws.recv(), 5))
            received.append(text)
            if text.startswith('{"method":"pong"'):
                break
    data = [t for t in received if t.startswith('{"channel":"') and '"data":[{"symbol"' in t]
    initial = [str(f.frame) for f in subscribed if f.at_ms == 0]
    assert sorted(data[: len(initial)]) == sorted(initial)
    assert data[len(initial) :] == [str(f.frame) for f in subscribed if f.at_ms > 0]

    pipeline = FramePipeline(adapter, "kraken")
    verified = rejects = 0
    for number, text in enumerate(received):
        out = pipeline.process(text, ts_recv=number)
        rejects += len(out.rejects)
        verified += sum(1 for e in out.events if isinstance(e, BookUpdate))
        assert not [e for e in out.events if isinstance(e, FeedEvent)]
    book_frames = sum(1 for f in subscribed if f.stream.startswith("book:"))
    assert (rejects, verified) == (0, book_frames)
    assert {pipeline.books.status(s) for s in adapter.tokens} == {BookStatus.VALID}


async def test_kraken_server_heartbeat_when_idle(recording: list[RecordedFrame]) -> None:
    kraken = KrakenServer(recording, speed=0, heartbeat_s=0.05)
    await kraken.start()
    try:
        async with connect(kraken.url) as ws:
            assert (await recv(ws))["channel"] == "status"
            assert await recv(ws) == {"channel": "heartbeat"}
    finally:
        await kraken.stop()


async def test_kraken_server_restamps_to_wall_time(recording: list[RecordedFrame]) -> None:
    kraken = KrakenServer(recording, speed=0, heartbeat_s=None, restamp=True)
    await kraken.start()
    try:
        async with connect(kraken.url, max_queue=None) as ws:
            await recv(ws)
            params = {"channel": "book", "symbol": ["TSLAx/USD"], "depth": 10, "snapshot": True}
            await request(ws, method="subscribe", params=params, req_id=1)
            await recv(ws)
            snapshot = await recv(ws)
            kraken.start_streaming()
            update = await recv(ws)
    finally:
        await kraken.stop()
    recorded = [json.loads(f.frame) for f in recording if f.stream == "book:TSLAx/USD"]
    for got, original in zip((snapshot, update), recorded[:2], strict=True):
        item, was = got["data"][0], original["data"][0]
        assert abs(parse_rfc3339_ns(item["timestamp"]) - now_ns()) < 10 * 10**9
        assert {k: v for k, v in item.items() if k != "timestamp"} == {
            k: v for k, v in was.items() if k != "timestamp"
        }


async def test_kraken_server_corrupt_flips_the_checksum(
    server: KrakenServer, adapter: KrakenAdapter
) -> None:
    pipeline = FramePipeline(adapter, "kraken")
    async with connect(server.url, max_queue=None) as ws:
        await recv(ws)
        params = {"channel": "book", "symbol": ["AAPLx/USD"], "depth": 10, "snapshot": True}
        await request(ws, method="subscribe", params=params, req_id=1)
        await recv(ws)
        pipeline.process(await ws.recv(), ts_recv=1)
        server.corrupt_next("book:AAPLx/USD")
        server.start_streaming()
        corrupted_text = await asyncio.wait_for(ws.recv(), 5)
        out = pipeline.process(corrupted_text, ts_recv=2)
    corrupted = json.loads(corrupted_text)
    original = next(
        json.loads(f.frame, parse_float=Decimal)
        for f in server.recording
        if f.stream == "book:AAPLx/USD" and f.at_ms > 0
    )
    assert corrupted["data"][0]["checksum"] == original["data"][0]["checksum"] ^ 0xFFFFFFFF
    assert [e.event for e in out.events if isinstance(e, FeedEvent)] == [
        "checksum_mismatch",
        "book_invalid",
    ]
    assert out.resync == ["book:AAPLx/USD"]


async def test_kraken_server_serves_asset_pairs(
    server: KrakenServer, recorded_catalog: Catalog, adapter: KrakenAdapter
) -> None:
    base = f"http://127.0.0.1:{server.port}"

    def get(path: str) -> bytes:
        with urllib.request.urlopen(base + path, timeout=5) as response:
            body: bytes = response.read()
            return body

    recorded = (recordings_dir() / ASSET_PAIRS).read_bytes()
    assert await asyncio.to_thread(get, DISCOVERY_PATH) == recorded
    with pytest.raises(urllib.error.HTTPError) as caught:
        await asyncio.to_thread(get, "/0/public/AssetPairs")
    caught.value.close()  # an open error response would hold its socket until collected
    assert caught.value.code == 404
    frame = await discover_listings(adapter.venue, adapter, recorded_catalog, rest_url=base)
    assert frame is not None
    rows = frame.select("venue_symbol", "status", "price_decimals", "size_decimals", "in_catalog")
    assert rows.rows() == [
        ("AAPLx/USD", "online", 2, 8, True),
        ("NVDAx/USD", "online", 2, 8, True),
        ("TSLAx/USD", "online", 2, 8, True),
    ]


@pytest.mark.parametrize(
    ("stream", "served", "channel"),
    [
        ("book:AAPLx/USD", "book:AAPLx/USD", "book"),
        ("quote:TSLAx/USD", "ticker:TSLAx/USD", "ticker"),
        ("trade:NVDAx/USD", "trade:NVDAx/USD", "trade"),
        ("fx:USDC", "ticker:USDC/USD", "ticker"),
    ],
)
async def test_kraken_server_answers_the_adapter_resync(
    server: KrakenServer, adapter: KrakenAdapter, stream: str, served: str, channel: str
) -> None:
    """resync_messages(stream) against the server: both acks succeed, a fresh snapshot follows."""
    async with connect(server.url) as ws:
        await recv(ws)
        for message in adapter.subscribe_messages():
            await ws.send(message)
        await server.wait_subscribed([served], timeout=5)
        before = server.subscribe_counts[served]
        for message in adapter.resync_messages(stream):
            await ws.send(message)
        unsubscribed = subscribed_again = snapshot = None
        while snapshot is None:
            reply = await recv(ws)
            if reply.get("method") == "unsubscribe":
                unsubscribed = reply
            elif reply.get("method") == "subscribe" and unsubscribed is not None:
                subscribed_again = reply
            elif subscribed_again is not None and reply.get("type") == "snapshot":
                snapshot = reply
    assert unsubscribed is not None and subscribed_again is not None
    assert (unsubscribed["success"], subscribed_again["success"]) == (True, True)
    assert subscribed_again["result"]["symbol"] == served.split(":")[1]
    assert snapshot["channel"] == channel and snapshot["data"]
    assert server.subscribe_counts[served] == before + 1
    assert adapter.parse(json.dumps(subscribed_again), ts_recv=1) == []
