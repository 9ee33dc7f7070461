"""compute_basis and compute_pool_quotes on hand-computed cases (docs/metrics.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from divergence.clock import NS_PER_MS, NS_PER_SECOND, ns_from_datetime
from divergence.errors import ConfigError
from divergence.metrics.basis import BASIS_SCHEMA, BasisContext, BasisParams, compute_basis
from divergence.metrics.pool import compute_pool_quotes
from divergence.sessions import calendar_frame
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


def refs(*rows: tuple[int, float, float], instrument: str = "AAPL@sip") -> pl.LazyFrame:
    """(ts_event, bid, ask) reference quotes for AAPL from ``instrument``."""
    return pl.LazyFrame(
        {
            "ts_event": _ts([r[0] for r in rows]),
            "underlying": ["AAPL"] * len(rows),
            "ref_instrument_id": [instrument] * len(rows),
            "bid": [r[1] for r in rows],
            "ask": [r[2] for r in rows],
        },
        schema_overrides={"bid": pl.Float64, "ask": pl.Float64},
    )


def fx(*rows: tuple[int, str, float], venue: str = "fx-a") -> pl.LazyFrame:
    """(ts_event, currency, rate) from one source ``venue``."""
    return pl.LazyFrame(
        {
            "ts_event": _ts([r[0] for r in rows]),
            "venue": [venue] * len(rows),
            "currency": [r[1] for r in rows],
            "rate_usd": [r[2] for r in rows],
        },
        schema_overrides={"venue": pl.String, "currency": pl.String, "rate_usd": pl.Float64},
    )


def two_sources(*rows: tuple[int, str, float]) -> pl.LazyFrame:
    """The same rates from two sources (fx_min_sources = 2: a ``live`` median)."""
    return pl.concat([fx(*rows, venue="fx-a"), fx(*rows, venue="fx-b")])


def sessions(*rows: tuple[int, str]) -> pl.LazyFrame:
    """Sessions venues announced for AAPL (halts)."""
    return pl.LazyFrame(
        {
            "ts_event": _ts([r[0] for r in rows]),
            "underlying": ["AAPL"] * len(rows),
            "session": [r[1] for r in rows],
        },
        schema_overrides={"underlying": pl.String, "session": pl.String},
    )


def one_session(session: str) -> pl.LazyFrame:
    """A calendar that is ``session`` for ten days either side of T0."""
    return pl.LazyFrame(
        {
            "ts_start": _ts([T0 - 240 * HOUR]),
            "ts_end": _ts([T0 + 240 * HOUR]),
            "session": [session],
        }
    )


def xnys(start: int, end: int) -> pl.LazyFrame:
    """The real XNYS calendar over [start, end)."""
    return calendar_frame(start, end).lazy()


def closes(*rows: tuple[int, int, float, float]) -> pl.LazyFrame:
    """(close_ts, quote ts, bid, ask): AAPL@sip's last quote of a regular session."""
    return pl.LazyFrame(
        {
            "close_ts": _ts([r[0] for r in rows]),
            "underlying": ["AAPL"] * len(rows),
            "ref_instrument_id": ["AAPL@sip"] * len(rows),
            "ts_event": _ts([r[1] for r in rows]),
            "bid": [r[2] for r in rows],
            "ask": [r[3] for r in rows],
        },
        schema_overrides={"bid": pl.Float64, "ask": pl.Float64},
    )


REFERENCE_SESSIONS = pl.LazyFrame(
    {
        "ref_instrument_id": ["AAPL@sip"] * 3 + ["AAPL@boats"],
        "underlying": ["AAPL"] * 4,
        "ref_session": ["pre", "regular", "post", "overnight"],
    }
)
DAY_ONLY = REFERENCE_SESSIONS.filter(pl.col("ref_session") != "overnight")
LISTINGS = pl.LazyFrame(
    {
        "instrument_id": ["AAPLx@usd", "AAPLx@usdc", "AAPLx@pool", "AAPLx@ui"],
        "underlying": ["AAPL"] * 4,
        "quote_currency": ["USD", "USDC", "USDC", "USD"],
        "taker_fee_bps": [10.0, 10.0, 30.0, 10.0],
        "tracking": ["total_return", "total_return", "total_return", "rebasing"],
    }
)
MULTIPLIERS = pl.LazyFrame(
    {
        "instrument_id": ["AAPLx@usd", "AAPLx@usdc", "AAPLx@pool", "AAPLx@ui"],
        "effective_from": [T0 - 30 * 24 * HOUR] * 4,  # Int64 ns, as basis_multipliers.sql
        "multiplier": [1.0, 1.0, 1.0, 1.0],
    }
)
NO_SPLITS = pl.LazyFrame(
    schema={"underlying": pl.String, "effective_from": TS, "ratio": pl.Float64}
)


