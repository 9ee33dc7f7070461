"""Acceptance: the simulator's 10 Oct 2025 sell-off in the metric tables (no network).

The oct10 scenario's market, parsed by the real sim adapter, goes into a DuckDB file;
``divergence backfill`` (the basis job's and the metrics job's ``run_backfill``) writes
every table; the assertions read the ``stress_episodes``, ``luld_events``, ``luld_bands``
and ``daily_premium`` tables.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from divergence.catalog import Catalog
from divergence.clock import NS_PER_SECOND
from divergence.events import Event, Quote
from divergence.jobs.basis_job import run_backfill as run_basis_backfill
from divergence.jobs.metrics_job import run_backfill as run_metrics_backfill
from divergence.runtime import sync_catalog_tables
from divergence.settings import BasisSettings, MetricsSettings
from divergence.sim import scenario as sc
from divergence.sim.frames import tick_frames
from divergence.sim.market import generate_ticks, sim_venues
from divergence.store.db import Store
from divergence.store.frames import TABLE_OF, frame_for
from divergence.venues.sim import SimAdapter

pytestmark = pytest.mark.slow
S = NS_PER_SECOND
UNTIL_NS = sc.et_ns(sc.OCT10, 20, 52)
"""The span checked ends at 20:50 ET; rows up to there are final 2 min later at most."""
END_NS = sc.et_ns(sc.OCT10, 20, 50)
THURSDAY_CLOSE_NS = sc.et_ns(sc.date(2025, 10, 9), 15, 59, 59)


def _sim_events(catalog: Catalog) -> dict[type, list[Event]]:
    """Every event of the sim market up to UNTIL_NS, trades included, parsed by the real
    adapter (tick grid: 2 sim s at the 60x segment, as in test_stress.py)."""
    adapters = {v.id: SimAdapter(v, catalog) for v in sim_venues(catalog)}
    events: dict[type, list[Event]] = defaultdict(list)
    ticks = generate_ticks(catalog, sc.OCT10_SCENARIO, seed=7, tick_ms=100, speed=1 / 3)
    for tick in ticks:
        if tick.ts_ns > UNTIL_NS:
            return events
        for frame in tick_frames(tick):
            if frame.key is not None:
                for event in adapters[frame.venue].parse(frame.text, ts_recv=tick.ts_ns):
                    events[type(event)].append(event)
    raise AssertionError("unreachable: the tick generator is infinite")


def _thursday_closes(catalog: Catalog) -> list[Event]:
    """One regular-session reference quote per underlying at 15:59:59 ET on Thursday 9 Oct
    (its start price +- 1 cent): the prior close the shadow LULD needs for Friday's bands
    (the sim starts at 15:56 ET on Friday; without a prior close the bands are null)."""
    quotes: list[Event] = []
    for ref in catalog.reference:
        mid = Decimal(str(sc.START_PRICES[ref.underlying]))
        quotes.append(
            Quote(
                ts_event=THURSDAY_CLOSE_NS, ts_recv=THURSDAY_CLOSE_NS, venue=ref.venue,
                instrument_id=ref.id, symbol=ref.symbol, bid_px=mid - Decimal("0.01"),
                bid_sz=Decimal(100), ask_px=mid + Decimal("0.01"), ask_sz=Decimal(100),
            )
        )  # fmt: skip
    return quotes


@pytest.fixture(scope="module")
def selloff_db(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The scenario 15:56-20:52 ET after ``divergence backfill`` (basis and metrics)."""
    path = tmp_path_factory.mktemp("selloff") / "selloff.duckdb"
    store = Store(path)
    try:
        store.migrate()
        sync_catalog_tables(store, catalog)
        events = _sim_events(catalog)
        events[Quote] = _thursday_closes(catalog) + events[Quote]
        seq = 1
        for kind, batch in events.items():
            store.append(TABLE_OF[kind], frame_for(kind, batch, ts_ingest=0, first_seq=seq))
            seq += len(batch)
        basis = BasisSettings()
        run_basis_backfill(store, catalog, basis, start_ns=sc.START_NS, end_ns=UNTIL_NS)
        run_metrics_backfill(
            store, catalog, MetricsSettings(), basis=basis, start_ns=sc.START_NS, end_ns=UNTIL_NS
        )
    finally:
        store.close()
    yield path


