"""The DuckDB outbox and endpoints on a real database file: idempotent enqueue, stable
ids, filters, per-endpoint heads, attempt records, replay, rotation, deletion."""

from __future__ import annotations

import hashlib
from typing import Any

import duckdb
import pytest
from webhook_harness import OTHER_SECRET, SECRET, T0_NS, alert_data

from divergence.errors import BadRequestError, NotFoundError
from divergence.store.db import Store
from divergence.webhooks import endpoints as ep
from divergence.webhooks import outbox
from divergence.webhooks.payloads import PayloadError
from divergence.webhooks.retry import AttemptResult, Decision
from divergence.webhooks.signing import secret_fingerprint, secret_key

S = 10**9
LIMIT = 65_536


def _endpoint(store: Store, endpoint_id: str, **kwargs: Any) -> ep.Endpoint:
    return ep.create_endpoint(
        store,
        url=f"https://hooks.example.com/{endpoint_id}",
        secret=SECRET,
        now_ns=T0_NS,
        endpoint_id=endpoint_id,
        **kwargs,
    )


def _enqueue(store: Store, event_id: str, at_s: float = 0, **kwargs: Any) -> outbox.Enqueued:
    event_type = kwargs.pop("event_type", "alert.firing")
    data = kwargs.pop("data", alert_data(event_id))
    return outbox.enqueue(
        store,
        event_type,
        data,
        event_id=event_id,
        now_ns=T0_NS + int(at_s * S),
        max_body_bytes=LIMIT,
        **kwargs,
    )


def _rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.query(sql).iter_rows()]


def _outbox(store: Store) -> list[tuple[Any, ...]]:
    return _rows(
        store,
        "SELECT endpoint_id, event_id, state, attempts FROM webhook_outbox ORDER BY seq",
    )


def _delivered(store: Store, message: outbox.Message, at_ns: int) -> None:
    result = AttemptResult(204, 1.0, None)
    outbox.record_attempt(
        store, message, result, Decision("delivered", at_ns), now_ns=at_ns, disable_after=5
    )


def test_outbox_webhook_id_is_sha256_of_event_id() -> None:
    # sha256(b"e0").hexdigest() = 5c88e7a226e11ad1204cb8d30cd5d6ff<...>; 32 hex digits kept.
    assert outbox.webhook_id_for("e0") == "msg_5c88e7a226e11ad1204cb8d30cd5d6ff"
    assert outbox.webhook_id_for("e0") == "msg_" + hashlib.sha256(b"e0").hexdigest()[:32]
    assert outbox.webhook_id_for("e1") != outbox.webhook_id_for("e0")
    # An id that already is a webhook-id (the alert engine's notification ids) is kept.
    assert outbox.webhook_id_for("msg_" + "ab" * 16) == "msg_" + "ab" * 16
    assert outbox.webhook_id_for("msg_" + "AB" * 16) != "msg_" + "AB" * 16


def test_outbox_enqueue_is_idempotent_by_event_id(store: Store) -> None:
    _endpoint(store, "ep_a")
    first = _enqueue(store, "e1")
    again = _enqueue(store, "e1", at_s=60, data=alert_data("other"))
    assert first == outbox.Enqueued("e1", outbox.webhook_id_for("e1"), True, ("ep_a",))
    assert again == outbox.Enqueued("e1", outbox.webhook_id_for("e1"), False, ())
    assert _outbox(store) == [("ep_a", "e1", "pending", 0)]
    body = _rows(store, "SELECT body FROM webhook_events")[0][0]
    assert alert_data("e1")["alerts"][0]["fingerprint"] in body  # the first content is kept


