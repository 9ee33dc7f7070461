-- basis_multipliers: the multiplier history the basis applies: the catalog's rows and,
-- for tokens with multiplier_from_venue, what the venue reported at discovery.
-- Grain: one row per (instrument_id, effective_from); a venue row at the same instant as
-- a catalog row loses to it. multiplier is the issuer's m (tracking decides k).
-- Params: none.
SELECT instrument_id, epoch_ns(effective_from) AS effective_from,
    CAST(multiplier AS DOUBLE) AS multiplier
FROM multiplier_history
WHERE applied
QUALIFY row_number() OVER (
    PARTITION BY instrument_id, effective_from ORDER BY source = 'catalog' DESC, source
) = 1
ORDER BY instrument_id, effective_from;
