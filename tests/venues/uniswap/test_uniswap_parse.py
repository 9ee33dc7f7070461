"""The uniswap_v3 adapter on frames in the exact node wire format, hostile ones included."""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from uniswap_harness import (
    AAPL_POOL,
    BLOCK_HASH,
    TIMESTAMP_S,
    TSLA_POOL,
    TX_HASH,
    error_response,
    notification,
    response,
    sqrt_price_x96,
    swap_log,
)

from divergence.catalog import Catalog
from divergence.errors import FeedError, QuarantineError
from divergence.events import FeedEvent, PoolState, Trade
from divergence.feeds.process import process_frame
from divergence.venues.registry import load_adapter
from divergence.venues.uniswap_v3 import PING_MESSAGE, SWAP_TOPIC, UniswapV3Adapter

AAPL_SUB = "0x9cef478923ff08bf67fde6c64013158d"
TSLA_SUB = "0x4a8a4c0517381924f9838102c5a4dcb7"
TS_RECV = 1_751_378_401_500_000_000
NS = 1_000_000_000
SUB_AAPL_ID = f"sub:{AAPL_POOL}"


def subscribed(adapter: UniswapV3Adapter) -> UniswapV3Adapter:
    assert adapter.parse(response(SUB_AAPL_ID, AAPL_SUB), ts_recv=TS_RECV) == []
    assert adapter.parse(response(f"sub:{TSLA_POOL}", TSLA_SUB), ts_recv=TS_RECV) == []
    return adapter


def q18(value: Fraction) -> Decimal:
    scaled = value * 10**18
    floor, rest = divmod(scaled.numerator, scaled.denominator)
    if 2 * rest > scaled.denominator or (2 * rest == scaled.denominator and floor % 2):
        floor += 1
    return Decimal(f"{floor}E-18")


def test_uniswap_parse_registered_declarations(uni_adapter: UniswapV3Adapter) -> None:
    assert load_adapter("uniswap_v3") is UniswapV3Adapter
    spec = uni_adapter.spec
    assert (spec.url, spec.ping_interval_s, spec.max_topics_per_request) == ("", 15.0, 1)
    assert json.loads(PING_MESSAGE) == {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_blockNumber",
        "params": [],
    }
    assert spec.ping_message == PING_MESSAGE
    assert uni_adapter.streams() == [
        "pool:AAPLx/USDC",
        "trade:AAPLx/USDC",
        "pool:TSLAx/USDC",
        "trade:TSLAx/USDC",
    ]
    assert uni_adapter.book_spec("AAPLx/USDC") is None
    assert [json.loads(m) for m in uni_adapter.subscribe_messages()] == [
        {
            "jsonrpc": "2.0",
            "id": f"sub:{pool}",
            "method": "eth_subscribe",
            "params": ["logs", {"address": pool, "topics": [SWAP_TOPIC]}],
        }
        for pool in [AAPL_POOL, TSLA_POOL]
    ]


def test_uniswap_parse_swap_stock_is_token0(uni_adapter: UniswapV3Adapter) -> None:
    adapter = subscribed(uni_adapter)
    sqrt_price = 1_201_589_637_123_456_789_012_345
    liquidity = 65_938_047_339_578_700
    log = swap_log(
        amount0=-2_500_000_000_000_000_000,
        amount1=575_250_001,
        sqrt_price=sqrt_price,
        liquidity=liquidity,
        tick=-221_537,
        block=21_600_123,
        log_index=0x149,
    )
    state, trade = adapter.parse(notification(AAPL_SUB, log), ts_recv=TS_RECV)
    price = Fraction(sqrt_price**2, 2**192) * Fraction(10**18, 10**6)
    assert state == PoolState(
        ts_event=TIMESTAMP_S * NS,
        ts_recv=TS_RECV,
        venue="uniswap-eth",
        instrument_id="AAPLx@uniswap-eth",
        symbol="AAPLx/USDC",
        pool=AAPL_POOL,
        reserve_base=q18(Fraction(liquidity * 2**96, sqrt_price) / 10**18),
        reserve_quote=q18(Fraction(liquidity * sqrt_price, 2**96) / 10**6),
        price=q18(price),
        liquidity=Decimal(liquidity),
        fee_bps=Decimal(30),
        tick=-221_537,
        block_number=21_600_123,
        log_index=329,
        block_hash=BLOCK_HASH,
        removed=False,
    )
    assert Decimal(229) < state.price < Decimal(231)
    assert trade == Trade(
        ts_event=TIMESTAMP_S * NS,
        ts_recv=TS_RECV,
        venue="uniswap-eth",
        instrument_id="AAPLx@uniswap-eth",
        symbol="AAPLx/USDC",
        price=Decimal("230.1000004"),
        size=Decimal("2.5"),
        side="buy",
        trade_id=f"{TX_HASH}:329",
    )
    assert adapter.last_block == 21_600_123


