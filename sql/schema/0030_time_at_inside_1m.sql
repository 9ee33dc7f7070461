-- time_at_inside_1m: each venue's time at the consolidated inside per minute
-- (TAI_i, metrics.md 3.2; divergence.metrics.fragmentation.compute_time_at_inside).
-- Grain: one row per (underlying, bucket_start, venue) for venues with a quote in force
-- during the minute [bucket_start, bucket_start + 1 min). Fractions of the minute.
-- Written by the metrics job once the minute is complete; replaced by bucket_start range.
--   quoted_frac      the venue had a valid quote in force
--   at_bid_frac      its bid equalled the consolidated best bid (at_ask_frac: ask)
--   alone_bid_frac   it was the only venue at the best bid (alone_ask_frac: ask)
CREATE TABLE time_at_inside_1m (
    underlying     VARCHAR NOT NULL,
    bucket_start   TIMESTAMP_NS NOT NULL,
    venue          VARCHAR NOT NULL,
    quoted_frac    DOUBLE NOT NULL,
    at_bid_frac    DOUBLE NOT NULL,
    at_ask_frac    DOUBLE NOT NULL,
    alone_bid_frac DOUBLE NOT NULL,
    alone_ask_frac DOUBLE NOT NULL
);
