"""Conformance on real Kraken material (../shared/realdata, read in place; skipped when absent).

- Kraken's two published book-checksum examples through :func:`kraken_checksum`;
- the real v1 ``book-1000`` recording (cryptofeed ``KRAKEN.ws.50.0``, 2021-04-17, 10 pairs),
  each v1 message converted losslessly into the v2 shape, parsed by the adapter and
  maintained by the generic ``BookKeeper`` at depth 1000: every exchange checksum must match;
- the recorded REST ``AssetPairs`` response (``KRAKEN.0``) through :func:`discover`.

The recordings are cryptofeed's (bmoscon/cryptofeed, permissive licence): "This product
includes software developed by Bryant Moscon (http://www.bryantmoscon.com/)".
"""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from divergence.catalog import Catalog, Multiplier, Token, Underlying, Venue
from divergence.events import BookUpdate, FeedEvent, Level
from divergence.feeds.books import BookKeeper, BookStatus
from divergence.venues.kraken import KrakenAdapter, discover, kraken_checksum

V1_PAIRS = (
    "WAVES/EUR",
    "XMR/USD",
    "KSM/XBT",
    "GRT/ETH",
    "SC/EUR",
    "ETH/CHF",
    "OCEAN/XBT",
    "OMG/USD",
    "XBT/CHF",
    "ADA/XBT",
)


def _levels(pairs: list[list[str]]) -> list[Level]:
    return [Level(Decimal(p), Decimal(q)) for p, q in pairs]


def test_kraken_checksum_matches_published_vectors(realdata: Path) -> None:
    vectors = json.loads((realdata / "vectors" / "kraken_book_checksum_vectors.json").read_text())
    v1, v2 = vectors["vectors"]
    assert kraken_checksum(_levels(v1["asks"]), _levels(v1["bids"])) == 974947235 == v1["checksum"]
    # v2 sends JSON numbers: 0.001 arrives as 0.001, so the pair decimals restore the text.
    asks2 = [Level(lv.price.normalize(), lv.size.normalize()) for lv in _levels(v2["asks"])]
    bids2 = [Level(lv.price.normalize(), lv.size.normalize()) for lv in _levels(v2["bids"])]
    computed = kraken_checksum(asks2, bids2, price_decimals=1, size_decimals=8)
    assert computed == 3310070434 == v2["checksum"]


def test_kraken_checksum_wire_text_differs_from_normalised_text(realdata: Path) -> None:
    """Why v1 must use the wire text: trailing zeros are part of the checksum."""
    vectors = json.loads((realdata / "vectors" / "kraken_book_checksum_vectors.json").read_text())
    v1 = vectors["vectors"][0]
    asks = [Level(lv.price.normalize(), lv.size.normalize()) for lv in _levels(v1["asks"])]
    bids = [Level(lv.price.normalize(), lv.size.normalize()) for lv in _levels(v1["bids"])]
    assert kraken_checksum(asks, bids) != v1["checksum"]


# ------------------------------------------------------------ v1 recording
def _received(path: Path) -> list[Any]:
    """Received frames of a cryptofeed v1 text recording (realdata README section 1)."""
    frames = []
    for line in path.read_text().splitlines():
        if not line or line.startswith("wss://"):
            continue
        _, text = line.split(": ", 1)
        frames.append(json.loads(text))
    return frames


def _reference_checksum(asks: list[list[str]], bids: list[list[str]]) -> int:
    """venues.md's string-only reference, for the snapshots (v1 snapshots carry no checksum)."""

    def digits(text: str) -> str:
        return text.replace(".", "").lstrip("0")

    top = sorted(asks, key=lambda lv: Decimal(lv[0]))[:10]
    top += sorted(bids, key=lambda lv: Decimal(lv[0]), reverse=True)[:10]
    return zlib.crc32("".join(digits(p) + digits(q) for p, q, *_ in top).encode())


