-- basis_fx_rates: the stablecoin rates an as-of join over token rows in [$ts_lo, $ts_hi]
-- can see.
-- Grain: one row per rate: every rate with ts_event in [$ts_lo, $ts_hi], plus per currency
-- the latest rate in [$ts_from, $ts_lo). Ordered by (ts_event, ingest_seq), so equal
-- timestamps resolve to the last written. Rates from all fx venues are pooled per currency.
-- Params: $keys VARCHAR[] (currencies); $ts_from, $ts_lo, $ts_hi BIGINT epoch ns.
SELECT ts_event, currency, rate_usd
FROM (
    SELECT ts_event, currency, CAST(rate_usd AS DOUBLE) AS rate_usd, ingest_seq
    FROM fx_rates
    WHERE list_contains($keys, currency)
        AND ts_event >= make_timestamp_ns($ts_lo)
        AND ts_event <= make_timestamp_ns($ts_hi)
    UNION ALL
    SELECT ts_event, currency, CAST(rate_usd AS DOUBLE) AS rate_usd, ingest_seq
    FROM fx_rates
    WHERE list_contains($keys, currency)
        AND ts_event >= make_timestamp_ns($ts_from)
        AND ts_event < make_timestamp_ns($ts_lo)
    QUALIFY row_number() OVER (PARTITION BY currency ORDER BY ts_event DESC, ingest_seq DESC) = 1
)
ORDER BY ts_event, ingest_seq;
