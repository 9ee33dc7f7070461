-- multiplier_history: every multiplier divergence knows for a token listing, per issuer,
-- chain and venue, by source: the catalog's effective-dated values ('catalog') and what a
-- venue reported when it was discovered ('venue:<id>', e.g. Bybit's xstockMultiplier,
-- effective from the time it was observed). applied says whether the basis uses the row:
-- catalog rows always, venue rows when the token sets multiplier_from_venue. k is what
-- the basis multiplies the reference by: the multiplier for total_return tokens, 1 for
-- rebasing ones (docs/reference-prices.md).
-- Grain: one row per (instrument_id, source, effective_from).
CREATE VIEW multiplier_history AS
WITH rows AS (
    SELECT instrument_id, 'catalog' AS source, effective_from, multiplier
    FROM multipliers
    UNION ALL
    SELECT i.instrument_id, 'venue:' || l.venue, l.observed_at, l.multiplier
    FROM venue_listings AS l
    JOIN instruments AS i
        ON i.venue = l.venue AND i.venue_symbol = l.venue_symbol AND i.role = 'token'
    WHERE l.multiplier IS NOT NULL
)
SELECT
    r.instrument_id,
    i.issuer,
    i.chain,
    i.venue,
    r.source,
    r.effective_from,
    r.multiplier,
    i.tracking,
    r.source = 'catalog' OR coalesce(i.multiplier_from_venue, false) AS applied,
    CASE WHEN i.tracking = 'rebasing' THEN CAST(1 AS DECIMAL(38, 18)) ELSE r.multiplier END
        AS k
FROM rows AS r
JOIN instruments AS i ON i.instrument_id = r.instrument_id;
