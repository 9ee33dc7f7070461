-- multipliers: the catalog's effective-dated multiplier per token listing, now exact
-- (DECIMAL instead of DOUBLE: 1.0032690125398187 keeps every digit). The table is
-- rewritten from the catalog at every start, so it is recreated empty; the view that
-- reads it is recreated by the next migration.
-- Grain: one row per (instrument_id, effective_from).
DROP VIEW IF EXISTS multiplier_history;
DROP TABLE multipliers;
CREATE TABLE multipliers (
    instrument_id  VARCHAR NOT NULL,
    effective_from TIMESTAMP_NS NOT NULL,
    multiplier     DECIMAL(38, 18) NOT NULL,
    PRIMARY KEY (instrument_id, effective_from)
);
