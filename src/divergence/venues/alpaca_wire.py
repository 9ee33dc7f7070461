"""Alpaca Market Data v2 stock stream wire types, exact decoding and the subscription check.

A frame is a JSON array of objects keyed by ``T``. msgspec decodes the whole array as a
tagged union in one pass, every JSON number straight into :class:`~decimal.Decimal` from
its own text (``229.9`` stays ``229.9``, ``100`` stays ``100``, never a float). Decoding
errors become :class:`~divergence.errors.QuarantineError` with a stable reason (the
Kraken vocabulary plus ``unknown type`` and ``unsupported type``).

Field meanings (docs.alpaca.markets, "Real-time Stock Data" and "WebSocket Stream"):
quote ``bp``/``ap`` prices, ``bs``/``as`` sizes **in round lots**, ``bx``/``ax`` exchange
codes, ``c`` conditions, ``z`` tape (A, B: CTA; C: UTP); trade ``i`` id, ``x`` exchange,
``p`` price, ``s`` size in shares, ``c`` conditions; status ``sc``/``sm`` status code and
message, ``rc``/``rm`` reason code and message; ``t`` RFC 3339 with up to nine
fractional digits everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

import msgspec

from divergence.clock import ns_from_datetime, parse_rfc3339_ns
from divergence.errors import BadRequestError, QuarantineError

MIN_TS = ns_from_datetime(datetime(2000, 1, 1, tzinfo=UTC))
MAX_TS = ns_from_datetime(datetime(2100, 1, 1, tzinfo=UTC))
ACK_CHANNELS = ("quotes", "trades", "statuses")
"""The ack lists we check; ``corrections`` and ``cancelErrors`` follow ``trades`` by
themselves, and ``bars`` and friends are never asked for."""


# ----------------------------------------------------------------- wire types
class WireQuote(msgspec.Struct, tag_field="T", tag="q"):
    S: str
    bp: Decimal
    bs: Decimal
    ap: Decimal
    t: str
    as_: Decimal = msgspec.field(name="as")
    bx: str = ""
    ax: str = ""
    c: list[str] = []
    z: str = ""


class WireTrade(msgspec.Struct, tag_field="T", tag="t"):
    S: str
    i: int
    p: Decimal
    s: Decimal
    t: str
    x: str = ""
    c: list[str] = []
    z: str = ""


class WireStatus(msgspec.Struct, tag_field="T", tag="s"):
    S: str
    sc: str
    t: str
    sm: str = ""
    rc: str = ""
    rm: str = ""
    z: str = ""


class WireSuccess(msgspec.Struct, tag_field="T", tag="success"):
    msg: str


class WireSubscription(msgspec.Struct, tag_field="T", tag="subscription"):
    quotes: list[str] = []
    trades: list[str] = []
    statuses: list[str] = []


class WireError(msgspec.Struct, tag_field="T", tag="error"):
    code: int
    msg: str = ""


class WireUnsupported(msgspec.Struct, tag_field="T"):
    """A documented message type this adapter does not turn into events."""

    S: str = ""


class WireBar(WireUnsupported, tag="b"):
    pass


class WireDailyBar(WireUnsupported, tag="d"):
    pass


class WireUpdatedBar(WireUnsupported, tag="u"):
    pass


class WireCorrection(WireUnsupported, tag="c"):
    pass


class WireCancelError(WireUnsupported, tag="x"):
    pass


class WireLuld(WireUnsupported, tag="l"):
    pass


class WireImbalance(WireUnsupported, tag="i"):
    pass


UNSUPPORTED = {
    "b": "minute bar",
    "d": "daily bar",
    "u": "updated bar",
    "c": "trade correction",
    "x": "trade cancel/error",
    "l": "LULD band",
    "i": "order imbalance",
}
WireMessage = (
    WireQuote
    | WireTrade
    | WireStatus
    | WireSuccess
    | WireSubscription
    | WireError
    | WireBar
    | WireDailyBar
    | WireUpdatedBar
    | WireCorrection
    | WireCancelError
    | WireLuld
    | WireImbalance
)
FRAME = msgspec.json.Decoder(list[WireMessage])
_T = TypeVar("_T")


# ------------------------------------------------------------------- decoding
def decode(decoder: msgspec.json.Decoder[_T], text: str | bytes) -> _T:
    """Decode with ``decoder``; every failure is a QuarantineError with a stable reason."""
    try:
        return decoder.decode(text)
    except msgspec.ValidationError as exc:
        raise _validation(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise QuarantineError("malformed json", detail=str(exc)[:200]) from None


def _validation(message: str) -> QuarantineError:
    if message.startswith("Invalid value") and message.endswith(".T`"):
        return QuarantineError("unknown type", detail=message)
    if message.startswith("Object missing required field"):
        return QuarantineError("missing field", detail=message)
    if "`decimal`" in message or "Invalid decimal" in message:
        return QuarantineError("bad decimal", detail=message)
    return QuarantineError("bad shape", detail=message)


def unsupported_kind(item: WireUnsupported) -> str:
    """``"trade correction"`` for a ``c`` message, and so on (:data:`UNSUPPORTED`)."""
    tag = type(item).__struct_config__.tag
    return UNSUPPORTED.get(str(tag), str(tag))


def parse_timestamp(text: str) -> int:
    """RFC 3339 with up to nine fractional digits to epoch ns, within 2000..2100."""
    try:
        ts = parse_rfc3339_ns(text)
    except BadRequestError:
        raise QuarantineError("bad timestamp", detail=short(text)) from None
    if not MIN_TS <= ts < MAX_TS:
        raise QuarantineError("bad timestamp", detail=f"{short(text)} out of range")
    return ts


def short(value: object, limit: int = 80) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# ------------------------------------------------------- subscription check
class SubscriptionCheck:
    """Compares each ``subscription`` ack (the *whole* current set) with what we asked for.

    Only frames decide, so a replay of the archive reaches the same verdicts:

    - ``connected`` (every new connection) forgets the previous connection (:meth:`reset`);
    - an ack that dropped entries of ours from one channel only and added none is the
      unsubscribe step of a resync (unsubscribe + subscribe of one stream; a ``session:``
      stream covers every symbol of its underlying): expected;
    - otherwise every entry of ours in a request chunk up to the highest chunk the ack
      shows must be in it (the first chunks of a large subscription are acknowledged
      before the later ones are sent); the entries missing are returned once, and again
      only after they came back and went missing anew.
    """

    def __init__(self, symbols: list[str], chunk: int) -> None:
        self.chunk_of = {symbol: i // chunk for i, symbol in enumerate(sorted(symbols))}
        self.wanted = {(ch, s) for ch in ACK_CHANNELS for s in self.chunk_of}
        self.reset()

    def reset(self) -> None:
        self.acked: set[tuple[str, str]] | None = None
        self.reported: set[tuple[str, str]] = set()

    def missing(self, ack: WireSubscription) -> list[tuple[str, str]]:
        """Entries of ours this ack newly lacks (``[]`` when it is as expected)."""
        acked = {(ch, s) for ch in ACK_CHANNELS for s in getattr(ack, ch)}
        previous, self.acked = self.acked, acked
        if previous is not None:
            dropped = (previous - acked) & self.wanted
            if dropped and acked <= previous and len({ch for ch, _ in dropped}) == 1:
                return []
        ours = acked & self.wanted
        top = max((self.chunk_of[s] for _, s in ours), default=0)
        missing = {(ch, s) for ch, s in self.wanted if self.chunk_of[s] <= top} - acked
        new = missing - self.reported
        self.reported = missing
        return sorted(new)
