-- persistent_premium: runs of consecutive XNYS trading days with |pd_frac| > 2 % in
-- daily_premium (metrics.md 6; divergence.metrics.premium.compute_persistent_premium).
-- Grain: one row per (underlying, start_date) run. Rewritten whole by the metrics job from
-- every final daily_premium row whenever an ET day completes (a run's end stays open while
-- it goes on), live and in backfill.
--   length_days  trading days in the run; persistent when more than 7
--   max_abs_pd   the largest |pd_frac| of the run (a fraction)
--   flagged_on   the 8th trading day, when the run became persistent (else NULL)
CREATE TABLE persistent_premium (
    underlying  VARCHAR NOT NULL,
    start_date  DATE NOT NULL,
    end_date    DATE NOT NULL,
    length_days INTEGER NOT NULL,
    max_abs_pd  DOUBLE NOT NULL,
    persistent  BOOLEAN NOT NULL,
    flagged_on  DATE
);
