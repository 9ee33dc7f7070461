-- multipliers: effective-dated shares of the underlying per token unit (k), per listing,
-- rewritten from the catalog at every start.
-- Grain: one row per (instrument_id, effective_from).
CREATE TABLE multipliers (
    instrument_id  VARCHAR NOT NULL,
    effective_from TIMESTAMP_NS NOT NULL,
    multiplier     DOUBLE NOT NULL,
    PRIMARY KEY (instrument_id, effective_from)
);
