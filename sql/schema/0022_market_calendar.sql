-- market_calendar: US-equity market sessions from the XNYS exchange calendar
-- (exchange_calendars), one row per interval, contiguous, rewritten at every start for
-- the covered years. session is pre | regular | post | overnight | closed; trading_day
-- is the XNYS session date the interval belongs to (the next trading day for overnight),
-- NULL when closed. Halts are not here: they come from venue status messages
-- (session_states). See docs/reference-prices.md.
-- Grain: one row per interval [ts_start, ts_end).
CREATE TABLE market_calendar (
    ts_start    TIMESTAMP_NS NOT NULL,
    ts_end      TIMESTAMP_NS NOT NULL,
    session     VARCHAR NOT NULL,
    trading_day DATE
);
