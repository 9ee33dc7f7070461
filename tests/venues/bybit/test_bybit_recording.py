"""The committed Bybit session: reproducible from synthesize(), realistic, exactly Bybit-shaped."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from divergence.catalog import Catalog
from divergence.content import recordings_dir
from divergence.venue_servers.bybit_synth import BASE_TS_MS, RECORDING, synthesize, write_recording
from divergence.venue_servers.recording import RecordedFrame


def test_bybit_recording_regenerates_byte_for_byte(tmp_path: Path) -> None:
    committed = (recordings_dir() / RECORDING).read_bytes()
    assert write_recording(tmp_path / "again.jsonl").read_bytes() == committed
    assert len(committed) < 1_000_000


def test_bybit_recording_books_are_contiguous_with_one_restart(
    recording: list[RecordedFrame],
) -> None:
    last_u: dict[str, int] = {}
    restarts = []
    for frame in recording:
        if not frame.stream.startswith("book:"):
            continue
        obj = json.loads(frame.frame)
        symbol, u = obj["data"]["s"], obj["data"]["u"]
        assert obj["topic"] == f"orderbook.50.{symbol}" and frame.stream == f"book:{symbol}"
        assert obj["ts"] == BASE_TS_MS + frame.at_ms and 0 < obj["ts"] - obj["cts"] <= 30
        if obj["type"] == "snapshot":
            assert frame.at_ms == 0
            assert (len(obj["data"]["b"]), len(obj["data"]["a"])) == (50, 50)
        elif u == 1:
            restarts.append((symbol, len(obj["data"]["b"]), len(obj["data"]["a"])))
        else:
            assert u == last_u[symbol] + 1, (symbol, u)
        last_u[symbol] = u
    assert restarts == [("NVDAXUSDT", 50, 50)]


def test_bybit_recording_books_realistic_and_never_crossed(recording: list[RecordedFrame]) -> None:
    books: dict[str, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]] = defaultdict(
        lambda: ({}, {})
    )
    mids: dict[str, list[Decimal]] = defaultdict(list)
    for frame in recording:
        if not frame.stream.startswith("book:"):
            continue
        data = json.loads(frame.frame)["data"]
        bids, asks = books[data["s"]]
        if data["u"] == 1 or frame.at_ms == 0:
            bids.clear()
            asks.clear()
        for side, levels in ((bids, data["b"]), (asks, data["a"])):
            for price, size in levels:
                if Decimal(size) == 0:
                    del side[Decimal(price)]
                else:
                    side[Decimal(price)] = Decimal(size)
        assert (len(bids), len(asks)) == (50, 50)
        assert max(bids) < min(asks)
        mids[data["s"]].append((max(bids) + min(asks)) / 2)
    assert all(Decimal(225) < m < Decimal(235) for m in mids["AAPLXUSDT"])
    assert all(Decimal(330) < m < Decimal(350) for m in mids["TSLAXUSDT"])
    assert all(Decimal(175) < m < Decimal(190) for m in mids["NVDAXUSDT"])


def test_bybit_recording_trades_print_at_book_levels(recording: list[RecordedFrame]) -> None:
    """Every fill is at a level of the book before it: buys at asks, sells at bids."""
    books: dict[str, dict[str, set[str]]] = defaultdict(lambda: {"b": set(), "a": set()})
    matched = 0
    for frame in recording:
        obj = json.loads(frame.frame)
        if frame.stream.startswith("trade:"):
            assert obj["topic"] == f"publicTrade.{frame.stream[6:]}" and obj["type"] == "snapshot"
            for fill in obj["data"]:
                side = "a" if fill["S"] == "Buy" else "b"
                assert fill["p"] in books[fill["s"]][side], fill
                assert fill["BT"] is False and obj["ts"] - fill["T"] in (0, 1)
                matched += 1
        elif frame.stream.startswith("book:"):
            data = obj["data"]
            book = books[data["s"]]
            if data["u"] == 1 or frame.at_ms == 0:
                book["b"].clear()
                book["a"].clear()
            for key in ("b", "a"):
                for price, size in data[key]:
                    (book[key].discard if size == "0" else book[key].add)(price)
    assert matched > 200


def test_bybit_synthesize_is_deterministic_and_scales(bybit_catalog: Catalog) -> None:
    small = synthesize(seed=7, seconds=5.0, catalog=bybit_catalog)
    assert small == synthesize(seed=7, seconds=5.0, catalog=bybit_catalog)
    assert small != synthesize(seed=8, seconds=5.0, catalog=bybit_catalog)
    busy = synthesize(seed=7, seconds=5.0, catalog=bybit_catalog, updates_per_s=40.0)
    books = [f for f in busy if f.stream.startswith("book:") and f.at_ms > 0]
    assert len(books) > 3 * 5 * 25
    assert [f.at_ms for f in busy] == sorted(f.at_ms for f in busy)
    no_reset = synthesize(seed=7, seconds=5.0, catalog=bybit_catalog, reset_at=None)
    assert all('"u":1,' not in f.frame for f in no_reset)
