-- trade_throughs: every token trade checked against the other venues' protected quotes,
-- Rule 611 style with the 1 s flickering-quote exemption (metrics.md 4.3;
-- divergence.metrics.trade_through). USD per underlying share, sizes in shares.
-- Grain: one row per token trade (source_seq = trades.ingest_seq). Written by the metrics
-- job as the watermark passes ts_event; replaced by ts_event range.
--   protected_*        the best other-venue quote present for the whole prior second,
--                      its fee-adjusted limit, venue and instrument
--   traded_through     the trade was outside it (NULL: side unknown, not evaluated)
--   trade_through_bps  how far outside, in bps of the protected price
--   flicker_exempt     a better quote existed but was present for less than 1 s
CREATE TABLE trade_throughs (
    ts_event                TIMESTAMP_NS NOT NULL,
    underlying              VARCHAR NOT NULL,
    venue                   VARCHAR NOT NULL,
    instrument_id           VARCHAR NOT NULL,
    trade_id                VARCHAR NOT NULL,
    source_seq              BIGINT NOT NULL,
    price_usd               DOUBLE,
    size_shares             DOUBLE,
    notional_usd            DOUBLE,
    direction               TINYINT,
    protected_price_usd     DOUBLE,
    protected_limit_usd     DOUBLE,
    protected_venue         VARCHAR,
    protected_instrument_id VARCHAR,
    traded_through          BOOLEAN,
    trade_through_bps       DOUBLE,
    flicker_exempt          BOOLEAN
);
