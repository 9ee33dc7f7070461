-- multiplier_history: every multiplier divergence knows for a token listing, by source:
-- the catalog's effective-dated values ('catalog') and what each venue reported when it
-- was discovered ('venue:<id>', e.g. Bybit's xstockMultiplier, effective from the time it
-- was observed), so a change on the venue side is visible next to the catalog. The
-- basis uses the catalog's values; issue #4 merges venue observations into them.
-- Grain: one row per (instrument_id, source, effective_from).
CREATE VIEW multiplier_history AS
SELECT
    instrument_id,
    'catalog' AS source,
    effective_from,
    CAST(multiplier AS DECIMAL(38, 18)) AS multiplier
FROM multipliers
UNION ALL
SELECT
    i.instrument_id,
    'venue:' || l.venue AS source,
    l.observed_at AS effective_from,
    l.multiplier
FROM venue_listings AS l
JOIN instruments AS i
    ON i.venue = l.venue AND i.venue_symbol = l.venue_symbol AND i.role = 'token'
WHERE l.multiplier IS NOT NULL;
