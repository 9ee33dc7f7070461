-- execution_quality: Rule 605-style execution quality of every token trade, against the
-- consolidated token BBO and, in the regular session, the underlying NBBO (metrics.md
-- 4.1, 1.2; divergence.metrics.execution). USD per underlying share, sizes in shares.
-- Grain: one row per token trade (source_seq = trades.ingest_seq). Written by the metrics
-- job once the watermark passed ts_event + 5 min (the longest realized-spread horizon);
-- replaced by ts_event range.
--   direction            D: +1 buy, -1 sell (side_inferred: from the quote rule)
--   best_bid_usd, best_ask_usd, mid_usd  consolidated BBO just before the trade (bbo_ts)
--   quoted_spread_*, effective_spread_*  QS = BA - BB, ES = 2 D (P - M); bps of M
--   mid_<h>_usd, realized_spread_<h>_*, price_impact_<h>_*  at h = 50ms, 1s, 15s, 1m, 5m
--   price_improvement_*, execution_class  vs BA (buys) / BB (sells): improved,
--                        at_quote or outside
--   ref_*                the underlying NBBO before the trade; ref_state live | stale |
--                        not_regular | missing; ref_price_improvement_*, xes_bps (live only)
CREATE TABLE execution_quality (
    ts_event                  TIMESTAMP_NS NOT NULL,
    underlying                VARCHAR NOT NULL,
    venue                     VARCHAR NOT NULL,
    instrument_id             VARCHAR NOT NULL,
    trade_id                  VARCHAR NOT NULL,
    source_seq                BIGINT NOT NULL,
    price_usd                 DOUBLE,
    size_shares               DOUBLE,
    notional_usd              DOUBLE,
    notional_bucket           INTEGER,
    side                      VARCHAR NOT NULL,
    direction                 TINYINT,
    side_inferred             BOOLEAN NOT NULL,
    bbo_ts                    TIMESTAMP_NS,
    bbo_age_ms                DOUBLE,
    best_bid_usd              DOUBLE,
    best_ask_usd              DOUBLE,
    mid_usd                   DOUBLE,
    quoted_spread_usd         DOUBLE,
    quoted_spread_bps         DOUBLE,
    effective_spread_usd      DOUBLE,
    effective_spread_bps      DOUBLE,
    mid_50ms_usd              DOUBLE,
    realized_spread_50ms_usd  DOUBLE,
    realized_spread_50ms_bps  DOUBLE,
    price_impact_50ms_usd     DOUBLE,
    price_impact_50ms_bps     DOUBLE,
    mid_1s_usd                DOUBLE,
    realized_spread_1s_usd    DOUBLE,
    realized_spread_1s_bps    DOUBLE,
    price_impact_1s_usd       DOUBLE,
    price_impact_1s_bps       DOUBLE,
    mid_15s_usd               DOUBLE,
    realized_spread_15s_usd   DOUBLE,
    realized_spread_15s_bps   DOUBLE,
    price_impact_15s_usd      DOUBLE,
    price_impact_15s_bps      DOUBLE,
    mid_1m_usd                DOUBLE,
    realized_spread_1m_usd    DOUBLE,
    realized_spread_1m_bps    DOUBLE,
    price_impact_1m_usd       DOUBLE,
    price_impact_1m_bps       DOUBLE,
    mid_5m_usd                DOUBLE,
    realized_spread_5m_usd    DOUBLE,
    realized_spread_5m_bps    DOUBLE,
    price_impact_5m_usd       DOUBLE,
    price_impact_5m_bps       DOUBLE,
    price_improvement_usd     DOUBLE,
    price_improvement_bps     DOUBLE,
    execution_class           VARCHAR,
    ref_ts                    TIMESTAMP_NS,
    ref_age_ms                DOUBLE,
    ref_session               VARCHAR,
    ref_state                 VARCHAR NOT NULL,
    ref_nbb_usd               DOUBLE,
    ref_nbo_usd               DOUBLE,
    ref_mid_usd               DOUBLE,
    ref_price_improvement_usd DOUBLE,
    ref_price_improvement_bps DOUBLE,
    ref_execution_class       VARCHAR,
    xes_bps                   DOUBLE
);
