-- venue_listings: instruments as each venue's REST instrument list described them at
-- start-up (Kraken AssetPairs, Bybit instruments-info). multiplier is the venue's own
-- (Bybit xstockMultiplier), the raw input to the multiplier history.
-- Grain: one row per (venue, venue_symbol, observed_at).
CREATE TABLE venue_listings (
    observed_at    TIMESTAMP_NS NOT NULL,
    venue          VARCHAR NOT NULL,
    venue_symbol   VARCHAR NOT NULL,
    base           VARCHAR NOT NULL,
    quote          VARCHAR NOT NULL,
    status         VARCHAR NOT NULL,
    product        VARCHAR NOT NULL,
    price_decimals INTEGER,
    size_decimals  INTEGER,
    multiplier     DECIMAL(38, 18),
    in_catalog     BOOLEAN NOT NULL
);
