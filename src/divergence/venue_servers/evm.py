"""An Ethereum JSON-RPC 2.0 websocket node that serves recorded ``Swap`` logs.

The recording (``ingest/recordings/uniswap_v3.jsonl``) is the chain's stream of logs,
one :class:`~divergence.venue_servers.base.RecordedFrame` per log (``stream`` is
``pool:<venue symbol>``, ``frame`` the log object exactly as a node returns it,
``removed: true`` copies included for the reorg). Regenerate it with::

    .venv/bin/python -m divergence.venue_servers.evm

Methods answered like geth: ``eth_subscribe`` (``logs`` with an ``address`` string or list
and ``topics``; other kinds are refused with -32602), ``eth_unsubscribe``,
``eth_getLogs`` (by block range or ``blockHash``, address and topics, over the logs this
node has produced so far: its history up to the cursor, reorged logs dropped),
``eth_blockNumber`` and ``eth_chainId``. Unknown methods get -32601, bad params -32602,
unparsable text -32700. There are no snapshots: a subscriber gets the logs of blocks
produced after it subscribed, and backfills the rest with ``eth_getLogs``.

The chain advances with the pump (:meth:`start_streaming`) or, for tests that need exact
control, block by block with :meth:`mine` (like anvil's ``evm_mine``); do not mix the two.
With ``loop=True`` every pass over the recording is shifted to new block numbers, hashes
and times, so a looping session never repeats a log key (each lap drops the connections,
as the base class does; clients backfill with ``eth_getLogs``). With ``restamp=True``,
``blockTimestamp`` becomes the wall-clock second at which the block is first produced (at
speed 1: the pump start plus ``at_ms``), the same for every log of that block.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from divergence.clock import NS_PER_SECOND
from divergence.content import recordings_dir
from divergence.errors import DivergenceError
from divergence.venue_servers.base import Connection, ProtocolServer
from divergence.venue_servers.evm_synth import synthesize
from divergence.venue_servers.recording import RecordedFrame, dump_recording

RECORDING = "uniswap_v3.jsonl"
REST: dict[str, str] = {}
"""No REST responses: pool terms come from the catalog."""
RECORDING_SEED = 1
RECORDING_SECONDS = 1800.0
CHAIN_ID = "0x1"
HISTORY_KEPT = 200_000
RECORDING_HEADER = """\
Synthetic Uniswap v3 Swap logs of the uniswap-eth pools (ingest/recordings/catalog.toml).
Regenerate: .venv/bin/python -m divergence.venue_servers.evm"""
_BLOCK_TAGS = frozenset({"latest", "safe", "finalized", "pending"})
Log = dict[str, Any]

__all__ = ["RECORDING", "REST", "EvmRpcServer", "LogFilter", "synthesize", "write_recording"]


class RpcError(DivergenceError):
    """A request the node refuses; answered as a JSON-RPC error with ``code``, never raised out."""

    http_status = 400

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class LogFilter:
    """An ``eth_subscribe``/``eth_getLogs`` filter: addresses and topic positions."""

    addresses: frozenset[str] | None
    topics: tuple[frozenset[str] | None, ...]

    @classmethod
    def parse(cls, spec: Any) -> LogFilter:
        if not isinstance(spec, dict):
            raise RpcError(-32602, "invalid params: filter must be an object")
        address = spec.get("address")
        if address == []:  # geth: an empty list matches any address
            address = None
        if isinstance(address, str):
            address = [address]
        if address is not None and not (
            isinstance(address, list) and all(_is_hex(a, 40) for a in address)
        ):
            raise RpcError(-32602, f"invalid params: bad address {address!r}")
        topics = spec.get("topics") or []
        if not isinstance(topics, list) or len(topics) > 4:
            raise RpcError(-32602, "invalid params: topics must be a list of up to 4")
        return cls(
            frozenset(a.lower() for a in address) if address is not None else None,
            tuple(_topic_position(t) for t in topics),
        )

    def matches(self, log: Log) -> bool:
        if self.addresses is not None and log["address"].lower() not in self.addresses:
            return False
        topics = log["topics"]
        for position, wanted in enumerate(self.topics):
            if wanted is None:
                continue
            if position >= len(topics) or topics[position].lower() not in wanted:
                return False
        return True


class EvmRpcServer(ProtocolServer):
    """Serves a recording of logs over Ethereum JSON-RPC on ``ws://host:port/``."""

    venue = "uniswap-eth"

    def __init__(
        self,
        recording: list[RecordedFrame],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        loop: bool = False,
        restamp: bool = False,
    ) -> None:
        super().__init__(recording, host=host, port=port, speed=speed, loop=loop)
        self.restamp = restamp
        self.history: list[Log] = []
        """Canonical logs produced so far (what ``eth_getLogs`` searches), oldest first."""
        numbers = [int(f.frame["blockNumber"], 16) for f in recording]
        self.head = min(numbers) - 1 if numbers else 0
        self._block_span = max(numbers) - min(numbers) + 1 if numbers else 0
        times = [int(f.frame.get("blockTimestamp", "0x0"), 16) for f in recording]
        self._time_span = max(times) - min(times) + 12 if times else 0
        self._streams = {f.frame["address"].lower(): f.stream for f in recording}
        self._pumped = 0
        self._counting = False
        self._block_times: dict[str, int] = {}
        self._subs_made = 0
        self._current: tuple[RecordedFrame, Log, str] | None = None

    # ------------------------------------------------------------ requests
    async def handle_request(self, conn: Connection, text: str) -> None:
        try:
            request = msgspec.json.decode(text)
        except msgspec.DecodeError:
            self.send(conn, _error(None, -32700, "parse error"))
            return
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            self.send(conn, _error(None, -32600, "invalid request"))
            return
        request_id = request.get("id")
        params = request.get("params", [])
        try:
            result = self._call(
                conn, request["method"], params if isinstance(params, list) else None
            )
        except RpcError as exc:
            self.send(conn, _error(request_id, exc.code, exc.message))
            return
        self.send(conn, _encode({"jsonrpc": "2.0", "id": request_id, "result": result}))

    def _call(self, conn: Connection, method: str, params: list[Any] | None) -> Any:
        if params is None:
            raise RpcError(-32602, "invalid params: params must be an array")
        if method == "eth_blockNumber":
            return hex(self.head)
        if method == "eth_chainId":
            return CHAIN_ID
        if method == "eth_subscribe":
            return self._subscribe_logs(conn, params)
        if method == "eth_unsubscribe":
            return self._unsubscribe_logs(conn, params)
        if method == "eth_getLogs":
            if len(params) != 1:
                raise RpcError(-32602, "invalid params: expected [filter]")
            return self.get_logs(params[0])
        raise RpcError(-32601, f"the method {method} does not exist/is not available")

    def _subscribe_logs(self, conn: Connection, params: list[Any]) -> str:
        if not params or params[0] != "logs":
            kind = params[0] if params else None
            raise RpcError(-32602, f"invalid params: unsupported subscription {kind!r}")
        log_filter = LogFilter.parse(params[1] if len(params) > 1 else {})
        self._subs_made += 1
        sub_id = "0x" + hashlib.sha256(f"sub:{self._subs_made}".encode()).hexdigest()[:32]
        subs: dict[str, LogFilter] = conn.state.setdefault("subs", {})
        subs[sub_id] = log_filter
        for address, stream in self._streams.items():
            if log_filter.addresses is None or address in log_filter.addresses:
                self.subscribe(conn, stream)
        return sub_id

    def _unsubscribe_logs(self, conn: Connection, params: list[Any]) -> bool:
        if len(params) != 1 or not isinstance(params[0], str):
            raise RpcError(-32602, "invalid params: expected [subscription id]")
        subs: dict[str, LogFilter] = conn.state.setdefault("subs", {})
        if subs.pop(params[0], None) is None:
            return False
        covered = {
            stream
            for address, stream in self._streams.items()
            for f in subs.values()
            if f.addresses is None or address in f.addresses
        }
        for stream in set(conn.streams) - covered:
            self.unsubscribe(conn, stream)
        return True

    def get_logs(self, spec: Any) -> list[Log]:
        """``eth_getLogs``: canonical logs produced so far that match ``spec``."""
        log_filter = LogFilter.parse(spec)
        block_hash = spec.get("blockHash")
        if block_hash is not None:
            if not _is_hex(block_hash, 64):
                raise RpcError(-32602, f"invalid params: bad blockHash {block_hash!r}")
            wanted = block_hash.lower()
            return [
                lg for lg in self.history if lg["blockHash"] == wanted and log_filter.matches(lg)
            ]
        first = self._block_param(spec.get("fromBlock", "latest"))
        last = self._block_param(spec.get("toBlock", "latest"))
        if first > last:
            raise RpcError(-32602, f"invalid params: fromBlock {first} > toBlock {last}")
        return [
            lg
            for lg in self.history
            if first <= int(lg["blockNumber"], 16) <= last and log_filter.matches(lg)
        ]

    def _block_param(self, value: Any) -> int:
        if not isinstance(value, str):
            raise RpcError(-32602, f"invalid params: bad block {value!r}")
        if value in _BLOCK_TAGS:
            return self.head
        if value == "earliest":
            return 0
        if _is_hex(value, None):
            return int(value, 16)
        raise RpcError(-32602, f"invalid params: bad block {value!r}")

    # ---------------------------------------------------------------- chain
    def initial_state_done(self) -> None:
        self._counting = True

    def observe(self, frame: RecordedFrame) -> None:
        epoch = self._pumped // max(1, len(self.recording) - self._start_index)
        if self._counting:
            self._pumped += 1
        log = self._transform(frame.frame, epoch)
        if log["removed"]:
            key = (log["blockHash"], log["logIndex"])
            self.history = [lg for lg in self.history if (lg["blockHash"], lg["logIndex"]) != key]
        else:
            self.history.append(log)
            if len(self.history) > HISTORY_KEPT:
                del self.history[: len(self.history) - HISTORY_KEPT]
            self.head = max(self.head, int(log["blockNumber"], 16))
        self._current = (frame, log, _encode(log))

    def _transform(self, recorded: Log, epoch: int) -> Log:
        log = dict(recorded)
        if epoch > 0:
            for key in ("blockHash", "transactionHash"):
                log[key] = "0x" + hashlib.sha256(f"{log[key]}:{epoch}".encode()).hexdigest()
            log["blockNumber"] = hex(int(log["blockNumber"], 16) + epoch * self._block_span)
            if "blockTimestamp" in log:
                seconds = int(log["blockTimestamp"], 16) + epoch * self._time_span
                log["blockTimestamp"] = hex(seconds)
        if self.restamp and "blockTimestamp" in log:
            if len(self._block_times) > 1_024:
                self._block_times.clear()
            now = self._block_times.setdefault(log["blockHash"], time.time_ns() // NS_PER_SECOND)
            log["blockTimestamp"] = hex(now)
        return log

    def render(self, frame: RecordedFrame) -> str:
        """The log object as produced (shifted for the loop pass, re-stamped)."""
        if self._current is not None and self._current[0] is frame:
            return self._current[2]
        return _encode(frame.frame)

    def corrupt(self, frame: RecordedFrame, text: str) -> str:
        """Drop the last word of ``data``: the adapter must quarantine it as ``bad data``."""
        data: str = frame.frame["data"]
        return text.replace(data, data[:-64])

    def wants(self, conn: Connection, frame: RecordedFrame) -> bool:
        return bool(conn.state.get("subs"))

    def frames_for(self, conn: Connection, frame: RecordedFrame, text: str) -> list[str]:
        """One notification per subscription whose filter matches the log (own sub ids)."""
        assert self._current is not None and self._current[0] is frame, "observe() first"
        log = self._current[1]
        return [
            _notification(sub_id, text)
            for sub_id, log_filter in conn.state.get("subs", {}).items()
            if log_filter.matches(log)
        ]

    def mine(self, blocks: int = 1) -> list[Log]:
        """Produce the next ``blocks`` recorded blocks now; returns their logs as produced.

        A block is a run of frames with one ``blockHash`` and ``removed`` flag, so a reorg's
        retraction counts as one block and its replacement as the next.
        """
        produced: list[Log] = []
        started = 0
        previous: tuple[str, bool] | None = None
        while self.cursor < len(self.recording):
            frame = self.recording[self.cursor]
            key = (frame.frame["blockHash"], bool(frame.frame["removed"]))
            if key != previous:
                if started == blocks:
                    break
                started += 1
                previous = key
            self.observe(frame)
            self.cursor += 1
            self._deliver(frame)
            assert self._current is not None
            produced.append(self._current[1])
        self._notify()
        return produced


def write_recording(path: Path | None = None) -> Path:
    """Regenerate the committed recording (seed 1, 1800 s: 150 blocks)."""
    target = path or recordings_dir() / RECORDING
    frames = synthesize(RECORDING_SEED, RECORDING_SECONDS)
    dump_recording(frames, target, header=RECORDING_HEADER)
    return target


def _topic_position(value: Any) -> frozenset[str] | None:
    if value is None or value == []:  # a wildcard position
        return None
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(_is_hex(v, 64) for v in values):
        raise RpcError(-32602, f"invalid params: bad topic {value!r}")
    return frozenset(v.lower() for v in values)


def _is_hex(value: Any, digits: int | None) -> bool:
    if not isinstance(value, str) or not value.startswith("0x"):
        return False
    body = value[2:]
    if digits is not None and len(body) != digits:
        return False
    return bool(body) and all(c in "0123456789abcdefABCDEF" for c in body)


def _notification(sub_id: str, log_text: str) -> str:
    return (
        '{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"'
        + sub_id
        + '","result":'
        + log_text
        + "}}"
    )


def _error(request_id: Any, code: int, message: str) -> str:
    return _encode(
        {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    )


def _encode(value: Any) -> str:
    return msgspec.json.encode(value).decode()


if __name__ == "__main__":
    write_recording()