def basis(
    token_rows: pl.LazyFrame,
    *,
    references: pl.LazyFrame | None = None,
    rates: pl.LazyFrame | None = None,
    announced: pl.LazyFrame | None = None,
    calendar: pl.LazyFrame | None = None,
    closing: pl.LazyFrame | None = None,
    eligible: pl.LazyFrame = REFERENCE_SESSIONS,
    multipliers: pl.LazyFrame = MULTIPLIERS,
    splits: pl.LazyFrame = NO_SPLITS,
    params: BasisParams = PARAMS,
) -> pl.DataFrame:
    context = BasisContext(
        references=references if references is not None else refs((T0 - 500 * MS, 244.99, 245.01)),
        reference_sessions=eligible,
        closes=closing if closing is not None else closes(),
        fx=rates if rates is not None else two_sources((T0 - S, "USDC", 1.0)),
        calendar=calendar if calendar is not None else one_session("regular"),
        announcements=announced if announced is not None else sessions(),
        multipliers=multipliers,
        listings=LISTINGS,
        splits=splits,
    )
    return compute_basis(token_rows, context, params).collect()


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
        rates=two_sources((T0 - 400 * MS, "USDC", 0.8774), (T0 - 2 * S, "USDC", 1.0)),
    )
    row = out.row(0, named=True)
    assert row["mid_usd"] == pytest.approx(245.672, abs=1e-9)
    assert row["bid_usd"] == pytest.approx(279.90 * 0.8774, abs=1e-9)
    assert row["ask_usd"] == pytest.approx(280.10 * 0.8774, abs=1e-9)
    assert (row["fx_rate"], row["fx_age_ms"], row["fx_state"]) == (0.8774, 400.0, "live")
    assert (row["fx_sources"], row["fx_depeg"]) == (2, True)
    assert row["basis_bps"] == pytest.approx((280.0 * 0.8774 / 245.00 - 1) * 1e4, abs=1e-9)


def test_compute_basis_stale_or_missing_fx_gives_no_basis() -> None:
    quotes = tokens((T0, "AAPLx@usdc", 279.90, 280.10))
    stale = basis(quotes, rates=two_sources((T0 - 61 * S, "USDC", 0.8774))).row(0, named=True)
    assert (stale["fx_state"], stale["fx_age_ms"], stale["ref_state"]) == (
        "stale",
        61_000.0,
        "live",
    )
    assert stale["mid_usd"] == pytest.approx(245.672, abs=1e-9)
    assert (stale["basis_bps"], stale["exec_basis_bps"]) == (None, None)
    missing = basis(quotes, rates=two_sources((T0 + MS, "USDC", 0.8774))).row(0, named=True)
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
        references=refs(
            (T0, 244.99, 245.01), instrument="AAPL@boats" if session == "overnight" else "AAPL@sip"
        ),
        calendar=one_session(session),
    )
    assert out["ref_state"].to_list() == ["live", "stale"]
    assert out["session"].to_list() == [session, session]
    kind = {"regular": "nbbo", "overnight": "overnight"}.get(session, "extended")
    confidence = "high" if session == "regular" else "low"
    assert out.select("ref_kind", "ref_confidence").unique().rows() == [(kind, confidence)]


