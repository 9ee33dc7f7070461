-- basis_pool_states: token pool states that became computable since the last step.
-- Grain: one row per pool state of a token listing, ordered by (ts_event, ingest_seq).
-- price (quote currency per raw token unit) and fee_bps (LP fee) become a top of book in
-- divergence.metrics.pool.compute_pool_quotes.
-- Reorg retractions (removed = true) are skipped; a retraction that arrives after the
-- step that used its log is recorded in feed_events (reorg), not recomputed.
-- Params: $token_ids VARCHAR[]; $seq, $ts, $seq_done, $ts_done BIGINT: the selection
-- rule of basis_token_quotes.sql (visible now, not visible at the previous step).
SELECT
    ts_event,
    ts_recv,
    instrument_id,
    venue,
    CAST(price AS DOUBLE) AS price,
    CAST(fee_bps AS DOUBLE) AS fee_bps,
    ingest_seq
FROM pool_states
WHERE list_contains($token_ids, instrument_id)
    AND NOT removed
    AND ingest_seq <= $seq
    AND ts_event > make_timestamp_ns($ts_done)
    AND ts_event <= make_timestamp_ns($ts)
UNION ALL
SELECT
    ts_event,
    ts_recv,
    instrument_id,
    venue,
    CAST(price AS DOUBLE) AS price,
    CAST(fee_bps AS DOUBLE) AS fee_bps,
    ingest_seq
FROM pool_states
WHERE list_contains($token_ids, instrument_id)
    AND NOT removed
    AND ingest_seq > $seq_done
    AND ingest_seq <= $seq
    AND ts_event <= make_timestamp_ns($ts_done)
ORDER BY ts_event, ingest_seq;
