-- alert_silences: silences set through the API: alerts whose labels match every matcher
-- (JSON list of {name, op, value}) are not notified while starts_at <= now < ends_at.
-- Expiring a silence early sets ends_at; rows are kept for the audit trail.
-- Grain: one row per silence id.
CREATE TABLE alert_silences (
    silence_id VARCHAR PRIMARY KEY,
    matchers   VARCHAR NOT NULL,
    starts_at  TIMESTAMP_NS NOT NULL,
    ends_at    TIMESTAMP_NS NOT NULL,
    created_by VARCHAR NOT NULL,
    comment    VARCHAR NOT NULL,
    created_at TIMESTAMP_NS NOT NULL
);
