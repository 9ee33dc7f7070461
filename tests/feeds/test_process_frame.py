"""process_frame: parse errors quarantine the frame, failed checks quarantine the event."""

from __future__ import annotations

from decimal import Decimal

from divergence.catalog import Catalog, Venue
from divergence.events import Event, Quote
from divergence.feeds.process import process_frame
from divergence.venues.sim import SimAdapter

RECV = 1_760_126_180_500_000_000
QUOTE = (
    '{"ch":"quote","sym":"NVDAx/USD","ts":1760126180000000000,'
    '"bid":"BID","bq":"4.5","ask":"192.60","aq":"1.25"}'
)


def sim(catalog: Catalog) -> SimAdapter:
    return SimAdapter(catalog.venues["simx-a"], catalog)


def test_process_frame_good_frame(catalog: Catalog) -> None:
    events, rejects = process_frame(
        sim(catalog), venue="simx-a", frame=QUOTE.replace("BID", "192.40"), ts_recv=RECV
    )
    assert rejects == []
    [quote] = events
    assert isinstance(quote, Quote)
    assert (quote.instrument_id, quote.bid_px, quote.ask_sz, quote.ts_recv) == (
        "NVDAx@simx-a",
        Decimal("192.40"),
        Decimal("1.25"),
        RECV,
    )


def test_process_frame_check_failures(catalog: Catalog) -> None:
    for bid, reason, detail in (
        ("NaN", "non-finite price", "bid_px=NaN"),
        ("-Infinity", "non-finite price", "bid_px=-Infinity"),
        ("0", "non-positive price", "bid_px=0"),
        ("192.61", "crossed quote", "bid 192.61 > ask 192.60 (NVDAx@simx-a)"),
        ("1.0000000000000000001", "precision exceeds 18 decimals", "bid_px="),
    ):
        frame = QUOTE.replace("BID", bid)
        events, [record] = process_frame(sim(catalog), venue="simx-a", frame=frame, ts_recv=RECV)
        assert events == []
        assert (record.reason, record.venue, record.ts_recv, record.raw) == (
            reason,
            "simx-a",
            RECV,
            frame,
        )
        assert detail in record.detail


def test_process_frame_parse_error_keeps_raw_bytes(catalog: Catalog) -> None:
    events, [record] = process_frame(sim(catalog), venue="simx-a", frame=b"\x00{", ts_recv=RECV)
    assert events == []
    assert (record.reason, record.raw) == ("malformed json", "\x00{")


class ExplodingAdapter:
    """A real (if buggy) adapter: its parse raises a non-quarantine exception."""

    def __init__(self, venue: Venue, catalog: Catalog) -> None:
        self.venue = venue

    def subscribe_messages(self) -> list[str]:
        return []

    def parse(self, frame: str | bytes, *, ts_recv: int) -> list[Event]:
        raise KeyError("surprise")


def test_process_frame_adapter_bug_is_quarantined(catalog: Catalog) -> None:
    adapter = ExplodingAdapter(catalog.venues["simx-a"], catalog)
    events, [record] = process_frame(adapter, venue="simx-a", frame="{}", ts_recv=RECV)
    assert events == []
    assert (record.reason, record.detail) == ("adapter error", "KeyError: 'surprise'")
