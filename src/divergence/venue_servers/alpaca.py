"""A local Alpaca Market Data v2 stock stream that replays ``ingest/recordings/alpaca_v2.jsonl``.

It answers the v2 control protocol as Alpaca documents it (docs.alpaca.markets, "WebSocket
Stream" and "Real-time Stock Data"):

- on connect ``[{"T":"success","msg":"connected"}]``; the client must send
  ``{"action":"auth","key":...,"secret":...}`` within ``auth_timeout_s`` (10 s) or gets
  error 404 ``auth timeout`` and the socket is closed;
- auth with the server's ``key``/``secret`` (default ``test-key``/``test-secret``, what
  tests and ``divergence venue-server alpaca`` use) -> ``[{"T":"success","msg":"authenticated"}]``;
  wrong ones -> 402 ``auth failed`` and close; a second auth -> 403; with
  ``one_connection`` (the default, as on most Alpaca plans) a second *authenticated*
  connection -> 406 ``connection limit exceeded`` and close;
- ``subscribe`` / ``unsubscribe`` with ``trades``, ``quotes``, ``bars``, ``updatedBars``,
  ``dailyBars``, ``statuses`` or ``lulds`` lists (``"*"`` for every symbol) -> the
  ``subscription`` ack listing the *whole* current set (``corrections`` and
  ``cancelErrors`` follow ``trades``); before auth -> 401; anything malformed -> 400
  ``invalid syntax``; over ``symbol_limit`` symbols -> 405 and the set is unchanged.

The recording's frames are Alpaca's arrays of ``q``/``t``/``s`` messages; each has the
server stream ``quotes:<S>``, ``trades:<S>`` or ``statuses:<S>`` and reaches only the
connections subscribed to it (for the fault controls: ``skip_next("quotes:AAPL")``).
:meth:`AlpacaServer.corrupt` cuts a frame in half (malformed JSON); :meth:`refuse` makes
the server leave symbols out of its acks, as a venue silently dropping a subscription.
``restamp=True`` rewrites every ``t`` to wall-clock now, keeping each one's offset from
its frame's market time, and from the second lap of a looped recording on, raises trade
ids by :data:`LAP_TRADE_IDS` per lap so they never repeat. The recording has no REST
responses (:data:`REST` is empty).

Regenerate the recording (byte for byte, a test checks)::

    .venv/bin/python -m divergence.venue_servers.alpaca
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import orjson

from divergence.catalog import Catalog, load_catalog
from divergence.clock import now_ns, parse_rfc3339_ns
from divergence.content import recordings_dir
from divergence.venue_servers.base import Connection, ProtocolServer
from divergence.venue_servers.recording import RecordedFrame, dump_recording

RECORDING = "alpaca_v2.jsonl"
REST: dict[str, str] = {}
VALID_KEY, VALID_SECRET = "test-key", "test-secret"
AUTH_TIMEOUT_S = 10.0
BASE_NS = 1_786_372_200_000_000_000
"""2026-08-10T14:30:00Z (10:30 ET, a Monday): the token recordings' time origin."""
CHANNEL_KEYS = ("trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds")
CONNECTED = '[{"T":"success","msg":"connected"}]'
AUTHENTICATED = '[{"T":"success","msg":"authenticated"}]'
HEADER = (
    "Alpaca Market Data v2 stock stream (sip), synthetic (divergence.venue_servers.alpaca\n"
    ".synthesize, seed 1, 60 s) for the alpaca references of ingest/recordings/catalog.toml:\n"
    "NBBO quotes, trades and one LULD pause of NVDA (P at 30 s, Q at 40 s, T at 45 s; real\n"
    "pauses last 5 minutes). One RecordedFrame per line; frame is the exact wire text.\n"
    "Regenerate: .venv/bin/python -m divergence.venue_servers.alpaca"
)
_TIMESTAMP = re.compile(r'"t":"([^"]+)"')
_TRADE_ID = re.compile(r'"i":(\d+)')
LAP_TRADE_IDS = 10_000_000
"""With ``restamp``, trade ids grow by this much per lap of a looped recording: a live
venue never repeats an id (the pipeline would drop the trade as a duplicate)."""

