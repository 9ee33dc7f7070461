"""The evidence bundle spec of an alert: what to extract, and how to reproduce it (pure).

An :class:`EvidenceSpec` names everything a reviewer needs to check an alert: the rule
and its parameters as loaded, the code version, the time window around the episode, one
:class:`EvidenceQuery` per input table (the metric table the rule read, and the raw
inputs behind it: token quotes and trades, reference quotes, FX, sessions, per
:data:`~divergence.alerts.sources.SOURCES`), and the exact commands that recompute and
show it. Building the bundle (running the queries, zipping the rows) belongs to the
store layer.

The window is ``[active_at − rule LOOKBACK − pad, (ends_at or now) + pad)``: every row
the rule could have read while the alert was alive, plus ``pad`` (60 s) of context on
both sides.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from divergence import __version__
from divergence.alerts.model import Alert
from divergence.alerts.payload import rfc3339
from divergence.alerts.rules import Rule
from divergence.clock import NS_PER_SECOND

EVIDENCE_PAD_NS = 60 * NS_PER_SECOND


def _iso_seconds(ts_ns: int) -> str:
    """``2025-10-10T19:55:00Z`` (whole seconds: the CLI parses microseconds at most)."""
    return (rfc3339(ts_ns) or "").split(".", 1)[0] + "Z"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class EvidenceQuery:
    """Rows of ``table`` with ``time_column`` in ``[start_ns, end_ns)`` and each
    ``filters`` column equal to its value. Table and column names come from the source
    catalog (an allow-list), values are quoted."""

    table: str
    time_column: str
    filters: Mapping[str, str]
    start_ns: int
    end_ns: int

    def prepared(self) -> tuple[str, dict[str, Any]]:
        """The statement with bound parameters, for the store to run."""
        items = sorted(self.filters.items())
        where = [f"{column} = $v{i}" for i, (column, _) in enumerate(items)]
        where += [
            f"{self.time_column} >= make_timestamp_ns($start)",
            f"{self.time_column} < make_timestamp_ns($end)",
        ]
        params: dict[str, Any] = {f"v{i}": value for i, (_, value) in enumerate(items)}
        params |= {"start": self.start_ns, "end": self.end_ns}
        sql = f"SELECT * FROM {self.table} WHERE {' AND '.join(where)} ORDER BY {self.time_column}"
        return sql, params

    def sql(self) -> str:
        """The statement, literal values inlined so it pastes into ``divergence sql``."""
        where = [f"{column} = {_quote(value)}" for column, value in sorted(self.filters.items())]
        where += [
            f"{self.time_column} >= make_timestamp_ns({self.start_ns})",
            f"{self.time_column} < make_timestamp_ns({self.end_ns})",
        ]
        return f"SELECT * FROM {self.table} WHERE {' AND '.join(where)} ORDER BY {self.time_column}"


@dataclass(frozen=True)
class EvidenceSpec:
    """Everything the store layer needs to build an alert's evidence bundle."""

    fingerprint: str
    rule_id: str
    episode: int
    labels: Mapping[str, str]
    rule: Mapping[str, Any]
    code_version: str
    window_start_ns: int
    window_end_ns: int
    inputs: tuple[EvidenceQuery, ...]
    replay: tuple[str, ...]

    def manifest(self) -> dict[str, Any]:
        """The bundle's ``manifest.json`` content."""
        return {
            "fingerprint": self.fingerprint,
            "rule_id": self.rule_id,
            "episode": rfc3339(self.episode),
            "labels": dict(self.labels),
            "rule": dict(self.rule),
            "code_version": self.code_version,
            "window": {
                "start": rfc3339(self.window_start_ns),
                "end": rfc3339(self.window_end_ns),
            },
            "inputs": [{"table": q.table, "sql": q.sql()} for q in self.inputs],
            "replay": list(self.replay),
        }


def evidence_spec(
    alert: Alert, rule: Rule, *, now_ns: int, pad_ns: int = EVIDENCE_PAD_NS
) -> EvidenceSpec:
    """The evidence spec of ``alert`` (an active or ended episode) under ``rule``."""
    # whole seconds, so that the ISO times of the replay command are exact
    start = (alert.active_at - rule.lookback_ns - pad_ns) // NS_PER_SECOND * NS_PER_SECOND
    end = -(-((alert.ends_at or now_ns) + pad_ns) // NS_PER_SECOND) * NS_PER_SECOND
    queries = [
        EvidenceQuery(
            table=table.table,
            time_column=table.time_column,
            filters={
                col: alert.labels[label]
                for col, label in table.filters.items()
                if alert.labels.get(label)
            },
            start_ns=start,
            end_ns=end,
        )
        for table in rule.source.evidence
    ]
    return EvidenceSpec(
        fingerprint=alert.fingerprint,
        rule_id=rule.id,
        episode=alert.episode,
        labels=dict(alert.labels),
        rule=rule.model_dump(mode="json"),
        code_version=__version__,
        window_start_ns=start,
        window_end_ns=end,
        inputs=tuple(queries),
        replay=replay_commands(rule, queries[0], start_ns=start, end_ns=end),
    )


def replay_commands(
    rule: Rule, metric_query: EvidenceQuery, *, start_ns: int, end_ns: int
) -> tuple[str, ...]:
    """Shell commands that recompute the metric over the window and show the rule's rows."""
    window = ["--start", _iso_seconds(start_ns), "--end", _iso_seconds(end_ns)]
    rule_json = json.dumps(rule.model_dump(mode="json"), sort_keys=True)
    return (
        shlex.join(["divergence", "backfill", *window]),
        shlex.join(["divergence", "sql", metric_query.sql()]),
        "# rule as evaluated: " + rule_json,
    )