def test_uniswap_parse_swap_stock_is_token1_inverts(uni_adapter: UniswapV3Adapter) -> None:
    adapter = subscribed(uni_adapter)
    sqrt_price = sqrt_price_x96(Fraction(1, 430), 6, 18)  # USDC (token0) in TSLAx
    log = swap_log(
        TSLA_POOL,
        amount0=-860_000_000,
        amount1=2 * 10**18,
        sqrt_price=sqrt_price,
        liquidity=48_224_282_217_541_032,
        tick=198_404,
    )
    state, trade = adapter.parse(notification(TSLA_SUB, log), ts_recv=TS_RECV)
    assert isinstance(state, PoolState) and isinstance(trade, Trade)
    usdc_in_tsla = Fraction(sqrt_price**2, 2**192) * Fraction(10**6, 10**18)
    assert state.price == q18(1 / usdc_in_tsla)
    assert state.price.quantize(Decimal("0.000001")) == Decimal("430.000000")
    x_usdc = Fraction(48_224_282_217_541_032 * 2**96, sqrt_price) / 10**6
    y_tsla = Fraction(48_224_282_217_541_032 * sqrt_price, 2**96) / 10**18
    assert (state.reserve_base, state.reserve_quote) == (q18(y_tsla), q18(x_usdc))
    assert state.fee_bps == Decimal(5)
    assert (trade.price, trade.size, trade.side) == (Decimal(430), Decimal(2), "sell")
    assert trade.symbol == "TSLAx/USDC" and trade.instrument_id == "TSLAx@uniswap-eth"


def test_uniswap_parse_ts_event_falls_back_to_ts_recv(uni_adapter: UniswapV3Adapter) -> None:
    adapter = subscribed(uni_adapter)
    state, trade = adapter.parse(notification(AAPL_SUB, swap_log(timestamp=None)), ts_recv=TS_RECV)
    assert state.ts_event == trade.ts_event == TS_RECV


def test_uniswap_parse_control_replies(uni_adapter: UniswapV3Adapter) -> None:
    adapter = subscribed(uni_adapter)
    assert adapter.subscribe_messages()[-1].startswith('{"jsonrpc":"2.0","id":"sub:')
    assert adapter.parse(response(1, "0x1499700"), ts_recv=TS_RECV) == []
    assert (adapter.head, adapter.last_block, adapter.resume_block) == (
        21_600_000,
        None,
        21_600_000,
    )
    backfill = json.loads(adapter.subscribe_messages()[-1])  # nothing seen: from the head
    assert (backfill["id"], backfill["params"][0]["fromBlock"]) == ("logs:0x1499700", "0x1499700")
    assert adapter.parse(response(f"unsub:{AAPL_POOL}", True), ts_recv=TS_RECV) == []
    assert adapter.parse(response(f"unsub:{TSLA_POOL}", False), ts_recv=TS_RECV) == []
    # an unsubscribed id stays attributable: a notification in flight is still valid
    assert len(adapter.parse(notification(AAPL_SUB, swap_log()), ts_recv=TS_RECV)) == 2


