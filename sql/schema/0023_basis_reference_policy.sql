-- basis: the reference policy, the stablecoin FX median and the depeg split
-- (docs/reference-prices.md, docs/metrics.md).
--   ref_kind        nbbo (regular-session quote) | extended (pre/post quote, lower
--                   confidence) | overnight (overnight venue quote) | last_close (the
--                   last regular-session close, when closed or overnight without a venue)
--                   | halt (the last quote before a halt)
--   ref_confidence  high (nbbo) | low (extended, overnight) | none (last_close, halt)
--   ref_session     the market session of the reference observation used
--   split_factor    the reference was divided by this (splits between ref_ts and ts_event)
--   fx_sources      stablecoin sources whose rate was fresh; fx_rate is their median
--   fx_depeg        |fx_rate - 1| > basis.depeg_bps while the row was observed
--   basis_sc_bps    the basis in stablecoin units, treating 1 coin as $1
--   sc_effect_bps   basis_sc_bps - basis_bps: the stablecoin's part of it
-- Grain: unchanged, one row per token quote or pool state.
ALTER TABLE basis ADD COLUMN ref_kind VARCHAR;
ALTER TABLE basis ADD COLUMN ref_confidence VARCHAR;
ALTER TABLE basis ADD COLUMN ref_session VARCHAR;
ALTER TABLE basis ADD COLUMN split_factor DOUBLE;
ALTER TABLE basis ADD COLUMN fx_sources INTEGER;
ALTER TABLE basis ADD COLUMN fx_depeg BOOLEAN;
ALTER TABLE basis ADD COLUMN basis_sc_bps DOUBLE;
ALTER TABLE basis ADD COLUMN sc_effect_bps DOUBLE;
