-- depeg_impact: each stablecoin depeg and what it did to the basis of the listings quoted in that coin.
-- title: Depeg impact report
-- description: Every depeg episode (stablecoin_events: the coin itself, or one venue's
--   rate for it), paired start to end, and for each token listing quoted in that coin
--   during the episode: the lowest rate used, the basis as computed (converted at the
--   rate) and as it would have read if the coin were worth 1 USD, and the difference.
-- params: currency (text, optional)
-- Grain: one row per (depeg episode, listing) with basis rows during the episode;
-- an episode still open runs to the latest basis row.
WITH edges AS (
    SELECT *,
           lead(ts_event) OVER (PARTITION BY kind, currency, venue ORDER BY ts_event) AS next_ts,
           lead(state) OVER (PARTITION BY kind, currency, venue ORDER BY ts_event) AS next_state
    FROM stablecoin_events
    WHERE $currency IS NULL OR currency = $currency
),
episodes AS (
    SELECT kind, currency, venue AS fx_venue, ts_event AS started,
           CASE WHEN next_state = 'end' THEN next_ts END AS ended,
           value_bps AS start_deviation_bps
    FROM edges
    WHERE state = 'start'
)
SELECT
    e.kind, e.currency, e.fx_venue, e.started, e.ended,
    round(date_diff('millisecond', e.started,
        coalesce(e.ended, (SELECT max(ts_event) FROM basis))) / 1000.0, 1) AS duration_s,
    round(e.start_deviation_bps, 1) AS start_deviation_bps,
    b.underlying, b.venue, b.instrument_id,
    count(*) AS observations,
    round(min(b.fx_rate), 6) AS lowest_rate,
    round(avg(b.basis_bps), 2) AS mean_basis_bps,
    round(avg((b.mid_usd / b.fx_rate / (b.multiplier * b.ref_mid) - 1) * 1e4), 2)
        AS mean_basis_if_pegged_bps,
    round(avg(b.basis_bps) - avg((b.mid_usd / b.fx_rate / (b.multiplier * b.ref_mid) - 1) * 1e4), 2)
        AS depeg_effect_bps,
    round(max(abs(b.basis_bps)), 2) AS max_abs_basis_bps,
    bool_or(coalesce(b.fx_depeg, false)) AS flagged_fx_depeg
FROM episodes AS e
JOIN basis AS b
  ON b.quote_currency = e.currency
 AND b.ts_event >= e.started
 AND (e.ended IS NULL OR b.ts_event < e.ended)
WHERE b.basis_bps IS NOT NULL AND b.fx_rate IS NOT NULL
GROUP BY ALL
ORDER BY e.started, b.underlying, b.venue;