def test_outbox_filters_route_events_and_disabled_endpoints_skip(store: Store) -> None:
    _endpoint(store, "ep_all")
    _endpoint(store, "ep_kraken", event_types=["alert.*"], labels={"venue": "kraken"})
    _endpoint(store, "ep_test", event_types=["webhook.test"])
    _endpoint(store, "ep_off", enabled=False)
    kraken = _enqueue(store, "k", data=alert_data("k", venue="kraken"))
    bybit = _enqueue(store, "b", data=alert_data("b", venue="bybit"))
    test = _enqueue(store, "t", event_type="webhook.test", data={"message": "hi"})
    assert kraken.endpoint_ids == ("ep_all", "ep_kraken", "ep_off")
    assert bybit.endpoint_ids == ("ep_all", "ep_off")
    assert test.endpoint_ids == ("ep_all", "ep_off", "ep_test")  # same created_at: by id
    assert _outbox(store) == [
        ("ep_all", "k", "pending", 0),
        ("ep_kraken", "k", "pending", 0),
        ("ep_off", "k", "skipped", 0),
        ("ep_all", "b", "pending", 0),
        ("ep_off", "b", "skipped", 0),
        ("ep_all", "t", "pending", 0),
        ("ep_off", "t", "skipped", 0),
        ("ep_test", "t", "pending", 0),
    ]


def test_outbox_explicit_endpoint_ids_override_filters(store: Store) -> None:
    _endpoint(store, "ep_a", event_types=["alert.resolved"])
    _endpoint(store, "ep_b")
    queued = _enqueue(
        store, "x", event_type="webhook.test", data={"message": "hi"}, endpoint_ids=["ep_a"]
    )
    assert queued.endpoint_ids == ("ep_a",)
    assert _outbox(store) == [("ep_a", "x", "pending", 0)]


def test_outbox_heads_keep_order_per_endpoint(store: Store) -> None:
    _endpoint(store, "ep_a")
    _endpoint(store, "ep_b", event_types=["alert.firing"])
    for i in range(3):
        _enqueue(store, f"e{i}", at_s=i)
    heads = outbox.heads(store)
    assert [(m.endpoint_id, m.event_id, m.attempts) for m in heads] == [
        ("ep_a", "e0", 0),
        ("ep_b", "e0", 0),
    ]
    assert heads[0].next_attempt_ns == T0_NS
    assert heads[0].url == "https://hooks.example.com/ep_a"
    assert heads[0].body.startswith(b'{"type":"alert.firing","version":1,')
    _delivered(store, heads[0], T0_NS + 5 * S)
    assert [(m.endpoint_id, m.event_id) for m in outbox.heads(store)] == [
        ("ep_a", "e1"),
        ("ep_b", "e0"),
    ]


def test_outbox_record_attempt_logs_and_counts_failures(store: Store) -> None:
    _endpoint(store, "ep_a")
    _enqueue(store, "e0")
    head = outbox.heads(store)[0]
    failure = AttemptResult(500, 12.5, "HTTP 500: nope")
    retry_at = T0_NS + 5 * S
    disabled = outbox.record_attempt(
        store, head, failure, Decision("retry", retry_at), now_ns=T0_NS, disable_after=2
    )
    assert disabled is False
    assert _rows(
        store,
        "SELECT state, attempts, epoch_ns(next_attempt_at), last_status, last_error "
        "FROM webhook_outbox",
    ) == [("pending", 1, retry_at, 500, "HTTP 500: nope")]
    assert ep.get_endpoint(store, "ep_a").consecutive_failures == 1
    head = outbox.heads(store)[0]
    assert outbox.record_attempt(
        store, head, failure, Decision("retry", retry_at + S), now_ns=retry_at, disable_after=2
    )
    endpoint = ep.get_endpoint(store, "ep_a")
    assert (endpoint.enabled, endpoint.consecutive_failures) == (False, 2)
    assert endpoint.disabled_reason == "2 consecutive failed attempts (last: HTTP 500: nope)"
    log = outbox.list_attempts(store, "ep_a", start_ns=0, end_ns=2**62, before_id=2**62, limit=10)
    assert [
        (r["attempt"], r["status"], r["latency_ms"], r["outcome"], r["disabled"]) for r in log
    ] == [
        (2, 500, 12.5, "retry", True),
        (1, 500, 12.5, "retry", False),
    ]
    assert outbox.heads(store) == []  # a disabled endpoint has no head


