-- basis_token_quotes: token book tops (quotes) that became computable since the last step.
-- Grain: one row per quote of a token listing, ordered by (ts_event, ingest_seq).
-- Params: $token_ids VARCHAR[] (token listings); $seq BIGINT and $ts BIGINT epoch ns: the
-- highest ingest_seq and the watermark now; $seq_done and $ts_done: the same at the
-- previous step. A row is selected when it is visible now (ingest_seq <= $seq and
-- ts_event <= $ts) and was not then (ts_event > $ts_done, or ingest_seq > $seq_done: a
-- late arrival below the old watermark). The two branches are disjoint on ts_event and
-- each one prunes on a zone map (ts_event, resp. ingest_seq).
SELECT
    ts_event,
    ts_recv,
    instrument_id,
    venue,
    CAST(bid_px AS DOUBLE) AS bid_px,
    CAST(ask_px AS DOUBLE) AS ask_px,
    'quote' AS source_kind,
    ingest_seq AS source_seq
FROM quotes
WHERE list_contains($token_ids, instrument_id)
    AND ingest_seq <= $seq
    AND ts_event > make_timestamp_ns($ts_done)
    AND ts_event <= make_timestamp_ns($ts)
UNION ALL
SELECT
    ts_event,
    ts_recv,
    instrument_id,
    venue,
    CAST(bid_px AS DOUBLE) AS bid_px,
    CAST(ask_px AS DOUBLE) AS ask_px,
    'quote' AS source_kind,
    ingest_seq AS source_seq
FROM quotes
WHERE list_contains($token_ids, instrument_id)
    AND ingest_seq > $seq_done
    AND ingest_seq <= $seq
    AND ts_event <= make_timestamp_ns($ts_done)
ORDER BY ts_event, source_seq;
