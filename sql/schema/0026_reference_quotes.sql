-- reference_quotes: every reference quote with its underlying and the market session it
-- was observed in: the XNYS calendar's (market_calendar), unless a venue announced
-- another session for the underlying (a halt) within that calendar interval
-- (session_states). session is pre | regular | post | overnight | closed | halted.
-- Grain: one row per reference quote.
CREATE VIEW reference_quotes AS
WITH refs AS (
    SELECT q.*, i.underlying
    FROM quotes AS q
    JOIN instruments AS i ON i.instrument_id = q.instrument_id AND i.role = 'reference'
),
labelled AS (
    SELECT
        r.*,
        CASE WHEN r.ts_event < c.ts_end THEN c.session END AS calendar_session,
        CASE WHEN r.ts_event < c.ts_end THEN c.ts_start END AS calendar_start
    FROM refs AS r
    ASOF LEFT JOIN market_calendar AS c ON r.ts_event >= c.ts_start
)
SELECT
    l.* EXCLUDE (calendar_session, calendar_start),
    CASE
        WHEN a.ts_event IS NOT NULL AND a.ts_event >= l.calendar_start THEN a.session
        ELSE coalesce(l.calendar_session, 'closed')
    END AS session
FROM labelled AS l
ASOF LEFT JOIN session_states AS a
    ON a.underlying = l.underlying AND l.ts_event >= a.ts_event;
