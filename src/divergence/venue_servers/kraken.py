"""A local Kraken Spot WebSocket v2 server that replays ``ingest/recordings/kraken_v2.jsonl``.

It answers the v2 control protocol as Kraken does (docs.kraken.com, spot-websocket-v2):

- on connect: ``{"channel":"status","type":"update","data":[{... "system":"online" ...}]}``;
- ``{"method":"ping","req_id":N}`` -> ``{"method":"pong","req_id":N,"time_in","time_out"}``;
- ``subscribe`` / ``unsubscribe`` for ``book`` (depth 10: the recorded depth), ``ticker``
  (``event_trigger: "bbo"``, the recorded trigger) and ``trade``: one ack per symbol with
  ``method``, ``result``, ``success``, ``time_in``, ``time_out`` and the client's ``req_id``;
  failures (``"success":false,"error":...``) for an unknown symbol (``Currency pair not
  supported X``), a depth Kraken does not offer or this server did not record, a second
  subscribe to the same stream (``Already subscribed``) and an unsubscribe of nothing
  (``Subscription Not Found``);
- on subscribe with ``snapshot: true``: a book snapshot built from the server's current
  depth-10 book with its CRC32, the last ticker, or the last 50 trades;
- ``{"channel":"heartbeat"}`` to a connection that was sent nothing for ``heartbeat_s``
  (default 1 s, ``None`` disables it).

Server streams are Kraken's subscriptions: ``book:<symbol>``, ``ticker:<symbol>`` and
``trade:<symbol>`` (for the fault controls: ``skip_next("book:AAPLx/USD")``).
:meth:`KrakenServer.corrupt` flips every bit of a book message's checksum.
``restamp=True`` rewrites every ``timestamp`` to wall-clock now, keeping each one's
offset from its frame's market time; acks always carry wall-clock ``time_in``/``time_out``.
The recorded AssetPairs response is served over HTTP GET at
:data:`~divergence.venues.kraken.DISCOVERY_PATH` (see :data:`REST`).

Regenerate the recording and the AssetPairs response (byte for byte, a test checks)::

    .venv/bin/python -c "from divergence.venue_servers import kraken; kraken.write_recording()"
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import orjson

from divergence.catalog import Catalog, load_catalog
from divergence.clock import now_ns, parse_rfc3339_ns
from divergence.content import recordings_dir
from divergence.events import Level
from divergence.venue_servers.base import Connection, ProtocolServer
from divergence.venue_servers.kraken_assetpairs import asset_pairs_body
from divergence.venue_servers.kraken_market import (
    BASE_NS,
    TRADES_KEPT,
    book_text,
    envelope,
    rfc3339_us,
)
from divergence.venue_servers.kraken_market import synthesize as _synthesize
from divergence.venue_servers.recording import RecordedFrame, dump_recording, load_rest
from divergence.venues.kraken import BOOK_DEPTHS, DISCOVERY_PATH, kraken_checksum

RECORDING = "kraken_v2.jsonl"
ASSET_PAIRS = "kraken_assetpairs.json"
REST = {DISCOVERY_PATH: ASSET_PAIRS}
RECORDED_DEPTH = 10
HEARTBEAT = '{"channel":"heartbeat"}'
HEADER = (
    "Kraken Spot WebSocket v2 session, synthetic (divergence.venue_servers.kraken.synthesize,\n"
    "seed 1, 60 s) for ingest/recordings/catalog.toml. One RecordedFrame per line; frame is\n"
    "the exact wire text. Regenerate: see the module docstring."
)
_TIMESTAMP = re.compile(r'"timestamp":"([^"]+)"')
_CHECKSUM = re.compile(r'"checksum":(\d+)')


def synthesize(
    seed: int = 1, seconds: float = 60.0, *, catalog: Catalog | None = None, rate_scale: float = 1.0
) -> list[RecordedFrame]:
    """A deterministic session for the catalog's Kraken listings (default: the recordings')."""
    catalog = catalog or load_catalog(recordings_dir() / "catalog.toml")
    return _synthesize(seed, seconds, catalog=catalog, rate_scale=rate_scale)


def write_recording(directory: Path | None = None) -> None:
    """Write :data:`RECORDING` and :data:`ASSET_PAIRS` into ``directory`` (default: ingest)."""
    directory = directory or recordings_dir()
    catalog = load_catalog(recordings_dir() / "catalog.toml")
    dump_recording(synthesize(catalog=catalog), directory / RECORDING, header=HEADER)
    (directory / ASSET_PAIRS).write_bytes(asset_pairs_body(catalog))


class _RawLevel(msgspec.Struct):
    price: msgspec.Raw
    qty: msgspec.Raw


class _RawBookItem(msgspec.Struct):
    symbol: str
    timestamp: str
    bids: list[_RawLevel] = []
    asks: list[_RawLevel] = []


class _RawMessage(msgspec.Struct):
    channel: str
    type: str
    data: list[msgspec.Raw]


_MESSAGE = msgspec.json.Decoder(_RawMessage)
_BOOK_ITEM = msgspec.json.Decoder(_RawBookItem)


class _Book:
    """The server's depth-10 view of one book, keeping the recorded number text."""

    def __init__(self) -> None:
        self.bids: dict[Decimal, tuple[str, str]] = {}
        self.asks: dict[Decimal, tuple[str, str]] = {}
        self.stamp = ""

    def apply(self, item: _RawBookItem, *, snapshot: bool) -> None:
        if snapshot:
            self.bids, self.asks = {}, {}
        for side, levels in ((self.bids, item.bids), (self.asks, item.asks)):
            for level in levels:
                price, qty = bytes(level.price).decode(), bytes(level.qty).decode()
                if Decimal(qty) == 0:
                    side.pop(Decimal(price), None)
                else:
                    side[Decimal(price)] = (price, qty)
        self.bids = {p: self.bids[p] for p in sorted(self.bids, reverse=True)[:RECORDED_DEPTH]}
        self.asks = {p: self.asks[p] for p in sorted(self.asks)[:RECORDED_DEPTH]}
        self.stamp = item.timestamp

    def snapshot(self, symbol: str, stamp: str) -> str:
        bids, asks = list(self.bids.values()), list(self.asks.values())
        return book_text("snapshot", symbol, bids, asks, self.checksum(), stamp)

    def checksum(self) -> int:
        def levels(side: Sequence[tuple[str, str]]) -> list[Level]:
            return [Level(Decimal(p), Decimal(q)) for p, q in side]

        return kraken_checksum(levels(list(self.asks.values())), levels(list(self.bids.values())))


