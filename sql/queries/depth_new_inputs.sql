-- depth_new_inputs: the earliest event time among the depth job's inputs written since
-- its last step: token book levels and pool states, stablecoin rates, reference quotes
-- and session announcements with ingest_seq in ($seq_done, $seq]. Samples from there on
-- may have changed; the depth job rewinds to it (and rebuilds the books from snapshots)
-- when it is before its done_until.
-- Grain: one row; ts_min BIGINT epoch ns, NULL when nothing arrived.
-- Params: $seq_done, $seq BIGINT.
SELECT epoch_ns(min(ts_event)) AS ts_min
FROM (
    SELECT min(b.ts_event) AS ts_event FROM book_levels AS b
    JOIN instruments AS i ON i.instrument_id = b.instrument_id AND i.role = 'token'
    WHERE b.ingest_seq > $seq_done AND b.ingest_seq <= $seq
    UNION ALL
    SELECT min(p.ts_event) FROM pool_states AS p
    JOIN instruments AS i ON i.instrument_id = p.instrument_id AND i.role = 'token'
    WHERE p.ingest_seq > $seq_done AND p.ingest_seq <= $seq
    UNION ALL
    SELECT min(ts_event) FROM fx_rates
    WHERE ingest_seq > $seq_done AND ingest_seq <= $seq
    UNION ALL
    SELECT min(q.ts_event) FROM quotes AS q
    JOIN instruments AS i ON i.instrument_id = q.instrument_id AND i.role = 'reference'
    WHERE q.ingest_seq > $seq_done AND q.ingest_seq <= $seq
    UNION ALL
    SELECT min(ts_event) FROM session_states
    WHERE ingest_seq > $seq_done AND ingest_seq <= $seq
);
