-- alert_group_insert: write one notification group of the engine's state.
-- Grain: one alert_groups row inserted. Params: $group_key, $name, $labels, $notified,
-- $resolved VARCHAR (JSON where the column is); $created_at, $last_flush_at,
-- $last_firing_at BIGINT epoch ns or NULL; $seq BIGINT.
INSERT INTO alert_groups (
    group_key, name, labels, created_at, seq, last_flush_at, last_firing_at, notified, resolved
)
VALUES (
    $group_key, $name, $labels, make_timestamp_ns($created_at), $seq,
    make_timestamp_ns($last_flush_at), make_timestamp_ns($last_firing_at), $notified, $resolved
);
