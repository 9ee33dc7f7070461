-- basis_1s_delete: remove the basis_1s seconds a basis write is about to recompute.
-- Grain: deletes every basis_1s row with second in [$lo, $hi) and, unless $underlyings is
-- NULL, (underlying, second) among the pairs ($underlyings[i], $seconds[i]).
-- Params: $lo, $hi BIGINT epoch ns (whole seconds, $hi exclusive); $underlyings VARCHAR[]
-- or NULL (every underlying); $seconds BIGINT[] (epoch ns of whole seconds) or NULL.
DELETE FROM basis_1s
WHERE second >= $lo
    AND second < $hi
    AND (
        $underlyings IS NULL
        OR (underlying, second) IN (SELECT unnest($underlyings), unnest($seconds))
    );
