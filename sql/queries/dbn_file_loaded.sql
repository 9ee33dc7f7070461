-- dbn_file_loaded: whether a DBN file (by sha256) was already loaded into a venue.
-- Grain: one row; n = number of 'backfill' markers for ($venue, $stream).
-- Params: $venue VARCHAR (catalog venue id); $stream VARCHAR ('dbn:<sha256 hex>').
SELECT count(*) AS n
FROM feed_events
WHERE venue = $venue AND event = 'backfill' AND stream = $stream;
