"""The metric tables alert rules can watch, declared as data.

A rule names its metric as ``<table>.<column>`` (``basis.exec_basis_bps``). Each table
here says how its rows are read over time:

- ``sample``: each row is the state of its scope from its time on, until the scope's
  next row (a basis observation, a 1-s fragmentation bucket, a stablecoin depeg edge, a
  feed event, a daily premium). The row's time is ``time_column``.
- ``interval``: each row is active over ``[time_column, end_column)`` (a shadow-LULD
  pause-equivalent); a null end is still open.

``labels`` maps alert label names to columns (``quote_currency`` is the stablecoin
events' ``currency``, so a depeg alert and the basis alerts of listings quoted in that
coin share the label); ``default_by`` is the scope an alert of the table is kept per
(its fingerprint labels) unless the rule says ``by``. ``optional`` columns may be absent
from the input frame (they are then null): the lead's query may add ``issuer`` to basis
rows by joining ``instruments``. ``no_data_after_s`` is the default age after which the
latest usable row of a sample scope no longer counts (the alert goes ``stale-data``);
``None`` means the row is a state that holds until the next one (edges), and then
``state_lookback_s`` bounds how far back such a state is looked for.

``evidence`` lists the raw input tables of the evidence bundle (:mod:`.evidence`): the
table, its time column and which of its columns equal which alert label.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

SourceKind = Literal["sample", "interval"]
DAY_S = 86_400.0


@dataclass(frozen=True)
class EvidenceTable:
    """A raw input table of an alert's evidence: rows of ``table`` whose ``filters``
    columns equal the alert's labels (column -> label), by ``time_column``."""

    table: str
    time_column: str
    filters: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceSpec:
    """How the alert engine reads one metric table; see the module docstring."""

    table: str
    kind: SourceKind
    time_column: str
    labels: Mapping[str, str]
    default_by: tuple[str, ...]
    numeric: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    end_column: str | None = None
    session_column: str | None = None
    ref_state_column: str | None = None
    optional: tuple[str, ...] = ()
    no_data_after_s: float | None = None
    state_lookback_s: float = DAY_S
    evidence: tuple[EvidenceTable, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        """Every value column a rule may test or filter on."""
        return (*self.numeric, *self.text, *self.flags)

    def column_kind(self, column: str) -> Literal["numeric", "text", "flag"] | None:
        if column in self.numeric:
            return "numeric"
        if column in self.text:
            return "text"
        if column in self.flags:
            return "flag"
        return None


_BASIS_EVIDENCE = (
    EvidenceTable("basis", "ts_event", {"instrument_id": "instrument_id"}),
    EvidenceTable("quotes", "ts_event", {"instrument_id": "instrument_id"}),
    EvidenceTable("trades", "ts_event", {"instrument_id": "instrument_id"}),
    EvidenceTable("pool_states", "ts_event", {"instrument_id": "instrument_id"}),
    EvidenceTable("reference_quotes", "ts_event", {"underlying": "underlying"}),
    EvidenceTable("fx_rates", "ts_event", {"currency": "quote_currency"}),
    EvidenceTable("session_states", "ts_event", {"underlying": "underlying"}),
    EvidenceTable("market_calendar", "ts_start"),
)
_FRAGMENTATION_NUMERIC = (
    "crossed_net_bps_max",
    "crossed_net_bps_avg",
    "crossed_net_frac",
    "crossed_bps_max",
    "crossed_frac",
    "locked_frac",
    "mid_dispersion_bps",
    "mid_range_bps",
    "hhi_volume",
    "ffi_volume",
    "hhi_depth",
    "ffi_depth",
)


def _fragmentation(every: str, no_data_after_s: float) -> SourceSpec:
    return SourceSpec(
        table=f"fragmentation_{every}",
        kind="sample",
        time_column="bucket_start",
        labels={"underlying": "underlying"},
        default_by=("underlying",),
        numeric=_FRAGMENTATION_NUMERIC,
        no_data_after_s=no_data_after_s,
        evidence=(
            EvidenceTable(f"fragmentation_{every}", "bucket_start", {"underlying": "underlying"}),
            EvidenceTable("consolidated_bbo", "ts_event", {"underlying": "underlying"}),
            EvidenceTable("reference_quotes", "ts_event", {"underlying": "underlying"}),
        ),
    )


SOURCES: Mapping[str, SourceSpec] = {
    spec.table: spec
    for spec in (
        SourceSpec(
            table="basis",
            kind="sample",
            time_column="ts_event",
            labels={
                "underlying": "underlying",
                "venue": "venue",
                "instrument_id": "instrument_id",
                "quote_currency": "quote_currency",
                "issuer": "issuer",
            },
            default_by=("underlying", "venue", "instrument_id", "quote_currency"),
            numeric=(
                "basis_bps",
                "exec_basis_bps",
                "basis_sc_bps",
                "sc_effect_bps",
                "ref_age_ms",
                "fx_age_ms",
            ),
            text=("ref_state", "fx_state", "ref_kind", "session", "source_kind"),
            flags=("fx_depeg",),
            session_column="session",
            ref_state_column="ref_state",
            optional=("issuer",),
            no_data_after_s=30.0,
            evidence=_BASIS_EVIDENCE,
        ),
        _fragmentation("1s", 10.0),
        _fragmentation("1m", 180.0),
        SourceSpec(
            table="luld_events",
            kind="interval",
            time_column="ts_start",
            end_column="ts_end",
            labels={"underlying": "underlying", "venue": "venue"},
            default_by=("underlying",),
            numeric=("price", "ref_price", "lower_band", "upper_band"),
            text=("event", "side"),
            session_column="session",
            evidence=(
                EvidenceTable("luld_events", "ts_start", {"underlying": "underlying"}),
                EvidenceTable("trades", "ts_event"),
                EvidenceTable("consolidated_bbo", "ts_event", {"underlying": "underlying"}),
            ),
        ),
        SourceSpec(
            table="stablecoin_events",
            kind="sample",
            time_column="ts_event",
            labels={"quote_currency": "currency", "venue": "venue"},
            default_by=("quote_currency", "venue"),
            numeric=("value_bps",),
            text=("kind", "state"),
            state_lookback_s=7 * DAY_S,
            evidence=(
                EvidenceTable("stablecoin_events", "ts_event", {"currency": "quote_currency"}),
                EvidenceTable("fx_composite", "ts_event", {"currency": "quote_currency"}),
                EvidenceTable("fx_rates", "ts_event", {"currency": "quote_currency"}),
            ),
        ),
        SourceSpec(
            table="feed_events",
            kind="sample",
            time_column="ts",
            labels={"venue": "venue", "stream": "stream"},
            default_by=("venue", "stream"),
            numeric=("value",),
            text=("event",),
            state_lookback_s=DAY_S,
            evidence=(EvidenceTable("feed_events", "ts", {"venue": "venue"}),),
        ),
        SourceSpec(
            table="daily_premium",
            kind="sample",
            time_column="close_ts",
            labels={"underlying": "underlying"},
            default_by=("underlying",),
            numeric=("pd",),
            no_data_after_s=6 * DAY_S,
            evidence=(
                EvidenceTable("daily_premium", "close_ts", {"underlying": "underlying"}),
                EvidenceTable("consolidated_bbo", "ts_event", {"underlying": "underlying"}),
            ),
        ),
        SourceSpec(
            table="stress_states",
            kind="sample",
            time_column="bucket_start",
            labels={},
            default_by=(),
            numeric=("stressed", "active", "median_abs_basis_bps", "max_abs_z"),
            flags=("hot", "episode_open"),
            session_column="session",
            no_data_after_s=30.0,
            evidence=(
                EvidenceTable("stress_states", "bucket_start"),
                EvidenceTable("basis", "ts_event"),
            ),
        ),
    )
}
"""Every table a rule's ``metric`` may name, by table name."""

REF_DATA_PROBLEMS = ("stale", "missing")
"""Reference states that mean the value is unknown, not out of scope (metrics.md §1.3)."""
