-- alert_groups: the notification groups' memory (what receivers were told, what is owed),
-- rewritten with every engine step. notified is JSON {fingerprint: {fired_at, state,
-- explained_by}}; resolved is a JSON list of the ended alerts whose resolved notice is
-- still owed. Times are the engine's data times.
-- Grain: one row per group key ('<group name>:<label>=<value>,...').
CREATE TABLE alert_groups (
    group_key      VARCHAR PRIMARY KEY,
    name           VARCHAR NOT NULL,
    labels         VARCHAR NOT NULL,
    created_at     TIMESTAMP_NS NOT NULL,
    seq            BIGINT NOT NULL,
    last_flush_at  TIMESTAMP_NS,
    last_firing_at TIMESTAMP_NS,
    notified       VARCHAR NOT NULL,
    resolved       VARCHAR NOT NULL
);