def _rfc3339(epoch: str) -> str:
    seconds, _, fraction = epoch.partition(".")
    whole = datetime.fromtimestamp(int(seconds), tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{fraction.ljust(6, '0')[:6]}Z"


def _as_v2(message: list[Any]) -> str:
    """One v1 book message as the v2 frame Kraken would send: the same number text."""
    pair, objects = message[-1], message[1:-2]
    snapshot = "as" in objects[0] or "bs" in objects[0]
    asks = [lv for obj in objects for lv in obj.get("as" if snapshot else "a", [])]
    bids = [lv for obj in objects for lv in obj.get("bs" if snapshot else "b", [])]
    checksum = next((int(o["c"]) for o in objects if "c" in o), None)
    if checksum is None:
        assert snapshot, message
        checksum = _reference_checksum(asks, bids)
    stamp = _rfc3339(max((lv[2] for lv in asks + bids), key=Decimal))

    def side(levels: list[list[str]]) -> str:
        return ",".join(f'{{"price":{lv[0]},"qty":{lv[1]}}}' for lv in levels)

    kind = "snapshot" if snapshot else "update"
    return (
        f'{{"channel":"book","type":"{kind}","data":[{{"symbol":"{pair}",'
        f'"bids":[{side(bids)}],"asks":[{side(asks)}],"checksum":{checksum},'
        f'"timestamp":"{stamp}"}}]}}'
    )


def _v1_catalog() -> tuple[Venue, Catalog]:
    venue = Venue(id="kraken-v1", name="Kraken v1 recording", kind="book", adapter="kraken")
    bases = sorted({p.split("/")[0] for p in V1_PAIRS})
    tokens = tuple(
        Token(
            id=f"{pair}@kraken-v1",
            venue=venue.id,
            venue_symbol=pair,
            issuer="recording",
            product="crypto",
            underlying=pair.split("/")[0],
            quote_currency=pair.split("/")[1],
            multipliers=(
                Multiplier(effective_from=datetime(2021, 1, 1, tzinfo=UTC), value=Decimal(1)),
            ),
        )
        for pair in V1_PAIRS
    )
    underlyings = tuple(Underlying(symbol=b, name=b) for b in bases)
    return venue, Catalog(underlying=underlyings, venue=(venue,), token=tokens)


def test_kraken_v1_recording_every_exchange_checksum_verifies(realdata: Path) -> None:
    frames = _received(realdata / "cryptofeed_master" / "KRAKEN.ws.50.0")
    books = [f for f in frames if isinstance(f, list)]
    with_checksum = sum(1 for m in books if any("c" in obj for obj in m[1:-2]))
    assert with_checksum == 4269  # the README's count, recomputed from the file
    venue, catalog = _v1_catalog()
    adapter = KrakenAdapter(venue, catalog, depth=1000)
    keeper = BookKeeper(venue.id, adapter.book_spec)
    verified = mismatches = snapshots = 0
    for number, message in enumerate(books):
        (update,) = adapter.parse(_as_v2(message), ts_recv=number)
        assert isinstance(update, BookUpdate)
        outcome = keeper.apply(update)
        feed = [e for e in outcome.events if isinstance(e, FeedEvent)]
        mismatches += sum(1 for e in feed if e.event == "checksum_mismatch")
        passed = [e for e in outcome.events if isinstance(e, BookUpdate)]
        snapshots += sum(1 for e in passed if e.is_snapshot)
        verified += sum(1 for e in passed if not e.is_snapshot and e.checksum is not None)
    assert (verified, mismatches, snapshots) == (with_checksum, 0, 10)
    assert {keeper.status(p) for p in V1_PAIRS} == {BookStatus.VALID}
    xbt_chf = keeper.books["XBT/CHF"]
    assert str(xbt_chf.sorted_asks(1)[0].price).count(".") == 1
    assert len(str(xbt_chf.sorted_asks(1)[0].price).split(".")[1]) == 5  # wire text kept


def test_kraken_v1_recording_depth_truncation_matters(realdata: Path) -> None:
    """Keeping levels beyond depth 1000 would break checksums: the keeper truncates."""
    frames = _received(realdata / "cryptofeed_master" / "KRAKEN.ws.50.0")
    venue, catalog = _v1_catalog()
    adapter = KrakenAdapter(venue, catalog, depth=1000)
    keeper = BookKeeper(venue.id, adapter.book_spec)
    for number, message in enumerate(f for f in frames if isinstance(f, list)):
        for update in adapter.parse(_as_v2(message), ts_recv=number):
            assert isinstance(update, BookUpdate)
            keeper.apply(update)
    sizes = {symbol: (len(b.bids), len(b.asks)) for symbol, b in keeper.books.items()}
    assert max(max(pair) for pair in sizes.values()) <= 1000


# -------------------------------------------------------------- AssetPairs
def _asset_pairs_body(realdata: Path) -> str:
    first = (realdata / "cryptofeed_master" / "KRAKEN.0").read_text().splitlines()[0]
    assert first.startswith("https://api.kraken.com/0/public/AssetPairs -> ")
    return first.split(": ", 1)[1]


def test_kraken_discover_parses_recorded_asset_pairs(realdata: Path) -> None:
    body = _asset_pairs_body(realdata)
    raw = json.loads(body)["result"]
    listings = discover(body, tokenized_only=False)
    assert len(listings) == sum(1 for pair in raw.values() if "wsname" in pair)
    by_symbol = {x.venue_symbol: x for x in listings}
    assert set(V1_PAIRS) <= set(by_symbol)
    xmr, xbt_chf = by_symbol["XMR/USD"], by_symbol["XBT/CHF"]
    assert (xmr.base, xmr.quote, xmr.product) == ("XMR", "USD", "currency")
    assert (xmr.price_decimals, xmr.size_decimals) == (2, 8)
    assert (xbt_chf.price_decimals, xbt_chf.status) == (1, "unknown")  # 2021: no status field


def test_kraken_discover_recorded_asset_pairs_has_no_tokenized_assets(realdata: Path) -> None:
    assert discover(_asset_pairs_body(realdata).encode()) == []
