-- metrics_first_input: where a metric that never ran starts: the earliest token
-- observation (basis) or token trade written from inputs with ingest_seq <= $seq.
-- Grain: one row; ts_min BIGINT epoch ns, NULL when there is none yet.
-- Params: $seq BIGINT.
SELECT epoch_ns(min(ts_event)) AS ts_min
FROM (
    SELECT min(ts_event) AS ts_event FROM basis WHERE source_seq <= $seq
    UNION ALL
    SELECT min(t.ts_event) FROM trades AS t
    JOIN instruments AS i ON i.instrument_id = t.instrument_id AND i.role = 'token'
    WHERE t.ingest_seq <= $seq
);
