-- depth_pool_states: the token pool states the depth samples in [$ts_lo, $ts_hi] can see.
-- Grain: one row per pool_states_effective row (reorg retractions left out) of a token
-- listing with ingest_seq <= $seq: every state with ts_event in [$ts_lo, $ts_hi], plus
-- per (venue, instrument_id) the latest state in [$ts_from, $ts_lo) (older states count
-- as absent: $ts_from = $ts_lo - depth.pool_max_age_s). Ordered by (ts_event,
-- ingest_seq), so equal timestamps resolve to the last written.
--   price        quote currency per token unit (pool units); reserves in pool units
--   liquidity    the raw in-range liquidity L (concentrated pools), tick its current tick
-- Params: $ts_from, $ts_lo, $ts_hi BIGINT epoch ns; $seq BIGINT.
WITH token_pools AS (
    SELECT
        p.ts_event,
        p.venue,
        p.instrument_id,
        CAST(p.price AS DOUBLE) AS price,
        CAST(p.reserve_base AS DOUBLE) AS reserve_base,
        CAST(p.reserve_quote AS DOUBLE) AS reserve_quote,
        CAST(p.liquidity AS DOUBLE) AS liquidity,
        p.tick,
        CAST(p.fee_bps AS DOUBLE) AS fee_bps,
        p.ingest_seq
    FROM pool_states_effective AS p
    JOIN instruments AS i ON i.instrument_id = p.instrument_id AND i.role = 'token'
    WHERE p.ingest_seq <= $seq
        AND p.ts_event >= make_timestamp_ns($ts_from)
        AND p.ts_event <= make_timestamp_ns($ts_hi)
)
SELECT *
FROM (
    SELECT * FROM token_pools WHERE ts_event >= make_timestamp_ns($ts_lo)
    UNION ALL
    SELECT * FROM token_pools WHERE ts_event < make_timestamp_ns($ts_lo)
    QUALIFY row_number() OVER (
        PARTITION BY venue, instrument_id ORDER BY ts_event DESC, ingest_seq DESC
    ) = 1
)
ORDER BY ts_event, ingest_seq;
