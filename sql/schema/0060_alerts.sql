-- alerts: every alert episode the engine has known, with its latest state.
-- Grain: one row per (fingerprint, active_at): an alert (rule and scope labels, the
-- fingerprint) through one episode, from its first met row (active_at) to resolved.
-- state is pending | firing | stale-data (active: the engine's state), resolved, or
-- cleared (pending, then the condition went away before it fired). Times are the
-- engine's data times (epoch ns as TIMESTAMP_NS). labels, scope, explained_by, notes,
-- inhibited_by and silenced_by are JSON. Written by divergence.alerts.store.save_step.
CREATE TABLE alerts (
    fingerprint     VARCHAR NOT NULL,
    active_at       TIMESTAMP_NS NOT NULL,
    rule_id         VARCHAR NOT NULL,
    state           VARCHAR NOT NULL,
    labels          VARCHAR NOT NULL,
    scope           VARCHAR NOT NULL,
    fired_at        TIMESTAMP_NS,
    ends_at         TIMESTAMP_NS,
    stale_since     TIMESTAMP_NS,
    last_ts         TIMESTAMP_NS,
    value           DOUBLE,
    value_text      VARCHAR,
    threshold       DOUBLE,
    session         VARCHAR,
    summary         VARCHAR NOT NULL,
    explained_by    VARCHAR NOT NULL,
    notes           VARCHAR NOT NULL,
    inhibited_by    VARCHAR NOT NULL,
    silenced_by     VARCHAR NOT NULL,
    muted           BOOLEAN NOT NULL,
    acknowledged_by VARCHAR,
    acknowledged_at TIMESTAMP_NS,
    assignee        VARCHAR,
    updated_at      TIMESTAMP_NS NOT NULL,
    PRIMARY KEY (fingerprint, active_at)
);
