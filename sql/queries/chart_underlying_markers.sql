-- chart_underlying_markers: events to mark on the underlying's time axis, each a point
-- (end_ns NULL) or a span [ts_ns, end_ns), overlapping the window [$start, $end):
--   alert              alerts whose scope or labels name the underlying, that fired: from
--                      fired_at to ends_at (resolved), or to $end while still active
--   feed_gap           feed_events of the venues listing the underlying (its token venues
--                      and its reference venue), on the connection (stream '') or on a
--                      stream of one of its symbols: stale (from ts - value s to the next
--                      fresh, or $end), silent (the value s before ts), disconnect (to the
--                      next connect, or $end), resync (the value s before ts), gap and
--                      checksum_mismatch (points); events from 7 days before $start on
--   depeg              depeg edges of the listings' quote currencies, computed as the
--                      stablecoin_events view does but only from the fx_composite rows of
--                      [$start - 7 days, $end): a coin's median off 1 (stablecoin_depeg) or
--                      one FX source off the median (venue_local_depeg), from 'start' to
--                      the next 'end' (or $end); a depeg already on 7 days before $start
--                      shows from there
--   multiplier_change  multiplier_history rows of the underlying's listings effective in
--                      the window (label: old -> new, the source, whether it is applied)
--   halt               session_states 'halted' periods (merged like chart_sessions)
--   luld               luld_events (band breach, limit state, pause, off-hours band)
-- $venue (not NULL) keeps the alerts of that venue or without one, that venue's feed
-- events and multiplier rows, depegs of its quote currencies, and LULD events on it or
-- without one; halts always show.
-- Grain: one row per marker.
-- Params: $underlying; $venue (NULL = every venue); $start, $end epoch ns (end exclusive).
-- Columns: ts_ns, end_ns (epoch ns, NULL for a point), kind, label.
WITH listings AS (
    SELECT instrument_id, venue, venue_symbol, quote_currency, role
    FROM instruments
    WHERE underlying = $underlying AND ($venue IS NULL OR venue = $venue OR role = 'reference')
),
alert_rows AS (
    SELECT epoch_ns(fired_at) AS ts_ns,
           CASE
               WHEN ends_at IS NOT NULL THEN epoch_ns(ends_at)
               WHEN state IN ('firing', 'pending', 'stale-data') THEN $end
           END AS end_ns,
           'alert' AS kind,
           rule_id || ' [' || coalesce(json_extract_string(labels, '$.severity'), '?') || ', '
               || state || ']'
               || coalesce(' ' || json_extract_string(labels, '$.venue'), '')
               || ': ' || summary AS label
    FROM alerts
    WHERE fired_at IS NOT NULL
      AND coalesce(json_extract_string(scope, '$.underlying'),
                   json_extract_string(labels, '$.underlying')) = $underlying
      AND ($venue IS NULL
           OR coalesce(json_extract_string(scope, '$.venue'),
                       json_extract_string(labels, '$.venue')) IS NULL
           OR coalesce(json_extract_string(scope, '$.venue'),
                       json_extract_string(labels, '$.venue')) = $venue)
),
feed AS (
    SELECT epoch_ns(f.ts) AS ts_ns, f.venue, f.stream, f.event, f.detail, f.value,
           min(CASE WHEN f.event = 'fresh' THEN epoch_ns(f.ts) END) OVER later AS next_fresh,
           min(CASE WHEN f.event = 'connect' THEN epoch_ns(f.ts) END) OVER later
               AS next_connect
    FROM feed_events AS f
    WHERE f.ts >= make_timestamp_ns($start - 604800000000000)
      AND f.ts < make_timestamp_ns($end)
      AND f.event IN ('stale', 'fresh', 'silent', 'disconnect', 'connect', 'resync', 'gap',
                      'checksum_mismatch')
      AND f.venue IN (SELECT venue FROM listings)
      AND (f.stream = ''
           OR split_part(f.stream, ':', 2) = $underlying
           OR split_part(f.stream, ':', 2) IN (
               SELECT venue_symbol FROM listings AS l WHERE l.venue = f.venue))
    WINDOW later AS (PARTITION BY f.venue, f.stream ORDER BY f.ts, f.ingest_seq
                     ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
),
feed_rows AS (
    SELECT CASE
               WHEN event IN ('stale', 'silent', 'resync')
                   THEN ts_ns - CAST(value * 1e9 AS BIGINT)
               ELSE ts_ns
           END AS ts_ns,
           CASE
               WHEN event = 'stale' THEN coalesce(next_fresh, $end)
               WHEN event = 'disconnect' THEN coalesce(next_connect, $end)
               WHEN event IN ('silent', 'resync') THEN ts_ns
           END AS end_ns,
           'feed_gap' AS kind,
           venue || CASE WHEN stream = '' THEN '' ELSE ' ' || stream END || ': ' || event
               || CASE WHEN detail = '' THEN '' ELSE ' (' || detail || ')' END AS label
    FROM feed
    WHERE event NOT IN ('fresh', 'connect')
),
fx AS (
    SELECT ts_event, source_seq, currency, venue, venue_local_depeg, deviation_bps,
           stablecoin_depeg, (median_usd - 1) * 1e4 AS median_bps
    FROM fx_composite
    WHERE ts_event >= make_timestamp_ns($start - 604800000000000)
      AND ts_event < make_timestamp_ns($end)
      AND currency IN (SELECT quote_currency FROM listings WHERE role = 'token')
),
edges AS (
    SELECT ts_event, 'venue_local_depeg' AS kind, currency, venue, value_bps,
           CASE WHEN flag THEN 'start' ELSE 'end' END AS state
    FROM (
        SELECT ts_event, currency, venue, venue_local_depeg AS flag, deviation_bps AS value_bps,
               lag(venue_local_depeg, 1, false) OVER (
                   PARTITION BY currency, venue ORDER BY ts_event, source_seq
               ) AS before
        FROM fx
    )
    WHERE flag <> before
    UNION ALL
    SELECT ts_event, 'stablecoin_depeg' AS kind, currency, NULL AS venue, value_bps,
           CASE WHEN flag THEN 'start' ELSE 'end' END AS state
    FROM (
        SELECT ts_event, currency, stablecoin_depeg AS flag, median_bps AS value_bps,
               lag(stablecoin_depeg, 1, false) OVER (
                   PARTITION BY currency ORDER BY ts_event, source_seq
               ) AS before
        FROM fx
    )
    WHERE flag <> before
),
depeg AS (
    SELECT epoch_ns(ts_event) AS ts_ns, kind, currency, venue, state, value_bps,
           min(CASE WHEN state = 'end' THEN epoch_ns(ts_event) END) OVER (
               PARTITION BY kind, currency, venue ORDER BY ts_event
               ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
           ) AS next_end
    FROM edges
),
depeg_rows AS (
    SELECT ts_ns, coalesce(next_end, $end) AS end_ns, 'depeg' AS kind,
           CASE
               WHEN kind = 'stablecoin_depeg'
                   THEN currency || ' depeg: median ' || printf('%+.1f', value_bps)
                       || ' bps from 1 USD'
               ELSE currency || ' on ' || venue || ' ' || printf('%+.1f', value_bps)
                   || ' bps from the median (one FX source)'
           END AS label
    FROM depeg
    WHERE state = 'start'
),
multiplier AS (
    SELECT m.instrument_id, m.venue, m.source, m.applied, epoch_ns(m.effective_from) AS ts_ns,
           m.multiplier,
           lag(m.multiplier) OVER (
               PARTITION BY m.instrument_id, m.source ORDER BY m.effective_from
           ) AS previous
    FROM multiplier_history AS m
    WHERE m.instrument_id IN (SELECT instrument_id FROM listings WHERE role = 'token')
      AND ($venue IS NULL OR m.venue = $venue)
),
multiplier_rows AS (
    SELECT ts_ns, NULL::BIGINT AS end_ns, 'multiplier_change' AS kind,
           instrument_id || ' multiplier '
               || coalesce(CAST(CAST(previous AS DOUBLE) AS VARCHAR) || ' -> ', '')
               || CAST(CAST(multiplier AS DOUBLE) AS VARCHAR) || ' (' || source
               || CASE WHEN applied THEN '' ELSE ', not applied' END || ')' AS label
    FROM multiplier
),
announced AS (
    SELECT epoch_ns(ts_event) AS ts_ns, session,
           lag(session) OVER (ORDER BY ts_event, ingest_seq) AS previous
    FROM session_states
    WHERE underlying = $underlying
),
changes AS (
    SELECT ts_ns, session, lead(ts_ns) OVER (ORDER BY ts_ns) AS next_ns
    FROM announced
    WHERE previous IS NULL OR previous <> session
),
halt_rows AS (
    SELECT ts_ns, coalesce(next_ns, $end) AS end_ns, 'halt' AS kind, 'halted' AS label
    FROM changes
    WHERE session = 'halted'
),
luld_rows AS (
    SELECT epoch_ns(ts_start) AS ts_ns,
           CASE WHEN ts_end > ts_start THEN epoch_ns(ts_end) END AS end_ns,
           'luld' AS kind,
           event || coalesce(' ' || side, '') || coalesce(' ' || venue, '')
               || coalesce(printf(' at %.2f', price_usd), '')
               || coalesce(printf(' (band %.2f-%.2f)', lower_band_usd, upper_band_usd), '')
               AS label
    FROM luld_events
    WHERE underlying = $underlying
      AND ($venue IS NULL OR venue IS NULL OR venue = $venue)
),
markers AS (
    SELECT * FROM alert_rows
    UNION ALL SELECT * FROM feed_rows
    UNION ALL SELECT * FROM depeg_rows
    UNION ALL SELECT * FROM multiplier_rows
    UNION ALL SELECT * FROM halt_rows
    UNION ALL SELECT * FROM luld_rows
)
SELECT ts_ns, CASE WHEN end_ns > ts_ns THEN end_ns END AS end_ns, kind, label
FROM markers
WHERE ts_ns < $end AND coalesce(end_ns, ts_ns) >= $start
ORDER BY ts_ns, kind, label;
