"""The ``uniswap_v3`` adapter: Uniswap v3 ``Swap`` logs from an Ethereum node's JSON-RPC.

Wire format (docs/venues.md): JSON-RPC 2.0 over ws://. The adapter sends one
``eth_subscribe ["logs", {"address": pool, "topics": [SWAP_TOPIC]}]`` per pool; the node
acks ``{"id": .., "result": "0x<subId>"}`` and pushes ``eth_subscription`` notifications
whose ``result`` is one log. There is no default endpoint: the node URL must come from
settings ``venues.<id>.url``. The ping is ``eth_blockNumber`` (its reply is a frame, so the
runtime can tell a dead connection from a quiet pool).

Request ids say what they ask, so :meth:`UniswapV3Adapter.parse` attributes every reply
from the frames alone and replaying an archive reproduces the live state: ``1`` is the
ping, ``"sub:<pool>"`` an ``eth_subscribe`` (its result, the sub id, maps to that pool),
``"unsub:<pool>"`` an ``eth_unsubscribe`` (reply ignored: the last :data:`SUBS_KEPT` sub
ids stay attributable, so a notification in flight is still valid), ``"logs:<fromBlock>"``
an ``eth_getLogs`` of every pool and ``"logs:<fromBlock>:<pool>"`` of one pool.

Missed blocks: a log subscription does not replay what was missed while disconnected.
Once a log or a ping reply has been parsed, :meth:`~UniswapV3Adapter.subscribe_messages`
adds an ``eth_getLogs`` from the last block with a log seen (else the node's last reported
head) to ``latest``; a resync adds one for its pool.
Its logs are parsed like notifications; logs already seen (key ``blockHash`` +
``logIndex``, the last :data:`SEEN_KEPT`) are skipped, and a ``backfill`` feed event
carries the number recovered.

Events per ``Swap`` log: a :class:`~divergence.events.PoolState` (stream ``pool:SYM``:
price, virtual reserves, liquidity, tick, block and log position) and a
:class:`~divergence.events.Trade` (stream ``trade:SYM``, ``trade_id`` =
``"<txHash>:<logIndex in decimal>"``; none when an amount is zero). ``ts_event`` is the
log's ``blockTimestamp`` (hex seconds; geth >= 1.14.9 and reth send it), else ``ts_recv``.

Reorgs: a log with ``removed: true`` yields a PoolState with ``removed=True`` for the same
(``block_hash``, ``log_index``) and a ``reorg`` feed event naming the retracted trade id.
No Trade is emitted for it, and a Trade emitted earlier is neither re-emitted nor negated:
downstream excludes retracted logs by key. A reorg while disconnected sends no removed
logs; a backfill finds it instead: a log seen in the backfilled range (up to the newest
block the node returned, last :data:`RECENT_BLOCKS` blocks) that the node no longer
returns is retracted the same way.

Quarantine reasons: ``malformed json``, ``bad shape``, ``missing field``, ``unknown method``,
``unknown response``, ``venue error``, ``subscription refused``, ``unknown subscription``,
``subscription mismatch``, ``unknown pool``, ``bad topics``, ``wrong topic``, ``bad hex``,
``bad data``, ``bad price``, ``bad amounts``, ``bad timestamp``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from msgspec.structs import replace

from divergence.catalog import Catalog, Venue
from divergence.errors import ConfigError, FeedError, QuarantineError
from divergence.events import Event, FeedEvent, FeedEventKind, PoolState, Trade, feed_event
from divergence.venues import evm_rpc as rpc
from divergence.venues.contract import AdapterSpec, BookSpec, split_stream
from divergence.venues.uniswap_v3_math import PoolMath, SwapWords, decode_swap_data

SWAP_TOPIC = "0xc42079f94a6350d7e6235f29174924f928cc2ac818eb64fed8004e115fbcca67"
"""topic0 of ``Swap(address,address,int256,int256,uint160,uint128,int24)``."""
PING_ID = 1
PING_MESSAGE = '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}'
SEEN_KEPT = 100_000
"""(blockHash, logIndex) keys remembered for de-duplication (bounded memory)."""
SUBS_KEPT = 4_096
RECENT_BLOCKS = 256
"""Blocks whose pool states are kept to retract them if a backfill shows them orphaned."""


@dataclass(frozen=True)
class PoolListing:
    """One pool of the catalog as the adapter needs it."""

    symbol: str
    instrument_id: str
    address: str
    fee_bps: Decimal
    math: PoolMath


@dataclass(frozen=True)
class _Swap:
    """A validated log, before it touches adapter state."""

    pool: PoolListing
    block: int
    log_index: int
    block_hash: str
    tx_hash: str
    removed: bool
    ts_event: int
    words: SwapWords


class UniswapV3Adapter:
    """Parses Uniswap v3 ``Swap`` logs of the catalog's pools on one chain."""

    spec = AdapterSpec(
        url="",
        ping_interval_s=15.0,
        ping_message=PING_MESSAGE,
        max_topics_per_request=1,
        stale_min_s={"pool": 600.0, "trade": 600.0},
    )
    """No default URL: the node endpoint comes from settings ``venues.<id>.url``."""

    def __init__(self, venue: Venue, catalog: Catalog) -> None:
        self.venue = venue
        self.pools = _listings(venue, catalog)
        self._by_address = {p.address.lower(): p for p in self.pools}
        self._by_symbol = {p.symbol: p for p in self.pools}
        self._subs: OrderedDict[str, PoolListing] = OrderedDict()  # sub id -> pool
        self._current_sub: dict[str, str] = {}  # pool address -> its latest sub id
        self._seen: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._recent: dict[int, list[tuple[PoolState, str]]] = {}  # block -> (state, tx)
        self.last_block: int | None = None
        """The highest block of a log parsed (stepped back on a reorg); None before any."""
        self.head: int | None = None
        """The node's block number from the last ``eth_blockNumber`` reply."""

    @property
    def resume_block(self) -> int | None:
        """Where a backfill starts: the last block with a log seen, else the node's head."""
        return self.last_block if self.last_block is not None else self.head

    def streams(self) -> list[str]:
        return [f"{ch}:{p.symbol}" for p in self.pools for ch in ("pool", "trade")]

    def subscribe_messages(self) -> list[str]:
        messages = [self._subscribe(p) for p in self.pools]
        start = self.resume_block
        if start is not None:
            query = self._logs_query([p.address for p in self.pools], start)
            messages.append(rpc.request(f"logs:{hex(start)}", "eth_getLogs", [query]))
        return messages

    def resync_messages(self, stream: str) -> list[str]:
        channel, symbol = split_stream(stream)
        pool = self._by_symbol.get(symbol)
        if pool is None or channel not in ("pool", "trade"):
            raise FeedError(f"{self.venue.id}: no stream {stream!r} (streams: {self.streams()})")
        messages = []
        sub_id = self._current_sub.get(pool.address.lower())
        if sub_id is not None:
            messages.append(rpc.request(f"unsub:{pool.address}", "eth_unsubscribe", [sub_id]))
        messages.append(self._subscribe(pool))
        start = self.resume_block
        if start is not None:
            query = self._logs_query(pool.address, start)
            request_id = f"logs:{hex(start)}:{pool.address}"
            messages.append(rpc.request(request_id, "eth_getLogs", [query]))
        return messages

    def book_spec(self, symbol: str) -> BookSpec | None:
        return None

    @staticmethod
    def _subscribe(pool: PoolListing) -> str:
        params = ["logs", {"address": pool.address, "topics": [SWAP_TOPIC]}]
        return rpc.request(f"sub:{pool.address}", "eth_subscribe", params)

    @staticmethod
    def _logs_query(address: str | list[str], from_block: int) -> dict[str, Any]:
        return {
            "address": address,
            "fromBlock": hex(from_block),
            "toBlock": "latest",
            "topics": [SWAP_TOPIC],
        }

    # ------------------------------------------------------------------ parse
    def parse(self, frame: str | bytes, *, ts_recv: int) -> list[Event]:
        envelope: rpc.Envelope = rpc.decode(rpc.ENVELOPE, frame)
        if envelope.method is not None:
            if envelope.method != "eth_subscription" or envelope.params is None:
                raise QuarantineError("unknown method", detail=rpc.short(envelope.method))
            return self._notification(envelope.params, ts_recv)
        if envelope.id is None and envelope.error is None:
            raise QuarantineError("bad shape", detail="neither a notification nor a response")
        return self._response(envelope, ts_recv)

    def _notification(self, note: rpc.LogNotification, ts_recv: int) -> list[Event]:
        pool = self._subs.get(note.subscription)
        if pool is None:
            raise QuarantineError("unknown subscription", detail=rpc.short(note.subscription))
        swap = self._validate(note.result, ts_recv)
        if swap.pool is not pool:
            raise QuarantineError(
                "subscription mismatch",
                detail=f"{note.subscription} is {pool.address}, log from {note.result.address}",
            )
        return self._apply(swap, ts_recv)

    def _response(self, envelope: rpc.Envelope, ts_recv: int) -> list[Event]:
        request_id = envelope.id
        kind, _, target = request_id.partition(":") if isinstance(request_id, str) else ("", "", "")
        if envelope.error is not None:
            reason = "subscription refused" if kind == "sub" else "venue error"
            error = envelope.error
            raise QuarantineError(reason, detail=f"id {request_id}: {error.code} {error.message}")
        if not envelope.result:
            raise QuarantineError("bad shape", detail=f"response {request_id} has no result")
        if request_id == PING_ID:
            self.head = rpc.quantity(rpc.decode(rpc.ANY, envelope.result), "eth_blockNumber")
            return []
        if kind == "logs":
            from_hex, _, address = target.partition(":")
            pools = [self._pool_of(request_id, address)] if address else self.pools
            stream = f"pool:{pools[0].symbol}" if address else ""
            logs = rpc.decode(rpc.LOGS, envelope.result)
            from_block = rpc.quantity(from_hex, "fromBlock")
            return self._backfill(logs, from_block, pools, stream, ts_recv)
        if kind not in ("sub", "unsub"):
            raise QuarantineError("unknown response", detail=f"id {rpc.short(request_id)}")
        pool = self._pool_of(request_id, target)
        if kind == "sub":
            self._subscribed(pool, rpc.decode(rpc.ANY, envelope.result))
        return []

    def _pool_of(self, request_id: Any, address: str) -> PoolListing:
        pool = self._by_address.get(address.lower())
        if pool is None:
            raise QuarantineError("unknown response", detail=f"id {rpc.short(request_id)}")
        return pool

    def _subscribed(self, pool: PoolListing, result: Any) -> None:
        if not isinstance(result, str) or not rpc.SUB_ID.fullmatch(result):
            raise QuarantineError("bad shape", detail=f"subscription id {rpc.short(result)}")
        self._subs[result] = pool
        self._current_sub[pool.address.lower()] = result
        if len(self._subs) > SUBS_KEPT:
            self._subs.popitem(last=False)

    def _backfill(
        self,
        logs: list[rpc.RpcLog],
        from_block: int,
        pools: list[PoolListing],
        stream: str,
        ts_recv: int,
    ) -> list[Event]:
        swaps = [self._validate(log, ts_recv) for log in logs]  # all or nothing
        events = self._orphans(swaps, from_block, {p.address for p in pools}, ts_recv)
        recovered = 0
        for swap in swaps:
            out = self._apply(swap, ts_recv)
            recovered += 1 if out and not swap.removed else 0
            events.extend(out)
        detail = f"eth_getLogs from block {from_block}: {len(logs)} logs, {recovered} not seen"
        events.append(self._feed(ts_recv, stream, "backfill", detail, recovered))
        return events

    def _orphans(
        self, swaps: list[_Swap], from_block: int, pools: set[str], ts_recv: int
    ) -> list[Event]:
        """Retract logs seen in the backfilled range that the node no longer returns."""
        if not swaps:
            return []
        returned = {(s.block_hash, s.log_index) for s in swaps}
        top = max(s.block for s in swaps)
        events: list[Event] = []
        for block in sorted(b for b in self._recent if from_block <= b <= top):
            for state, tx_hash in list(self._recent[block]):
                key = (state.block_hash or "", state.log_index or 0)
                if state.pool in pools and key not in returned:
                    events += self._retract(state, tx_hash, ts_recv, "not in the backfill")
        return events

    def _validate(self, log: rpc.RpcLog, ts_recv: int) -> _Swap:
        pool = self._by_address.get(log.address.lower())
        if pool is None:
            detail = f"{rpc.short(log.address)} on {self.venue.id}"
            raise QuarantineError("unknown pool", detail=detail)
        if len(log.topics) != 3:
            raise QuarantineError("bad topics", detail=f"expected 3, found {len(log.topics)}")
        if log.topics[0].lower() != SWAP_TOPIC:
            detail = f"topic0 {rpc.short(log.topics[0])} is not Swap"
            raise QuarantineError("wrong topic", detail=detail)
        return _Swap(
            pool=pool,
            block=rpc.quantity(log.block_number, "blockNumber"),
            log_index=rpc.quantity(log.log_index, "logIndex"),
            block_hash=rpc.hash32(log.block_hash, "blockHash"),
            tx_hash=rpc.hash32(log.transaction_hash, "transactionHash"),
            removed=log.removed,
            ts_event=rpc.block_time_ns(log, ts_recv),
            words=decode_swap_data(log.data),
        )

    def _apply(self, swap: _Swap, ts_recv: int) -> list[Event]:
        """Update the adapter state with a validated log and build its events."""
        key = (swap.block_hash, swap.log_index)
        state = self._pool_state(swap, ts_recv)
        if swap.removed:
            return self._retract(state, swap.tx_hash, ts_recv, "removed by the node")
        if key in self._seen:
            return []
        self._seen[key] = None
        if len(self._seen) > SEEN_KEPT:
            self._seen.popitem(last=False)
        self._recent.setdefault(swap.block, []).append((state, swap.tx_hash))
        if len(self._recent) > RECENT_BLOCKS:
            del self._recent[min(self._recent)]
        last = self.last_block
        self.last_block = swap.block if last is None else max(last, swap.block)
        trade = self._trade(swap, ts_recv)
        return [state] if trade is None else [state, trade]

    def _retract(self, state: PoolState, tx_hash: str, ts_recv: int, why: str) -> list[Event]:
        key = (state.block_hash or "", state.log_index or 0)
        block = state.block_number or 0
        self._seen.pop(key, None)
        kept = [
            (s, t)
            for s, t in self._recent.get(block, [])
            if s.block_hash != key[0] or s.log_index != key[1]
        ]
        if block in self._recent:
            self._recent[block] = kept
        if self.last_block is not None:
            self.last_block = min(self.last_block, block - 1)
        detail = f"log {key[0]}:{key[1]} in block {block} {why}; trade {tx_hash}:{key[1]} retracted"
        retraction = replace(state, removed=True, ts_recv=ts_recv)
        return [retraction, self._feed(ts_recv, f"pool:{state.symbol}", "reorg", detail, 0.0)]

    def _pool_state(self, swap: _Swap, ts_recv: int) -> PoolState:
        pool, words = swap.pool, swap.words
        base, quote = pool.math.reserves(words.liquidity, words.sqrt_price_x96)
        return PoolState(
            ts_event=swap.ts_event,
            ts_recv=ts_recv,
            venue=self.venue.id,
            instrument_id=pool.instrument_id,
            symbol=pool.symbol,
            pool=pool.address,
            reserve_base=base,
            reserve_quote=quote,
            price=pool.math.price(words.sqrt_price_x96),
            liquidity=Decimal(words.liquidity),
            fee_bps=pool.fee_bps,
            tick=words.tick,
            block_number=swap.block,
            log_index=swap.log_index,
            block_hash=swap.block_hash,
            removed=swap.removed,
        )

    def _trade(self, swap: _Swap, ts_recv: int) -> Trade | None:
        terms = swap.pool.math.trade(swap.words.amount0, swap.words.amount1)
        if terms is None:
            return None
        return Trade(
            ts_event=swap.ts_event,
            ts_recv=ts_recv,
            venue=self.venue.id,
            instrument_id=swap.pool.instrument_id,
            symbol=swap.pool.symbol,
            price=terms.price,
            size=terms.size,
            side=terms.side,
            trade_id=f"{swap.tx_hash}:{swap.log_index}",
        )

    def _feed(
        self, ts: int, stream: str, kind: FeedEventKind, detail: str, value: float
    ) -> FeedEvent:
        return feed_event(self.venue.id, ts, stream, kind, detail, value)


def _listings(venue: Venue, catalog: Catalog) -> list[PoolListing]:
    listings = []
    for token in sorted(catalog.tokens_on(venue.id), key=lambda t: t.venue_symbol):
        pool = token.pool
        if pool is None:
            raise ConfigError(f"{token.id} has no pool", key="token.pool", source=venue.id)
        math = PoolMath(pool.token0_decimals, pool.token1_decimals, pool.base_is_token0)
        listings.append(PoolListing(token.venue_symbol, token.id, pool.address, pool.fee_bps, math))
    return listings
