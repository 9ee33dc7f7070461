-- basis_fx_rates: the stablecoin rates an as-of join over rows in [$ts_lo, $ts_hi] can
-- see, per source (venue and currency), for the median across sources.
-- Grain: one row per rate: every rate with ts_event in [$ts_lo, $ts_hi], plus per source
-- the latest rate in [$ts_from, $ts_lo). Ordered by (ts_event, ingest_seq), so equal
-- timestamps resolve to the last written. source = venue || '|' || currency.
-- Params: $keys VARCHAR[] (sources); $ts_from, $ts_lo, $ts_hi BIGINT epoch ns.
SELECT ts_event, source, venue, currency, rate_usd
FROM (
    SELECT
        ts_event, venue || '|' || currency AS source, venue, currency,
        CAST(rate_usd AS DOUBLE) AS rate_usd, ingest_seq
    FROM fx_rates
    WHERE list_contains($keys, venue || '|' || currency)
        AND ts_event >= make_timestamp_ns($ts_lo)
        AND ts_event <= make_timestamp_ns($ts_hi)
    UNION ALL
    SELECT
        ts_event, venue || '|' || currency AS source, venue, currency,
        CAST(rate_usd AS DOUBLE) AS rate_usd, ingest_seq
    FROM fx_rates
    WHERE list_contains($keys, venue || '|' || currency)
        AND ts_event >= make_timestamp_ns($ts_from)
        AND ts_event < make_timestamp_ns($ts_lo)
    QUALIFY row_number() OVER (
        PARTITION BY venue, currency ORDER BY ts_event DESC, ingest_seq DESC
    ) = 1
)
ORDER BY ts_event, ingest_seq;
