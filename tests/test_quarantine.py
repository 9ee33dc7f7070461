from __future__ import annotations

from decimal import Decimal

import pytest

from divergence.errors import QuarantineError
from divergence.events import BookUpdate, Level, Quote
from divergence.quarantine import check_event, record_for


def _quote(bid: str, ask: str, bid_sz: str = "1") -> Quote:
    return Quote(
        ts_event=1,
        ts_recv=1,
        venue="v",
        instrument_id="AAPLx@v",
        symbol="AAPLx/USD",
        bid_px=Decimal(bid),
        bid_sz=Decimal(bid_sz),
        ask_px=Decimal(ask),
        ask_sz=Decimal("1"),
    )


@pytest.mark.parametrize(
    ("bid", "ask", "bid_sz", "reason"),
    [
        ("NaN", "245.3", "1", "non-finite price"),
        ("Infinity", "245.3", "1", "non-finite price"),
        ("-245.1", "245.3", "1", "non-positive price"),
        ("0", "245.3", "1", "non-positive price"),
        ("245.1", "245.3", "-2", "negative size"),
        ("245.4", "245.3", "1", "crossed quote"),
        ("245.1000000000000000001", "245.3", "1", "precision exceeds 18 decimals"),
        ("1e21", "2e21", "1", "value too large"),
    ],
)
def test_quarantine_rejects_bad_quotes(bid: str, ask: str, bid_sz: str, reason: str) -> None:
    with pytest.raises(QuarantineError) as err:
        check_event(_quote(bid, ask, bid_sz))
    assert err.value.reason == reason


def test_quarantine_accepts_locked_quote_and_trailing_zeros() -> None:
    check_event(_quote("245.30", "245.3000000000000000000"))


def test_quarantine_rejects_crossed_snapshot_book() -> None:
    book = BookUpdate(
        ts_event=1,
        ts_recv=1,
        venue="v",
        instrument_id="i",
        symbol="s",
        is_snapshot=True,
        sequence=1,
        bids=(Level(Decimal("10"), Decimal("1")),),
        asks=(Level(Decimal("9.99"), Decimal("1")),),
    )
    with pytest.raises(QuarantineError, match="crossed book"):
        check_event(book)


def test_quarantine_record_truncates_huge_raw_frames() -> None:
    raw = b"x" * 200_000
    record = record_for(QuarantineError("malformed json"), raw=raw, venue="v", ts_recv=5)
    assert record.reason == "malformed json"
    assert record.raw.startswith("x" * 100) and record.raw.endswith("[truncated 134464 chars]")