# ------------------------------------------------------------------ synthesis
START_CENTS = {"AAPL": 22_989, "TSLA": 33_989, "NVDA": 17_989}
"""Opening bid in cents; other symbols draw one between 50 and 500 dollars."""
PAUSE = ("NVDA", 30_000, 40_000, 45_000)
"""Symbol, then ms of the LULD pause (P), the quotation resumption (Q), the trading one (T)."""
REOPEN_CENTS = 270
QUOTE_VENUES = ("Q", "P", "K", "Z", "V", "U", "H", "J")
TRADE_VENUES = ("D", "D", "Q", "K", "P", "Z", "V", "U")
TRADE_SIZES = (100, 100, 100, 200, 300, 500, 1, 3, 10, 25, 50, 73)
QUOTES_PER_S, TRADES_PER_S = 3.0, 1.2


def rfc3339_nano(ns: int) -> str:
    """Epoch ns as Alpaca (Go's RFC3339Nano) writes it: trailing fractional zeros dropped."""
    seconds, rest = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    fraction = f".{rest:09d}".rstrip("0") if rest else ""
    return f"{stamp}{fraction}Z"


def _price(units: int, decimals: int = 2) -> str:
    """``22990`` -> ``229.9``: the shortest text, as Alpaca's JSON numbers are written."""
    whole, frac = divmod(units, 10**decimals)
    return f"{whole}.{frac:0{decimals}d}".rstrip("0").rstrip(".")


def _js(value: object) -> str:
    return msgspec.json.encode(value).decode()


@dataclass
class _Tape:
    """One symbol's market: the NBBO in cents and lots, and trade ids per exchange."""

    symbol: str
    rng: random.Random
    bid: int
    spread: int = 1
    trade_ids: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for venue in sorted(set(TRADE_VENUES)):
            self.trade_ids[venue] = self.rng.randrange(1_000, 90_000)

    def stamp_ns(self, at_ms: int) -> int:
        """The SIP time of a message received at ``at_ms``: 0.1 to 3 ms earlier."""
        return BASE_NS + at_ms * 1_000_000 - self.rng.randrange(100_000, 3_000_000)

    def quote(self, at_ms: int) -> str:
        if self.rng.random() < 0.35:
            self.bid += self.rng.choice((-1, 1))
        if self.rng.random() < 0.3:
            self.spread = 3 - self.spread  # 1 <-> 2 cents
        bx, ax = self.rng.choice(QUOTE_VENUES), self.rng.choice(QUOTE_VENUES)
        bs, asz = self.rng.randint(1, 12), self.rng.randint(1, 12)
        return (
            f'[{{"T":"q","S":{_js(self.symbol)},"bx":"{bx}","bp":{_price(self.bid)},"bs":{bs},'
            f'"ax":"{ax}","ap":{_price(self.bid + self.spread)},"as":{asz},"c":["R"],'
            f'"z":"C","t":"{rfc3339_nano(self.stamp_ns(at_ms))}"}}]'
        )

    def trade(self, at_ms: int) -> str:
        prints = 2 if self.rng.random() < 0.15 else 1  # a sweep prints on two venues
        at_ask = self.rng.random() < 0.5
        ts = self.stamp_ns(at_ms)
        items = [
            self._print(ts + n * self.rng.randrange(1_000, 50_000), at_ask) for n in range(prints)
        ]
        return "[" + ",".join(items) + "]"

    def _print(self, ts: int, at_ask: bool) -> str:
        venue, size = self.rng.choice(TRADE_VENUES), self.rng.choice(TRADE_SIZES)
        price = _price(self.bid + self.spread if at_ask else self.bid)
        conditions = ["@", "I"] if size < 100 else ["@", "F"] if self.rng.random() < 0.2 else ["@"]
        if venue == "D" and self.rng.random() < 0.4:  # off-exchange, sub-penny inside the NBBO
            price = _price(self.bid * 100 + self.rng.randrange(1, self.spread * 100), 4)
        self.trade_ids[venue] += self.rng.randint(1, 40)
        return (
            f'{{"T":"t","S":{_js(self.symbol)},"i":{self.trade_ids[venue]},"x":"{venue}",'
            f'"p":{price},"s":{size},"c":{_js(conditions)},"z":"C","t":"{rfc3339_nano(ts)}"}}'
        )

    def status(self, at_ms: int, code: str, message: str, reason: str, why: str) -> str:
        return (
            f'[{{"T":"s","S":{_js(self.symbol)},"sc":"{code}","sm":"{message}","rc":"{reason}",'
            f'"rm":"{why}","t":"{rfc3339_nano(self.stamp_ns(at_ms))}","z":"C"}}]'
        )