def test_uniswap_parse_duplicate_log_is_skipped(uni_adapter: UniswapV3Adapter) -> None:
    adapter = subscribed(uni_adapter)
    frame = notification(AAPL_SUB, swap_log())
    assert [type(e) for e in adapter.parse(frame, ts_recv=TS_RECV)] == [PoolState, Trade]
    assert adapter.parse(frame, ts_recv=TS_RECV + 1) == []


def test_uniswap_parse_reorg_retracts_by_key(uni_adapter: UniswapV3Adapter) -> None:
    adapter = subscribed(uni_adapter)
    original = swap_log(block=21_600_200, log_index=12)
    adapter.parse(notification(AAPL_SUB, original), ts_recv=TS_RECV)
    retraction, reorg = adapter.parse(
        notification(AAPL_SUB, {**original, "removed": True}), ts_recv=TS_RECV + 7
    )
    assert isinstance(retraction, PoolState) and retraction.removed
    assert (retraction.block_hash, retraction.log_index, retraction.block_number) == (
        BLOCK_HASH,
        12,
        21_600_200,
    )
    assert reorg == FeedEvent(
        ts_event=TS_RECV + 7,
        ts_recv=TS_RECV + 7,
        venue="uniswap-eth",
        stream="pool:AAPLx/USDC",
        event="reorg",
        detail=f"log {BLOCK_HASH}:12 in block 21600200 removed by the node; "
        f"trade {TX_HASH}:12 retracted",
        value=0.0,
    )
    assert adapter.last_block == 21_600_199
    replacement = swap_log(block=21_600_200, log_index=3, block_hash="0x" + "ef" * 32)
    events = adapter.parse(notification(AAPL_SUB, replacement), ts_recv=TS_RECV + 8)
    assert [(type(e), getattr(e, "trade_id", None)) for e in events] == [
        (PoolState, None),
        (Trade, f"{TX_HASH}:3"),
    ]
    assert adapter.last_block == 21_600_200
    # the same (re-orged back) log is accepted again: its key was forgotten
    assert len(adapter.parse(notification(AAPL_SUB, original), ts_recv=TS_RECV + 9)) == 2


def test_uniswap_parse_backfill_after_reconnect(uni_adapter: UniswapV3Adapter) -> None:
    adapter = subscribed(uni_adapter)
    seen = swap_log(block=21_600_300, log_index=1)
    adapter.parse(notification(AAPL_SUB, seen), ts_recv=TS_RECV)
    messages = [json.loads(m) for m in adapter.subscribe_messages()]
    assert messages[-1] == {
        "jsonrpc": "2.0",
        "id": "logs:0x149982c",
        "method": "eth_getLogs",
        "params": [
            {
                "address": [AAPL_POOL, TSLA_POOL],
                "fromBlock": "0x149982c",
                "toBlock": "latest",
                "topics": [SWAP_TOPIC],
            }
        ],
    }
    missed = [
        swap_log(block=21_600_301, log_index=4, tx_hash="0x" + "01" * 32),
        swap_log(
            TSLA_POOL,
            amount0=-430_000_000,
            amount1=10**18,
            block=21_600_302,
            tx_hash="0x" + "02" * 32,
        ),
    ]
    events = adapter.parse(response("logs:0x149982c", [seen, *missed]), ts_recv=TS_RECV + 5)
    trades = [e.trade_id for e in events if isinstance(e, Trade)]
    assert trades == [f"{'0x' + '01' * 32}:4", f"{'0x' + '02' * 32}:7"]
    assert events[-1] == FeedEvent(
        ts_event=TS_RECV + 5,
        ts_recv=TS_RECV + 5,
        venue="uniswap-eth",
        stream="",
        event="backfill",
        detail="eth_getLogs from block 21600300: 3 logs, 2 not seen",
        value=2.0,
    )
    assert adapter.last_block == 21_600_302


