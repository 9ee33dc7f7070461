-- stablecoin_events: when a depeg starts and ends, from fx_composite.
-- kind venue_local_depeg: one venue's rate for a currency left the median by more than
-- basis.venue_depeg_bps (per venue and currency); kind stablecoin_depeg: the median itself
-- left 1 by more than basis.depeg_bps (per currency; venue is NULL). state is 'start' on
-- the first observation in the condition and 'end' on the first one out of it; value_bps
-- is the deviation then (venue: from the median; coin: of the median from 1).
-- Grain: one row per edge.
CREATE VIEW stablecoin_events AS
WITH venue_flags AS (
    SELECT
        ts_event, currency, venue, venue_local_depeg AS flag, deviation_bps AS value_bps,
        lag(venue_local_depeg, 1, false) OVER (
            PARTITION BY currency, venue ORDER BY ts_event, source_seq
        ) AS before
    FROM fx_composite
),
coin_steps AS (
    SELECT
        ts_event, currency, source_seq, stablecoin_depeg AS flag,
        (median_usd - 1) * 1e4 AS value_bps
    FROM fx_composite
),
coin_flags AS (
    SELECT
        ts_event, currency, flag, value_bps,
        lag(flag, 1, false) OVER (PARTITION BY currency ORDER BY ts_event, source_seq) AS before
    FROM coin_steps
)
SELECT
    ts_event, 'venue_local_depeg' AS kind, currency, venue,
    CASE WHEN flag THEN 'start' ELSE 'end' END AS state, value_bps
FROM venue_flags
WHERE flag <> before
UNION ALL
SELECT
    ts_event, 'stablecoin_depeg', currency, NULL,
    CASE WHEN flag THEN 'start' ELSE 'end' END, value_bps
FROM coin_flags
WHERE flag <> before;
