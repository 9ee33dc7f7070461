"""The committed Kraken session is honest: reproducible, in the wire format, and it exercises
the depth-10 truncation rule (levels pushed out of range get no delete; some re-enter)."""

from __future__ import annotations

import json
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

from divergence.catalog import Catalog
from divergence.clock import parse_rfc3339_ns
from divergence.content import recordings_dir
from divergence.events import BookUpdate, FeedEvent, Level
from divergence.feeds.books import BookKeeper, BookStatus
from divergence.venue_servers.kraken import ASSET_PAIRS, RECORDING, synthesize, write_recording
from divergence.venue_servers.kraken_market import BASE_NS
from divergence.venue_servers.recording import RecordedFrame
from divergence.venues.contract import BookSpec
from divergence.venues.kraken import KrakenAdapter, kraken_checksum

SYMBOLS = {"AAPLx/USD", "TSLAx/USD", "NVDAx/USD", "USDT/USD", "USDC/USD"}


def test_kraken_recording_regenerates_byte_for_byte(tmp_path: Path) -> None:
    write_recording(tmp_path)
    for name in (RECORDING, ASSET_PAIRS):
        assert (tmp_path / name).read_bytes() == (recordings_dir() / name).read_bytes(), name


def test_kraken_recording_shape(recording: list[RecordedFrame]) -> None:
    size = (recordings_dir() / RECORDING).stat().st_size
    assert size < 1_000_000 and 1_000 <= len(recording) <= 5_000
    initial = [f for f in recording if f.at_ms == 0]
    assert sorted(f.stream for f in initial) == sorted(
        f"{ch}:{s}" for ch in ("book", "ticker", "trade") for s in SYMBOLS
    )
    times = [f.at_ms for f in recording]
    assert times == sorted(times) and times[-1] < 60_000
    for frame in recording:
        message = json.loads(frame.frame)
        channel, symbol = frame.stream.split(":")
        assert message["channel"] == channel and message["type"] in ("snapshot", "update")
        for item in message["data"]:
            assert item["symbol"] == symbol
            ts = parse_rfc3339_ns(item["timestamp"])
            assert BASE_NS <= ts <= BASE_NS + frame.at_ms * 1_000_000 + 999_000


def _views(
    recording: list[RecordedFrame], symbol: str
) -> list[tuple[dict[str, Any], set[str], set[str]]]:
    """Per book message: the message, bid prices and ask prices of the depth-10 view after it."""
    bids: dict[Decimal, str] = {}
    asks: dict[Decimal, str] = {}
    out = []
    for frame in recording:
        if frame.stream != f"book:{symbol}":
            continue
        item = json.loads(frame.frame, parse_float=Decimal)["data"][0]
        for side, levels in ((bids, item["bids"]), (asks, item["asks"])):
            for level in levels:
                if level["qty"] == 0:
                    side.pop(level["price"], None)
                else:
                    side[level["price"]] = level["qty"]
        for side, best_first in ((bids, True), (asks, False)):
            for price in sorted(side, reverse=not best_first)[: max(0, len(side) - 10)]:
                del side[price]
        out.append((item, {str(p) for p in bids}, {str(p) for p in asks}))
    return out


def test_kraken_recording_exercises_truncation(recording: list[RecordedFrame]) -> None:
    pushed_out = reinserted = deletes = 0
    for symbol in ("AAPLx/USD", "TSLAx/USD", "NVDAx/USD"):
        views = _views(recording, symbol)
        dropped: set[str] = set()
        for (_, old_bids, old_asks), (item, bids, asks) in pairwise(views):
            sent_zero = {str(lv["price"]) for lv in item["bids"] + item["asks"] if lv["qty"] == 0}
            deletes += len(sent_zero)
            vanished = (old_bids - bids) | (old_asks - asks)
            pushed_out += len(vanished - sent_zero)
            dropped |= vanished - sent_zero
            inserted = {str(lv["price"]) for lv in item["bids"] + item["asks"] if lv["qty"] != 0}
            reinserted += len(inserted & dropped)
            dropped -= inserted
    # seed 1: 176 levels pushed out silently, 155 re-entering, 205 explicit deletes
    assert (pushed_out, reinserted, deletes) == (176, 155, 205)


def _replay_books(
    recording: list[RecordedFrame], adapter: KrakenAdapter, depth: int
) -> tuple[int, int, BookKeeper]:
    def spec(symbol: str) -> BookSpec | None:
        found = adapter.book_spec(symbol)
        return None if found is None else BookSpec(depth=depth, checksum=found.checksum)

    keeper = BookKeeper("kraken", spec)
    verified = mismatches = 0
    for frame in recording:
        if not frame.stream.startswith("book:") or frame.stream.split(":")[1] not in adapter.tokens:
            continue
        for update in adapter.parse(frame.frame, ts_recv=BASE_NS + frame.at_ms):
            assert isinstance(update, BookUpdate)
            events = keeper.apply(update).events
            verified += sum(1 for e in events if isinstance(e, BookUpdate))
            mismatches += sum(
                1 for e in events if isinstance(e, FeedEvent) and e.event == "checksum_mismatch"
            )
    return verified, mismatches, keeper


def test_kraken_recording_checksums_need_depth_10_truncation(
    recording: list[RecordedFrame], adapter: KrakenAdapter
) -> None:
    book_frames = sum(
        1
        for f in recording
        if f.stream.startswith("book:") and f.stream.split(":")[1] in adapter.tokens
    )
    verified, mismatches, keeper = _replay_books(recording, adapter, depth=10)
    assert (verified, mismatches) == (book_frames, 0)
    assert {keeper.status(s) for s in adapter.tokens} == {BookStatus.VALID}
    # A client that kept levels beyond the subscribed depth would diverge.
    _, mismatches_untruncated, _ = _replay_books(recording, adapter, depth=1000)
    assert mismatches_untruncated > 0


def test_kraken_recording_checksums_use_the_pair_decimals(recording: list[RecordedFrame]) -> None:
    """Every AAPLx book message's checksum, recomputed on the view with decimals 2 and 8."""
    views = _views(recording, "AAPLx/USD")
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    for item, bid_prices, ask_prices in views:
        for side, levels in ((bids, item["bids"]), (asks, item["asks"])):
            for level in levels:
                side[level["price"]] = level["qty"]
        bids = {p: q for p, q in bids.items() if str(p) in bid_prices}
        asks = {p: q for p, q in asks.items() if str(p) in ask_prices}
        top_asks = [Level(p, asks[p]) for p in sorted(asks)]
        top_bids = [Level(p, bids[p]) for p in sorted(bids, reverse=True)]
        assert (
            kraken_checksum(top_asks, top_bids, price_decimals=2, size_decimals=8)
            == (item["checksum"])
        )


def test_kraken_synthesize_is_deterministic_and_scales(recorded_catalog: Catalog) -> None:
    first = synthesize(seed=7, seconds=5, catalog=recorded_catalog)
    assert first == synthesize(seed=7, seconds=5, catalog=recorded_catalog)
    assert first != synthesize(seed=8, seconds=5, catalog=recorded_catalog)
    bigger = synthesize(seed=7, seconds=5, catalog=recorded_catalog, rate_scale=10)
    assert len(bigger) > 5 * len(first)