def test_uniswap_parse_backfill_is_all_or_nothing(uni_adapter: UniswapV3Adapter) -> None:
    adapter = subscribed(uni_adapter)
    good = swap_log(block=21_600_400)
    bad = {**swap_log(block=21_600_401, log_index=9), "data": "0x" + "00" * 128}
    with pytest.raises(QuarantineError) as caught:
        adapter.parse(response("logs:0x0", [good, bad]), ts_recv=TS_RECV)
    assert caught.value.reason == "bad data"
    assert adapter.last_block is None
    assert len(adapter.parse(response("logs:0x0", [good]), ts_recv=TS_RECV)) == 3


def test_uniswap_parse_resync_messages(uni_adapter: UniswapV3Adapter) -> None:
    adapter = uni_adapter
    assert [json.loads(m)["method"] for m in adapter.resync_messages("pool:TSLAx/USDC")] == [
        "eth_subscribe"
    ]
    subscribed(adapter)
    adapter.parse(notification(AAPL_SUB, swap_log(block=21_600_500)), ts_recv=TS_RECV)
    messages = [json.loads(m) for m in adapter.resync_messages("trade:TSLAx/USDC")]
    assert messages == [
        {
            "jsonrpc": "2.0",
            "id": f"unsub:{TSLA_POOL}",
            "method": "eth_unsubscribe",
            "params": [TSLA_SUB],
        },
        {
            "jsonrpc": "2.0",
            "id": f"sub:{TSLA_POOL}",
            "method": "eth_subscribe",
            "params": ["logs", {"address": TSLA_POOL, "topics": [SWAP_TOPIC]}],
        },
        {
            "jsonrpc": "2.0",
            "id": f"logs:0x14998f4:{TSLA_POOL}",
            "method": "eth_getLogs",
            "params": [
                {
                    "address": TSLA_POOL,
                    "fromBlock": hex(21_600_500),
                    "toBlock": "latest",
                    "topics": [SWAP_TOPIC],
                }
            ],
        },
    ]
    log = swap_log(TSLA_POOL, amount0=-430_000_000, amount1=10**18, block=21_600_501, log_index=30)
    events = adapter.parse(response(f"logs:0x14998f4:{TSLA_POOL}", [log]), ts_recv=TS_RECV)
    assert isinstance(events[-1], FeedEvent)
    assert (events[-1].stream, events[-1].event, events[-1].value) == (
        "pool:TSLAx/USDC",
        "backfill",
        1.0,
    )
    with pytest.raises(FeedError, match="book:TSLAx/USDC"):
        adapter.resync_messages("book:TSLAx/USDC")
    with pytest.raises(FeedError, match="pool:NVDAx/USDC"):
        adapter.resync_messages("pool:NVDAx/USDC")


def test_uniswap_parse_replay_state_depends_on_frames_only(
    uni_adapter: UniswapV3Adapter, uni_catalog: Catalog
) -> None:
    frames = [
        response(SUB_AAPL_ID, AAPL_SUB),
        notification(AAPL_SUB, swap_log(block=21_600_600)),
        notification(AAPL_SUB, swap_log(block=21_600_601, log_index=2)),
    ]
    live = uni_adapter
    live.subscribe_messages()  # what was sent does not matter
    replayed = UniswapV3Adapter(live.venue, uni_catalog)
    out_live = [live.parse(f, ts_recv=TS_RECV) for f in frames]
    out_replay = [replayed.parse(f, ts_recv=TS_RECV) for f in frames]
    assert out_live == out_replay
    assert live.subscribe_messages() == replayed.subscribe_messages()


def _log_with(**changes: Any) -> dict[str, Any]:
    return {**swap_log(), **changes}


