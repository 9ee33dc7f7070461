-- max_ingest_seq: the highest ingest_seq written to any event table (0 when empty).
-- Grain: one row. Used by the writer at start-up to continue the store-wide counter.
SELECT coalesce(max(seq), 0) AS max_seq
FROM (
    SELECT max(ingest_seq) AS seq FROM quotes
    UNION ALL SELECT max(ingest_seq) FROM trades
    UNION ALL SELECT max(ingest_seq) FROM book_levels
    UNION ALL SELECT max(ingest_seq) FROM pool_states
    UNION ALL SELECT max(ingest_seq) FROM fx_rates
    UNION ALL SELECT max(ingest_seq) FROM session_states
    UNION ALL SELECT max(ingest_seq) FROM quarantine
    UNION ALL SELECT max(ingest_seq) FROM venue_clock
);
