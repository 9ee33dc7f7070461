-- metrics_new_inputs: the earliest event time among the metrics' inputs written since a
-- step: basis rows (by source_seq), trades, reference quotes, stablecoin rates and
-- session announcements with ingest_seq in ($seq_done, $seq]. A metric row within its
-- lookahead before that time may have changed, so the metrics job recomputes from there.
-- Grain: one row; ts_min BIGINT epoch ns, NULL when nothing arrived.
-- Params: $seq_done, $seq BIGINT.
SELECT epoch_ns(min(ts_event)) AS ts_min
FROM (
    SELECT min(ts_event) AS ts_event FROM basis
    WHERE source_seq > $seq_done AND source_seq <= $seq
    UNION ALL
    SELECT min(ts_event) FROM trades
    WHERE ingest_seq > $seq_done AND ingest_seq <= $seq
    UNION ALL
    SELECT min(q.ts_event) FROM quotes AS q
    JOIN instruments AS i ON i.instrument_id = q.instrument_id AND i.role = 'reference'
    WHERE q.ingest_seq > $seq_done AND q.ingest_seq <= $seq
    UNION ALL
    SELECT min(ts_event) FROM fx_rates
    WHERE ingest_seq > $seq_done AND ingest_seq <= $seq
    UNION ALL
    SELECT min(ts_event) FROM session_states
    WHERE ingest_seq > $seq_done AND ingest_seq <= $seq
);
