-- instruments: how a token's fair value follows from its multiplier, and which sessions
-- a reference serves (docs/reference-prices.md).
--   tracking               total_return (fair = price x multiplier) | rebasing (fair =
--                          price; the multiplier is recorded, not applied); tokens only
--   multiplier_from_venue  the venue's reported multiplier extends the token's history
--   ref_sessions           comma-separated sessions a reference instrument serves
-- Grain: unchanged, one row per instrument_id.
ALTER TABLE instruments ADD COLUMN tracking VARCHAR;
ALTER TABLE instruments ADD COLUMN multiplier_from_venue BOOLEAN DEFAULT false;
ALTER TABLE instruments ADD COLUMN ref_sessions VARCHAR;
