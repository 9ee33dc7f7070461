"""Bybit v5 public spot, served locally from a recorded session (tests, bench, acceptance).

:class:`BybitServer` answers Bybit's control protocol on ``ws://host:port/``:

- ``{"op":"subscribe","args":[...],"req_id":...}``: ``{"success":true,"ret_msg":"",
  "conn_id":...,"req_id":...,"op":"subscribe"}``, then a book snapshot for every
  ``orderbook.50.<SYM>`` topic (built from the server's current book, with the current
  ``u``) and the latest ticker for every ``tickers.<SYM>``. A request is refused as a
  whole (``"success":false``) when it has more than 10 args (``args size >10``), an
  unknown channel or depth (``error:handler not found,topic:...``), an unknown symbol
  (``Invalid symbol :[...]``) or a topic the connection already has
  (``error:already subscribed,topic:...``);
- ``unsubscribe``: the same ack with ``"op":"unsubscribe"``;
- ``{"op":"ping"}``: ``{"success":true,"ret_msg":"pong",...,"op":"ping"}``.

Recorded frames are the exact wire text; their ``stream`` is ``book:<SYM>``,
``trade:<SYM>`` or ``ticker:<SYM>`` (use these names with ``skip_next`` and
``corrupt_next``). ``corrupt`` rewrites a book frame's ``u`` to ``u + 1`` (an update
lost in transit: the client sees a gap) and truncates any other frame. With
``restamp=True`` every venue time (``ts``, ``cts``, trade ``T``) becomes
``now + (recorded time - (BASE_TS_MS + at_ms))``. With ``loop=True`` each lap is a venue
restart (the base class drops every connection; :meth:`BybitServer.reset_state` forgets
the books) and trade ids are offset by ``lap x 10**12`` so that a lap's trades are new
trades, not duplicates of the first lap's.

The session is :func:`~divergence.venue_servers.bybit_synth.synthesize`'s output, committed
as ``ingest/recordings/bybit_v5.jsonl``. Regenerate it with::

    .venv/bin/python -m divergence.venue_servers.bybit_synth

The recorded spot ``instruments-info`` response (``REST``) is served over HTTP GET on
the same port.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from divergence.clock import now_ns
from divergence.content import recordings_dir
from divergence.venue_servers.base import Connection, ProtocolServer
from divergence.venue_servers.bybit_synth import BASE_TS_MS, RECORDING, synthesize
from divergence.venue_servers.recording import RecordedFrame, load_rest
from divergence.venues.bybit import (
    BOOK_CHANNEL,
    BOOK_DEPTH,
    DISCOVERY_PATH,
    MAX_TOPICS,
    TICKER_CHANNEL,
    TRADE_CHANNEL,
)

__all__ = ["RECORDING", "REST", "BybitServer", "synthesize"]

REST = {DISCOVERY_PATH: "bybit_instruments_spot.json"}
"""Recorded REST bodies served by path and query, files under ``ingest/recordings/``."""
_STREAM_OF_CHANNEL = {TRADE_CHANNEL: "trade", TICKER_CHANNEL: "ticker"}


class _Request(msgspec.Struct):
    op: str
    args: list[str] = []
    req_id: str | None = None


class _BookData(msgspec.Struct):
    s: str
    b: list[tuple[str, str]]
    a: list[tuple[str, str]]
    u: int
    seq: int = 0


class _BookFrame(msgspec.Struct):
    topic: str
    type: str
    ts: int
    data: _BookData
    cts: int | None = None


_REQUEST = msgspec.json.Decoder(_Request)
_BOOK_FRAME = msgspec.json.Decoder(_BookFrame)


@dataclass
class ServerBook:
    """The venue's view of one symbol's book: levels keep their wire text."""

    topic: str
    bids: dict[Decimal, tuple[str, str]] = field(default_factory=dict)
    asks: dict[Decimal, tuple[str, str]] = field(default_factory=dict)
    u: int = 0
    seq: int = 0
    ts: int = 0
    cts: int = 0

    def apply(self, frame: _BookFrame) -> None:
        data = frame.data
        if frame.type == "snapshot" or data.u == 1:
            self.bids, self.asks = {}, {}
        for side, levels in ((self.bids, data.b), (self.asks, data.a)):
            for price, size in levels:
                if Decimal(size) == 0:
                    side.pop(Decimal(price), None)
                else:
                    side[Decimal(price)] = (price, size)
        self.u, self.seq, self.ts = data.u, data.seq, frame.ts
        self.cts = frame.ts if frame.cts is None else frame.cts

    def levels(self, depth: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(bids best first, asks best first), at most ``depth`` each."""
        bids = [self.bids[p] for p in sorted(self.bids, reverse=True)[:depth]]
        asks = [self.asks[p] for p in sorted(self.asks)[:depth]]
        return bids, asks


