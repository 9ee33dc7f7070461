"""A local Massive (ex-Polygon.io) stocks WebSocket that replays ``massive_stocks.jsonl``.

:class:`MassiveServer` speaks Massive's protocol (massive.com/docs/websocket/stocks); every
server frame is a JSON array:

- on connect: ``[{"ev":"status","status":"connected","message":"Connected Successfully"}]``;
- ``{"action":"auth","params":<key>}``: ``auth_success`` (``"authenticated"``) for the
  server's ``api_key`` (default ``test-key``), else ``auth_failed``
  (``"authentication failed"``) and the socket is closed (1008);
- one connection per cluster (``max_connections``, default 1; ``None`` disables it): when
  one more connection authenticates, the *oldest* gets a ``max_connections`` status and is
  closed, as Massive does (observed by rustrade-data's Massive client);
- ``subscribe`` / ``unsubscribe`` with ``"params":"Q.AAPL,T.AAPL"``: one ``success`` status per
  param (``subscribed to: Q.AAPL``, ``unsubscribed to: Q.AAPL``); ``Q.*`` / ``T.*`` take every
  ticker; an unknown ticker is accepted and simply never streams (as on Massive). This
  server's own refusals, as ``error`` statuses: a param other than ``Q.<ticker>`` /
  ``T.<ticker>``, a subscription before authentication (``not authorized``), an unknown
  action or a frame that is not JSON.

Only authenticated connections receive data, and only the recorded ``Q``/``T`` frames of the
params they subscribed. Recorded ``stream`` names are those params (``Q.AAPL``), for
``skip_next`` / ``corrupt_next``; :meth:`MassiveServer.corrupt` cuts a frame in half
(malformed JSON). ``restamp=True`` shifts every ``t`` (and ``trft``) to wall-clock ms,
keeping each one's offset from its frame's market time; with ``loop=True`` each lap adds
``lap x 10**9`` to ``q`` and ``lap x 10**15`` to trade ids, so a lap is new data.

The recording is :func:`synthesize`'s output. Regenerate it (byte for byte, a test checks)::

    .venv/bin/python -m divergence.venue_servers.massive
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import re
from decimal import Decimal
from pathlib import Path

import msgspec

from divergence.catalog import Catalog, load_catalog
from divergence.clock import now_ns
from divergence.content import recordings_dir
from divergence.venue_servers.base import Connection, ProtocolServer
from divergence.venue_servers.recording import RecordedFrame, dump_recording

RECORDING = "massive_stocks.jsonl"
REST: dict[str, str] = {}
BASE_MS = 1_786_372_200_000
"""2026-08-10T14:30:00Z (10:30 ET, a Monday in regular hours): the recording's origin."""
CHANNELS = ("Q", "T")
LAP_Q, LAP_TRADE_ID = 10**9, 10**15
MAX_CONNECTIONS_MESSAGE = (
    "Maximum number of websocket connections exceeded. You have reached the connection "
    "limit for your account. Please contact support at https://massive.com/contact to "
    "increase your limit."
)
HEADER = (
    "Massive (ex-Polygon.io) stocks WebSocket session, SYNTHETIC: seed 1, 60 s of Q and T\n"
    "events for the massive references of ingest/recordings/catalog.toml. One RecordedFrame\n"
    "per line; stream = the subscription param; frame = the exact wire text. Regenerate:\n"
    "    .venv/bin/python -m divergence.venue_servers.massive"
)
_TIME = re.compile(r'"(t|trft)":(\d+)')
_SEQUENCE = re.compile(r'"q":(\d+)')
_TRADE_ID = re.compile(r'"i":"(\d+)"')


class _Request(msgspec.Struct):
    action: str
    params: str = ""


_REQUEST = msgspec.json.Decoder(_Request)


def status_frame(status: str, message: str) -> str:
    return msgspec.json.encode([{"ev": "status", "status": status, "message": message}]).decode()