def test_outbox_gone_disables_at_once_and_enabling_resumes(store: Store) -> None:
    _endpoint(store, "ep_a")
    _enqueue(store, "e0")
    head = outbox.heads(store)[0]
    gone = AttemptResult(410, 3.0, "HTTP 410")
    assert outbox.record_attempt(
        store, head, gone, Decision("retry", T0_NS + 5 * S), now_ns=T0_NS, disable_after=24
    )
    assert ep.get_endpoint(store, "ep_a").disabled_reason == "the endpoint answered 410 Gone"
    resumed_at = T0_NS + 3_600 * S
    again = ep.update_endpoint(store, "ep_a", ep.EndpointChange(enabled=True), now_ns=resumed_at)
    assert (again.enabled, again.disabled_reason, again.consecutive_failures) == (True, None, 0)
    [head] = outbox.heads(store)
    assert (head.event_id, head.attempts, head.next_attempt_ns) == ("e0", 0, resumed_at)


def test_outbox_replay_requeues_same_ids_and_fills_missing_rows(store: Store) -> None:
    _enqueue(store, "before", at_s=0)  # no endpoint yet: nobody gets it
    _endpoint(store, "ep_a")
    for i, at in enumerate((10, 20, 30)):
        _enqueue(store, f"e{i}", at_s=at)
    for _ in range(3):
        _delivered(store, outbox.heads(store)[0], T0_NS + 40 * S)
    assert outbox.heads(store) == []
    endpoint = ep.get_endpoint(store, "ep_a")
    # [0 s, 20 s): "before" (row inserted) and e0 (requeued); e1 at 20 s is excluded.
    count = outbox.replay(
        store, endpoint, start_ns=T0_NS, end_ns=T0_NS + 20 * S, now_ns=T0_NS + 50 * S
    )
    assert count == 2
    rows = _rows(
        store,
        "SELECT event_id, webhook_id, state, attempts FROM webhook_outbox ORDER BY seq",
    )
    assert rows == [
        ("e0", outbox.webhook_id_for("e0"), "pending", 0),
        ("e1", outbox.webhook_id_for("e1"), "delivered", 1),
        ("e2", outbox.webhook_id_for("e2"), "delivered", 1),
        ("before", outbox.webhook_id_for("before"), "pending", 0),
    ]
    # e0 keeps its place in the order, so it goes first.
    assert [m.event_id for m in outbox.heads(store)] == ["e0"]
    with pytest.raises(BadRequestError, match="end must be after start"):
        outbox.replay(store, endpoint, start_ns=5, end_ns=5, now_ns=T0_NS)


def test_outbox_replay_respects_filters(store: Store) -> None:
    _endpoint(store, "ep_k", labels={"venue": "kraken"})
    _enqueue(store, "k", data=alert_data("k", venue="kraken"))
    _enqueue(store, "b", data=alert_data("b", venue="bybit"))
    _delivered(store, outbox.heads(store)[0], T0_NS + S)
    endpoint = ep.get_endpoint(store, "ep_k")
    assert outbox.replay(store, endpoint, start_ns=0, end_ns=2**62, now_ns=T0_NS + 2 * S) == 1
    assert _outbox(store) == [("ep_k", "k", "pending", 0)]


def test_outbox_write_event_rolls_back_with_the_callers_transaction(store: Store) -> None:
    _endpoint(store, "ep_a")
    cur = store.cursor()
    cur.execute("BEGIN")
    outbox.write_event(
        store, "alert.firing", alert_data("x"), event_id="x", now_ns=T0_NS, max_body_bytes=LIMIT
    )
    cur.execute("ROLLBACK")
    assert _rows(store, "SELECT count(*) FROM webhook_events") == [(0,)]
    assert _outbox(store) == []


