-- depth_book_replay: what rebuilds every token book at $ts_at without a seed (backfill,
-- first run, rewind): per book, its last snapshot message at or before $ts_at and every
-- update after it up to $ts_at.
-- Grain: one row per book_levels row of a token listing with ingest_seq <= $seq and
-- ts_event in [that book's last is_snapshot ts_event, $ts_at], ordered by
-- (ts_event, ingest_seq). Books with no snapshot at or before $ts_at have no rows.
-- Cost: the snapshot search reads is_snapshot over the book's whole history before
-- $ts_at (zone maps prune only the upper bound); Kraken sends a snapshot only on
-- (re)subscribe, so it may reach back days.
-- Params: $ts_at BIGINT epoch ns; $seq BIGINT.
WITH token_levels AS (
    SELECT b.*
    FROM book_levels AS b
    JOIN instruments AS i ON i.instrument_id = b.instrument_id AND i.role = 'token'
    WHERE b.ingest_seq <= $seq AND b.ts_event <= make_timestamp_ns($ts_at)
),
last_snapshot AS (
    SELECT venue, instrument_id, max(ts_event) AS ts_snapshot
    FROM token_levels
    WHERE is_snapshot
    GROUP BY venue, instrument_id
)
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
FROM token_levels AS b
JOIN last_snapshot AS s
    ON s.venue = b.venue AND s.instrument_id = b.instrument_id AND b.ts_event >= s.ts_snapshot
ORDER BY b.ts_event, b.ingest_seq;
