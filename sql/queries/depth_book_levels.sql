-- depth_book_levels: the token book updates a depth chunk replays after its seed.
-- Grain: one row per book_levels row (message, side, price level) of a token listing with
-- ts_event in ($ts_lo, $ts_hi] (after the seed's as_of = $ts_lo) and ingest_seq <= $seq,
-- ordered by (ts_event, ingest_seq), as divergence.metrics.book_state.BOOK_UPDATES_SCHEMA.
-- Params: $ts_lo, $ts_hi BIGINT epoch ns; $seq BIGINT.
SELECT
    b.ts_event,
    b.venue,
    b.instrument_id,
    b.is_snapshot,
    b.sequence,
    b.side,
    CAST(b.price AS DOUBLE) AS price,
    CAST(b.size AS DOUBLE) AS size,
    b.ingest_seq
FROM book_levels AS b
JOIN instruments AS i ON i.instrument_id = b.instrument_id AND i.role = 'token'
WHERE b.ingest_seq <= $seq
    AND b.ts_event > make_timestamp_ns($ts_lo)
    AND b.ts_event <= make_timestamp_ns($ts_hi)
ORDER BY b.ts_event, b.ingest_seq;
