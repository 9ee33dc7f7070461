-- basis: each token quote (book top or pool price) against its underlying's reference.
-- Grain: one row per token quote or pool state. Written by the basis job, live and in
-- backfill, with the same function (divergence.metrics.basis.compute_basis).
-- Prices in USD as DOUBLE (bps arithmetic); exact inputs stay in quotes / pool_states.
--   mid_usd       token mid converted to USD (quote ccy x fx_rate), NOT divided by k
--   multiplier    k, shares of the underlying per token unit as the venue quotes it
--   ref_state     live | stale | closed | missing (see docs/metrics.md)
--   basis_bps     (mid_usd / (multiplier * ref_mid) - 1) * 1e4; NULL when stale/missing
--   exec_basis_bps executable basis at the top of book, net of taker fee; live only
CREATE TABLE basis (
    ts_event          TIMESTAMP_NS NOT NULL,
    ts_recv           TIMESTAMP_NS NOT NULL,
    instrument_id     VARCHAR NOT NULL,
    venue             VARCHAR NOT NULL,
    underlying        VARCHAR NOT NULL,
    source_kind       VARCHAR NOT NULL,
    quote_currency    VARCHAR NOT NULL,
    fx_rate           DOUBLE,
    fx_age_ms         DOUBLE,
    fx_state          VARCHAR NOT NULL,
    multiplier        DOUBLE NOT NULL,
    bid_usd           DOUBLE,
    ask_usd           DOUBLE,
    mid_usd           DOUBLE,
    ref_instrument_id VARCHAR,
    ref_ts            TIMESTAMP_NS,
    ref_bid           DOUBLE,
    ref_ask           DOUBLE,
    ref_mid           DOUBLE,
    ref_age_ms        DOUBLE,
    session           VARCHAR NOT NULL,
    ref_state         VARCHAR NOT NULL,
    basis_bps         DOUBLE,
    exec_basis_bps    DOUBLE,
    source_seq        BIGINT NOT NULL,
    ts_ingest         TIMESTAMP_NS NOT NULL
);