def _arrivals(rng: random.Random, rate: float, seconds: float) -> list[int]:
    """Poisson arrival times in ms, from 5 ms on (``at_ms == 0`` would be initial state)."""
    times: list[int] = []
    at = 5.0
    while True:
        at += rng.expovariate(rate) * 1000
        if at >= seconds * 1000:
            return times
        times.append(int(at))


def _symbol_frames(symbol: str, seed: int, seconds: float) -> list[tuple[int, int, str, str]]:
    """(at_ms, order, stream, text) of one symbol; draws depend on this symbol only."""
    rng = random.Random(f"{seed}:{symbol}")
    start = START_CENTS.get(symbol) or rng.randrange(5_000, 50_000)
    tape = _Tape(symbol, rng, start)
    symbol_pauses = symbol == PAUSE[0]
    _, pause, quoting, resume = PAUSE
    events = [(t, 0, "quotes") for t in _arrivals(rng, QUOTES_PER_S, seconds)]
    events += [(t, 1, "trades") for t in _arrivals(rng, TRADES_PER_S, seconds)]
    out: list[tuple[int, int, str, str]] = []
    if symbol_pauses:
        luld = "Volatility Trading Pause"
        for at_ms, code, message, reason, why in (
            (pause, "P", luld, "LUDP", luld),
            (quoting, "Q", "Quotation Resumption", "", ""),
            (resume, "T", "Trading Resumption", "", ""),
        ):
            text = tape.status(at_ms, code, message, reason, why)
            out.append((at_ms, 2, f"statuses:{symbol}", text))
    reopened = False
    for at_ms, order, channel in sorted(events):
        halted = symbol_pauses and pause <= at_ms < (quoting if channel == "quotes" else resume)
        if halted:
            continue
        if symbol_pauses and at_ms >= quoting and not reopened:
            tape.bid, reopened = tape.bid + REOPEN_CENTS, True
        text = tape.quote(at_ms) if channel == "quotes" else tape.trade(at_ms)
        out.append((at_ms, order, f"{channel}:{symbol}", text))
    return out


def synthesize(
    seed: int = 1, seconds: float = 60.0, *, catalog: Catalog | None = None, venue: str = "alpaca"
) -> list[RecordedFrame]:
    """A deterministic session for the catalog's references on ``venue`` (default: the
    recordings' catalog)."""
    catalog = catalog or load_catalog(recordings_dir() / "catalog.toml")
    symbols = sorted({r.symbol for r in catalog.references_on(venue)})
    rows = [row for s in symbols for row in _symbol_frames(s, seed, seconds)]
    rows.sort(key=lambda row: (row[0], row[1], row[2]))
    return [RecordedFrame(at_ms=at, stream=stream, frame=text) for at, _, stream, text in rows]


def write_recording(path: Path | None = None) -> Path:
    """(Re)write the committed session, ``ingest/recordings/alpaca_v2.jsonl`` by default."""
    target = path or recordings_dir() / RECORDING
    dump_recording(synthesize(), target, header=HEADER)
    return target