class BybitServer(ProtocolServer):
    """Serves a Bybit v5 spot recording with Bybit's subscribe/ping protocol."""

    venue = "bybit"

    def __init__(
        self,
        recording: list[RecordedFrame],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        loop: bool = False,
        restamp: bool = False,
        rest_dir: Path | None = None,
    ) -> None:
        """``rest_dir`` holds the ``REST`` files (default ``ingest/recordings``)."""
        super().__init__(recording, host=host, port=port, speed=speed, loop=loop)
        self.restamp = restamp
        self.books: dict[str, ServerBook] = {}
        self.tickers: dict[str, RecordedFrame] = {}
        self.offered = frozenset(f.stream for f in recording)
        self.lap = 0
        self._conn_ids = itertools.count(1)
        self.rest_responses = load_rest(REST, rest_dir or recordings_dir())

    # ------------------------------------------------------------------ hooks
    async def handle_request(self, conn: Connection, text: str) -> None:
        try:
            request = _REQUEST.decode(text)
        except msgspec.MsgspecError:
            self.send(conn, self._ack(conn, "", None, False, "error:invalid request"))
            return
        if request.op == "ping":
            self.send(conn, self._ack(conn, "ping", request.req_id, True, "pong"))
        elif request.op == "subscribe":
            self._subscribe(conn, request)
        elif request.op == "unsubscribe":
            for topic in request.args:
                stream = self.stream_of_topic(topic)
                if stream is not None:
                    self.unsubscribe(conn, stream)
            self.send(conn, self._ack(conn, "unsubscribe", request.req_id, True, ""))
        else:
            message = f"error:unsupported op,op:{request.op}"
            self.send(conn, self._ack(conn, request.op, request.req_id, False, message))

    def observe(self, frame: RecordedFrame) -> None:
        channel, _, symbol = frame.stream.partition(":")
        if channel == "book":
            decoded = _BOOK_FRAME.decode(frame.frame)
            self.books.setdefault(symbol, ServerBook(decoded.topic)).apply(decoded)
        elif channel == "ticker":
            self.tickers[symbol] = frame

    def snapshot_frames(self, stream: str) -> list[str]:
        channel, _, symbol = stream.partition(":")
        if channel == "book" and symbol in self.books:
            return [self.snapshot_text(symbol)]
        if channel == "ticker" and symbol in self.tickers:
            return [self.render(self.tickers[symbol])]
        return []

    def reset_state(self) -> None:
        """A new lap (``loop=True``): forget the books; trade ids move to a new range."""
        self.books.clear()
        self.tickers.clear()
        self.lap += 1

    def render(self, frame: RecordedFrame) -> str:
        text: str = frame.frame
        new_ids = self.lap > 0 and frame.stream.startswith("trade:")
        if not self.restamp and not new_ids:
            return text
        obj = msgspec.json.decode(text)
        if self.restamp:
            _shift(obj, now_ns() // 1_000_000 - (BASE_TS_MS + frame.at_ms))
        if new_ids:
            for item in obj["data"]:
                item["i"] = _lap_id(item["i"], self.lap)
        return msgspec.json.encode(obj).decode()

    def corrupt(self, frame: RecordedFrame, text: str) -> str:
        if not frame.stream.startswith("book:"):
            return text[: len(text) // 2]
        obj = msgspec.json.decode(text)
        obj["data"]["u"] += 1
        return msgspec.json.encode(obj).decode()

    # --------------------------------------------------------------- protocol
    def stream_of_topic(self, topic: str) -> str | None:
        """``orderbook.50.AAPLXUSDT`` -> ``book:AAPLXUSDT`` (None for what we never serve)."""
        channel, _, rest = topic.partition(".")
        if channel == BOOK_CHANNEL:
            depth, _, symbol = rest.partition(".")
            return f"book:{symbol}" if depth == str(BOOK_DEPTH) and symbol else None
        kind = _STREAM_OF_CHANNEL.get(channel)
        return f"{kind}:{rest}" if kind and rest else None

    def snapshot_text(self, symbol: str) -> str:
        book = self.books[symbol]
        ts, cts = book.ts, book.cts
        if self.restamp:
            now_ms = now_ns() // 1_000_000
            ts, cts = now_ms, now_ms - (book.ts - book.cts)
        bids, asks = book.levels(BOOK_DEPTH)
        data = {"s": symbol, "b": bids, "a": asks, "u": book.u, "seq": book.seq}
        obj = {"topic": book.topic, "ts": ts, "type": "snapshot", "data": data, "cts": cts}
        return msgspec.json.encode(obj).decode()

    def _subscribe(self, conn: Connection, request: _Request) -> None:
        streams, error = self._validate(conn, request.args)
        if error:
            self.send(conn, self._ack(conn, "subscribe", request.req_id, False, error))
            return
        self.send(conn, self._ack(conn, "subscribe", request.req_id, True, ""))
        for stream in streams:
            self.subscribe(conn, stream)

    def _validate(self, conn: Connection, topics: list[str]) -> tuple[list[str], str]:
        """The streams behind ``topics``, or the venue's refusal message."""
        if len(topics) > MAX_TOPICS:
            return [], f"args size >{MAX_TOPICS}"
        streams: list[str] = []
        for topic in topics:
            stream = self.stream_of_topic(topic)
            if stream is None:
                return [], f"error:handler not found,topic:{topic}"
            if stream not in self.offered:
                return [], f"Invalid symbol :[{topic}]"
            if stream in conn.streams or stream in streams:
                return [], f"error:already subscribed,topic:{topic}"
            streams.append(stream)
        return streams, ""

    def _ack(self, conn: Connection, op: str, req_id: str | None, ok: bool, message: str) -> str:
        conn_id = conn.state.setdefault("conn_id", f"local{next(self._conn_ids):06d}-bybit")
        obj: dict[str, Any] = {"success": ok, "ret_msg": message, "conn_id": conn_id}
        if req_id is not None:
            obj["req_id"] = req_id
        obj["op"] = op
        return msgspec.json.encode(obj).decode()


def _lap_id(trade_id: str, lap: int) -> str:
    return str(int(trade_id) + lap * 10**12) if trade_id.isdigit() else f"{trade_id}.{lap}"


def _shift(obj: Any, shift: int) -> None:
    for key in ("ts", "cts"):
        if key in obj:
            obj[key] += shift
    data = obj.get("data")
    if isinstance(data, list):
        for item in data:
            if isinstance(item, dict) and "T" in item:
                item["T"] += shift
