-- metrics_closes: each underlying's close per regular session, the metrics engine's
-- CLOSES (divergence.metrics.windowed.CLOSES_SCHEMA): the mid of the last reference quote
-- in [open, close] of an instrument that serves the regular session, as the basis picks
-- its "last official close" (ties: the greater instrument id, then the last written),
-- stamped with the close instant. Used for the LULD prior close, the off-hours band's
-- last regular-session reference and the daily premium.
-- Grain: one row per (regular session, underlying) with such a quote written with
-- ingest_seq <= $seq, ordered by (ts_event, underlying).
-- Params: $keys VARCHAR[] (reference instruments that serve the regular session);
-- $opens, $closes BIGINT[] epoch ns and $days DATE[], the same length: each session's
-- open, close and trading day; $seq BIGINT.
WITH sessions AS (
    SELECT
        make_timestamp_ns(unnest($opens)) AS open_ts,
        make_timestamp_ns(unnest($closes)) AS close_ts,
        unnest($days) AS trading_day
)
SELECT
    s.close_ts AS ts_event,
    i.underlying,
    s.trading_day,
    (CAST(q.bid_px AS DOUBLE) + CAST(q.ask_px AS DOUBLE)) / 2 AS close
FROM sessions AS s
JOIN quotes AS q
    ON q.ts_event >= s.open_ts AND q.ts_event <= s.close_ts
JOIN instruments AS i ON i.instrument_id = q.instrument_id AND i.role = 'reference'
WHERE list_contains($keys, q.instrument_id) AND q.ingest_seq <= $seq
QUALIFY row_number() OVER (
    PARTITION BY s.close_ts, i.underlying
    ORDER BY q.ts_event DESC, q.instrument_id DESC, q.ingest_seq DESC
) = 1
ORDER BY ts_event, i.underlying;