def _table(db: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql(sql).pl()


def _ns(frame: pl.DataFrame, column: str) -> list[int]:
    return frame[column].cast(pl.Int64).to_list()


UNDERLYINGS = ["AAPL", "NVDA", "TSLA"]


def test_selloff_is_the_one_stress_episode(selloff_db: Path) -> None:
    episodes = _table(selloff_db, "SELECT * FROM stress_episodes")
    assert episodes.height == 1, episodes
    row = episodes.row(0, named=True)
    (start,) = _ns(episodes, "episode_start")
    # the cascade moves every token 4 sigma (and 50 bps) off its baseline within seconds;
    # 30 s of tolerance (ticks every 2 sim s)
    assert sc.SELLOFF_START_NS <= start <= sc.SELLOFF_START_NS + 30 * S
    assert _ns(episodes, "confirmed_at") == [start + 29 * S]  # 30 fully hot 1-s buckets
    assert row["symbols"] == UNDERLYINGS and row["peak_stressed"] == 3
    assert (row["session"], row["market_closed"], row["start_clipped"]) == ("closed", True, False)
    assert _ns(episodes, "closed_at")[0] <= sc.SELLOFF_END_NS
    # the per-second states: open exactly from the confirmation to the close
    open_ = _table(
        selloff_db,
        "SELECT min(bucket_start) AS first, max(bucket_start) AS last, count(*) AS n "
        "FROM stress_states WHERE episode_open",
    )
    first, last = _ns(open_, "first")[0], _ns(open_, "last")[0]
    assert (first, last + S) == (_ns(episodes, "confirmed_at")[0], _ns(episodes, "closed_at")[0])
    assert open_["n"][0] == (last - first) // S + 1


def _expected_limit_start(ask0: float, lower: float) -> float:
    """When the consolidated best ask reaches the lower band, from selloff_factor.

    In the cascade every token's fair value is ``P0 (1 - 0.064 s(t / 60 s))`` with
    ``s(x) = (1 - cos(pi x)) / 2``, so the best ask is ``ask0 (1 - 0.064 s)``, ``ask0``
    the best ask at SELLOFF_START (the latent walk moves it ~0.1 % in a minute). The limit
    state starts when ``ask0 (1 - 0.064 s) <= lower``: ``s* = (1 - lower / ask0) / 0.064``,
    ``t* = 60 s x acos(1 - 2 s*) / pi``. With a 5 % band and the reference at the pre-sell-
    off level (lower / ask0 ~ 0.95): s* = 0.78, t* = 41 s; the update rule lets the
    reference sit up to 1 % away, hence the per-underlying ``ask0`` and ``lower``.
    """
    depth = sc.SELLOFF_DEPTH * sc.SELLOFF_CASCADE_SHARE
    share = (1 - lower / ask0) / depth
    return sc.SELLOFF_START_NS + sc.SELLOFF_CASCADE_S * S * math.acos(1 - 2 * share) / math.pi


def _ask_at_start(db: Path, underlying: str) -> float:
    rows = _table(
        db,
        f"""SELECT best_ask_usd FROM consolidated_bbo
        WHERE underlying = '{underlying}' AND epoch_ns(ts_event) <= {sc.SELLOFF_START_NS}
        ORDER BY ts_event DESC LIMIT 1""",
    )
    return float(rows["best_ask_usd"][0])


def test_selloff_pauses_every_underlying_at_the_derived_time(selloff_db: Path) -> None:
    events = _table(
        selloff_db,
        f"""SELECT * FROM luld_events WHERE event <> 'band_breach'
        AND epoch_ns(ts_start) >= {sc.SELLOFF_START_NS} ORDER BY underlying, ts_start""",
    )
    # one limit state of 15 s, then a 5-minute pause, per underlying; nothing else
    assert events["event"].to_list() == ["limit_state_equiv", "pause_equiv"] * 3
    assert events["underlying"].to_list() == [u for u in UNDERLYINGS for _ in range(2)]
    assert set(events["side"]) == {"lower"} and set(events["session"]) == {"closed"}
    starts, ends = _ns(events, "ts_start"), _ns(events, "ts_end")
    for k, underlying in enumerate(UNDERLYINGS):
        limit, pause = 2 * k, 2 * k + 1
        assert ends[limit] == starts[pause] == starts[limit] + 15 * S
        assert ends[pause] == starts[pause] + 300 * S
        lower = events["lower_band_usd"][limit]
        assert events["price_usd"][limit] <= lower  # the best ask at the band or beyond
        expected = _expected_limit_start(_ask_at_start(selloff_db, underlying), lower)
        # tolerance: the 2 s tick grid, the latent walk and the basis noise (< 1 s each)
        assert abs(starts[limit] - expected) <= 4 * S, (underlying, starts[limit] - expected)
        # about 41 s into the cascade, so the pause starts about 56 s in
        assert 35 * S <= starts[pause] - sc.SELLOFF_START_NS - 15 * S <= 50 * S


def test_selloff_luld_events_only_in_the_selloff(selloff_db: Path) -> None:
    """From the first trade (15:56 ET) to 20:50 ET: the rich episode (80 bps), the
    misprinted USDT source (the median does not move) and the weekend close breach
    nothing. Every event lies in the sell-off (breaches on the way down) or in the
    minutes after the USDC depeg while the USDC pools reprice: their USD asks are then
    up to 12% below the stock, the consolidated best ask, and a real lower-band breach."""
    everything = _table(selloff_db, "SELECT * FROM luld_events")
    repricing = (sc.DEPEG_START_NS, sc.DEPEG_START_NS + 10 * sc.DEPEG_REPRICE_TAU_S * S)
    starts_all = pl.Series(_ns(everything, "ts_start"))
    in_depeg = everything.filter(starts_all.is_between(*repricing, closed="left"))
    assert not in_depeg.is_empty() and set(in_depeg["side"]) == {"lower"}
    events = everything.filter(~starts_all.is_between(*repricing, closed="left"))
    assert set(events["event"]) == {"band_breach", "limit_state_equiv", "pause_equiv"}
    first = min(_ns(events, "ts_start"))
    assert first >= sc.SELLOFF_START_NS and max(_ns(events, "ts_start")) < sc.SELLOFF_END_NS
    breaches = events.filter(pl.col("event") == "band_breach")
    assert set(breaches["underlying"]) == set(UNDERLYINGS) and set(breaches["side"]) == {"lower"}
    assert (breaches["price_usd"] < breaches["lower_band_usd"]).all()
    assert max(_ns(breaches, "ts_start")) < sc.SELLOFF_BOTTOM_NS


def test_selloff_bands_start_from_thursdays_close(selloff_db: Path) -> None:
    bands = _table(selloff_db, "SELECT * FROM luld_bands ORDER BY underlying, ts_event")
    first = bands.group_by("underlying", maintain_order=True).first()
    assert first["underlying"].to_list() == UNDERLYINGS
    # the first trade (15:56 ET, in the closing window: doubled) sets the reference; the
    # prior close is Thursday's quote mid, the start price; Tier 1 (catalog): 2 x 5 %
    assert (first["ts_event"].cast(pl.Int64) >= sc.START_NS).all()
    assert (first["ts_event"].cast(pl.Int64) < sc.START_NS + S).all()
    # (245.26 + 245.28) / 2 in floating point
    assert first["prior_close_usd"].to_list() == pytest.approx(
        [sc.START_PRICES[u] for u in UNDERLYINGS], rel=1e-12
    )
    assert set(first["band_window"]) == {"closing"} and set(first["tier"]) == {1}
    width = first["ref_price_usd"] * 0.10
    assert ((first["lower_band_usd"] - (first["ref_price_usd"] - width)).abs() <= 0.005).all()


def test_selloff_daily_premium_at_fridays_close(selloff_db: Path) -> None:
    premium = _table(selloff_db, "SELECT * FROM daily_premium ORDER BY underlying")
    assert premium["underlying"].to_list() == UNDERLYINGS
    assert _ns(premium, "close_ts") == [sc.CLOSE_NS] * 3
    # the close: the mid of the underlying's last reference quote of the session
    closes = _table(
        selloff_db,
        f"""SELECT i.underlying, (CAST(q.bid_px AS DOUBLE) + CAST(q.ask_px AS DOUBLE)) / 2 AS mid
        FROM quotes AS q JOIN instruments AS i USING (instrument_id)
        WHERE i.role = 'reference' AND epoch_ns(q.ts_event) <= {sc.CLOSE_NS}
        QUALIFY row_number() OVER (PARTITION BY i.underlying ORDER BY q.ts_event DESC) = 1
        ORDER BY i.underlying""",
    )
    assert premium["close_usd"].to_list() == closes["mid"].to_list()
    # tokens track fair value within a few bps: |PD| = |mid / close - 1| < 10 bps
    assert (premium["pd_frac"].abs() < 0.001).all()
    assert ((pl.Series(_ns(premium, "mid_ts")) - sc.CLOSE_NS).abs() <= 60 * S).all()
