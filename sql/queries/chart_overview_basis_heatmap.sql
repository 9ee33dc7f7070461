-- chart_overview_basis_heatmap: the current mid basis of every token listing, by underlying
-- x venue: the latest basis row of each (underlying, venue) in the 15 minutes before $end
-- (the freshness horizon; a listing with no row in it has no cell). value is that row's
-- basis_bps: NULL when its reference was not usable (ref_state stale / missing / closed
-- without a close), then the text says why. With several instruments of one underlying
-- on a venue, the latest row of any of them.
-- text: "+12.3 bps · post · 4 s old", or "n/a (ref stale) · post · 4 s old".
-- Grain: one row per (underlying, venue) with a basis row in [$end - 15 min, $end).
-- Params: $end epoch ns (exclusive: the heatmap's instant).
-- Columns: row (underlying), column (venue), value (bps, nullable), text, session,
-- ref_state, ts_ns (epoch ns of the row), age_s (seconds before $end).
WITH latest AS (
    SELECT underlying, venue, basis_bps, session, ref_state, epoch_ns(ts_event) AS ts_ns
    FROM basis
    WHERE ts_event >= make_timestamp_ns($end - 900000000000)
      AND ts_event < make_timestamp_ns($end)
    QUALIFY row_number() OVER (
        PARTITION BY underlying, venue ORDER BY ts_event DESC, source_seq DESC
    ) = 1
)
SELECT underlying AS "row", venue AS "column", basis_bps AS value,
       coalesce(printf('%+.1f bps', basis_bps), 'n/a (ref ' || ref_state || ')') || ' · '
           || session || ' · '
           || CASE
                  WHEN $end - ts_ns < 60000000000
                      THEN printf('%d s old', ($end - ts_ns) // 1000000000)
                  ELSE printf('%d min old', ($end - ts_ns) // 60000000000)
              END AS text,
       session, ref_state, ts_ns, ($end - ts_ns) / 1e9 AS age_s
FROM latest
ORDER BY "row", "column";
