-- instruments: the catalog's tokens and references, rewritten from
-- ingest/instruments.toml at every start so SQL can join on it.
-- Grain: one row per instrument_id.
CREATE TABLE instruments (
    instrument_id  VARCHAR PRIMARY KEY,
    role           VARCHAR NOT NULL,
    venue          VARCHAR NOT NULL,
    venue_symbol   VARCHAR NOT NULL,
    underlying     VARCHAR NOT NULL,
    quote_currency VARCHAR NOT NULL,
    issuer         VARCHAR,
    product        VARCHAR,
    chain          VARCHAR,
    contract       VARCHAR,
    trading_hours  VARCHAR NOT NULL,
    taker_fee_bps  DOUBLE NOT NULL
);
