-- metrics_token_trades: token trades with their underlying and the multiplier k the basis
-- applies at that instant, before stablecoin conversion (divergence.jobs.metrics_inputs
-- converts them to USD_TRADES: price_quote x fx / k per share, size_units x k shares).
-- Grain: one row per trade of a token listing with ts_event in [$ts_lo, $ts_hi] and
-- ingest_seq <= $seq, ordered by (ts_event, source_seq). Trades before their listing's
-- first multiplier have no k and no row (as in basis).
--   k  the applied multiplier_history row in force (catalog first on equal times), 1 for
--      rebasing tokens
-- Params: $ts_lo, $ts_hi BIGINT epoch ns; $seq BIGINT.
WITH k_history AS (
    SELECT instrument_id, effective_from, CAST(k AS DOUBLE) AS k
    FROM multiplier_history
    WHERE applied
    QUALIFY row_number() OVER (
        PARTITION BY instrument_id, effective_from ORDER BY source = 'catalog' DESC, source
    ) = 1
),
token_trades AS (
    SELECT
        t.ts_event,
        i.underlying,
        t.venue,
        t.instrument_id,
        t.trade_id,
        CAST(t.price AS DOUBLE) AS price_quote,
        CAST(t.size AS DOUBLE) AS size_units,
        t.side,
        t.ingest_seq AS source_seq,
        i.quote_currency
    FROM trades AS t
    JOIN instruments AS i ON i.instrument_id = t.instrument_id AND i.role = 'token'
    WHERE t.ingest_seq <= $seq
        AND t.ts_event >= make_timestamp_ns($ts_lo)
        AND t.ts_event <= make_timestamp_ns($ts_hi)
)
SELECT tt.*, m.k AS multiplier
FROM token_trades AS tt
ASOF JOIN k_history AS m
    ON tt.instrument_id = m.instrument_id AND tt.ts_event >= m.effective_from
ORDER BY tt.ts_event, tt.source_seq;
