-- alert_audit: the append-only audit log of every alert change and analyst action.
-- Grain: one row per audit record (audit_id, stable: the same change has the same id, so
-- re-appending a recomputed step is a no-op). episode is the alert's active_at; action is
-- pending | firing | stale_data | resolved | cleared | inhibited | uninhibited | silenced |
-- unsilenced | muted | unmuted | annotated | unannotated | notified | acknowledged |
-- assigned | note; actor is 'engine' or the analyst; detail is JSON. recorded_at is when
-- the store wrote it. Rows are never updated or deleted.
CREATE TABLE alert_audit (
    audit_id    VARCHAR PRIMARY KEY,
    ts          TIMESTAMP_NS NOT NULL,
    fingerprint VARCHAR NOT NULL,
    episode     TIMESTAMP_NS NOT NULL,
    rule_id     VARCHAR NOT NULL,
    action      VARCHAR NOT NULL,
    actor       VARCHAR NOT NULL,
    detail      VARCHAR NOT NULL,
    recorded_at TIMESTAMP_NS NOT NULL
);
