"""compute_basis and compute_pool_quotes on hand-computed cases (docs/metrics.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from divergence.clock import NS_PER_MS, NS_PER_SECOND, ns_from_datetime
from divergence.errors import ConfigError
from divergence.metrics.basis import BASIS_SCHEMA, BasisParams, compute_basis
from divergence.metrics.pool import compute_pool_quotes
from divergence.settings import BasisSettings

T0 = ns_from_datetime(datetime(2025, 9, 15, 14, 0, tzinfo=UTC))  # Monday 10:00 ET
S = NS_PER_SECOND
MS = NS_PER_MS
HOUR = 3_600 * S
PARAMS = BasisParams.from_settings(BasisSettings())
TS = pl.Datetime("ns")


def _ts(values: list[int]) -> pl.Series:
    return pl.Series(values, dtype=pl.Int64).cast(TS)


def tokens(*rows: tuple[int, str, float, float]) -> pl.LazyFrame:
    """(ts_event, instrument_id, bid, ask) book quotes."""
    return pl.LazyFrame(
        {
            "ts_event": _ts([r[0] for r in rows]),
            "ts_recv": _ts([r[0] + MS for r in rows]),
            "instrument_id": [r[1] for r in rows],
            "venue": [r[1].split("@")[1] for r in rows],
            "bid_px": [r[2] for r in rows],
            "ask_px": [r[3] for r in rows],
            "source_kind": ["quote"] * len(rows),
            "source_seq": list(range(1, len(rows) + 1)),
        },
        schema_overrides={"bid_px": pl.Float64, "ask_px": pl.Float64},
    )


def refs(*rows: tuple[int, float, float]) -> pl.LazyFrame:
    """(ts_event, bid, ask) reference NBBO for AAPL."""
    return pl.LazyFrame(
        {
            "ts_event": _ts([r[0] for r in rows]),
            "underlying": ["AAPL"] * len(rows),
            "ref_instrument_id": ["AAPL@sip"] * len(rows),
            "bid": [r[1] for r in rows],
            "ask": [r[2] for r in rows],
        },
        schema_overrides={"bid": pl.Float64, "ask": pl.Float64},
    )


def fx(*rows: tuple[int, str, float]) -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "ts_event": _ts([r[0] for r in rows]),
            "currency": [r[1] for r in rows],
            "rate_usd": [r[2] for r in rows],
        },
        schema_overrides={"currency": pl.String, "rate_usd": pl.Float64},
    )


def sessions(*rows: tuple[int, str]) -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "ts_event": _ts([r[0] for r in rows]),
            "underlying": ["AAPL"] * len(rows),
            "session": [r[1] for r in rows],
        },
        schema_overrides={"underlying": pl.String, "session": pl.String},
    )


LISTINGS = pl.LazyFrame(
    {
        "instrument_id": ["AAPLx@usd", "AAPLx@usdc", "AAPLx@pool"],
        "underlying": ["AAPL"] * 3,
        "quote_currency": ["USD", "USDC", "USDC"],
        "taker_fee_bps": [10.0, 10.0, 30.0],
    }
)
MULTIPLIERS = pl.LazyFrame(
    {
        "instrument_id": ["AAPLx@usd", "AAPLx@usdc", "AAPLx@pool"],
        "effective_from": [T0 - 30 * 24 * HOUR] * 3,  # Int64 ns, as Catalog.multipliers_frame
        "multiplier": [1.0, 1.0, 1.0],
    }
)


def basis(
    token_rows: pl.LazyFrame,
    *,
    references: pl.LazyFrame | None = None,
    rates: pl.LazyFrame | None = None,
    announced: pl.LazyFrame | None = None,
    multipliers: pl.LazyFrame = MULTIPLIERS,
) -> pl.DataFrame:
    return compute_basis(
        token_rows,
        references=references if references is not None else refs((T0 - 500 * MS, 244.99, 245.01)),
        fx=rates if rates is not None else fx((T0 - S, "USDC", 1.0)),
        sessions=announced if announced is not None else sessions((T0 - HOUR, "regular")),
        multipliers=multipliers,
        listings=LISTINGS,
        params=PARAMS,
    ).collect()


def test_compute_basis_divides_by_multiplier() -> None:
    k = pl.LazyFrame(
        {"instrument_id": ["AAPLx@usd"], "effective_from": [T0 - HOUR], "multiplier": [1.0033]}
    )
    out = basis(tokens((T0, "AAPLx@usd", 246.45, 246.55)), multipliers=k)
    row = out.row(0, named=True)
    assert row["mid_usd"] == pytest.approx(246.50, abs=1e-12)
    assert row["multiplier"] == 1.0033
    assert row["ref_mid"] == pytest.approx(245.00, abs=1e-12)
    assert row["basis_bps"] == pytest.approx((246.50 / (1.0033 * 245.00) - 1) * 1e4, abs=1e-9)
    assert (row["ref_state"], row["session"], row["fx_state"]) == ("live", "regular", "usd")
    assert (row["fx_rate"], row["fx_age_ms"]) == (1.0, None)
    assert row["ref_age_ms"] == 500.0


def test_compute_basis_converts_stablecoin_at_its_rate() -> None:
    out = basis(
        tokens((T0, "AAPLx@usdc", 279.90, 280.10)),
        rates=fx((T0 - 400 * MS, "USDC", 0.8774), (T0 - 2 * S, "USDC", 1.0)),
    )
    row = out.row(0, named=True)
    assert row["mid_usd"] == pytest.approx(245.672, abs=1e-9)
    assert row["bid_usd"] == pytest.approx(279.90 * 0.8774, abs=1e-9)
    assert row["ask_usd"] == pytest.approx(280.10 * 0.8774, abs=1e-9)
    assert (row["fx_rate"], row["fx_age_ms"], row["fx_state"]) == (0.8774, 400.0, "live")
    assert row["basis_bps"] == pytest.approx((280.0 * 0.8774 / 245.00 - 1) * 1e4, abs=1e-9)


def test_compute_basis_stale_or_missing_fx_gives_no_basis() -> None:
    quotes = tokens((T0, "AAPLx@usdc", 279.90, 280.10))
    stale = basis(quotes, rates=fx((T0 - 61 * S, "USDC", 0.8774))).row(0, named=True)
    assert (stale["fx_state"], stale["fx_age_ms"], stale["ref_state"]) == (
        "stale",
        61_000.0,
        "live",
    )
    assert stale["mid_usd"] == pytest.approx(245.672, abs=1e-9)
    assert (stale["basis_bps"], stale["exec_basis_bps"]) == (None, None)
    missing = basis(quotes, rates=fx((T0 + MS, "USDC", 0.8774))).row(0, named=True)
    assert (missing["fx_state"], missing["fx_rate"]) == ("missing", None)
    assert (missing["mid_usd"], missing["bid_usd"], missing["basis_bps"]) == (None, None, None)


def test_compute_basis_stale_reference_in_regular_session() -> None:
    out = basis(
        tokens((T0, "AAPLx@usd", 246.45, 246.55), (T0 + S, "AAPLx@usd", 246.45, 246.55)),
        references=refs((T0 - 3 * S, 244.99, 245.01)),
    )
    assert out["ref_age_ms"].to_list() == [3_000.0, 4_000.0]
    assert out["ref_state"].to_list() == ["stale", "stale"]
    assert out["basis_bps"].to_list() == [None, None]
    assert out["exec_basis_bps"].to_list() == [None, None]
    at_limit = basis(
        tokens((T0, "AAPLx@usd", 246.45, 246.55)), references=refs((T0 - 2 * S, 244.99, 245.01))
    )
    assert at_limit["ref_state"].to_list() == ["live"]


@pytest.mark.parametrize(
    ("session", "limit_s"), [("pre", 30), ("post", 30), ("overnight", 60), ("regular", 2)]
)
def test_compute_basis_staleness_limit_follows_session(session: str, limit_s: int) -> None:
    out = basis(
        tokens(
            (T0 + limit_s * S, "AAPLx@usd", 246.45, 246.55),
            (T0 + limit_s * S + 1, "AAPLx@usd", 246.45, 246.55),
        ),
        references=refs((T0, 244.99, 245.01)),
        announced=sessions((T0 - HOUR, session)),
    )
    assert out["ref_state"].to_list() == ["live", "stale"]
    assert out["session"].to_list() == [session, session]


@pytest.mark.parametrize("session", ["closed", "halted"])
def test_compute_basis_closed_market_is_against_last_reference(session: str) -> None:
    out = basis(
        tokens((T0 + 4 * HOUR, "AAPLx@usd", 239.90, 240.10)),
        references=refs((T0, 244.99, 245.01)),
        announced=sessions((T0 - HOUR, "regular"), (T0 + 10 * S, session)),
    )
    row = out.row(0, named=True)
    assert (row["ref_state"], row["session"]) == ("closed", session)
    assert row["ref_age_ms"] == 4 * 3_600_000.0
    assert row["basis_bps"] == pytest.approx((240.00 / 245.00 - 1) * 1e4, abs=1e-9)
    assert row["exec_basis_bps"] is None


def test_compute_basis_unknown_session_counts_as_closed() -> None:
    out = basis(tokens((T0, "AAPLx@usd", 246.45, 246.55)), announced=sessions())
    assert out.select("session", "ref_state").row(0) == ("closed", "closed")


def test_compute_basis_empty_input_keeps_the_schema() -> None:
    out = compute_basis(
        tokens(),
        references=refs(),
        fx=fx(),
        sessions=sessions(),
        multipliers=MULTIPLIERS.clear(),
        listings=LISTINGS.clear(),
        params=PARAMS,
    )
    assert out.collect_schema() == BASIS_SCHEMA
    assert_frame_equal(out.collect(), pl.DataFrame(schema=BASIS_SCHEMA))


def test_compute_basis_never_uses_a_future_reference() -> None:
    quote = tokens((T0, "AAPLx@usd", 246.45, 246.55))
    only_future = basis(quote, references=refs((T0 + 1, 299.0, 301.0)))
    assert only_future.select("ref_state", "ref_ts", "ref_mid", "basis_bps").row(0) == (
        "missing",
        None,
        None,
        None,
    )
    both = basis(quote, references=refs((T0 - S, 244.99, 245.01), (T0 + 1, 299.0, 301.0)))
    row = both.row(0, named=True)
    assert (row["ref_ts"], row["ref_mid"]) == (datetime(2025, 9, 15, 13, 59, 59), 245.0)
    assert row["basis_bps"] == pytest.approx((246.50 / 245.00 - 1) * 1e4, abs=1e-9)


def test_compute_basis_reference_older_than_max_age_is_missing() -> None:
    old = T0 - PARAMS.max_ref_age_ms * MS - 1
    out = basis(
        tokens((T0, "AAPLx@usd", 246.45, 246.55)),
        references=refs((old, 244.99, 245.01)),
        announced=sessions((T0 - HOUR, "closed")),
    )
    assert out.select("ref_state", "ref_mid", "basis_bps").row(0) == ("missing", None, None)


def test_compute_basis_multiplier_changes_exactly_at_effective_from() -> None:
    k = pl.LazyFrame(
        {
            "instrument_id": ["AAPLx@usd", "AAPLx@usd"],
            "effective_from": [T0 - HOUR, T0],
            "multiplier": [1.0, 1.0033],
        }
    )
    out = basis(
        tokens(
            (T0 - 1, "AAPLx@usd", 246.45, 246.55),
            (T0, "AAPLx@usd", 246.45, 246.55),
            (T0 + 1, "AAPLx@usd", 246.45, 246.55),
        ),
        multipliers=k,
    )
    assert out["multiplier"].to_list() == [1.0, 1.0033, 1.0033]
    expected = [(246.50 / (m * 245.00) - 1) * 1e4 for m in (1.0, 1.0033, 1.0033)]
    assert out["basis_bps"].to_list() == pytest.approx(expected, abs=1e-9)


def test_compute_basis_skips_rows_before_listing_and_unknown_instruments() -> None:
    k = pl.LazyFrame({"instrument_id": ["AAPLx@usd"], "effective_from": [T0], "multiplier": [1.0]})
    out = basis(
        tokens(
            (T0 - 1, "AAPLx@usd", 246.45, 246.55),
            (T0, "AAPLx@usd", 246.45, 246.55),
            (T0, "NOPEx@usd", 1.0, 2.0),
        ),
        multipliers=k,
    )
    assert out.select("instrument_id", "source_seq").rows() == [("AAPLx@usd", 2)]


def _exec_expected(bid: float, ask: float, ref_bid: float, ref_ask: float, fee: float) -> float:
    prem = (bid * (1 - fee) - ref_ask) / ref_ask
    disc = (ask * (1 + fee) - ref_bid) / ref_bid
    return prem * 1e4 if prem > 0 else disc * 1e4 if disc < 0 else 0.0


def test_compute_basis_executable_basis_three_branches() -> None:
    quotes = [
        (T0, "AAPLx@usd", 246.00, 246.20),  # rich: sell token, buy stock
        (T0 + 1, "AAPLx@usd", 243.80, 244.00),  # cheap: buy token, sell stock
        (T0 + 2, "AAPLx@usd", 244.95, 245.05),  # inside the fee band
    ]
    out = basis(tokens(*quotes), references=refs((T0 - S, 244.90, 245.10)))
    expected = [_exec_expected(b, a, 244.90, 245.10, 0.001) for _, _, b, a in quotes]
    assert expected[0] > 0 and expected[1] < 0 and expected[2] == 0.0
    assert out["exec_basis_bps"].to_list() == pytest.approx(expected, abs=1e-9)
    mids = [(b + a) / 2 for _, _, b, a in quotes]
    assert out["basis_bps"].to_list() == pytest.approx(
        [(m / 245.00 - 1) * 1e4 for m in mids], abs=1e-9
    )


def test_compute_pool_quotes_top_of_book_from_price_and_fee() -> None:
    pools = pl.LazyFrame(
        {
            "ts_event": _ts([T0]),
            "ts_recv": _ts([T0 + MS]),
            "instrument_id": ["AAPLx@pool"],
            "venue": ["pool"],
            "price": [250.0],
            "fee_bps": [30.0],
            "ingest_seq": [7],
        }
    )
    expected = pl.DataFrame(
        {
            "ts_event": _ts([T0]),
            "ts_recv": _ts([T0 + MS]),
            "instrument_id": ["AAPLx@pool"],
            "venue": ["pool"],
            "bid_px": [250.0 * (1 - 0.003)],
            "ask_px": [250.0 / (1 - 0.003)],
            "source_kind": ["pool"],
            "source_seq": [7],
        }
    )
    assert_frame_equal(compute_pool_quotes(pools).collect(), expected)


def test_compute_basis_pool_row_does_not_charge_the_fee_twice() -> None:
    pools = pl.LazyFrame(
        {
            "ts_event": _ts([T0]),
            "ts_recv": _ts([T0]),
            "instrument_id": ["AAPLx@pool"],
            "venue": ["pool"],
            "price": [280.0],
            "fee_bps": [30.0],
            "ingest_seq": [1],
        }
    )
    out = basis(
        compute_pool_quotes(pools),
        references=refs((T0 - S, 240.90, 241.10)),
        rates=fx((T0 - S, "USDC", 0.8774)),
    )
    row = out.row(0, named=True)
    bid_usd, ask_usd = 280.0 * 0.997 * 0.8774, 280.0 / 0.997 * 0.8774
    assert (row["source_kind"], row["bid_usd"]) == ("pool", pytest.approx(bid_usd, abs=1e-9))
    assert row["ask_usd"] == pytest.approx(ask_usd, abs=1e-9)
    assert row["exec_basis_bps"] == pytest.approx(
        _exec_expected(bid_usd, ask_usd, 240.90, 241.10, 0.0), abs=1e-9
    )
    assert row["exec_basis_bps"] > 0


def test_basis_params_needs_every_open_session() -> None:
    with pytest.raises(ConfigError) as err:
        BasisParams(max_staleness_ms={"regular": 2_000}, max_ref_age_ms=1, fx_max_staleness_ms=1)
    assert err.value.key == "basis.max_staleness_ms"
    assert "pre, post, overnight" in err.value.message
    with pytest.raises(ConfigError) as err:
        BasisParams.from_settings(
            BasisSettings(max_staleness_ms={"regular": 0, "pre": 1, "post": 1, "overnight": 1})
        )
    assert err.value.key == "basis.max_staleness_ms.regular"
