-- depth_first_input: where the depth job starts when it never ran: the earliest token
-- book update or pool state written with ingest_seq <= $seq.
-- Grain: one row; ts_min BIGINT epoch ns, NULL when there is none yet.
-- Params: $seq BIGINT.
SELECT epoch_ns(min(ts_event)) AS ts_min
FROM (
    SELECT min(b.ts_event) AS ts_event FROM book_levels AS b
    JOIN instruments AS i ON i.instrument_id = b.instrument_id AND i.role = 'token'
    WHERE b.ingest_seq <= $seq
    UNION ALL
    SELECT min(p.ts_event) FROM pool_states AS p
    JOIN instruments AS i ON i.instrument_id = p.instrument_id AND i.role = 'token'
    WHERE p.ingest_seq <= $seq
);