def test_compute_basis_closed_market_is_against_the_last_regular_close() -> None:
    friday_close = ns_from_datetime(datetime(2025, 9, 12, 20, 0, tzinfo=UTC))  # 16:00 EDT
    saturday = friday_close + 20 * HOUR
    out = basis(
        tokens((saturday, "AAPLx@usd", 239.90, 240.10)),
        references=refs((friday_close - 100 * MS, 244.99, 245.01), (friday_close + HOUR, 1, 3)),
        closing=closes((friday_close, friday_close - 100 * MS, 244.99, 245.01)),
        calendar=xnys(friday_close - 100 * HOUR, saturday + HOUR),
    )
    row = out.row(0, named=True)
    assert (row["session"], row["ref_kind"], row["ref_state"]) == ("closed", "last_close", "closed")
    assert (row["ref_confidence"], row["ref_session"]) == ("none", "regular")
    assert row["ref_mid"] == 245.0  # the close, not the post-market quote of 2.0
    assert row["ref_age_ms"] == 20 * 3_600_000.0 + 100.0
    assert row["basis_bps"] == pytest.approx((240.00 / 245.00 - 1) * 1e4, abs=1e-9)
    assert row["exec_basis_bps"] is None


def test_compute_basis_overnight_without_a_venue_is_against_the_last_close() -> None:
    out = basis(
        tokens((T0, "AAPLx@usd", 239.90, 240.10)),
        references=refs((T0 - S, 1.0, 3.0)),
        closing=closes((T0 - 5 * HOUR, T0 - 5 * HOUR - S, 244.99, 245.01)),
        calendar=pl.concat(
            [one_session("regular").with_columns(pl.lit(T0 - 5 * HOUR).cast(TS).alias("ts_end"))]
        ).with_columns(pl.col("ts_start").cast(TS)),
        eligible=DAY_ONLY,
    )
    # The calendar above is regular until T0 - 5 h, then nothing: outside it counts closed.
    row = out.row(0, named=True)
    assert (row["session"], row["ref_kind"], row["ref_mid"]) == ("closed", "last_close", 245.0)
    overnight = basis(
        tokens((T0, "AAPLx@usd", 239.90, 240.10)),
        references=refs((T0 - S, 1.0, 3.0)),
        closing=closes((T0 - 5 * HOUR, T0 - 5 * HOUR - S, 244.99, 245.01)),
        calendar=pl.concat(
            [
                one_session("regular").with_columns(pl.lit(T0 - 5 * HOUR).cast(TS).alias("ts_end")),
                pl.LazyFrame(
                    {
                        "ts_start": _ts([T0 - 5 * HOUR]),
                        "ts_end": _ts([T0 + HOUR]),
                        "session": ["overnight"],
                    }
                ),
            ]
        ),
        eligible=DAY_ONLY,
    ).row(0, named=True)
    assert (overnight["session"], overnight["ref_kind"], overnight["ref_state"]) == (
        "overnight",
        "last_close",
        "closed",
    )
    assert overnight["ref_mid"] == 245.0
    assert overnight["basis_bps"] == pytest.approx((240.00 / 245.00 - 1) * 1e4, abs=1e-9)


def test_compute_basis_overnight_venue_serves_overnight_only() -> None:
    boats = pl.LazyFrame(
        {
            "ts_event": _ts([T0 - 20 * S, T0 - 10 * S]),
            "underlying": ["AAPL"] * 2,
            "ref_instrument_id": ["AAPL@boats", "AAPL@sip"],
            "bid": [243.90, 1.0],
            "ask": [244.10, 3.0],
        }
    )
    out = basis(
        tokens((T0, "AAPLx@usd", 245.90, 246.10)),
        references=boats,
        calendar=one_session("overnight"),
    ).row(0, named=True)
    assert (out["ref_kind"], out["ref_instrument_id"], out["ref_confidence"]) == (
        "overnight",
        "AAPL@boats",
        "low",
    )
    assert (out["ref_mid"], out["ref_state"], out["ref_session"]) == (244.0, "live", "overnight")
    assert out["basis_bps"] == pytest.approx((246.0 / 244.0 - 1) * 1e4, abs=1e-9)
    day = basis(
        tokens((T0, "AAPLx@usd", 245.90, 246.10)), references=boats, calendar=one_session("regular")
    ).row(0, named=True)
    assert (day["ref_instrument_id"], day["ref_mid"]) == ("AAPL@sip", 2.0)