class MassiveServer(ProtocolServer):
    """Serves a Massive stocks recording; see the module docstring for the protocol."""

    venue = "massive"

    def __init__(
        self,
        recording: list[RecordedFrame],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        loop: bool = False,
        restamp: bool = False,
        api_key: str = "test-key",
        max_connections: int | None = 1,
    ) -> None:
        super().__init__(recording, host=host, port=port, speed=speed, loop=loop)
        self.restamp = restamp
        self.api_key = api_key
        self.max_connections = max_connections
        self.lap = 0
        self.auth_attempts = 0
        self._auth_order = itertools.count()
        self._closers: set[asyncio.Task[None]] = set()

    # ----------------------------------------------------------- data
    def reset_state(self) -> None:
        self.lap += 1

    def wants(self, conn: Connection, frame: RecordedFrame) -> bool:
        if "authed" not in conn.state or "closing" in conn.state:
            return False
        channel = frame.stream.partition(".")[0]
        return frame.stream in conn.streams or f"{channel}.*" in conn.streams

    def render(self, frame: RecordedFrame) -> str:
        text = str(frame.frame)
        if self.lap:
            lap = self.lap
            text = _SEQUENCE.sub(lambda m: f'"q":{int(m[1]) + lap * LAP_Q}', text)
            text = _TRADE_ID.sub(lambda m: f'"i":"{int(m[1]) + lap * LAP_TRADE_ID}"', text)
        if self.restamp:
            offset = now_ns() // 1_000_000 - (BASE_MS + frame.at_ms)
            text = _TIME.sub(lambda m: f'"{m[1]}":{int(m[2]) + offset}', text)
        return text

    def corrupt(self, frame: RecordedFrame, text: str) -> str:
        return text[: len(text) // 2]

    # ------------------------------------------------------- protocol
    def on_connect(self, conn: Connection) -> list[str]:
        return [status_frame("connected", "Connected Successfully")]

    async def handle_request(self, conn: Connection, text: str) -> None:
        if "closing" in conn.state:
            return
        try:
            request = _REQUEST.decode(text)
        except msgspec.DecodeError:  # ValidationError included
            self.send(conn, status_frame("error", "invalid message"))
            return
        if request.action == "auth":
            self._auth(conn, request.params)
        elif request.action in ("subscribe", "unsubscribe"):
            if "authed" not in conn.state:
                self.send(conn, status_frame("error", "not authorized"))
                return
            self._subscription(conn, request.action, request.params)
        else:
            self.send(conn, status_frame("error", f"unknown action: {request.action}"))

    def _auth(self, conn: Connection, key: str) -> None:
        self.auth_attempts += 1
        if key != self.api_key:
            self.send(conn, status_frame("auth_failed", "authentication failed"))
            self._close_after_flush(conn, "authentication failed")
            return
        conn.state.setdefault("authed", next(self._auth_order))
        self.send(conn, status_frame("auth_success", "authenticated"))
        if self.max_connections is None:
            return
        live = [c for c in self.connections if "authed" in c.state and "closing" not in c.state]
        live.sort(key=lambda c: int(c.state["authed"]))
        for old in live[: max(0, len(live) - self.max_connections)]:
            self.send(old, status_frame("max_connections", MAX_CONNECTIONS_MESSAGE))
            self._close_after_flush(old, "max connections")

    def _subscription(self, conn: Connection, action: str, params: str) -> None:
        for param in (p.strip() for p in params.split(",")):
            channel, dot, ticker = param.partition(".")
            if channel not in CHANNELS or not dot or not ticker:
                message = f"unsupported subscription {param!r}: this server streams Q and T only"
                self.send(conn, status_frame("error", message))
            elif action == "subscribe":
                self.send(conn, status_frame("success", f"subscribed to: {param}"))
                self.subscribe(conn, param)
            else:
                self.send(conn, status_frame("success", f"unsubscribed to: {param}"))
                self.unsubscribe(conn, param)

    def _close_after_flush(self, conn: Connection, reason: str) -> None:
        """Close ``conn`` (1008) once what was queued for it, the reason first, is sent."""
        conn.state["closing"] = True
        task = asyncio.create_task(self._close(conn, reason))
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    async def _close(self, conn: Connection, reason: str) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                while not conn.queue.empty():  # the writer sets ``room`` after each send
                    conn.room.clear()
                    await conn.room.wait()
        await conn.ws.close(1008, reason)

    async def stop(self) -> None:
        for task in list(self._closers):
            task.cancel()
        await super().stop()


# ------------------------------------------------------------------ recording
START_CENTS = {"AAPL": 22_990, "TSLA": 33_990, "NVDA": 17_990}
ROUND_LOT = {"TSLA": 40}
"""Round lots since 2025-11-03 (SEC MDI tiers: 40 shares for $250.01-$1,000); else 100."""
QUOTE_EXCHANGES = (1, 2, 3, 7, 8, 10, 11, 12, 15, 17, 18, 19, 21)
TRADE_EXCHANGES = (4, 4, 4, 8, 11, 12, 12, 15, 19, 21)
"""4 is FINRA (the TRFs: about a third of prints); trade ids are per exchange."""
TRF_IDS = (201, 202, 203)
TAPE_C = 3
"""All three are Nasdaq-listed: tape C."""


def price_text(units: int, decimals: int) -> str:
    """Fixed-point units as Massive writes a JSON number: shortest form (``229.9``, ``230``)."""
    return format((Decimal(units).scaleb(-decimals)).normalize(), "f")


class _Symbol:
    """One ticker's synthetic NBBO and tape state."""

    def __init__(self, sym: str, rng: random.Random) -> None:
        self.sym, self.rng = sym, rng
        self.lot = ROUND_LOT.get(sym, 100)
        self.bid = START_CENTS.get(sym, 10_000) - 1
        self.ask = self.bid + 1
        self.q = {"Q": rng.randint(1_000_000, 5_000_000), "T": rng.randint(1_000_000, 5_000_000)}
        self.t = 0

    def stamp(self, at_ms: int) -> int:
        self.t = max(self.t, BASE_MS + at_ms - self.rng.randint(0, 2))
        return self.t

    def sequence(self, channel: str) -> int:
        self.q[channel] += self.rng.randint(1, 40)  # increasing, never contiguous by rule
        return self.q[channel]

    def quote(self, at_ms: int) -> str:
        rng = self.rng
        mid = (self.bid + self.ask) // 2 + rng.choice((-1, 0, 0, 0, 1))
        self.bid = mid - rng.choice((0, 0, 1))
        self.ask = self.bid + rng.choice((1, 1, 2))  # 1-2 cent spreads
        bx, ax = rng.choice(QUOTE_EXCHANGES), rng.choice(QUOTE_EXCHANGES)
        return (
            f'{{"ev":"Q","sym":"{self.sym}","bx":{bx},"bp":{price_text(self.bid, 2)},'
            f'"bs":{self.lot * rng.randint(1, 12)},"ax":{ax},"ap":{price_text(self.ask, 2)},'
            f'"as":{self.lot * rng.randint(1, 12)},"t":{self.stamp(at_ms)},'
            f'"q":{self.sequence("Q")},"z":{TAPE_C}}}'
        )

    def trade(self, at_ms: int, trade_ids: dict[int, int]) -> str:
        rng = self.rng
        x = rng.choice(TRADE_EXCHANGES)
        trade_ids[x] += rng.randint(1, 9)
        size = rng.choice((1, 3, 10, 25, 50, 100, 100, 200, 300, 500))
        price = price_text(rng.choice((self.bid, self.ask)), 2)
        conditions = [37] if size < self.lot else ([14] if rng.random() < 0.2 else [])
        t, extra = self.stamp(at_ms), ""
        if x == 4:  # TRF print: sometimes at the midpoint, with sub-penny precision
            if rng.random() < 0.4:
                price = price_text((self.bid + self.ask) * 50, 4)
            extra = f',"trfi":{rng.choice(TRF_IDS)},"trft":{t - rng.randint(1, 20)}'
        c = f',"c":{conditions}'.replace(" ", "") if conditions else ""
        return (
            f'{{"ev":"T","sym":"{self.sym}","i":"{trade_ids[x]}","x":{x},"p":{price},'
            f'"s":{size}{c},"t":{t},"q":{self.sequence("T")},"z":{TAPE_C}{extra}}}'
        )


def synthesize(
    seed: int = 1, seconds: float = 60.0, *, catalog: Catalog | None = None, venue: str = "massive"
) -> list[RecordedFrame]:
    """A deterministic session for ``venue``'s references: about 4 quotes and 1.5 trades
    a second per ticker, one param per frame, sometimes two events in one frame."""
    catalog = catalog or load_catalog(recordings_dir() / "catalog.toml")
    rng = random.Random(seed)
    symbols = [_Symbol(s, rng) for s in sorted(r.symbol for r in catalog.references_on(venue))]
    trade_ids = {x: rng.randint(10**3, 10**5) * (10**9 if x == 4 else 1) for x in TRADE_EXCHANGES}
    timeline: list[tuple[int, int, str]] = []
    for index in range(len(symbols)):
        for channel, mean_ms in (("Q", 250.0), ("T", 700.0)):
            at = 0.0
            while True:
                at += rng.expovariate(1 / mean_ms)
                if at >= seconds * 1000:
                    break
                timeline.append((max(1, int(at)), index, channel))
    frames = []
    for at_ms, index, channel in sorted(timeline):
        symbol = symbols[index]
        count = 2 if rng.random() < 0.1 else 1
        if channel == "Q":
            events = [symbol.quote(at_ms) for _ in range(count)]
        else:
            events = [symbol.trade(at_ms, trade_ids) for _ in range(count)]
        text = "[" + ",".join(events) + "]"
        frames.append(RecordedFrame(at_ms=at_ms, stream=f"{channel}.{symbol.sym}", frame=text))
    return frames


def write_recording(directory: Path | None = None) -> None:
    """Write :data:`RECORDING` into ``directory`` (default: ``ingest/recordings``)."""
    directory = directory or recordings_dir()
    dump_recording(synthesize(), directory / RECORDING, header=HEADER)


if __name__ == "__main__":
    write_recording()
