"""Builders for the alert tests: metric-table frames on a simulated clock.

The clock starts at ``T0`` = Friday 2025-10-10 15:56:00 ET (19:56:00Z), inside the
regular session, the sim's first scripted minute; ``at(s)`` is ``s`` seconds later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from divergence.alerts.engine import AlertEngine, StepResult
from divergence.alerts.model import Notification
from divergence.alerts.rules import RuleSet, parse_rules
from divergence.alerts.silences import Silence
from divergence.alerts.sources import SOURCES

S = 1_000_000_000
T0 = 1_760_126_160 * S
"""2025-10-10T19:56:00Z = 15:56:00 ET, a Friday in the regular session."""


def at(seconds: float) -> int:
    return T0 + round(seconds * S)


def table_frame(table: str, rows: Sequence[Mapping[str, Any]]) -> pl.LazyFrame:
    """Rows of ``table`` with every column the engine reads (absent values are null);
    time columns are given as epoch ns."""
    spec = SOURCES[table]
    times = [spec.time_column, *([spec.end_column] if spec.end_column else [])]
    dtypes: dict[str, pl.DataType] = {c: pl.Datetime("ns") for c in times}
    for column in (*spec.labels.values(), *spec.text):
        dtypes[column] = pl.String()
    for column in (spec.session_column, spec.ref_state_column):
        if column:
            dtypes[column] = pl.String()
    dtypes |= {c: pl.Float64() for c in spec.numeric} | {c: pl.Boolean() for c in spec.flags}
    data = {c: [row.get(c) for row in rows] for c in dtypes}
    frame = pl.DataFrame(
        {c: pl.Series(c, v, dtype=pl.Int64 if c in times else dtypes[c]) for c, v in data.items()}
    )
    return frame.with_columns(pl.col(times).cast(pl.Datetime("ns"))).lazy()


def basis_row(
    t: int,
    exec_bps: float | None,
    *,
    venue: str = "simx-a",
    underlying: str = "AAPL",
    ref_state: str = "live",
    session: str = "regular",
    quote_currency: str = "USD",
    basis_bps: float | None = None,
) -> dict[str, Any]:
    return {
        "ts_event": t,
        "underlying": underlying,
        "venue": venue,
        "instrument_id": f"{underlying}x@{venue}",
        "quote_currency": quote_currency,
        "exec_basis_bps": exec_bps,
        "basis_bps": exec_bps if basis_bps is None else basis_bps,
        "ref_state": ref_state,
        "session": session,
        "source_kind": "book",
        "fx_state": "usd",
    }


def rules_of(*rules: Mapping[str, Any], **extra: Any) -> RuleSet:
    """A rule set from plain dicts (as TOML would give them)."""
    return parse_rules({"rules": list(rules), **extra}, source="test")


def run(
    engine: AlertEngine,
    inputs: Mapping[str, pl.LazyFrame],
    steps: Iterable[int],
    *,
    silences: Sequence[Silence] = (),
) -> list[StepResult]:
    """Step ``engine`` at every instant of ``steps`` on the same full inputs."""
    return [engine.step(inputs, now_ns=now, silences=silences) for now in steps]


def sent(results: Iterable[StepResult]) -> list[Notification]:
    return [n for r in results for n in r.notifications]


def summary(notes: Iterable[Notification]) -> list[tuple[str, int, list[str]]]:
    """``(type, seconds after T0, sorted alert fingerprints' rule:scope)`` per notice."""
    out = []
    for n in notes:
        names = [
            a["rule"]
            + ":"
            + ",".join(
                f"{k}={v}"
                for k, v in sorted(a["labels"].items())
                if k not in ("rule", "severity", "family")
            )
            for a in n.data["alerts"]
        ]
        out.append((n.type, (n.timestamp - T0) // S, sorted(names)))
    return out