def test_compute_basis_halt_freezes_the_reference_at_the_halt() -> None:
    out = basis(
        tokens((T0 + 60 * S, "AAPLx@usd", 239.90, 240.10), (T0 + 200 * S, "AAPLx@usd", 1, 2)),
        references=refs((T0 - S, 244.99, 245.01), (T0 + 30 * S, 230.0, 232.0)),
        announced=sessions((T0, "halted"), (T0 + 120 * S, "regular")),
        calendar=one_session("regular"),
    )
    halted, resumed = out.rows(named=True)
    assert (halted["session"], halted["ref_kind"], halted["ref_state"]) == (
        "halted",
        "halt",
        "closed",
    )
    assert (halted["ref_mid"], halted["ref_confidence"]) == (245.0, "none")
    assert halted["basis_bps"] == pytest.approx((240.00 / 245.00 - 1) * 1e4, abs=1e-9)
    assert (resumed["session"], resumed["ref_kind"], resumed["ref_mid"]) == (
        "regular",
        "nbbo",
        231.0,
    )
    assert resumed["ref_state"] == "stale"  # 170 s old in the regular session


def test_compute_basis_outside_the_calendar_counts_as_closed() -> None:
    empty = one_session("regular").clear()
    out = basis(tokens((T0, "AAPLx@usd", 246.45, 246.55)), calendar=empty)
    assert out.select("session", "ref_kind", "ref_state").row(0) == (
        "closed",
        "last_close",
        "missing",
    )


def test_compute_basis_empty_input_keeps_the_schema() -> None:
    context = BasisContext(
        references=refs(),
        reference_sessions=REFERENCE_SESSIONS.clear(),
        closes=closes(),
        fx=fx(),
        calendar=one_session("regular").clear(),
        announcements=sessions(),
        multipliers=MULTIPLIERS.clear(),
        listings=LISTINGS.clear(),
        splits=NO_SPLITS,
    )
    out = compute_basis(tokens(), context, PARAMS)
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
        rates=two_sources((T0 - S, "USDC", 0.8774)),
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


def test_compute_basis_multiplier_1016_blind_shows_160_bps_adjusted_shows_zero() -> None:
    k = pl.LazyFrame(
        {"instrument_id": ["AAPLx@usd"], "effective_from": [T0 - HOUR], "multiplier": [1.016]}
    )
    fair = 1.016 * 245.00  # a token worth 1.016 shares, fairly priced
    row = basis(tokens((T0, "AAPLx@usd", fair - 0.05, fair + 0.05)), multipliers=k).row(
        0, named=True
    )
    blind = (row["mid_usd"] / row["ref_mid"] - 1) * 1e4
    assert blind == pytest.approx(160.0, abs=1e-6)
    assert row["multiplier"] == 1.016
    assert row["basis_bps"] == pytest.approx(0.0, abs=1e-9)


def test_compute_basis_rebasing_token_is_not_multiplied() -> None:
    k = pl.LazyFrame(
        {"instrument_id": ["AAPLx@ui"], "effective_from": [T0 - HOUR], "multiplier": [1.016]}
    )
    row = basis(tokens((T0, "AAPLx@ui", 244.95, 245.05)), multipliers=k).row(0, named=True)
    assert row["multiplier"] == 1.0  # UI units already include the multiplier
    assert row["basis_bps"] == pytest.approx(0.0, abs=1e-9)


def test_compute_basis_usdc_depeg_splits_the_basis_into_coin_and_rest() -> None:
    usd_fair = 245.00
    in_usdc = usd_fair / 0.8774  # fairly priced in USD, quoted in USDC
    row = basis(
        tokens((T0, "AAPLx@usdc", in_usdc - 0.01, in_usdc + 0.01)),
        rates=two_sources((T0 - S, "USDC", 0.8774)),
    ).row(0, named=True)
    assert (row["fx_rate"], row["fx_depeg"], row["fx_state"]) == (0.8774, True, "live")
    assert row["basis_bps"] == pytest.approx(0.0, abs=1e-9)
    assert row["basis_sc_bps"] == pytest.approx((1 / 0.8774 - 1) * 1e4, abs=1e-9)
    assert row["sc_effect_bps"] == pytest.approx(1397.3, abs=0.05)


