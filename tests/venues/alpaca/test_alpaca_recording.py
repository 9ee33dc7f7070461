"""The committed Alpaca session is honest: reproducible, in the wire format, near the token
recordings' prices, with 1-2 cent spreads, round-lot quote sizes and one LULD pause."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from divergence.catalog import Catalog
from divergence.clock import parse_rfc3339_ns
from divergence.content import recordings_dir
from divergence.venue_servers.alpaca import BASE_NS, RECORDING, synthesize, write_recording
from divergence.venue_servers.recording import RecordedFrame

LEVELS = {"AAPL": Decimal("229.9"), "TSLA": Decimal("339.9"), "NVDA": Decimal("179.9")}


def test_alpaca_recording_regenerates_byte_for_byte(tmp_path: Path) -> None:
    written = write_recording(tmp_path / RECORDING)
    assert written.read_bytes() == (recordings_dir() / RECORDING).read_bytes()


def test_alpaca_recording_header_says_synthetic() -> None:
    header = (recordings_dir() / RECORDING).read_text().splitlines()[:5]
    assert all(line.startswith("# ") for line in header)
    assert "synthetic" in header[0]
    assert header[-1] == "# Regenerate: .venv/bin/python -m divergence.venue_servers.alpaca"


def test_alpaca_recording_shape(recording: list[RecordedFrame]) -> None:
    streams = {f.stream for f in recording}
    assert streams == {f"{ch}:{s}" for ch in ("quotes", "trades") for s in LEVELS} | {
        "statuses:NVDA"
    }
    times = [f.at_ms for f in recording]
    assert times == sorted(times) and times[0] > 0 and times[-1] < 60_000
    assert 500 <= len(recording) <= 2_000
    for frame in recording:
        channel, symbol = frame.stream.split(":")
        for item in json.loads(frame.frame, parse_float=Decimal):
            assert (item["T"], item["S"], item["z"]) == (channel[0], symbol, "C")
            ts = parse_rfc3339_ns(item["t"])
            assert BASE_NS <= ts <= BASE_NS + frame.at_ms * 1_000_000


def test_alpaca_recording_quotes_are_realistic(recording: list[RecordedFrame]) -> None:
    spreads: set[Decimal] = set()
    for frame in recording:
        for item in json.loads(frame.frame, parse_float=Decimal):
            if item["T"] != "q":
                continue
            spreads.add(item["ap"] - item["bp"])
            assert abs(item["bp"] - LEVELS[item["S"]]) < LEVELS[item["S"]] * Decimal("0.03")
            assert 1 <= item["bs"] <= 12 and 1 <= item["as"] <= 12  # round lots
            assert item["c"] == ["R"] and len(item["bx"]) == len(item["ax"]) == 1
    assert spreads == {Decimal("0.01"), Decimal("0.02")}


def test_alpaca_recording_luld_pause(recording: list[RecordedFrame]) -> None:
    statuses = [
        (f.at_ms, item["sc"], item["sm"], item["rc"])
        for f in recording
        if f.stream == "statuses:NVDA"
        for item in json.loads(f.frame)
    ]
    assert statuses == [
        (30_000, "P", "Volatility Trading Pause", "LUDP"),
        (40_000, "Q", "Quotation Resumption", ""),
        (45_000, "T", "Trading Resumption", ""),
    ]
    nvda_trades = [f.at_ms for f in recording if f.stream == "trades:NVDA"]
    nvda_quotes = [f.at_ms for f in recording if f.stream == "quotes:NVDA"]
    assert not [t for t in nvda_trades if 30_000 <= t < 45_000]
    assert not [t for t in nvda_quotes if 30_000 <= t < 40_000]
    assert [t for t in nvda_quotes if 40_000 <= t < 45_000]  # quote-only period


def test_alpaca_synthesize_is_deterministic(recorded_catalog: Catalog) -> None:
    first = synthesize(seed=7, seconds=5, catalog=recorded_catalog)
    assert first == synthesize(seed=7, seconds=5, catalog=recorded_catalog)
    assert first != synthesize(seed=8, seconds=5, catalog=recorded_catalog)
