"""Ethereum JSON-RPC 2.0 frames as typed structs, and strict checks of their hex fields.

Shared by EVM log adapters (``uniswap_v3``). Decoding goes through msgspec into
:class:`Envelope`; a ``result`` stays raw until the request id says what it is. Every
failure is a :class:`~divergence.errors.QuarantineError` with a stable reason:
``malformed json``, ``missing field``, ``bad shape``, ``bad hex``, ``bad timestamp``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import msgspec

from divergence.clock import NS_PER_SECOND, ns_from_datetime
from divergence.errors import QuarantineError

MIN_TS = ns_from_datetime(datetime(2000, 1, 1, tzinfo=UTC))
MAX_TS = ns_from_datetime(datetime(2100, 1, 1, tzinfo=UTC))
_QUANTITY = re.compile(r"0x[0-9a-fA-F]{1,16}")
_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
SUB_ID = re.compile(r"0x[0-9a-fA-F]{1,64}")


class RpcLog(msgspec.Struct, frozen=True, rename="camel"):
    """One log object as ``eth_subscription`` and ``eth_getLogs`` return it (camelCase keys)."""

    address: str
    topics: list[str]
    data: str
    block_number: str
    block_hash: str
    log_index: str
    transaction_hash: str
    removed: bool = False
    block_timestamp: str | None = None
    """Unix seconds, hex; sent by geth >= 1.14.9 and reth, absent on older nodes."""


class RpcError(msgspec.Struct, frozen=True):
    code: int
    message: str = ""


class LogNotification(msgspec.Struct, frozen=True):
    subscription: str
    result: RpcLog


class Envelope(msgspec.Struct, frozen=True):
    """A response (``id`` + ``result`` or ``error``) or a notification (``method``)."""

    id: int | str | None = None
    method: str | None = None
    params: LogNotification | None = None
    result: msgspec.Raw = msgspec.Raw(b"")
    error: RpcError | None = None


ENVELOPE = msgspec.json.Decoder(Envelope)
LOGS = msgspec.json.Decoder(list[RpcLog])
ANY = msgspec.json.Decoder()


def decode(decoder: msgspec.json.Decoder[Any], raw: str | bytes | msgspec.Raw) -> Any:
    """``decoder.decode(raw)`` with msgspec errors as quarantine reasons."""
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        text = str(exc)
        missing = text.startswith("Object missing required field")
        raise QuarantineError(
            "missing field" if missing else "bad shape", detail=text[:200]
        ) from None
    except msgspec.DecodeError as exc:
        raise QuarantineError("malformed json", detail=str(exc)[:200]) from None


def quantity(text: Any, name: str) -> int:
    """A hex QUANTITY (``0x1a``, at most 64 bits)."""
    if not isinstance(text, str) or not _QUANTITY.fullmatch(text):
        raise QuarantineError("bad hex", detail=f"{name} {short(text)} is not a hex quantity")
    return int(text, 16)


def hash32(text: str, name: str) -> str:
    """A 32-byte hash, lower-cased."""
    if not _HASH.fullmatch(text):
        raise QuarantineError("bad hex", detail=f"{name} {short(text)} is not a 32-byte hash")
    return text.lower()


def block_time_ns(log: RpcLog, ts_recv: int) -> int:
    """``blockTimestamp`` in ns when the node sends it, else ``ts_recv``."""
    if log.block_timestamp is None:
        return ts_recv
    ts = quantity(log.block_timestamp, "blockTimestamp") * NS_PER_SECOND
    if not MIN_TS <= ts < MAX_TS:
        raise QuarantineError("bad timestamp", detail=f"blockTimestamp {log.block_timestamp}")
    return ts


def request(request_id: int | str, method: str, params: list[Any]) -> str:
    """One JSON-RPC 2.0 request, compact."""
    body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
    return msgspec.json.encode(body).decode()


def short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