QUARANTINES: list[tuple[str, str | bytes, str, str]] = [
    ("garbage", b"\xff\xfe garbage", "malformed json", ""),
    ("truncated", notification(AAPL_SUB, swap_log())[:-40], "malformed json", "truncated"),
    ("nan", '{"jsonrpc":"2.0","id":NaN,"result":"0x1"}', "malformed json", ""),
    ("array", "[1,2,3]", "bad shape", "Expected `object`"),
    ("number", "42", "bad shape", "Expected `object`"),
    ("empty object", "{}", "bad shape", "neither a notification nor a response"),
    ("float id", '{"jsonrpc":"2.0","id":1.5,"result":"0x1"}', "bad shape", "$.id"),
    ("huge id", '{"jsonrpc":"2.0","id":1e999,"result":"0x1"}', "bad shape", "$.id"),
    ("no result", '{"jsonrpc":"2.0","id":"sub:0x1"}', "bad shape", "has no result"),
    ("sub id not hex", response(SUB_AAPL_ID, "abc"), "bad shape", "subscription id 'abc'"),
    ("sub id number", response(SUB_AAPL_ID, 7), "bad shape", "subscription id 7"),
    ("getLogs not a list", response("logs:0x1", {"a": 1}), "bad shape", "Expected `array`"),
    ("getLogs from block", response("logs:12", []), "bad hex", "fromBlock '12'"),
    ("unknown id", response(999, "0x1"), "unknown response", "id 999"),
    ("head not hex", response(1, 21_600_000), "bad hex", "eth_blockNumber 21600000"),
    ("unknown pool id", response("sub:0x" + "22" * 20, "0x1"), "unknown response", "sub:0x2222"),
    ("unknown pool logs", response("logs:0x1:0x" + "22" * 20, []), "unknown response", "0x2222"),
    ("string id", '{"jsonrpc":"2.0","id":"x","result":"0x1"}', "unknown response", "'x'"),
    (
        "refused",
        error_response(SUB_AAPL_ID, -32602, "invalid params"),
        "subscription refused",
        "-32602 invalid params",
    ),
    (
        "ping error",
        error_response(1, -32000, "overloaded"),
        "venue error",
        "id 1: -32000 overloaded",
    ),
    (
        "getLogs error",
        error_response("logs:0x1", -32005, "query returned more than 10000 results"),
        "venue error",
        "-32005",
    ),
    ("null-id error", error_response(None, -32700, "parse error"), "venue error", "-32700"),
    (
        "other method",
        '{"jsonrpc":"2.0","method":"eth_foo","params":null}',
        "unknown method",
        "eth_foo",
    ),
    ("unknown sub", notification("0xdead", swap_log()), "unknown subscription", "0xdead"),
    (
        "sub mismatch",
        notification(AAPL_SUB, swap_log(TSLA_POOL)),
        "subscription mismatch",
        TSLA_POOL,
    ),
    ("unknown pool", notification(AAPL_SUB, swap_log("0x" + "22" * 20)), "unknown pool", "0x2222"),
    (
        "missing data",
        notification(AAPL_SUB, {k: v for k, v in swap_log().items() if k != "data"}),
        "missing field",
        "`data`",
    ),
    (
        "logIndex int",
        notification(AAPL_SUB, _log_with(logIndex=7)),
        "bad shape",
        "$.params.result.logIndex",
    ),
    ("removed string", notification(AAPL_SUB, _log_with(removed="false")), "bad shape", "removed"),
    (
        "two topics",
        notification(AAPL_SUB, _log_with(topics=[SWAP_TOPIC, "0x01"])),
        "bad topics",
        "found 2",
    ),
    (
        "wrong topic0",
        notification(AAPL_SUB, _log_with(topics=["0x" + "19" * 32, "0x1", "0x2"])),
        "wrong topic",
        "not Swap",
    ),
    (
        "blockNumber decimal",
        notification(AAPL_SUB, _log_with(blockNumber="21600000")),
        "bad hex",
        "blockNumber",
    ),
    (
        "blockNumber huge",
        notification(AAPL_SUB, _log_with(blockNumber="0x" + "f" * 40)),
        "bad hex",
        "blockNumber",
    ),
    ("logIndex signed", notification(AAPL_SUB, _log_with(logIndex="-0x1")), "bad hex", "logIndex"),
    ("short hash", notification(AAPL_SUB, _log_with(blockHash="0xabc")), "bad hex", "blockHash"),
    (
        "tx hash",
        notification(AAPL_SUB, _log_with(transactionHash="0x" + "g" * 64)),
        "bad hex",
        "transactionHash",
    ),
    (
        "data words",
        notification(AAPL_SUB, _log_with(data="0x" + "00" * 64)),
        "bad data",
        "(2 words)",
    ),
    ("data text", notification(AAPL_SUB, _log_with(data="0x" + "x" * 320)), "bad hex", "not hex"),
    (
        "zero timestamp",
        notification(AAPL_SUB, _log_with(blockTimestamp="0x0")),
        "bad timestamp",
        "0x0",
    ),
    (
        "far timestamp",
        notification(AAPL_SUB, _log_with(blockTimestamp="0xffffffffff")),
        "bad timestamp",
        "",
    ),
]


