"""Replay of the committed Alpaca session through the real FramePipeline.

The session, framed like a live connection (``connected``, ``authenticated``, the ack, then
every recorded frame), goes through a fresh pipeline twice: the events are identical,
nothing is quarantined, and each event carries exactly the values on the wire (read
independently with ``json.loads(parse_float=Decimal)``), including NVDA's LULD pause.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from divergence.clock import parse_rfc3339_ns
from divergence.events import Event, FeedEvent, Quote, SessionState, Trade
from divergence.feeds.pipeline import FramePipeline
from divergence.venue_servers.alpaca import BASE_NS
from divergence.venue_servers.recording import RecordedFrame
from divergence.venues.alpaca import AlpacaAdapter

OPENING = [
    '[{"T":"success","msg":"connected"}]',
    '[{"T":"success","msg":"authenticated"}]',
    '[{"T":"subscription","trades":["AAPL","NVDA","TSLA"],"quotes":["AAPL","NVDA","TSLA"],'
    '"bars":[],"updatedBars":[],"dailyBars":[],"statuses":["AAPL","NVDA","TSLA"],"lulds":[],'
    '"corrections":["AAPL","NVDA","TSLA"],"cancelErrors":["AAPL","NVDA","TSLA"]}]',
]
STATUS_SESSION = {"P": "halted", "Q": "halted", "T": "regular"}
"""2026-08-10 is a Monday; the resumption at 14:30:45Z is 10:30 ET, regular hours."""


def _replay(adapter: AlpacaAdapter, frames: list[RecordedFrame]) -> tuple[list[Event], int]:
    pipeline = FramePipeline(adapter, "alpaca")
    events: list[Event] = []
    rejects = 0
    for text in OPENING:
        out = pipeline.process(text, ts_recv=BASE_NS)
        events += out.events
        rejects += len(out.rejects)
    for frame in frames:
        out = pipeline.process(frame.frame, ts_recv=BASE_NS + frame.at_ms * 1_000_000)
        events += out.events
        rejects += len(out.rejects)
    return events, rejects


def _expected(frame: RecordedFrame) -> list[tuple[Any, ...]]:
    """What the wire says, read without the adapter."""
    out: list[tuple[Any, ...]] = []
    for item in json.loads(frame.frame, parse_float=Decimal):
        ts = parse_rfc3339_ns(item["t"])
        if item["T"] == "q":
            sizes = (Decimal(item["bs"]), Decimal(item["as"]))
            out.append(("quote", f"{item['S']}@alpaca", ts, item["bp"], item["ap"], *sizes))
        elif item["T"] == "t":
            trade_id = f"{item['x']}:{item['i']}"
            out.append(
                ("trade", f"{item['S']}@alpaca", ts, item["p"], Decimal(item["s"]), trade_id)
            )
        else:
            out.append(("session", item["S"], ts, STATUS_SESSION[item["sc"]]))
    return out


def _observed(event: Event) -> tuple[Any, ...]:
    if isinstance(event, Quote):
        prices = (event.bid_px, event.ask_px, event.bid_sz, event.ask_sz)
        return ("quote", event.instrument_id, event.ts_event, *prices)
    if isinstance(event, Trade):
        assert event.side == "unknown"
        fields = (event.price, event.size, event.trade_id)
        return ("trade", event.instrument_id, event.ts_event, *fields)
    assert isinstance(event, SessionState)
    return ("session", event.underlying, event.ts_event, event.session)


def test_alpaca_replay_twice_gives_identical_events(
    adapter: AlpacaAdapter, make_adapter: Any, recording: list[RecordedFrame]
) -> None:
    first, rejects = _replay(adapter, recording)
    second, _ = _replay(make_adapter(), recording)
    assert rejects == 0
    assert first == second
    assert not [e for e in first if isinstance(e, FeedEvent)]  # no duplicate, no quarantine


def test_alpaca_replay_events_carry_the_wire_values(
    adapter: AlpacaAdapter, recording: list[RecordedFrame]
) -> None:
    events, _ = _replay(adapter, recording)
    assert [_observed(e) for e in events] == [row for f in recording for row in _expected(f)]
    sessions = [(e.underlying, e.session) for e in events if isinstance(e, SessionState)]
    assert sessions == [("NVDA", "halted"), ("NVDA", "halted"), ("NVDA", "regular")]
    trades = [e for e in events if isinstance(e, Trade)]
    assert any(len(str(t.price).split(".")[-1]) == 4 for t in trades)  # sub-penny TRF prints
    assert len({(t.instrument_id, t.trade_id) for t in trades}) == len(trades)


def test_alpaca_replay_nvda_pause_silences_its_trades(
    adapter: AlpacaAdapter, recording: list[RecordedFrame]
) -> None:
    """No NVDA trade between the pause and the trading resumption; quotes from Q on."""
    events, _ = _replay(adapter, recording)
    halt, quoting, resume = (e.ts_event for e in events if isinstance(e, SessionState))
    nvda = [e for e in events if isinstance(e, Quote | Trade) and e.symbol == "NVDA"]
    assert not [e for e in nvda if isinstance(e, Trade) and halt <= e.ts_event < resume]
    assert not [e for e in nvda if isinstance(e, Quote) and halt <= e.ts_event < quoting]
    before = [e for e in nvda if isinstance(e, Quote) and e.ts_event < halt][-1]
    after = next(e for e in nvda if isinstance(e, Quote) and e.ts_event >= quoting)
    assert after.bid_px - before.bid_px > Decimal("2")  # the move that paused it
