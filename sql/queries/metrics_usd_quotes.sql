-- metrics_usd_quotes: token tops of book in USD per underlying share, the metrics
-- engine's USD_QUOTES (divergence.metrics.schemas), from the basis table.
-- Grain: one row per basis row (token book top or pool state) with ts_event in
-- [$ts_lo, $ts_hi] written from inputs with ingest_seq <= $seq, ordered by
-- (ts_event, source_seq).
--   bid, ask      bid_usd / multiplier, ask_usd / multiplier (k); NULL when the basis had
--                 no usable stablecoin rate (fx_state not usd, live or single)
--   bid_sz, ask_sz  the quote's sizes x multiplier, in shares (quotes row with
--                 ingest_seq = source_seq); NULL for pools, which display no size
--   source_kind   book | pool; fee_bps the listing's taker fee, 0 for a pool (its LP fee
--                 is inside bid and ask)
-- Params: $ts_lo, $ts_hi BIGINT epoch ns; $seq BIGINT.
WITH tops AS (
    SELECT *
    FROM basis
    WHERE source_seq <= $seq
        AND ts_event >= make_timestamp_ns($ts_lo)
        AND ts_event <= make_timestamp_ns($ts_hi)
),
sizes AS (
    SELECT ts_event, ingest_seq, CAST(bid_sz AS DOUBLE) AS bid_sz, CAST(ask_sz AS DOUBLE) AS ask_sz
    FROM quotes
    WHERE ingest_seq <= $seq
        AND ts_event >= make_timestamp_ns($ts_lo)
        AND ts_event <= make_timestamp_ns($ts_hi)
)
SELECT
    b.ts_event,
    b.underlying,
    b.venue,
    b.instrument_id,
    CASE WHEN b.source_kind = 'pool' THEN 'pool' ELSE 'book' END AS source_kind,
    CASE WHEN b.fx_state IN ('usd', 'live', 'single') THEN b.bid_usd / b.multiplier END AS bid,
    CASE WHEN b.source_kind <> 'pool' THEN s.bid_sz * b.multiplier END AS bid_sz,
    CASE WHEN b.fx_state IN ('usd', 'live', 'single') THEN b.ask_usd / b.multiplier END AS ask,
    CASE WHEN b.source_kind <> 'pool' THEN s.ask_sz * b.multiplier END AS ask_sz,
    CASE WHEN b.source_kind = 'pool' THEN 0.0 ELSE i.taker_fee_bps END AS fee_bps,
    b.source_seq
FROM tops AS b
JOIN instruments AS i ON i.instrument_id = b.instrument_id
LEFT JOIN sizes AS s ON s.ingest_seq = b.source_seq AND s.ts_event = b.ts_event
ORDER BY b.ts_event, b.source_seq;
