"""Analyst operations and the audit trail, the evidence bundle spec, the payload schema."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
from alert_frames import at, basis_row, rules_of, run, sent, table_frame

from divergence import __version__
from divergence.alerts.engine import AlertEngine
from divergence.alerts.model import fingerprint
from divergence.alerts.payload import ALERT_DATA_SCHEMA, rfc3339
from divergence.errors import BadRequestError, NotFoundError

RULE: dict[str, Any] = {
    "id": "exec",
    "metric": "basis.exec_basis_bps",
    "reference": ["live"],
    "group": "fast",
    "condition": {"op": ">", "threshold": 50.0, "for_s": 15},
}
FAST = {"fast": {"by": ["rule"], "wait_s": 0, "interval_s": 1}}
SCOPE = {"underlying": "AAPL", "venue": "simx-a", "instrument_id": "AAPLx@simx-a",
         "quote_currency": "USD"}  # fmt: skip
FP = fingerprint("exec", SCOPE)


def _firing_engine() -> AlertEngine:
    engine = AlertEngine(rules_of(RULE, groups=FAST))
    rows = [basis_row(at(s), 80.0 if s < 40 else 1.0) for s in range(60)]
    run(engine, {"basis": table_frame("basis", rows)}, [at(s) for s in range(20)])
    return engine


def test_cases_acknowledge_assign_note_append_audit_records() -> None:
    engine = _firing_engine()
    ack = engine.acknowledge(FP, actor="ana", now_ns=at(20), note="looking")
    who = engine.assign(FP, actor="ana", assignee="bo", now_ns=at(21))
    note = engine.add_note(FP, actor="bo", text="issuer halted mints", now_ns=at(22))
    assert [(r.action, r.actor, dict(r.detail), r.ts) for r in (ack, who, note)] == [
        ("acknowledged", "ana", {"note": "looking"}, at(20)),
        ("assigned", "ana", {"assignee": "bo"}, at(21)),
        ("note", "bo", {"text": "issuer halted mints"}, at(22)),
    ]
    # every record belongs to the episode that began at 0 s
    assert {(r.fingerprint, r.episode, r.rule_id) for r in (ack, who, note)} == {
        (FP, at(0), "exec")
    }
    assert len({ack.id, who.id, note.id}) == 3
    alert = engine.state.alerts[FP]
    assert (alert.acknowledged_by, alert.acknowledged_at, alert.assignee) == ("ana", at(20), "bo")


def test_cases_acknowledgement_shows_in_the_next_notice() -> None:
    engine = _firing_engine()
    engine.acknowledge(FP, actor="ana", now_ns=at(20))
    rows = [basis_row(at(s), 80.0 if s < 40 else 1.0) for s in range(60)]
    notes = sent(run(engine, {"basis": table_frame("basis", rows)}, [at(s) for s in range(20, 50)]))
    assert [(n.type, n.data["alerts"][0]["acknowledged_by"]) for n in notes] == [
        ("alert.resolved", "ana")
    ]


def test_cases_errors() -> None:
    engine = _firing_engine()
    with pytest.raises(NotFoundError, match="no active alert"):
        engine.acknowledge("0" * 16, actor="ana", now_ns=at(20))
    with pytest.raises(BadRequestError, match="actor"):
        engine.assign(FP, actor=" ", assignee="bo", now_ns=at(20))
    with pytest.raises(BadRequestError, match="1 to 4000 characters, found 4001"):
        engine.add_note(FP, actor="ana", text="x" * 4001, now_ns=at(20))


def test_cases_evidence_spec_window_queries_and_replay() -> None:
    engine = _firing_engine()
    spec = engine.evidence(FP, now_ns=at(20))
    # window: active_at 0 s − LOOKBACK (for 15 s + no-data 30 s = 45 s) − pad 60 s, to
    # now 20 s + 60 s; T0 is 19:56:00Z: 19:54:15Z to 19:57:20Z.
    assert (spec.window_start_ns, spec.window_end_ns) == (at(-105), at(80))
    assert (spec.code_version, spec.episode, spec.rule_id) == (__version__, at(0), "exec")
    assert spec.rule["condition"]["threshold"] == 50.0
    tables = [q.table for q in spec.inputs]
    assert tables == [
        "basis", "quotes", "trades", "pool_states", "reference_quotes", "fx_rates",
        "session_states", "market_calendar",
    ]  # fmt: skip
    start, end = at(-105), at(80)
    assert spec.inputs[0].sql() == (
        "SELECT * FROM basis WHERE instrument_id = 'AAPLx@simx-a'"
        f" AND ts_event >= make_timestamp_ns({start}) AND ts_event < make_timestamp_ns({end})"
        " ORDER BY ts_event"
    )
    assert spec.inputs[5].filters == {"currency": "USD"}
    assert spec.inputs[7].filters == {}
    backfill, query, _ = spec.replay
    assert shlex.split(backfill) == [
        "divergence", "backfill", "--start", "2025-10-10T19:54:15Z", "--end",
        "2025-10-10T19:57:20Z",
    ]  # fmt: skip
    assert shlex.split(query) == ["divergence", "sql", spec.inputs[0].sql()]
    manifest = spec.manifest()
    assert manifest["window"] == {
        "start": "2025-10-10T19:54:15.000000000Z",
        "end": "2025-10-10T19:57:20.000000000Z",
    }


def test_cases_evidence_quotes_label_values() -> None:
    engine = _firing_engine()
    spec = engine.evidence(FP, now_ns=at(20))
    query = spec.inputs[0].__class__(
        table="basis", time_column="ts_event", filters={"venue": "o'brien"}, start_ns=0, end_ns=1
    )
    assert "venue = 'o''brien'" in query.sql()
    with pytest.raises(NotFoundError):
        engine.evidence("f" * 16, now_ns=at(20))


def _conforms(value: Any, schema: dict[str, Any], path: str = "data") -> list[str]:
    """A small JSON Schema check (the subset ALERT_DATA_SCHEMA uses)."""
    problems: list[str] = []
    kinds = {"string": str, "number": (int, float), "integer": int, "boolean": bool,
             "object": dict, "array": list, "null": type(None)}  # fmt: skip
    if "const" in schema and value != schema["const"]:
        problems.append(f"{path}: {value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} not in {schema['enum']}")
    types = schema.get("type")
    if types is not None:
        allowed = types if isinstance(types, list) else [types]
        if not any(isinstance(value, kinds[t]) for t in allowed):
            problems.append(f"{path}: {type(value).__name__} is not {allowed}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        problems += [f"{path}.{k}: missing" for k in schema.get("required", []) if k not in value]
        if schema.get("additionalProperties") is False:
            problems += [f"{path}.{k}: not allowed" for k in value if k not in props]
        extra = schema.get("additionalProperties")
        for k, v in value.items():
            sub = props.get(k, extra if isinstance(extra, dict) else None)
            if sub is not None:
                problems += _conforms(v, sub, f"{path}.{k}")
    if isinstance(value, list) and "items" in schema:
        problems += [
            p for i, v in enumerate(value) for p in _conforms(v, schema["items"], f"{path}[{i}]")
        ]
    return problems


def test_cases_payload_follows_its_schema() -> None:
    engine = AlertEngine(rules_of(RULE, groups=FAST))
    rows = [basis_row(at(s), 80.0 if s < 40 else 1.0) for s in range(60)]
    notes = sent(run(engine, {"basis": table_frame("basis", rows)}, [at(s) for s in range(50)]))
    assert [n.type for n in notes] == ["alert.firing", "alert.resolved"]
    for note in notes:
        assert _conforms(dict(note.data), ALERT_DATA_SCHEMA) == []
    assert _conforms({"version": "2", "alerts": []}, ALERT_DATA_SCHEMA) != []
    assert rfc3339(at(0) + 5) == "2025-10-10T19:56:00.000000005Z"
    assert rfc3339(None) is None
