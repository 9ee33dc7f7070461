"""The payload envelope and the JSON Schema per event type.

Each schema is checked against the JSON Schema 2020-12 meta-schema with the
``jsonschema`` package, and our small checker must agree with ``jsonschema`` on good and
bad payloads.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from webhook_harness import alert_data

from divergence.webhooks.payloads import (
    EVENT_SCHEMAS,
    PayloadError,
    iso_ns,
    labels_of,
    render_body,
    schema_for,
)
from divergence.webhooks.schema_check import check

jsonschema = pytest.importorskip("jsonschema")
T = 1_760_097_600_123_456_789  # 2025-10-10T12:00:00.123456789Z


def _valid(schema: dict[str, Any], payload: Any) -> bool:
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return not list(validator.iter_errors(payload))


@pytest.mark.parametrize("event_type", sorted(EVENT_SCHEMAS))
def test_payloads_every_schema_is_valid_2020_12(event_type: str) -> None:
    schema = EVENT_SCHEMAS[event_type]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["type"] == {"const": event_type}
    assert schema["$id"] == f"urn:divergence:webhooks:{event_type}:v1"


def test_payloads_alert_body_exact_bytes() -> None:
    data = alert_data("fp1", venue="simx-a")
    body = render_body("alert.firing", data, occurred_at_ns=T, max_bytes=65_536)
    # Envelope keys in this order, the event time with nine digits, data as given.
    expected = (
        b'{"type":"alert.firing","version":1,"timestamp":"2025-10-10T12:00:00.123456789Z",'
        b'"data":' + orjson.dumps(data) + b"}"
    )
    assert body == expected
    assert orjson.loads(body)["data"]["alerts"][0]["labels"] == {
        "severity": "warning",
        "underlying": "AAPL",
        "venue": "simx-a",
    }
    assert _valid(schema_for("alert.firing"), orjson.loads(body))


@pytest.mark.parametrize(
    ("event_type", "status"),
    [
        ("alert.firing", "firing"),
        ("alert.resolved", "resolved"),
        ("alert.stale_data", "stale-data"),
    ],
)
def test_payloads_alert_types_accept_their_status_only(event_type: str, status: str) -> None:
    good = alert_data("fp", status=status)
    body = render_body(event_type, good, occurred_at_ns=T, max_bytes=65_536)
    assert _valid(schema_for(event_type), orjson.loads(body))
    wrong = {**good, "status": "firing" if status != "firing" else "resolved"}
    with pytest.raises(PayloadError, match=r"\$\.data\.status: expected"):
        render_body(event_type, wrong, occurred_at_ns=T, max_bytes=65_536)


def _alert(p: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, Any] = p["data"]["alerts"][0]
    return first


BAD_CASES = [
    ("missing fingerprint", lambda p: _alert(p).pop("fingerprint"), "missing 'fingerprint'"),
    ("label not a string", lambda p: _alert(p)["labels"].update(n=1), "labels.n: expected string"),
    ("extra top-level key", lambda p: p.update(extra=1), "unexpected key 'extra'"),
    ("extra data key", lambda p: p["data"].update(x=1), "$.data: unexpected key 'x'"),
    ("no alerts", lambda p: p["data"].update(alerts=[]), "expected at least 1 items"),
    ("negative seq", lambda p: p["data"].update(seq=-1), "$.data.seq: expected >= 0"),
    ("unknown severity", lambda p: _alert(p).update(severity="major"), "expected one of"),
    ("envelope version 2", lambda p: p.update(version=2), "$.version: expected 1"),
    ("data version 2", lambda p: p["data"].update(version="2"), "$.data.version: expected '1'"),
    ("value is text", lambda p: _alert(p).update(value="81"), "expected number or null"),
    ("bool as number", lambda p: _alert(p).update(value=True), "expected number or null"),
    ("bad timestamp", lambda p: p.update(timestamp="2025-10-10"), "does not match"),
]


@pytest.mark.parametrize(("name", "mutate", "problem"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_payloads_checker_agrees_with_jsonschema(name: str, mutate: Any, problem: str) -> None:
    schema = schema_for("alert.firing")
    good = orjson.loads(
        render_body("alert.firing", alert_data("fp"), occurred_at_ns=T, max_bytes=65_536)
    )
    assert check(schema, good) == [] and _valid(schema, good)
    bad = copy.deepcopy(good)
    mutate(bad)
    problems = check(schema, bad)
    assert any(problem in p for p in problems), problems
    assert not _valid(schema, bad)


def test_payloads_checker_checks_date_time_format() -> None:
    # The alert contract's times are {"format": "date-time"}: our checker enforces it even
    # where a validator treats formats as annotations.
    payload = orjson.loads(
        render_body("alert.firing", alert_data("fp"), occurred_at_ns=T, max_bytes=65_536)
    )
    payload["data"]["alerts"][0]["starts_at"] = "yesterday"
    assert check(schema_for("alert.firing"), payload) == [
        "$.data.alerts[0].starts_at: expected an RFC 3339 date-time, found 'yesterday'"
    ]


def test_payloads_alert_engine_output_fits_the_schema() -> None:
    from divergence.alerts.model import Alert, GroupState
    from divergence.alerts.payload import notification_data

    alert = Alert(
        fingerprint="0123456789abcdef",
        rule_id="basis_live",
        labels={"severity": "critical", "underlying": "AAPL", "venue": "kraken"},
        scope={"underlying": "AAPL", "venue": "kraken"},
        state="firing",
        active_at=T,
        updated_at=T,
        fired_at=T,
        value=81.5,
    )
    group = GroupState(key="basis:AAPL", name="basis", labels={"underlying": "AAPL"}, created_at=T)
    data = notification_data("alert.firing", group, [alert], seq=0, repeat=False, others={})
    body = render_body("alert.firing", data, occurred_at_ns=T, max_bytes=65_536)
    assert _valid(schema_for("alert.firing"), orjson.loads(body))
    assert labels_of(data) == {"severity": "critical", "underlying": "AAPL", "venue": "kraken"}


def test_payloads_refuses_unknown_type_big_body_and_non_json() -> None:
    with pytest.raises(PayloadError, match=r"unknown 'alert\.fired'"):
        render_body("alert.fired", alert_data("fp"), occurred_at_ns=T, max_bytes=65_536)
    big = alert_data("fp")
    big["alerts"][0]["summary"] = "x" * 2_000
    with pytest.raises(PayloadError, match="over max 1024"):
        render_body("alert.firing", big, occurred_at_ns=T, max_bytes=1_024)
    odd = alert_data("fp")
    odd["alerts"][0]["annotations"] = {"x": object()}
    with pytest.raises(PayloadError, match="not JSON-serialisable"):
        render_body("alert.firing", odd, occurred_at_ns=T, max_bytes=65_536)


def test_payloads_test_event_schema() -> None:
    body = render_body("webhook.test", {"message": "hi"}, occurred_at_ns=0, max_bytes=65_536)
    assert body == (
        b'{"type":"webhook.test","version":1,"timestamp":"1970-01-01T00:00:00.000000000Z",'
        b'"data":{"message":"hi"}}'
    )
    with pytest.raises(PayloadError, match="unexpected key 'x'"):
        render_body("webhook.test", {"message": "hi", "x": 1}, occurred_at_ns=0, max_bytes=65_536)


def test_payloads_checker_refuses_unsupported_keywords() -> None:
    with pytest.raises(ValueError, match="oneOf"):
        check({"oneOf": [{"type": "string"}]}, "x")


def test_payloads_iso_ns_and_labels() -> None:
    assert iso_ns(T) == "2025-10-10T12:00:00.123456789Z"
    assert iso_ns(1) == "1970-01-01T00:00:00.000000001Z"
    assert labels_of({"labels": {"venue": "kraken", "n": 3}}) == {"venue": "kraken", "n": "3"}
    # Grouped alerts: the labels every alert shares, then the group's labels on top.
    two = alert_data("a", venue="kraken", pool="p1")
    two["alerts"].append(alert_data("b", venue="kraken", pool="p2")["alerts"][0])
    two["group"]["labels"] = {"underlying": "AAPL", "rule": "basis_live"}
    assert labels_of(two) == {
        "severity": "warning",
        "underlying": "AAPL",
        "venue": "kraken",
        "rule": "basis_live",
    }
    assert labels_of({"message": "hi"}) == {}
