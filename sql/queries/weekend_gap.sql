-- weekend_gap: what the tokens priced while the stock market was shut, against Friday's close and the reopen.
-- title: Weekend gap at reopen
-- description: For the market closure after close_day's regular session (a weekend or a
--   holiday; default: the latest such close with data), per token listing: the last
--   regular-session reference mid and basis before the close, the token's last price
--   after the close (post-market, then the closure) as a gap against that close (the gap the tokens predicted), the
--   widest gap during the closure, and at the next regular open the reference mid, the
--   realized gap and the token's error. The reopen columns are NULL until the market has
--   reopened in the data.
-- params: close_day (date, optional), underlying (text, optional)
-- Grain: one row per (underlying, venue) with basis rows during the closure.
WITH days AS (
    SELECT trading_day, min(ts_start) AS open_ts, max(ts_end) AS close_ts
    FROM market_calendar
    WHERE session = 'regular'
    GROUP BY trading_day
),
closures AS (
    SELECT
        trading_day AS close_day, close_ts,
        lead(open_ts) OVER (ORDER BY trading_day) AS reopen_ts,
        lead(trading_day) OVER (ORDER BY trading_day) AS reopen_day
    FROM days
),
chosen AS (
    SELECT *
    FROM closures
    WHERE date_diff('day', close_day, reopen_day) > 1
      AND ($close_day IS NULL OR close_day = $close_day)
      AND close_ts <= (SELECT max(ts_event) FROM basis)
    ORDER BY close_day DESC
    LIMIT 1
),
before_close AS (
    SELECT b.instrument_id,
           arg_max(b.ref_mid, b.ts_event) AS close_ref_mid,
           arg_max(b.basis_bps, b.ts_event) AS close_basis_bps,
           max(b.ts_event) AS close_obs_ts
    FROM basis AS b, chosen AS c
    WHERE b.session = 'regular' AND b.ref_state = 'live'
      AND b.ts_event < c.close_ts AND b.ts_event >= c.close_ts - INTERVAL 1 DAY
    GROUP BY b.instrument_id
),
during AS (
    SELECT b.instrument_id, any_value(b.underlying) AS underlying, any_value(b.venue) AS venue,
           arg_max(b.mid_usd / b.multiplier, b.ts_event) AS last_token_px,
           max(b.ts_event) AS last_obs_ts,
           min(b.mid_usd / b.multiplier) AS min_token_px,
           max(b.mid_usd / b.multiplier) AS max_token_px,
           count(*) AS observations
    FROM basis AS b, chosen AS c
    WHERE b.ts_event >= c.close_ts AND (c.reopen_ts IS NULL OR b.ts_event < c.reopen_ts)
      AND b.mid_usd IS NOT NULL AND b.session <> 'regular'
      AND ($underlying IS NULL OR b.underlying = $underlying)
    GROUP BY b.instrument_id
),
reopen AS (
    SELECT b.instrument_id,
           arg_min(b.ref_mid, b.ts_event) AS reopen_ref_mid,
           arg_min(b.basis_bps, b.ts_event) AS reopen_basis_bps,
           min(b.ts_event) AS reopen_obs_ts
    FROM basis AS b, chosen AS c
    WHERE b.ts_event >= c.reopen_ts AND b.ts_event < c.reopen_ts + INTERVAL 1 HOUR
      AND b.ref_state = 'live' AND b.session = 'regular'
    GROUP BY b.instrument_id
)
SELECT
    d.underlying, d.venue, d.instrument_id,
    c.close_day, c.close_ts, c.reopen_ts,
    round(bc.close_ref_mid, 4) AS close_ref_mid,
    round(bc.close_basis_bps, 2) AS close_basis_bps,
    d.last_obs_ts AS closure_last_ts,
    round(d.last_token_px, 4) AS closure_last_token_px,
    round((d.last_token_px / bc.close_ref_mid - 1) * 100, 3) AS predicted_gap_pct,
    round((d.min_token_px / bc.close_ref_mid - 1) * 100, 3) AS min_gap_pct,
    round((d.max_token_px / bc.close_ref_mid - 1) * 100, 3) AS max_gap_pct,
    d.observations AS closure_observations,
    round(r.reopen_ref_mid, 4) AS reopen_ref_mid,
    round((r.reopen_ref_mid / bc.close_ref_mid - 1) * 100, 3) AS realized_gap_pct,
    round((d.last_token_px - r.reopen_ref_mid) / bc.close_ref_mid * 100, 3)
        AS prediction_error_pct,
    round(r.reopen_basis_bps, 2) AS reopen_basis_bps
FROM during AS d
CROSS JOIN chosen AS c
LEFT JOIN before_close AS bc USING (instrument_id)
LEFT JOIN reopen AS r USING (instrument_id)
ORDER BY d.underlying, d.venue;
