-- basis_references: the reference quotes an as-of join over token rows in [$ts_lo, $ts_hi]
-- can see.
-- Grain: one row per reference quote: every quote with ts_event in [$ts_lo, $ts_hi], plus
-- per instrument the latest quote in [$ts_from, $ts_lo) (what a token row at $ts_lo joins
-- to). Ordered by (ts_event, ingest_seq), so equal timestamps resolve to the last written.
-- Params: $keys VARCHAR[] (reference instrument ids); $ts_from, $ts_lo, $ts_hi BIGINT
-- epoch ns.
SELECT ts_event, instrument_id AS ref_instrument_id, bid, ask
FROM (
    SELECT
        ts_event,
        instrument_id,
        CAST(bid_px AS DOUBLE) AS bid,
        CAST(ask_px AS DOUBLE) AS ask,
        ingest_seq
    FROM quotes
    WHERE list_contains($keys, instrument_id)
        AND ts_event >= make_timestamp_ns($ts_lo)
        AND ts_event <= make_timestamp_ns($ts_hi)
    UNION ALL
    SELECT
        ts_event,
        instrument_id,
        CAST(bid_px AS DOUBLE) AS bid,
        CAST(ask_px AS DOUBLE) AS ask,
        ingest_seq
    FROM quotes
    WHERE list_contains($keys, instrument_id)
        AND ts_event >= make_timestamp_ns($ts_from)
        AND ts_event < make_timestamp_ns($ts_lo)
    QUALIFY row_number() OVER (
        PARTITION BY instrument_id ORDER BY ts_event DESC, ingest_seq DESC
    ) = 1
)
ORDER BY ts_event, ingest_seq;