def test_compute_basis_fx_median_ignores_one_misprinting_source() -> None:
    rates = pl.concat(
        [
            fx((T0 - S, "USDC", 1.0001), venue="fx-a"),
            fx((T0 - S, "USDC", 0.9999), venue="fx-b"),
            fx((T0 - 500 * MS, "USDC", 0.65), venue="fx-c"),  # the 10 Oct 2025 misprint
        ]
    )
    row = basis(tokens((T0, "AAPLx@usdc", 244.95, 245.05)), rates=rates).row(0, named=True)
    assert (row["fx_rate"], row["fx_sources"], row["fx_state"]) == (0.9999, 3, "live")
    assert row["fx_depeg"] is False
    assert row["fx_age_ms"] == 1_000.0  # the oldest rate the median used


def test_compute_basis_fx_state_single_and_stale_sources_drop_out() -> None:
    rates = pl.concat(
        [
            fx((T0 - S, "USDC", 0.9990), venue="fx-a"),
            fx((T0 - 61 * S, "USDC", 0.8000), venue="fx-b"),  # older than 60 s: not counted
        ]
    )
    row = basis(tokens((T0, "AAPLx@usdc", 244.95, 245.05)), rates=rates).row(0, named=True)
    assert (row["fx_rate"], row["fx_sources"], row["fx_state"]) == (0.9990, 1, "single")
    assert row["basis_bps"] == pytest.approx((245.0 * 0.9990 / 245.0 - 1) * 1e4, abs=1e-9)


def test_compute_basis_oct10_1650_et_is_post_against_an_extended_hours_quote() -> None:
    t = ns_from_datetime(datetime(2025, 10, 10, 20, 50, tzinfo=UTC))  # 16:50 EDT, Friday
    row = basis(
        tokens((t, "AAPLx@usd", 239.90, 240.10)),
        references=refs((t - 10 * S, 244.99, 245.01)),
        calendar=xnys(t - 24 * HOUR, t + HOUR),
    ).row(0, named=True)
    assert (row["session"], row["ref_kind"], row["ref_confidence"]) == ("post", "extended", "low")
    assert (row["ref_session"], row["ref_state"]) == ("post", "live")


def test_compute_basis_adjusts_the_last_close_across_a_real_split() -> None:
    # AAPL split 4:1, ex-date Monday 2020-08-31; Friday 2020-08-28 closed at 499.23.
    close = ns_from_datetime(datetime(2020, 8, 28, 20, 0, tzinfo=UTC))  # 16:00 EDT
    saturday = ns_from_datetime(datetime(2020, 8, 29, 16, 0, tzinfo=UTC))
    sunday_night = ns_from_datetime(datetime(2020, 8, 31, 1, 0, tzinfo=UTC))  # Sun 21:00 EDT
    effective = ns_from_datetime(datetime(2020, 8, 31, 0, 0, tzinfo=UTC))  # Sun 20:00 EDT
    splits = pl.LazyFrame(
        {"underlying": ["AAPL"], "effective_from": _ts([effective]), "ratio": [4.0]}
    )
    k = pl.LazyFrame(
        {
            "instrument_id": ["AAPLx@ui"],
            "effective_from": [close - 1_000 * HOUR],
            "multiplier": [1.0],
        }
    )
    out = basis(
        tokens((saturday, "AAPLx@ui", 499.0, 499.2), (sunday_night, "AAPLx@ui", 124.75, 124.85)),
        references=refs((close - S, 499.22, 499.24)),
        closing=closes((close, close - S, 499.22, 499.24)),
        calendar=xnys(close - 100 * HOUR, sunday_night + HOUR),
        eligible=DAY_ONLY,
        multipliers=k,
        splits=splits,
    )
    before, after = out.rows(named=True)
    assert (before["session"], before["split_factor"], before["ref_mid"]) == (
        "closed",
        1.0,
        pytest.approx(499.23, abs=1e-9),
    )
    assert (after["session"], after["ref_kind"], after["split_factor"]) == (
        "overnight",
        "last_close",
        4.0,
    )
    assert after["ref_mid"] == pytest.approx(499.23 / 4, abs=1e-9)
    assert after["basis_bps"] == pytest.approx((124.80 / (499.23 / 4) - 1) * 1e4, abs=1e-9)
    assert abs(after["basis_bps"]) < 1.0  # unadjusted, the same token would show -7,500 bps