class KrakenServer(ProtocolServer):
    """Serves a Kraken v2 recording; see the module docstring for the protocol."""

    venue = "kraken"

    def __init__(
        self,
        recording: list[RecordedFrame],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        loop: bool = False,
        restamp: bool = False,
        heartbeat_s: float | None = 1.0,
        rest_dir: Path | None = None,
    ) -> None:
        super().__init__(recording, host=host, port=port, speed=speed, loop=loop)
        self.restamp = restamp
        self.heartbeat_s = heartbeat_s
        self.books: dict[str, _Book] = {}
        self.tickers: dict[str, bytes] = {}
        self.trades: dict[str, list[bytes]] = {}
        self.symbols: set[str] = set()
        self.market_ms = 0
        self.connection_id = 0
        self._snapshot_wanted = True
        self._heartbeat_task: asyncio.Task[None] | None = None
        self.rest_responses = load_rest(REST, rest_dir or recordings_dir())

    # ----------------------------------------------------------- state
    def observe(self, frame: RecordedFrame) -> None:
        channel, _, symbol = frame.stream.partition(":")
        self.symbols.add(symbol)
        self.market_ms = frame.at_ms
        message = _MESSAGE.decode(frame.frame)
        snapshot = message.type == "snapshot"
        if channel == "book":
            book = self.books.setdefault(symbol, _Book())
            for raw in message.data:
                book.apply(_BOOK_ITEM.decode(raw), snapshot=snapshot)
        elif channel == "ticker" and message.data:
            self.tickers[symbol] = bytes(message.data[-1])
        elif channel == "trade":
            kept = [] if snapshot else self.trades.get(symbol, [])
            self.trades[symbol] = [*kept, *(bytes(r) for r in message.data)][-TRADES_KEPT:]

    def reset_state(self) -> None:
        self.books, self.tickers, self.trades, self.market_ms = {}, {}, {}, 0

    def snapshot_frames(self, stream: str) -> list[str]:
        if not self._snapshot_wanted:
            return []
        channel, _, symbol = stream.partition(":")
        text: str | None = None
        if channel == "book" and symbol in self.books:
            book = self.books[symbol]
            text = book.snapshot(symbol, book.stamp)
        elif channel == "ticker" and symbol in self.tickers:
            text = envelope("ticker", "snapshot", [self.tickers[symbol].decode()])
        elif channel == "trade":
            text = envelope("trade", "snapshot", [t.decode() for t in self.trades.get(symbol, [])])
        if text is None:
            return []
        return [self._restamped(text, self.market_ms)] if self.restamp else [text]

    def render(self, frame: RecordedFrame) -> str:
        text = str(frame.frame)
        return self._restamped(text, frame.at_ms) if self.restamp else text

    def corrupt(self, frame: RecordedFrame, text: str) -> str:
        return _CHECKSUM.sub(lambda m: f'"checksum":{int(m[1]) ^ 0xFFFFFFFF}', text)

    def _restamped(self, text: str, at_ms: int) -> str:
        offset = now_ns() - (BASE_NS + at_ms * 1_000_000)
        return _TIMESTAMP.sub(
            lambda m: f'"timestamp":"{rfc3339_us(parse_rfc3339_ns(m[1]) + offset)}"', text
        )

    # ----------------------------------------------------- life cycle
    async def start(self) -> None:
        await super().start()
        if self.heartbeat_s is not None:
            self._heartbeat_task = asyncio.create_task(self._heartbeats(), name="kraken-heartbeat")

    async def stop(self) -> None:
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
        await super().stop()

    def on_connect(self, conn: Connection) -> list[str]:
        """Kraken's first frame on every connection, before any reply: ``status``."""
        self.connection_id += 1
        status = {
            "channel": "status",
            "type": "update",
            "data": [
                {
                    "version": "2.0.10",
                    "system": "online",
                    "api_version": "v2",
                    "connection_id": 9_100_000_000 + self.connection_id,
                }
            ],
        }
        return [orjson.dumps(status).decode()]

    def send(self, conn: Connection, text: str) -> None:
        conn.state["last_sent"] = asyncio.get_running_loop().time()
        super().send(conn, text)

    async def _heartbeats(self) -> None:
        assert self.heartbeat_s is not None
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.heartbeat_s / 4)
            now = loop.time()
            for conn in list(self.connections):
                last = conn.state.setdefault("last_sent", now)
                if not conn.muted and now - last >= self.heartbeat_s:
                    self.send(conn, HEARTBEAT)

    # ------------------------------------------------------- protocol
    async def handle_request(self, conn: Connection, text: str) -> None:
        time_in = rfc3339_us(now_ns())
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            request = None
        if not isinstance(request, dict):
            self._reply(conn, {"error": "Malformed request", "success": False}, time_in)
            return
        method, req_id = request.get("method"), request.get("req_id")
        if method == "ping":
            self._reply(conn, {"method": "pong", "req_id": req_id}, time_in)
        elif method in ("subscribe", "unsubscribe"):
            self._subscription(conn, str(method), request.get("params"), req_id, time_in)
        else:
            reply = {"error": f"Unsupported method {method}", "method": method, "success": False}
            self._reply(conn, {**reply, "req_id": req_id}, time_in)

    def _subscription(
        self, conn: Connection, method: str, params: Any, req_id: Any, time_in: str
    ) -> None:
        if not isinstance(params, dict) or not isinstance(params.get("symbol"), list):
            failure = {"error": "Missing or invalid params", "method": method, "success": False}
            self._reply(conn, {**failure, "req_id": req_id}, time_in)
            return
        for symbol in params["symbol"]:
            error, result = self._check(conn, method, params, symbol)
            if error is not None:
                failure = {"error": error, "method": method, "req_id": req_id, "success": False}
                self._reply(conn, {**failure, "symbol": symbol}, time_in)
                continue
            self._reply(
                conn, {"method": method, "result": result, "success": True}, time_in, req_id
            )
            stream = f"{params['channel']}:{symbol}"
            if method == "subscribe":
                self._snapshot_wanted = params.get("snapshot", True) is not False
                self.subscribe(conn, stream)
                self._snapshot_wanted = True
            else:
                self.unsubscribe(conn, stream)

    def _check(
        self, conn: Connection, method: str, params: dict[str, Any], symbol: Any
    ) -> tuple[str | None, dict[str, Any]]:
        """(error text or None, the ack's ``result``) for one symbol of a request."""
        channel = params.get("channel")
        if channel not in ("book", "ticker", "trade"):
            return f"Channel {channel} not supported by this server", {}
        if not isinstance(symbol, str) or symbol not in self.symbols:
            return f"Currency pair not supported {symbol}", {}
        result: dict[str, Any] = {"channel": channel}
        if channel == "book":
            depth = params.get("depth", 10)
            if depth not in BOOK_DEPTHS:
                return f"Invalid depth {depth}", {}
            if depth != RECORDED_DEPTH:
                return f"Depth {depth} not recorded by this server (only {RECORDED_DEPTH})", {}
            result["depth"] = depth
        if channel == "ticker" and method == "subscribe":
            trigger = params.get("event_trigger", "trades")
            if trigger != "bbo":
                return f"event_trigger {trigger} not recorded by this server (only bbo)", {}
            result["event_trigger"] = trigger
        stream = f"{channel}:{symbol}"
        if method == "subscribe":
            if stream in conn.streams:
                return "Already subscribed", {}
            result["snapshot"] = params.get("snapshot", True) is not False
        elif stream not in conn.streams:
            return "Subscription Not Found", {}
        result["symbol"] = symbol
        return None, result

    def _reply(
        self, conn: Connection, body: dict[str, Any], time_in: str, req_id: Any = None
    ) -> None:
        reply = {k: v for k, v in body.items() if not (k == "req_id" and v is None)}
        reply["time_in"], reply["time_out"] = time_in, rfc3339_us(now_ns())
        if req_id is not None:
            reply["req_id"] = req_id
        self.send(conn, orjson.dumps(reply).decode())
