-- depth_multipliers: the multiplier k the basis applies to each token listing, by
-- effective time (shares of the underlying per token unit as quoted; 1 for rebasing
-- tokens), to turn book levels and pool states into USD per share and shares.
-- Grain: one row per applied (instrument_id, effective_from) of multiplier_history
-- (catalog first on equal times), ordered by (instrument_id, effective_from).
-- Params: none.
SELECT instrument_id, effective_from, CAST(k AS DOUBLE) AS k
FROM multiplier_history
WHERE applied
QUALIFY row_number() OVER (
    PARTITION BY instrument_id, effective_from ORDER BY source = 'catalog' DESC, source
) = 1
ORDER BY instrument_id, effective_from;
