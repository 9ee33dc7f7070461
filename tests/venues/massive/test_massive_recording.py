"""The committed Massive session is honest: reproducible, in the wire format, near the other
reference recordings' prices, with 1-2 cent spreads, share-sized quotes and TRF prints."""

from __future__ import annotations

import json
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

from divergence.content import recordings_dir
from divergence.venue_servers.massive import BASE_MS, RECORDING, write_recording
from divergence.venue_servers.recording import RecordedFrame

LEVELS = {"AAPL": Decimal("229.9"), "TSLA": Decimal("339.9"), "NVDA": Decimal("179.9")}
ROUND_LOTS = {"AAPL": 100, "TSLA": 40, "NVDA": 100}
"""SEC round-lot tiers since 2025-11-03: 40 shares for a $250.01-$1,000 stock, else 100."""


def _events(recording: list[RecordedFrame]) -> list[tuple[RecordedFrame, dict[str, object]]]:
    return [(f, item) for f in recording for item in json.loads(f.frame, parse_float=Decimal)]


def test_massive_recording_regenerates_byte_for_byte(tmp_path: Path) -> None:
    write_recording(tmp_path)
    assert (tmp_path / RECORDING).read_bytes() == (recordings_dir() / RECORDING).read_bytes()


def test_massive_recording_header_says_synthetic() -> None:
    header = (recordings_dir() / RECORDING).read_text().splitlines()[:4]
    assert all(line.startswith("# ") for line in header)
    assert "SYNTHETIC" in header[0]
    assert header[-1].strip() == "#     .venv/bin/python -m divergence.venue_servers.massive"


def test_massive_recording_shape(recording: list[RecordedFrame]) -> None:
    assert {f.stream for f in recording} == {f"{ch}.{s}" for ch in ("Q", "T") for s in LEVELS}
    times = [f.at_ms for f in recording]
    assert times == sorted(times) and times[0] > 0 and times[-1] < 60_000
    for frame, item in _events(recording):
        channel, symbol = frame.stream.split(".")
        assert (item["ev"], item["sym"], item["z"]) == (channel, symbol, 3)
        t = item["t"]
        assert isinstance(t, int) and BASE_MS - 3 <= t <= BASE_MS + frame.at_ms


def test_massive_recording_quotes_are_realistic(recording: list[RecordedFrame]) -> None:
    spreads: set[Decimal] = set()
    sequences: dict[str, list[int]] = {}
    for _, item in _events(recording):
        if item["ev"] != "Q":
            continue
        symbol = str(item["sym"])
        bid, ask = Decimal(str(item["bp"])), Decimal(str(item["ap"]))
        spreads.add(ask - bid)
        assert abs(bid - LEVELS[symbol]) < LEVELS[symbol] * Decimal("0.03")
        bs, size_ask = item["bs"], item["as"]
        assert isinstance(bs, int) and isinstance(size_ask, int)
        lot = ROUND_LOTS[symbol]
        assert bs % lot == 0 and size_ask % lot == 0  # shares, whole round lots
        sequences.setdefault(symbol, []).append(int(str(item["q"])))
    assert spreads == {Decimal("0.01"), Decimal("0.02")}
    for q in sequences.values():  # increasing, unique, not contiguous
        assert all(b > a for a, b in pairwise(q))
        assert any(b - a > 1 for a, b in pairwise(q))


def test_massive_recording_trades_include_odd_lots_and_trf_prints(
    recording: list[RecordedFrame],
) -> None:
    trades = [item for _, item in _events(recording) if item["ev"] == "T"]
    odd_lots = [t for t in trades if int(str(t["s"])) < ROUND_LOTS[str(t["sym"])]]
    assert odd_lots and all(t["c"] == [37] for t in odd_lots)  # 37: odd-lot trade
    assert {str(t["sym"]) for t in odd_lots} == set(LEVELS)
    trf = [t for t in trades if "trfi" in t]
    assert trf and all(t["x"] == 4 for t in trf)
    assert all(int(str(t["trft"])) < int(str(t["t"])) for t in trf)
    exponents = {Decimal(str(t["p"])).as_tuple().exponent for t in trf}
    assert any(isinstance(e, int) and e < -2 for e in exponents)  # a sub-penny midpoint print