@pytest.mark.parametrize(
    ("frame", "reason", "needle"), [q[1:] for q in QUARANTINES], ids=[q[0] for q in QUARANTINES]
)
def test_uniswap_parse_quarantines(
    uni_adapter: UniswapV3Adapter, frame: str | bytes, reason: str, needle: str
) -> None:
    adapter = subscribed(uni_adapter)
    with pytest.raises(QuarantineError) as caught:
        adapter.parse(frame, ts_recv=TS_RECV)
    assert caught.value.reason == reason
    assert needle in caught.value.detail
    assert adapter.last_block is None  # nothing half-applied


def test_uniswap_parse_liquidity_beyond_storage_is_quarantined_by_the_checks(
    uni_adapter: UniswapV3Adapter,
) -> None:
    """L above 10**20 cannot be stored as DECIMAL(38, 18): the generic checks refuse it."""
    adapter = subscribed(uni_adapter)
    frame = notification(AAPL_SUB, swap_log(liquidity=10**21))
    events, rejects = process_frame(adapter, venue="uniswap-eth", frame=frame, ts_recv=TS_RECV)
    assert [type(e) for e in events] == [Trade]
    assert [(r.reason, r.detail[:26]) for r in rejects] == [
        ("value too large", "liquidity=1000000000000000")
    ]


def test_uniswap_parse_backfill_retracts_logs_orphaned_while_away(
    uni_adapter: UniswapV3Adapter,
) -> None:
    adapter = subscribed(uni_adapter)
    old_hash, orphan_hash, new_hash = ("0x" + c * 64 for c in "123")
    kept = swap_log(block=100, log_index=1, block_hash=old_hash)
    orphan = swap_log(block=101, log_index=2, block_hash=orphan_hash, tx_hash="0x" + "aa" * 32)
    for log in (kept, orphan):
        adapter.parse(notification(AAPL_SUB, log), ts_recv=TS_RECV)
    assert json.loads(adapter.subscribe_messages()[-1])["id"] == "logs:0x65"
    newer = swap_log(block=103, log_index=1, block_hash="0x" + "4" * 64)
    adapter.parse(notification(AAPL_SUB, newer), ts_recv=TS_RECV)  # arrived before the reply
    replacement = swap_log(block=101, log_index=5, block_hash=new_hash, tx_hash="0x" + "aa" * 32)
    following = swap_log(block=102, log_index=0, block_hash="0x" + "5" * 64)
    events = adapter.parse(response("logs:0x65", [replacement, following]), ts_recv=TS_RECV + 9)
    retraction, reorg = events[:2]
    assert isinstance(retraction, PoolState) and retraction.removed
    assert (retraction.block_hash, retraction.log_index, retraction.ts_recv) == (
        orphan_hash,
        2,
        TS_RECV + 9,
    )
    assert isinstance(reorg, FeedEvent) and reorg.event == "reorg"
    assert reorg.detail == (
        f"log {orphan_hash}:2 in block 101 not in the backfill; "
        f"trade {'0x' + 'aa' * 32}:2 retracted"
    )
    assert [e.trade_id for e in events if isinstance(e, Trade)] == [
        f"{'0x' + 'aa' * 32}:5",
        f"{TX_HASH}:0",
    ]
    assert [e.removed for e in events if isinstance(e, PoolState)] == [True, False, False]
    assert isinstance(events[-1], FeedEvent) and events[-1].value == 2.0
    assert adapter.last_block == 102  # stepped back by the retraction: 103 is re-read next time