def test_outbox_bad_payload_or_id_stores_nothing(store: Store) -> None:
    _endpoint(store, "ep_a")
    with pytest.raises(PayloadError, match=r"\$\.data: missing 'group'"):
        _enqueue(store, "bad", data={k: v for k, v in alert_data("bad").items() if k != "group"})
    with pytest.raises(BadRequestError, match="event_id: expected 1 to 256 printable"):
        _enqueue(store, "", data=alert_data("fp"))
    assert _rows(store, "SELECT count(*) FROM webhook_events") == [(0,)]
    assert _outbox(store) == []


def test_endpoints_create_validates_and_stores_nothing_on_error(store: Store) -> None:
    with pytest.raises(BadRequestError, match=r"'alerts\.\*' matches no event type"):
        _endpoint(store, "ep_x", event_types=["alerts.*"])
    with pytest.raises(BadRequestError, match="expected 'whsec_'"):
        ep.create_endpoint(store, url="https://h.example/", secret="plain", now_ns=T0_NS)
    assert ep.list_endpoints(store) == []
    assert _rows(store, "SELECT count(*) FROM webhook_secrets") == [(0,)]


def test_endpoints_rotation_overlap_and_fingerprints(store: Store) -> None:
    _endpoint(store, "ep_a")
    rotated_at = T0_NS + 100 * S
    ep.rotate_secret(store, "ep_a", OTHER_SECRET, overlap_s=60, now_ns=rotated_at)
    keys = ep.signing_keys(store, "ep_a", now_ns=rotated_at + 59 * S)
    assert keys == [secret_key(OTHER_SECRET), secret_key(SECRET)]  # newest first
    assert ep.signing_keys(store, "ep_a", now_ns=rotated_at + 60 * S) == [secret_key(OTHER_SECRET)]
    meta = ep.secrets_meta(store, now_ns=rotated_at, endpoint_id="ep_a")
    assert meta == [
        {
            "endpoint_id": "ep_a",
            "fingerprint": secret_fingerprint(OTHER_SECRET),
            "created_at_ns": rotated_at,
            "expires_at_ns": None,
        },
        {
            "endpoint_id": "ep_a",
            "fingerprint": secret_fingerprint(SECRET),
            "created_at_ns": T0_NS,
            "expires_at_ns": rotated_at + 60 * S,
        },
    ]
    # A second rotation after the overlap purges the expired secret from the table.
    ep.rotate_secret(store, "ep_a", SECRET, overlap_s=0, now_ns=rotated_at + 120 * S)
    assert _rows(store, "SELECT count(*) FROM webhook_secrets") == [(2,)]


def test_endpoints_delete_cancels_pending_and_drops_secrets(store: Store) -> None:
    _endpoint(store, "ep_a")
    _enqueue(store, "e0")
    ep.delete_endpoint(store, "ep_a", now_ns=T0_NS + S)
    assert _outbox(store) == [("ep_a", "e0", "cancelled", 0)]
    assert _rows(store, "SELECT count(*) FROM webhook_secrets") == [(0,)]
    with pytest.raises(NotFoundError, match="no webhook endpoint 'ep_a'"):
        ep.get_endpoint(store, "ep_a")


def test_endpoints_update_merges_fields(store: Store) -> None:
    _endpoint(store, "ep_a", description="first")
    changed = ep.update_endpoint(
        store,
        "ep_a",
        ep.EndpointChange(
            event_types=("alert.firing", "alert.resolved"), labels={"venue": "kraken"}
        ),
        now_ns=T0_NS + S,
    )
    assert (changed.description, changed.event_types, changed.labels, changed.updated_at_ns) == (
        "first",
        ("alert.firing", "alert.resolved"),
        {"venue": "kraken"},
        T0_NS + S,
    )
    off = ep.update_endpoint(store, "ep_a", ep.EndpointChange(enabled=False), now_ns=T0_NS + 2 * S)
    assert (off.enabled, off.disabled_reason) == (False, "disabled by a user")


def test_outbox_secrets_are_not_in_the_endpoints_table(store: Store) -> None:
    _endpoint(store, "ep_a")
    con: duckdb.DuckDBPyConnection = store.cursor()
    text = str(con.execute("SELECT * FROM webhook_endpoints").fetchall())
    assert SECRET not in text