# --------------------------------------------------------------------- server
class AlpacaServer(ProtocolServer):
    """Serves an Alpaca v2 recording; see the module docstring for the protocol."""

    venue = "alpaca"

    def __init__(
        self,
        recording: list[RecordedFrame],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        loop: bool = False,
        restamp: bool = False,
        key: str = VALID_KEY,
        secret: str = VALID_SECRET,
        auth_timeout_s: float = AUTH_TIMEOUT_S,
        one_connection: bool = True,
        symbol_limit: int | None = None,
    ) -> None:
        super().__init__(recording, host=host, port=port, speed=speed, loop=loop)
        self.restamp = restamp
        self.key, self.secret = key, secret
        self.auth_timeout_s = auth_timeout_s
        self.one_connection = one_connection
        self.symbol_limit = symbol_limit
        self.auth_log: list[str] = []
        """Every auth outcome in order: ``authenticated`` or the error code sent."""
        self.refused: set[str] = set()
        self.lap = 0
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------- faults
    def refuse(self, *symbols: str) -> None:
        """Leave ``symbols`` out of every later subscription (and so out of the acks)."""
        self.refused.update(symbols)

    # --------------------------------------------------------- rendering
    def reset_state(self) -> None:
        self.lap += 1  # a new lap of a looped recording

    def render(self, frame: RecordedFrame) -> str:
        text = str(frame.frame)
        if not self.restamp:
            return text
        offset = now_ns() - (BASE_NS + frame.at_ms * 1_000_000)
        text = _TIMESTAMP.sub(
            lambda m: f'"t":"{rfc3339_nano(parse_rfc3339_ns(m[1]) + offset)}"', text
        )
        if self.lap:
            text = _TRADE_ID.sub(lambda m: f'"i":{int(m[1]) + self.lap * LAP_TRADE_IDS}', text)
        return text

    def corrupt(self, frame: RecordedFrame, text: str) -> str:
        return text[: len(text) // 2]

    def wants(self, conn: Connection, frame: RecordedFrame) -> bool:
        channel, _, _ = frame.stream.partition(":")
        return frame.stream in conn.streams or f"{channel}:*" in conn.streams

    # ------------------------------------------------------- life cycle
    def on_connect(self, conn: Connection) -> list[str]:
        conn.state["authenticated"] = False
        self._spawn(self._auth_deadline(conn))
        return [CONNECTED]

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await super().stop()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _auth_deadline(self, conn: Connection) -> None:
        await asyncio.sleep(self.auth_timeout_s)
        if conn in self.connections and not conn.state["authenticated"]:
            self.auth_log.append("404")
            await self._refuse(conn, 404, "auth timeout")

    async def _refuse(self, conn: Connection, code: int, message: str) -> None:
        """Send an error, let the writer flush it, then close the socket."""
        self.send(conn, _error(code, message))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                while not conn.queue.empty() and not conn.muted:
                    conn.room.clear()
                    await conn.room.wait()
        await conn.ws.close(1008, message)

    # ---------------------------------------------------------- protocol
    async def handle_request(self, conn: Connection, text: str) -> None:
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            request = None
        action = request.get("action") if isinstance(request, dict) else None
        if action == "auth":
            assert isinstance(request, dict)
            await self._auth(conn, request)
        elif action in ("subscribe", "unsubscribe"):
            assert isinstance(request, dict)
            if not conn.state["authenticated"]:
                self.send(conn, _error(401, "not authenticated"))
            else:
                self._subscription(conn, str(action), request)
        else:
            self.send(conn, _error(400, "invalid syntax"))

    async def _auth(self, conn: Connection, request: dict[str, Any]) -> None:
        if conn.state["authenticated"]:
            self.send(conn, _error(403, "already authenticated"))
            return
        if request.get("key") != self.key or request.get("secret") != self.secret:
            self.auth_log.append("402")
            await self._refuse(conn, 402, "auth failed")
            return
        others = [c for c in self.connections if c is not conn and c.state.get("authenticated")]
        if self.one_connection and others:
            self.auth_log.append("406")
            await self._refuse(conn, 406, "connection limit exceeded")
            return
        conn.state["authenticated"] = True
        self.auth_log.append("authenticated")
        self.send(conn, AUTHENTICATED)

    def _subscription(self, conn: Connection, action: str, request: dict[str, Any]) -> None:
        lists = {k: v for k, v in request.items() if k != "action"}
        valid = all(
            k in CHANNEL_KEYS and isinstance(v, list) and all(isinstance(s, str) for s in v)
            for k, v in lists.items()
        )
        if not valid or not any(lists.values()):
            self.send(conn, _error(400, "invalid syntax"))
            return
        streams = {f"{k}:{s}" for k, symbols in lists.items() for s in symbols}
        if action == "subscribe" and self._over_limit(conn.streams | streams):
            self.send(conn, _error(405, "symbol limit exceeded"))
            return
        for stream in sorted(streams):
            if action == "unsubscribe":
                self.unsubscribe(conn, stream)
            elif stream.partition(":")[2] not in self.refused:
                self.subscribe(conn, stream)
        self.send(conn, _ack(conn.streams))

    def _over_limit(self, streams: Iterable[str]) -> bool:
        if self.symbol_limit is None:
            return False
        symbols = {s.partition(":")[2] for s in streams if s.startswith(("trades:", "quotes:"))}
        return len(symbols) > self.symbol_limit


def _error(code: int, message: str) -> str:
    return orjson.dumps([{"T": "error", "code": code, "msg": message}]).decode()


def _ack(streams: Iterable[str]) -> str:
    by_key: dict[str, list[str]] = {k: [] for k in CHANNEL_KEYS}
    for stream in sorted(streams):
        key, _, symbol = stream.partition(":")
        by_key[key].append(symbol)
    trades = by_key["trades"]
    ack = {"T": "subscription", **by_key, "corrections": trades, "cancelErrors": trades}
    return orjson.dumps([ack]).decode()


if __name__ == "__main__":
    write_recording()
